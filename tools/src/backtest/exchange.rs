//! The backtest's venue: our intents matched against the recorded market, in memory, with a
//! queue-position model. No JSON, no strings: intents in, [`ExecEvent`]s out.
//!
//! # Rules (the simulator's, `mm_venues::sim::matching`)
//!
//! Our orders are virtual: the recorded book is never changed by them (it is the tape's), as
//! in the simulator and in hftbacktest's exchange models.
//! - **New** post-only order that would cross the recorded opposite best ⇒ rejected with
//!   11054 (`post_only_reject`), as Deribit with `reject_post_only`. A non-post-only order
//!   (mm-fast's reduce-only IOC flatten) takes recorded liquidity level by level at the
//!   recorded prices as taker, up to its limit; the rest of an IOC is cancelled. Reduce-only
//!   sizes are clamped to the position. A resting order's queue position = the recorded size
//!   at its price.
//! - **Amend**: an order no longer open ⇒ 11044 (`qty = -1`: the engine forgets it); a
//!   post-only price that would cross ⇒ the order is cancelled and the request gets 11054, as
//!   the simulator; a price change or a size increase re-queues the order at the back.
//! - **Cancel** / **cancel-all** as the simulator (11044 when not open).
//! - **Recorded trades**: a trade whose taker hits our side at our price first consumes the
//!   queue ahead, then fills us; a trade through our price fills us up to its size. One
//!   trade's size is shared among our orders best price first, then time priority. Fills are
//!   at our price, as maker (maker fee, [`Exchange::fee`], the simulator's fee rule).
//! - **Book crossing**: when the recorded opposite best moves through a resting order, it
//!   fills at its own price for the recorded size through its price not already used by our
//!   fills (used liquidity is forgotten when the tape updates that level).
//! - **Queue decrease without trades** ([`QueueModel`]): *risk-averse* (hftbacktest
//!   `RiskAdverseQueueModel`, the simulator's rule): when the level's recorded size falls to
//!   `q`, the queue ahead becomes `min(ahead, q)`; *probabilistic* (hftbacktest
//!   `ProbQueueModel`): a decrease `chg` of the level (net of the trades at the level since
//!   the last update) is attributed to the queue ahead with probability `1 − p`, `p =
//!   f(back) / (f(back) + f(front))`, `back` = the level's previous size − front, `f(x) = xⁿ`
//!   (power) or `ln(1 + x)` (log): `front' = min(front − (1 − p)·chg + min(back − p·chg, 0),
//!   q)`. Increases never move us forward.
//!
//! Queue positions are kept in lots as `f64` (the probabilistic model's estimate is
//! fractional, as in hftbacktest); this is the simulated venue, not the engine's hot path.

use mm_core::book::{Book, BookView};
use mm_core::event::{intent_flags, ExecEvent, ExecKind, IntentKind, MdEvent, MdKind, OrderIntent};
use mm_core::instrument::{InstrumentTable, Kind};
use mm_core::types::{ClientId, InstrumentId, Lots, Side, Ticks};
use mm_venues::sim::exchange::Exchange;

/// Deribit's post-only reject code.
pub const POST_ONLY_REJECT: i32 = 11054;
/// Deribit's "not an open order" code.
pub const NOT_OPEN: i32 = 11044;
/// Deribit's code for a reduce-only order with nothing to reduce.
pub const INVALID_ARGUMENTS: i32 = 11029;

/// Probability function of the probabilistic queue model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ProbFunc {
    /// `f(x) = x^n` (hftbacktest `PowerProbQueueFunc`; n = 3 is its usual choice).
    Power(f64),
    /// `f(x) = ln(1 + x)` (hftbacktest `LogProbQueueFunc`).
    Log,
}

impl ProbFunc {
    fn f(self, x: f64) -> f64 {
        match self {
            ProbFunc::Power(n) => x.max(0.0).powf(n),
            ProbFunc::Log => x.max(0.0).ln_1p(),
        }
    }

    /// Probability that a decrease happened behind us.
    fn prob(self, front: f64, back: f64) -> f64 {
        let (fb, ff) = (self.f(back), self.f(front));
        let p = fb / (fb + ff);
        if p.is_finite() {
            p
        } else {
            1.0
        }
    }
}

/// Queue-position model (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum QueueModel {
    /// Only trades at our price (after the queue ahead) or through it fill us; decreases of
    /// the level cap the queue ahead at the level's size.
    RiskAverse,
    /// Decreases of the level are partly attributed to the queue ahead.
    Prob(ProbFunc),
}

impl QueueModel {
    /// Short name (`risk-averse`, `prob-power3`, `prob-log`).
    pub fn name(&self) -> String {
        match self {
            QueueModel::RiskAverse => "risk-averse".into(),
            QueueModel::Prob(ProbFunc::Power(n)) => format!("prob-power{n}"),
            QueueModel::Prob(ProbFunc::Log) => "prob-log".into(),
        }
    }
}

/// One of our orders at the simulated venue.
#[derive(Clone, Copy, Debug)]
struct VOrder {
    num: u64,
    cid: ClientId,
    inst: InstrumentId,
    side: Side,
    price: Ticks,
    lots: Lots,
    filled: Lots,
    /// Recorded size ahead of us, lots.
    front: f64,
    /// Lots traded at our level since its last recorded update (probabilistic model).
    cum_trade: f64,
}

impl VOrder {
    fn leaves(&self) -> Lots {
        self.lots - self.filled
    }
}

/// Per instrument: the recorded book and the liquidity our aggressive/crossing fills used.
struct Venue {
    book: Book,
    /// `(side, price, lots used)`; an entry is dropped when the tape updates its level.
    used: Vec<(Side, Ticks, Lots)>,
}

impl Venue {
    fn avail(&self, side: Side, px: Ticks) -> Lots {
        let used: Lots = self
            .used
            .iter()
            .filter(|u| u.0 == side && u.1 == px)
            .map(|u| u.2)
            .sum();
        (self.book.qty_at(side, px) - used).max(0)
    }

    fn consume(&mut self, side: Side, px: Ticks, lots: Lots) {
        match self.used.iter_mut().find(|u| u.0 == side && u.1 == px) {
            Some(u) => u.2 += lots,
            None => self.used.push((side, px, lots)),
        }
    }

    /// Recorded levels of `side` from the best up to `limit` (inclusive, as a taker of the
    /// other side would reach them), at most 64.
    fn reachable(&self, side: Side, limit: Ticks, out: &mut Vec<(Ticks, Lots)>) {
        out.clear();
        self.book.for_each_level(side, 64, |p, _| {
            let ok = match side {
                Side::Ask => p <= limit,
                Side::Bid => p >= limit,
            };
            if ok {
                out.push((p, 0));
            }
        });
        for r in out.iter_mut() {
            r.1 = self.avail(side, r.0);
        }
    }

    fn crosses(&self, side: Side, px: Ticks) -> bool {
        match side {
            Side::Bid => self.book.best_ask().is_some_and(|a| px >= a),
            Side::Ask => self.book.best_bid().is_some_and(|b| px <= b),
        }
    }
}

/// Counters of the simulated venue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VenueStats {
    /// Fills (maker and taker).
    pub fills: u64,
    /// Lots filled.
    pub filled_lots: i64,
    /// Requests rejected (post-only crosses, not open, nothing to reduce).
    pub rejects: u64,
    /// Orders accepted.
    pub accepted: u64,
}

/// The simulated venue (see the module docs).
pub struct SimVenue {
    table: InstrumentTable,
    venues: Vec<Venue>,
    orders: Vec<VOrder>,
    next_num: u64,
    model: QueueModel,
    pos: Vec<Lots>,
    scratch: Vec<usize>,
    levels: Vec<(Ticks, Lots)>,
    /// Counters.
    pub stats: VenueStats,
}

impl SimVenue {
    /// An empty venue for `table` (books with the engine's windows: `window_linear` ticks
    /// for perpetuals/futures/spot, `window_option` for options).
    pub fn new(
        table: &InstrumentTable,
        model: QueueModel,
        window_linear: usize,
        window_option: usize,
    ) -> SimVenue {
        SimVenue {
            venues: table
                .iter()
                .map(|i| Venue {
                    book: Book::new(
                        if i.kind == Kind::Option {
                            window_option
                        } else {
                            window_linear
                        },
                        2048,
                    ),
                    used: Vec::with_capacity(16),
                })
                .collect(),
            table: table.clone(),
            orders: Vec::with_capacity(64),
            next_num: 1,
            model,
            pos: vec![0; table.len()],
            scratch: Vec::with_capacity(64),
            levels: Vec::with_capacity(64),
            stats: VenueStats::default(),
        }
    }

    /// Position per instrument as the venue booked it (lots).
    pub fn positions(&self) -> &[Lots] {
        &self.pos
    }

    /// Open orders at the venue.
    pub fn open_orders(&self) -> usize {
        self.orders.len()
    }

    fn fill(&mut self, k: usize, price: Ticks, lots: Lots, maker: bool, out: &mut Vec<ExecEvent>) {
        let o = &mut self.orders[k];
        o.filled += lots;
        let inst = self.table.get(o.inst);
        let fee = Exchange::fee(inst, lots, price, maker);
        self.pos[o.inst as usize] += o.side.sign() * lots;
        self.stats.fills += 1;
        self.stats.filled_lots += lots;
        out.push(ExecEvent {
            client_id: o.cid,
            price,
            qty: lots,
            leaves: o.leaves(),
            fee_nano: (fee * 1e9).round() as i64,
            instrument: o.inst,
            kind: ExecKind::Fill,
            side: o.side,
            maker: maker as u8,
            ..Default::default()
        });
    }

    /// Drops filled orders.
    fn sweep_filled(&mut self) {
        self.orders.retain(|o| o.leaves() > 0);
    }

    /// Indices of the open orders of `inst` on `side` (all sides if `None`), best price first,
    /// then time priority, into `self.scratch`.
    fn by_priority(&mut self, inst: InstrumentId, side: Option<Side>) {
        self.scratch.clear();
        for (k, o) in self.orders.iter().enumerate() {
            if o.inst == inst && side.is_none_or(|s| s == o.side) {
                self.scratch.push(k);
            }
        }
        let orders = &self.orders;
        self.scratch.sort_unstable_by(|&a, &b| {
            let (a, b) = (&orders[a], &orders[b]);
            (b.side.sign() * b.price)
                .cmp(&(a.side.sign() * a.price))
                .then(a.num.cmp(&b.num))
        });
    }

    /// Applies one recorded market-data event (exchange side, tape time); fills go to `out`.
    pub fn on_md(&mut self, ev: &MdEvent, out: &mut Vec<ExecEvent>) {
        let i = ev.instrument as usize;
        if i >= self.venues.len() {
            return;
        }
        match ev.kind {
            MdKind::BookClear => {
                let v = &mut self.venues[i];
                v.book.clear();
                v.used.clear();
                // A snapshot: every level is new; the risk-averse cap applies on its Levels
                // (levels absent from the snapshot are empty: cap the queues at 0 first).
                for o in self.orders.iter_mut().filter(|o| o.inst == ev.instrument) {
                    o.front = 0.0;
                }
            }
            MdKind::Level => {
                let v = &mut self.venues[i];
                let prev = v.book.qty_at(ev.side, ev.price);
                v.book.set(ev.side, ev.price, ev.qty);
                v.used.retain(|u| !(u.0 == ev.side && u.1 == ev.price));
                let (prev, new) = (prev as f64, ev.qty as f64);
                for o in self.orders.iter_mut() {
                    if o.inst != ev.instrument || o.side != ev.side || o.price != ev.price {
                        continue;
                    }
                    match self.model {
                        QueueModel::RiskAverse => o.front = o.front.min(new),
                        QueueModel::Prob(f) => {
                            let chg = prev - new - o.cum_trade;
                            o.cum_trade = 0.0;
                            if chg <= 0.0 {
                                o.front = o.front.min(new);
                            } else {
                                let front = o.front;
                                let back = prev - front;
                                let p = f.prob(front, back);
                                let est = front - (1.0 - p) * chg + (back - p * chg).min(0.0);
                                o.front = est.min(new).max(0.0);
                            }
                        }
                    }
                }
            }
            MdKind::BookDone => {
                self.venues[i].book.finish_frame();
                self.cross_check(ev.instrument, out);
            }
            MdKind::Trade => self.on_trade(ev.instrument, ev.side, ev.price, ev.qty, out),
            _ => {}
        }
    }

    /// Resting orders of `inst` the recorded opposite side has moved through fill at their
    /// price for the recorded size through it (not already used).
    fn cross_check(&mut self, inst: InstrumentId, out: &mut Vec<ExecEvent>) {
        let i = inst as usize;
        let any = self
            .orders
            .iter()
            .any(|o| o.inst == inst && self.venues[i].crosses(o.side, o.price));
        if !any {
            return;
        }
        self.by_priority(inst, None);
        let order_ids = std::mem::take(&mut self.scratch);
        for &k in &order_ids {
            let o = self.orders[k];
            if o.leaves() == 0 || !self.venues[i].crosses(o.side, o.price) {
                continue;
            }
            let opp = o.side.opposite();
            let mut levels = std::mem::take(&mut self.levels);
            self.venues[i].reachable(opp, o.price, &mut levels);
            let mut left = o.leaves();
            for &(p, avail) in &levels {
                if left == 0 {
                    break;
                }
                let q = avail.min(left);
                if q > 0 {
                    self.venues[i].consume(opp, p, q);
                    left -= q;
                }
            }
            self.levels = levels;
            let q = o.leaves() - left;
            if q > 0 {
                self.orders[k].front = 0.0;
                self.fill(k, o.price, q, true, out);
            }
        }
        self.scratch = order_ids;
        self.sweep_filled();
    }

    /// A recorded public trade (`taker` side, price, lots) against our resting orders.
    fn on_trade(
        &mut self,
        inst: InstrumentId,
        taker: Side,
        px: Ticks,
        lots: Lots,
        out: &mut Vec<ExecEvent>,
    ) {
        let hit = taker.opposite();
        if !self.orders.iter().any(|o| o.inst == inst && o.side == hit) {
            return;
        }
        self.by_priority(inst, Some(hit));
        let order_ids = std::mem::take(&mut self.scratch);
        let mut remaining = lots;
        for &k in &order_ids {
            if remaining <= 0 {
                break;
            }
            let o = &mut self.orders[k];
            let better = match o.side {
                Side::Bid => o.price > px,
                Side::Ask => o.price < px,
            };
            let avail = if better {
                remaining
            } else if o.price == px {
                let ahead = o.front;
                o.front = (ahead - remaining as f64).max(0.0);
                o.cum_trade += remaining as f64;
                // Whole lots only: a fractional queue estimate rounds against us.
                (remaining - ahead.ceil() as Lots).max(0)
            } else {
                continue;
            };
            let q = avail.min(o.leaves());
            if q > 0 {
                remaining -= q;
                let price = o.price;
                self.fill(k, price, q, true, out);
            }
        }
        self.scratch = order_ids;
        self.sweep_filled();
    }

    fn find(&self, cid: ClientId) -> Option<usize> {
        self.orders.iter().position(|o| o.cid == cid)
    }

    /// Handles one intent arriving at the venue; answers go to `out`.
    pub fn on_intent(&mut self, it: &OrderIntent, out: &mut Vec<ExecEvent>) {
        match it.kind {
            IntentKind::New => self.new_order(it, out),
            IntentKind::Amend => self.amend(it, out),
            IntentKind::Cancel => match self.find(it.client_id) {
                Some(k) => {
                    let o = self.orders.swap_remove(k);
                    out.push(cancelled(&o));
                }
                None => self.reject(it, NOT_OPEN, -1, out),
            },
            IntentKind::CancelAll => {
                let n = self.orders.len() as i64;
                out.push(ExecEvent {
                    qty: n,
                    instrument: u32::MAX,
                    kind: ExecKind::CancelAllDone,
                    ..Default::default()
                });
                for o in self.orders.drain(..) {
                    out.push(cancelled(&o));
                }
            }
        }
    }

    fn reject(&mut self, it: &OrderIntent, code: i32, qty: Lots, out: &mut Vec<ExecEvent>) {
        self.stats.rejects += 1;
        out.push(ExecEvent {
            client_id: it.client_id,
            instrument: it.instrument,
            kind: ExecKind::Rejected,
            code,
            qty,
            side: it.side,
            ..Default::default()
        });
    }

    fn new_order(&mut self, it: &OrderIntent, out: &mut Vec<ExecEvent>) {
        let i = it.instrument as usize;
        if i >= self.venues.len() || it.qty <= 0 {
            return self.reject(it, INVALID_ARGUMENTS, 0, out);
        }
        let post_only = it.flags & intent_flags::POST_ONLY != 0;
        let ioc = it.flags & intent_flags::IOC != 0;
        let mut lots = it.qty;
        if it.flags & intent_flags::REDUCE_ONLY != 0 {
            let pos = self.pos[i];
            let room = if it.side.sign() * pos < 0 {
                pos.abs()
            } else {
                0
            };
            if room == 0 {
                return self.reject(it, INVALID_ARGUMENTS, 0, out);
            }
            lots = lots.min(room);
        }
        let crosses = self.venues[i].crosses(it.side, it.price);
        if crosses && post_only {
            return self.reject(it, POST_ONLY_REJECT, 0, out);
        }
        self.stats.accepted += 1;
        let front = self.venues[i].book.qty_at(it.side, it.price) as f64;
        self.orders.push(VOrder {
            num: self.next_num,
            cid: it.client_id,
            inst: it.instrument,
            side: it.side,
            price: it.price,
            lots,
            filled: 0,
            front,
            cum_trade: 0.0,
        });
        self.next_num += 1;
        let k = self.orders.len() - 1;
        if crosses {
            // Taker: recorded liquidity at recorded prices, up to the limit.
            let opp = it.side.opposite();
            let mut levels = std::mem::take(&mut self.levels);
            self.venues[i].reachable(opp, it.price, &mut levels);
            let mut fills = [(0, 0); 8];
            let mut nf = 0;
            let mut left = lots;
            for &(p, avail) in &levels {
                if left == 0 || nf == fills.len() {
                    break;
                }
                let q = avail.min(left);
                if q > 0 {
                    self.venues[i].consume(opp, p, q);
                    fills[nf] = (p, q);
                    nf += 1;
                    left -= q;
                }
            }
            self.levels = levels;
            self.orders[k].front = 0.0;
            let o = self.orders[k];
            // The reply first (as the simulator: response, then notifications).
            if ioc && left > 0 {
                out.push(cancelled(&VOrder { lots, ..o }));
            } else {
                out.push(accepted(&o));
            }
            for &(p, q) in &fills[..nf] {
                self.fill(k, p, q, false, out);
            }
            if ioc {
                self.orders.swap_remove(k);
            } else {
                self.sweep_filled();
            }
            return;
        }
        if ioc {
            let o = self.orders.swap_remove(k);
            out.push(cancelled(&o));
            return;
        }
        out.push(accepted(&self.orders[k]));
    }

    fn amend(&mut self, it: &OrderIntent, out: &mut Vec<ExecEvent>) {
        let Some(k) = self.find(it.client_id) else {
            return self.reject(it, NOT_OPEN, -1, out);
        };
        let i = self.orders[k].inst as usize;
        let o = self.orders[k];
        if self.venues[i].crosses(o.side, it.price) {
            // Post-only edit that would cross: the order is cancelled, the request refused.
            self.orders.swap_remove(k);
            self.reject(it, POST_ONLY_REJECT, 0, out);
            out.push(cancelled(&o));
            return;
        }
        let requeue = it.price != o.price || it.qty > o.lots;
        let front = self.venues[i].book.qty_at(o.side, it.price) as f64;
        let o = &mut self.orders[k];
        o.price = it.price;
        o.lots = it.qty.max(o.filled);
        if requeue {
            o.front = front;
            o.cum_trade = 0.0;
            o.num = self.next_num;
            self.next_num += 1;
        }
        let o = *o;
        out.push(ExecEvent {
            client_id: o.cid,
            price: o.price,
            qty: o.lots,
            leaves: o.leaves(),
            instrument: o.inst,
            kind: ExecKind::Amended,
            side: o.side,
            ..Default::default()
        });
        if o.leaves() == 0 {
            self.orders.swap_remove(k);
        }
    }
}

fn accepted(o: &VOrder) -> ExecEvent {
    ExecEvent {
        client_id: o.cid,
        price: o.price,
        qty: o.lots,
        leaves: o.leaves(),
        instrument: o.inst,
        kind: ExecKind::Accepted,
        side: o.side,
        ..Default::default()
    }
}

fn cancelled(o: &VOrder) -> ExecEvent {
    ExecEvent {
        client_id: o.cid,
        price: o.price,
        qty: o.lots,
        instrument: o.inst,
        kind: ExecKind::Cancelled,
        side: o.side,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mm_core::decimal::Dec;
    use mm_core::instrument::Instrument;

    fn table() -> InstrumentTable {
        let mut t = InstrumentTable::new();
        let mut i = Instrument::new("X", Kind::Perpetual, Dec::new(1, 1), Dec::new(1, 3));
        i.inverse = false;
        i.maker_fee = 0.0002;
        t.push(i).unwrap();
        t
    }

    fn lvl(side: Side, price: Ticks, qty: Lots) -> MdEvent {
        MdEvent {
            kind: MdKind::Level,
            side,
            price,
            qty,
            ..Default::default()
        }
    }

    fn done() -> MdEvent {
        MdEvent {
            kind: MdKind::BookDone,
            ..Default::default()
        }
    }

    fn bid(cid: u64, price: Ticks, qty: Lots) -> OrderIntent {
        OrderIntent {
            client_id: cid,
            price,
            qty,
            kind: IntentKind::New,
            side: Side::Bid,
            flags: intent_flags::POST_ONLY,
            ..Default::default()
        }
    }

    fn venue(model: QueueModel) -> (SimVenue, Vec<ExecEvent>) {
        let mut v = SimVenue::new(&table(), model, 1 << 12, 1 << 10);
        let mut out = Vec::new();
        for e in [lvl(Side::Bid, 1000, 10), lvl(Side::Ask, 1001, 10), done()] {
            v.on_md(&e, &mut out);
        }
        (v, out)
    }

    #[test]
    fn post_only_cross_is_rejected_and_resting_order_queues() {
        let (mut v, mut out) = venue(QueueModel::RiskAverse);
        v.on_intent(&bid(1, 1001, 2), &mut out);
        assert_eq!(out[0].kind, ExecKind::Rejected);
        assert_eq!(out[0].code, POST_ONLY_REJECT);
        out.clear();
        v.on_intent(&bid(2, 1000, 2), &mut out);
        assert_eq!(out[0].kind, ExecKind::Accepted);
        // trade of 8 at our price: queue 10 ahead → no fill; then 4 more: 2 fill us
        let tr = |q| MdEvent {
            kind: MdKind::Trade,
            side: Side::Ask,
            price: 1000,
            qty: q,
            ..Default::default()
        };
        out.clear();
        v.on_md(&tr(8), &mut out);
        assert!(out.is_empty());
        v.on_md(&tr(4), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].kind, out[0].qty, out[0].leaves),
            (ExecKind::Fill, 2, 0)
        );
        // 100.0 USD × 0.002 coin × 0.0002 = 4e-5 USD
        assert_eq!(out[0].fee_nano, 40_000);
        assert_eq!(v.open_orders(), 0);
    }

    #[test]
    fn prob_queue_advances_on_cancels_risk_averse_does_not() {
        for (model, expect_fill) in [
            (QueueModel::RiskAverse, false),
            (QueueModel::Prob(ProbFunc::Power(3.0)), true),
        ] {
            let (mut v, mut out) = venue(model);
            v.on_intent(&bid(1, 1000, 1), &mut out);
            out.clear();
            // 10 join behind us (20), then 8 cancel (12): risk-averse keeps 10 ahead, the
            // power-3 model with front = back = 10 attributes half: 6 ahead. Then a trade of 8.
            for e in [
                lvl(Side::Bid, 1000, 20),
                done(),
                lvl(Side::Bid, 1000, 12),
                done(),
            ] {
                v.on_md(&e, &mut out);
            }
            let tr = MdEvent {
                kind: MdKind::Trade,
                side: Side::Ask,
                price: 1000,
                qty: 8,
                ..Default::default()
            };
            v.on_md(&tr, &mut out);
            assert_eq!(!out.is_empty(), expect_fill, "{model:?}: {out:?}");
        }
    }

    #[test]
    fn book_moving_through_fills_at_our_price_once() {
        let (mut v, mut out) = venue(QueueModel::RiskAverse);
        v.on_intent(&bid(1, 1000, 5), &mut out);
        out.clear();
        for e in [lvl(Side::Ask, 1001, 0), lvl(Side::Ask, 1000, 3), done()] {
            v.on_md(&e, &mut out);
        }
        assert_eq!((out[0].price, out[0].qty, out[0].leaves), (1000, 3, 2));
        out.clear();
        v.on_md(&done(), &mut out);
        assert!(out.is_empty(), "used liquidity fills once");
    }
}
