//! Single-threaded driver for deterministic instruction counts (`bench/callgrind.sh`).
//!
//! Loads the tapes up front (outside anything counted), then for every frame runs
//! `mm_bench::hot::mmb_decode_frame` (our Deribit decoder) and, for each decoded event,
//! `mm_bench::hot::mmb_hot_step` (engine `on_md`: book → quote decision → intents), answering
//! intents with simulated venue acks in between (not counted). Callgrind counts the two
//! `mmb_*` functions (`--toggle-collect`).
//!
//! Tapes: every `deribit/cryptofeed-*/ws.capture`, and the Binance USD-M tapes re-hosted in
//! Deribit protocol (`mm_bench::deribit::BINANCE_TAPES`). Usage:
//!
//! ```text
//! hotstep [--list] [--tape NAME]...
//! ```
//!
//! Prints one line per tape: `tape NAME frames=F bytes=B events=E intents=I orders=O`.
//! `bytes` counts the frames given to the decoder; `events` the market-data events stepped.

use mm_bench::deribit::{self, Tape, BINANCE_TAPES};
use mm_bench::hot::Rig;

fn names() -> Vec<String> {
    let mut v: Vec<String> = deribit::cryptofeed_paths()
        .iter()
        .filter_map(|p| {
            p.parent()?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .collect();
    v.extend(BINANCE_TAPES.iter().map(|(n, _)| n.to_string()));
    v
}

fn load(name: &str) -> Result<Tape, String> {
    if let Some((n, f)) = BINANCE_TAPES.iter().find(|(n, _)| *n == name) {
        return deribit::load_binance(n, f);
    }
    let p = deribit::cryptofeed_paths()
        .into_iter()
        .find(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .is_some_and(|d| d == name)
        })
        .ok_or_else(|| format!("unknown tape {name} (try --list)"))?;
    Ok(deribit::load_capture(&p))
}

fn main() {
    let mut wanted = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--list" => {
                for n in names() {
                    println!("{n}");
                }
                return;
            }
            "--tape" => wanted.push(args.next().unwrap_or_else(|| {
                eprintln!("--tape needs a name");
                std::process::exit(2)
            })),
            "-h" | "--help" => {
                println!("hotstep [--list] [--tape NAME]...");
                return;
            }
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    if wanted.is_empty() {
        wanted = names();
    }
    // Everything is loaded before the first counted call.
    let tapes: Vec<Tape> = wanted
        .iter()
        .map(|n| {
            load(n).unwrap_or_else(|e| {
                eprintln!("hotstep: {e}");
                std::process::exit(1)
            })
        })
        .collect();
    let mut rigs: Vec<Rig> = tapes.iter().map(|t| Rig::new(&t.table)).collect();
    for (tape, rig) in tapes.iter().zip(&mut rigs) {
        let mut events = 0usize;
        for f in &tape.frames {
            events += rig.frame(&f.bytes, 5);
        }
        println!(
            "tape {} frames={} bytes={} events={} intents={} orders={}",
            tape.name,
            tape.frames.len(),
            tape.bytes(),
            events,
            rig.intents,
            rig.engine.counters().orders_sent
        );
    }
}
