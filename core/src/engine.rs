//! The hot thread's state and step functions.
//!
//! [`Engine`] owns every piece of mutable trading state (book mirrors, live orders, positions,
//! risk counters). The hot loop calls [`Engine::on_md`] for each market-data event,
//! [`Engine::on_exec`] for each execution report and [`Engine::on_idle`] when both rings are
//! empty; each writes order intents into an [`IntentSink`] and measurements into a
//! [`TelemetrySink`]. No step function allocates, locks, makes a system call or formats text;
//! the clock is a function pointer given at construction (a TSC read in production).
//!
//! Decision flow per instrument after each complete book frame (`BookDone`): trusted? →
//! [`crate::quote::target`] → risk gates ([`crate::risk`]) → per side: new order, amend
//! (`private/edit`) when the target moved by at least the re-quote threshold, cancel when the
//! side must be pulled, or nothing (queue position is worth money). At most one request per
//! order is in flight; the answer triggers a re-evaluation.

use crate::book::{Book, BookView};
use crate::event::{
    intent_flags, ExecEvent, ExecKind, IntentKind, MdEvent, MdKind, OrderIntent, Stage, TelKind,
    Telemetry,
};
use crate::instrument::{Instrument, InstrumentTable, Kind};
use crate::orders::{InFlight, Orders, Status};
use crate::quote::{self, Market, QuoteParams};
use crate::risk::{self, RiskCode};
use crate::types::{ClientId, InstrumentId, Lots, Nanos, Side, Ticks};

/// Where the engine writes order intents (the intent ring's producer, or a test vector).
pub trait IntentSink {
    /// Free slots. The engine never pushes more intents than this reports.
    fn free(&self) -> usize;
    /// Pushes one intent; only called when `free() > 0`.
    fn push(&mut self, intent: OrderIntent);
}

/// Where the engine writes telemetry (the telemetry ring's producer). Implementations may drop
/// records when full, counting them: telemetry never back-pressures trading.
pub trait TelemetrySink {
    /// Pushes one record.
    fn push(&mut self, t: Telemetry);
}

impl IntentSink for Vec<OrderIntent> {
    fn free(&self) -> usize {
        self.capacity() - self.len()
    }
    fn push(&mut self, intent: OrderIntent) {
        Vec::push(self, intent)
    }
}

impl TelemetrySink for Vec<Telemetry> {
    fn push(&mut self, t: Telemetry) {
        if self.len() < self.capacity() {
            Vec::push(self, t)
        }
    }
}

/// Engine settings, in integer units per instrument (built by the control thread from user
/// settings in amounts, bps and USD).
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Spread, minimum spread and skew.
    pub quote: QuoteParams,
    /// Order size per side, per instrument (lots, ≥ 1).
    pub size: Vec<Lots>,
    /// Max absolute position per instrument (lots), in-flight aware.
    pub max_position: Vec<Lots>,
    /// Max total worst-case exposure across instruments, 1e-4 USD (`i64::MAX` = none).
    pub max_exposure_usd_e4: i64,
    /// Minimum move of the target, in ticks, before a resting order is amended (≥ 1).
    pub requote_ticks: Ticks,
    /// Pull every quote when no market data arrived for this long (ns; 0 = off).
    pub stale_ns: Nanos,
    /// Capacity of the live-order pool.
    pub order_capacity: usize,
    /// Book mirror window (ticks) per instrument.
    pub book_window: usize,
}

impl EngineConfig {
    /// The same settings for every instrument of `table`: `size` and `max_position` in lots.
    pub fn uniform(
        table: &InstrumentTable,
        quote: QuoteParams,
        size: Lots,
        max_position: Lots,
    ) -> Self {
        EngineConfig {
            quote,
            size: vec![size.max(1); table.len()],
            max_position: vec![max_position; table.len()],
            max_exposure_usd_e4: i64::MAX,
            requote_ticks: 1,
            stale_ns: 0,
            order_capacity: (table.len() * 8).max(64),
            book_window: 4096,
        }
    }
}

/// Running counts of what the engine did (read by the control thread at the end of a run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Market-data events processed.
    pub md_events: u64,
    /// Complete book frames applied.
    pub book_frames: u64,
    /// Book gaps reported by the decoder.
    pub gaps: u64,
    /// New orders sent.
    pub orders_sent: u64,
    /// Amends sent.
    pub amends: u64,
    /// Single-order cancels sent.
    pub cancels: u64,
    /// Cancel-all requests sent.
    pub cancel_alls: u64,
    /// Venue rejects received.
    pub rejects: u64,
    /// Fills received.
    pub fills: u64,
    /// Fills for orders the engine no longer tracked (position still updated).
    pub unknown_fills: u64,
    /// Times a decision was deferred because the intent ring was full.
    pub back_pressure: u64,
    /// Risk events emitted.
    pub risk_events: u64,
    /// Orders the engine sent that were (worst case) beyond a limit: must stay 0.
    pub limit_violations: u64,
}

#[derive(Clone, Debug)]
struct InstState {
    book: Book,
    trusted: bool,
    in_snapshot: bool,
    dirty: bool,
    mark: Option<Ticks>,
    index_e4: i64,
    usd_e4_per_lot: i64,
    position: Lots,
    pending: [Lots; 2],
    working: [ClientId; 2],
    exposure_e4: i64,
    limited: [bool; 2],
}

/// The hot thread's state. See the module docs.
pub struct Engine {
    insts: Vec<InstState>,
    meta: Vec<InstMeta>,
    orders: Orders,
    cfg: EngineConfig,
    clock: fn() -> Nanos,
    total_exposure_e4: i64,
    last_md: Nanos,
    stale: bool,
    halted: bool,
    gateway_up: bool,
    any_dirty: bool,
    counters: Counters,
}

/// What the engine needs to know of an instrument (copied from the table at construction).
#[derive(Clone, Debug)]
struct InstMeta {
    inst: Instrument,
    /// 1e-4 USD per lot for instruments whose lot is USD (inverse futures), else 0.
    fixed_usd_e4_per_lot: i64,
}

impl Engine {
    /// Builds the engine for the instruments of `table`. Allocates everything here.
    ///
    /// # Panics
    /// If `cfg.size` or `cfg.max_position` do not have one entry per instrument.
    pub fn new(table: &InstrumentTable, cfg: EngineConfig, clock: fn() -> Nanos) -> Engine {
        assert_eq!(cfg.size.len(), table.len(), "one size per instrument");
        assert_eq!(
            cfg.max_position.len(),
            table.len(),
            "one max position per instrument"
        );
        let meta: Vec<InstMeta> = table
            .iter()
            .map(|i| {
                let fixed = if i.inverse && i.kind != Kind::Option {
                    // lot amount is USD
                    (i.lot.to_f64() * 1e4).round() as i64
                } else {
                    0
                };
                InstMeta {
                    inst: i.clone(),
                    fixed_usd_e4_per_lot: fixed,
                }
            })
            .collect();
        let insts = meta
            .iter()
            .map(|m| InstState {
                book: Book::new(cfg.book_window, 2048),
                trusted: false,
                in_snapshot: false,
                dirty: false,
                mark: None,
                index_e4: 0,
                usd_e4_per_lot: m.fixed_usd_e4_per_lot,
                position: 0,
                pending: [0, 0],
                working: [0, 0],
                exposure_e4: 0,
                limited: [false, false],
            })
            .collect();
        Engine {
            insts,
            meta,
            orders: Orders::new(cfg.order_capacity),
            cfg,
            clock,
            total_exposure_e4: 0,
            last_md: 0,
            stale: false,
            halted: false,
            gateway_up: true,
            any_dirty: false,
            counters: Counters::default(),
        }
    }

    /// What the engine did so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The book mirror of an instrument.
    pub fn book(&self, id: InstrumentId) -> &Book {
        &self.insts[id as usize].book
    }

    /// Whether an instrument's book is trusted (snapshot applied, no gap since).
    pub fn trusted(&self, id: InstrumentId) -> bool {
        self.insts[id as usize].trusted
    }

    /// Position of an instrument in lots (signed; long > 0).
    pub fn position(&self, id: InstrumentId) -> Lots {
        self.insts[id as usize].position
    }

    /// Live (pending or open) orders.
    pub fn open_orders(&self) -> usize {
        self.orders.live()
    }

    /// True once [`Engine::halt`] ran.
    pub fn halted(&self) -> bool {
        self.halted
    }

    /// Current worst-case total exposure (1e-4 USD).
    pub fn total_exposure_usd_e4(&self) -> i64 {
        self.total_exposure_e4
    }

    /// Applies one market-data event; re-quotes the instrument after a complete book frame.
    pub fn on_md(
        &mut self,
        ev: &MdEvent,
        t_pop: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        self.counters.md_events += 1;
        self.last_md = t_pop;
        if self.stale {
            self.stale = false;
        }
        if ev.kind == MdKind::Disconnected {
            for i in 0..self.insts.len() {
                self.insts[i].trusted = false;
                self.insts[i].book.clear();
                self.pull(i, ev.t_recv, t_pop, out, tel);
            }
            return;
        }
        let i = ev.instrument as usize;
        if i >= self.insts.len() {
            return;
        }
        match ev.kind {
            MdKind::BookClear => {
                let st = &mut self.insts[i];
                st.book.clear();
                st.trusted = false;
                st.in_snapshot = true;
            }
            MdKind::Level => self.insts[i].book.set(ev.side, ev.price, ev.qty),
            MdKind::BookDone => {
                self.counters.book_frames += 1;
                let st = &mut self.insts[i];
                st.book.finish_frame();
                if st.in_snapshot {
                    st.in_snapshot = false;
                    st.trusted = true;
                }
                if st.trusted {
                    if self.meta[i].inst.kind != Kind::Option && !self.meta[i].inst.inverse {
                        // linear: USD per lot follows the price
                        if let Some(m2) = st.book.mid_x2() {
                            let inst = &self.meta[i].inst;
                            st.usd_e4_per_lot = lot_value_e4(inst, m2);
                        }
                    }
                    self.requote(i, ev.t_recv, t_pop, out, tel);
                }
            }
            MdKind::Gap => {
                self.counters.gaps += 1;
                let st = &mut self.insts[i];
                st.book.clear();
                st.trusted = false;
                st.in_snapshot = false;
                tel.push(Telemetry {
                    t: t_pop,
                    kind: TelKind::Gap,
                    instrument: ev.instrument,
                    ..Default::default()
                });
                self.risk_event(RiskCode::GapPulled, i, 0, t_pop, tel);
                self.pull(i, ev.t_recv, t_pop, out, tel);
            }
            MdKind::Mark => {
                let st = &mut self.insts[i];
                st.mark = (ev.price > 0).then_some(ev.price);
                if ev.qty > 0 && ev.qty != st.index_e4 {
                    st.index_e4 = ev.qty;
                    tel.push(Telemetry {
                        t: t_pop,
                        kind: TelKind::Index,
                        instrument: ev.instrument,
                        a: ev.price,
                        b: ev.qty,
                        ..Default::default()
                    });
                }
                if self.meta[i].inst.kind == Kind::Option && ev.qty > 0 {
                    // qty carries the underlying index in 1e-4 USD: lot (coin) × index
                    let lot = self.meta[i].inst.lot;
                    let v = ev.qty as i128 * lot.mant as i128
                        / crate::decimal::POW10[lot.scale as usize] as i128;
                    st.usd_e4_per_lot = v as i64;
                    self.recount_exposure(i);
                }
            }
            MdKind::Trade | MdKind::Disconnected => {}
        }
    }

    /// Applies one execution report and re-evaluates the instrument.
    pub fn on_exec(
        &mut self,
        ev: &ExecEvent,
        t_pop: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        let i = ev.instrument as usize;
        match ev.kind {
            ExecKind::Connected => {
                self.gateway_up = true;
                return;
            }
            ExecKind::Disconnected => {
                // Cancel-on-disconnect is enabled on the order session: the venue cancels our
                // resting orders. Forget them; positions stay (fills are the truth).
                self.gateway_up = false;
                for k in 0..self.insts.len() {
                    self.insts[k].working = [0, 0];
                    self.insts[k].pending = [0, 0];
                }
                self.orders.clear();
                for k in 0..self.insts.len() {
                    self.recount_exposure(k);
                }
                return;
            }
            ExecKind::CancelAllDone => return,
            _ => {}
        }
        if i >= self.insts.len() {
            return;
        }
        match ev.kind {
            ExecKind::Accepted => {
                if let Some(o) = self.orders.get_mut(ev.client_id) {
                    if o.status == Status::PendingNew {
                        o.status = Status::Open;
                    }
                    if o.inflight == InFlight::New {
                        o.inflight = InFlight::None;
                    }
                }
            }
            ExecKind::Amended => {
                if let Some(o) = self.orders.get_mut(ev.client_id) {
                    o.price = ev.price;
                    o.qty = ev.qty.max(o.filled);
                    if matches!(o.inflight, InFlight::Amend { .. }) {
                        o.inflight = InFlight::None;
                    }
                }
                self.recount_order(ev.client_id);
            }
            ExecKind::Cancelled => self.drop_order(ev.client_id),
            ExecKind::Fill => {
                self.counters.fills += 1;
                let st = &mut self.insts[i];
                st.position += ev.side.sign() * ev.qty;
                tel.push(Telemetry {
                    t: t_pop,
                    kind: TelKind::Fill,
                    instrument: ev.instrument,
                    side: ev.side,
                    a: ev.price,
                    b: ev.qty,
                    c: ev.fee_nano,
                    d: ev.client_id as i64,
                    ..Default::default()
                });
                match self.orders.get_mut(ev.client_id) {
                    Some(o) => {
                        o.filled += ev.qty;
                        if o.status == Status::PendingNew {
                            o.status = Status::Open;
                        }
                        if o.leaves() == 0 {
                            self.drop_order(ev.client_id);
                        } else {
                            self.recount_order(ev.client_id);
                        }
                    }
                    None => {
                        self.counters.unknown_fills += 1;
                        self.recount_exposure(i);
                    }
                }
            }
            ExecKind::Rejected => {
                self.counters.rejects += 1;
                tel.push(Telemetry {
                    t: t_pop,
                    kind: TelKind::Reject,
                    instrument: ev.instrument,
                    a: ev.code as i64,
                    d: ev.client_id as i64,
                    ..Default::default()
                });
                let gone = match self.orders.get_mut(ev.client_id) {
                    None => false,
                    Some(o) => match o.inflight {
                        InFlight::New => true,
                        _ if ev.qty == -1 => true,
                        _ => {
                            o.inflight = InFlight::None;
                            false
                        }
                    },
                };
                if gone {
                    self.drop_order(ev.client_id);
                } else {
                    self.recount_order(ev.client_id);
                }
                // Re-quote on the next book frame, not now: no reject storms.
                return;
            }
            _ => {}
        }
        if self.insts[i].trusted {
            self.requote(i, 0, t_pop, out, tel);
        } else {
            // A cancel deferred while a request was in flight (gap, stale) goes out now.
            self.pull(i, 0, t_pop, out, tel);
        }
    }

    /// Housekeeping when both rings are empty: stale-feed check and deferred re-quotes.
    pub fn on_idle(&mut self, now: Nanos, out: &mut impl IntentSink, tel: &mut impl TelemetrySink) {
        if self.cfg.stale_ns > 0
            && !self.stale
            && self.last_md > 0
            && now.saturating_sub(self.last_md) > self.cfg.stale_ns
        {
            self.stale = true;
            self.risk_event(RiskCode::Stale, usize::MAX, 0, now, tel);
            for i in 0..self.insts.len() {
                self.pull(i, 0, now, out, tel);
            }
        }
        if self.any_dirty && out.free() >= 4 {
            self.any_dirty = false;
            for i in 0..self.insts.len() {
                if self.insts[i].dirty && self.insts[i].trusted {
                    self.insts[i].dirty = false;
                    self.requote(i, 0, now, out, tel);
                }
            }
        }
    }

    /// Stops quoting for good and cancels every live order with one cancel-all.
    /// Returns true when no order is live any more (call until it does, bounded by the
    /// caller's timeout).
    pub fn halt(
        &mut self,
        now: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) -> bool {
        if !self.halted {
            self.halted = true;
            self.risk_event(RiskCode::Halt, usize::MAX, 0, now, tel);
        }
        let mut need = false;
        self.orders.for_each_live(|o| {
            if o.inflight != InFlight::Cancel {
                need = true;
            }
        });
        if need && out.free() > 0 {
            out.push(OrderIntent {
                t_recv: 0,
                t_decide: now,
                kind: IntentKind::CancelAll,
                instrument: u32::MAX,
                ..Default::default()
            });
            self.counters.cancel_alls += 1;
            self.orders.for_each_live(|o| o.inflight = InFlight::Cancel);
            for st in &mut self.insts {
                st.working = [0, 0];
            }
        }
        self.orders.live() == 0
    }

    fn risk_event(
        &mut self,
        code: RiskCode,
        i: usize,
        detail: i64,
        t: Nanos,
        tel: &mut impl TelemetrySink,
    ) {
        self.counters.risk_events += 1;
        tel.push(Telemetry {
            t,
            kind: TelKind::Risk,
            instrument: if i == usize::MAX { u32::MAX } else { i as u32 },
            a: code as i64,
            b: detail,
            ..Default::default()
        });
    }

    /// Cancels both working orders of instrument `i`.
    fn pull(
        &mut self,
        i: usize,
        t_recv: Nanos,
        now: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        for side in [Side::Bid, Side::Ask] {
            let id = self.insts[i].working[side.idx()];
            if id != 0 {
                self.cancel(i, side, id, t_recv, now, out, tel);
            }
        }
    }

    fn cancel(
        &mut self,
        i: usize,
        side: Side,
        id: ClientId,
        t_recv: Nanos,
        now: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        let Some(o) = self.orders.get_mut(id) else {
            self.insts[i].working[side.idx()] = 0;
            return;
        };
        if o.inflight == InFlight::Cancel {
            return;
        }
        if o.inflight != InFlight::None {
            // Wait for the outstanding answer; re-evaluated when it arrives.
            self.insts[i].dirty = true;
            self.any_dirty = true;
            return;
        }
        if out.free() == 0 {
            self.counters.back_pressure += 1;
            self.insts[i].dirty = true;
            self.any_dirty = true;
            let _ = tel;
            return;
        }
        o.inflight = InFlight::Cancel;
        let intent = OrderIntent {
            t_recv,
            t_decide: now,
            client_id: id,
            price: o.price,
            qty: o.qty,
            instrument: i as u32,
            kind: IntentKind::Cancel,
            side,
            flags: 0,
        };
        out.push(intent);
        self.counters.cancels += 1;
        self.insts[i].working[side.idx()] = 0;
    }

    fn drop_order(&mut self, id: ClientId) {
        if let Some(o) = self.orders.remove(id) {
            let i = o.instrument as usize;
            let st = &mut self.insts[i];
            st.pending[o.side.idx()] -= o.counted;
            if st.working[o.side.idx()] == id {
                st.working[o.side.idx()] = 0;
            }
            self.recount_exposure(i);
        }
    }

    fn recount_order(&mut self, id: ClientId) {
        if let Some(o) = self.orders.get_mut(id) {
            let new = o.worst_leaves();
            let delta = new - o.counted;
            o.counted = new;
            let (i, s) = (o.instrument as usize, o.side.idx());
            self.insts[i].pending[s] += delta;
            self.recount_exposure(i);
        }
    }

    fn recount_exposure(&mut self, i: usize) {
        let st = &mut self.insts[i];
        let worst = risk::worst_position(st.position, st.pending[0], st.pending[1]);
        let e = (worst as i128 * st.usd_e4_per_lot as i128).min(i64::MAX as i128) as i64;
        self.total_exposure_e4 = self.total_exposure_e4 - st.exposure_e4 + e;
        st.exposure_e4 = e;
    }

    /// Worst-case exposure (1e-4 USD) of instrument `i` if side `s` pending became `pend`.
    fn exposure_if(&self, i: usize, s: usize, pend: Lots) -> i64 {
        let st = &self.insts[i];
        let mut p = st.pending;
        p[s] = pend;
        let worst = risk::worst_position(st.position, p[0], p[1]);
        (worst as i128 * st.usd_e4_per_lot as i128).min(i64::MAX as i128) as i64
    }

    fn requote(
        &mut self,
        i: usize,
        t_recv: Nanos,
        t_pop: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        if self.halted || self.stale || !self.gateway_up || !self.insts[i].trusted {
            return;
        }
        if out.free() < 2 {
            self.counters.back_pressure += 1;
            self.insts[i].dirty = true;
            self.any_dirty = true;
            return;
        }
        let st = &self.insts[i];
        let inst = &self.meta[i].inst;
        let market = Market {
            best_bid: st.book.best_bid(),
            best_ask: st.book.best_ask(),
            mark: st.mark,
        };
        let inv_e4 = (st.position as i128 * st.usd_e4_per_lot as i128)
            .clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        let tgt = quote::target(inst, &self.cfg.quote, &market, inv_e4);
        let exposure_limited = self.cfg.max_exposure_usd_e4 != i64::MAX;
        for side in [Side::Bid, Side::Ask] {
            let s = side.idx();
            let want_px = if side == Side::Bid { tgt.bid } else { tgt.ask };
            let cur_id = self.insts[i].working[s];
            let cur = if cur_id != 0 {
                self.orders.get(cur_id).copied()
            } else {
                None
            };
            if cur_id != 0 && cur.is_none() {
                self.insts[i].working[s] = 0;
            }
            // Size allowed by the limits.
            let want = want_px.and_then(|px| {
                let st = &self.insts[i];
                let counted = cur.map_or(0, |o| o.counted);
                let filled = cur.map_or(0, |o| o.filled);
                let signed_pos = if side == Side::Bid {
                    st.position
                } else {
                    -st.position
                };
                let room = risk::room(
                    self.cfg.max_position[i],
                    signed_pos,
                    st.pending[s] - counted,
                );
                let size = self.cfg.size[i].min(room);
                if size < self.cfg.size[i] && !self.insts[i].limited[s] {
                    self.insts[i].limited[s] = true;
                    self.risk_event(RiskCode::MaxPosition, i, s as i64, t_pop, tel);
                } else if size >= self.cfg.size[i] {
                    self.insts[i].limited[s] = false;
                }
                if size < 1 {
                    return None;
                }
                if exposure_limited {
                    let st = &self.insts[i];
                    if st.usd_e4_per_lot == 0 {
                        return None;
                    }
                    let pend = st.pending[s] - counted + size;
                    let total =
                        self.total_exposure_e4 - st.exposure_e4 + self.exposure_if(i, s, pend);
                    if total > self.cfg.max_exposure_usd_e4 {
                        self.risk_event(RiskCode::MaxExposure, i, s as i64, t_pop, tel);
                        return None;
                    }
                }
                Some((px, size, filled))
            });
            match (cur, want) {
                (None, None) => {}
                (Some(o), None) => self.cancel(i, side, o.client_id, t_recv, t_pop, out, tel),
                (None, Some((px, size, _))) => {
                    self.send_new(i, side, px, size, t_recv, t_pop, out, tel)
                }
                (Some(o), Some((px, size, filled))) => {
                    if o.inflight != InFlight::None {
                        continue; // answer pending; re-evaluated on arrival
                    }
                    let moved = (o.price - px).abs() >= self.cfg.requote_ticks.max(1);
                    if moved || o.leaves() != size {
                        self.send_amend(
                            i,
                            side,
                            o.client_id,
                            px,
                            filled + size,
                            t_recv,
                            t_pop,
                            out,
                            tel,
                        );
                    }
                }
            }
        }
    }

    fn stamp(&mut self, t_recv: Nanos, t_pop: Nanos, tel: &mut impl TelemetrySink) -> Nanos {
        let now = (self.clock)();
        if t_recv != 0 {
            tel.push(Telemetry {
                t: now,
                kind: TelKind::Latency,
                stage: Stage::Decide,
                a: now.saturating_sub(t_pop) as i64,
                ..Default::default()
            });
            tel.push(Telemetry {
                t: now,
                kind: TelKind::Latency,
                stage: Stage::TickToQuote,
                a: now.saturating_sub(t_recv) as i64,
                ..Default::default()
            });
        }
        now
    }

    fn check_limits(&mut self, i: usize) {
        let st = &self.insts[i];
        let worst_long = st.position + st.pending[0];
        let worst_short = -st.position + st.pending[1];
        if worst_long > self.cfg.max_position[i].max(st.position)
            || worst_short > self.cfg.max_position[i].max(-st.position)
        {
            self.counters.limit_violations += 1;
        }
        if self.cfg.max_exposure_usd_e4 != i64::MAX
            && self.total_exposure_e4 > self.cfg.max_exposure_usd_e4
        {
            self.counters.limit_violations += 1;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send_new(
        &mut self,
        i: usize,
        side: Side,
        px: Ticks,
        size: Lots,
        t_recv: Nanos,
        t_pop: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        let Some(id) = self.orders.create(i as u32, side, px, size) else {
            self.risk_event(RiskCode::OrderPoolFull, i, 0, t_pop, tel);
            return;
        };
        let now = self.stamp(t_recv, t_pop, tel);
        out.push(OrderIntent {
            t_recv,
            t_decide: now,
            client_id: id,
            price: px,
            qty: size,
            instrument: i as u32,
            kind: IntentKind::New,
            side,
            flags: intent_flags::POST_ONLY,
        });
        self.counters.orders_sent += 1;
        self.insts[i].working[side.idx()] = id;
        self.recount_order(id);
        self.check_limits(i);
    }

    #[allow(clippy::too_many_arguments)]
    fn send_amend(
        &mut self,
        i: usize,
        side: Side,
        id: ClientId,
        px: Ticks,
        total: Lots,
        t_recv: Nanos,
        t_pop: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        let now = self.stamp(t_recv, t_pop, tel);
        if let Some(o) = self.orders.get_mut(id) {
            o.inflight = InFlight::Amend {
                price: px,
                qty: total,
            };
        }
        out.push(OrderIntent {
            t_recv,
            t_decide: now,
            client_id: id,
            price: px,
            qty: total,
            instrument: i as u32,
            kind: IntentKind::Amend,
            side,
            flags: intent_flags::POST_ONLY,
        });
        self.counters.amends += 1;
        self.recount_order(id);
        self.check_limits(i);
    }
}

/// 1e-4 USD value of one lot of a linear instrument at twice-mid `mid2` ticks.
fn lot_value_e4(inst: &Instrument, mid2: Ticks) -> i64 {
    // lot × price = lot.mant·10^-ls × mid2/2 · tick.mant·10^-ts
    let v = inst.lot.mant as i128 * inst.tick.mant as i128 * mid2 as i128 * 10_000
        / (2 * crate::decimal::POW10[(inst.lot.scale) as usize] as i128
            * crate::decimal::POW10[inst.tick.scale as usize] as i128);
    v.clamp(0, i64::MAX as i128) as i64
}
