//! What users read while the engine runs (strategies.md §7): the status lines printed with
//! `--stats-interval`, and the JSON status, Prometheus metrics and kill endpoint served on
//! `--status-addr` (with the kill file and SIGUSR1 of [`crate::kill`]).
//!
//! Data path: the hot thread publishes a per-instrument snapshot ([`InstSnapshots`]: relaxed
//! atomics, written when it is idle, at most every 50 ms; no lock, no allocation) and its
//! counters ([`crate::hot::PublishedCounters`]). The control thread ([`Ops::tick`]) reads
//! them with the fills and latency histograms it already holds, renders the status JSON and
//! the metrics text every 100 ms into two `Mutex<String>`s, and the HTTP server thread only
//! copies those strings out. The hot thread never sees the server.
//!
//! HTTP: a deliberately small HTTP/1.1 server on `std::net` (one request per connection,
//! `Connection: close`, 8 KiB header limit, 2 s socket timeouts), because three fixed
//! endpoints on localhost do not justify a dependency in the engine:
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /status` | JSON status object (see [`StatusOut`]) |
//! | `GET /metrics` | Prometheus text exposition 0.0.4: `mm_` counters and gauges, latency summaries |
//! | `POST /kill` | fires the kill switch; answers when every order is cancelled (≤ 5 s) with the kill record |

use crate::cli::Args;
use crate::hot::HotControl;
use crate::kill::{KillOut, KillSwitch, Trigger};
use crate::report::{self, FillRec, LatencyOut, Pnl};
use mm_core::book::BookView;
use mm_core::engine::Engine;
use mm_core::instrument::{InstrumentTable, Kind};
use mm_core::types::{Lots, Ticks};
use mm_io::LatencyRecorder;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const NONE: i64 = i64::MIN;

/// One instrument's published view (relaxed atomics; fields may come from consecutive
/// publications, which is fine for a status display).
struct InstSlot {
    best_bid: AtomicI64,
    best_ask: AtomicI64,
    our_bid: AtomicI64,
    our_ask: AtomicI64,
    position: AtomicI64,
    trusted: AtomicBool,
}

impl InstSlot {
    fn new() -> InstSlot {
        InstSlot {
            best_bid: AtomicI64::new(NONE),
            best_ask: AtomicI64::new(NONE),
            our_bid: AtomicI64::new(NONE),
            our_ask: AtomicI64::new(NONE),
            position: AtomicI64::new(0),
            trusted: AtomicBool::new(false),
        }
    }
}

/// The per-instrument snapshot the hot thread publishes for the control thread: book touch,
/// our working bid/ask, position. Sized at startup; publishing is stores only.
#[derive(Default)]
pub struct InstSnapshots {
    slots: Box<[InstSlot]>,
}

/// One instrument as last published.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InstView {
    /// Market best bid (ticks).
    pub best_bid: Option<Ticks>,
    /// Market best ask (ticks).
    pub best_ask: Option<Ticks>,
    /// Our working bid (ticks).
    pub our_bid: Option<Ticks>,
    /// Our working ask (ticks).
    pub our_ask: Option<Ticks>,
    /// Position (lots).
    pub position: Lots,
    /// Book trusted (snapshot applied, no gap since).
    pub trusted: bool,
}

impl InstSnapshots {
    /// Slots for `n` instruments.
    pub fn new(n: usize) -> InstSnapshots {
        InstSnapshots {
            slots: (0..n).map(|_| InstSlot::new()).collect(),
        }
    }

    /// Number of instruments.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when sized for no instrument.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Publishes the engine's view (hot thread, when idle). No allocation, no lock.
    pub fn publish(&self, engine: &Engine) {
        let r = Ordering::Relaxed;
        let o = |v: Option<Ticks>| v.unwrap_or(NONE);
        for (i, s) in self.slots.iter().enumerate() {
            let id = i as u32;
            let b = engine.book(id);
            let (ob, oa) = engine.quotes(id);
            s.best_bid.store(o(b.best_bid()), r);
            s.best_ask.store(o(b.best_ask()), r);
            s.our_bid.store(o(ob), r);
            s.our_ask.store(o(oa), r);
            s.position.store(engine.position(id), r);
            s.trusted.store(engine.trusted(id), r);
        }
    }

    /// Instrument `i` as last published.
    pub fn load(&self, i: usize) -> InstView {
        let r = Ordering::Relaxed;
        let o = |v: i64| (v != NONE).then_some(v);
        let s = &self.slots[i];
        InstView {
            best_bid: o(s.best_bid.load(r)),
            best_ask: o(s.best_ask.load(r)),
            our_bid: o(s.our_bid.load(r)),
            our_ask: o(s.our_ask.load(r)),
            position: s.position.load(r),
            trusted: s.trusted.load(r),
        }
    }
}

/// What the control thread lends [`Ops::tick`] from its telemetry state.
pub struct TelView<'a> {
    /// Whole-run latency histograms.
    pub rec: &'a LatencyRecorder,
    /// Fills booked so far.
    pub fills: &'a [FillRec],
    /// Venue mark prices (ticks) per instrument.
    pub marks: &'a [Option<i64>],
    /// USD value of one coin per currency.
    pub index_usd: &'a BTreeMap<String, f64>,
    /// Monotonic ns of the latest cancel written to the order socket (0 = none).
    pub last_cancel_written: u64,
}

/// One instrument in the status JSON (prices in the instrument's price unit, position in its
/// amount unit, PnL in its settlement currency).
#[derive(Clone, Debug, Serialize)]
pub struct InstStatus {
    /// Name.
    pub name: String,
    /// Market best bid.
    pub best_bid: Option<f64>,
    /// Market best ask.
    pub best_ask: Option<f64>,
    /// Mid.
    pub mid: Option<f64>,
    /// Market spread (ask − bid).
    pub spread: Option<f64>,
    /// Market spread in bps of the mid.
    pub spread_bps: Option<f64>,
    /// Our working bid.
    pub our_bid: Option<f64>,
    /// Our working ask.
    pub our_ask: Option<f64>,
    /// Position.
    pub position: f64,
    /// Realized + unrealized (at the mid, else the venue mark) − fees.
    pub pnl: f64,
    /// Currency of `pnl`.
    pub pnl_currency: String,
    /// Book trusted.
    pub trusted: bool,
}

/// The `/status` JSON.
#[derive(Clone, Debug, Serialize)]
pub struct StatusOut {
    /// Run name (`--name`).
    pub name: Option<String>,
    /// `dry-run` or `live`.
    pub mode: String,
    /// `sim` or `deribit`.
    pub venue: String,
    /// Endpoint.
    pub endpoint: String,
    /// Seconds since start.
    pub uptime_s: f64,
    /// Quoting halted (kill switch or shutdown).
    pub halted: bool,
    /// The kill switch record, once fired.
    pub kill: Option<KillOut>,
    /// Live orders.
    pub open_orders: u64,
    /// Engine counters.
    pub counters: BTreeMap<String, u64>,
    /// Total PnL (USD where convertible), as in the report.
    pub pnl: Pnl,
    /// Per instrument.
    pub instruments: Vec<InstStatus>,
    /// Whole-run latency per stage (ns).
    pub latency_ns: BTreeMap<String, LatencyOut>,
}

const COUNTER_NAMES: [&str; 7] = [
    "md_events",
    "orders_sent",
    "amends",
    "cancels",
    "fills",
    "rejects",
    "book_gaps",
];

#[derive(Default, Clone, Copy)]
struct Acct {
    pos: f64,
    avg: f64,
    realized: f64,
    fees: f64,
}

fn transformed(px: f64, inverse_future: bool) -> f64 {
    if !inverse_future {
        px
    } else if px > 0.0 {
        -1.0 / px
    } else {
        0.0
    }
}

struct Shared {
    status: Mutex<String>,
    metrics: Mutex<String>,
    kill: Arc<KillSwitch>,
    ctl: Arc<HotControl>,
}

/// The operations side of a run on the control thread: kill triggers, measurements, status
/// lines and the status server.
pub struct Ops {
    t0: Instant,
    kill: Arc<KillSwitch>,
    kill_file: Option<PathBuf>,
    sigusr1: Arc<AtomicBool>,
    sig_id: Option<signal_hook::SigId>,
    listener: Option<TcpListener>,
    bound: Option<SocketAddr>,
    stop: Arc<AtomicBool>,
    server: Option<JoinHandle<()>>,
    shared: Option<Arc<Shared>>,
    table: Option<Arc<InstrumentTable>>,
    name: Option<String>,
    mode: &'static str,
    venue: String,
    endpoint: String,
    next_refresh: Instant,
    accts: Vec<Acct>,
    applied: usize,
    announced: bool,
}

impl Ops {
    /// Before connecting: refuses to start while the kill file exists, binds `--status-addr`
    /// (reporting the bound address through `bound_out`, and on stderr) and installs the
    /// SIGUSR1 trigger.
    ///
    /// # Errors
    /// The kill file exists, or the status address cannot be bound.
    pub fn prepare(
        args: &Args,
        t0: Instant,
        bound_out: Option<&Arc<OnceLock<SocketAddr>>>,
    ) -> Result<Ops, String> {
        if let Some(f) = &args.kill_file {
            if f.exists() {
                return Err(format!(
                    "kill file {} exists (a kill switch was tripped): remove it to start quoting",
                    f.display()
                ));
            }
        }
        let (listener, bound) = match &args.status_addr {
            Some(a) => {
                let l =
                    TcpListener::bind(a.as_str()).map_err(|e| format!("--status-addr {a}: {e}"))?;
                let addr = l
                    .local_addr()
                    .map_err(|e| format!("--status-addr {a}: {e}"))?;
                if !addr.ip().is_loopback() {
                    log::warn!(
                        "--status-addr {addr} is not a loopback address: /kill is reachable from the network"
                    );
                }
                eprintln!("mm-fast: status on http://{addr}/status (/metrics, POST /kill)");
                if let Some(o) = bound_out {
                    let _ = o.set(addr);
                }
                (Some(l), Some(addr))
            }
            None => (None, None),
        };
        let sigusr1 = Arc::new(AtomicBool::new(false));
        let sig_id = signal_hook::flag::register(signal_hook::consts::SIGUSR1, sigusr1.clone())
            .map_err(|e| log::warn!("SIGUSR1 kill switch not installed: {e}"))
            .ok();
        Ok(Ops {
            t0,
            kill: Arc::new(KillSwitch::new(mm_io::clock::now())),
            kill_file: args.kill_file.clone(),
            sigusr1,
            sig_id,
            listener,
            bound,
            stop: Arc::new(AtomicBool::new(false)),
            server: None,
            shared: None,
            table: None,
            name: args.name.clone(),
            mode: if args.dry_run { "dry-run" } else { "live" },
            venue: match args.venue {
                crate::cli::VenueArg::Sim => "sim".into(),
                crate::cli::VenueArg::Deribit => "deribit".into(),
            },
            endpoint: String::new(),
            next_refresh: t0,
            accts: Vec::new(),
            applied: 0,
            announced: false,
        })
    }

    /// The address the status server is bound to.
    pub fn bound(&self) -> Option<SocketAddr> {
        self.bound
    }

    /// Once the threads run: starts the status server.
    pub fn start(&mut self, table: Arc<InstrumentTable>, ctl: Arc<HotControl>, endpoint: &str) {
        self.endpoint = endpoint.to_string();
        self.accts = vec![Acct::default(); table.len()];
        self.table = Some(table);
        let shared = Arc::new(Shared {
            status: Mutex::new("{}".into()),
            metrics: Mutex::new(String::new()),
            kill: self.kill.clone(),
            ctl,
        });
        self.shared = Some(shared.clone());
        if let Some(l) = self.listener.take() {
            let stop = self.stop.clone();
            match std::thread::Builder::new()
                .name("mm-status".into())
                .spawn(move || serve(l, shared, stop))
            {
                Ok(h) => self.server = Some(h),
                Err(e) => log::error!("status server thread: {e}"),
            }
        }
    }

    /// One control-loop pass: kill triggers (SIGUSR1, kill file), kill measurements, and —
    /// every 100 ms with a status server, or when `print` — the status snapshot and lines.
    pub fn tick(&mut self, v: &TelView<'_>, print: bool) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let ctl = &shared.ctl;
        if !self.kill.fired() {
            let sig = self.sigusr1.swap(false, Ordering::AcqRel);
            let file = !sig && self.kill_file.as_ref().is_some_and(|f| f.exists());
            if sig || file {
                let t = if sig { Trigger::Signal } else { Trigger::File };
                self.kill.fire(t, ctl, mm_io::clock::now());
            }
        }
        if self.kill.fired() {
            self.kill.measure(v.last_cancel_written, ctl);
            if !self.announced {
                self.announced = true;
                let k = self.kill.out().unwrap_or_default();
                log::error!(
                    "KILL SWITCH ({}) at {:.3}s: cancelling everything, quoting halted until restart",
                    k.trigger,
                    k.t_trigger_s
                );
                eprintln!(
                    "mm-fast: *** KILL SWITCH ({}) at {:.3}s: cancel-all sent, quoting HALTED until restart; \
                     still running (status, market data) until the normal stop ***",
                    k.trigger, k.t_trigger_s
                );
            }
        }
        let now = Instant::now();
        let refresh = self.server.is_some() && now >= self.next_refresh;
        if !(refresh || print) {
            return;
        }
        self.next_refresh = now + Duration::from_millis(100);
        let st = self.snapshot(v, ctl);
        if self.server.is_some() {
            let json = serde_json::to_string_pretty(&st).unwrap_or_else(|_| "{}".into());
            let metrics = self.metrics(&st, v.rec);
            if let Ok(mut s) = shared.status.lock() {
                *s = json;
            }
            if let Ok(mut m) = shared.metrics.lock() {
                *m = metrics;
            }
        }
        if print {
            eprint!("{}", status_lines(&st, 20));
        }
    }

    /// The kill record for the report (after the last telemetry drain).
    pub fn finish(&mut self, last_cancel_written: u64) -> Option<KillOut> {
        if let Some(s) = &self.shared {
            self.kill.measure(last_cancel_written, &s.ctl);
        }
        let out = self.kill.out();
        if let Some(k) = &out {
            let f = |v: Option<u64>| v.map_or("-".into(), |n| format!("{:.1} µs", n as f64 / 1e3));
            log::warn!(
                "kill ({}) at {:.3}s: last cancel written +{}, all acknowledged +{}",
                k.trigger,
                k.t_trigger_s,
                f(k.cancel_written_ns),
                f(k.all_acked_ns)
            );
        }
        out
    }

    fn snapshot(&mut self, v: &TelView<'_>, ctl: &HotControl) -> StatusOut {
        let table = self.table.clone().expect("started");
        // Per-instrument accounting, incrementally over new fills (same rules as the report).
        for f in &v.fills[self.applied.min(v.fills.len())..] {
            let inst = table.get(f.instrument);
            let inv = inst.inverse && inst.kind != Kind::Option;
            let x = transformed(inst.price_f64(f.price), inv);
            let q = inst.amount_f64(f.lots) * f.side.sign() as f64;
            let a = &mut self.accts[f.instrument as usize];
            a.fees += f.fee_nano as f64 / 1e9;
            if a.pos == 0.0 || a.pos.signum() == q.signum() {
                a.avg = (a.avg * a.pos.abs() + x * q.abs()) / (a.pos.abs() + q.abs());
                a.pos += q;
            } else {
                let c = q.abs().min(a.pos.abs());
                a.realized += c * (x - a.avg) * a.pos.signum();
                let new = a.pos + q;
                if new != 0.0 && new.signum() != a.pos.signum() {
                    a.avg = x;
                }
                a.pos = if new.abs() < 1e-12 { 0.0 } else { new };
            }
        }
        self.applied = v.fills.len();
        let mut marks = vec![None; table.len()];
        let mut instruments = Vec::with_capacity(table.len());
        for inst in table.iter() {
            let i = inst.id as usize;
            let s = if i < ctl.insts.len() {
                ctl.insts.load(i)
            } else {
                InstView::default()
            };
            let px = |t: Option<Ticks>| t.map(|t| inst.price_f64(t));
            let (bb, ba) = (px(s.best_bid), px(s.best_ask));
            let mid = match (s.best_bid, s.best_ask) {
                (Some(b), Some(a)) => Some(inst.price_f64(b + a) / 2.0),
                _ => None,
            };
            let spread = match (bb, ba) {
                (Some(b), Some(a)) => Some(a - b),
                _ => None,
            };
            let mark = mid.or_else(|| v.marks.get(i).copied().flatten().map(|m| inst.price_f64(m)));
            marks[i] = mark;
            let a = self.accts[i];
            let inv = inst.inverse && inst.kind != Kind::Option;
            let unreal = match mark {
                Some(m) if a.pos != 0.0 => a.pos * (transformed(m, inv) - a.avg),
                _ => 0.0,
            };
            instruments.push(InstStatus {
                name: inst.name.clone(),
                best_bid: bb,
                best_ask: ba,
                mid,
                spread,
                spread_bps: match (spread, mid) {
                    (Some(s), Some(m)) if m > 0.0 => Some(s / m * 1e4),
                    _ => None,
                },
                our_bid: px(s.our_bid),
                our_ask: px(s.our_ask),
                position: inst.amount_f64(s.position),
                pnl: a.realized + unreal - a.fees,
                pnl_currency: inst.settlement_currency.clone(),
                trusted: s.trusted,
            });
        }
        let (pnl, _) = report::pnl(&table, v.fills, &marks, v.index_usd);
        let c = ctl.counters.load();
        StatusOut {
            name: self.name.clone(),
            mode: self.mode.into(),
            venue: self.venue.clone(),
            endpoint: self.endpoint.clone(),
            uptime_s: self.t0.elapsed().as_secs_f64(),
            halted: ctl.halt.load(Ordering::Relaxed),
            kill: self.kill.out(),
            open_orders: ctl.live_orders.load(Ordering::Relaxed),
            counters: COUNTER_NAMES
                .iter()
                .zip(c)
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            pnl,
            instruments,
            latency_ns: report::latency(v.rec),
        }
    }

    fn metrics(&self, st: &StatusOut, rec: &LatencyRecorder) -> String {
        let mut m = String::with_capacity(4096 + 512 * st.instruments.len());
        let head = |m: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(m, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(&mut m, "mm_info", "gauge", "Run information (always 1).");
        let _ = writeln!(
            m,
            "mm_info{{name=\"{}\",mode=\"{}\",venue=\"{}\"}} 1",
            esc(st.name.as_deref().unwrap_or("")),
            st.mode,
            esc(&st.venue)
        );
        head(&mut m, "mm_uptime_seconds", "gauge", "Seconds since start.");
        let _ = writeln!(m, "mm_uptime_seconds {}", st.uptime_s);
        head(&mut m, "mm_halted", "gauge", "1 when quoting is halted.");
        let _ = writeln!(m, "mm_halted {}", st.halted as u8);
        head(
            &mut m,
            "mm_killed",
            "gauge",
            "1 once the kill switch fired.",
        );
        let _ = writeln!(m, "mm_killed {}", st.kill.is_some() as u8);
        if let Some(k) = &st.kill {
            if let Some(ns) = k.cancel_written_ns {
                head(
                    &mut m,
                    "mm_kill_cancel_written_seconds",
                    "gauge",
                    "Kill trigger to the last cancel written.",
                );
                let _ = writeln!(m, "mm_kill_cancel_written_seconds {}", ns as f64 / 1e9);
            }
            if let Some(ns) = k.all_acked_ns {
                head(
                    &mut m,
                    "mm_kill_all_acked_seconds",
                    "gauge",
                    "Kill trigger to no live order.",
                );
                let _ = writeln!(m, "mm_kill_all_acked_seconds {}", ns as f64 / 1e9);
            }
        }
        for (k, v) in &st.counters {
            let name = format!("mm_{k}_total");
            head(&mut m, &name, "counter", &format!("Engine counter {k}."));
            let _ = writeln!(m, "{name} {v}");
        }
        head(&mut m, "mm_open_orders", "gauge", "Live orders.");
        let _ = writeln!(m, "mm_open_orders {}", st.open_orders);
        head(
            &mut m,
            "mm_pnl",
            "gauge",
            "PnL components (USD where convertible; label currency).",
        );
        let cur = esc(&st.pnl.currency);
        for (k, v) in [
            ("realized", st.pnl.realized),
            ("unrealized", st.pnl.unrealized),
            ("fees", st.pnl.fees),
            ("total", st.pnl.realized + st.pnl.unrealized - st.pnl.fees),
        ] {
            let _ = writeln!(m, "mm_pnl{{component=\"{k}\",currency=\"{cur}\"}} {v}");
        }
        type Get = fn(&InstStatus) -> Option<f64>;
        let gauges: [(&str, &str, Get); 8] = [
            ("mm_best_bid", "Market best bid.", |i| i.best_bid),
            ("mm_best_ask", "Market best ask.", |i| i.best_ask),
            ("mm_mid", "Market mid.", |i| i.mid),
            ("mm_market_spread", "Market spread (ask - bid).", |i| {
                i.spread
            }),
            ("mm_quote_bid", "Our working bid.", |i| i.our_bid),
            ("mm_quote_ask", "Our working ask.", |i| i.our_ask),
            ("mm_position", "Position in the amount unit.", |i| {
                Some(i.position)
            }),
            (
                "mm_instrument_pnl",
                "PnL in the settlement currency.",
                |i| Some(i.pnl),
            ),
        ];
        for (name, help, get) in gauges {
            head(&mut m, name, "gauge", help);
            for i in &st.instruments {
                if let Some(v) = get(i) {
                    let _ = writeln!(m, "{name}{{instrument=\"{}\"}} {v}", esc(&i.name));
                }
            }
        }
        head(
            &mut m,
            "mm_latency_seconds",
            "summary",
            "Latency per stage over the whole run (decode, ring, decide, encode_write, tick_to_quote, tick_to_wire).",
        );
        for s in 0..mm_core::event::STAGES {
            let stage = report::stage_from(s);
            let name = mm_io::telemetry::stage_name(stage);
            let Some(l) = st.latency_ns.get(name) else {
                continue;
            };
            for (q, v) in [
                ("0.5", l.p50),
                ("0.9", l.p90),
                ("0.99", l.p99),
                ("0.999", l.p999),
            ] {
                let _ = writeln!(
                    m,
                    "mm_latency_seconds{{stage=\"{name}\",quantile=\"{q}\"}} {}",
                    v as f64 / 1e9
                );
            }
            let h = rec.histogram(stage);
            let sum = if h.is_empty() {
                0.0
            } else {
                h.mean() * h.len() as f64 / 1e9
            };
            let _ = writeln!(m, "mm_latency_seconds_sum{{stage=\"{name}\"}} {sum}");
            let _ = writeln!(
                m,
                "mm_latency_seconds_count{{stage=\"{name}\"}} {}",
                l.count
            );
        }
        m
    }
}

impl Drop for Ops {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.server.take() {
            let _ = h.join();
        }
        if let Some(id) = self.sig_id.take() {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Prometheus label value escaping.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The human status lines: one summary line, then one line per instrument (at most `max`).
pub fn status_lines(st: &StatusOut, max: usize) -> String {
    let mut s = String::new();
    let f = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x}"));
    let _ = writeln!(
        s,
        "[{:>8.1}s] status{} | {} on {} | uptime {:.0}s | open orders {} | fills {} | pnl {:.6} {} (realized {:.6}, unrealized {:.6}, fees {:.6}){}",
        st.uptime_s,
        st.name.as_ref().map(|n| format!(" {n}")).unwrap_or_default(),
        st.mode,
        st.venue,
        st.uptime_s,
        st.open_orders,
        st.counters.get("fills").copied().unwrap_or(0),
        st.pnl.realized + st.pnl.unrealized - st.pnl.fees,
        st.pnl.currency,
        st.pnl.realized,
        st.pnl.unrealized,
        st.pnl.fees,
        match &st.kill {
            Some(k) => format!(" | KILLED ({}) at {:.1}s: HALTED", k.trigger, k.t_trigger_s),
            None if st.halted => " | HALTED".to_string(),
            None => String::new(),
        }
    );
    for i in st.instruments.iter().take(max) {
        let _ = writeln!(
            s,
            "    {:<26} mid {:<12} spread {:<10} ({} bps) | ours {} / {} | pos {} | pnl {:.8} {}{}",
            i.name,
            f(i.mid),
            f(i.spread),
            i.spread_bps.map_or("-".into(), |b| format!("{b:.1}")),
            f(i.our_bid),
            f(i.our_ask),
            i.position,
            i.pnl,
            i.pnl_currency,
            if i.trusted { "" } else { " (book untrusted)" }
        );
    }
    if st.instruments.len() > max {
        let _ = writeln!(
            s,
            "    … and {} more instruments (GET /status with --status-addr)",
            st.instruments.len() - max
        );
    }
    s
}

fn serve(l: TcpListener, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    if let Err(e) = l.set_nonblocking(true) {
        log::error!("status server: {e}");
        return;
    }
    while !stop.load(Ordering::Acquire) {
        match l.accept() {
            Ok((s, _)) => {
                if let Err(e) = handle(s, &shared, &stop) {
                    log::debug!("status server: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => {
                log::warn!("status server: accept: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn handle(mut s: TcpStream, shared: &Shared, stop: &AtomicBool) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > 8192 {
            return respond(&mut s, 431, "text/plain", "request header too large\n");
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut req = lines.next().unwrap_or("").split_whitespace();
    let (method, target) = (req.next().unwrap_or(""), req.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    // Discard a (small) body so closing does not reset the connection.
    let len: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut have = buf.len() - head_end;
    while have < len.min(65536) {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        have += n;
    }
    let copy = |m: &Mutex<String>| m.lock().map(|g| g.clone()).unwrap_or_default();
    match (method, path) {
        ("GET" | "HEAD", "/status") => {
            respond(&mut s, 200, "application/json", &copy(&shared.status))
        }
        ("GET" | "HEAD", "/metrics") => respond(
            &mut s,
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            &copy(&shared.metrics),
        ),
        ("POST", "/kill") => {
            let first = shared
                .kill
                .fire(Trigger::Command, &shared.ctl, mm_io::clock::now());
            if first {
                log::error!("kill switch: POST /kill received");
            }
            // Answer once every order is cancelled and the control thread has measured it.
            let until = Instant::now() + Duration::from_secs(5);
            let mut flat_since: Option<Instant> = None;
            while Instant::now() < until && !stop.load(Ordering::Acquire) {
                let k = shared.kill.out().unwrap_or_default();
                if k.all_acked_ns.is_some() && k.cancel_written_ns.is_some() {
                    break;
                }
                if shared.ctl.flat.load(Ordering::Acquire) {
                    let t = *flat_since.get_or_insert_with(Instant::now);
                    if t.elapsed() > Duration::from_millis(200) {
                        break;
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            let body = serde_json::json!({
                "killed": true,
                "already_killed": !first,
                "flat": shared.ctl.flat.load(Ordering::Acquire),
                "open_orders": shared.ctl.live_orders.load(Ordering::Relaxed),
                "kill": shared.kill.out(),
            });
            respond(&mut s, 200, "application/json", &format!("{body}\n"))
        }
        (_, "/kill") => respond(&mut s, 405, "text/plain", "use POST /kill\n"),
        ("GET", "/") => respond(
            &mut s,
            200,
            "text/plain",
            "mm-fast: GET /status (JSON), GET /metrics (Prometheus), POST /kill (kill switch)\n",
        ),
        _ => respond(&mut s, 404, "text/plain", "not found\n"),
    }
}

fn respond(s: &mut TcpStream, code: u16, ctype: &str, body: &str) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let allow = if code == 405 { "Allow: POST\r\n" } else { "" };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{allow}Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())?;
    s.flush()
}

/// A minimal HTTP/1.1 client for the status endpoints (`mm-fast kill`, tests): one request,
/// `Connection: close`; returns the status code and body.
///
/// # Errors
/// Connection or protocol errors, as text.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let sa = addr
        .to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))?;
    let mut s = TcpStream::connect_timeout(&sa, timeout.min(Duration::from_secs(5)))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes())
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let text = String::from_utf8_lossy(&resp);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{method} {path}: malformed response"))?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{method} {path}: malformed status line"))?;
    Ok((code, body.to_string()))
}
