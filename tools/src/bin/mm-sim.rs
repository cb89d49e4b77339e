//! `mm-sim`: the standalone local Deribit-protocol venue simulator.
//!
//! Replays a recorded tape over `ws://ADDR/ws/api/v2` (replay starts with the first
//! market-data subscription), matches the orders it receives against the recorded market and
//! prints its ledger at exit. Runs until Ctrl+C / SIGTERM, or until the tape has ended and
//! `--linger` seconds have passed.
//!
//! ```text
//! mm-sim --tape ../shared/data/deribit/tardis-2019-04-01/BTC-PERPETUAL.book_change_trades.jsonl --speed max --linger 5
//! ```

use clap::Parser;
use mm_venues::sim::{Fault, LedgerSnapshot, Sim, SimConfig, Speed};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Local Deribit-protocol venue simulator: replays a tape, matches orders, keeps a ledger.
#[derive(Parser, Debug)]
#[command(name = "mm-sim", version)]
struct Args {
    /// Tape file (cryptofeed Deribit capture, tardis normalized JSONL, or Binance USD-M
    /// collector file; `.gz` allowed). Repeat or separate with commas to replay consecutive
    /// Binance files (day 1, day 2) as one tape.
    #[arg(long, required = true, value_delimiter = ',')]
    tape: Vec<PathBuf>,
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:8765")]
    listen: SocketAddr,
    /// Replay speed: `1` = recorded pace, `10` = ten times faster, `0.5`, or `max`.
    #[arg(long, default_value = "1")]
    speed: Speed,
    /// Recorded `public/get_instruments` replies (cryptofeed `rest.capture`); default: a
    /// `rest.capture` beside the tape, else instruments derived from the tape.
    #[arg(long)]
    rest_capture: Option<PathBuf>,
    /// Seconds to keep serving after the tape has ended (orders, cancels, queries).
    #[arg(long, default_value_t = 0.0)]
    linger: f64,
    /// Fault: drop the first book change at or after this tape time (seconds from the tape
    /// start). Repeatable.
    #[arg(long = "gap-at")]
    gap_at: Vec<f64>,
    /// Emit user.orders/user.trades notifications before the RPC reply.
    #[arg(long)]
    notify_before_response: bool,
    /// Write the final ledger as JSON to this file.
    #[arg(long)]
    ledger_json: Option<PathBuf>,
    /// Log filter (env_logger syntax).
    #[arg(long, default_value = "info")]
    log: String,
}

fn main() {
    let args = Args::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(args.log.as_str()))
        .init();
    let cfg = SimConfig {
        tape: args.tape[0].clone(),
        more_tapes: args.tape[1..].to_vec(),
        listen: args.listen,
        speed: args.speed,
        rest_capture: args.rest_capture.clone(),
        faults: args
            .gap_at
            .iter()
            .map(|&at_secs| Fault::Gap { at_secs })
            .collect(),
        notify_before_response: args.notify_before_response,
        probe: None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            eprintln!("warning: cannot install signal handler: {e}");
        }
    }
    let sim = match Sim::start(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    println!("mm-sim listening on {}", sim.url());
    println!(
        "  tape {} ({} instruments), speed {:?}; replay starts at the first market-data subscription",
        args.tape
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" + "),
        sim.instruments().len(),
        args.speed
    );
    let linger = Duration::from_secs_f64(args.linger.max(0.0));
    let mut finished_at: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        if finished_at.is_none() && sim.tape_finished() {
            println!(
                "tape finished; serving for {:.1} s more",
                linger.as_secs_f64()
            );
            finished_at = Some(Instant::now());
        }
        if finished_at.is_some_and(|t| t.elapsed() >= linger) {
            break;
        }
    }
    let ledger = sim.stop();
    print_summary(&ledger);
    if let Some(p) = &args.ledger_json {
        match serde_json::to_string_pretty(&ledger) {
            Ok(s) => {
                if let Err(e) = std::fs::write(p, s) {
                    eprintln!("error: writing {}: {e}", p.display());
                }
            }
            Err(e) => eprintln!("error: serialising ledger: {e}"),
        }
    }
}

fn print_summary(l: &LedgerSnapshot) {
    let s = &l.stats;
    println!("== mm-sim ledger ==");
    println!(
        "connections {}  requests {}  md frames {}  orders {}  edits {}  cancels {}  rejects {}  fills {}",
        s.connections, s.requests, s.md_frames_sent, s.orders, s.edits, s.cancels, s.rejects, s.fills
    );
    for (name, amount) in &l.positions {
        println!(
            "position {name:<28} {amount:>16} ({} lots)",
            l.position_lots.get(name).copied().unwrap_or(0)
        );
    }
    for (cur, fee) in &l.fees {
        println!("fees {cur:<6} {fee:.10}");
    }
    println!("open orders {}", l.open_orders.len());
    for f in l.fills.iter().rev().take(10).rev() {
        println!(
            "fill {} {} {} {} @ {} {} fee {:.10} {}",
            f.trade_id,
            f.instrument,
            f.side.direction(),
            f.amount,
            f.price,
            if f.maker { "M" } else { "T" },
            f.fee,
            f.label
        );
    }
    if l.fills.len() > 10 {
        println!("… {} fills in total", l.fills.len());
    }
}
