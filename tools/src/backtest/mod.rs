//! `mm-fast backtest`: the engine's step functions over a tape, in process, deterministic.
//!
//! # What runs
//!
//! The production [`Engine`] (built with [`crate::run::engine_config`], i.e. the flags and
//! `--config` of `mm-fast`) receives the tape's market data ([`feed`], preloaded through the
//! real Deribit decoder) and the answers of a simulated venue ([`exchange`]: the simulator's
//! matching rules with a choice of queue-position model, no JSON) on **tape time**, with
//! latencies ([`latency_model`]):
//!
//! - a market-data group (one tape event) is applied to the venue's recorded book at its tape
//!   time `T`, and reaches the engine ([`Engine::on_md`]) at `T + feed latency`;
//! - an intent written by the engine at `t` reaches the venue at `t + order latency`;
//! - the venue's answers (ack, reject, fill) reach the engine ([`Engine::on_exec`]) at
//!   `+ response latency`;
//! - [`Engine::on_idle`] runs after each batch (refresh and stale-feed checks on tape time).
//!
//! Messages on one path keep their order (a drawn latency never overtakes the previous
//! message: arrival = max(previous arrival, sent + latency)). At equal times the order is:
//! the engine's market data already applied at the venue, intents reaching the venue, answers
//! reaching the engine, then the venue's next market data — so with zero latencies a run is
//! the lockstep replay (`mm_tests::lockstep`): every request is answered before the next tape
//! event. At the end of the tape the engine is halted (cancel-all) and the queues drain.
//!
//! No wall clock enters the run (the engine's clock reads 0; latency draws come from a
//! seeded generator): the same inputs give the same fills, PnL and report, bit for bit,
//! except the wall-time fields (`events_per_sec`, `load_s`, `replay_s`, `elapsed_s`).
//!
//! # Hook for a model calibrator
//!
//! [`ModelDriver`] is called with every market-data event the engine sees and polled after
//! each group; [`NoModel`] does nothing; [`model::Calibrated`] runs the calibrated quoting
//! model of `--model as|glft` (and the volatility-adaptive spread) on tape time.

pub mod args;
pub mod exchange;
pub mod feed;
pub mod latency_model;
pub mod model;
pub mod plot;
pub mod sweep;

use crate::report::{self, FillRec, Report};
use args::{BacktestArgs, QueueArg};
use exchange::{ProbFunc, QueueModel, SimVenue};
use feed::Feed;
use latency_model::{Histogram, Latency, LatencyModel, SplitMix64};
use mm_core::engine::{Engine, TelemetrySink};
use mm_core::event::{ExecEvent, MdEvent, OrderIntent, TelKind, Telemetry};
use mm_core::instrument::InstrumentTable;
use mm_core::types::Nanos;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

/// The hook a quoting-model calibrator plugs into: sees every market-data event the engine
/// sees, and is polled after each group with the engine (to push new coefficients with
/// e.g. `Engine::on_model`).
pub trait ModelDriver {
    /// One market-data event, as the engine received it.
    fn observe(&mut self, ev: &MdEvent);
    /// After each market-data group, at engine time `now` (ns of tape time).
    fn poll(
        &mut self,
        now: Nanos,
        engine: &mut Engine,
        out: &mut Vec<OrderIntent>,
        tel: &mut TelSink,
    );
    /// The model's final state per instrument name, for the report (`None`: no model).
    fn describe(
        &self,
        _engine: &Engine,
        _table: &InstrumentTable,
    ) -> Option<BTreeMap<String, model::FitOut>> {
        None
    }
}

/// No model: the engine quotes with its configured parameters.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoModel;

impl ModelDriver for NoModel {
    #[inline]
    fn observe(&mut self, _ev: &MdEvent) {}
    #[inline]
    fn poll(&mut self, _: Nanos, _: &mut Engine, _: &mut Vec<OrderIntent>, _: &mut TelSink) {}
}

/// The engine's telemetry, consumed in place: per-run metrics, fills, marks (what the
/// control thread of `mm-fast` accumulates). Latency and quote records are dropped.
pub struct TelSink {
    /// Per-run metrics.
    pub metrics: crate::metrics::MetricsTel,
    /// Fills as the engine booked them.
    pub fills: Vec<FillRec>,
    /// Last mark per instrument (ticks).
    pub marks: Vec<Option<i64>>,
    /// USD per coin, per base currency (from index readings).
    pub index_by_currency: BTreeMap<String, f64>,
    currency: Vec<String>,
}

impl TelSink {
    fn new(table: &InstrumentTable, t0: u64) -> TelSink {
        TelSink {
            metrics: crate::metrics::MetricsTel::new(table, t0),
            fills: Vec::with_capacity(1 << 12),
            marks: vec![None; table.len()],
            index_by_currency: BTreeMap::new(),
            currency: table.iter().map(|i| i.base_currency.clone()).collect(),
        }
    }
}

impl TelemetrySink for TelSink {
    #[inline]
    fn push(&mut self, t: Telemetry) {
        match t.kind {
            TelKind::Latency | TelKind::Quote | TelKind::CancelWritten | TelKind::Gap => {}
            _ => {
                self.metrics.on_tel(&t);
                match t.kind {
                    TelKind::Fill => self.fills.push(FillRec {
                        instrument: t.instrument,
                        side: t.side,
                        price: t.a,
                        lots: t.b,
                        fee_nano: t.c,
                        client_id: t.d as u64,
                    }),
                    TelKind::Index => {
                        if let Some(m) = self.marks.get_mut(t.instrument as usize) {
                            *m = Some(t.a);
                            if t.b > 0 {
                                let c = &self.currency[t.instrument as usize];
                                let v = t.b as f64 / 1e4;
                                match self.index_by_currency.get_mut(c) {
                                    Some(x) => *x = v,
                                    None => {
                                        self.index_by_currency.insert(c.clone(), v);
                                    }
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// One row of the PnL series (`pnl.csv`, the plots): the first instrument's market and our
/// state, at most once per `--sample-ms` of tape time (engine side).
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct Sample {
    /// Seconds since the first tape event.
    pub t_s: f64,
    /// Mid of the engine's book (price units; NaN when one-sided).
    pub mid: f64,
    /// Position, amount unit (coin for re-hosted Binance).
    pub position: f64,
    /// Our best bid (NaN if none).
    pub bid: f64,
    /// Our best ask (NaN if none).
    pub ask: f64,
    /// Realized PnL before fees, USD (stablecoin).
    pub realized: f64,
    /// Fees paid (negative = rebates).
    pub fees: f64,
    /// realized + unrealized − fees.
    pub marked_pnl: f64,
    /// Account equity change since the start = `marked_pnl` (no initial capital is modelled).
    pub equity: f64,
}

/// Backtest settings beyond the engine's (resolved from [`BacktestArgs`]).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Latencies and their generator.
    pub latency: LatencyModel,
    /// Queue-position model.
    pub queue: QueueModel,
    /// Series interval, ns of tape time.
    pub sample_ns: u64,
}

impl Settings {
    /// From the backtest flags.
    ///
    /// # Errors
    /// Negative or non-finite latencies, a bad `.hgrm`, a bad queue power.
    pub fn from_args(bt: &BacktestArgs) -> Result<Settings, String> {
        let ns = |us: f64, flag: &str| -> Result<u64, String> {
            if us.is_finite() && us >= 0.0 {
                Ok((us * 1e3).round() as u64)
            } else {
                Err(format!("--{flag} must be a finite number ≥ 0"))
            }
        };
        let feed = Latency::Constant(ns(bt.feed_latency_us, "feed-latency-us")?);
        let (entry, response) = match &bt.latency_hgrm {
            Some(p) => {
                let h = Arc::new(Histogram::load(p)?);
                let resp = match bt.response_latency_us {
                    Some(r) => Latency::Constant(ns(r, "response-latency-us")?),
                    None => Latency::Recorded(h.clone()),
                };
                (Latency::Recorded(h), resp)
            }
            None => {
                let e = ns(bt.order_latency_us, "order-latency-us")?;
                let r = match bt.response_latency_us {
                    Some(r) => ns(r, "response-latency-us")?,
                    None => e,
                };
                (Latency::Constant(e), Latency::Constant(r))
            }
        };
        let queue = match bt.queue {
            QueueArg::RiskAverse => QueueModel::RiskAverse,
            QueueArg::Prob => {
                if !(bt.queue_power.is_finite() && bt.queue_power > 0.0) {
                    return Err("--queue-power must be > 0".into());
                }
                QueueModel::Prob(ProbFunc::Power(bt.queue_power))
            }
            QueueArg::ProbLog => QueueModel::Prob(ProbFunc::Log),
        };
        if bt.sample_ms == 0 {
            return Err("--sample-ms must be ≥ 1".into());
        }
        Ok(Settings {
            latency: LatencyModel {
                feed,
                entry,
                response,
                rng: SplitMix64::new(bt.seed),
            },
            queue,
            sample_ns: bt.sample_ms * 1_000_000,
        })
    }
}

/// The backtest's settings as reported.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BacktestInfo {
    /// Queue model name.
    pub queue: String,
    /// Feed latency.
    pub feed_latency: String,
    /// Order-entry latency.
    pub order_latency: String,
    /// Response latency.
    pub response_latency: String,
    /// Tape events read.
    pub tape_events: usize,
    /// Tape events of a previous-day file read only to build the books (see [`feed`]).
    pub warmup_events: usize,
    /// Market-data groups replayed (one per tape event the quoted instruments have).
    pub md_groups: usize,
    /// Fills at the simulated venue (must equal the engine's).
    pub venue_fills: u64,
    /// Requests the venue rejected.
    pub venue_rejects: u64,
    /// Swept flags of this run (sweeps only).
    pub params: BTreeMap<String, String>,
    /// Coefficient sets the engine applied (`--model as|glft`, vol-adaptive spread).
    pub model_updates: u64,
    /// The calibrated model at the end, per instrument (absent without a model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_fit: Option<BTreeMap<String, model::FitOut>>,
}

/// The backtest report: the `mm-fast` report (same keys, same metrics) plus throughput.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BacktestReport {
    /// The `mm-fast` report (fills, pnl, metrics, positions, …).
    #[serde(flatten)]
    pub run: Report,
    /// Market-data events processed per second of wall time of the replay loop.
    pub events_per_sec: f64,
    /// Wall seconds of the replay loop.
    pub replay_s: f64,
    /// Wall seconds of the tape load (read, render, decode; shared by a sweep's runs).
    pub load_s: f64,
    /// The backtest's settings and venue counters.
    pub backtest: BacktestInfo,
}

/// What a backtest produced.
pub struct BacktestOutput {
    /// The report.
    pub report: BacktestReport,
    /// The PnL/position/quote series.
    pub samples: Vec<Sample>,
    /// The engine's fills.
    pub fills: Vec<FillRec>,
    /// The engine at the end.
    pub engine: Engine,
}

/// Engine clock: decisions run on tape time; stamps read 0 (no syscall, deterministic).
fn zero_clock() -> u64 {
    0
}

/// Runs one backtest of `feed` with the engine `args` configure.
///
/// # Errors
/// Engine settings the engine refuses (naming the flag); instruments that differ from the
/// feed's.
pub fn run(
    feed: &Feed,
    args: &crate::cli::Args,
    settings: &Settings,
    model: &mut impl ModelDriver,
) -> Result<BacktestOutput, String> {
    let table: &InstrumentTable = &feed.table;
    let cfg = crate::run::engine_config(args, table)?;
    let (win_lin, win_opt) = (cfg.book_window_linear, cfg.book_window);
    let mut engine = Engine::new(table, cfg, zero_clock);
    let mut venue = SimVenue::new(table, settings.queue, win_lin, win_opt);
    let t0 = feed.group_t.first().copied().unwrap_or(0);
    let mut tel = TelSink::new(table, t0);
    let mut lat = settings.latency.clone();
    let mut intents: Vec<OrderIntent> = Vec::with_capacity(4096);
    let mut to_venue: VecDeque<(u64, OrderIntent)> = VecDeque::with_capacity(1024);
    let mut to_engine: VecDeque<(u64, ExecEvent)> = VecDeque::with_capacity(1024);
    let mut answers: Vec<ExecEvent> = Vec::with_capacity(256);
    let mut samples: Vec<Sample> = Vec::with_capacity(4096);
    let n = feed.groups();
    let mut next_sample = t0;
    let (mut gx, mut ge) = (0usize, 0usize);
    let mut t_feed = if n > 0 {
        feed.group_t[0] + lat.feed.next(&mut lat.rng)
    } else {
        u64::MAX
    };
    let (mut last_entry, mut last_resp) = (0u64, 0u64);
    let mut now = t0;
    let mut halted = false;
    let start = Instant::now();

    // Sends the engine's intents toward the venue (FIFO, order latency).
    macro_rules! flush {
        ($t:expr) => {
            for it in intents.drain(..) {
                last_entry = last_entry.max($t + lat.entry.next(&mut lat.rng));
                to_venue.push_back((last_entry, it));
            }
        };
    }
    macro_rules! answer {
        ($t:expr) => {
            for e in answers.drain(..) {
                last_resp = last_resp.max($t + lat.response.next(&mut lat.rng));
                to_engine.push_back((last_resp, e));
            }
        };
    }

    loop {
        let tx = if gx < n { feed.group_t[gx] } else { u64::MAX };
        let te = if ge < n { t_feed } else { u64::MAX };
        let ta = to_venue.front().map_or(u64::MAX, |x| x.0);
        let tr = to_engine.front().map_or(u64::MAX, |x| x.0);
        let t = tx.min(te).min(ta).min(tr);
        if t == u64::MAX {
            if halted {
                break;
            }
            // End of tape: halt (cancel-all) and let the answers come back.
            halted = true;
            engine.halt(now, &mut intents, &mut tel);
            flush!(now);
            continue;
        }
        now = t;
        if te == t && ge < gx {
            // The engine sees market-data group `ge`.
            for ev in feed.group(ge) {
                engine.on_md(ev, t, &mut intents, &mut tel);
                model.observe(ev);
            }
            model.poll(t, &mut engine, &mut intents, &mut tel);
            engine.on_idle(t, &mut intents, &mut tel);
            flush!(t);
            ge += 1;
            if ge < n {
                t_feed = t_feed.max(feed.group_t[ge] + lat.feed.next(&mut lat.rng));
            }
            if t >= next_sample {
                samples.push(sample(&engine, &tel, table, t, t0));
                next_sample = t - (t - t0) % settings.sample_ns + settings.sample_ns;
            }
        } else if ta == t {
            let Some((_, it)) = to_venue.pop_front() else {
                unreachable!("front checked")
            };
            venue.on_intent(&it, &mut answers);
            answer!(t);
        } else if tr == t {
            while let Some(&(tt, mut e)) = to_engine.front() {
                if tt != t {
                    break;
                }
                to_engine.pop_front();
                e.t_recv = t;
                engine.on_exec(&e, t, &mut intents, &mut tel);
            }
            engine.on_idle(t, &mut intents, &mut tel);
            flush!(t);
        } else {
            // tx == t: the venue applies market-data group `gx` (tape time).
            for ev in feed.group(gx) {
                venue.on_md(ev, &mut answers);
            }
            answer!(t);
            gx += 1;
        }
    }
    let replay_s = start.elapsed().as_secs_f64();
    if !engine.halt(now, &mut intents, &mut tel) {
        log::warn!(
            "backtest: {} orders still live at the end",
            engine.open_orders()
        );
    }
    samples.push(sample(&engine, &tel, table, now, t0));

    let c = *engine.counters();
    let mut rep = Report {
        venue: "backtest".into(),
        tape: Some(feed.tape_label.clone()),
        endpoint: "in-process".into(),
        instruments: table.len(),
        rehosted: feed.rehosted.clone(),
        md_events: c.md_events,
        md_frames: n as u64,
        book_gaps: feed.gaps,
        orders_sent: c.orders_sent,
        amends: c.amends,
        cancels: c.cancels + c.cancel_alls,
        rejects: c.rejects,
        fills: c.fills,
        risk_event_count: c.risk_events,
        limit_violations: c.limit_violations,
        open_orders_at_exit: engine.open_orders(),
        name: args.name.clone(),
        ..Default::default()
    };
    report::close_positions(
        &mut rep,
        table,
        &engine,
        &tel.marks,
        &tel.fills,
        &tel.index_by_currency,
    );
    rep.risk_events = tel.metrics.risk_events.clone();
    rep.metrics = tel.metrics.finish(c.orders_sent, &rep.pnl);
    // The last sample shows the report's PnL (marked at the final mid, not at the last
    // once-per-second mark of the metrics).
    if let Some(last) = samples.last_mut() {
        last.realized = rep.pnl.realized;
        last.fees = rep.pnl.fees;
        last.marked_pnl = rep.pnl.realized + rep.pnl.unrealized - rep.pnl.fees;
        last.equity = last.marked_pnl;
    }
    rep.elapsed_s = feed.load_s + replay_s;
    let md_events = feed.events.len() as f64;
    let report = BacktestReport {
        run: rep,
        events_per_sec: if replay_s > 0.0 {
            md_events / replay_s
        } else {
            0.0
        },
        replay_s,
        load_s: feed.load_s,
        backtest: BacktestInfo {
            queue: settings.queue.name(),
            feed_latency: settings.latency.feed.describe(),
            order_latency: settings.latency.entry.describe(),
            response_latency: settings.latency.response.describe(),
            tape_events: feed.tape_events,
            warmup_events: feed.warmup_events,
            md_groups: n,
            venue_fills: venue.stats.fills,
            venue_rejects: venue.stats.rejects,
            params: BTreeMap::new(),
            model_updates: engine.counters().model_updates,
            model_fit: model.describe(&engine, table),
        },
    };
    Ok(BacktestOutput {
        report,
        samples,
        fills: tel.fills,
        engine,
    })
}

fn sample(engine: &Engine, tel: &TelSink, table: &InstrumentTable, t: u64, t0: u64) -> Sample {
    let inst = table.get(0);
    let book = engine.book(0);
    let nan_or = |p: Option<i64>| p.map_or(f64::NAN, |p| inst.price_f64(p));
    let (bid, ask) = engine.quotes(0);
    let (realized, unreal, fees) = tel.metrics.pnl_parts_usd();
    let marked = realized + unreal - fees;
    Sample {
        t_s: t.saturating_sub(t0) as f64 / 1e9,
        mid: book.mid_x2().map_or(f64::NAN, |m| inst.price_f64(m) / 2.0),
        position: inst.amount_f64(engine.position(0)),
        bid: nan_or(bid),
        ask: nan_or(ask),
        realized,
        fees,
        marked_pnl: marked,
        equity: marked,
    }
}

/// Prints the backtest's lines after the `mm-fast` summary.
pub fn print_summary(r: &BacktestReport) {
    report::print_summary(&r.run);
    let b = &r.backtest;
    println!(
        "  backtest: queue {}  feed latency {}  order latency {}  response latency {}",
        b.queue, b.feed_latency, b.order_latency, b.response_latency
    );
    println!(
        "  backtest: {} md events in {} groups  load {:.3} s  replay {:.3} s  events_per_sec {:.0}  fills {}  pnl {:.6} {}",
        r.run.md_events,
        b.md_groups,
        r.load_s,
        r.replay_s,
        r.events_per_sec,
        r.run.fills,
        r.run.metrics.marked_pnl,
        r.run.pnl.currency
    );
    if let Some(fits) = &b.model_fit {
        let f = |v: Option<f64>| v.map_or("–".to_string(), |x| format!("{x:.4}"));
        for (name, m) in fits {
            println!(
                "  model: {name}: {} coefficient sets  σ {} ticks/√s  A {} /s  κ {} /tick  half-spread {:.1} ticks  skew {:.1} ticks per order size",
                b.model_updates,
                f(m.sigma_ticks_per_sqrt_s),
                f(m.a_per_s),
                f(m.kappa_per_tick),
                m.half_spread_ticks,
                m.skew_ticks
            );
        }
    }
}

/// `mm-fast backtest …`: one run (plots, CSV, summary) or a sweep (ranked table).
///
/// # Errors
/// Every failure as a message (the binary prints it and exits 2).
pub fn command(inv: &args::Invocation) -> Result<(), String> {
    let args = &inv.loaded.args;
    let feed = Feed::load(args)?;
    if !inv.grid.is_empty() {
        return sweep::run_grid(inv, &feed);
    }
    let settings = Settings::from_args(&inv.bt)?;
    let mut model = model::Calibrated::from_args(args, &feed.table)?;
    let out = run(&feed, args, &settings, &mut model)?;
    print_summary(&out.report);
    if !inv.bt.no_plots {
        let dir = &inv.bt.out_dir;
        std::fs::create_dir_all(dir).map_err(|e| format!("--out-dir {}: {e}", dir.display()))?;
        plot::write_csv(&dir.join("pnl.csv"), &out.samples)?;
        plot::plots(dir, &out.samples, &feed.table.get(0).name)?;
        println!(
            "  wrote {}/{{equity.png, position.png, quotes.png, pnl.csv}}",
            dir.display()
        );
    }
    if let Some(p) = &args.report_json {
        let text = serde_json::to_string_pretty(&out.report).map_err(|e| e.to_string())?;
        std::fs::write(p, text).map_err(|e| format!("write {}: {e}", p.display()))?;
    }
    Ok(())
}
