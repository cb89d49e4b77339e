//! The local Deribit-protocol venue simulator (design.md §4).
//!
//! A real WebSocket JSON-RPC server on loopback (`ws://127.0.0.1:PORT/ws/api/v2`) that
//! - replays a recorded **tape** ([`tape`]: cryptofeed raw Deribit captures are forwarded byte
//!   for byte; tardis normalized books are turned into Deribit `book.*` frames with a
//!   synthesized global `change_id` chain) at recorded pace, a multiple of it, or as fast as
//!   the clients read ([`Speed`]); replay starts with the first market-data subscription;
//! - serves `public/get_instruments` from a recorded `rest.capture` or from instruments
//!   derived from the tape ([`instruments`]);
//! - speaks the session and trading methods of the Deribit protocol dossier (§1, §3, §4.0–4.5,
//!   §5.1–5.5, §5.8, §6, §7.2; fidelity checklist §10): auth, subscribe, buy/sell/edit/cancel,
//!   cancel-all variants, open-order and position queries, cancel-on-disconnect, `user.orders`
//!   and `user.trades` notifications;
//! - matches our orders against the recorded market as *virtual* orders ([`matching`] explains
//!   the model: queue position behind recorded depth, fills by recorded trades and by the
//!   recorded book moving through our price, post-only rules, partial fills);
//! - keeps its own ledger ([`LedgerSnapshot`]): fills, positions, fees, open orders, an event
//!   log and counters — the independent truth end-to-end tests compare the engine against;
//! - injects faults on demand ([`Fault`]).
//!
//! Threading: one server thread runs a `mio` event loop over the listener and every
//! connection (tungstenite server handshake, text frames) plus the tape clock. The venue state
//! ([`exchange`]) is pure logic behind a mutex so [`SimHandle::ledger`] can take a consistent
//! copy at any time.
//!
//! Clocks: order and trade `timestamp`s use the **tape clock** (the time of the last replayed
//! event) so they line up with the market data; `usIn`/`usOut` use the wall clock.

pub mod book;
pub mod credits;
pub mod exchange;
pub mod fault;
pub mod instruments;
pub mod json;
pub mod matching;
pub mod mmp;
pub mod pacer;
pub mod probe;
mod server;
pub mod tape;
pub mod tls;

pub use fault::{Fault, FAULT_SYNTAX};
use mm_core::instrument::InstrumentTable;
use mm_core::types::Side;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Replay pace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// At the recorded timestamps.
    Recorded,
    /// `k` times the recorded pace (`k > 0`).
    Multiple(f64),
    /// As fast as possible, still serving requests between events and never buffering more
    /// than ~1 MiB unsent per connection.
    Max,
    /// A fixed offered rate of **book events** per second (`r > 0`), evenly spaced from the
    /// start of the replay, open loop: book event *n* is due at `start + n / r` whatever the
    /// clients do (a late server catches up in a burst; only the ~1 MiB backlog cap above
    /// pauses it). Recorded timing is ignored; the other events (trades, tickers) go out right
    /// after the book event before them. For latency measurement ([`probe`]): within
    /// [`probe::SPIN_WINDOW`] of a due event the server polls without blocking and yields
    /// between polls, so frames leave on time despite `epoll_wait`'s millisecond timeouts.
    Rate(f64),
}

impl FromStr for Speed {
    type Err = String;

    /// `"1"` ⇒ [`Speed::Recorded`], `"10"`/`"0.5"`/`"10x"` ⇒ [`Speed::Multiple`], `"max"` ⇒
    /// [`Speed::Max`], `"1000/s"` ⇒ [`Speed::Rate`] (book events per second).
    fn from_str(s: &str) -> Result<Speed, String> {
        let t = s.trim().to_ascii_lowercase();
        if t == "max" {
            return Ok(Speed::Max);
        }
        if let Some(r) = t.strip_suffix("/s") {
            return match r.trim().parse::<f64>() {
                Ok(r) if r.is_finite() && r > 0.0 => Ok(Speed::Rate(r)),
                _ => Err(format!(
                    "bad speed {s:?}: a rate is a positive number then \"/s\""
                )),
            };
        }
        let k: f64 = t
            .trim_end_matches('x')
            .parse()
            .map_err(|_| format!("bad speed {s:?}: expected a positive number or \"max\""))?;
        if !(k.is_finite() && k > 0.0) {
            return Err(format!("bad speed {s:?}: must be > 0"));
        }
        Ok(if k == 1.0 {
            Speed::Recorded
        } else {
            Speed::Multiple(k)
        })
    }
}

/// Simulator configuration.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Tape file (format detected from content; `.gz` allowed).
    pub tape: PathBuf,
    /// Further files replayed after `tape` as **one** tape (consecutive Binance collector
    /// files of a symbol, e.g. day 1 then day 2; see [`tape::load_many`]). Empty = `tape` only.
    pub more_tapes: Vec<PathBuf>,
    /// Listen address (`127.0.0.1:0` = any free port).
    pub listen: SocketAddr,
    /// Replay pace.
    pub speed: Speed,
    /// Instruments source; `None` ⇒ a `rest.capture` beside the tape if present, else derived.
    pub rest_capture: Option<PathBuf>,
    /// Faults to inject.
    pub faults: Vec<Fault>,
    /// Emit `user.orders`/`user.trades` notifications before the RPC reply (the real venue
    /// can do either; dossier §5.8).
    pub notify_before_response: bool,
    /// Wire-to-wire probe fed by the server thread ([`probe`]); `None` = not measured.
    pub probe: Option<Arc<probe::WireProbe>>,
    /// API keys the venue knows: `(client_id, client_secret)`. `public/auth` for one of these
    /// ids must prove the secret (`client_credentials`: equal; `client_signature`: the HMAC
    /// verifies, timestamp within 60 s, nonce not reused), else `13004 invalid_credentials`.
    /// Default: the documented test pair [`SIM_CLIENT_ID`] / [`SIM_CLIENT_SECRET`].
    pub accounts: Vec<(String, String)>,
    /// Whether a `client_id` not in [`Self::accounts`] may log in with any non-empty secret
    /// (as its own account). `true` in [`SimConfig::new`] (test harnesses open one account
    /// per id); `mm-sim` and `mm-fast --venue sim` set it to `false`.
    pub open_accounts: bool,
    /// Lifetime of access and refresh tokens, seconds (`expires_in`; Deribit: 31 536 000).
    /// A connection's login ends with its token: private requests after that get `13009
    /// unauthorized` until a `refresh_token` login.
    pub token_lifetime_s: f64,
    /// Smallest `public/set_heartbeat` interval accepted, seconds (Deribit: 10).
    pub min_heartbeat_s: f64,
    /// Seed of the `reject-rate` draws.
    pub seed: u64,
    /// Serve `wss://` with this certificate chain and key ([`tls::TlsFiles`]); `None` = `ws://`.
    pub tls: Option<tls::TlsFiles>,
    /// Deribit's rate limits enforced per account ([`credits`], dossier §8): `10028
    /// too_many_requests` and the connection closed when a bucket is empty. `None` in
    /// [`SimConfig::new`] (in-process harnesses answer a whole tape in no wall time);
    /// `mm-sim` and `mm-fast --venue sim` enforce tier 4 unless `--rate-tier`/`--me-rate`/
    /// `--me-burst` say otherwise (the same limits as the client's budget).
    pub rate_limits: Option<crate::deribit::credits::RateLimits>,
    /// Wait for a [`Speed::Rate`] frame's due time on a `timerfd` ([`pacer::TimerPacer`])
    /// instead of polling without blocking in the last [`probe::SPIN_WINDOW`] before it
    /// (`mm-fast --idle wake`): the server thread is not runnable while it waits.
    pub timer_pacing: bool,
}

/// `client_id` of the simulator's default account (a documented test key; not a secret).
pub const SIM_CLIENT_ID: &str = "mm-fast-sim";
/// `client_secret` of the simulator's default account (a documented test key; not a secret).
pub const SIM_CLIENT_SECRET: &str = "mm-fast-sim-secret";
/// Default `token_lifetime_s` (365 days, as Deribit).
pub const DEFAULT_TOKEN_LIFETIME_S: f64 = 31_536_000.0;

impl SimConfig {
    /// A config with defaults: listen on `127.0.0.1:0`, [`Speed::Max`], no faults.
    pub fn new(tape: impl Into<PathBuf>) -> SimConfig {
        SimConfig {
            tape: tape.into(),
            more_tapes: Vec::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            speed: Speed::Max,
            rest_capture: None,
            faults: Vec::new(),
            notify_before_response: false,
            probe: None,
            accounts: vec![(SIM_CLIENT_ID.into(), SIM_CLIENT_SECRET.into())],
            open_accounts: true,
            token_lifetime_s: DEFAULT_TOKEN_LIFETIME_S,
            min_heartbeat_s: 10.0,
            seed: 1,
            tls: None,
            rate_limits: None,
            timer_pacing: false,
        }
    }
}

/// Errors starting the simulator.
#[derive(Debug)]
pub enum SimError {
    /// The tape could not be read or parsed.
    Tape(String),
    /// Instrument metadata could not be built.
    Instruments(String),
    /// Socket / thread error.
    Io(std::io::Error),
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimError::Tape(e) => write!(f, "tape: {e}"),
            SimError::Instruments(e) => write!(f, "instruments: {e}"),
            SimError::Io(e) => write!(f, "io: {e}"),
        }
    }
}

impl std::error::Error for SimError {}

impl From<std::io::Error> for SimError {
    fn from(e: std::io::Error) -> Self {
        SimError::Io(e)
    }
}

/// One execution of one of our orders.
#[derive(Clone, Debug, Serialize)]
pub struct SimFill {
    /// Venue trade id.
    pub trade_id: String,
    /// Venue order id.
    pub order_id: String,
    /// Order label.
    pub label: String,
    /// Instrument name.
    pub instrument: String,
    /// Our side.
    #[serde(serialize_with = "ser_side")]
    pub side: Side,
    /// Price (quote currency).
    pub price: f64,
    /// Price in ticks.
    pub price_ticks: i64,
    /// Amount (venue amount unit).
    pub amount: f64,
    /// Amount in lots.
    pub lots: i64,
    /// Fee charged (negative = rebate), in `fee_currency`.
    pub fee: f64,
    /// Settlement currency of the fee.
    pub fee_currency: String,
    /// Maker (resting) or taker.
    pub maker: bool,
    /// Tape time of the fill (ns since the epoch).
    pub tape_ns: u64,
}

/// An open order at snapshot time.
#[derive(Clone, Debug, Serialize)]
pub struct SimOrder {
    /// Venue order id.
    pub order_id: String,
    /// Label.
    pub label: String,
    /// Instrument name.
    pub instrument: String,
    /// Side.
    #[serde(serialize_with = "ser_side")]
    pub side: Side,
    /// Limit price in ticks.
    pub price_ticks: i64,
    /// Size in lots.
    pub lots: i64,
    /// Filled lots.
    pub filled_lots: i64,
}

/// What a log entry records.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum SimLogKind {
    /// A book change was dropped by a [`Fault::Gap`].
    ChangeDropped,
    /// A synthesized snapshot was sent after a (re)subscribe mid-tape.
    SnapshotSent,
    /// An order was accepted.
    OrderNew {
        /// Label.
        label: String,
        /// Price (ticks) after any post-only repricing.
        price_ticks: i64,
    },
    /// An order was edited.
    OrderEdit {
        /// Label.
        label: String,
        /// New price (ticks).
        price_ticks: i64,
    },
    /// An order was cancelled (any reason).
    OrderCancel {
        /// Label.
        label: String,
    },
    /// A cancel-all request.
    CancelAll,
    /// A fill.
    Fill {
        /// Label.
        label: String,
    },
    /// An order request was rejected with an error.
    Reject {
        /// Label (from the request, if any).
        label: String,
        /// JSON-RPC error code.
        code: i32,
    },
    /// A channel was subscribed.
    Subscribe {
        /// Channel.
        channel: String,
    },
    /// A channel was unsubscribed.
    Unsubscribe {
        /// Channel.
        channel: String,
    },
    /// Market-maker protection tripped: the group's MMP orders were cancelled.
    MmpTriggered {
        /// Index (`btc_usd`).
        index: String,
        /// MMP group (`""` = plain-order MMP).
        group: String,
    },
    /// `private/reset_mmp` unfroze a group.
    MmpReset {
        /// Index.
        index: String,
        /// MMP group.
        group: String,
    },
}

/// One log entry.
#[derive(Clone, Debug, Serialize)]
pub struct SimLogEntry {
    /// Sequence number (0, 1, …).
    pub seq: u64,
    /// Tape clock at the time.
    pub tape_ns: u64,
    /// Instrument, when the entry concerns one.
    pub instrument: Option<String>,
    /// What happened.
    pub what: SimLogKind,
}

/// Counters.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SimStats {
    /// Market-data notifications sent (all connections).
    pub md_frames_sent: u64,
    /// JSON-RPC requests received.
    pub requests: u64,
    /// Orders accepted.
    pub orders: u64,
    /// Edits accepted.
    pub edits: u64,
    /// Orders cancelled (any reason).
    pub cancels: u64,
    /// Order requests rejected with an error.
    pub rejects: u64,
    /// Fills.
    pub fills: u64,
    /// WebSocket connections accepted.
    pub connections: u64,
    /// Faults injected, per kind ([`Fault::kind`]; `reject-rate` counts rejected requests,
    /// `ack-delay-ms` delayed replies, `rate-limit` the 10028 replies sent).
    pub faults_injected: BTreeMap<String, u64>,
    /// Successful logins (`public/auth` with credentials or a signature).
    pub logins: u64,
    /// `public/auth` requests refused (wrong secret or signature, bad refresh token, …).
    pub auth_failures: u64,
    /// Successful `refresh_token` logins.
    pub refreshes: u64,
    /// Heartbeat `test_request`s sent.
    pub test_requests: u64,
    /// `public/test` answers received to an outstanding `test_request`.
    pub test_answers: u64,
    /// Connections dropped for not answering a `test_request` within the interval.
    pub heartbeat_drops: u64,
    /// Private requests refused because the connection's token had expired.
    pub expired_token_requests: u64,
    /// Requests refused by the credit model (`10028 too_many_requests`, connection closed;
    /// [`credits`]), not counting the `rate-limit` fault.
    pub rate_limited: u64,
    /// `private/mass_quote` requests accepted (past the whole-request checks).
    pub mass_quotes: u64,
    /// Quote sides refused (`errors[]` entries).
    pub quote_errors: u64,
    /// MMP triggers fired.
    pub mmp_triggers: u64,
    /// `private/reset_mmp` calls that reset a group.
    pub mmp_resets: u64,
}

/// A consistent copy of the simulator's ledger.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LedgerSnapshot {
    /// Every fill, in order.
    pub fills: Vec<SimFill>,
    /// Instrument → signed position in the venue's amount unit (USD for inverse futures,
    /// coin for options), summed over accounts; instruments that ever traded.
    pub positions: BTreeMap<String, f64>,
    /// Instrument → signed position in lots.
    pub position_lots: BTreeMap<String, i64>,
    /// Open orders.
    pub open_orders: Vec<SimOrder>,
    /// Instrument → recorded (best bid, best ask) now, price units.
    pub books: BTreeMap<String, (Option<f64>, Option<f64>)>,
    /// Currency → fees paid (negative = rebates received).
    pub fees: BTreeMap<String, f64>,
    /// Event log.
    pub log: Vec<SimLogEntry>,
    /// Counters.
    pub stats: SimStats,
}

fn ser_side<S: serde::Serializer>(s: &Side, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.direction())
}

/// State shared between the server thread and the handle.
pub(crate) struct Shared {
    pub(crate) exchange: Mutex<exchange::Exchange>,
    pub(crate) stop: AtomicBool,
    pub(crate) finished: AtomicBool,
}

/// Starts simulators.
pub struct Sim;

impl Sim {
    /// Loads the tape and instruments, binds the listener, spawns the server thread and
    /// returns once it is listening.
    ///
    /// # Errors
    /// Tape or instrument problems, or a socket error.
    pub fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
        let tape = if cfg.more_tapes.is_empty() {
            tape::load(&cfg.tape)
        } else {
            let mut all = vec![cfg.tape.clone()];
            all.extend(cfg.more_tapes.iter().cloned());
            tape::load_many(&all)
        }
        .map_err(SimError::Tape)?;
        let insts = instruments::build(&tape, cfg.rest_capture.as_deref())
            .map_err(SimError::Instruments)?;
        let table = insts.table.clone();
        let tls = cfg.tls.is_some();
        let ex = exchange::Exchange::new(insts, &tape, &cfg);
        let shared = Arc::new(Shared {
            exchange: Mutex::new(ex),
            stop: AtomicBool::new(false),
            finished: AtomicBool::new(false),
        });
        let (addr, waker, thread) = server::spawn(cfg, tape, shared.clone())?;
        Ok(SimHandle {
            tls,
            addr,
            instruments: table,
            shared,
            waker,
            thread: Some(thread),
        })
    }
}

/// A running simulator. Dropping it stops the server thread.
pub struct SimHandle {
    tls: bool,
    addr: SocketAddr,
    instruments: Arc<InstrumentTable>,
    shared: Arc<Shared>,
    waker: Arc<mio::Waker>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimHandle {
    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT/ws/api/v2` (`wss://` with [`SimConfig::tls`]).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}/ws/api/v2", self.addr)
    }

    /// The instruments `public/get_instruments` serves.
    pub fn instruments(&self) -> Arc<InstrumentTable> {
        self.instruments.clone()
    }

    /// True once every tape event has been sent.
    pub fn tape_finished(&self) -> bool {
        self.shared.finished.load(Ordering::Acquire)
    }

    /// Waits until the tape is finished or `timeout` passes; returns [`Self::tape_finished`].
    pub fn wait_tape_finished(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while !self.tape_finished() {
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }

    /// A consistent copy of the ledger.
    pub fn ledger(&self) -> LedgerSnapshot {
        match self.shared.exchange.lock() {
            Ok(ex) => ex.snapshot(),
            Err(p) => p.into_inner().snapshot(),
        }
    }

    /// Stops the server (closing every connection, without cancel-on-disconnect) and returns
    /// the final ledger.
    pub fn stop(mut self) -> LedgerSnapshot {
        self.shutdown();
        self.ledger()
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_parses() {
        assert_eq!("1".parse::<Speed>(), Ok(Speed::Recorded));
        assert_eq!("10".parse::<Speed>(), Ok(Speed::Multiple(10.0)));
        assert_eq!("0.5".parse::<Speed>(), Ok(Speed::Multiple(0.5)));
        assert_eq!("MAX".parse::<Speed>(), Ok(Speed::Max));
        assert!("0".parse::<Speed>().is_err());
        assert!("fast".parse::<Speed>().is_err());
        assert_eq!("1000/s".parse::<Speed>(), Ok(Speed::Rate(1000.0)));
        assert_eq!(" 2.5/S ".parse::<Speed>(), Ok(Speed::Rate(2.5)));
        assert!("0/s".parse::<Speed>().is_err());
        assert!("x/s".parse::<Speed>().is_err());
    }
}
