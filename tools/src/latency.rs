//! `mm-latency`: the wire-to-wire latency harness, and its percentile-curve plotter.
//!
//! # Method
//!
//! One process runs, concurrently so that both see the same machine load:
//!
//! 1. **The engine against the simulator** — exactly what `mm-fast --venue sim` runs
//!    ([`crate::run::run`]): the simulator on loopback replays a tape at a **fixed offered
//!    rate** of book frames ([`Speed::Rate`](mm_venues::sim::Speed::Rate)), evenly spaced and
//!    **open loop**: frame *n* leaves at `start + n / rate` whether or not the engine has
//!    answered anything, so a slow reaction never delays the next stimulus. A [`WireProbe`]
//!    inside the simulator stamps, on the simulator's thread and with the one monotonic clock
//!    of the process, **W** when a book frame has been completely written to the engine's
//!    socket and **R** when an order frame (`private/buy|sell|edit|cancel`) has been read off
//!    the order socket, before it is parsed. **wire_to_wire** = R − W of the first order frame
//!    for an instrument after a book frame of that instrument. With the touch walk every
//!    frame needs a reaction, so every frame is timed until the engine's next order for it
//!    ([`Attribution::EveryFrame`]: a stall across several frames puts each of them in the
//!    tail, no coordinated omission); with a recorded tape only the latest frame is, if it
//!    came at least the *guard* after the previous one ([`Attribution::Latest`]). Follow-ups
//!    (the second side of a requote, an amend released by an ack) are counted, not timed. The
//!    probe's module docs (`mm_venues::sim::probe`) state the rules and their error bound.
//! 2. **The floor: a bare echo** — an [`EchoServer`] built like the simulator (same `mio`
//!    loop, tungstenite server, `TCP_NODELAY`, write + flush, same pacing wait) sends frames of
//!    the size of a book frame at the same fixed rate, open loop, to an [`mm_io::WsClient`] on
//!    a thread with the engine's idle policy, which sends every frame straight back.
//!    **echo_rtt** = R − W stamped at the same two points as wire-to-wire.
//!
//! Why the echo is the right floor: wire-to-wire is one request → response round trip across
//! loopback — venue writes, client reads, client writes, venue reads — through the same
//! kernel, the same WebSocket stack and the same client IO code (`WsClient`) with the same idle
//! policy. The echo is that round trip with *nothing* between the client's read and its
//! write. The difference is the engine: decode, two ring hops between three threads, the
//! decision, encoding, plus the cost of the engine using two connections and three threads
//! where the echo uses one of each. The goal is `ratio_p50` = wire_to_wire p50 / echo_rtt
//! p50 ≤ 1.5 on a 2-core machine with `--idle yield`.
//!
//! The stimulus: by default the synthetic touch-walk tape ([`write_touch_walk`]), in which
//! every book frame moves one side of the touch by a tick, so that with `--improve-ticks 0`
//! (join the touch) every frame makes the engine amend one order. Recorded tapes work too
//! (`--tape PATH`), but the engine reacts only to the frames that move its quotes: the
//! recorded Deribit BTC-PERPETUAL minute moves its touch twice in 3,770 changes.
//!
//! The engine's own per-stage figures (design.md §5: decode, ring, decide, encode_write,
//! tick_to_quote, tick_to_wire), reset at the same moment as the probe and the echo (after
//! the warm-up), say where the time inside the engine goes; `wire_to_wire − tick_to_wire` is
//! the part outside it (two loopback crossings and the two wake-ups).
//!
//! # Output
//!
//! A table on stdout and, with `--json`, a document with the keys `wire_to_wire` and
//! `echo_rtt` (`p50`, `p99`, `p999`, `max`, `count`, in ns), `ratio_p50`, `ratio_p99`,
//! `engine` (per stage: `p50`, `p90`, `p99`, `p999`, `p9999`, `max`, `count`) and the
//! context ([`LatencyReport`]). `--hgrm DIR` writes `wire_to_wire.hgrm`, `echo_rtt.hgrm` and
//! the engine's `<stage>.hgrm`; [`plot`] draws such files as percentile-distribution curves.

use crate::cli::Args;
use crate::report::LatencyOut;
use crate::run::{run, RunExtras};
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use mm_io::{Idle, IdleWaiter, WsClient, WsOptions};
use mm_venues::sim::probe::{Attribution, EchoConfig, EchoServer, ProbeCounts, WireProbe};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The recorded Deribit tape, relative to the data directory. Its touch moves only twice in
/// 3,770 book changes, so the engine hardly reacts to it: the harness's default stimulus is
/// the synthetic [`write_touch_walk`] tape instead.
pub const DERIBIT_TAPE: &str = "deribit/tardis-2019-04-01/BTC-PERPETUAL.book_change_trades.jsonl";

/// `--tape` value that selects the synthetic touch-walk tape (the default).
pub const TOUCH_WALK: &str = "touch-walk";

/// `mm-latency`: wire-to-wire latency of mm-fast against the simulator, with a bare
/// WebSocket echo over the same loopback stack as the floor; and `plot` for `.hgrm` files.
#[derive(Clone, Debug, Parser)]
#[command(name = "mm-latency", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// `run` (the default) or `plot`.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `run` when no subcommand is given.
    #[command(flatten)]
    pub run: RunOpts,
}

/// Subcommands.
#[derive(Clone, Debug, Subcommand)]
pub enum Command {
    /// Measure (the default).
    Run(Box<RunOpts>),
    /// Draw `.hgrm` percentile distributions as curves into a PNG.
    Plot(PlotOpts),
}

/// Options of `mm-latency run`.
#[derive(Clone, Debug, clap::Args)]
pub struct RunOpts {
    /// Tape to replay: `touch-walk` (the default: a generated Deribit BTC-PERPETUAL book whose
    /// touch moves by one tick on every frame, so that every frame is a stimulus) or a
    /// recorded tape, e.g. `$MM_DATA_DIR/deribit/tardis-2019-04-01/BTC-PERPETUAL.book_change_trades.jsonl`
    /// (few reactions: its touch hardly moves).
    #[arg(long, default_value = TOUCH_WALK)]
    pub tape: String,
    /// Offered rate, book frames per second (open loop, evenly spaced).
    #[arg(long, default_value_t = 2000.0)]
    pub rate: f64,
    /// Measure for at most this many seconds after the warm-up (the run also ends with the
    /// tape).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Measure at most this many book frames after the warm-up.
    #[arg(long)]
    pub events: Option<u64>,
    /// Book frames before the measurement starts (connections warm, first quotes placed).
    #[arg(long, default_value_t = 200)]
    pub warmup_frames: u64,
    /// Echo frames per second (default: `--rate`).
    #[arg(long)]
    pub echo_rate: Option<f64>,
    /// Size of an echo frame, bytes (default: about a book frame of the default tape).
    #[arg(long, default_value_t = 300)]
    pub echo_bytes: usize,
    /// How order frames are attributed to book frames: `every-frame` (each frame waits for
    /// the next order; the default with the touch walk) or `latest` (only the latest frame,
    /// if clean; the default with a recorded tape). See `mm_venues::sim::probe`.
    #[arg(long)]
    pub attribution: Option<String>,
    /// Guard, µs: samples at least this long are counted as slow, and with `latest` a book
    /// frame written less than this after the previous one yields no sample (default: half
    /// the frame gap).
    #[arg(long)]
    pub guard_us: Option<f64>,
    /// Idle policy of the engine's threads and of the echo client: `spin`, `yield`, `park`.
    #[arg(long, default_value = "yield")]
    pub idle: String,
    /// Pin the engine's hot thread to this CPU.
    #[arg(long)]
    pub cpu: Option<usize>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write `wire_to_wire.hgrm`, `echo_rtt.hgrm` and the engine's `<stage>.hgrm` here.
    #[arg(long)]
    pub hgrm: Option<PathBuf>,
    /// Quoting: improve the touch by K ticks (`0` = join it; the default, so that every move
    /// of the touch is a requote).
    #[arg(long, default_value_t = 0)]
    pub improve_ticks: i64,
    /// Quoting: total spread in ticks (instead of `--improve-ticks`).
    #[arg(long, conflicts_with = "spread_bps")]
    pub spread_ticks: Option<i64>,
    /// Quoting: total spread in bps of the mid (instead of `--improve-ticks`).
    #[arg(long)]
    pub spread_bps: Option<f64>,
    /// Quoting: amend when the target moved by at least this many ticks.
    #[arg(long, default_value_t = 1)]
    pub requote_ticks: i64,
    /// Max absolute position per instrument, in the amount unit (passed to the engine).
    #[arg(long)]
    pub max_position: Option<f64>,
    /// Log level.
    #[arg(long, default_value = "warn")]
    pub log: String,
}

/// Options of `mm-latency plot`.
#[derive(Clone, Debug, clap::Args)]
pub struct PlotOpts {
    /// `.hgrm` files (HdrHistogram percentile distributions, values in µs).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Output PNG.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Chart title.
    #[arg(long, default_value = "Latency by percentile")]
    pub title: String,
    /// Image width, pixels.
    #[arg(long, default_value_t = 1200)]
    pub width: u32,
    /// Image height, pixels.
    #[arg(long, default_value_t = 700)]
    pub height: u32,
    /// Logarithmic latency axis (shows the body and the tail of the curves together).
    #[arg(long)]
    pub log_y: bool,
}

/// The data directory: `MM_DATA_DIR`, else `../shared/data` from the working directory, else
/// `shared/data` beside this workspace (as built).
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MM_DATA_DIR") {
        return PathBuf::from(d);
    }
    let rel = PathBuf::from("../shared/data");
    if rel.exists() {
        return rel;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
}

/// p50/p99/p99.9/max/count of a latency, ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Median, ns.
    pub p50: u64,
    /// 99th percentile, ns.
    pub p99: u64,
    /// 99.9th percentile, ns.
    pub p999: u64,
    /// Largest sample, ns.
    pub max: u64,
    /// Samples.
    pub count: u64,
}

impl Summary {
    /// The summary of a histogram (all 0 when empty).
    pub fn of(h: &Histogram<u64>) -> Summary {
        if h.is_empty() {
            return Summary::default();
        }
        Summary {
            p50: h.value_at_quantile(0.50),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            count: h.len(),
        }
    }
}

/// Echo counters.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct EchoCounts {
    /// Frames sent (completely written).
    pub sent: u64,
    /// Echoes read.
    pub received: u64,
    /// Echoes matched to their frame (= samples).
    pub samples: u64,
    /// Echoes that matched no remembered frame.
    pub unmatched: u64,
    /// Frames whose write did not complete at once (socket full): not stamped, no sample.
    pub not_flushed: u64,
}

impl From<ProbeCounts> for EchoCounts {
    fn from(c: ProbeCounts) -> EchoCounts {
        EchoCounts {
            sent: c.book_frames,
            received: c.order_frames,
            samples: c.samples,
            unmatched: c.unattributed,
            not_flushed: c.ambiguous,
        }
    }
}

/// Engine counters over the whole run.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct EngineCounters {
    /// Market-data frames the engine received.
    pub md_frames: u64,
    /// New orders sent.
    pub orders_sent: u64,
    /// Amends sent.
    pub amends: u64,
    /// Cancels sent.
    pub cancels: u64,
    /// Venue rejects.
    pub rejects: u64,
    /// Fills.
    pub fills: u64,
}

/// The JSON document `--json` writes.
#[derive(Clone, Debug, Serialize)]
pub struct LatencyReport {
    /// Unit of every latency figure: `ns`.
    pub unit: String,
    /// Simulator: book frame written → reacting order frame read.
    pub wire_to_wire: Summary,
    /// Echo server: frame written → its echo read.
    pub echo_rtt: Summary,
    /// `wire_to_wire.p50 / echo_rtt.p50` (`null` without echo samples).
    pub ratio_p50: Option<f64>,
    /// `wire_to_wire.p99 / echo_rtt.p99`.
    pub ratio_p99: Option<f64>,
    /// The engine's per-stage latency over the measurement window.
    pub engine: BTreeMap<String, LatencyOut>,
    /// Offered book frames per second.
    pub rate_per_s: f64,
    /// Echo frames per second.
    pub echo_rate_per_s: f64,
    /// Echo frame size, bytes.
    pub echo_frame_bytes: usize,
    /// Tape replayed.
    pub tape: String,
    /// Idle policy of the engine threads and the echo client.
    pub idle: String,
    /// CPUs available to the process.
    pub cpus: usize,
    /// CPU the hot thread was pinned to.
    pub hot_cpu: Option<usize>,
    /// `release` or `debug`.
    pub build: String,
    /// Warm-up, book frames.
    pub warmup_frames: u64,
    /// Length of the measurement window, s.
    pub measured_s: f64,
    /// Attribution rule of the probe.
    pub attribution: Attribution,
    /// Guard, ns.
    pub guard_ns: u64,
    /// The probe's counters over the window.
    pub probe: ProbeCounts,
    /// Book frames or orders that yielded no sample although they might have: ambiguous +
    /// unanswered + unattributed + overflow.
    pub samples_discarded: u64,
    /// Wire-to-wire samples below the fastest echo round trip: no reaction can beat the bare
    /// round trip, so these are orders the engine sent before it read the frame they were
    /// attributed to (the probe's known error; see `mm_venues::sim::probe`).
    pub below_echo_min: u64,
    /// The echo's counters over the window.
    pub echo: EchoCounts,
    /// Engine counters over the whole run.
    pub engine_counters: EngineCounters,
}

/// What [`run_latency`] returns.
pub struct LatencyOutput {
    /// The results.
    pub report: LatencyReport,
    /// Wire-to-wire samples, ns.
    pub wire_to_wire: Histogram<u64>,
    /// Echo round trips, ns.
    pub echo_rtt: Histogram<u64>,
}

/// Entry point of the binary: parses nothing, runs the chosen subcommand.
///
/// # Errors
/// A message naming the cause.
pub fn main_with(cli: Cli) -> Result<(), String> {
    match cli.command {
        Some(Command::Plot(p)) => plot(
            &p.files,
            &p.output,
            &PlotStyle {
                title: p.title.clone(),
                size: (p.width, p.height),
                log_y: p.log_y,
            },
        ),
        Some(Command::Run(r)) => run_and_report(&r),
        None => run_and_report(&cli.run),
    }
}

fn run_and_report(o: &RunOpts) -> Result<(), String> {
    let out = run_latency(o)?;
    print!("{}", table(&out.report));
    if let Some(p) = &o.json {
        let text = serde_json::to_string_pretty(&out.report).map_err(|e| e.to_string())?;
        std::fs::write(p, text + "\n").map_err(|e| format!("write {}: {e}", p.display()))?;
    }
    Ok(())
}

/// The engine's command line for a run of the harness.
fn engine_args(o: &RunOpts, tape: &Path) -> Result<Args, String> {
    let mut a: Vec<String> = [
        "mm-fast",
        "--venue",
        "sim",
        "--stats-interval",
        "0",
        "--tape",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push(tape.display().to_string());
    a.extend(["--speed".into(), format!("{}/s", o.rate)]);
    a.extend(["--idle".into(), o.idle.clone()]);
    a.extend(["--log".into(), o.log.clone()]);
    if let Some(c) = o.cpu {
        a.extend(["--cpu".into(), c.to_string()]);
    }
    if let Some(d) = &o.hgrm {
        a.extend(["--hgrm".into(), d.display().to_string()]);
    }
    if let Some(t) = o.spread_ticks {
        a.extend(["--spread-ticks".into(), t.to_string()]);
    } else if let Some(b) = o.spread_bps {
        a.extend(["--spread-bps".into(), b.to_string()]);
    } else {
        a.extend(["--improve-ticks".into(), o.improve_ticks.to_string()]);
    }
    a.extend(["--requote-ticks".into(), o.requote_ticks.to_string()]);
    if let Some(m) = o.max_position {
        a.extend(["--max-position".into(), m.to_string()]);
    }
    Args::try_parse_from(a).map_err(|e| format!("engine flags: {e}"))
}

/// The echo client: reads every frame and writes it straight back, with the engine's idle
/// policy, until `stop`. Returns how many frames it echoed.
fn echo_client(url: &str, idle: Idle, stop: &AtomicBool) -> Result<u64, String> {
    let mut ws = WsClient::connect(url, &WsOptions::default()).map_err(|e| format!("echo: {e}"))?;
    let mut waiter = IdleWaiter::new(idle);
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut ends: Vec<usize> = Vec::with_capacity(1024);
    let mut echoed = 0u64;
    while !stop.load(Ordering::Relaxed) {
        buf.clear();
        ends.clear();
        let n = match ws.read_frames(|f| {
            buf.extend_from_slice(f);
            ends.push(buf.len());
        }) {
            Ok(n) => n,
            Err(_) => break,
        };
        let mut start = 0;
        for &end in &ends {
            if let Ok(t) = std::str::from_utf8(&buf[start..end]) {
                if ws.send_text(t).is_ok() {
                    echoed += 1;
                }
            }
            start = end;
        }
        let _ = ws.flush();
        if n == 0 {
            if idle == Idle::Park {
                let _ = ws.wait(Some(Duration::from_millis(2)));
            } else {
                waiter.idle();
            }
        } else {
            waiter.reset();
        }
    }
    ws.close();
    Ok(echoed)
}

/// Runs the measurement (module docs) and returns the results.
///
/// # Errors
/// Bad options, a missing tape, or an engine/simulator/echo startup failure.
pub fn run_latency(o: &RunOpts) -> Result<LatencyOutput, String> {
    if !(o.rate.is_finite() && o.rate > 0.0) {
        return Err("--rate must be > 0".into());
    }
    let echo_rate = o.echo_rate.unwrap_or(o.rate);
    if !(echo_rate.is_finite() && echo_rate > 0.0) {
        return Err("--echo-rate must be > 0".into());
    }
    let idle: Idle = o.idle.parse().map_err(|e| format!("--idle: {e}"))?;
    // The stimulus: a recorded tape, or the touch walk written to a temporary file, long
    // enough for the warm-up and the whole window (+10 %).
    let mut generated = None;
    let tape = if o.tape == TOUCH_WALK {
        let window = o.events.map_or(o.rate * o.duration.max(0.0), |n| n as f64);
        let frames = o.warmup_frames + (window * 1.1) as u64 + 100;
        let dir = std::env::temp_dir().join(format!(
            "mm-latency-{}-{}",
            std::process::id(),
            mm_io::clock::unix_nanos()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join("touch-walk.jsonl");
        write_touch_walk(&path, frames).map_err(|e| format!("{}: {e}", path.display()))?;
        generated = Some(TempDir(dir));
        path
    } else {
        PathBuf::from(&o.tape)
    };
    if !tape.exists() {
        return Err(format!("tape {} does not exist", tape.display()));
    }
    let args = engine_args(o, &tape)?;
    mm_io::clock::calibrate();

    let gap = Duration::from_secs_f64(1.0 / o.rate);
    let guard = match o.guard_us {
        Some(g) if g.is_finite() && g >= 0.0 => Duration::from_secs_f64(g / 1e6),
        Some(_) => return Err("--guard-us must be ≥ 0".into()),
        None => gap / 2,
    };
    let mode = match o.attribution.as_deref() {
        None if o.tape == TOUCH_WALK => Attribution::EveryFrame,
        None => Attribution::Latest,
        Some("every-frame") => Attribution::EveryFrame,
        Some("latest") => Attribution::Latest,
        Some(x) => {
            return Err(format!(
                "--attribution {x:?}: expected every-frame or latest"
            ))
        }
    };
    let probe = Arc::new(WireProbe::new(mode, guard));

    // The floor: echo server + client.
    let echo = EchoServer::start(EchoConfig::new(echo_rate, o.echo_bytes))
        .map_err(|e| format!("echo server: {e}"))?;
    let echo_stop = Arc::new(AtomicBool::new(false));
    let echo_thread = {
        let url = echo.url();
        let stop = echo_stop.clone();
        std::thread::Builder::new()
            .name("mm-echo-client".into())
            .spawn(move || echo_client(&url, idle, &stop))
            .map_err(|e| format!("spawn echo client: {e}"))?
    };

    // The engine against the simulator.
    let stop = Arc::new(AtomicBool::new(false));
    let reset = Arc::new(AtomicBool::new(false));
    let engine = {
        let extras = RunExtras {
            stop: Some(stop.clone()),
            probe: Some(probe.clone()),
            reset_latency: Some(reset.clone()),
            ..Default::default()
        };
        std::thread::Builder::new()
            .name("mm-latency-engine".into())
            .spawn(move || run(&args, extras))
            .map_err(|e| format!("spawn engine: {e}"))?
    };

    let finish = |stop: &AtomicBool| {
        stop.store(true, Ordering::Release);
        echo_stop.store(true, Ordering::Release);
    };

    // Warm-up: until enough book frames went out (or the engine gave up).
    let warm_deadline = Instant::now() + Duration::from_secs(60);
    while probe.counts().book_frames < o.warmup_frames {
        if engine.is_finished() || Instant::now() > warm_deadline {
            finish(&stop);
            let _ = echo_thread.join();
            let why = match engine.join() {
                Ok(Err(e)) => e,
                Ok(Ok(_)) => format!(
                    "the run ended after {} book frames, before the {}-frame warm-up",
                    probe.counts().book_frames,
                    o.warmup_frames
                ),
                Err(_) => "the engine panicked".into(),
            };
            return Err(why);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    probe.reset();
    echo.reset();
    reset.store(true, Ordering::Release);
    let t0 = Instant::now();

    // Measure: until --duration, --events, the end of the tape or the end of the run. The
    // touch walk is written 10 % longer than the window, so it ends by the clock; a recorded
    // tape has ended when no book frame went out for a while (long enough that a simulator
    // starved of CPU by other load is not taken for the end; the echo runs on meanwhile).
    let quiet = (gap * 20).max(Duration::from_millis(500));
    let deadline = t0 + Duration::from_secs_f64(o.duration.max(0.0));
    let mut last_frames = 0;
    let mut last_change = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(2));
        let now = Instant::now();
        let frames = probe.counts().book_frames;
        if frames != last_frames {
            last_frames = frames;
            last_change = now;
        }
        if now >= deadline
            || o.events.is_some_and(|n| frames >= n)
            || now.duration_since(last_change) >= quiet
            || engine.is_finished()
        {
            break;
        }
    }
    let w2w = probe.snapshot();
    let echo_snap = echo.snapshot();
    let measured_s = t0.elapsed().as_secs_f64();
    finish(&stop);
    let run_out = engine
        .join()
        .map_err(|_| "the engine panicked".to_string())??;
    let _ = echo_thread.join();
    drop(echo);
    drop(generated);

    let wire_to_wire = Summary::of(&w2w.hist);
    let echo_rtt = Summary::of(&echo_snap.hist);
    let ratio = |a: u64, b: u64| (b > 0 && a > 0).then(|| a as f64 / b as f64);
    let r = &run_out.report;
    let report = LatencyReport {
        unit: "ns".into(),
        wire_to_wire,
        echo_rtt,
        ratio_p50: ratio(wire_to_wire.p50, echo_rtt.p50),
        ratio_p99: ratio(wire_to_wire.p99, echo_rtt.p99),
        engine: r.latency_ns.clone(),
        rate_per_s: o.rate,
        echo_rate_per_s: echo_rate,
        echo_frame_bytes: o.echo_bytes,
        tape: if o.tape == TOUCH_WALK {
            TOUCH_WALK.into()
        } else {
            tape.display().to_string()
        },
        idle: idle.to_string(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        hot_cpu: o.cpu,
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
        .into(),
        warmup_frames: o.warmup_frames,
        measured_s,
        attribution: mode,
        guard_ns: w2w.guard_ns,
        probe: w2w.counts,
        samples_discarded: w2w.counts.ambiguous
            + w2w.counts.unanswered
            + w2w.counts.unattributed
            + w2w.counts.overflow,
        below_echo_min: if echo_snap.hist.is_empty() || w2w.hist.is_empty() {
            0
        } else {
            w2w.hist
                .count_between(0, echo_snap.hist.min().saturating_sub(1))
        },
        echo: echo_snap.counts.into(),
        engine_counters: EngineCounters {
            md_frames: r.md_frames,
            orders_sent: r.orders_sent,
            amends: r.amends,
            cancels: r.cancels,
            rejects: r.rejects,
            fills: r.fills,
        },
    };
    if let Some(dir) = &o.hgrm {
        std::fs::create_dir_all(dir).map_err(|e| format!("--hgrm {}: {e}", dir.display()))?;
        for (name, h) in [("wire_to_wire", &w2w.hist), ("echo_rtt", &echo_snap.hist)] {
            let p = dir.join(format!("{name}.hgrm"));
            write_hgrm_file(h, &p).map_err(|e| format!("write {}: {e}", p.display()))?;
        }
    }
    Ok(LatencyOutput {
        report,
        wire_to_wire: w2w.hist,
        echo_rtt: echo_snap.hist,
    })
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes the synthetic **touch-walk** tape (tardis normalized JSONL, the simulator reads it
/// like the recorded Deribit tape): a BTC-PERPETUAL snapshot of 20 levels a side (tick 0.25,
/// best bid 4092.25, best ask 4093.25), then `frames` one-row book changes in a cycle of four
/// that each move one side of the touch by one tick — a bid level appears at 4092.50, an ask
/// level at 4093.00, the bid level goes, the ask level goes. An engine joining the touch
/// (`--improve-ticks 0`) amends one order per frame, so every frame is a stimulus with one
/// reaction, and each order is amended every second frame. No trades: nothing fills.
///
/// # Errors
/// Any IO error.
pub fn write_touch_walk(path: &Path, frames: u64) -> io::Result<()> {
    let mut w = io::BufWriter::new(std::fs::File::create(path)?);
    // 1 ms per record from 2019-04-01T00:00:00Z (within the day up to 86.4 M records).
    let ts = |i: u64| {
        let ms = i % 86_400_000;
        format!(
            "2019-04-01T{:02}:{:02}:{:02}.{:03}0000Z",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        )
    };
    let levels = |best: f64, dir: f64| {
        (0..20)
            .map(|k| {
                format!(
                    r#"{{"price":{},"amount":{}}}"#,
                    best + dir * 0.25 * k as f64,
                    10_000 + 1_000 * k
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let rec = |w: &mut io::BufWriter<std::fs::File>, i: u64, snap: bool, bids: &str, asks: &str| {
        let t = ts(i);
        writeln!(
            w,
            r#"{{"type":"book_change","symbol":"BTC-PERPETUAL","exchange":"deribit","isSnapshot":{snap},"bids":[{bids}],"asks":[{asks}],"timestamp":"{t}","localTimestamp":"{t}"}}"#
        )
    };
    rec(
        &mut w,
        0,
        true,
        &levels(4092.25, -1.0),
        &levels(4093.25, 1.0),
    )?;
    for i in 0..frames {
        let (bids, asks) = match i % 4 {
            0 => (r#"{"price":4092.5,"amount":5000}"#, ""),
            1 => ("", r#"{"price":4093,"amount":5000}"#),
            2 => (r#"{"price":4092.5,"amount":0}"#, ""),
            _ => ("", r#"{"price":4093,"amount":0}"#),
        };
        rec(&mut w, i + 1, false, bids, asks)?;
    }
    w.flush()
}

/// The human-readable table of a report (values in µs).
pub fn table(r: &LatencyReport) -> String {
    let us = |ns: u64| ns as f64 / 1e3;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "mm-latency: {} book frames/s offered (open loop), echo {}/s x {} B, idle {}, {} CPUs{}, {} build",
        r.rate_per_s,
        r.echo_rate_per_s,
        r.echo_frame_bytes,
        r.idle,
        r.cpus,
        r.hot_cpu.map_or(String::new(), |c| format!(", hot thread on CPU {c}")),
        r.build
    );
    let _ = writeln!(s, "tape: {}", r.tape);
    let _ = writeln!(
        s,
        "window: {:.2} s after {} warm-up frames; attribution {:?}, guard {:.0} µs\n",
        r.measured_s,
        r.warmup_frames,
        r.attribution,
        us(r.guard_ns)
    );
    let _ = writeln!(
        s,
        "{:<16} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "µs", "p50", "p99", "p99.9", "max", "count"
    );
    for (name, v) in [("wire_to_wire", &r.wire_to_wire), ("echo_rtt", &r.echo_rtt)] {
        let _ = writeln!(
            s,
            "{:<16} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>8}",
            name,
            us(v.p50),
            us(v.p99),
            us(v.p999),
            us(v.max),
            v.count
        );
    }
    let f = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.2}x"));
    let _ = writeln!(
        s,
        "{:<16} {:>10} {:>10}   (goal: p50 <= 1.50x)\n",
        "ratio",
        f(r.ratio_p50),
        f(r.ratio_p99)
    );
    let _ = writeln!(
        s,
        "engine (µs)      {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "p50", "p90", "p99", "p99.9", "max", "count"
    );
    for stage in [
        "decode",
        "ring",
        "decide",
        "encode_write",
        "tick_to_quote",
        "tick_to_wire",
    ] {
        if let Some(v) = r.engine.get(stage) {
            let _ = writeln!(
                s,
                "{:<16} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>8}",
                stage,
                us(v.p50),
                us(v.p90),
                us(v.p99),
                us(v.p999),
                us(v.max),
                v.count
            );
        }
    }
    let p50 = |k: &str| r.engine.get(k).map_or(0.0, |v| v.p50 as f64 / 1e3);
    if r.engine.get("tick_to_wire").is_some_and(|v| v.count > 0) {
        // Differences of medians: a rough split, not the median of the differences.
        let outside = us(r.wire_to_wire.p50) - p50("tick_to_wire");
        let intent_hop = p50("tick_to_wire") - p50("tick_to_quote") - p50("encode_write");
        let _ = writeln!(
            s,
            "p50 split (µs, differences of medians): outside the engine {outside:.1} \
             (echo_rtt {:.1}) + decode {:.1} + md->hot ring {:.1} + decide {:.1} \
             + hot->gateway ring ~{intent_hop:.1} + encode+write {:.1}",
            us(r.echo_rtt.p50),
            p50("decode"),
            p50("ring"),
            p50("decide"),
            p50("encode_write"),
        );
    }
    let p = &r.probe;
    let _ = writeln!(
        s,
        "\nprobe: {} book frames, {} order frames: {} samples ({} >= guard), {} follow-ups, \
         {} coalesced, {} ambiguous, {} unanswered, {} unattributed, {} overflow; \
         {} below the fastest echo",
        p.book_frames,
        p.order_frames,
        p.samples,
        p.slow,
        p.follow_ups,
        p.coalesced,
        p.ambiguous,
        p.unanswered,
        p.unattributed,
        p.overflow,
        r.below_echo_min
    );
    let e = &r.echo;
    let _ = writeln!(
        s,
        "echo: {} sent, {} received, {} samples, {} unmatched, {} not flushed at once",
        e.sent, e.received, e.samples, e.unmatched, e.not_flushed
    );
    let c = &r.engine_counters;
    let _ = writeln!(
        s,
        "engine (whole run): {} md frames, {} orders, {} amends, {} cancels, {} rejects, {} fills",
        c.md_frames, c.orders_sent, c.amends, c.cancels, c.rejects, c.fills
    );
    s
}

/// Writes `h` (values in ns) in the `.hgrm` text format `LatencyRecorder::write_hgrm` writes
/// (HdrHistogram's `outputPercentileDistribution(out, 5, 1000.0)`: values in µs).
///
/// # Errors
/// Any IO error from `w`.
pub fn write_hgrm(h: &Histogram<u64>, w: &mut impl Write) -> io::Result<()> {
    const TICKS_PER_HALF_DISTANCE: u32 = 5;
    const RATIO: f64 = 1000.0;
    let p = usize::from(h.sigfig());
    writeln!(
        w,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    if !h.is_empty() {
        let mut total = 0u64;
        for v in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
            total += v.count_since_last_iteration();
            let q = v.quantile_iterated_to();
            let value = v.value_iterated_to() as f64 / RATIO;
            if q < 1.0 {
                writeln!(
                    w,
                    "{value:>12.p$} {q:>2.12} {total:>10} {:>14.2}",
                    1.0 / (1.0 - q)
                )?;
            } else {
                writeln!(w, "{value:>12.p$} {q:>2.12} {total:>10}")?;
            }
        }
    }
    let (mean, stdev, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (h.mean() / RATIO, h.stdev() / RATIO, h.max() as f64 / RATIO)
    };
    writeln!(
        w,
        "#[Mean    = {mean:>12.p$}, StdDeviation   = {stdev:>12.p$}]"
    )?;
    writeln!(
        w,
        "#[Max     = {max:>12.p$}, Total count    = {:>12}]",
        h.len()
    )?;
    writeln!(
        w,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        (2 * 10u64.pow(u32::from(h.sigfig()))).next_power_of_two()
    )
}

/// [`write_hgrm`] into a file (created or truncated).
///
/// # Errors
/// Any IO error.
pub fn write_hgrm_file(h: &Histogram<u64>, path: &Path) -> io::Result<()> {
    let mut w = io::BufWriter::new(std::fs::File::create(path)?);
    write_hgrm(h, &mut w)?;
    w.flush()
}

/// One point of a percentile distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HgrmPoint {
    /// Latency, µs (the `.hgrm` Value column).
    pub value_us: f64,
    /// Percentile as a fraction in `[0, 1]`.
    pub quantile: f64,
    /// Samples at or below the value.
    pub total_count: u64,
}

/// Parses a `.hgrm` percentile distribution (HdrHistogram's text format: a header, rows of
/// `Value Percentile TotalCount [1/(1-Percentile)]`, `#[…]` footer lines).
///
/// # Errors
/// A row whose first three columns are not numbers.
pub fn parse_hgrm(text: &str) -> Result<Vec<HgrmPoint>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with("Value") {
            continue;
        }
        let cols: Vec<&str> = l.split_whitespace().collect();
        let bad = || format!("line {}: not a percentile row: {l:?}", n + 1);
        if cols.len() < 3 {
            return Err(bad());
        }
        out.push(HgrmPoint {
            value_us: cols[0].parse().map_err(|_| bad())?,
            quantile: cols[1].parse().map_err(|_| bad())?,
            total_count: cols[2].parse().map_err(|_| bad())?,
        });
    }
    Ok(out)
}

/// `1/(1-q)` capped for `q = 1` (the plot's x coordinate).
fn x_of(q: f64, cap: f64) -> f64 {
    if q >= 1.0 {
        cap
    } else {
        (1.0 / (1.0 - q)).min(cap)
    }
}

/// Label of an x coordinate `1/(1-q)` as a percentile (`10` ⇒ `90%`, `1000` ⇒ `99.9%`).
fn percentile_label(x: f64) -> String {
    let pct = 100.0 * (1.0 - 1.0 / x.max(1.0));
    let s = format!("{pct:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
}

/// How [`plot`] draws.
#[derive(Clone, Debug)]
pub struct PlotStyle {
    /// Chart title.
    pub title: String,
    /// Image size, pixels.
    pub size: (u32, u32),
    /// Logarithmic latency axis.
    pub log_y: bool,
}

impl Default for PlotStyle {
    fn default() -> Self {
        PlotStyle {
            title: "Latency by percentile".into(),
            size: (1200, 700),
            log_y: false,
        }
    }
}

/// Draws the `.hgrm` files as percentile-distribution curves into a PNG: x = percentile on a
/// log `1/(1-p)` scale (like HdrHistogram's plotter), y = latency µs (linear, or log with
/// `style.log_y`), one line per file with its file stem as the legend. Text uses a font
/// embedded in the binary (no system fonts needed).
///
/// # Errors
/// An unreadable or malformed file, or a drawing/encoding error.
pub fn plot(files: &[PathBuf], out: &Path, style: &PlotStyle) -> Result<(), String> {
    use plotters::prelude::*;
    use plotters::style::{register_font, FontStyle};

    let mut series = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("read {}: {e}", f.display()))?;
        let pts = parse_hgrm(&text).map_err(|e| format!("{}: {e}", f.display()))?;
        let name = f.file_stem().map_or_else(
            || f.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        series.push((name, pts));
    }
    // x: up to the last finite 1/(1-p) of any file, at least 99.99 %, whole decades.
    let x_max = series
        .iter()
        .flat_map(|(_, p)| p.iter())
        .filter(|p| p.quantile < 1.0)
        .map(|p| 1.0 / (1.0 - p.quantile))
        .fold(1e4f64, f64::max);
    let decades = x_max.log10().ceil().max(1.0) as i32;
    let x_cap = 10f64.powi(decades);
    let values = || {
        series
            .iter()
            .flat_map(|(_, p)| p.iter())
            .map(|p| p.value_us)
    };
    let v_max = values().fold(1.0f64, f64::max) * 1.05;
    let v_min = values()
        .filter(|v| *v > 0.0)
        .fold(v_max, f64::min)
        .min(v_max / 10.0);
    let v_floor = 10f64.powf(v_min.log10().floor());

    register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| "the embedded font did not load".to_string())?;
    let root = BitMapBackend::new(out, style.size).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| format!("plot {}: {e}", out.display());
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let x_keys: Vec<f64> = (0..=decades).map(|d| 10f64.powi(d)).collect();
    // The two y axes are different types: one body, expanded for each.
    macro_rules! draw {
        ($y_range:expr, $y_desc:expr, $floor:expr) => {{
            let mut chart = ChartBuilder::on(&root)
                .caption(style.title.as_str(), ("sans-serif", 24))
                .margin(16)
                .margin_right(48)
                .x_label_area_size(48)
                .y_label_area_size(80)
                .build_cartesian_2d((1f64..x_cap).log_scale().with_key_points(x_keys), $y_range)
                .map_err(|e| err(&e))?;
            chart
                .configure_mesh()
                .x_desc("percentile")
                .y_desc($y_desc)
                .x_label_formatter(&|x| percentile_label(*x))
                .y_label_formatter(&|v| {
                    if *v >= 10.0 || *v == 0.0 {
                        format!("{v:.0}")
                    } else {
                        format!("{v:.1}")
                    }
                })
                .label_style(("sans-serif", 15))
                .draw()
                .map_err(|e| err(&e))?;
            for (i, (name, pts)) in series.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                let line: Vec<(f64, f64)> = pts
                    .iter()
                    .map(|p| (x_of(p.quantile, x_cap), p.value_us.max($floor)))
                    .collect();
                chart
                    .draw_series(LineSeries::new(line, color.stroke_width(2)))
                    .map_err(|e| err(&e))?
                    .label(name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 16))
                .draw()
                .map_err(|e| err(&e))?;
        }};
    }
    if style.log_y {
        draw!(
            (v_floor..v_max).log_scale(),
            "latency (µs, log scale)",
            v_floor
        );
    } else {
        draw!(0f64..v_max, "latency (µs)", 0.0);
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hgrm_round_trip_and_labels() {
        let mut h = mm_venues::sim::probe::new_histogram();
        for v in 1..=10_000u64 {
            h.record(v * 100).unwrap();
        }
        let mut buf = Vec::new();
        write_hgrm(&h, &mut buf).unwrap();
        let pts = parse_hgrm(std::str::from_utf8(&buf).unwrap()).unwrap();
        assert!(pts.len() > 20);
        let last = pts.last().unwrap();
        assert_eq!(last.quantile, 1.0);
        assert_eq!(last.total_count, 10_000);
        assert!((last.value_us - 1000.0).abs() < 1.0);
        assert!(pts.windows(2).all(|w| w[0].quantile <= w[1].quantile));
        assert_eq!(percentile_label(1.0), "0%");
        assert_eq!(percentile_label(10.0), "90%");
        assert_eq!(percentile_label(1000.0), "99.9%");
        assert!(parse_hgrm("1.0 x 3").is_err());
    }

    #[test]
    fn summary_of_empty_is_zero() {
        let h = mm_venues::sim::probe::new_histogram();
        assert_eq!(Summary::of(&h), Summary::default());
    }
}
