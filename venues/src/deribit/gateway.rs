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

use crate::deribit::backoff::{silence_limit, Backoff, BackoffPolicy, LinkState, ReconnectOpts};
use crate::deribit::credits::{Class, CreditBudget, RateLimits};
use crate::deribit::encode::Encoder;
use crate::deribit::errors::{self, GatewayAction};
use crate::deribit::feed::{login, rpc_blocking, SessionOpts};
use crate::deribit::journal::FillJournal;
use crate::deribit::mass_quote::{MassQuoteOpts, MassQuoter};
use crate::deribit::mmp::{MmpGuard, MmpOpts};
use crate::deribit::private::{
    decode_private, parse_label, OrderState, OrderView, PrivateMsg, RpcResult, TradesView,
};
use crate::deribit::reconcile::{fetch_open_orders, fetch_positions, fetch_trades_since};
use crate::deribit::session::AuthState;
use crate::deribit::throttle::Throttle;
use mm_core::event::{ExecEvent, ExecKind, IntentKind, OrderIntent, Stage, TelKind, Telemetry};
use mm_core::instrument::InstrumentTable;
use mm_core::types::{ClientId, InstrumentId, Side};
use mm_io::ring::{Consumer, Producer};
use mm_io::{Doorbell, Idle, IdleWaiter, WsClient};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Venue codes meaning the order is not open any more.
pub const NOT_OPEN_CODES: [i32; 4] = [11044, 10010, 10004, 11008];

/// Local reject code (not a Deribit code): the order connection is down (reconnecting), the
/// intent was not sent. Reported as `ExecKind::Rejected` with `qty = -1` (the order does not
/// exist at the venue) so that nothing waits for a reply; the engine's reaction is
/// `NotPlaced` (`mm_core::reject`).
pub use mm_core::reject::NOT_CONNECTED;

/// What one reconciliation ([`OrderSession::reconcile`]) found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconcileStats {
    /// Open orders of ours (label `mmf-…`) the venue still held: orphans, cancelled.
    pub orphans_cancelled: u64,
    /// Orphans already gone when the cancel arrived (filled or cancelled meanwhile).
    pub orphans_gone: u64,
    /// Fills the venue reported that had not been seen on `user.trades` (missed while down).
    pub missed_fills: u64,
    /// `Position` events sent (one per instrument of the table).
    pub positions: u64,
}
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
    /// Successful reconnects (re-login, re-subscribe and reconcile done).
    pub reconnects: u64,
    /// Time spent disconnected (lost → reconciled), ns.
    pub down_ns: u64,
    /// Intents answered with [`NOT_CONNECTED`] while the connection was down.
    pub rejected_while_down: u64,
    /// Orphan orders cancelled by reconciliation (all reconnects).
    pub orphans_cancelled: u64,
    /// Fills recovered by reconciliation (all reconnects).
    pub missed_fills: u64,
    /// `10028 too_many_requests` received (the venue then ends the session).
    pub rate_limit_errors: u64,
    /// Intents that waited in the send queue because the credit budget was short
    /// ([`crate::deribit::throttle`]).
    pub rate_deferred: u64,
    /// Longest wait of an intent in the send queue before it was written, ns (intents dropped
    /// from the queue are not counted).
    pub rate_max_wait_ns: u64,
    /// Queued intents dropped (superseded amends; News cancelled before they were sent,
    /// answered `13666`).
    pub rate_dropped: u64,
    /// Errors with a code outside the reactions table ([`crate::deribit::errors::ERRORS`]).
    pub unknown_errors: u64,
    /// Re-authentications after `13009`/`10000` on the same connection.
    pub reauths: u64,
    /// `private/mass_quote` requests written (mass-quote mode).
    pub mass_quotes_sent: u64,
    /// Quote sides the venue refused (mass-quote mode).
    pub quote_errors: u64,
    /// `user.mmp_trigger` notifications of our group.
    pub mmp_triggers: u64,
    /// MMP resets confirmed (`private/reset_mmp`).
    pub mmp_resets: u64,
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

/// The rate limits to pay from: the account's own (`private/get_account_summary` for
/// `currency`, `result.limits`, dossier §8.1) when the venue gives them, else `configured`
/// (`--rate-tier`, `--me-rate`, `--me-burst`). Logs which are used and why. Startup only
/// (blocking, before the gateway loop).
pub fn account_rate_limits(
    ws: &mut WsClient,
    configured: RateLimits,
    currency: &str,
) -> RateLimits {
    let mut enc = Encoder::new();
    let id = 90;
    let f = enc.get_account_summary(id, currency).to_string();
    let got = rpc_blocking(ws, &f, id, Duration::from_secs(10), |_| {})
        .and_then(|r| configured.from_account_summary_reply(&r));
    match got {
        Ok(l) => {
            log::info!("rate limits from private/get_account_summary ({currency}): {l}");
            l
        }
        Err(e) => {
            log::info!("rate limits: account summary unavailable ({e}); using {configured}");
            configured
        }
    }
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
    /// Token refreshes (done, refused) of earlier logins of this session.
    refresh_base: (u64, u64),
    /// Dry run: [`Self::reconcile`] changes nothing at the venue and reports nothing but
    /// `Connected` (no order of this run is at the venue).
    pub dry_run: bool,
    /// A `13009`/`10000` asked for a fresh login (sent by [`Self::refresh_request`]).
    reauth_due: bool,
    /// Earliest time of the next re-authentication (ns): at most one a second.
    reauth_after_ns: u64,
    quoter: Option<MassQuoter>,
    mmp: Option<MmpGuard>,
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
            dry_run: false,
            reauth_due: false,
            reauth_after_ns: 0,
            quoter: None,
            mmp: None,
            journal: None,
            refresh_base: (0, 0),
            stats: GatewayStats::default(),
        }
    }

    /// Applies the quoting options: mass-quote mode ([`crate::deribit::mass_quote`]) and/or
    /// MMP handling ([`crate::deribit::mmp`]; in orders mode every order then carries
    /// `mmp: true`).
    pub fn with_quoting(mut self, q: &QuotingOpts) -> Self {
        if let Some(m) = &q.mass_quote {
            self.quoter = Some(MassQuoter::new(m.clone(), self.table.clone()));
        }
        if let Some(m) = &q.mmp {
            if q.mass_quote.is_none() {
                self.enc.set_mmp_orders(true);
            }
            self.mmp = Some(MmpGuard::new(m.clone(), &self.table));
        }
        self
    }

    /// The next frame of this loop turn's batched work, or `None`: the queued intents as
    /// `private/mass_quote` requests (mass-quote mode), then a due `private/reset_mmp`.
    /// Call after the turn's intents went through [`Self::request`]; `now` = monotonic ns.
    pub fn next_frame(&mut self, now: u64, budget: Option<&mut CreditBudget>) -> Option<&str> {
        let id = self.next_id;
        let mut sent = false;
        if let Some(q) = self.quoter.as_mut() {
            // One message of the mass-quote bucket per request; while it is empty the turn's
            // quotes stay batched (and later intents of the same slots join them).
            let mut budget = budget;
            let paid = budget
                .as_deref_mut()
                .is_none_or(|b| b.can_take(Class::MassQuote, now));
            if paid && q.next_frame(&mut self.enc, id).is_some() {
                if let Some(b) = budget {
                    b.try_take(Class::MassQuote, now);
                }
                self.stats.mass_quotes_sent = q.stats.mass_quotes_sent;
                sent = true;
            }
        }
        if !sent {
            if let Some(m) = self.mmp.as_mut() {
                sent = m.due_reset(now, &mut self.enc, id).is_some();
            }
        }
        if !sent {
            return None;
        }
        self.next_id += 1;
        self.stats.requests += 1;
        Some(self.enc.last_frame())
    }

    /// Gives the session the connection's login state, so that it refreshes the token before
    /// expiry ([`Self::refresh_request`]).
    pub fn with_auth(mut self, auth: AuthState) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The `public/auth` frame to send now (monotonic `now_ns`): a fresh login after
    /// `13009 unauthorized` / `10000 authorization_required` (at most one a second), else the
    /// `refresh_token` frame if the token is due for refresh. Contains a secret or the
    /// refresh token: never log it.
    pub fn refresh_request(&mut self, now_ns: u64) -> Option<&str> {
        let auth = self.auth.as_mut()?;
        if self.reauth_due && auth.pending_refresh().is_none() && now_ns >= self.reauth_after_ns {
            self.reauth_due = false;
            self.reauth_after_ns = now_ns.saturating_add(1_000_000_000);
            self.stats.reauths += 1;
            let id = self.next_id;
            self.next_id += 1;
            log::warn!("gateway: unauthorized: logging in again on the same connection");
            return Some(auth.relogin_frame(&mut self.enc, id));
        }
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
        if let Some(q) = self.quoter.as_mut() {
            // Mass-quote mode: quotes are queued for `next_frame` (an empty frame here).
            if MassQuoter::takes(it) && !self.venue_ids.contains_key(&it.client_id) {
                return match q.queue(it, t) {
                    Some(ev) => Err(ev),
                    None => Ok(""),
                };
            }
        }
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
            IntentKind::CancelAll if self.quoter.is_some() => {
                Some(self.enc.cancel_quotes(id, "all", None, false))
            }
            IntentKind::CancelAll => Some(self.enc.cancel_all(id)),
        };
        let Some(frame) = frame else {
            return Err(ExecEvent::rejection_of(it, 10004, -1, t));
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

    /// Sets the trade id reconciliation resumes from in base currency `currency` (a fill
    /// journal's last trade id on start; otherwise learned from the fills seen).
    pub fn set_last_trade_id(&mut self, currency: &str, trade_id: &str) {
        self.last_trade_id
            .insert(currency.to_string(), trade_id.to_string());
    }

    /// The base currencies of the table's instruments (sorted, once each): the currencies
    /// whose fills reconciliation reads (the key of [`Self::last_trade_id`]).
    pub fn currencies(&self) -> Vec<String> {
        let mut c: Vec<String> = self.table.iter().map(|i| i.base_currency.clone()).collect();
        c.sort();
        c.dedup();
        c
    }

    /// The base and settlement currencies of the table's instruments (sorted, once each):
    /// what reconciliation asks for open orders and positions, so that linear instruments
    /// (`BTC_USDC-PERPETUAL`: base BTC, listed under USDC) are found as well as inverse ones.
    pub fn order_currencies(&self) -> Vec<String> {
        let mut c: Vec<String> = self
            .table
            .iter()
            .flat_map(|i| [i.base_currency.clone(), i.settlement_currency.clone()])
            .filter(|c| !c.is_empty())
            .collect();
        c.sort();
        c.dedup();
        c
    }

    /// Whether order `client_id` is open as far as this session knows: a request about it is
    /// in flight, or the venue acknowledged it and has not reported it filled or cancelled
    /// (mass-quote mode: it holds a quote slot). Cold path (pruning, O(in-flight)).
    pub fn is_open(&self, client_id: ClientId) -> bool {
        self.venue_ids.contains_key(&client_id)
            || self.pending.values().any(|p| p.client_id == client_id)
            || self.quoter.as_ref().is_some_and(|q| q.holds(client_id))
    }

    /// The connection was lost: forget what was in flight on it and the venue ids of its
    /// orders (cancel-on-disconnect cancelled them; reconciliation cancels any left), and the
    /// old login.
    pub fn forget_connection(&mut self) {
        self.pending.clear();
        self.venue_ids.clear();
        if let Some(q) = self.quoter.as_mut() {
            q.forget_connection();
        }
        self.answer_test = false;
        if let Some(a) = self.auth.take() {
            // Keep the counts of the old login (the next one counts from 0).
            self.refresh_base.0 += a.refreshes;
            self.refresh_base.1 += a.refresh_errors;
        }
    }

    /// Opens an order session on a freshly connected socket and makes it trustworthy:
    /// [`login`] (`public/auth`, `public/set_heartbeat`), `private/enable_cancel_on_disconnect`,
    /// `private/subscribe` `user.orders.any.any.raw` + `user.trades.any.any.raw`, then
    /// [`Self::reconcile`]. The events to hand to the engine, in order (missed fills,
    /// positions, `Connected`), are appended to `out`.
    ///
    /// This is "connect + login + subscribe + reconcile" as one step: [`run_gateway`] runs
    /// it after every reconnect; a start-up reconciliation (e.g. with a fill journal:
    /// [`Self::set_last_trade_id`] first) can run it on the first connection too.
    ///
    /// # Errors
    /// Any failed step, naming it and the venue's error; the socket should then be closed
    /// and the attempt retried.
    pub fn resume(
        &mut self,
        ws: &mut WsClient,
        opts: &SessionOpts,
        clock: fn() -> u64,
        out: &mut Vec<ExecEvent>,
    ) -> Result<ReconcileStats, String> {
        let t = Duration::from_secs(10);
        let id = self.bump();
        self.bump();
        let auth = login(ws, &mut self.enc, id, opts, clock)?;
        self.auth = Some(auth);
        let id = self.bump();
        let f = self.enc.enable_cancel_on_disconnect(id).to_string();
        rpc_blocking(ws, &f, id, t, |_| {})
            .map_err(|e| format!("private/enable_cancel_on_disconnect: {e}"))?;
        let id = self.bump();
        let f = self
            .enc
            .subscribe(
                id,
                &["user.orders.any.any.raw", "user.trades.any.any.raw"],
                true,
            )
            .to_string();
        rpc_blocking(ws, &f, id, t, |_| {}).map_err(|e| format!("private/subscribe: {e}"))?;
        if let Some(m) = self.mmp.as_mut() {
            // The trigger subscription died with the connection; configuring again also
            // resets MMP at the venue, so frozen indexes thaw.
            crate::deribit::mmp::configure(ws, m.opts(), &self.table)?;
            m.on_reconfigured(clock(), out);
        }
        self.reconcile(ws, clock, out)
    }

    /// Reconciles with the venue over an authenticated order socket (dossier §5.5), after the
    /// engine forgot every order (`ExecKind::Disconnected`) or on start:
    /// 1. open orders of ours (label `mmf-…`) on the venue are orphans — the engine knows no
    ///    order at this point — and are cancelled (`private/cancel`);
    /// 2. fills since [`Self::last_trade_id`] (`private/get_user_trades_by_currency`) go
    ///    through [`Self::on_trades`] (deduplicated by trade id): the ones missed while down
    ///    become `Fill` events;
    /// 3. `private/get_positions` → one `ExecKind::Position` per instrument of the table
    ///    (`qty` = signed lots; 0 when the venue lists none);
    /// 4. `ExecKind::Connected`: the engine may quote again.
    ///
    /// With [`Self::dry_run`] only step 4 runs (a dry run sends nothing to the venue).
    ///
    /// Open orders and positions are asked for each of [`Self::order_currencies`], fills for
    /// each of [`Self::currencies`]. Orphans are cancelled before the fills are read, so a fill of an orphan is still
    /// picked up; positions are read last, after the fills they include. With no trade id
    /// known for a currency the whole fill history of the account is read: on an account
    /// with history, give the start with [`Self::set_last_trade_id`].
    ///
    /// # Errors
    /// A failed query or cancel (other than "not open any more"), naming it.
    pub fn reconcile(
        &mut self,
        ws: &mut WsClient,
        clock: fn() -> u64,
        out: &mut Vec<ExecEvent>,
    ) -> Result<ReconcileStats, String> {
        let mut rs = ReconcileStats::default();
        if self.dry_run {
            // Nothing of this run is at the venue: cancel nothing, book nothing.
            out.push(ExecEvent {
                t_recv: clock(),
                kind: ExecKind::Connected,
                instrument: u32::MAX,
                ..Default::default()
            });
            return Ok(rs);
        }
        let currencies = self.currencies();
        let order_currencies = self.order_currencies();
        // 1. Orphans (an order listed under two currencies is cancelled once).
        let mut seen_orders: HashSet<String> = HashSet::new();
        for cur in &order_currencies {
            let orders = fetch_open_orders(ws, &mut self.enc, &mut self.next_id, cur)?;
            for o in orders
                .iter()
                .filter(|o| parse_label(&o.label).is_some())
                .filter(|o| seen_orders.insert(o.order_id.clone()))
            {
                let id = self.bump();
                let f = self.enc.cancel(id, &o.order_id).to_string();
                match rpc_blocking(ws, &f, id, Duration::from_secs(10), |_| {}) {
                    Ok(_) => rs.orphans_cancelled += 1,
                    Err(e)
                        if NOT_OPEN_CODES
                            .iter()
                            .any(|c| e.contains(&format!("error {c}:"))) =>
                    {
                        rs.orphans_gone += 1
                    }
                    Err(e) => return Err(format!("private/cancel orphan {}: {e}", o.order_id)),
                }
                log::warn!(
                    "gateway: orphan order {} ({} {:?} {} @ {}) cancelled",
                    o.label,
                    o.instrument,
                    o.side,
                    o.amount,
                    o.price
                );
            }
        }
        // 2. Missed fills.
        for cur in &currencies {
            let start = self.last_trade_id(cur).map(str::to_string);
            let mut pages: Vec<Vec<u8>> = Vec::new();
            fetch_trades_since(
                ws,
                &mut self.enc,
                &mut self.next_id,
                cur,
                start.as_deref(),
                |raw| pages.push(raw.to_vec()),
            )?;
            let t = clock();
            for p in &pages {
                let before = out.len();
                self.on_trades(TradesView::new(p), t, out);
                rs.missed_fills += (out.len() - before) as u64;
            }
        }
        // 3. Positions: every instrument of the table once; 0 when no answer lists it.
        let mut pos = Vec::new();
        for cur in &order_currencies {
            pos.extend(fetch_positions(ws, &mut self.enc, &mut self.next_id, cur)?);
        }
        {
            let t = clock();
            for inst in self.table.iter() {
                let size = pos
                    .iter()
                    .find(|p| p.instrument == inst.name)
                    .map_or(0.0, |p| p.size);
                let lots = mm_core::decimal::Dec::from_f64(size.abs(), 12)
                    .and_then(|d| inst.lots_round(d))
                    .ok_or_else(|| {
                        format!(
                            "get_positions: size {size} of {} is not a number",
                            inst.name
                        )
                    })?;
                out.push(ExecEvent {
                    t_recv: t,
                    instrument: inst.id,
                    kind: ExecKind::Position,
                    qty: if size < 0.0 { -lots } else { lots },
                    ..Default::default()
                });
                rs.positions += 1;
            }
        }
        // 4. Trusted again.
        out.push(ExecEvent {
            t_recv: clock(),
            kind: ExecKind::Connected,
            instrument: u32::MAX,
            ..Default::default()
        });
        self.stats.orphans_cancelled += rs.orphans_cancelled;
        self.stats.missed_fills += rs.missed_fills;
        Ok(rs)
    }

    /// For every currency of [`Self::currencies`] without a last trade id (no fill journal
    /// gave one), takes the account's newest trade as seen
    /// ([`crate::deribit::reconcile::fetch_newest_trade_id`]): reconciliation after a
    /// reconnect then reads only fills newer than the start of this run, never an earlier
    /// run's (whose `mmf-…` labels would otherwise be booked as fills). Blocking; call on
    /// the order socket before trading.
    ///
    /// # Errors
    /// A failed query, naming it.
    pub fn start_at_newest_trades(&mut self, ws: &mut WsClient) -> Result<(), String> {
        for cur in self.currencies() {
            if self.last_trade_id(&cur).is_some() {
                continue;
            }
            let newest =
                crate::deribit::reconcile::fetch_newest_trade_id(ws, &mut self.next_id, &cur)?;
            if let Some(id) = newest {
                self.seed_trade(&cur, &id);
            }
        }
        Ok(())
    }

    fn bump(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
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
            let quote_cid = || self.quoter.as_ref().and_then(|q| q.trade_cid(&t, inst_id));
            let Some(cid) = parse_label(t.label).or_else(quote_cid) else {
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
                    self.stats.refreshes = self.refresh_base.0 + auth.refreshes;
                    self.stats.refresh_errors = self.refresh_base.1 + auth.refresh_errors;
                    return;
                }
            }
        }
        if self.on_quoting_frame(frame, t_recv, out) {
            return;
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
                let action = errors::gateway_action(code);
                match action {
                    GatewayAction::RateLimited => stats.rate_limit_errors += 1,
                    GatewayAction::Reauthenticate => self.reauth_due = true,
                    GatewayAction::LogUnknown => {
                        stats.unknown_errors += 1;
                        log::warn!(
                            "gateway: unknown venue error {code} {message:?} (request {id})"
                        );
                    }
                    _ => {}
                }
                let Some(p) = pending.remove(&id) else {
                    log::warn!("gateway: error {code} {message} for unknown request {id}");
                    return;
                };
                log::debug!(
                    "gateway: {:?} of order {} rejected: {code} {message}",
                    p.kind,
                    p.client_id
                );
                let qty = if action == GatewayAction::Terminal || NOT_OPEN_CODES.contains(&code) {
                    -1
                } else {
                    0
                };
                let price = match action {
                    GatewayAction::ParseLimit if p.kind != IntentKind::CancelAll => {
                        let inst =
                            table.get(p.instrument.min(table.len().saturating_sub(1) as u32));
                        errors::band_limit_ticks(code, message, inst).unwrap_or(0)
                    }
                    _ => 0,
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
                    price,
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

impl OrderSession {
    /// Mass-quote and MMP frames (replies to our mass quotes and `reset_mmp`, quote order
    /// notifications, `user.mmp_trigger`); returns whether the frame was handled here.
    fn on_quoting_frame(&mut self, frame: &[u8], t_recv: u64, out: &mut Vec<ExecEvent>) -> bool {
        if self.quoter.is_none() && self.mmp.is_none() {
            return false;
        }
        let Ok(msg) = decode_private(frame) else {
            return false;
        };
        let handled = match msg {
            PrivateMsg::RpcOk {
                id,
                result: RpcResult::MassQuote { orders, errors, .. },
            } => match self.quoter.as_mut() {
                Some(q) if q.is_pending(id) => {
                    q.on_reply(id, orders, errors, t_recv, out);
                    true
                }
                _ => false,
            },
            PrivateMsg::RpcOk { id, result } => match self.mmp.as_mut() {
                Some(m) => m.on_reply(id, result == RpcResult::Ok, t_recv, out),
                None => false,
            },
            PrivateMsg::RpcErr { id, code, message } => {
                let q = self
                    .quoter
                    .as_mut()
                    .is_some_and(|q| q.on_error(id, code, t_recv, out));
                let m = !q
                    && self
                        .mmp
                        .as_mut()
                        .is_some_and(|m| m.on_reply(id, false, t_recv, out));
                if q || m {
                    self.stats.errors += 1;
                    *self.stats.error_codes.entry(code).or_default() += 1;
                    log::debug!("gateway: quoting request {id} refused: {code} {message}");
                }
                q || m
            }
            PrivateMsg::Orders(o) if !o.quote_id.is_empty() && o.label.is_empty() => {
                match self.quoter.as_mut() {
                    Some(q) => {
                        q.on_order(&o, t_recv, out);
                        true
                    }
                    None => false,
                }
            }
            PrivateMsg::MmpTrigger {
                index_name,
                mmp_group,
                frozen_until_ms,
            } => {
                if let Some(m) = self.mmp.as_mut() {
                    m.on_trigger(index_name, mmp_group, frozen_until_ms, t_recv, out);
                }
                true
            }
            _ => false,
        };
        if let Some(q) = &self.quoter {
            self.stats.quote_errors = q.stats.quote_errors;
        }
        if let Some(m) = &self.mmp {
            self.stats.mmp_triggers = m.triggers;
            self.stats.mmp_resets = m.resets;
        }
        handled
    }
}

/// Quoting options of the order session: `--quote-mode mass-quote` and `--mmp*`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuotingOpts {
    /// Mass-quote mode (`None` = one order per quote, `private/buy|sell|edit|cancel`).
    pub mass_quote: Option<MassQuoteOpts>,
    /// MMP handling (required with mass quotes).
    pub mmp: Option<MmpOpts>,
}

/// Where the gateway delivers execution reports: the exec ring in the threaded topology
/// ([`RingExec`]), or straight into the engine when one thread reads, decides and writes
/// (`--topology inline`, `mm-tools`' `inline` module). Reports must never be dropped.
pub trait ExecSink {
    /// Delivers one report.
    fn push(&mut self, ev: ExecEvent);
}

/// [`ExecSink`] over the exec ring: waits for room when it is full (the ring is sized far
/// above the number of live orders; a report is never dropped).
pub struct RingExec<'a>(pub &'a mut Producer<ExecEvent>);

impl ExecSink for RingExec<'_> {
    #[inline]
    fn push(&mut self, ev: ExecEvent) {
        push_exec(self.0, ev);
    }
}

/// Pushes a report, waiting for room: the exec ring is sized far above the number of live
/// orders; never drop a report.
fn push_exec(exec_tx: &mut Producer<ExecEvent>, ev: ExecEvent) {
    let mut e = ev;
    loop {
        match exec_tx.push(e) {
            Ok(()) => return,
            Err(back) => {
                e = back;
                std::thread::yield_now();
            }
        }
    }
}

/// Answers every queued intent with `Rejected` [`NOT_CONNECTED`] (`qty` −1: the order does
/// not exist at the venue) while the connection is down; returns how many.
pub fn reject_while_down(
    intents: &mut Consumer<OrderIntent>,
    exec_tx: &mut Producer<ExecEvent>,
    clock: fn() -> u64,
) -> u64 {
    reject_into(intents, &mut RingExec(exec_tx), clock)
}

/// [`reject_while_down`] into any [`ExecSink`].
fn reject_into<X: ExecSink>(
    intents: &mut Consumer<OrderIntent>,
    exec: &mut X,
    clock: fn() -> u64,
) -> u64 {
    let mut n = 0;
    while let Some(it) = intents.pop() {
        n += 1;
        exec.push(ExecEvent::rejection_of(&it, NOT_CONNECTED, -1, clock()));
    }
    n
}

pub use crate::deribit::backoff::LinkPoll;

/// The order connection as a pollable state machine (see [`run_gateway`] for what it does):
/// connected (intents → wire through the credit budget, wire → exec reports, heartbeats,
/// token refresh) or down (every intent answered [`NOT_CONNECTED`], the next full-jitter
/// reconnect attempt pending). [`run_gateway`] polls it on the gateway thread; the
/// `--topology inline` engine thread polls it between its other work. A reconnect attempt
/// ([`OrderSession::resume`]: login, cancel-on-disconnect, subscribe, reconcile) blocks the
/// polling thread for its duration.
pub struct GatewayLink {
    ws: WsClient,
    rc: ReconnectOpts,
    opts: SessionOpts,
    table: Arc<InstrumentTable>,
    session: OrderSession,
    throttle: Throttle,
    // Dry run: the orders acknowledged locally, so a cancel-all can cancel each of them (as
    // the venue's `user.orders` notifications do live).
    dry_live: HashMap<ClientId, (InstrumentId, Side)>,
    dry_run: bool,
    backoff: Backoff,
    state: LinkState,
    connections: u64,
    out: Vec<ExecEvent>,
    dropped: Vec<ExecEvent>,
    // The turn's order frames queued for one write, with their pop times.
    queued: Vec<(OrderIntent, u64)>,
    silence: Option<u64>,
    last_frame: u64,
    journal_errors: u64,
    clock: fn() -> u64,
}

impl GatewayLink {
    /// A link over `ws`, an open session ([`open_session`], whose login state is `auth`).
    /// `rate`: the credit budget (`None` = off); `journal`: the fill journal, if any. Unless
    /// `dry_run`, fills are read from the venue's newest trade on
    /// ([`OrderSession::start_at_newest_trades`]).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        mut ws: WsClient,
        rc: &ReconnectOpts,
        opts: &SessionOpts,
        table: Arc<InstrumentTable>,
        auth: Option<AuthState>,
        journal: Option<FillJournal>,
        dry_run: bool,
        rate: Option<RateLimits>,
        quoting: &QuotingOpts,
        clock: fn() -> u64,
    ) -> GatewayLink {
        let mut session = OrderSession::new(table.clone()).with_quoting(quoting);
        session.dry_run = dry_run;
        let throttle = Throttle::new(rate).with_mass_quotes(quoting.mass_quote.is_some());
        if let Some(l) = rate {
            log::info!("gateway: credit budget {l}");
        } else {
            log::warn!(
                "gateway: credit budget off (--rate-budget off): the venue's limit may be hit"
            );
        }
        if let Some(a) = auth {
            session = session.with_auth(a);
        }
        if let Some(j) = journal {
            session = session.with_journal(j);
        }
        if !dry_run {
            if let Err(e) = session.start_at_newest_trades(&mut ws) {
                log::error!("gateway: {e}: a reconciliation may read fills older than this run");
            }
        }
        let journal_errors = session.stats.journal_errors;
        GatewayLink {
            ws,
            rc: rc.clone(),
            opts: opts.clone(),
            table,
            session,
            throttle,
            dry_live: HashMap::new(),
            dry_run,
            backoff: Backoff::new(BackoffPolicy {
                seed: rc.policy.seed ^ 0x6777,
                ..rc.policy.clone()
            }),
            state: LinkState::default(),
            connections: 1,
            out: Vec::with_capacity(1024),
            dropped: Vec::with_capacity(Throttle::CAPACITY),
            queued: Vec::with_capacity(WRITE_BATCH),
            silence: silence_limit(opts.heartbeat_s).map(|d| d.as_nanos() as u64),
            last_frame: clock(),
            journal_errors,
            clock,
        }
    }

    /// One turn: while connected, write the intents waiting in `intents` (as far as the
    /// credit budget allows), read every reply and notification available now into `exec`,
    /// and do the connection's chores; while down, answer every intent [`NOT_CONNECTED`] and
    /// attempt a reconnect when it is due. When the connection is lost, one
    /// `ExecKind::Disconnected` goes to `exec` (the engine forgets its orders:
    /// cancel-on-disconnect); after a reconnect the reconciliation's events (missed fills,
    /// positions, `Connected`) follow.
    pub fn poll<X: ExecSink>(
        &mut self,
        intents: &mut Consumer<OrderIntent>,
        exec: &mut X,
        tel_tx: &mut Producer<Telemetry>,
        stop: &AtomicBool,
    ) -> LinkPoll {
        if self.state.is_ended() {
            return LinkPoll::Ended;
        }
        if stop.load(Ordering::Relaxed) {
            self.end();
            return LinkPoll::Ended;
        }
        if self.state.is_down() {
            self.session.stats.rejected_while_down += reject_into(intents, exec, self.clock);
            return self.try_reconnect(exec);
        }
        match self.serve(intents, exec, tel_tx) {
            Ok(true) => LinkPoll::Work,
            Ok(false) => LinkPoll::Idle,
            Err(why) => {
                log::warn!("gateway: connection lost: {why}");
                self.ws.close();
                self.session.stats.disconnected = true;
                self.throttle.on_disconnect();
                exec.push(ExecEvent {
                    t_recv: (self.clock)(),
                    kind: ExecKind::Disconnected,
                    instrument: u32::MAX,
                    ..Default::default()
                });
                self.session.forget_connection();
                self.dry_live.clear();
                self.session.stats.rejected_while_down += reject_into(intents, exec, self.clock);
                self.state.lose(&mut self.backoff, "gateway")
            }
        }
    }

    /// Blocks in the socket's `epoll` until it is readable, rung (its `mio::Waker`,
    /// [`Self::waker`]) or `timeout` passed; while down, sleeps until the next attempt is
    /// due (at most `timeout`).
    pub fn wait(&mut self, timeout: Duration) {
        self.state.wait(&mut self.ws, timeout);
    }

    /// The connection, while connected (for [`mm_io::wait_any`]).
    pub fn connection(&self) -> Option<&WsClient> {
        self.state.is_up().then_some(&self.ws)
    }

    /// Counts the connections opened so far (1 + successful reconnects): a change means a
    /// new socket (whose `mio::Waker` must be bound again).
    pub fn connections(&self) -> u64 {
        self.connections
    }

    /// True when intents wait in the send queue for credits (the link must be polled again
    /// soon even if nothing else happens).
    pub fn has_queued(&self) -> bool {
        !self.throttle.is_empty()
    }

    /// True once the link ended ([`LinkPoll::Ended`]).
    pub fn is_ended(&self) -> bool {
        self.state.is_ended()
    }

    /// Closes the link (if not yet) and returns its counters.
    pub fn finish(mut self) -> GatewayStats {
        self.end();
        let mut st = self.session.stats;
        st.rate_deferred = self.throttle.deferred;
        st.rate_max_wait_ns = self.throttle.max_wait_ns;
        st.rate_dropped = self.throttle.dropped;
        st
    }

    fn end(&mut self) {
        if self.state.is_up() {
            self.ws.close();
        }
        self.state.end();
    }

    /// While down: makes the reconnect attempt when due ([`OrderSession::resume`]); its
    /// events go to `exec`.
    fn try_reconnect<X: ExecSink>(&mut self, exec: &mut X) -> LinkPoll {
        let (session, opts, out, clock) =
            (&mut self.session, &self.opts, &mut self.out, self.clock);
        let mut setup = |w: &mut WsClient| {
            out.clear();
            session.resume(w, opts, clock, out)
        };
        let (w, rs, since) =
            match self
                .state
                .reconnect(&self.rc, &mut self.backoff, "gateway", &mut setup)
            {
                Ok(up) => up,
                Err(p) => return p,
            };
        self.ws = w;
        log::info!(
            "gateway: reconciled: {} orphan orders cancelled ({} already gone), {} missed fills, {} positions",
            rs.orphans_cancelled,
            rs.orphans_gone,
            rs.missed_fills,
            rs.positions
        );
        for ev in self.out.drain(..) {
            exec.push(ev);
        }
        self.connections += 1;
        self.last_frame = clock();
        self.session.stats.reconnects += 1;
        self.session.stats.down_ns += since.elapsed().as_nanos() as u64;
        LinkPoll::Work
    }

    /// One turn on the live connection: `Ok(work done)`, `Err` = lost (why).
    fn serve<X: ExecSink>(
        &mut self,
        intents: &mut Consumer<OrderIntent>,
        exec: &mut X,
        tel_tx: &mut Producer<Telemetry>,
    ) -> Result<bool, String> {
        let GatewayLink {
            ws,
            session,
            throttle,
            dry_live,
            dry_run,
            table,
            out,
            dropped,
            queued,
            silence,
            last_frame,
            journal_errors,
            clock,
            opts,
            ..
        } = self;
        let (dry_run, clock, silence, heartbeat_s) = (*dry_run, *clock, *silence, opts.heartbeat_s);
        let mut work = false;
        // 1. Intents → wire, paid from the credit budget (throttle.rs: cancels first).
        loop {
            let it = if dry_run {
                intents.pop()
            } else {
                let it = throttle.pull(intents, clock(), dropped);
                for ev in dropped.drain(..) {
                    exec.push(ev);
                }
                it
            };
            let Some(it) = it else { break };
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
                exec.push(ExecEvent {
                    t_recv: t_pop,
                    client_id: it.client_id,
                    price: it.price,
                    qty: it.qty,
                    leaves: it.qty,
                    instrument: it.instrument,
                    kind,
                    side: it.side,
                    ..Default::default()
                });
                match it.kind {
                    IntentKind::New => {
                        dry_live.insert(it.client_id, (it.instrument, it.side));
                    }
                    IntentKind::Cancel => {
                        dry_live.remove(&it.client_id);
                    }
                    IntentKind::CancelAll => {
                        for (cid, (instrument, side)) in dry_live.drain() {
                            exec.push(ExecEvent {
                                t_recv: t_pop,
                                client_id: cid,
                                instrument,
                                kind: ExecKind::Cancelled,
                                side,
                                ..Default::default()
                            });
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
                    exec.push(ev);
                    continue;
                }
                // Mass-quote mode: queued, written below.
                Ok("") => continue,
                Ok(frame) => {
                    if let Err(e) = ws.queue_text(frame) {
                        return Err(format!("send: {e}"));
                    }
                }
            }
            queued.push((it, t_pop));
            if queued.len() >= WRITE_BATCH {
                write_queued(ws, queued, tel_tx, clock)?;
            }
        }
        write_queued(ws, queued, tel_tx, clock)?;
        // 1b. The turn's batched work (mass quotes, MMP resets).
        while let Some(f) = session.next_frame(clock(), throttle.budget()) {
            work = true;
            if let Err(e) = ws.send_text(f) {
                return Err(format!("send: {e}"));
            }
        }
        // 2. Wire → exec events.
        out.clear();
        let read = ws.read_frames(|frame| session.on_frame(frame, clock(), out));
        if session.stats.journal_errors > *journal_errors {
            *journal_errors = session.stats.journal_errors;
            let _ = tel_tx.push(Telemetry {
                t: clock(),
                kind: TelKind::JournalError,
                a: *journal_errors as i64,
                ..Default::default()
            });
        }
        // Reports read before a loss are delivered first.
        for ev in out.drain(..) {
            exec.push(ev);
        }
        throttle.prune_resting(|cid| session.is_open(cid));
        match read {
            Ok(n) if n > 0 => {
                work = true;
                *last_frame = clock();
            }
            Ok(_) => {
                if silence.is_some_and(|s| clock().saturating_sub(*last_frame) > s) {
                    return Err(format!(
                        "no frame for {:.1} s (heartbeat interval {heartbeat_s} s)",
                        clock().saturating_sub(*last_frame) as f64 / 1e9
                    ));
                }
            }
            Err(e) => return Err(format!("{e}")),
        }
        if let Some(f) = session.test_answer() {
            let _ = ws.send_text(f);
            if let Some(b) = throttle.budget() {
                b.take_anyway(Class::NonMatching, clock());
            }
        }
        if let Some(f) = session.refresh_request(clock()) {
            let _ = ws.send_text(f);
            if let Some(b) = throttle.budget() {
                b.take_anyway(Class::NonMatching, clock());
            }
        }
        let _ = ws.flush();
        Ok(work)
    }
}

/// The gateway loop. Runs until `stop` is set, or the connection is lost and reconnecting
/// has been given up (`rc.policy.give_up_after`, `--reconnect-max-secs`). With `dry_run`, no
/// order request is written: intents are acknowledged locally (decide and log, send
/// nothing).
///
/// `ws` must be an open session ([`open_session`], whose login state is `auth`). When the
/// connection is lost (read error or close — e.g. after a `10028` — a failed write, or no
/// frame for [`silence_limit`] of the heartbeat interval): `ExecKind::Disconnected` (the
/// engine forgets its orders: cancel-on-disconnect), then while down every intent is
/// answered with [`NOT_CONNECTED`] ([`reject_while_down`]), and full-jitter backoff retries
/// until [`OrderSession::resume`] (login, cancel-on-disconnect, subscribe, reconcile)
/// succeeds; its events (missed fills, positions, `Connected`) then go to the engine. The
/// loop polls a [`GatewayLink`].
///
/// `rate`: the credit budget every order request is paid from (dossier §8; what cannot be
/// paid waits in a [`Throttle`] queue, cancels first); `None` = budget off. The budget lives
/// across reconnects (Deribit's buckets are per account): a fresh one after a `10028` would
/// overspend.
///
/// With a fill `journal`, each fill of ours is appended to it before it is pushed to the exec
/// ring ([`OrderSession::with_journal`]), including fills recovered by reconciliation; a
/// failed write is reported as `TelKind::JournalError`.
#[allow(clippy::too_many_arguments)]
pub fn run_gateway(
    ws: WsClient,
    rc: &ReconnectOpts,
    opts: &SessionOpts,
    table: Arc<InstrumentTable>,
    auth: Option<AuthState>,
    journal: Option<FillJournal>,
    intents: &mut Consumer<OrderIntent>,
    exec_tx: &mut Producer<ExecEvent>,
    tel_tx: &mut Producer<Telemetry>,
    stop: &AtomicBool,
    idle: Idle,
    bells: GatewayBells<'_>,
    dry_run: bool,
    rate: Option<RateLimits>,
    quoting: &QuotingOpts,
    clock: fn() -> u64,
) -> GatewayStats {
    let mut link = GatewayLink::new(
        ws, rc, opts, table, auth, journal, dry_run, rate, quoting, clock,
    );
    let mut bound = 0;
    let mut waiter = IdleWaiter::new(idle);
    let mut exec = RingExec(exec_tx);
    loop {
        if link.connections() != bound {
            bound = link.connections();
            if let Some(ws) = link.connection() {
                bind_waker(bells.intents, ws);
            }
        }
        match link.poll(intents, &mut exec, tel_tx, stop) {
            LinkPoll::Ended => break,
            LinkPoll::Work => {
                bells.exec.ring();
                waiter.reset();
            }
            LinkPoll::Down => {
                bells.exec.ring();
                link.wait(Duration::from_millis(5));
            }
            LinkPoll::Idle => {
                if waiter.should_sleep_after(mm_io::thread::WAKE_SOCKET_SPINS) && !link.has_queued()
                {
                    // `--idle wake`: announce the sleep, re-check the ring, block in the
                    // socket's poll until readable, rung, or the longest sleep (timers, stop)
                    // passed.
                    bells.intents.arm();
                    if intents.is_empty() && !stop.load(Ordering::Acquire) {
                        link.wait(mm_io::thread::WAKE_MAX_SLEEP);
                    }
                    bells.intents.disarm();
                } else if waiter.should_sleep_after(mm_io::thread::WAKE_SOCKET_SPINS) {
                    // Intents held back by the credit budget: poll, yielding the CPU.
                    std::thread::yield_now();
                } else {
                    waiter.idle();
                }
            }
        }
    }
    link.finish()
}

/// The gateway's doorbells (`--idle wake`, [`mm_io::Doorbell`]; disabled otherwise).
#[derive(Clone, Copy)]
pub struct GatewayBells<'a> {
    /// Its own, rung by the hot thread after pushing an intent (and by the stopper): the
    /// gateway binds each connection's `mio::Waker` to it and sleeps in that `Poll`.
    pub intents: &'a Doorbell,
    /// The hot thread's, rung after pushing exec reports.
    pub exec: &'a Doorbell,
}

/// Binds `ws`'s waker to `bell` (when enabled); on failure the gateway still wakes every
/// [`mm_io::thread::WAKE_MAX_SLEEP`].
fn bind_waker(bell: &Doorbell, ws: &WsClient) {
    if !bell.is_enabled() {
        return;
    }
    match ws.waker() {
        Ok(w) => bell.set_waker(Some(w)),
        Err(e) => {
            log::warn!("gateway: no waker ({e}): polling every ms");
            bell.set_waker(None);
        }
    }
}

/// At most this many order frames leave in one `write` (the rest of a turn's intents in
/// the next ones): a large requote (many strikes) does not hold its first order back while
/// the others are encoded.
pub const WRITE_BATCH: usize = 16;

/// Writes the order frames queued this turn ([`WsClient::queue_text`]) in one `write`
/// system call instead of one each, then stamps each intent's `encode_write` and
/// `tick_to_wire` (and a cancel's write time) with the moment they left. Clears `queued`.
fn write_queued(
    ws: &mut WsClient,
    queued: &mut Vec<(OrderIntent, u64)>,
    tel_tx: &mut Producer<Telemetry>,
    clock: fn() -> u64,
) -> Result<(), String> {
    if queued.is_empty() {
        return Ok(());
    }
    ws.flush().map_err(|e| format!("send: {e}"))?;
    let t_wire = clock();
    for (it, t_pop) in queued.drain(..) {
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
    Ok(())
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

use crate::deribit::reconcile::trade_num;
