//! The simulated venue's state and its JSON-RPC protocol: sessions, subscriptions, orders,
//! positions, fees, the ledger. Pure logic, no IO: the server feeds it request texts, tape
//! events and connection events, and sends the [`Out`] frames it returns.
//!
//! Protocol reference: Deribit protocol dossier §1 (framing), §2 (auth), §3 (heartbeat, COD),
//! §4.0–4.5 (subscriptions, book/ticker/trades), §5.1–5.5 (trading), §5.8 (user channels),
//! §6 (instruments), §7.2 (error codes), §10 (fidelity checklist).
//!
//! Choices where the dossier leaves room (all documented here once):
//! - Requests: frames > 32 kB ⇒ `-32600 request entity too large`; invalid JSON ⇒ `-32700
//!   Parse error`; arrays (batches), missing `id`/`method` or `jsonrpc != "2.0"` ⇒ `-32600
//!   Invalid Request`; unknown method ⇒ `-32601 Method not found`; bad or missing params ⇒
//!   `-32602 Invalid params` with `data: {reason, param}` (real shape, §1.4).
//! - Auth (dossier §2): for a `client_id` of [`SimConfig::accounts`], `client_credentials`
//!   needs the secret and `client_signature` a valid HMAC-SHA256 of `timestamp\nnonce\ndata`
//!   with a `timestamp` within 60 s of the wall clock and a nonce not used before by that id;
//!   anything else ⇒ `13004 invalid_credentials`. Other ids log in with any non-empty secret or
//!   signature only with [`SimConfig::open_accounts`]. `refresh_token` accepts an unexpired
//!   refresh token this simulator issued, once (else `13009 unauthorized`). Tokens live
//!   [`SimConfig::token_lifetime_s`]; a connection's login ends with its token (private
//!   requests ⇒ `13009`). The account is keyed by `client_id`: connections with the same id
//!   share orders and positions. Private methods without auth ⇒ `13009 unauthorized`; an
//!   `access_token` param is honoured.
//! - Heartbeat (§3.1): `public/set_heartbeat {interval}` (≥ [`SimConfig::min_heartbeat_s`],
//!   else `-32602`) makes the venue send `heartbeat` and `test_request` every interval; a
//!   connection that has not answered the previous `test_request` with `public/test` by the
//!   next one is dropped (cancel-on-disconnect runs).
//! - Faults ([`super::fault`]): see there; each injection is counted in
//!   `SimStats::faults_injected`.
//! - Unknown instrument ⇒ `-32602 {"reason":"wrong format","param":"instrument_name"}`.
//! - Price: off the tick grid ⇒ `10043 price_wrong_tick`, more decimals than the tick ⇒
//!   `10026 price_precision_exceeded`, ≤ 0 ⇒ `10023 invalid_price`. Amount: below
//!   `min_trade_amount` ⇒ `10002 qty_too_low`; not a multiple ⇒ `10027
//!   non_integer_contract_amount` for futures, `10021 invalid_amount` for options.
//! - `post_only` with IOC/FOK ⇒ `11055 post_only_not_allowed`. Only `type: "limit"` orders
//!   are supported (others ⇒ `-32602` on `type`).
//! - `reduce_only`: the amount is clamped to the opposite position; nothing to reduce ⇒
//!   `11029 invalid_arguments`.
//! - Cancel/edit of an order of this account that is no longer open ⇒ `11044 not_open_order`;
//!   an id never seen for this account ⇒ `10004 order_not_found`.
//! - Edit with `post_only`+`reject_post_only` that would cross ⇒ the order is cancelled with
//!   `cancel_reason: "edit_post_only_reject"` (notified on `user.orders`) and the request gets
//!   error `11054 post_only_reject`.
//! - `private/unsubscribe` returns the channels that were removed.
//! - Subscribing to a book channel when the simulator already has that book (mid-tape) sends
//!   a snapshot of its current book (`change_id` = the book's last change id) right after the
//!   reply, so the recorded chain continues from it.

use super::book::{write_update_data, RecordedBook};
use super::credits::SimCredits;
use super::fault::SplitMix;
use super::instruments::{self, InstMeta, Instruments};
use super::json::{self, Obj, ParamError, Params};
use super::matching::{self, Exec, Order, OrderState, QuoteTag, Tif};
use super::tape::{Tape, TapeBody, TapeEvent};
use super::{
    Fault, LedgerSnapshot, SimConfig, SimFill, SimLogEntry, SimLogKind, SimOrder, SimStats,
};
use mm_core::decimal::Dec;
use mm_core::instrument::{Instrument, InstrumentTable, Kind};
use mm_core::types::{InstrumentId, Lots, Side, Ticks};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "mass_quote.rs"]
mod mass_quote;

/// Connection id assigned by the server.
pub type ConnId = u64;

/// A frame to send on a connection.
#[derive(Clone, Debug)]
pub struct Out {
    /// Destination connection.
    pub conn: ConnId,
    /// Text frame.
    pub text: String,
}

/// A JSON-RPC error.
#[derive(Clone, Debug, PartialEq)]
pub struct RpcError {
    /// Code (Deribit or JSON-RPC).
    pub code: i32,
    /// Message.
    pub message: String,
    /// Optional `data` (raw JSON).
    pub data: Option<String>,
}

impl RpcError {
    fn new(code: i32, message: &str) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }
}

impl From<ParamError> for RpcError {
    fn from(p: ParamError) -> RpcError {
        let mut d = String::new();
        Obj::new(&mut d)
            .str("reason", p.reason)
            .str("param", &p.param)
            .end();
        RpcError {
            code: -32602,
            message: "Invalid params".into(),
            data: Some(d),
        }
    }
}

fn bad_param(reason: &'static str, param: &str) -> RpcError {
    ParamError {
        reason,
        param: param.into(),
    }
    .into()
}

#[derive(Default)]
struct ConnState {
    account: Option<String>,
    /// Wall ms at which the connection's login expires.
    login_expires_ms: u64,
    /// Heartbeat interval (`set_heartbeat`), if set.
    hb: Option<Duration>,
    /// When the next heartbeat + test_request is due.
    hb_next: Option<Instant>,
    /// A `test_request` was sent and not yet answered.
    awaiting_test: bool,
    /// Has subscribed a market-data channel (malformed frames go there).
    md: bool,
    cod: bool,
    subs: BTreeSet<String>,
    sub_label: Option<String>,
}

#[derive(Default, Clone, Copy)]
struct Pos {
    lots: i64,
    avg_ticks: f64,
}

#[derive(Default)]
struct Account {
    pos: BTreeMap<InstrumentId, Pos>,
    cod_account: bool,
}

struct TradeRec {
    trade_id: String,
    trade_seq: u64,
    price: Ticks,
    lots: Lots,
    fee: f64,
    maker: bool,
    ms: u64,
}

/// One fill in the account history (`private/get_user_trades_by_currency`).
#[derive(Clone, Debug)]
struct UserTradeRec {
    account: String,
    inst: InstrumentId,
    /// Numeric trade id (ids are issued in increasing order).
    trade_num: u64,
    /// The `user_trade` object, as sent on `user.trades`.
    json: String,
}

#[derive(Deserialize)]
struct Req<'a> {
    #[serde(borrow)]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    method: Option<String>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
}

/// Result of one request handler.
struct Handled {
    result: Result<String, RpcError>,
    /// user.* notifications (sent before or after the reply per config).
    notes: Vec<Out>,
    /// Frames that always follow the reply (book snapshots after subscribe).
    after: Vec<Out>,
}

impl Handled {
    fn ok(r: String) -> Handled {
        Handled {
            result: Ok(r),
            notes: Vec::new(),
            after: Vec::new(),
        }
    }
    fn err(e: RpcError) -> Handled {
        Handled {
            result: Err(e),
            notes: Vec::new(),
            after: Vec::new(),
        }
    }
}

/// Wall clock, µs since the epoch (`usIn`/`usOut`).
pub fn wall_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Exact `n × unit` as `f64` (through the decimal text, so `195 × 0.0005` is `0.0975`).
pub fn exact_f64(unit: Dec, n: i64) -> f64 {
    let mut b = [0u8; 48];
    let k = unit.write_times(n, &mut b);
    std::str::from_utf8(&b[..k])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0)
}

fn kind_str(k: Kind) -> &'static str {
    match k {
        Kind::Option => "option",
        Kind::Spot => "spot",
        _ => "future",
    }
}

const INTERVALS: [&str; 3] = ["raw", "100ms", "agg2"];
const KINDS: [&str; 7] = [
    "future",
    "option",
    "spot",
    "future_combo",
    "option_combo",
    "combo",
    "any",
];

/// The simulated venue.
pub struct Exchange {
    insts: Arc<InstrumentTable>,
    meta: Vec<InstMeta>,
    books: Vec<RecordedBook>,
    marks: Vec<Option<Dec>>,
    last_trade: Vec<Option<Dec>>,
    index: Vec<Option<Dec>>,
    open: BTreeMap<u64, Order>,
    closed: BTreeMap<u64, Order>,
    by_id: HashMap<String, u64>,
    accounts: HashMap<String, Account>,
    conns: BTreeMap<ConnId, ConnState>,
    /// Access token → (account, expiry wall ms).
    tokens: HashMap<String, (String, u64)>,
    /// Refresh token → (account, expiry wall ms).
    refresh: HashMap<String, (String, u64)>,
    keys: HashMap<String, String>,
    open_accounts: bool,
    token_lifetime_ms: u64,
    min_heartbeat: Duration,
    used_nonces: HashSet<(String, String)>,
    /// Timed faults other than gaps: (tape ns, fault, fired).
    timed: Vec<(u64, Fault, bool)>,
    reject_rate: f64,
    /// `reject-code` faults: (code, probability).
    reject_codes: Vec<(i32, f64)>,
    /// The credit model (dossier §8), per account.
    credits: SimCredits,
    rng: SplitMix,
    ack_delay_ms: u64,
    /// Delay to apply to the frames of the request just handled (ms).
    reply_delay_ms: u64,
    /// Order requests still to answer with 10028 (rate-limit fault armed).
    rate_limit_armed: u32,
    /// Connections to drop at once / to close after flushing.
    drops: Vec<ConnId>,
    closes: Vec<ConnId>,
    fills: Vec<SimFill>,
    /// Every fill as a `user_trade` object, for `private/get_user_trades_by_currency`
    /// (reconciliation after a reconnect or a restart).
    trade_history: Vec<UserTradeRec>,
    fees: BTreeMap<String, f64>,
    log: Vec<SimLogEntry>,
    stats: SimStats,
    next_order: u64,
    next_trade: u64,
    trade_seq: Vec<u64>,
    token_ctr: u64,
    tape_ns: u64,
    tape_start_ns: u64,
    gaps: Vec<(u64, bool)>,
    notify_first: bool,
    /// Market-maker protection ([`super::mmp`]).
    mmp: super::mmp::Mmp,
    /// MMP triggers to run (`mass_quote::fire_mmp`).
    mmp_fired: Vec<(super::mmp::MmpKey, u64)>,
    /// The quote tag of the order being placed/replaced by a mass quote.
    quote_ctx: Option<QuoteTag>,
    /// Account → wall ms until which new quotes are refused (`freeze_quotes`).
    quotes_frozen_until: HashMap<String, u64>,
    /// Set when the first market-data subscription arrives: the server starts the replay.
    pub replay_requested: bool,
    probe: Option<Arc<super::probe::WireProbe>>,
    /// Time the frame being handled was read off the socket (monotonic ns; 0 = not stamped).
    /// The server sets it before [`Self::on_text`]; order-entry requests report it to the
    /// [`super::probe::WireProbe`], if one is configured.
    pub probe_read_ns: u64,
}

impl Exchange {
    /// A venue for these instruments and tape.
    pub fn new(insts: Instruments, tape: &Tape, cfg: &SimConfig) -> Exchange {
        let n = insts.table.len();
        let start = tape.start_ns();
        let at_ns = |secs: f64| start + (secs.max(0.0) * 1e9) as u64;
        let gaps = cfg
            .faults
            .iter()
            .filter_map(|f| match f {
                Fault::Gap { at_secs } => Some((at_ns(*at_secs), false)),
                _ => None,
            })
            .collect();
        let timed = cfg
            .faults
            .iter()
            .filter(|f| !matches!(f, Fault::Gap { .. }))
            .filter_map(|f| f.at_secs().map(|s| (at_ns(s), f.clone(), false)))
            .collect();
        let reject_rate = cfg
            .faults
            .iter()
            .filter_map(|f| match f {
                Fault::RejectRate(p) => Some(*p),
                _ => None,
            })
            .fold(0.0, f64::max);
        let ack_delay_ms = cfg
            .faults
            .iter()
            .filter_map(|f| match f {
                Fault::AckDelayMs(n) => Some(*n),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let reject_codes = cfg
            .faults
            .iter()
            .filter_map(|f| match f {
                Fault::RejectCode { code, p } => Some((*code, *p)),
                _ => None,
            })
            .collect();
        Exchange {
            reject_codes,
            credits: SimCredits::new(cfg.rate_limits),
            insts: insts.table,
            meta: insts.meta,
            books: vec![RecordedBook::default(); n],
            marks: vec![None; n],
            last_trade: vec![None; n],
            index: vec![None; n],
            open: BTreeMap::new(),
            closed: BTreeMap::new(),
            by_id: HashMap::new(),
            accounts: HashMap::new(),
            conns: BTreeMap::new(),
            tokens: HashMap::new(),
            refresh: HashMap::new(),
            keys: cfg.accounts.iter().cloned().collect(),
            open_accounts: cfg.open_accounts,
            token_lifetime_ms: (cfg.token_lifetime_s.max(0.001) * 1000.0) as u64,
            min_heartbeat: Duration::from_secs_f64(cfg.min_heartbeat_s.max(0.0)),
            used_nonces: HashSet::new(),
            timed,
            reject_rate,
            rng: SplitMix::new(cfg.seed),
            ack_delay_ms,
            reply_delay_ms: 0,
            rate_limit_armed: 0,
            drops: Vec::new(),
            closes: Vec::new(),
            fills: Vec::new(),
            trade_history: Vec::new(),
            fees: BTreeMap::new(),
            log: Vec::new(),
            stats: SimStats::default(),
            next_order: 7_000_000_001,
            next_trade: 90_000_001,
            trade_seq: vec![1_000; n],
            token_ctr: 0,
            tape_ns: start,
            tape_start_ns: start,
            gaps,
            notify_first: cfg.notify_before_response,
            replay_requested: false,
            mmp: Default::default(),
            mmp_fired: Vec::new(),
            quote_ctx: None,
            quotes_frozen_until: HashMap::new(),
            probe: cfg.probe.clone(),
            probe_read_ns: 0,
        }
    }

    /// The instruments this venue lists.
    pub fn instrument_table(&self) -> Arc<InstrumentTable> {
        self.insts.clone()
    }

    /// Reports an order-entry request (`private/buy|sell|edit|cancel`) to the probe with the
    /// instrument it concerns (edit/cancel: the order's instrument, if the order is known).
    fn probe_order(&self, probe: &super::probe::WireProbe, m: &str, p: &Params<'_>) {
        let inst = match m {
            "private/buy" | "private/sell" => self.instrument_param(p).ok(),
            "private/edit" | "private/cancel" => p
                .opt_str("order_id")
                .ok()
                .flatten()
                .and_then(|oid| self.by_id.get(&oid).copied())
                .and_then(|n| self.open.get(&n).or_else(|| self.closed.get(&n)))
                .map(|o| o.inst),
            _ => return,
        };
        if let Some(i) = inst {
            probe.order_read(i, self.probe_read_ns);
        }
    }

    fn now_ms(&self) -> u64 {
        self.tape_ns / 1_000_000
    }

    fn inst(&self, id: InstrumentId) -> &Instrument {
        self.insts.get(id)
    }

    fn push_log(&mut self, instrument: Option<String>, what: SimLogKind) {
        let seq = self.log.len() as u64;
        self.log.push(SimLogEntry {
            seq,
            tape_ns: self.tape_ns,
            instrument,
            what,
        });
    }

    // ----------------------------------------------------------------- connections

    /// A new WebSocket connection completed its handshake.
    pub fn on_connect(&mut self, conn: ConnId) {
        self.stats.connections += 1;
        self.conns.insert(conn, ConnState::default());
    }

    /// Connections to drop now and connections to close once their queued frames are written
    /// (faults, heartbeat timeouts); the server applies them.
    pub fn take_drops(&mut self) -> (Vec<ConnId>, Vec<ConnId>) {
        (
            std::mem::take(&mut self.drops),
            std::mem::take(&mut self.closes),
        )
    }

    /// The delay (ms) to hold the frames of the request just handled (`ack-delay-ms` fault on
    /// an order request); 0 = send now. Reading it resets it.
    pub fn take_reply_delay_ms(&mut self) -> u64 {
        std::mem::take(&mut self.reply_delay_ms)
    }

    fn count_fault(&mut self, kind: &str) {
        *self
            .stats
            .faults_injected
            .entry(kind.to_string())
            .or_default() += 1;
    }

    /// Heartbeats (dossier §3.1): for every connection with `set_heartbeat`, at each interval
    /// send `heartbeat` and `test_request`; a connection that has not answered the previous
    /// `test_request` is dropped instead. `now` is the server's monotonic clock.
    pub fn on_timer(&mut self, now: Instant) -> Vec<Out> {
        let mut outs = Vec::new();
        let mut drop = Vec::new();
        for (&id, c) in self.conns.iter_mut() {
            let Some(iv) = c.hb else { continue };
            let next = *c.hb_next.get_or_insert(now + iv);
            if now < next {
                continue;
            }
            c.hb_next = Some(now + iv);
            if c.awaiting_test {
                drop.push(id);
                continue;
            }
            c.awaiting_test = true;
            for ty in ["heartbeat", "test_request"] {
                outs.push(Out {
                    conn: id,
                    text: format!(
                        r#"{{"jsonrpc":"2.0","method":"heartbeat","params":{{"type":"{ty}"}}}}"#
                    ),
                });
            }
            self.stats.test_requests += 1;
        }
        for id in drop {
            log::info!("mm-sim: connection {id} did not answer test_request: dropped");
            self.stats.heartbeat_drops += 1;
            self.drops.push(id);
        }
        outs
    }

    /// Fires the timed faults due at tape time `ts` (ns).
    fn fire_faults(&mut self, ts: u64) -> Vec<Out> {
        let mut outs = Vec::new();
        let due: Vec<Fault> = self
            .timed
            .iter_mut()
            .filter(|t| !t.2 && ts >= t.0)
            .map(|t| {
                t.2 = true;
                t.1.clone()
            })
            .collect();
        for f in due {
            log::info!("mm-sim: injecting {f}");
            self.count_fault(f.kind());
            match f {
                Fault::Disconnect { .. } => {
                    self.drops.extend(self.conns.keys().copied());
                }
                Fault::Restart { .. } => {
                    self.drops.extend(self.conns.keys().copied());
                    let nums: Vec<u64> = self.open.keys().copied().collect();
                    for n in nums {
                        self.cancel_order(n, "restart");
                    }
                }
                Fault::Malformed { .. } => {
                    for (&id, c) in &self.conns {
                        if c.md {
                            outs.push(Out {
                                conn: id,
                                text: r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book."#
                                    .into(),
                            });
                        }
                    }
                }
                Fault::RateLimit { .. } => self.rate_limit_armed += 1,
                Fault::Gap { .. }
                | Fault::RejectRate(_)
                | Fault::RejectCode { .. }
                | Fault::AckDelayMs(_) => {}
            }
        }
        outs
    }

    /// A connection closed: run cancel-on-disconnect if it was enabled on it.
    pub fn on_disconnect(&mut self, conn: ConnId) -> Vec<Out> {
        let Some(st) = self.conns.remove(&conn) else {
            return Vec::new();
        };
        let mut outs = Vec::new();
        if st.cod {
            let nums: Vec<u64> = self
                .open
                .values()
                .filter(|o| o.conn == conn)
                .map(|o| o.num)
                .collect();
            for n in nums {
                if let Some(o) = self.cancel_order(n, "cancel_on_disconnect") {
                    self.notify(&o, &[], &mut outs);
                }
            }
        }
        outs
    }

    // ----------------------------------------------------------------- requests

    /// Handles one text frame from `conn`; returns the frames to send (the reply, any
    /// notifications, any snapshot).
    pub fn on_text(&mut self, conn: ConnId, text: &str, us_in: u64) -> Vec<Out> {
        self.stats.requests += 1;
        if text.len() > 32 * 1024 {
            let e = RpcError::new(-32600, "request entity too large");
            return vec![self.reply(conn, None, Err(e), us_in)];
        }
        let req: Req<'_> = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(_) => {
                let code = if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
                    (-32600, "Invalid Request")
                } else {
                    (-32700, "Parse error")
                };
                return vec![self.reply(conn, None, Err(RpcError::new(code.0, code.1)), us_in)];
            }
        };
        let id = req.id.map(|r| r.get().trim()).filter(|t| {
            *t != "null"
                && (t.starts_with('"') || t.parse::<i64>().is_ok() || t.parse::<f64>().is_ok())
        });
        let jsonrpc_ok = req.jsonrpc.is_none_or(|j| j.get().trim() == "\"2.0\"");
        let (Some(id), Some(method), true) = (id, req.method.as_deref(), jsonrpc_ok) else {
            let e = RpcError::new(-32600, "Invalid Request");
            return vec![self.reply(conn, id, Err(e), us_in)];
        };
        let h = match Params::parse(req.params) {
            None => Handled::err(bad_param("wrong format", "params")),
            Some(p) => self.dispatch(conn, method, &p),
        };
        let mut outs = Vec::new();
        if self.notify_first {
            outs.extend(h.notes);
            outs.push(self.reply(conn, Some(id), h.result, us_in));
        } else {
            outs.push(self.reply(conn, Some(id), h.result, us_in));
            outs.extend(h.notes);
        }
        outs.extend(h.after);
        outs.extend(self.fire_mmp());
        outs
    }

    fn reply(
        &self,
        conn: ConnId,
        id: Option<&str>,
        r: Result<String, RpcError>,
        us_in: u64,
    ) -> Out {
        let mut s = String::with_capacity(256);
        let mut o = Obj::new(&mut s);
        o.str("jsonrpc", "2.0");
        if let Some(id) = id {
            o.raw("id", id);
        }
        match r {
            Ok(v) => {
                o.raw("result", &v);
            }
            Err(e) => {
                o.with("error", |s| {
                    let mut eo = Obj::new(s);
                    eo.int("code", e.code as i128);
                    eo.str("message", &e.message);
                    if let Some(d) = &e.data {
                        eo.raw("data", d);
                    }
                    eo.end();
                });
            }
        }
        let us_out = wall_us().max(us_in);
        o.int("usIn", us_in as i128)
            .int("usOut", us_out as i128)
            .int("usDiff", (us_out - us_in) as i128)
            .bool("testnet", false);
        o.end();
        Out { conn, text: s }
    }

    fn dispatch(&mut self, conn: ConnId, method: &str, p: &Params<'_>) -> Handled {
        let r = match method {
            "public/auth" => self.auth(conn, p).map(Handled::ok),
            "public/test" | "public/hello" => {
                if method == "public/test" {
                    if let Some(c) = self.conns.get_mut(&conn).filter(|c| c.awaiting_test) {
                        c.awaiting_test = false;
                        self.stats.test_answers += 1;
                    }
                }
                Ok(Handled::ok(r#"{"version":"1.2.26"}"#.into()))
            }
            "public/get_time" => Ok(Handled::ok((wall_us() / 1000).to_string())),
            "public/set_heartbeat" => match p.opt_dec("interval") {
                Ok(Some(iv)) => {
                    let secs: f64 = iv.to_string().parse().unwrap_or(0.0);
                    if !(secs.is_finite() && secs > 0.0)
                        || Duration::from_secs_f64(secs.min(1e9)) < self.min_heartbeat
                    {
                        Err(bad_param("must be not less than 10", "interval"))
                    } else {
                        if let Some(c) = self.conns.get_mut(&conn) {
                            c.hb = Some(Duration::from_secs_f64(secs));
                            c.hb_next = None;
                            c.awaiting_test = false;
                        }
                        Ok(Handled::ok("\"ok\"".into()))
                    }
                }
                Ok(None) => Err(ParamError::required_err("interval")),
                Err(e) => Err(e.into()),
            },
            "public/disable_heartbeat" => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.hb = None;
                    c.awaiting_test = false;
                }
                Ok(Handled::ok("\"ok\"".into()))
            }
            "public/subscribe" => self.subscribe(conn, p, false),
            "private/subscribe" => self.subscribe(conn, p, true),
            "public/unsubscribe" | "private/unsubscribe" => self.unsubscribe(conn, p),
            "public/unsubscribe_all" | "private/unsubscribe_all" => {
                self.unsubscribe_all(conn);
                Ok(Handled::ok("\"ok\"".into()))
            }
            "public/get_instruments" => self.get_instruments(p).map(Handled::ok),
            "public/get_instrument" => self.get_instrument(p).map(Handled::ok),
            "public/get_order_book" => self.get_order_book(p).map(Handled::ok),
            m if m.starts_with("private/") => match self.account(conn, p) {
                Err(e) => Err(e),
                Ok(acct) => self.private(conn, &acct, m, p),
            },
            _ => Err(RpcError::new(-32601, "Method not found")),
        };
        r.unwrap_or_else(Handled::err)
    }

    fn account(&mut self, conn: ConnId, p: &Params<'_>) -> Result<String, RpcError> {
        let now = wall_us() / 1000;
        let (acct, exp) = if let Some(tok) = p.opt_str("access_token")? {
            self.tokens
                .get(&tok)
                .cloned()
                .ok_or_else(|| RpcError::new(13009, "unauthorized"))?
        } else {
            self.conns
                .get(&conn)
                .and_then(|c| c.account.clone().map(|a| (a, c.login_expires_ms)))
                .ok_or_else(|| RpcError::new(13009, "unauthorized"))?
        };
        if now >= exp {
            self.stats.expired_token_requests += 1;
            return Err(RpcError::new(13009, "unauthorized"));
        }
        Ok(acct)
    }

    /// Checks a login's proof for `id` (see the module docs); `Ok` = accepted.
    fn check_key(&mut self, id: &str, p: &Params<'_>, signature: bool) -> Result<(), RpcError> {
        let refuse = || RpcError::new(13004, "invalid_credentials");
        if id.is_empty() {
            return Err(refuse());
        }
        let Some(secret) = self.keys.get(id).cloned() else {
            // Unknown key: only in an open simulator, with a non-empty proof.
            let proof = if signature {
                p.req_str("signature")?
            } else {
                p.req_str("client_secret")?
            };
            return if self.open_accounts && !proof.is_empty() {
                Ok(())
            } else {
                Err(refuse())
            };
        };
        if !signature {
            return if p.req_str("client_secret")? == secret {
                Ok(())
            } else {
                Err(refuse())
            };
        }
        let sig = p.req_str("signature")?;
        let ts = p
            .opt_dec("timestamp")?
            .ok_or_else(|| ParamError::required_err("timestamp"))?;
        let ts: u64 = ts
            .to_string()
            .parse()
            .map_err(|_| bad_param("wrong format", "timestamp"))?;
        let nonce = p.opt_str("nonce")?.unwrap_or_default();
        let data = p.opt_str("data")?.unwrap_or_default();
        let now = wall_us() / 1000;
        if now.abs_diff(ts) > 60_000 {
            return Err(refuse());
        }
        if !crate::deribit::session::verify_client_signature(&secret, ts, &nonce, &data, &sig) {
            return Err(refuse());
        }
        if !self.used_nonces.insert((id.to_string(), nonce)) {
            return Err(refuse());
        }
        Ok(())
    }

    fn auth(&mut self, conn: ConnId, p: &Params<'_>) -> Result<String, RpcError> {
        let r = self.auth_inner(conn, p);
        if r.is_err() {
            self.stats.auth_failures += 1;
        }
        r
    }

    fn auth_inner(&mut self, conn: ConnId, p: &Params<'_>) -> Result<String, RpcError> {
        let grant = p.req_str("grant_type")?;
        let now_ms = wall_us() / 1000;
        let account = match grant.as_str() {
            "client_credentials" | "client_signature" => {
                let id = p.req_str("client_id")?;
                self.check_key(&id, p, grant == "client_signature")?;
                self.stats.logins += 1;
                id
            }
            "refresh_token" => {
                let t = p.req_str("refresh_token")?;
                // Single use: a refresh token is consumed by the refresh.
                match self.refresh.remove(&t) {
                    Some((acct, exp)) if now_ms < exp => {
                        self.stats.refreshes += 1;
                        acct
                    }
                    _ => return Err(RpcError::new(13009, "unauthorized")),
                }
            }
            _ => return Err(bad_param("wrong format", "grant_type")),
        };
        self.token_ctr += 1;
        let expiry_ms = now_ms + self.token_lifetime_ms;
        let h = self.token_ctr.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let access = format!("{expiry_ms}.{:08x}.sim{h:016x}a", h >> 32);
        let refresh = format!("{expiry_ms}.{:08x}.sim{h:016x}r", (h >> 16) as u32);
        self.tokens
            .insert(access.clone(), (account.clone(), expiry_ms));
        self.refresh
            .insert(refresh.clone(), (account.clone(), expiry_ms));
        let cod_account = self
            .accounts
            .entry(account.clone())
            .or_default()
            .cod_account;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.account = Some(account);
            c.login_expires_ms = expiry_ms;
            c.cod |= cod_account;
        }
        let mut s = String::new();
        let mut o = Obj::new(&mut s);
        o.raw("enabled_features", "[]")
            .str("access_token", &access)
            .int("expires_in", (self.token_lifetime_ms / 1000).max(1) as i128)
            .str("refresh_token", &refresh)
            .str(
                "scope",
                "connection account:read_write trade:read_write wallet:read mainaccount",
            );
        if let Some(st) = p.opt_str("state")? {
            o.str("state", &st);
        }
        o.str("token_type", "bearer");
        o.end();
        Ok(s)
    }

    // ----------------------------------------------------------------- subscriptions

    fn instrument_exists(&self, name: &str) -> bool {
        self.insts.id(name).is_some()
    }

    /// Validates a channel; returns `(accepted, is_market_data)`.
    fn check_channel(&self, ch: &str, authed: bool, private_ok: bool) -> (bool, bool) {
        let parts: Vec<&str> = ch.split('.').collect();
        let iv_ok = |iv: &str, raw_auth: bool| INTERVALS.contains(&iv) && (iv != "raw" || raw_auth);
        match parts.as_slice() {
            ["book" | "ticker", i, iv] => (self.instrument_exists(i) && iv_ok(iv, authed), true),
            ["trades", i, iv] => (self.instrument_exists(i) && iv_ok(iv, authed), true),
            ["trades", k, c, iv] => (
                KINDS.contains(k) && !c.is_empty() && iv_ok(iv, authed),
                true,
            ),
            ["user", "mmp_trigger", ix] => (private_ok && authed && !ix.is_empty(), false),
            ["user", "orders" | "trades", i, iv] => (
                private_ok && authed && self.instrument_exists(i) && iv_ok(iv, true),
                false,
            ),
            ["user", "orders" | "trades", k, c, iv] => (
                private_ok && authed && KINDS.contains(k) && !c.is_empty() && iv_ok(iv, true),
                false,
            ),
            _ => (false, false),
        }
    }

    fn subscribe(
        &mut self,
        conn: ConnId,
        p: &Params<'_>,
        private: bool,
    ) -> Result<Handled, RpcError> {
        let chans = p
            .opt_str_list("channels")?
            .ok_or_else(|| ParamError::required_err("channels"))?;
        let label = p.opt_str("label")?;
        let authed = p.has("access_token") && self.account(conn, p).is_ok()
            || self.conns.get(&conn).is_some_and(|c| c.account.is_some());
        let mut accepted = Vec::new();
        let mut after = Vec::new();
        for ch in chans {
            let (ok, md) = self.check_channel(&ch, authed, private);
            if !ok {
                continue;
            }
            if md {
                self.replay_requested = true;
            }
            let Some(st) = self.conns.get_mut(&conn) else {
                break;
            };
            st.subs.insert(ch.clone());
            st.md |= md;
            if label.is_some() {
                st.sub_label = label.clone();
            }
            let inst_name = ch.split('.').nth(1).unwrap_or("").to_string();
            self.push_log(
                self.insts.id(&inst_name).map(|_| inst_name.clone()),
                SimLogKind::Subscribe {
                    channel: ch.clone(),
                },
            );
            if ch.starts_with("book.") {
                if let Some(id) = self.insts.id(&inst_name) {
                    let b = &self.books[id as usize];
                    if b.have_snapshot {
                        let mut data = String::new();
                        b.write_snapshot_data(&inst_name, &mut data);
                        after.push(Out {
                            conn,
                            text: frame(&ch, &data, None),
                        });
                        self.stats.md_frames_sent += 1;
                        self.push_log(Some(inst_name.clone()), SimLogKind::SnapshotSent);
                    }
                }
            }
            accepted.push(ch);
        }
        let mut r = String::from("[");
        for (i, c) in accepted.iter().enumerate() {
            if i > 0 {
                r.push(',');
            }
            json::push_str_lit(&mut r, c);
        }
        r.push(']');
        Ok(Handled {
            result: Ok(r),
            notes: Vec::new(),
            after,
        })
    }

    fn unsubscribe(&mut self, conn: ConnId, p: &Params<'_>) -> Result<Handled, RpcError> {
        let chans = p
            .opt_str_list("channels")?
            .ok_or_else(|| ParamError::required_err("channels"))?;
        let mut removed = Vec::new();
        for ch in chans {
            let was = self
                .conns
                .get_mut(&conn)
                .is_some_and(|st| st.subs.remove(&ch));
            if was {
                let inst_name = ch.split('.').nth(1).unwrap_or("").to_string();
                self.push_log(
                    self.insts.id(&inst_name).map(|_| inst_name.clone()),
                    SimLogKind::Unsubscribe {
                        channel: ch.clone(),
                    },
                );
                removed.push(ch);
            }
        }
        let mut r = String::from("[");
        for (i, c) in removed.iter().enumerate() {
            if i > 0 {
                r.push(',');
            }
            json::push_str_lit(&mut r, c);
        }
        r.push(']');
        Ok(Handled::ok(r))
    }

    fn unsubscribe_all(&mut self, conn: ConnId) {
        let subs = self
            .conns
            .get_mut(&conn)
            .map(|st| std::mem::take(&mut st.subs))
            .unwrap_or_default();
        for ch in subs {
            self.push_log(None, SimLogKind::Unsubscribe { channel: ch });
        }
    }

    /// Frames for every subscription matching one of `prefixes` (`"book.X."`, …).
    fn fanout(&mut self, prefixes: &[String], data: &str, private_for: Option<&str>) -> Vec<Out> {
        let mut outs = Vec::new();
        for (cid, st) in &self.conns {
            if let Some(acct) = private_for {
                if st.account.as_deref() != Some(acct) {
                    continue;
                }
            }
            for pre in prefixes {
                for ch in st
                    .subs
                    .range(pre.clone()..)
                    .take_while(|c| c.starts_with(pre.as_str()))
                {
                    // exactly one more segment (the interval)
                    let iv = &ch[pre.len()..];
                    if !INTERVALS.contains(&iv) {
                        continue;
                    }
                    let label = if private_for.is_some() {
                        st.sub_label.as_deref()
                    } else {
                        None
                    };
                    let text = if private_for.is_some() && iv != "raw" && !data.starts_with('[') {
                        frame(ch, &format!("[{data}]"), label)
                    } else {
                        frame(ch, data, label)
                    };
                    outs.push(Out { conn: *cid, text });
                }
            }
        }
        if private_for.is_none() {
            self.stats.md_frames_sent += outs.len() as u64;
        }
        outs
    }

    fn md_prefixes(&self, chan: &str, id: InstrumentId) -> Vec<String> {
        let inst = self.inst(id);
        let mut v = vec![format!("{chan}.{}.", inst.name)];
        if chan == "trades" {
            for k in [kind_str(inst.kind), "any"] {
                for c in [inst.base_currency.as_str(), "any"] {
                    v.push(format!("trades.{k}.{c}."));
                }
            }
        }
        v
    }

    fn user_prefixes(&self, chan: &str, id: InstrumentId) -> Vec<String> {
        let inst = self.inst(id);
        let mut v = vec![format!("user.{chan}.{}.", inst.name)];
        for k in [kind_str(inst.kind), "any"] {
            for c in [inst.base_currency.as_str(), "any"] {
                v.push(format!("user.{chan}.{k}.{c}."));
            }
        }
        v
    }

    // ----------------------------------------------------------------- public queries

    fn get_instruments(&self, p: &Params<'_>) -> Result<String, RpcError> {
        let cur = p.req_str("currency")?;
        let kind = p.opt_str("kind")?;
        let expired = p.opt_bool("expired")?.unwrap_or(false);
        let mut s = String::from("[");
        let mut n = 0;
        if !expired {
            for (i, inst) in self.insts.iter().enumerate() {
                let cur_ok = cur.eq_ignore_ascii_case("any")
                    || inst.base_currency.eq_ignore_ascii_case(&cur)
                    || inst.settlement_currency.eq_ignore_ascii_case(&cur);
                let kind_ok = kind.as_deref().is_none_or(|k| k == kind_str(inst.kind));
                if cur_ok && kind_ok {
                    if n > 0 {
                        s.push(',');
                    }
                    instruments::write_json(inst, &self.meta[i], &mut s);
                    n += 1;
                }
            }
        }
        s.push(']');
        Ok(s)
    }

    fn instrument_param(&self, p: &Params<'_>) -> Result<InstrumentId, RpcError> {
        let name = p.req_str("instrument_name")?;
        self.insts
            .id(&name)
            .ok_or_else(|| bad_param("wrong format", "instrument_name"))
    }

    fn get_instrument(&self, p: &Params<'_>) -> Result<String, RpcError> {
        let id = self.instrument_param(p)?;
        let mut s = String::new();
        instruments::write_json(self.inst(id), &self.meta[id as usize], &mut s);
        Ok(s)
    }

    fn get_order_book(&self, p: &Params<'_>) -> Result<String, RpcError> {
        let id = self.instrument_param(p)?;
        let depth = p
            .opt_dec("depth")?
            .map_or(20, |d| d.to_f64().max(1.0) as usize);
        let inst = self.inst(id);
        let b = &self.books[id as usize];
        let mut s = String::new();
        let mut o = Obj::new(&mut s);
        o.int("timestamp", b.timestamp_ms as i128)
            .str("state", "open")
            .str("instrument_name", &inst.name)
            .int("change_id", b.change_id as i128);
        let lv = |s: &mut String, it: &mut dyn Iterator<Item = &super::book::Level>| {
            s.push('[');
            for (i, l) in it.take(depth).enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push('[');
                s.push_str(&json::dec(l.price));
                s.push(',');
                s.push_str(&json::dec(l.amount));
                s.push(']');
            }
            s.push(']');
        };
        o.with("bids", |s| lv(s, &mut b.bids.values().rev()));
        o.with("asks", |s| lv(s, &mut b.asks.values()));
        let side = |o: &mut Obj<'_>, name: &str, l: Option<&super::book::Level>| {
            match l {
                Some(l) => o
                    .dec(&format!("best_{name}_price"), l.price)
                    .dec(&format!("best_{name}_amount"), l.amount),
                None => o
                    .raw(&format!("best_{name}_price"), "0.0")
                    .raw(&format!("best_{name}_amount"), "0.0"),
            };
        };
        side(&mut o, "bid", b.bids.values().next_back());
        side(&mut o, "ask", b.asks.values().next());
        if let Some(m) = self.marks[id as usize] {
            o.dec("mark_price", m);
        }
        if let Some(x) = self.index[id as usize] {
            o.dec("index_price", x);
        }
        o.end();
        Ok(s)
    }

    // ----------------------------------------------------------------- private methods

    /// The error of a `reject-code` fault (see [`super::fault`]): Deribit's message for the
    /// code, with the request's price as the limit for the band codes; `10028` also closes
    /// the connection.
    fn injected_error(&mut self, conn: ConnId, code: i32, p: &Params<'_>) -> RpcError {
        let name = crate::deribit::errors::name(code).unwrap_or("unknown_error");
        if code == 10028 {
            self.closes.push(conn);
        }
        let message = match (code, p.opt_dec("price")) {
            (10005..=10007, Ok(Some(px))) => format!("{name} {px}"),
            _ => name.to_string(),
        };
        RpcError {
            code,
            message,
            data: None,
        }
    }

    fn private(
        &mut self,
        conn: ConnId,
        acct: &str,
        m: &str,
        p: &Params<'_>,
    ) -> Result<Handled, RpcError> {
        if let (Some(probe), true) = (&self.probe, self.probe_read_ns != 0) {
            self.probe_order(probe, m, p);
        }
        let order_entry = matches!(
            m,
            "private/buy" | "private/sell" | "private/edit" | "private/edit_by_label"
        );
        if order_entry || m.starts_with("private/cancel") {
            if self.ack_delay_ms > 0 {
                self.reply_delay_ms = self.ack_delay_ms;
                self.count_fault("ack-delay-ms");
            }
            if self.rate_limit_armed > 0 {
                // Deribit: credit pool empty ⇒ 10028, and the session is terminated (§7.2).
                self.rate_limit_armed -= 1;
                self.closes.push(conn);
                return Err(RpcError::new(10028, "too_many_requests"));
            }
        }
        if !self.credits.pay(acct, m) {
            // Deribit: the account's bucket is empty ⇒ 10028 and the session ends (§8).
            self.stats.rate_limited += 1;
            self.closes.push(conn);
            return Err(RpcError::new(10028, "too_many_requests"));
        }
        if order_entry && self.reject_rate > 0.0 && self.rng.next_f64() < self.reject_rate {
            self.count_fault("reject-rate");
            return Err(RpcError::new(10047, "matching_engine_queue_full"));
        }
        if order_entry {
            for k in 0..self.reject_codes.len() {
                let (code, prob) = self.reject_codes[k];
                if prob > 0.0 && self.rng.next_f64() < prob {
                    self.count_fault("reject-code");
                    return Err(self.injected_error(conn, code, p));
                }
            }
        }
        match m {
            "private/buy" => self.order_request(conn, acct, Side::Bid, p),
            "private/sell" => self.order_request(conn, acct, Side::Ask, p),
            "private/edit" => {
                let oid = p.req_str("order_id")?;
                self.edit(acct, &oid, p)
            }
            "private/edit_by_label" => {
                let label = p.req_str("label")?;
                let id = self.instrument_param(p)?;
                let oid = self
                    .open
                    .values()
                    .find(|o| o.account == acct && o.label == label && o.inst == id)
                    .map(|o| o.order_id.clone())
                    .ok_or_else(|| RpcError::new(10004, "order_not_found"))?;
                self.edit(acct, &oid, p)
            }
            "private/cancel" => {
                let oid = p.req_str("order_id")?;
                let num = self.lookup(acct, &oid)?;
                let o = self
                    .cancel_order(num, "user_request")
                    .ok_or_else(|| RpcError::new(11044, "not_open_order"))?;
                let mut notes = Vec::new();
                self.notify(&o, &[], &mut notes);
                Ok(Handled {
                    result: Ok(self.order_json(&o)),
                    notes,
                    after: Vec::new(),
                })
            }
            "private/cancel_all" => Ok(self.cancel_where(acct, None, |_| true)),
            "private/cancel_all_by_instrument" => {
                let id = self.instrument_param(p)?;
                let name = self.inst(id).name.clone();
                Ok(self.cancel_where(acct, Some(name), |o| o.inst == id))
            }
            "private/cancel_all_by_currency" | "private/cancel_all_by_kind_or_type" => {
                let filter = self.currency_kind_filter(p, true)?;
                Ok(self.cancel_where(acct, None, filter))
            }
            "private/cancel_by_label" => {
                let label = p.req_str("label")?;
                Ok(self.cancel_where(acct, None, move |o| o.label == label))
            }
            "private/get_open_orders_by_currency" | "private/get_open_orders" => {
                let filter = self.currency_kind_filter(p, m.ends_with("by_currency"))?;
                Ok(Handled::ok(self.orders_json(acct, filter)))
            }
            "private/get_open_orders_by_instrument" => {
                let id = self.instrument_param(p)?;
                Ok(Handled::ok(self.orders_json(acct, move |o| o.inst == id)))
            }
            "private/get_order_state" => {
                let oid = p.req_str("order_id")?;
                let num = self.lookup(acct, &oid)?;
                let o = self.open.get(&num).or_else(|| self.closed.get(&num));
                Ok(Handled::ok(o.map_or("null".into(), |o| self.order_json(o))))
            }
            "private/get_user_trades_by_currency" => {
                let filter = self.currency_kind_filter(p, true)?;
                Ok(Handled::ok(self.user_trades_json(acct, p, filter)?))
            }
            "private/get_positions" => {
                let filter = self.currency_kind_filter(p, false)?;
                Ok(Handled::ok(self.positions_json(acct, filter)))
            }
            "private/get_position" => {
                let id = self.instrument_param(p)?;
                let s = self.position_json(acct, id);
                Ok(Handled::ok(s))
            }
            "private/enable_cancel_on_disconnect" | "private/disable_cancel_on_disconnect" => {
                let on = m == "private/enable_cancel_on_disconnect";
                let scope = p.opt_str("scope")?.unwrap_or_else(|| "connection".into());
                match scope.as_str() {
                    "connection" => {}
                    "account" => {
                        self.accounts
                            .entry(acct.to_string())
                            .or_default()
                            .cod_account = on
                    }
                    _ => return Err(bad_param("wrong format", "scope")),
                }
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.cod = on;
                }
                Ok(Handled::ok("\"ok\"".into()))
            }
            "private/get_cancel_on_disconnect" => {
                let scope = p.opt_str("scope")?.unwrap_or_else(|| "connection".into());
                let enabled = if scope == "account" {
                    self.accounts.get(acct).is_some_and(|a| a.cod_account)
                } else {
                    self.conns.get(&conn).is_some_and(|c| c.cod)
                };
                let mut s = String::new();
                Obj::new(&mut s)
                    .str("scope", &scope)
                    .bool("enabled", enabled)
                    .end();
                Ok(Handled::ok(s))
            }
            m if mass_quote::handles(m) => self.quoting_request(conn, acct, m, p),
            "private/logout" => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.cod = false;
                    c.account = None;
                }
                Ok(Handled::ok("\"ok\"".into()))
            }
            _ => Err(RpcError::new(-32601, "Method not found")),
        }
    }

    /// `{currency, kind}` filter for queries; `currency` may be `any`.
    fn currency_kind_filter(
        &self,
        p: &Params<'_>,
        currency_required: bool,
    ) -> Result<impl Fn(&Order) -> bool + 'static, RpcError> {
        let cur = if currency_required {
            Some(p.req_str("currency")?)
        } else {
            p.opt_str("currency")?
        };
        let kind = p.opt_str("kind")?;
        let insts = self.insts.clone();
        Ok(move |o: &Order| {
            let i = insts.get(o.inst);
            cur.as_deref().is_none_or(|c| {
                c.eq_ignore_ascii_case("any") || i.base_currency.eq_ignore_ascii_case(c)
            }) && kind
                .as_deref()
                .is_none_or(|k| k == "any" || k == kind_str(i.kind))
        })
    }

    fn lookup(&self, acct: &str, oid: &str) -> Result<u64, RpcError> {
        match self.by_id.get(oid) {
            Some(&n) => {
                let o = self.open.get(&n).or_else(|| self.closed.get(&n));
                if o.is_some_and(|o| o.account == acct) {
                    Ok(n)
                } else {
                    Err(RpcError::new(10004, "order_not_found"))
                }
            }
            None => Err(RpcError::new(10004, "order_not_found")),
        }
    }

    fn validate_price(&self, inst: &Instrument, price: Dec) -> Result<Ticks, RpcError> {
        if price.mant <= 0 {
            return Err(RpcError::new(10023, "invalid_price"));
        }
        match inst.ticks_exact(price) {
            Some(t) if inst.on_grid(t) => Ok(t),
            Some(_) => Err(RpcError::new(10043, "price_wrong_tick")),
            None if price.scale > inst.tick.scale => {
                Err(RpcError::new(10026, "price_precision_exceeded"))
            }
            None => Err(RpcError::new(10043, "price_wrong_tick")),
        }
    }

    fn amount_param(&self, inst: &Instrument, p: &Params<'_>) -> Result<Option<Lots>, RpcError> {
        let amount = match (p.opt_dec("amount")?, p.opt_dec("contracts")?) {
            (Some(a), _) => a,
            (None, Some(c)) => {
                let v = c.to_f64() * inst.contract_size.to_f64();
                Dec::from_f64(v, 12).ok_or_else(|| bad_param("wrong format", "contracts"))?
            }
            (None, None) => return Ok(None),
        };
        if amount.mant <= 0 {
            return Err(RpcError::new(10021, "invalid_amount"));
        }
        match inst.lots_exact(amount) {
            Some(l) if l >= 1 => Ok(Some(l)),
            _ if amount.to_f64() < inst.lot.to_f64() => Err(RpcError::new(10002, "qty_too_low")),
            _ if inst.kind == Kind::Option => Err(RpcError::new(10021, "invalid_amount")),
            _ => Err(RpcError::new(10027, "non_integer_contract_amount")),
        }
    }

    fn order_request(
        &mut self,
        conn: ConnId,
        acct: &str,
        side: Side,
        p: &Params<'_>,
    ) -> Result<Handled, RpcError> {
        let label_for_log = p.opt_str("label").ok().flatten().unwrap_or_default();
        let inst_for_log = p.opt_str("instrument_name").ok().flatten();
        match self.place(conn, acct, side, p) {
            Ok(h) => Ok(h),
            Err(e) => {
                self.stats.rejects += 1;
                let name = inst_for_log.filter(|n| self.insts.id(n).is_some());
                self.push_log(
                    name,
                    SimLogKind::Reject {
                        label: label_for_log,
                        code: e.code,
                    },
                );
                Err(e)
            }
        }
    }

    fn place(
        &mut self,
        conn: ConnId,
        acct: &str,
        side: Side,
        p: &Params<'_>,
    ) -> Result<Handled, RpcError> {
        let id = self.instrument_param(p)?;
        let inst = self.insts.clone();
        let inst = inst.get(id);
        let typ = p.opt_str("type")?.unwrap_or_else(|| "limit".into());
        if typ != "limit" {
            return Err(bad_param("not supported by the simulator", "type"));
        }
        let price = p
            .opt_dec("price")?
            .ok_or_else(|| ParamError::required_err("price"))?;
        let mut px = self.validate_price(inst, price)?;
        let mut lots = self
            .amount_param(inst, p)?
            .ok_or_else(|| ParamError::required_err("amount"))?;
        let label = p.opt_str("label")?.unwrap_or_default();
        if label.len() > 64 {
            return Err(bad_param("wrong format", "label"));
        }
        let tif = match p.opt_str("time_in_force")?.as_deref() {
            None | Some("good_til_cancelled") => Tif::Gtc,
            Some("good_til_day") => Tif::Gtd,
            Some("immediate_or_cancel") => Tif::Ioc,
            Some("fill_or_kill") => Tif::Fok,
            Some(_) => return Err(bad_param("wrong format", "time_in_force")),
        };
        let post_only = p.opt_bool("post_only")?.unwrap_or(false);
        let reject_post_only = post_only && p.opt_bool("reject_post_only")?.unwrap_or(false);
        let reduce_only = p.opt_bool("reduce_only")?.unwrap_or(false);
        let mmp = self.quote_ctx.is_none() && p.opt_bool("mmp")?.unwrap_or(false);
        if mmp {
            self.check_mmp(&self.plain_mmp_key(acct, id))?;
        }
        if post_only && matches!(tif, Tif::Ioc | Tif::Fok) {
            return Err(RpcError::new(11055, "post_only_not_allowed"));
        }
        if reduce_only {
            let pos = self.position_lots(acct, id);
            let allowed = match side {
                Side::Bid => (-pos).max(0),
                Side::Ask => pos.max(0),
            };
            if allowed == 0 {
                return Err(RpcError::new(11029, "invalid_arguments"));
            }
            lots = lots.min(allowed);
        }
        let book = &self.books[id as usize];
        let mut takes = Vec::new();
        if matching::crosses(book, side, px) {
            if post_only {
                if reject_post_only {
                    return Err(RpcError::new(11054, "post_only_reject"));
                }
                px = matching::post_only_price(inst, book, side, px)
                    .ok_or_else(|| RpcError::new(11054, "post_only_reject"))?;
            } else if tif != Tif::Fok || matching::available(book, side, px) >= lots {
                takes = matching::take(&mut self.books[id as usize], side, px, lots);
            }
        }
        let num = self.next_order;
        self.next_order += 1;
        let now = self.now_ms();
        let order = Order {
            num,
            order_id: num.to_string(),
            account: acct.to_string(),
            conn,
            label: label.clone(),
            inst: id,
            side,
            price: px,
            lots,
            filled: 0,
            queue_ahead: 0,
            post_only,
            reject_post_only,
            reduce_only,
            tif,
            state: OrderState::Open,
            cancel_reason: None,
            created_ms: now,
            updated_ms: now,
            replaced: false,
            fill_value: 0,
            fees: 0.0,
            mmp: mmp || self.quote_ctx.is_some(),
            quote: self.quote_ctx.clone(),
        };
        self.by_id.insert(order.order_id.clone(), num);
        self.open.insert(num, order);
        self.stats.orders += 1;
        self.push_log(
            Some(inst.name.clone()),
            SimLogKind::OrderNew {
                label,
                price_ticks: px,
            },
        );
        self.finish_aggressive(num, takes)
    }

    /// Applies taker executions of an order just placed/edited, then rests or cancels the
    /// remainder; builds the `{order, trades}` reply and notifications.
    fn finish_aggressive(
        &mut self,
        num: u64,
        takes: Vec<(Ticks, Lots)>,
    ) -> Result<Handled, RpcError> {
        let mut trades = Vec::new();
        for (price, lots) in takes {
            trades.push(self.apply_exec(Exec {
                num,
                price,
                lots,
                maker: false,
            }));
        }
        let o = self
            .open
            .get_mut(&num)
            .ok_or_else(|| RpcError::new(11094, "internal_server_error"))?;
        if o.filled >= o.lots {
            o.state = OrderState::Filled;
        } else if matches!(o.tif, Tif::Ioc | Tif::Fok) {
            o.state = OrderState::Cancelled;
        } else {
            o.queue_ahead = matching::queue_on_place(&self.books[o.inst as usize], o.side, o.price);
        }
        let snapshot = o.clone();
        if snapshot.state != OrderState::Open {
            if snapshot.state == OrderState::Cancelled {
                self.stats.cancels += 1;
            }
            self.close(num);
        }
        let mut notes = Vec::new();
        self.notify(&snapshot, &trades, &mut notes);
        let mut r = String::new();
        let order_json = self.order_json(&snapshot);
        let trades_json = self.trades_json(&snapshot, &trades);
        Obj::new(&mut r)
            .raw("trades", &trades_json)
            .raw("order", &order_json)
            .end();
        Ok(Handled {
            result: Ok(r),
            notes,
            after: Vec::new(),
        })
    }

    fn edit(&mut self, acct: &str, oid: &str, p: &Params<'_>) -> Result<Handled, RpcError> {
        let num = self.lookup(acct, oid)?;
        let Some(o) = self.open.get(&num) else {
            self.stats.rejects += 1;
            return Err(RpcError::new(11044, "not_open_order"));
        };
        let id = o.inst;
        let insts = self.insts.clone();
        let inst = insts.get(id);
        let (side, old_px, old_lots, filled) = (o.side, o.price, o.lots, o.filled);
        let mut px = match p.opt_dec("price")? {
            Some(d) => self.validate_price(inst, d)?,
            None => old_px,
        };
        let lots = self.amount_param(inst, p)?.unwrap_or(old_lots);
        let post_only = p.opt_bool("post_only")?.unwrap_or(o.post_only);
        let reject_post_only = post_only
            && p.opt_bool("reject_post_only")?
                .unwrap_or(o.reject_post_only);
        let label = o.label.clone();
        let book = &self.books[id as usize];
        let mut takes = Vec::new();
        if matching::crosses(book, side, px) {
            if post_only && reject_post_only {
                if let Some(c) = self.cancel_order(num, "edit_post_only_reject") {
                    let mut notes = Vec::new();
                    self.notify(&c, &[], &mut notes);
                    self.stats.rejects += 1;
                    self.push_log(
                        Some(inst.name.clone()),
                        SimLogKind::Reject { label, code: 11054 },
                    );
                    return Ok(Handled {
                        result: Err(RpcError::new(11054, "post_only_reject")),
                        notes,
                        after: Vec::new(),
                    });
                }
                return Err(RpcError::new(11054, "post_only_reject"));
            } else if post_only {
                px = matching::post_only_price(inst, book, side, px)
                    .ok_or_else(|| RpcError::new(11054, "post_only_reject"))?;
            } else {
                let want = (lots - filled).max(0);
                takes = matching::take(&mut self.books[id as usize], side, px, want);
            }
        }
        let now = self.now_ms();
        let requeue = px != old_px || lots > old_lots;
        let book_q = matching::queue_on_place(&self.books[id as usize], side, px);
        let Some(o) = self.open.get_mut(&num) else {
            return Err(RpcError::new(11044, "not_open_order"));
        };
        o.price = px;
        o.lots = lots.max(o.filled);
        o.post_only = post_only;
        o.reject_post_only = reject_post_only;
        o.replaced = true;
        o.updated_ms = now;
        if let Some(q) = &self.quote_ctx {
            o.quote = Some(q.clone());
        }
        if requeue {
            o.queue_ahead = book_q;
        }
        self.stats.edits += 1;
        self.push_log(
            Some(inst.name.clone()),
            SimLogKind::OrderEdit {
                label,
                price_ticks: px,
            },
        );
        self.finish_aggressive(num, takes)
    }

    fn close(&mut self, num: u64) {
        if let Some(o) = self.open.remove(&num) {
            self.closed.insert(num, o);
        }
    }

    /// Cancels an open order; returns the cancelled order (`None` if not open).
    fn cancel_order(&mut self, num: u64, reason: &'static str) -> Option<Order> {
        let now = self.now_ms();
        let o = self.open.get_mut(&num)?;
        o.state = OrderState::Cancelled;
        o.cancel_reason = Some(reason);
        o.updated_ms = now;
        let c = o.clone();
        self.close(num);
        self.stats.cancels += 1;
        let name = self.inst(c.inst).name.clone();
        self.push_log(
            Some(name),
            SimLogKind::OrderCancel {
                label: c.label.clone(),
            },
        );
        Some(c)
    }

    fn cancel_where(
        &mut self,
        acct: &str,
        instrument: Option<String>,
        f: impl Fn(&Order) -> bool,
    ) -> Handled {
        self.push_log(instrument, SimLogKind::CancelAll);
        let nums: Vec<u64> = self
            .open
            .values()
            .filter(|o| o.account == acct && f(o))
            .map(|o| o.num)
            .collect();
        let mut notes = Vec::new();
        let n = nums.len();
        for num in nums {
            if let Some(o) = self.cancel_order(num, "user_request") {
                self.notify(&o, &[], &mut notes);
            }
        }
        Handled {
            result: Ok(n.to_string()),
            notes,
            after: Vec::new(),
        }
    }

    // ----------------------------------------------------------------- fills, fees, positions

    fn position_lots(&self, acct: &str, id: InstrumentId) -> i64 {
        self.accounts
            .get(acct)
            .and_then(|a| a.pos.get(&id))
            .map_or(0, |p| p.lots)
    }

    /// Fee of one execution in the settlement currency (dossier §6.2; options capped at
    /// 12.5 % of the option price, Deribit's fee rule).
    pub fn fee(inst: &Instrument, lots: Lots, px: Ticks, maker: bool) -> f64 {
        let amount = exact_f64(inst.lot, lots);
        let price = exact_f64(inst.tick, px);
        let c = if maker {
            inst.maker_fee
        } else {
            inst.taker_fee
        };
        match inst.kind {
            Kind::Option => {
                let f = c * amount;
                if f > 0.0 {
                    f.min(0.125 * price * amount)
                } else {
                    f
                }
            }
            _ if inst.inverse => {
                if price > 0.0 {
                    c * amount / price
                } else {
                    0.0
                }
            }
            _ => c * amount * price,
        }
    }

    fn apply_exec(&mut self, e: Exec) -> TradeRec {
        let now = self.now_ms();
        let Some(o) = self.open.get_mut(&e.num) else {
            return TradeRec {
                trade_id: String::new(),
                trade_seq: 0,
                price: e.price,
                lots: 0,
                fee: 0.0,
                maker: e.maker,
                ms: now,
            };
        };
        let insts = self.insts.clone();
        let inst = insts.get(o.inst);
        let fee = Self::fee(inst, e.lots, e.price, e.maker);
        o.filled += e.lots;
        o.fill_value += e.price as i128 * e.lots as i128;
        o.fees += fee;
        o.updated_ms = now;
        if o.filled >= o.lots {
            o.state = OrderState::Filled;
        }
        let (acct, side, label, order_id) = (
            o.account.clone(),
            o.side,
            o.label.clone(),
            o.order_id.clone(),
        );
        let pos = self
            .accounts
            .entry(acct)
            .or_default()
            .pos
            .entry(inst.id)
            .or_default();
        let signed = side.sign() * e.lots;
        let new = pos.lots + signed;
        if pos.lots == 0 || pos.lots.signum() == signed.signum() {
            let tot = pos.lots.abs() + e.lots;
            pos.avg_ticks = (pos.avg_ticks * pos.lots.abs() as f64
                + e.price as f64 * e.lots as f64)
                / tot as f64;
        } else if new.signum() != pos.lots.signum() && new != 0 {
            pos.avg_ticks = e.price as f64;
        }
        pos.lots = new;
        let trade_id = self.next_trade.to_string();
        self.next_trade += 1;
        let seq = &mut self.trade_seq[inst.id as usize];
        *seq += 1;
        let trade_seq = *seq;
        *self
            .fees
            .entry(inst.settlement_currency.clone())
            .or_insert(0.0) += fee;
        self.fills.push(SimFill {
            trade_id: trade_id.clone(),
            order_id,
            label: label.clone(),
            instrument: inst.name.clone(),
            side,
            price: exact_f64(inst.tick, e.price),
            price_ticks: e.price,
            amount: exact_f64(inst.lot, e.lots),
            lots: e.lots,
            fee,
            fee_currency: inst.settlement_currency.clone(),
            maker: e.maker,
            tape_ns: self.tape_ns,
        });
        self.stats.fills += 1;
        self.push_log(Some(inst.name.clone()), SimLogKind::Fill { label });
        if let Some(o) = self.open.get(&e.num).filter(|o| o.mmp).cloned() {
            self.mmp_fill(&o, e.lots, e.price);
        }
        TradeRec {
            trade_id,
            trade_seq,
            price: e.price,
            lots: e.lots,
            fee,
            maker: e.maker,
            ms: now,
        }
    }

    /// Applies maker executions from the tape and returns the notifications.
    fn process_execs(&mut self, execs: Vec<Exec>) -> Vec<Out> {
        let mut by_order: BTreeMap<u64, Vec<TradeRec>> = BTreeMap::new();
        for e in execs {
            let t = self.apply_exec(e);
            by_order.entry(e.num).or_default().push(t);
        }
        let mut outs = Vec::new();
        for (num, trades) in by_order {
            let Some(o) = self.open.get(&num).cloned() else {
                continue;
            };
            if o.state == OrderState::Filled {
                self.close(num);
            }
            self.notify(&o, &trades, &mut outs);
        }
        outs.extend(self.fire_mmp());
        outs
    }

    /// `user.orders` (and `user.trades` if any) notifications for an order.
    fn notify(&mut self, o: &Order, trades: &[TradeRec], outs: &mut Vec<Out>) {
        let oj = self.order_json(o);
        let prefixes = self.user_prefixes("orders", o.inst);
        outs.extend(self.fanout(&prefixes, &oj, Some(&o.account)));
        if !trades.is_empty() {
            for t in trades {
                let one = self.trades_json(o, std::slice::from_ref(t));
                self.trade_history.push(UserTradeRec {
                    account: o.account.clone(),
                    inst: o.inst,
                    trade_num: t.trade_id.parse().unwrap_or(0),
                    json: one[1..one.len() - 1].to_string(),
                });
            }
            let tj = self.trades_json(o, trades);
            let prefixes = self.user_prefixes("trades", o.inst);
            outs.extend(self.fanout(&prefixes, &tj, Some(&o.account)));
        }
    }

    // ----------------------------------------------------------------- JSON

    fn avg_price(&self, o: &Order) -> String {
        let tick = self.inst(o.inst).tick;
        if o.filled == 0 {
            return "0.0".into();
        }
        if o.fill_value % o.filled as i128 == 0 {
            json::dec_times(tick, (o.fill_value / o.filled as i128) as i64)
        } else {
            json::float(o.fill_value as f64 / o.filled as f64 * tick.to_f64())
        }
    }

    fn order_json(&self, o: &Order) -> String {
        let inst = self.inst(o.inst);
        let mut s = String::with_capacity(600);
        let mut j = Obj::new(&mut s);
        j.bool("web", false)
            .str("time_in_force", o.tif.as_str())
            .bool("risk_reducing", false)
            .bool("replaced", o.replaced)
            .bool("reduce_only", o.reduce_only);
        if o.post_only {
            j.bool("reject_post_only", o.reject_post_only);
        }
        j.raw("profit_loss", "0.0")
            .raw("price", &json::dec_times(inst.tick, o.price))
            .bool("post_only", o.post_only)
            .str("order_type", "limit")
            .str("order_state", o.state.as_str())
            .str("order_id", &o.order_id)
            .bool("mmp", o.mmp)
            .raw("max_show", &json::dec_times(inst.lot, o.lots))
            .int("last_update_timestamp", o.updated_ms as i128)
            .str("label", &o.label)
            .bool("is_liquidation", false)
            .str("instrument_name", &inst.name)
            .raw("filled_amount", &json::dec_times(inst.lot, o.filled))
            .str("direction", o.side.direction())
            .int("creation_timestamp", o.created_ms as i128)
            .float("commission", o.fees)
            .raw("average_price", &self.avg_price(o))
            .bool("api", true)
            .raw("amount", &json::dec_times(inst.lot, o.lots))
            .float(
                "contracts",
                exact_f64(inst.lot, o.lots) / inst.contract_size.to_f64(),
            );
        if let Some(r) = o.cancel_reason {
            j.str("cancel_reason", r);
            if r == "mmp_trigger" {
                j.bool("mmp_cancelled", true);
            }
        }
        if let Some(q) = &o.quote {
            j.bool("quote", true)
                .str("quote_id", &q.quote_id)
                .str("quote_set_id", &q.quote_set_id)
                .str("mmp_group", &q.mmp_group);
        }
        j.end();
        s
    }

    fn trades_json(&self, o: &Order, trades: &[TradeRec]) -> String {
        let inst = self.inst(o.inst);
        let mut s = String::from("[");
        for (i, t) in trades.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let price = json::dec_times(inst.tick, t.price);
            let mut j = Obj::new(&mut s);
            j.int("trade_seq", t.trade_seq as i128)
                .str("trade_id", &t.trade_id)
                .int("timestamp", t.ms as i128)
                .int("tick_direction", 0)
                .str("state", o.state.as_str())
                .bool("self_trade", false)
                .bool("risk_reducing", false)
                .bool("reduce_only", o.reduce_only)
                .raw("profit_loss", "0.0")
                .raw("price", &price)
                .bool("post_only", o.post_only)
                .str("order_type", "limit")
                .str("order_id", &o.order_id)
                .bool("mmp", o.mmp)
                .raw("matching_id", "null");
            if let Some(q) = &o.quote {
                j.str("quote_id", &q.quote_id)
                    .str("quote_set_id", &q.quote_set_id);
            }
            match self.marks[o.inst as usize] {
                Some(m) => j.dec("mark_price", m),
                None => j.raw("mark_price", &price),
            };
            j.str("liquidity", if t.maker { "M" } else { "T" })
                .str("label", &o.label)
                .str("instrument_name", &inst.name);
            if let Some(x) = self.index[o.inst as usize] {
                j.dec("index_price", x);
            }
            j.str("fee_currency", &inst.settlement_currency)
                .float("fee", t.fee)
                .str("direction", o.side.direction())
                .raw("amount", &json::dec_times(inst.lot, t.lots))
                .float(
                    "contracts",
                    exact_f64(inst.lot, t.lots) / inst.contract_size.to_f64(),
                )
                .bool("api", true);
            j.end();
        }
        s.push(']');
        s
    }

    fn orders_json(&self, acct: &str, f: impl Fn(&Order) -> bool) -> String {
        let mut s = String::from("[");
        for (n, o) in self
            .open
            .values()
            .filter(|o| o.account == acct && f(o))
            .enumerate()
        {
            if n > 0 {
                s.push(',');
            }
            s.push_str(&self.order_json(o));
        }
        s.push(']');
        s
    }

    fn mark_f64(&self, id: InstrumentId) -> f64 {
        if let Some(m) = self.marks[id as usize] {
            return m.to_f64();
        }
        let b = &self.books[id as usize];
        match (b.best_f64(Side::Bid), b.best_f64(Side::Ask)) {
            (Some(x), Some(y)) => (x + y) / 2.0,
            (Some(x), None) | (None, Some(x)) => x,
            _ => 0.0,
        }
    }

    fn position_json(&self, acct: &str, id: InstrumentId) -> String {
        let inst = self.inst(id);
        let pos = self
            .accounts
            .get(acct)
            .and_then(|a| a.pos.get(&id))
            .copied()
            .unwrap_or_default();
        let size = exact_f64(inst.lot, pos.lots);
        let mark = self.mark_f64(id);
        let size_currency = if inst.kind != Kind::Option && inst.inverse {
            if mark > 0.0 {
                size / mark
            } else {
                0.0
            }
        } else {
            size
        };
        let mut s = String::new();
        let mut j = Obj::new(&mut s);
        j.str("instrument_name", &inst.name)
            .str("kind", kind_str(inst.kind))
            .str(
                "direction",
                match pos.lots.signum() {
                    1 => "buy",
                    -1 => "sell",
                    _ => "zero",
                },
            )
            .raw("size", &json::dec_times(inst.lot, pos.lots))
            .float("size_currency", size_currency)
            .float("average_price", pos.avg_ticks * inst.tick.to_f64())
            .float("mark_price", mark)
            .float(
                "index_price",
                self.index[id as usize].map_or(0.0, Dec::to_f64),
            )
            .float("delta", size_currency)
            .raw("floating_profit_loss", "0.0")
            .raw("realized_profit_loss", "0.0")
            .raw("total_profit_loss", "0.0")
            .raw("initial_margin", "0.0")
            .raw("maintenance_margin", "0.0")
            .raw("open_orders_margin", "0.0")
            .raw("realized_funding", "0.0")
            .int("leverage", 50);
        j.end();
        s
    }

    /// `private/get_user_trades_by_currency` result `{trades, has_more}`: the account's fills
    /// in trade-id order, from `start_id` (inclusive) when given, at most `count` (default
    /// 10, 1–1000, as the venue). `sorting` `asc` (default here) or `desc`.
    fn user_trades_json(
        &self,
        acct: &str,
        p: &Params<'_>,
        f: impl Fn(&Order) -> bool,
    ) -> Result<String, RpcError> {
        let num = |k: &str| -> Result<Option<u64>, RpcError> {
            match p.opt_dec(k)? {
                None => Ok(None),
                Some(d) => d
                    .div_exact(mm_core::decimal::Dec::new(1, 0))
                    .filter(|v| *v >= 0)
                    .map(|v| Some(v as u64))
                    .ok_or_else(|| bad_param("wrong format", k)),
            }
        };
        // Venue trade ids are strings, `"123"` or `"ETH-15"`: the number after the last `-`.
        let start = match p.opt_str("start_id") {
            Ok(Some(id)) => Some(
                id.rsplit('-')
                    .next()
                    .and_then(|d| d.parse::<u64>().ok())
                    .ok_or_else(|| bad_param("wrong format", "start_id"))?,
            ),
            Ok(None) => None,
            Err(_) => num("start_id")?,
        };
        let count = num("count")?.unwrap_or(10);
        if !(1..=1000).contains(&count) {
            return Err(bad_param("must be between 1 and 1000", "count"));
        }
        let desc = match p.opt_str("sorting")?.as_deref() {
            None | Some("asc") | Some("default") => false,
            Some("desc") => true,
            Some(_) => return Err(bad_param("wrong format", "sorting")),
        };
        let mut rows: Vec<&UserTradeRec> = self
            .trade_history
            .iter()
            .filter(|t| t.account == acct && f(&probe_order(t.inst)))
            .filter(|t| {
                start.is_none_or(|s| {
                    if desc {
                        t.trade_num <= s
                    } else {
                        t.trade_num >= s
                    }
                })
            })
            .collect();
        if desc {
            rows.reverse();
        }
        let has_more = rows.len() as u64 > count;
        let mut s = String::from("{\"trades\":[");
        for (k, t) in rows.iter().take(count as usize).enumerate() {
            if k > 0 {
                s.push(',');
            }
            s.push_str(&t.json);
        }
        s.push_str("],\"has_more\":");
        s.push_str(if has_more { "true" } else { "false" });
        s.push('}');
        Ok(s)
    }

    fn positions_json(&self, acct: &str, f: impl Fn(&Order) -> bool) -> String {
        let mut s = String::from("[");
        let mut n = 0;
        if let Some(a) = self.accounts.get(acct) {
            for id in a.pos.keys() {
                // reuse the order filter on a probe order of this instrument
                let probe = probe_order(*id);
                if !f(&probe) {
                    continue;
                }
                if n > 0 {
                    s.push(',');
                }
                s.push_str(&self.position_json(acct, *id));
                n += 1;
            }
        }
        s.push(']');
        s
    }

    // ----------------------------------------------------------------- tape

    /// Tape time of the first event.
    pub fn tape_start_ns(&self) -> u64 {
        self.tape_start_ns
    }

    /// Replays one tape event: updates the recorded book/marks, forwards the frame to
    /// subscribers (unless a fault drops it), matches our resting orders.
    pub fn on_tape_event(&mut self, ev: &TapeEvent) -> Vec<Out> {
        self.tape_ns = self.tape_ns.max(ev.ts_ns);
        let fault_outs = if self.timed.iter().any(|t| !t.2) {
            self.fire_faults(ev.ts_ns)
        } else {
            Vec::new()
        };
        let mut outs = self.on_tape_event_inner(ev);
        if !fault_outs.is_empty() {
            outs.splice(0..0, fault_outs);
        }
        outs
    }

    fn on_tape_event_inner(&mut self, ev: &TapeEvent) -> Vec<Out> {
        let Some(id) = self.insts.id(&ev.instrument) else {
            return Vec::new();
        };
        let insts = self.insts.clone();
        let inst = insts.get(id);
        let mut outs = Vec::new();
        match &ev.body {
            TapeBody::Book(u) => {
                let touched = self.books[id as usize].apply(inst, u);
                let dropped = !u.snapshot && self.take_gap(ev.ts_ns);
                if dropped {
                    self.count_fault("gap");
                    self.push_log(Some(inst.name.clone()), SimLogKind::ChangeDropped);
                } else {
                    let data = match &ev.raw_data {
                        Some(r) => r.clone(),
                        None => {
                            let mut s = String::new();
                            write_update_data(&inst.name, u, &mut s);
                            s
                        }
                    };
                    let pre = self.md_prefixes("book", id);
                    outs = self.fanout(&pre, &data, None);
                    if ev.raw_data.is_none() {
                        // tapes without tickers: a synthetic ticker (mark = index = mid)
                        let pre = self.md_prefixes("ticker", id);
                        if self.any_subscribed(&pre) {
                            let t = self.synthetic_ticker(id, u.timestamp_ms);
                            outs.extend(self.fanout(&pre, &t, None));
                        }
                    }
                }
                let book = &mut self.books[id as usize];
                let mut orders: Vec<&mut Order> =
                    self.open.values_mut().filter(|o| o.inst == id).collect();
                if !orders.is_empty() {
                    let execs = matching::on_book_update(book, &mut orders, &touched);
                    outs.extend(self.process_execs(execs));
                }
            }
            TapeBody::Ticker(t) => {
                if t.mark_price.is_some() {
                    self.marks[id as usize] = t.mark_price;
                }
                if t.index_price.is_some() {
                    self.index[id as usize] = t.index_price;
                }
                if let Some(r) = &ev.raw_data {
                    let pre = self.md_prefixes("ticker", id);
                    outs = self.fanout(&pre, r, None);
                }
            }
            TapeBody::Trades(ts) => {
                let data = match &ev.raw_data {
                    Some(r) => r.clone(),
                    None => self.public_trades_json(id, ts),
                };
                let pre = self.md_prefixes("trades", id);
                outs = self.fanout(&pre, &data, None);
                if let Some(t) = ts.last() {
                    self.last_trade[id as usize] = Some(t.price);
                }
                for t in ts {
                    let px = inst
                        .ticks_exact(t.price)
                        .or_else(|| inst.ticks_round(t.price));
                    let lots = inst
                        .lots_exact(t.amount)
                        .or_else(|| inst.lots_round(t.amount));
                    let (Some(px), Some(lots)) = (px, lots) else {
                        continue;
                    };
                    let mut orders: Vec<&mut Order> =
                        self.open.values_mut().filter(|o| o.inst == id).collect();
                    if orders.is_empty() {
                        break;
                    }
                    let execs = matching::on_trade(&mut orders, t.taker, px, lots);
                    outs.extend(self.process_execs(execs));
                }
            }
        }
        outs
    }

    fn take_gap(&mut self, ts: u64) -> bool {
        for g in &mut self.gaps {
            if !g.1 && ts >= g.0 {
                g.1 = true;
                return true;
            }
        }
        false
    }

    fn any_subscribed(&self, prefixes: &[String]) -> bool {
        self.conns.values().any(|st| {
            prefixes.iter().any(|p| {
                st.subs
                    .range(p.clone()..)
                    .next()
                    .is_some_and(|c| c.starts_with(p.as_str()))
            })
        })
    }

    /// A Deribit-shaped ticker built from the recorded book, for tapes that carry no
    /// tickers (tardis): `mark_price` = `index_price` = mid (or the one-sided best), empty
    /// sides as `0.0` like real option tickers, `last_price` = last recorded trade.
    fn synthetic_ticker(&self, id: InstrumentId, ts_ms: u64) -> String {
        let inst = self.inst(id);
        let b = &self.books[id as usize];
        let mid = self.mark_f64(id);
        let mut s = String::with_capacity(400);
        let mut j = Obj::new(&mut s);
        j.int("timestamp", ts_ms as i128)
            .raw(
                "stats",
                r#"{"volume":null,"price_change":null,"low":null,"high":null}"#,
            )
            .str("state", "open")
            .raw("open_interest", "0.0")
            .float("mark_price", mid)
            .raw(
                "last_price",
                &self.last_trade[id as usize].map_or("null".into(), json::dec),
            )
            .str("instrument_name", &inst.name)
            .float("index_price", mid)
            .float("estimated_delivery_price", mid);
        for (name, lvl) in [
            ("bid", b.bids.values().next_back()),
            ("ask", b.asks.values().next()),
        ] {
            match lvl {
                Some(l) => j
                    .dec(&format!("best_{name}_price"), l.price)
                    .dec(&format!("best_{name}_amount"), l.amount),
                None => j
                    .raw(&format!("best_{name}_price"), "0.0")
                    .raw(&format!("best_{name}_amount"), "0.0"),
            };
        }
        if inst.kind == Kind::Perpetual {
            j.raw("current_funding", "0.0").raw("funding_8h", "0.0");
        }
        j.end();
        s
    }

    fn public_trades_json(&mut self, id: InstrumentId, ts: &[super::tape::PublicTrade]) -> String {
        let insts = self.insts.clone();
        let inst = insts.get(id);
        let mut s = String::from("[");
        for (i, t) in ts.iter().enumerate() {
            let seq = match t.trade_seq {
                Some(q) => q,
                None => {
                    self.trade_seq[id as usize] += 1;
                    self.trade_seq[id as usize]
                }
            };
            if i > 0 {
                s.push(',');
            }
            let mut j = Obj::new(&mut s);
            j.int("trade_seq", seq as i128)
                .str("trade_id", &t.trade_id)
                .int("timestamp", t.timestamp_ms as i128)
                .int("tick_direction", 0)
                .dec("price", t.price);
            if let Some(m) = self.marks[id as usize] {
                j.dec("mark_price", m);
            }
            j.str("instrument_name", &inst.name);
            if let Some(x) = self.index[id as usize] {
                j.dec("index_price", x);
            }
            j.str("direction", t.taker.direction())
                .dec("amount", t.amount)
                .float("contracts", t.amount.to_f64() / inst.contract_size.to_f64());
            j.end();
        }
        s.push(']');
        s
    }

    // ----------------------------------------------------------------- ledger

    /// A consistent copy of the ledger.
    pub fn snapshot(&self) -> LedgerSnapshot {
        let mut positions = BTreeMap::new();
        let mut position_lots = BTreeMap::new();
        for a in self.accounts.values() {
            for (id, p) in &a.pos {
                let inst = self.inst(*id);
                *position_lots.entry(inst.name.clone()).or_insert(0) += p.lots;
            }
        }
        for (name, lots) in &position_lots {
            if let Some(inst) = self.insts.by_name(name) {
                positions.insert(name.clone(), exact_f64(inst.lot, *lots));
            }
        }
        let open_orders = self
            .open
            .values()
            .map(|o| SimOrder {
                order_id: o.order_id.clone(),
                label: o.label.clone(),
                instrument: self.inst(o.inst).name.clone(),
                side: o.side,
                price_ticks: o.price,
                lots: o.lots,
                filled_lots: o.filled,
            })
            .collect();
        let books = self
            .insts
            .iter()
            .map(|i| {
                let b = &self.books[i.id as usize];
                (
                    i.name.clone(),
                    (b.best_f64(Side::Bid), b.best_f64(Side::Ask)),
                )
            })
            .collect();
        LedgerSnapshot {
            fills: self.fills.clone(),
            positions,
            position_lots,
            open_orders,
            books,
            fees: self.fees.clone(),
            log: self.log.clone(),
            stats: self.stats.clone(),
        }
    }
}

fn probe_order(id: InstrumentId) -> Order {
    Order {
        num: 0,
        order_id: String::new(),
        account: String::new(),
        conn: 0,
        label: String::new(),
        inst: id,
        side: Side::Bid,
        price: 0,
        lots: 0,
        filled: 0,
        queue_ahead: 0,
        post_only: false,
        reject_post_only: false,
        reduce_only: false,
        tif: Tif::Gtc,
        state: OrderState::Open,
        cancel_reason: None,
        created_ms: 0,
        updated_ms: 0,
        replaced: false,
        fill_value: 0,
        fees: 0.0,
        mmp: false,
        quote: None,
    }
}

/// A subscription notification frame (dossier §1.5); `label` only for private channels.
pub fn frame(channel: &str, data: &str, label: Option<&str>) -> String {
    let mut s = String::with_capacity(data.len() + channel.len() + 80);
    s.push_str(r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"#);
    json::push_str_lit(&mut s, channel);
    s.push_str(r#","data":"#);
    s.push_str(data);
    if let Some(l) = label {
        s.push_str(r#","label":"#);
        json::push_str_lit(&mut s, l);
    }
    s.push_str("}}");
    s
}

impl ParamError {
    fn required_err(k: &str) -> RpcError {
        Params::required(k).into()
    }
}
