//! The order connection loop (the gateway thread of design.md §1).
//!
//! Takes [`OrderIntent`]s from the intent ring, encodes them as Deribit JSON-RPC requests
//! (`private/buy|sell`, `private/edit`, `private/cancel`, `private/cancel_all`), writes them,
//! stamps the wire time, and turns replies and private-channel notifications (`user.orders`,
//! `user.trades`) into [`ExecEvent`]s for the hot thread.
//!
//! Bookkeeping kept here, off the hot thread: request id → what it was about; our client id →
//! the venue's `order_id` (needed by edit/cancel); the set of trade ids already reported (a
//! fill can be reported both in a `{order, trades}` reply and on `user.trades`: fills are taken
//! from `user.trades` only, deduplicated by `trade_id`).
//!
//! Error reactions (dossier §7.2): every JSON-RPC error about an order becomes
//! `ExecKind::Rejected` with the venue code; codes meaning "the order is no longer open"
//! (11044 `not_open_order`, 10010 `already_closed`, 10004 `order_not_found`, 11008
//! `already_filled`) are flagged with `qty = -1` so the engine forgets the order.

use crate::deribit::encode::Encoder;
use crate::deribit::feed::{login, rpc_blocking, SessionOpts};
use crate::deribit::journal::FillJournal;
use crate::deribit::private::{
    decode_private, parse_label, OrderState, OrderView, PrivateMsg, RpcResult, TradesView,
};
use crate::deribit::session::AuthState;
use mm_core::event::{ExecEvent, ExecKind, IntentKind, OrderIntent, Stage, TelKind, Telemetry};
use mm_core::instrument::InstrumentTable;
use mm_core::types::{ClientId, InstrumentId, Side};
use mm_io::ring::{Consumer, Producer};
use mm_io::{Idle, IdleWaiter, WsClient};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Venue codes meaning the order is not open any more.
pub const NOT_OPEN_CODES: [i32; 4] = [11044, 10010, 10004, 11008];

/// What the gateway counted (returned when it ends).
#[derive(Clone, Debug, Default)]
pub struct GatewayStats {
    /// Requests written.
    pub requests: u64,
    /// JSON-RPC errors received.
    pub errors: u64,
    /// Error codes seen, with counts.
    pub error_codes: HashMap<i32, u64>,
    /// Fills reported to the hot thread.
    pub fills: u64,
    /// Duplicate trade reports ignored.
    pub duplicate_trades: u64,
    /// Private frames that failed to decode.
    pub decode_errors: u64,
    /// Fills for labels that are not ours (another client on the account).
    pub foreign_fills: u64,
    /// Whether the connection dropped.
    pub disconnected: bool,
    /// Heartbeat `test_request`s answered with `public/test`.
    pub test_answers: u64,
    /// Token refreshes completed.
    pub refreshes: u64,
    /// Token refreshes the venue refused.
    pub refresh_errors: u64,
    /// Fills written to the fill journal.
    pub journal_fills: u64,
    /// Fill journal writes that failed (the fill was still reported; the run must stop).
    pub journal_errors: u64,
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    kind: IntentKind,
    client_id: ClientId,
    instrument: InstrumentId,
    side: Side,
}

/// Opens the order session: log in ([`login`]: `public/auth` per the credentials' method, then
/// `public/set_heartbeat`), enable cancel-on-disconnect, subscribe `user.orders.any.any.raw`
/// and `user.trades.any.any.raw`, and fetch instruments (`public/get_instruments` for
/// `currencies`). Returns the raw `get_instruments` replies and the login state (for token
/// refresh in [`run_gateway`]).
///
/// # Errors
/// Any failed step, with the venue's error.
pub fn open_session(
    ws: &mut WsClient,
    opts: &SessionOpts,
    currencies: &[&str],
    clock: fn() -> u64,
) -> Result<(Vec<Vec<u8>>, AuthState), String> {
    let mut enc = Encoder::new();
    let t = Duration::from_secs(10);
    let auth = login(ws, &mut enc, 1, opts, clock)?;
    let f = enc.enable_cancel_on_disconnect(3).to_string();
    rpc_blocking(ws, &f, 3, t, |_| {})
        .map_err(|e| format!("private/enable_cancel_on_disconnect: {e}"))?;
    let f = enc
        .subscribe(
            4,
            &["user.orders.any.any.raw", "user.trades.any.any.raw"],
            true,
        )
        .to_string();
    rpc_blocking(ws, &f, 4, t, |_| {}).map_err(|e| format!("private/subscribe: {e}"))?;
    let mut out = Vec::new();
    for (k, c) in currencies.iter().enumerate() {
        let id = 10 + k as u64;
        let f = enc.get_instruments(id, c, None, false).to_string();
        out.push(
            rpc_blocking(ws, &f, id, t, |_| {})
                .map_err(|e| format!("public/get_instruments {c}: {e}"))?,
        );
    }
    Ok((out, auth))
}

/// The order session's bookkeeping, independent of the socket: intents → JSON-RPC requests,
/// replies and private notifications → [`ExecEvent`]s (see the module docs). [`run_gateway`]
/// drives it over the order WebSocket; a test harness can drive it in lockstep with an
/// in-process simulator, so both run exactly this translation.
pub struct OrderSession {
    table: Arc<InstrumentTable>,
    enc: Encoder,
    next_id: u64,
    pending: HashMap<u64, Pending>,
    venue_ids: HashMap<ClientId, String>,
    seen_trades: HashSet<String>,
    last_trade_id: HashMap<String, String>,
    answer_test: bool,
    auth: Option<AuthState>,
    journal: Option<FillJournal>,
    /// What the session counted (requests, errors, fills, …).
    pub stats: GatewayStats,
}

impl OrderSession {
    /// A session for the instruments of `table` (request ids start at 1000).
    pub fn new(table: Arc<InstrumentTable>) -> OrderSession {
        OrderSession {
            table,
            enc: Encoder::new(),
            next_id: 1000,
            pending: HashMap::with_capacity(4096),
            venue_ids: HashMap::with_capacity(4096),
            seen_trades: HashSet::with_capacity(4096),
            last_trade_id: HashMap::new(),
            answer_test: false,
            auth: None,
            journal: None,
            stats: GatewayStats::default(),
        }
    }

    /// Gives the session the connection's login state, so that it refreshes the token before
    /// expiry ([`Self::refresh_request`]).
    pub fn with_auth(mut self, auth: AuthState) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The `public/auth` `refresh_token` frame to send now, if the token is due for refresh
    /// (monotonic `now_ns`). Contains the refresh token: never log it.
    pub fn refresh_request(&mut self, now_ns: u64) -> Option<&str> {
        let auth = self.auth.as_mut()?;
        if !auth.refresh_due(now_ns) {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        Some(auth.refresh_frame(&mut self.enc, id))
    }

    /// The request frame of an intent (counted in `stats.requests`), or, for an amend or
    /// cancel of an order with no venue id (it never reached the venue's book), the
    /// `Rejected` event (`code` 10004, `qty` −1) to report instead; `t` stamps it.
    ///
    /// # Errors
    /// That `Rejected` event: nothing is to be written.
    pub fn request(&mut self, it: &OrderIntent, t: u64) -> Result<&str, ExecEvent> {
        let table = &self.table;
        let inst = table.get(it.instrument.min(table.len().saturating_sub(1) as u32));
        let id = self.next_id;
        let frame = match it.kind {
            IntentKind::New => {
                Some(
                    self.enc
                        .order(id, inst, it.side, it.price, it.qty, it.flags, it.client_id),
                )
            }
            IntentKind::Amend => self.venue_ids.get(&it.client_id).map(|oid| {
                self.enc.edit(
                    id,
                    inst,
                    oid,
                    it.price,
                    it.qty,
                    it.flags & mm_core::event::intent_flags::POST_ONLY != 0,
                )
            }),
            IntentKind::Cancel => self
                .venue_ids
                .get(&it.client_id)
                .map(|oid| self.enc.cancel(id, oid)),
            IntentKind::CancelAll => Some(self.enc.cancel_all(id)),
        };
        let Some(frame) = frame else {
            return Err(ExecEvent {
                t_recv: t,
                client_id: it.client_id,
                instrument: it.instrument,
                kind: ExecKind::Rejected,
                code: 10004,
                qty: -1,
                side: it.side,
                ..Default::default()
            });
        };
        self.next_id += 1;
        self.pending.insert(
            id,
            Pending {
                kind: it.kind,
                client_id: it.client_id,
                instrument: it.instrument,
                side: it.side,
            },
        );
        self.stats.requests += 1;
        Ok(frame)
    }

    /// Gives the session the fill journal ([`crate::deribit::journal`]): each new fill of
    /// ours is appended to it before it is reported. The trades of its `seed` count as seen
    /// ([`Self::seed_trade`]).
    pub fn with_journal(mut self, mut journal: FillJournal) -> Self {
        for (cur, id) in std::mem::take(&mut journal.seed) {
            self.seed_trade(&cur, &id);
        }
        self.journal = Some(journal);
        self
    }

    /// Treats trade `trade_id` of base currency `currency` as already reported (a previous
    /// run's, or recovered at start): it is never reported again, and [`Self::last_trade_id`]
    /// is at least it.
    pub fn seed_trade(&mut self, currency: &str, trade_id: &str) {
        self.note_last_trade(currency.to_string(), trade_id);
        self.seen_trades.insert(trade_id.to_string());
    }

    /// Takes the fill journal back (to hand it to the next session).
    pub fn take_journal(&mut self) -> Option<FillJournal> {
        self.journal.take()
    }

    fn note_last_trade(&mut self, cur: String, id: &str) {
        match self.last_trade_id.get_mut(&cur) {
            Some(v) if trade_num(v) >= trade_num(id) => {}
            Some(v) => *v = id.to_string(),
            None => {
                self.last_trade_id.insert(cur, id.to_string());
            }
        }
    }

    /// The `public/test` answer when the venue's heartbeat asked for one (once per request).
    pub fn test_answer(&mut self) -> Option<&str> {
        if !self.answer_test {
            return None;
        }
        self.answer_test = false;
        self.stats.test_answers += 1;
        let id = self.next_id;
        self.next_id += 1;
        Some(self.enc.test(id))
    }

    /// The newest trade id of ours seen in base currency `currency` (`BTC`, `ETH`, …):
    /// reconciliation asks the venue for the fills from there on
    /// ([`crate::deribit::reconcile::fetch_trades_since`]).
    pub fn last_trade_id(&self, currency: &str) -> Option<&str> {
        self.last_trade_id.get(currency).map(|s| s.as_str())
    }

    /// Turns a `user_trade` list (a `user.trades` notification, or a page of
    /// `private/get_user_trades_by_currency` during reconciliation) into `Fill` events: each
    /// `trade_id` once, ours only (label `mmf-<id>`), instruments of the table only.
    pub fn on_trades(&mut self, trades: TradesView<'_>, t_recv: u64, out: &mut Vec<ExecEvent>) {
        let table = &*self.table;
        let stats = &mut self.stats;
        for t in trades.iter() {
            let Ok(t) = t else {
                stats.decode_errors += 1;
                continue;
            };
            if !self.seen_trades.insert(t.trade_id.to_string()) {
                stats.duplicate_trades += 1;
                continue;
            }
            let Some(inst_id) = table.id(t.instrument_name) else {
                continue;
            };
            // The newest trade id per currency: where reconciliation resumes.
            let cur = &table.get(inst_id).base_currency;
            match self.last_trade_id.get_mut(cur) {
                Some(v) if trade_num(v) >= trade_num(t.trade_id) => {}
                Some(v) => *v = t.trade_id.to_string(),
                None => {
                    self.last_trade_id
                        .insert(cur.clone(), t.trade_id.to_string());
                }
            }
            let Some(cid) = parse_label(t.label) else {
                stats.foreign_fills += 1;
                continue;
            };
            let inst = table.get(inst_id);
            let price = inst.ticks_round(t.price).unwrap_or(0);
            let qty = inst.lots_round(t.amount).unwrap_or(0);
            let fee_nano = (t.fee.to_f64() * 1e9).round() as i64;
            // On disk (page cache) before the engine hears of it: see `journal`.
            if let Some(j) = self.journal.as_mut() {
                match j.append_fill(&t, cid, price, qty) {
                    Ok(()) => stats.journal_fills += 1,
                    Err(e) => {
                        stats.journal_errors += 1;
                        log::error!(
                            "fill journal {}: writing trade {} failed: {e}",
                            j.path().display(),
                            t.trade_id
                        );
                    }
                }
            }
            stats.fills += 1;
            out.push(ExecEvent {
                t_recv,
                client_id: cid,
                price,
                qty,
                fee_nano,
                instrument: inst_id,
                kind: ExecKind::Fill,
                side: t.side,
                maker: t.maker as u8,
                ..Default::default()
            });
        }
    }

    /// Handles one frame read from the order connection at `t_recv`: pushes the events it
    /// means onto `out` (none for heartbeats, subscriptions and unknown replies).
    pub fn on_frame(&mut self, frame: &[u8], t_recv: u64, out: &mut Vec<ExecEvent>) {
        if let Some(auth) = self.auth.as_mut() {
            if let Some(rid) = auth.pending_refresh() {
                if matches!(decode_private(frame),
                    Ok(PrivateMsg::RpcOk { id, .. } | PrivateMsg::RpcErr { id, .. }) if id == rid)
                {
                    auth.on_refresh_reply(frame, t_recv);
                    self.stats.refreshes = auth.refreshes;
                    self.stats.refresh_errors = auth.refresh_errors;
                    return;
                }
            }
        }
        let table = &*self.table;
        let stats = &mut self.stats;
        let pending = &mut self.pending;
        let venue_ids = &mut self.venue_ids;
        match decode_private(frame) {
            Err(e) => {
                stats.decode_errors += 1;
                log::warn!(
                    "gateway: undecodable frame ({e}): {}",
                    String::from_utf8_lossy(&frame[..frame.len().min(200)])
                );
            }
            Ok(PrivateMsg::Heartbeat { test_request }) => self.answer_test |= test_request,
            Ok(PrivateMsg::RpcOk { id, result }) => {
                let Some(p) = pending.remove(&id) else { return };
                match (p.kind, result) {
                    (IntentKind::New, RpcResult::Order { order, .. }) => {
                        venue_ids.insert(p.client_id, order.order_id.to_string());
                        let (kind, qty) = order_event(&order, table, p.instrument);
                        out.push(ExecEvent {
                            t_recv,
                            client_id: p.client_id,
                            price: price_ticks(&order, table, p.instrument),
                            qty,
                            leaves: qty,
                            instrument: p.instrument,
                            kind,
                            side: p.side,
                            ..Default::default()
                        });
                    }
                    (IntentKind::Amend, RpcResult::Order { order, .. }) => {
                        let (kind, qty) = order_event(&order, table, p.instrument);
                        let kind = if kind == ExecKind::Accepted {
                            ExecKind::Amended
                        } else {
                            kind
                        };
                        out.push(ExecEvent {
                            t_recv,
                            client_id: p.client_id,
                            price: price_ticks(&order, table, p.instrument),
                            qty,
                            instrument: p.instrument,
                            kind,
                            side: p.side,
                            ..Default::default()
                        });
                    }
                    (IntentKind::Cancel, _) => {
                        out.push(ExecEvent {
                            t_recv,
                            client_id: p.client_id,
                            instrument: p.instrument,
                            kind: ExecKind::Cancelled,
                            side: p.side,
                            ..Default::default()
                        });
                    }
                    (IntentKind::CancelAll, RpcResult::Count(n)) => {
                        out.push(ExecEvent {
                            t_recv,
                            qty: n,
                            instrument: u32::MAX,
                            kind: ExecKind::CancelAllDone,
                            ..Default::default()
                        });
                    }
                    (_, _) => {}
                }
            }
            Ok(PrivateMsg::RpcErr { id, code, message }) => {
                stats.errors += 1;
                *stats.error_codes.entry(code).or_default() += 1;
                let Some(p) = pending.remove(&id) else {
                    log::warn!("gateway: error {code} {message} for unknown request {id}");
                    return;
                };
                log::debug!(
                    "gateway: {:?} of order {} rejected: {code} {message}",
                    p.kind,
                    p.client_id
                );
                let qty = if NOT_OPEN_CODES.contains(&code) {
                    -1
                } else {
                    0
                };
                out.push(ExecEvent {
                    t_recv,
                    client_id: p.client_id,
                    instrument: if p.kind == IntentKind::CancelAll {
                        u32::MAX
                    } else {
                        p.instrument
                    },
                    kind: ExecKind::Rejected,
                    code,
                    qty,
                    side: p.side,
                    ..Default::default()
                });
            }
            Ok(PrivateMsg::Orders(order)) => {
                // Only terminal states matter here (cancel-all, cancel-on-disconnect,
                // edit_post_only_reject); fills come from user.trades.
                if order.state == OrderState::Cancelled {
                    if let (Some(cid), Some(inst)) =
                        (parse_label(order.label), table.id(order.instrument_name))
                    {
                        if venue_ids.remove(&cid).is_some() {
                            out.push(ExecEvent {
                                t_recv,
                                client_id: cid,
                                instrument: inst,
                                kind: ExecKind::Cancelled,
                                side: order.side,
                                ..Default::default()
                            });
                        }
                    }
                } else if order.state == OrderState::Filled {
                    if let Some(cid) = parse_label(order.label) {
                        venue_ids.remove(&cid);
                    }
                }
            }
            Ok(PrivateMsg::Trades(trades)) => self.on_trades(trades, t_recv, out),
            Ok(_) => {}
        }
    }
}

/// The gateway loop. Runs until `stop` is set or the connection drops. With `dry_run`, no
/// order request is written: intents are acknowledged locally (decide and log, send nothing).
/// With a fill `journal`, each fill of ours is appended to it before it is pushed to the exec
/// ring ([`OrderSession::with_journal`]); a failed write is reported as
/// `TelKind::JournalError`.
#[allow(clippy::too_many_arguments)]
pub fn run_gateway(
    mut ws: WsClient,
    table: Arc<InstrumentTable>,
    auth: Option<AuthState>,
    journal: Option<FillJournal>,
    intents: &mut Consumer<OrderIntent>,
    exec_tx: &mut Producer<ExecEvent>,
    tel_tx: &mut Producer<Telemetry>,
    stop: &AtomicBool,
    idle: Idle,
    dry_run: bool,
    clock: fn() -> u64,
) -> GatewayStats {
    let mut session = OrderSession::new(table.clone());
    if let Some(a) = auth {
        session = session.with_auth(a);
    }
    if let Some(j) = journal {
        session = session.with_journal(j);
    }
    let mut journal_errors = 0u64;
    let mut waiter = IdleWaiter::new(idle);
    let mut out: Vec<ExecEvent> = Vec::with_capacity(1024);
    // Dry run: the orders acknowledged locally, so a cancel-all can cancel each of them (as
    // the venue's `user.orders` notifications do live).
    let mut dry_live: HashMap<ClientId, (InstrumentId, Side)> = HashMap::new();

    let push = |exec_tx: &mut Producer<ExecEvent>, ev: ExecEvent| {
        let mut e = ev;
        // The exec ring is sized far above the number of live orders; never drop a report.
        loop {
            match exec_tx.push(e) {
                Ok(()) => return,
                Err(back) => {
                    e = back;
                    std::thread::yield_now();
                }
            }
        }
    };

    while !stop.load(Ordering::Relaxed) {
        let mut work = false;
        // 1. Intents → wire.
        while let Some(it) = intents.pop() {
            work = true;
            let t_pop = clock();
            if dry_run {
                let inst = table.get(it.instrument.min(table.len().saturating_sub(1) as u32));
                let kind = match it.kind {
                    IntentKind::New => ExecKind::Accepted,
                    IntentKind::Amend => ExecKind::Amended,
                    IntentKind::Cancel => ExecKind::Cancelled,
                    IntentKind::CancelAll => ExecKind::CancelAllDone,
                };
                log::info!(
                    "dry-run: {:?} {} {:?} {} @ {} ticks",
                    it.kind,
                    if it.kind == IntentKind::CancelAll {
                        "*"
                    } else {
                        &inst.name
                    },
                    it.side,
                    it.qty,
                    it.price
                );
                push(
                    exec_tx,
                    ExecEvent {
                        t_recv: t_pop,
                        client_id: it.client_id,
                        price: it.price,
                        qty: it.qty,
                        leaves: it.qty,
                        instrument: it.instrument,
                        kind,
                        side: it.side,
                        ..Default::default()
                    },
                );
                match it.kind {
                    IntentKind::New => {
                        dry_live.insert(it.client_id, (it.instrument, it.side));
                    }
                    IntentKind::Cancel => {
                        dry_live.remove(&it.client_id);
                    }
                    IntentKind::CancelAll => {
                        for (cid, (instrument, side)) in dry_live.drain() {
                            push(
                                exec_tx,
                                ExecEvent {
                                    t_recv: t_pop,
                                    client_id: cid,
                                    instrument,
                                    kind: ExecKind::Cancelled,
                                    side,
                                    ..Default::default()
                                },
                            );
                        }
                    }
                    IntentKind::Amend => {}
                }
                if matches!(it.kind, IntentKind::Cancel | IntentKind::CancelAll) {
                    let _ = tel_tx.push(cancel_written(&it, clock()));
                }
                continue;
            }
            match session.request(&it, t_pop) {
                Err(ev) => {
                    // No venue id known: the order never reached the venue's book.
                    push(exec_tx, ev);
                    continue;
                }
                Ok(frame) => {
                    if let Err(e) = ws.send_text(frame) {
                        log::warn!("gateway: send failed: {e}");
                    }
                }
            }
            let t_wire = clock();
            let _ = tel_tx.push(Telemetry {
                t: t_wire,
                kind: TelKind::Latency,
                stage: Stage::EncodeWrite,
                a: t_wire.saturating_sub(t_pop) as i64,
                ..Default::default()
            });
            if it.t_recv != 0 {
                let _ = tel_tx.push(Telemetry {
                    t: t_wire,
                    kind: TelKind::Latency,
                    stage: Stage::TickToWire,
                    a: t_wire.saturating_sub(it.t_recv) as i64,
                    ..Default::default()
                });
            }
            if matches!(it.kind, IntentKind::Cancel | IntentKind::CancelAll) {
                let _ = tel_tx.push(cancel_written(&it, t_wire));
            }
        }
        // 2. Wire → exec events.
        out.clear();
        let read = ws.read_frames(|frame| session.on_frame(frame, clock(), &mut out));
        match read {
            Ok(n) => work |= n > 0,
            Err(e) => {
                log::warn!("gateway: connection lost: {e}");
                session.stats.disconnected = true;
                push(
                    exec_tx,
                    ExecEvent {
                        t_recv: clock(),
                        kind: ExecKind::Disconnected,
                        instrument: u32::MAX,
                        ..Default::default()
                    },
                );
                break;
            }
        }
        if session.stats.journal_errors > journal_errors {
            journal_errors = session.stats.journal_errors;
            let _ = tel_tx.push(Telemetry {
                t: clock(),
                kind: TelKind::JournalError,
                a: journal_errors as i64,
                ..Default::default()
            });
        }
        for ev in out.drain(..) {
            push(exec_tx, ev);
        }
        if let Some(f) = session.test_answer() {
            let _ = ws.send_text(f);
        }
        if let Some(f) = session.refresh_request(clock()) {
            let _ = ws.send_text(f);
        }
        let _ = ws.flush();
        if work {
            waiter.reset();
        } else {
            waiter.idle();
        }
    }
    ws.close();
    session.stats
}

/// The `TelKind::CancelWritten` record of a cancel intent written at `t` (kill switch timing).
fn cancel_written(it: &OrderIntent, t: u64) -> Telemetry {
    Telemetry {
        t,
        kind: TelKind::CancelWritten,
        a: it.kind as i64,
        d: it.client_id as i64,
        instrument: it.instrument,
        ..Default::default()
    }
}

fn price_ticks(order: &OrderView<'_>, table: &InstrumentTable, inst: InstrumentId) -> i64 {
    order
        .price
        .and_then(|p| table.get(inst).ticks_round(p))
        .unwrap_or(0)
}

/// Maps an order object from a reply to the event it means and its total size in lots.
fn order_event(
    order: &OrderView<'_>,
    table: &InstrumentTable,
    inst: InstrumentId,
) -> (ExecKind, i64) {
    let qty = table.get(inst).lots_round(order.amount).unwrap_or(0);
    let kind = match order.state {
        OrderState::Cancelled | OrderState::Rejected => ExecKind::Cancelled,
        _ => ExecKind::Accepted,
    };
    (kind, qty)
}

/// The number in a venue trade id (`"123"`, `"ETH-15"` → 15; 0 if none), for ordering.
fn trade_num(id: &str) -> u64 {
    id.rsplit('-')
        .next()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0)
}
