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
//!    for an instrument after a book frame of that instrument. On a recorded tape only the
//!    latest frame is timed, if it came at least the *guard* after the previous one
//!    ([`Attribution::Latest`]); with the synthetic touch walk every frame needs a reaction,
//!    so every frame is timed until the engine's next order for it
//!    ([`Attribution::EveryFrame`]: a stall across several frames puts each of them in the
//!    tail, no coordinated omission). Follow-ups (the second side of a requote, an amend
//!    released by an ack) are counted, not timed. The probe's module docs
//!    (`mm_venues::sim::probe`) state the rules and their error bound.
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
//! # The stimulus
//!
//! By default the **recorded Binance USD-M BTCUSDT tape** ([`BTCUSDT_FILES`]: 2024-07-18
//! 23:57 → 2024-07-19 00:05 UTC, 9,016 `depth@0ms` diffs plus trades and mark prices), which
//! the simulator re-hosts as the Deribit-protocol linear perpetual `BTC_USDT-PERPETUAL` (tick
//! 0.1, lot 0.001 BTC; `mm_venues::sim::tape::binance`). The engine quotes the mid ± 500
//! ticks (`--reference mid --spread-ticks 1000`: so wide that nothing fills and no post-only
//! order is rejected, so every order frame is a reaction to market data) and requotes on every
//! one-tick move, i.e. whenever the touch price moves: 252 of the tape's 9,018 book frames
//! (the rest change sizes or deeper levels). Which frames those are is computed before the
//! run by replaying the tape's books through the engine's own quoting function
//! ([`stimulus_marks`]), so each reaction is timed from the frame that caused it
//! ([`Attribution::Marked`]). One replay therefore yields ~250 samples; the harness replays
//! the tape in **passes** — a fresh simulator and engine each, each with its own warm-up —
//! until `--samples` are taken. The echo runs through the whole run but records only inside
//! the passes' measurement windows. (`--reference micro` doubles the stimuli, but the
//! microprice flickers: ~4 % of its moves are undone by the next frame, and an engine that
//! sees both in one batch sends nothing, leaving the first to wait for a later order.)
//!
//! `--tape touch-walk` selects the synthetic tape ([`write_touch_walk`]) instead: every book
//! frame moves one side of the touch by a tick, and the engine joins the touch
//! (`--improve-ticks 0`), so every frame is a stimulus (one pass, written as long as needed).
//! Any other `--tape` value is a tape path (or comma-separated consecutive files) as
//! `mm-fast --tape` takes it, quoted like the default tape.
//!
//! The engine's own per-stage figures (design.md §5: decode, ring, decide, encode_write,
//! tick_to_quote, tick_to_wire), reset at the same moment as the probe and the echo (after
//! each warm-up), say where the time inside the engine goes; `wire_to_wire − tick_to_wire` is
//! the part outside it (two loopback crossings and the two wake-ups). Over several passes they
//! are merged from each pass's `.hgrm` files (the engine's run does not hand out its
//! histograms), so to within one percentile row of each pass. The CPU time and run-queue wait
//! of every thread of the process over the windows (`/proc/self/task/*/schedstat`) and the
//! machine's load say whether the threads were waiting for a CPU.
//!
//! # Output
//!
//! A table on stdout and, with `--json`, a document with exactly the keys `wire_to_wire` and
//! `echo_rtt` (`p50`, `p99`, `p999`, `max`, `count`, in ns), `ratio_p50`, `ratio_p99`,
//! `engine` (per stage: `p50`, `p90`, `p99`, `p999`, `p9999`, `max`, `count`) and `context`
//! (how the figures were taken: [`Context`]). `--hgrm DIR` writes `wire_to_wire.hgrm`,
//! `echo_rtt.hgrm` and the engine's `<stage>.hgrm`; [`plot`] draws such files (also those of
//! `mm-fast --hgrm`) as percentile-distribution curves.

use crate::cli::Args;
use crate::frame_work::FrameWork;
use crate::report::LatencyOut;
use crate::run::{run, RunExtras};
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use mm_core::quote::{ladder, Inventory, Market, QuoteParams, QuoteSpec, Reference, SpreadMode};
use mm_io::{Idle, IdleWaiter, WsClient, WsOptions};
use mm_venues::sim::probe::{
    Attribution, EchoConfig, EchoHandle, EchoServer, ProbeCounts, ProbeSnapshot, WireProbe,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// `--tape` value of the default tape: the recorded Binance USD-M BTCUSDT tape
/// ([`BTCUSDT_FILES`], one tape), re-hosted as `BTC_USDT-PERPETUAL`.
pub const BTCUSDT: &str = "btcusdt";

/// The files of [`BTCUSDT`], relative to the data directory ([`data_dir`]): day 1 (REST
/// snapshot + diffs from 23:57) and day 2 (the chain continued to 00:05).
pub const BTCUSDT_FILES: [&str; 2] = [
    "binance/usdm/btcusdt_20240718.gz",
    "binance/usdm/btcusdt_20240719.gz",
];

/// `--tape` value that selects the synthetic touch-walk tape.
pub const TOUCH_WALK: &str = "touch-walk";

/// Engine spread on a recorded tape unless given: wide enough that nothing fills and no
/// post-only order crosses, so every order frame reacts to market data.
pub const RECORDED_SPREAD_TICKS: i64 = 1000;

/// `mm-latency`: wire-to-wire latency of mm-fast against the simulator, with a bare
/// WebSocket echo over the same loopback stack as the floor; and `plot` for `.hgrm` files.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "mm-latency",
    version,
    args_conflicts_with_subcommands = true,
    after_help = "Tapes (--tape):\n  \
        btcusdt      the default: recorded Binance USD-M BTCUSDT, 2024-07-18 23:57 -> 07-19 00:05 UTC\n               \
        (binance/usdm/btcusdt_20240718.gz + btcusdt_20240719.gz under $MM_DATA_DIR or ../shared/data),\n               \
        re-hosted as the Deribit-protocol perpetual BTC_USDT-PERPETUAL; the engine quotes the\n               \
        mid +/- 500 ticks, requotes when the touch moves (252 of 9,018 book frames), and the\n               \
        tape is replayed in passes (~250 samples each) until --samples\n  \
        touch-walk   synthetic: every book frame moves the touch one tick, the engine joins the touch\n  \
        PATH[,PATH]  any tape mm-fast --tape accepts, quoted like the default tape\n\n\
        Examples:\n  \
        mm-latency --rate 2000 --idle yield --json lat.json --hgrm lat/\n  \
        mm-latency --tape touch-walk --rate 2000 --samples 20000\n  \
        mm-latency plot lat/wire_to_wire.hgrm lat/echo_rtt.hgrm -o lat.png"
)]
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
    /// Draw `.hgrm` percentile distributions (of mm-latency or `mm-fast --hgrm`) as curves into
    /// a PNG.
    Plot(PlotOpts),
}

/// Options of `mm-latency run`.
#[derive(Clone, Debug, clap::Args)]
pub struct RunOpts {
    /// Tape to replay: `btcusdt` (the default: the recorded Binance USD-M BTCUSDT tape,
    /// re-hosted as BTC_USDT-PERPETUAL, replayed in passes), `touch-walk` (synthetic: every
    /// frame moves the touch) or PATH[,PATH...] (any tape `mm-fast --tape` accepts).
    #[arg(long, default_value = BTCUSDT, value_name = "btcusdt|touch-walk|PATH[,PATH...]")]
    pub tape: String,
    /// Offered rate, book frames per second (open loop, evenly spaced).
    #[arg(long, default_value_t = 2000.0)]
    pub rate: f64,
    /// Stop once this many wire-to-wire samples are taken; a recorded tape is replayed in
    /// further passes (fresh simulator and engine, each with its warm-up) until then. 0 = one
    /// pass.
    #[arg(long, default_value_t = 20_000)]
    pub samples: u64,
    /// At most this many passes over a recorded tape.
    #[arg(long, default_value_t = 500)]
    pub max_passes: u32,
    /// Skip the warm measurement of the engine's own work per book frame that runs before
    /// the passes (`frame_work` in the report: a few seconds on the default tape).
    #[arg(long = "no-frame-work", action = clap::ArgAction::SetFalse)]
    pub frame_work: bool,
    /// Stop after this many measured seconds (summed over the passes).
    #[arg(long, default_value_t = 600.0)]
    pub duration: f64,
    /// Measure at most this many book frames (summed over the passes).
    #[arg(long)]
    pub events: Option<u64>,
    /// Book frames of each pass before its measurement starts (connections warm, first
    /// quotes placed).
    #[arg(long, default_value_t = 200)]
    pub warmup_frames: u64,
    /// Echo frames per second (default: `--rate`).
    #[arg(long)]
    pub echo_rate: Option<f64>,
    /// Size of an echo frame, bytes (default: about a book frame).
    #[arg(long, default_value_t = 300)]
    pub echo_bytes: usize,
    /// How order frames are attributed to book frames: `marked` (the default with a recorded
    /// one-instrument tape: only the frames after which the engine's target quote moves,
    /// computed in advance from the tape, each waiting for the next order), `latest` (only the
    /// latest frame, if clean) or `every-frame` (each frame waits for the next order; the
    /// default with the touch walk). See `mm_venues::sim::probe`.
    #[arg(long)]
    pub attribution: Option<String>,
    /// Guard, µs: samples at least this long are counted as slow, and with `latest` a book
    /// frame written less than this after the previous one yields no sample (default: half
    /// the frame gap).
    #[arg(long)]
    pub guard_us: Option<f64>,
    /// Idle policy of the engine's threads and of the echo client: `spin`, `yield`, `park`,
    /// `wake` (`wake` also makes the simulator and echo server wait for a frame's due time on
    /// a timerfd instead of spinning).
    #[arg(long, default_value = "yield")]
    pub idle: String,
    /// The engine's thread topology: `split` (md, hot, gateway threads) or `inline` (one
    /// thread reads, decides and writes); see mm-fast `--topology`.
    #[arg(long, default_value = "split")]
    pub topology: String,
    /// Pin the engine's hot thread to this CPU.
    #[arg(long)]
    pub cpu: Option<usize>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write `wire_to_wire.hgrm`, `echo_rtt.hgrm` and the engine's `<stage>.hgrm` here.
    #[arg(long)]
    pub hgrm: Option<PathBuf>,
    /// Quoting reference: `mid` (the default), `micro` (size-weighted mid of the touch) or
    /// `mark`.
    #[arg(long)]
    pub reference: Option<String>,
    /// Quoting: improve the touch by K ticks (`0` = join it; the default with the touch walk).
    #[arg(long, conflicts_with_all = ["spread_ticks", "spread_bps"])]
    pub improve_ticks: Option<i64>,
    /// Quoting: total spread in ticks (default with a recorded tape: 1000).
    #[arg(long, conflicts_with = "spread_bps")]
    pub spread_ticks: Option<i64>,
    /// Quoting: total spread in bps of the reference.
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

impl EngineCounters {
    fn add(&mut self, o: &EngineCounters) {
        self.md_frames += o.md_frames;
        self.orders_sent += o.orders_sent;
        self.amends += o.amends;
        self.cancels += o.cancels;
        self.rejects += o.rejects;
        self.fills += o.fills;
    }
}

/// Adds the counters `b` into `a`.
fn add_counts(a: &mut ProbeCounts, b: &ProbeCounts) {
    a.book_frames += b.book_frames;
    a.order_frames += b.order_frames;
    a.samples += b.samples;
    a.ambiguous += b.ambiguous;
    a.follow_ups += b.follow_ups;
    a.unattributed += b.unattributed;
    a.unanswered += b.unanswered;
    a.coalesced += b.coalesced;
    a.overflow += b.overflow;
    a.unmarked += b.unmarked;
    a.slow += b.slow;
    a.clamped += b.clamped;
}

/// One thread of the process over the measurement windows (`/proc/self/task/*/schedstat`,
/// `…/status`), summed over the threads of that name (one per pass for the engine's).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ThreadOut {
    /// Thread name (`comm`).
    pub name: String,
    /// CPU time, % of the windows' wall time (100 = one CPU all the time).
    pub cpu_pct: f64,
    /// Time runnable but waiting for a CPU, % of the windows' wall time.
    pub runq_wait_pct: f64,
    /// Mean run-queue wait per time it was scheduled in, µs.
    pub wait_per_slice_us: f64,
    /// Involuntary context switches per second: switched out while still runnable
    /// (preempted, or a `sched_yield` that let another thread run).
    pub nonvoluntary_per_s: f64,
    /// Voluntary context switches per second: blocked (sleep, `epoll_wait`, futex).
    pub voluntary_per_s: f64,
}

/// The machine over the measurement windows.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Machine {
    /// `model name` of the first CPU in `/proc/cpuinfo`.
    pub cpu_model: String,
    /// CPUs available to the process.
    pub cpus: usize,
    /// `/proc/loadavg` (1, 5, 15 min) when the run started.
    pub load_avg_start: [f64; 3],
    /// All CPUs busy over the windows, % of the machine (`/proc/stat`).
    pub busy_pct: f64,
    /// This process's CPU time over the windows, % of the machine.
    pub own_pct: f64,
}

/// How the figures were taken.
#[derive(Clone, Debug, Serialize)]
pub struct Context {
    /// Unit of every latency figure: `ns`.
    pub unit: String,
    /// The tape: `btcusdt`, `touch-walk` or the path(s) given.
    pub tape: String,
    /// The files replayed (empty for the touch walk).
    pub tape_files: Vec<String>,
    /// The engine's quoting flags.
    pub quoting: String,
    /// Offered book frames per second.
    pub rate_per_s: f64,
    /// Echo frames per second.
    pub echo_rate_per_s: f64,
    /// Echo frame size, bytes.
    pub echo_frame_bytes: usize,
    /// Idle policy of the engine threads and the echo client.
    pub idle: String,
    /// The engine's thread topology (`split` or `inline`).
    pub topology: String,
    /// CPU the hot thread was pinned to.
    pub hot_cpu: Option<usize>,
    /// `release` or `debug`.
    pub build: String,
    /// Passes over the tape (a fresh simulator and engine each).
    pub passes: u32,
    /// Warm-up of each pass, book frames.
    pub warmup_frames: u64,
    /// Measurement windows, s (summed over the passes).
    pub measured_s: f64,
    /// Attribution rule of the probe.
    pub attribution: Attribution,
    /// [`Attribution::Marked`]: book frames of the tape, and those marked as stimuli.
    pub tape_book_frames: Option<(usize, usize)>,
    /// Guard, ns.
    pub guard_ns: u64,
    /// The probe's counters over the windows.
    pub probe: ProbeCounts,
    /// Book frames or orders that yielded no sample although they might have: ambiguous +
    /// unattributed + overflow. (Frames no order followed are `probe.unanswered`: on a
    /// recorded tape most frames do not move the engine's quotes.)
    pub samples_discarded: u64,
    /// Wire-to-wire samples below the fastest echo round trip: no reaction can beat the bare
    /// round trip, so these are orders the engine sent before it read the frame they were
    /// attributed to (the probe's known error; see `mm_venues::sim::probe`).
    pub below_echo_min: u64,
    /// The echo's counters over the windows.
    pub echo: EchoCounts,
    /// Engine counters (whole runs, summed over the passes).
    pub engine_counters: EngineCounters,
    /// `exact` (one pass: the engine's report) or `merged` (several passes: merged from
    /// each pass's `.hgrm`, values to within one percentile row of a pass).
    pub engine_figures: String,
    /// The machine over the windows.
    pub machine: Machine,
    /// The process's threads over the windows, busiest first.
    pub threads: Vec<ThreadOut>,
    /// The engine's own work per book frame, measured warm on one thread before the run
    /// ([`crate::frame_work`]); `null` with `--no-frame-work` or when it could not be
    /// measured.
    pub frame_work: Option<FrameWork>,
    /// `1 + frame_work.stimuli.work_p50 / echo_rtt.p50`: the lowest `ratio_p50` the engine's
    /// warm work alone allows, with no wait for a CPU at all.
    pub ratio_p50_work_floor: Option<f64>,
}

/// The JSON document `--json` writes.
#[derive(Clone, Debug, Serialize)]
pub struct LatencyReport {
    /// Simulator: book frame written → reacting order frame read, ns.
    pub wire_to_wire: Summary,
    /// Echo server: frame written → its echo read, ns.
    pub echo_rtt: Summary,
    /// `wire_to_wire.p50 / echo_rtt.p50` (`null` without samples).
    pub ratio_p50: Option<f64>,
    /// `wire_to_wire.p99 / echo_rtt.p99`.
    pub ratio_p99: Option<f64>,
    /// The engine's per-stage latency over the measurement windows, ns.
    pub engine: BTreeMap<String, LatencyOut>,
    /// How the figures were taken.
    pub context: Context,
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

/// What the engine replays and how it quotes.
struct Stimulus {
    /// The `--tape` value as reported.
    label: String,
    /// Files to replay.
    files: Vec<PathBuf>,
    /// A recorded tape (else the touch walk).
    recorded: bool,
    /// The engine's quoting flags.
    quoting: Vec<String>,
    /// Recorded tape: the stimulus flag of every book frame ([`stimulus_marks`]), when the
    /// harness can tell.
    marks: Option<Vec<bool>>,
    /// Why there are no marks (recorded tape only).
    no_marks: Option<String>,
}

/// What the engine's quote depends on, as far as the harness models it (one level, no skew:
/// the harness's engine flags).
#[derive(Clone, Copy, Debug)]
pub struct QuoteModel {
    /// Reference price.
    pub reference: Reference,
    /// Spread.
    pub spread: SpreadMode,
    /// `--requote-ticks`.
    pub requote_ticks: i64,
}

/// The stimulus flag of every book event of a one-instrument tape, in tape order (= the order
/// the simulator writes the book frames): `true` when the engine's target bid or ask moves by
/// at least `requote_ticks` from where the last move left it — the frames the engine must
/// react to. Computed with the simulator's own tape reader, instrument table and book, and the
/// engine's own quoting function ([`mm_core::quote::ladder`]). No fills are modelled (the
/// harness quotes wide enough that nothing fills).
///
/// # Errors
/// The tape or its instruments cannot be read, or it holds more than one instrument.
pub fn stimulus_marks(files: &[PathBuf], q: &QuoteModel) -> Result<Vec<bool>, String> {
    use mm_core::types::Side;
    use mm_venues::sim::tape::TapeBody;
    let tape = mm_venues::sim::tape::load_many(files)?;
    let names = tape.instruments();
    if names.len() != 1 {
        return Err(format!(
            "the tape holds {} instruments (stimulus marks need one)",
            names.len()
        ));
    }
    let insts = mm_venues::sim::instruments::build(&tape, None)?;
    let inst = insts.table.get(0);
    let spec = QuoteSpec {
        reference: q.reference,
        ..QuoteSpec::from_params(&QuoteParams {
            spread: q.spread,
            min_spread_bps_e2: 0,
            skew_per_100_usd_bps_e2: 0,
        })
    }
    .resolve(inst);
    let mut book = mm_venues::sim::book::RecordedBook::default();
    let mut live: [Option<i64>; 2] = [None, None];
    let mut marks = Vec::with_capacity(tape.book_events());
    for e in &tape.events {
        let TapeBody::Book(u) = &e.body else { continue };
        book.apply(inst, u);
        let bid = book.best(Side::Bid);
        let ask = book.best(Side::Ask);
        let m = Market {
            best_bid: bid.map(|b| b.0),
            best_ask: ask.map(|a| a.0),
            mark: None,
            bid_qty: bid.map_or(0, |b| b.1),
            ask_qty: ask.map_or(0, |a| a.1),
        };
        let l = ladder(inst, &spec, &m, &Inventory::default());
        let target = [
            (l.n_bid > 0).then(|| l.bid[0]),
            (l.n_ask > 0).then(|| l.ask[0]),
        ];
        let mut moved = false;
        for (side, t) in live.iter_mut().zip(target) {
            let changed = match (*side, t) {
                (Some(a), Some(b)) => (a - b).abs() >= q.requote_ticks.max(1),
                (None, None) => false,
                _ => true,
            };
            if changed {
                *side = t;
                moved = true;
            }
        }
        marks.push(moved);
    }
    Ok(marks)
}

/// Resolves `--tape` (writing the touch walk into `work` if chosen) and the quoting flags.
fn stimulus(o: &RunOpts, work: &Path) -> Result<Stimulus, String> {
    let (files, recorded) = if o.tape == TOUCH_WALK {
        let mut window = o.rate * o.duration.max(0.0);
        if let Some(n) = o.events {
            window = window.min(n as f64);
        }
        if o.samples > 0 {
            window = window.min(o.samples as f64 * 1.1);
        }
        let frames = o.warmup_frames + (window * 1.1) as u64 + 100;
        let path = work.join("touch-walk.jsonl");
        write_touch_walk(&path, frames).map_err(|e| format!("{}: {e}", path.display()))?;
        (vec![path], false)
    } else if o.tape == BTCUSDT {
        let dir = data_dir();
        let files: Vec<PathBuf> = BTCUSDT_FILES.iter().map(|f| dir.join(f)).collect();
        if let Some(f) = files.iter().find(|f| !f.exists()) {
            return Err(format!(
                "tape {BTCUSDT}: {} does not exist (set MM_DATA_DIR to the shared data directory)",
                f.display()
            ));
        }
        (files, true)
    } else {
        let files: Vec<PathBuf> = o
            .tape
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| PathBuf::from(s.trim()))
            .collect();
        if files.is_empty() {
            return Err("--tape: no file given".into());
        }
        if let Some(f) = files.iter().find(|f| !f.exists()) {
            return Err(format!("tape {} does not exist", f.display()));
        }
        (files, true)
    };
    let mut q: Vec<String> = Vec::new();
    q.extend([
        "--reference".into(),
        o.reference.clone().unwrap_or_else(|| "mid".into()),
    ]);
    if let Some(k) = o.improve_ticks {
        q.extend(["--improve-ticks".into(), k.to_string()]);
    } else if let Some(t) = o.spread_ticks {
        q.extend(["--spread-ticks".into(), t.to_string()]);
    } else if let Some(b) = o.spread_bps {
        q.extend(["--spread-bps".into(), b.to_string()]);
    } else if recorded {
        q.extend(["--spread-ticks".into(), RECORDED_SPREAD_TICKS.to_string()]);
    } else {
        q.extend(["--improve-ticks".into(), "0".into()]);
    }
    q.extend(["--requote-ticks".into(), o.requote_ticks.to_string()]);
    if let Some(m) = o.max_position {
        q.extend(["--max-position".into(), m.to_string()]);
    }
    let (marks, no_marks) = if recorded {
        match quote_model(o).and_then(|m| stimulus_marks(&files, &m)) {
            Ok(m) => (Some(m), None),
            Err(e) => (None, Some(e)),
        }
    } else {
        (None, None)
    };
    Ok(Stimulus {
        label: o.tape.clone(),
        files,
        recorded,
        quoting: q,
        marks,
        no_marks,
    })
}

/// The harness's quoting flags as a [`QuoteModel`] (recorded tapes: `mid` and a
/// 1000-tick spread unless given).
fn quote_model(o: &RunOpts) -> Result<QuoteModel, String> {
    let reference = match o.reference.as_deref().unwrap_or("mid") {
        "mid" => Reference::Mid,
        "micro" => Reference::Micro,
        r => return Err(format!("reference {r:?} is not modelled")),
    };
    let spread = if let Some(k) = o.improve_ticks {
        SpreadMode::Improve(k)
    } else if let Some(t) = o.spread_ticks {
        SpreadMode::Ticks(t)
    } else if let Some(b) = o.spread_bps {
        SpreadMode::Bps((b * 100.0).round() as i64)
    } else {
        SpreadMode::Ticks(RECORDED_SPREAD_TICKS)
    };
    Ok(QuoteModel {
        reference,
        spread,
        requote_ticks: o.requote_ticks,
    })
}

/// The engine's command line for one pass.
fn engine_args(o: &RunOpts, s: &Stimulus, hgrm: &Path) -> Result<Args, String> {
    let mut a: Vec<String> = ["mm-fast", "--venue", "sim", "--stats-interval", "0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for f in &s.files {
        a.extend(["--tape".into(), f.display().to_string()]);
    }
    a.extend(["--speed".into(), format!("{}/s", o.rate)]);
    a.extend(["--idle".into(), o.idle.clone()]);
    a.extend(["--topology".into(), o.topology.clone()]);
    a.extend(["--log".into(), o.log.clone()]);
    if let Some(c) = o.cpu {
        a.extend(["--cpu".into(), c.to_string()]);
    }
    a.extend(["--hgrm".into(), hgrm.display().to_string()]);
    // The code's latency is measured, not Deribit's rate limits: the client budget and the
    // simulator's limiter are set far above any offered rate, so no intent ever waits for
    // credits (a wait would count in tick-to-wire).
    a.extend(["--me-rate".into(), "1000000".into()]);
    a.extend(["--me-burst".into(), "1000000".into()]);
    a.extend(s.quoting.iter().cloned());
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
            } else if waiter.should_sleep_after(mm_io::thread::WAKE_SOCKET_SPINS) {
                let _ = ws.wait(Some(mm_io::thread::WAKE_MAX_SLEEP));
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

/// The echo server and its client thread, stopped when dropped.
struct Echo {
    handle: Option<EchoHandle>,
    stop: Arc<AtomicBool>,
    client: Option<JoinHandle<Result<u64, String>>>,
}

impl Echo {
    fn start(rate: f64, bytes: usize, idle: Idle) -> Result<Echo, String> {
        let handle = EchoServer::start(EchoConfig {
            timer_pacing: idle == Idle::Wake,
            ..EchoConfig::new(rate, bytes)
        })
        .map_err(|e| format!("echo server: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let url = handle.url();
        let s = stop.clone();
        let client = std::thread::Builder::new()
            .name("mm-echo-client".into())
            .spawn(move || echo_client(&url, idle, &s))
            .map_err(|e| format!("spawn echo client: {e}"))?;
        Ok(Echo {
            handle: Some(handle),
            stop,
            client: Some(client),
        })
    }

    fn server(&self) -> &EchoHandle {
        self.handle.as_ref().expect("running until dropped")
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(c) = self.client.take() {
            let _ = c.join();
        }
        drop(self.handle.take());
    }
}

/// What one pass measured.
struct Pass {
    w2w: ProbeSnapshot,
    echo: ProbeSnapshot,
    window: Duration,
    frames_seen: u64,
    engine: BTreeMap<String, LatencyOut>,
    engine_hist: BTreeMap<String, Histogram<u64>>,
    counters: EngineCounters,
    threads: BTreeMap<String, SchedDelta>,
    cpu: CpuDelta,
}

/// What is read at the end of a measurement window (besides the probe).
struct WindowEnd {
    echo: ProbeSnapshot,
    at: Instant,
    sched: Vec<(u32, SchedStat)>,
    cpu: Option<CpuTimes>,
}

impl WindowEnd {
    fn now(echo: &EchoHandle) -> WindowEnd {
        WindowEnd {
            echo: echo.snapshot(),
            at: Instant::now(),
            sched: sched_stats(),
            cpu: cpu_times(),
        }
    }
}

/// When a pass stops measuring (whichever comes first; the end of the tape too).
struct Limits {
    time: Duration,
    samples: Option<u64>,
    frames: Option<u64>,
}

/// One pass: a fresh engine + simulator on the tape; warm-up; measurement window.
fn one_pass(
    o: &RunOpts,
    s: &Stimulus,
    probe: Arc<WireProbe>,
    echo: &EchoHandle,
    dir: &Path,
    lim: &Limits,
) -> Result<Pass, String> {
    let args = engine_args(o, s, dir)?;
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

    // Warm-up: until enough book frames went out (or the engine gave up).
    let warm_deadline = Instant::now() + Duration::from_secs(60);
    while probe.counts().book_frames < o.warmup_frames {
        if engine.is_finished() || Instant::now() > warm_deadline {
            stop.store(true, Ordering::Release);
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
    let sched0 = sched_stats();
    let cpu0 = cpu_times();
    let t0 = Instant::now();

    // Measure: until the limits, the end of the tape or the end of the run. The end of a
    // recorded tape is when no book frame went out for a while (long enough that a simulator
    // starved of CPU by other load is not taken for it). The echo keeps running meanwhile, so
    // its figures (and the window) are taken from when the frames stopped: a snapshot made as
    // soon as frames pause, dropped if they resume.
    let gap = Duration::from_secs_f64(1.0 / o.rate);
    let quiet = (gap * 20).max(Duration::from_millis(500));
    let pause = (gap * 4).max(Duration::from_millis(20));
    let deadline = t0 + lim.time;
    let mut last_frames = 0;
    let mut last_change = t0;
    let mut paused: Option<WindowEnd> = None;
    loop {
        std::thread::sleep(Duration::from_millis(2));
        let now = Instant::now();
        let c = probe.counts();
        if c.book_frames != last_frames {
            last_frames = c.book_frames;
            last_change = now;
            paused = None;
        } else if paused.is_none() && now.duration_since(last_change) >= pause {
            paused = Some(WindowEnd::now(echo));
        }
        if now >= deadline
            || lim.frames.is_some_and(|n| c.book_frames >= n)
            || lim.samples.is_some_and(|n| c.samples >= n)
            || now.duration_since(last_change) >= quiet
            || engine.is_finished()
        {
            break;
        }
    }
    let w2w = probe.snapshot();
    let frames_seen = probe.frames_seen();
    let WindowEnd {
        echo: echo_snap,
        at: t_end,
        sched: sched1,
        cpu: cpu1,
    } = paused.unwrap_or_else(|| WindowEnd::now(echo));
    stop.store(true, Ordering::Release);
    let out = engine
        .join()
        .map_err(|_| "the engine panicked".to_string())??;
    let window = t_end.duration_since(t0);
    let mut engine_hist = BTreeMap::new();
    for stage in out.report.latency_ns.keys() {
        let p = dir.join(format!("{stage}.hgrm"));
        let text = std::fs::read_to_string(&p).map_err(|e| format!("read {}: {e}", p.display()))?;
        let pts = parse_hgrm(&text).map_err(|e| format!("{}: {e}", p.display()))?;
        engine_hist.insert(stage.clone(), histogram_from_hgrm(&pts));
    }
    let r = &out.report;
    Ok(Pass {
        w2w,
        echo: echo_snap,
        window,
        frames_seen,
        engine: r.latency_ns.clone(),
        engine_hist,
        counters: EngineCounters {
            md_frames: r.md_frames,
            orders_sent: r.orders_sent,
            amends: r.amends,
            cancels: r.cancels,
            rejects: r.rejects,
            fills: r.fills,
        },
        threads: sched_delta(&sched0, &sched1),
        cpu: CpuDelta::between(cpu0, cpu1),
    })
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
    let work = TempDir::new()?;
    let stim = stimulus(o, &work.0)?;
    mm_io::clock::calibrate();
    // Before the echo and the passes start, so that nothing else of ours runs meanwhile.
    let frame_work = if o.frame_work {
        let args = engine_args(o, &stim, &work.0)?;
        let marks = stim.marks.as_deref().filter(|_| stim.recorded);
        match crate::frame_work::measure(&stim.files, marks, &args) {
            Ok(w) => Some(w),
            Err(e) => {
                log::warn!("frame work not measured: {e}");
                None
            }
        }
    } else {
        None
    };

    let gap = Duration::from_secs_f64(1.0 / o.rate);
    let guard = match o.guard_us {
        Some(g) if g.is_finite() && g >= 0.0 => Duration::from_secs_f64(g / 1e6),
        Some(_) => return Err("--guard-us must be ≥ 0".into()),
        None => gap / 2,
    };
    let mode = match o.attribution.as_deref() {
        None if stim.marks.is_some() => Attribution::Marked,
        None if stim.recorded => Attribution::Latest,
        None => Attribution::EveryFrame,
        Some("marked") if stim.marks.is_some() => Attribution::Marked,
        Some("marked") => {
            return Err(format!(
                "--attribution marked: no stimulus marks for this tape: {}",
                stim.no_marks.as_deref().unwrap_or("not a recorded tape")
            ))
        }
        Some("every-frame") => Attribution::EveryFrame,
        Some("latest") => Attribution::Latest,
        Some(x) => {
            return Err(format!(
                "--attribution {x:?}: expected marked, latest or every-frame"
            ))
        }
    };
    if let (true, Some(why)) = (stim.recorded && mode != Attribution::Marked, &stim.no_marks) {
        log::warn!("attribution {mode:?}: no stimulus marks ({why})");
    }
    let load_avg_start = load_avg();

    // The floor runs through the whole run; each pass records its own window of it.
    let echo = Echo::start(echo_rate, o.echo_bytes, idle)?;

    let mut w2w = mm_venues::sim::probe::new_histogram();
    let mut echo_rtt = mm_venues::sim::probe::new_histogram();
    let mut probe_counts = ProbeCounts::default();
    let mut echo_counts = ProbeCounts::default();
    let mut engine_hist: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    let mut engine_exact = BTreeMap::new();
    let mut counters = EngineCounters::default();
    let mut threads: BTreeMap<String, SchedDelta> = BTreeMap::new();
    let mut cpu = CpuDelta::default();
    let mut measured = Duration::ZERO;
    let mut passes = 0u32;
    let budget = Duration::from_secs_f64(o.duration.max(0.0));
    let max_passes = if stim.recorded {
        o.max_passes.max(1)
    } else {
        1
    };
    while passes < max_passes && measured < budget {
        let lim = Limits {
            time: budget - measured,
            samples: (o.samples > 0).then(|| o.samples.saturating_sub(probe_counts.samples)),
            frames: o.events.map(|n| n.saturating_sub(probe_counts.book_frames)),
        };
        let dir = work.0.join(format!("pass-{passes}"));
        let probe = Arc::new(match (&stim.marks, mode) {
            (Some(m), Attribution::Marked) => WireProbe::with_stimuli(m.clone(), guard),
            _ => WireProbe::new(mode, guard),
        });
        let p = one_pass(o, &stim, probe, echo.server(), &dir, &lim)?;
        passes += 1;
        measured += p.window;
        if let Some(m) = stim.marks.as_ref().filter(|_| mode == Attribution::Marked) {
            if p.frames_seen > m.len() as u64 {
                return Err(format!(
                    "pass {passes}: the simulator wrote {} book frames, the tape has {}: the \
                     stimulus marks do not line up (use --attribution latest)",
                    p.frames_seen,
                    m.len()
                ));
            }
        }
        w2w.add(&p.w2w.hist).map_err(|e| format!("merge: {e}"))?;
        echo_rtt
            .add(&p.echo.hist)
            .map_err(|e| format!("merge: {e}"))?;
        add_counts(&mut probe_counts, &p.w2w.counts);
        add_counts(&mut echo_counts, &p.echo.counts);
        for (k, h) in &p.engine_hist {
            let e = engine_hist
                .entry(k.clone())
                .or_insert_with(mm_venues::sim::probe::new_histogram);
            e.add(h).map_err(|e| format!("merge {k}: {e}"))?;
        }
        engine_exact = p.engine;
        counters.add(&p.counters);
        for (k, d) in p.threads {
            threads.entry(k).or_default().add(&d);
        }
        cpu.add(&p.cpu);
        if probe_counts.samples == 0 && passes >= 3 {
            log::warn!(
                "no wire-to-wire sample in {passes} passes: the engine does not react to this tape"
            );
            break;
        }
        if lim.samples.is_some_and(|n| p.w2w.counts.samples >= n)
            || lim.frames.is_some_and(|n| p.w2w.counts.book_frames >= n)
        {
            break;
        }
        log::info!(
            "pass {passes}: {} samples ({} so far), {:.1} s measured",
            p.w2w.counts.samples,
            probe_counts.samples,
            measured.as_secs_f64()
        );
    }
    drop(echo);

    let engine = if passes == 1 {
        engine_exact
    } else {
        engine_hist
            .iter()
            .map(|(k, h)| (k.clone(), latency_out(h)))
            .collect()
    };
    if let Some(dir) = &o.hgrm {
        std::fs::create_dir_all(dir).map_err(|e| format!("--hgrm {}: {e}", dir.display()))?;
        for (name, h) in [("wire_to_wire", &w2w), ("echo_rtt", &echo_rtt)] {
            let p = dir.join(format!("{name}.hgrm"));
            write_hgrm_file(h, &p).map_err(|e| format!("write {}: {e}", p.display()))?;
        }
        for (stage, h) in &engine_hist {
            let p = dir.join(format!("{stage}.hgrm"));
            if passes == 1 {
                let from = work.0.join("pass-0").join(format!("{stage}.hgrm"));
                std::fs::copy(&from, &p).map_err(|e| format!("write {}: {e}", p.display()))?;
            } else {
                write_hgrm_file(h, &p).map_err(|e| format!("write {}: {e}", p.display()))?;
            }
        }
    }

    let wire_to_wire = Summary::of(&w2w);
    let echo_sum = Summary::of(&echo_rtt);
    let ratio = |a: u64, b: u64| (b > 0 && a > 0).then(|| a as f64 / b as f64);
    let secs = measured.as_secs_f64();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let own_ns: u64 = threads.values().map(|d| d.cpu_ns).sum();
    let mut thread_out: Vec<ThreadOut> =
        threads.iter().map(|(name, d)| d.out(name, secs)).collect();
    thread_out.sort_by(|a, b| b.cpu_pct.total_cmp(&a.cpu_pct));
    let report = LatencyReport {
        wire_to_wire,
        echo_rtt: echo_sum,
        ratio_p50: ratio(wire_to_wire.p50, echo_sum.p50),
        ratio_p99: ratio(wire_to_wire.p99, echo_sum.p99),
        engine,
        context: Context {
            unit: "ns".into(),
            tape: stim.label.clone(),
            tape_files: if stim.recorded {
                stim.files.iter().map(|f| f.display().to_string()).collect()
            } else {
                Vec::new()
            },
            quoting: stim.quoting.join(" "),
            rate_per_s: o.rate,
            echo_rate_per_s: echo_rate,
            echo_frame_bytes: o.echo_bytes,
            idle: idle.to_string(),
            topology: o.topology.clone(),
            hot_cpu: o.cpu,
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .into(),
            passes,
            warmup_frames: o.warmup_frames,
            measured_s: secs,
            attribution: mode,
            tape_book_frames: stim
                .marks
                .as_ref()
                .filter(|_| mode == Attribution::Marked)
                .map(|m| (m.len(), m.iter().filter(|&&x| x).count())),
            guard_ns: u64::try_from(guard.as_nanos()).unwrap_or(u64::MAX),
            probe: probe_counts,
            samples_discarded: probe_counts.ambiguous
                + probe_counts.unattributed
                + probe_counts.overflow,
            below_echo_min: if echo_rtt.is_empty() || w2w.is_empty() {
                0
            } else {
                w2w.count_between(0, echo_rtt.min().saturating_sub(1))
            },
            echo: echo_counts.into(),
            engine_counters: counters,
            engine_figures: if passes == 1 { "exact" } else { "merged" }.into(),
            machine: Machine {
                cpu_model: cpu_model(),
                cpus,
                load_avg_start,
                busy_pct: cpu.busy_pct(),
                own_pct: if secs > 0.0 {
                    100.0 * own_ns as f64 / (secs * 1e9 * cpus as f64)
                } else {
                    0.0
                },
            },
            threads: thread_out,
            frame_work,
            ratio_p50_work_floor: frame_work
                .filter(|w| w.stimuli.work_p50 > 0 && echo_sum.p50 > 0)
                .map(|w| 1.0 + w.stimuli.work_p50 as f64 / echo_sum.p50 as f64),
        },
    };
    Ok(LatencyOutput {
        report,
        wire_to_wire: w2w,
        echo_rtt,
    })
}

/// Percentiles of a histogram as the engine's report gives them.
fn latency_out(h: &Histogram<u64>) -> LatencyOut {
    if h.is_empty() {
        return LatencyOut::default();
    }
    LatencyOut {
        p50: h.value_at_quantile(0.50),
        p90: h.value_at_quantile(0.90),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        p9999: h.value_at_quantile(0.9999),
        max: h.max(),
        count: h.len(),
    }
}

/// A histogram (ns) rebuilt from a `.hgrm` percentile distribution: the samples between two
/// rows are put at the upper row's value, so every percentile is at most one row above the
/// original's; the count and the maximum are exact.
pub fn histogram_from_hgrm(points: &[HgrmPoint]) -> Histogram<u64> {
    let mut h = mm_venues::sim::probe::new_histogram();
    let mut seen = 0u64;
    for p in points {
        let n = p.total_count.saturating_sub(seen);
        if n > 0 {
            let v = (p.value_us * 1e3).round().max(1.0) as u64;
            let _ = h.record_n(v.min(h.high()), n);
            seen = p.total_count;
        }
    }
    h
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, String> {
        let dir = std::env::temp_dir().join(format!(
            "mm-latency-{}-{}",
            std::process::id(),
            mm_io::clock::unix_nanos()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ----------------------------------------------------------------- scheduling figures

/// One thread's scheduler counters (`/proc/self/task/TID/{comm,schedstat,status}`).
#[derive(Clone, Debug, Default)]
struct SchedStat {
    name: String,
    cpu_ns: u64,
    wait_ns: u64,
    slices: u64,
    voluntary: u64,
    nonvoluntary: u64,
}

/// Counters of every thread of this process now (empty where `/proc` is not available).
fn sched_stats() -> Vec<(u32, SchedStat)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(tid) = e.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else {
            continue;
        };
        let p = e.path();
        let read = |f: &str| std::fs::read_to_string(p.join(f)).unwrap_or_default();
        let mut s = SchedStat {
            name: read("comm").trim().to_string(),
            ..Default::default()
        };
        let nums: Vec<u64> = read("schedstat")
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if let [cpu, wait, slices, ..] = nums[..] {
            s.cpu_ns = cpu;
            s.wait_ns = wait;
            s.slices = slices;
        }
        for line in read("status").lines() {
            let num = |l: &str| l.split_whitespace().nth(1).and_then(|v| v.parse().ok());
            if line.starts_with("voluntary_ctxt_switches") {
                s.voluntary = num(line).unwrap_or(0);
            } else if line.starts_with("nonvoluntary_ctxt_switches") {
                s.nonvoluntary = num(line).unwrap_or(0);
            }
        }
        out.push((tid, s));
    }
    out
}

/// Counter deltas of threads alive at both snapshots, summed by name.
#[derive(Clone, Copy, Debug, Default)]
struct SchedDelta {
    cpu_ns: u64,
    wait_ns: u64,
    slices: u64,
    voluntary: u64,
    nonvoluntary: u64,
}

impl SchedDelta {
    fn add(&mut self, o: &SchedDelta) {
        self.cpu_ns += o.cpu_ns;
        self.wait_ns += o.wait_ns;
        self.slices += o.slices;
        self.voluntary += o.voluntary;
        self.nonvoluntary += o.nonvoluntary;
    }

    fn out(&self, name: &str, secs: f64) -> ThreadOut {
        let pct = |ns: u64| {
            if secs > 0.0 {
                100.0 * ns as f64 / (secs * 1e9)
            } else {
                0.0
            }
        };
        let per_s = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        ThreadOut {
            name: name.to_string(),
            cpu_pct: pct(self.cpu_ns),
            runq_wait_pct: pct(self.wait_ns),
            wait_per_slice_us: if self.slices > 0 {
                self.wait_ns as f64 / self.slices as f64 / 1e3
            } else {
                0.0
            },
            nonvoluntary_per_s: per_s(self.nonvoluntary),
            voluntary_per_s: per_s(self.voluntary),
        }
    }
}

fn sched_delta(a: &[(u32, SchedStat)], b: &[(u32, SchedStat)]) -> BTreeMap<String, SchedDelta> {
    let mut out: BTreeMap<String, SchedDelta> = BTreeMap::new();
    for (tid, s1) in b {
        let Some((_, s0)) = a.iter().find(|(t, _)| t == tid) else {
            continue;
        };
        out.entry(s1.name.clone()).or_default().add(&SchedDelta {
            cpu_ns: s1.cpu_ns.saturating_sub(s0.cpu_ns),
            wait_ns: s1.wait_ns.saturating_sub(s0.wait_ns),
            slices: s1.slices.saturating_sub(s0.slices),
            voluntary: s1.voluntary.saturating_sub(s0.voluntary),
            nonvoluntary: s1.nonvoluntary.saturating_sub(s0.nonvoluntary),
        });
    }
    out
}

/// `/proc/stat`'s first line: (busy, total) jiffies of all CPUs.
#[derive(Clone, Copy, Debug)]
struct CpuTimes {
    busy: u64,
    total: u64,
}

fn cpu_times() -> Option<CpuTimes> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 5 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest time is inside user)
    let total: u64 = v.iter().take(8).sum();
    Some(CpuTimes {
        busy: total - v[3] - v[4],
        total,
    })
}

/// Busy and total jiffies summed over windows.
#[derive(Clone, Copy, Debug, Default)]
struct CpuDelta {
    busy: u64,
    total: u64,
}

impl CpuDelta {
    fn between(a: Option<CpuTimes>, b: Option<CpuTimes>) -> CpuDelta {
        match (a, b) {
            (Some(a), Some(b)) => CpuDelta {
                busy: b.busy.saturating_sub(a.busy),
                total: b.total.saturating_sub(a.total),
            },
            _ => CpuDelta::default(),
        }
    }

    fn add(&mut self, o: &CpuDelta) {
        self.busy += o.busy;
        self.total += o.total;
    }

    fn busy_pct(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            100.0 * self.busy as f64 / self.total as f64
        }
    }
}

fn load_avg() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut v = text
        .split_whitespace()
        .filter_map(|x| x.parse::<f64>().ok());
    [
        v.next().unwrap_or(0.0),
        v.next().unwrap_or(0.0),
        v.next().unwrap_or(0.0),
    ]
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or_else(String::new, |(_, m)| m.trim().to_string())
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
    let c = &r.context;
    let m = &c.machine;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "mm-latency: {} book frames/s offered (open loop), echo {}/s x {} B, idle {}, topology {}, {} build{}",
        c.rate_per_s,
        c.echo_rate_per_s,
        c.echo_frame_bytes,
        c.idle,
        c.topology,
        c.build,
        c.hot_cpu
            .map_or(String::new(), |n| format!(", hot thread on CPU {n}")),
    );
    let _ = writeln!(
        s,
        "machine: {} CPUs ({}), load average at start {:.2} {:.2} {:.2}; over the windows all CPUs {:.0}% busy, this process {:.0}%",
        m.cpus,
        m.cpu_model,
        m.load_avg_start[0],
        m.load_avg_start[1],
        m.load_avg_start[2],
        m.busy_pct,
        m.own_pct
    );
    if c.tape_files.is_empty() {
        let _ = writeln!(s, "tape: {}", c.tape);
    } else {
        let _ = writeln!(s, "tape: {} = {}", c.tape, c.tape_files.join(" + "));
    }
    let _ = writeln!(s, "engine quoting: {}", c.quoting);
    if let Some((n, k)) = c.tape_book_frames {
        let _ = writeln!(
            s,
            "stimuli: {k} of the tape's {n} book frames move the engine's target quote (marked in advance)"
        );
    }
    let _ = writeln!(
        s,
        "window: {:.2} s in {} pass(es), each after {} warm-up frames; attribution {:?}, guard {:.0} µs\n",
        c.measured_s,
        c.passes,
        c.warmup_frames,
        c.attribution,
        us(c.guard_ns)
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
        "{:<16} {:>10} {:>10}   (ratio_p50, ratio_p99; goal: p50 <= 1.50x)\n",
        "ratio",
        f(r.ratio_p50),
        f(r.ratio_p99)
    );
    let _ = writeln!(
        s,
        "engine (µs)      {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}   ({})",
        "p50", "p90", "p99", "p99.9", "max", "count", c.engine_figures
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
    if let Some(w) = &c.frame_work {
        let line = |s: &mut String, name: &str, k: &crate::frame_work::ClassWork| {
            let _ = writeln!(
                s,
                "  {name:<14} {:>6} frames, {:>4} rows / {:>6} B p50: decode {:.1} + book/quote {:.1} = {:.1} µs p50 ({:.1} p90)",
                k.frames,
                k.rows_p50,
                k.bytes_p50,
                us(k.decode_p50),
                us(k.work_p50.saturating_sub(k.decode_p50)),
                us(k.work_p50),
                us(k.work_p90),
            );
        };
        let _ = writeln!(
            s,
            "\nengine work per book frame, warm (one thread, no IO; median of {} replays):",
            w.rounds
        );
        line(&mut s, "stimuli", &w.stimuli);
        let _ = writeln!(
            s,
            "  {:<14} the engine sent intents after {} of the {} stimuli in every replay",
            "", w.stimuli_with_intents, w.stimuli.frames
        );
        if w.others.frames > 0 {
            line(&mut s, "other frames", &w.others);
        }
        if let Some(f) = c.ratio_p50_work_floor {
            let _ = writeln!(
                s,
                "  floor from this work alone: ratio_p50 >= 1 + {:.1} / {:.1} = {f:.2}x",
                us(w.stimuli.work_p50),
                us(r.echo_rtt.p50)
            );
        }
    }
    if !c.threads.is_empty() {
        let _ = writeln!(
            s,
            "\nthreads (windows)  {:>7} {:>10} {:>12} {:>12} {:>12}",
            "cpu %", "runq wait%", "wait/slice µs", "involunt./s", "voluntary/s"
        );
        for t in c.threads.iter().filter(|t| t.cpu_pct >= 0.5) {
            let _ = writeln!(
                s,
                "  {:<16} {:>7.1} {:>10.1} {:>12.1} {:>12.0} {:>12.0}",
                t.name,
                t.cpu_pct,
                t.runq_wait_pct,
                t.wait_per_slice_us,
                t.nonvoluntary_per_s,
                t.voluntary_per_s
            );
        }
    }
    let p = &c.probe;
    let _ = writeln!(
        s,
        "\nprobe: {} book frames ({} unmarked), {} order frames: {} samples ({} >= guard), \
         {} follow-ups, {} coalesced, {} ambiguous, {} unanswered, {} unattributed, {} overflow; \
         {} below the fastest echo",
        p.book_frames,
        p.unmarked,
        p.order_frames,
        p.samples,
        p.slow,
        p.follow_ups,
        p.coalesced,
        p.ambiguous,
        p.unanswered,
        p.unattributed,
        p.overflow,
        c.below_echo_min
    );
    let e = &c.echo;
    let _ = writeln!(
        s,
        "echo: {} sent, {} received, {} samples, {} unmatched, {} not flushed at once",
        e.sent, e.received, e.samples, e.unmatched, e.not_flushed
    );
    let k = &c.engine_counters;
    let _ = writeln!(
        s,
        "engine (whole runs): {} md frames, {} orders, {} amends, {} cancels, {} rejects, {} fills",
        k.md_frames, k.orders_sent, k.amends, k.cancels, k.rejects, k.fills
    );
    s
}

pub use mm_io::telemetry::write_hgrm;

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
/// `style.log_y`), one line per file with its file stem as the legend (`dir/stem` when two
/// files share a stem). Text uses a font embedded in the binary (no system fonts needed).
///
/// # Errors
/// An unreadable or malformed file, or a drawing/encoding error.
pub fn plot(files: &[PathBuf], out: &Path, style: &PlotStyle) -> Result<(), String> {
    use plotters::prelude::*;
    use plotters::style::{register_font, FontStyle};

    let stem = |f: &Path| {
        f.file_stem().map_or_else(
            || f.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        )
    };
    let mut series = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("read {}: {e}", f.display()))?;
        let pts = parse_hgrm(&text).map_err(|e| format!("{}: {e}", f.display()))?;
        // The file stem, prefixed by its directory when two files share a stem (e.g. the
        // `tick_to_wire.hgrm` of two runs).
        let name = if files.iter().filter(|g| stem(g) == stem(f)).count() > 1 {
            match f.parent().and_then(Path::file_name) {
                Some(d) => format!("{}/{}", d.to_string_lossy(), stem(f)),
                None => stem(f),
            }
        } else {
            stem(f)
        };
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
