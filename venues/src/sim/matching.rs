//! Matching of our (virtual) orders against the recorded market.
//!
//! # Model
//!
//! Our orders are **not** inserted into the published book: what the simulator publishes is
//! the recorded market, exactly as recorded. Our orders are *virtual* orders that match
//! against it, as in hftbacktest's exchange models (nkaz001/hftbacktest, "Order fill" and
//! "Queue models" docs):
//!
//! 1. **Aggressive on arrival** (new order or price edit). A buy whose limit is at or above the
//!    recorded best ask (a sell at or below the best bid) *crosses*:
//!    - `post_only` + `reject_post_only` ⇒ JSON-RPC error `11054 post_only_reject`, no order
//!      (dossier §5.1);
//!    - `post_only` alone ⇒ repriced to one allowed tick inside the spread (best ask − one
//!      step for a buy; `tick_size_steps` respected) and rests;
//!    - otherwise it takes recorded liquidity level by level at the **recorded prices**, up
//!      to its size, as taker. Taken liquidity is marked as used on that level until the tape
//!      updates the level, so a second order cannot take it again ([`RecordedBook::consume`]).
//!      The remainder rests (GTC) or is cancelled (IOC). FOK fills completely or not at all.
//! 2. **Queue position.** A resting order gets `queue_ahead` = the recorded size at its
//!    price level when it is placed (0 if it improves the level / the level is empty).
//!    A price or size-up edit re-queues it at the back.
//! 3. **Recorded trades** (tapes with a trades stream, e.g. tardis): a trade whose taker
//!    side hits our side at **our price** first consumes `queue_ahead`, and only the rest
//!    fills us; a trade **through** our price (a sell trade below our bid, a buy trade above
//!    our ask) fills us up to the trade size. Fills are at our price, as maker. One trade's
//!    size is shared among our orders best price first, then time priority.
//! 4. **Book crossing** (needed for tapes without trades, such as the cryptofeed option
//!    captures, and applied to every tape): when the recorded opposite best moves through a
//!    resting order (recorded best ask ≤ our bid), the order fills at its own price as maker
//!    for min(leaves, recorded size at prices through ours not yet used by our fills).
//! 5. **Queue decrease without trades**: hftbacktest's *risk-averse* queue model — when the
//!    recorded size at our level drops to `q`, `queue_ahead = min(queue_ahead, q)`; increases
//!    never move us forward (new size queues behind us). We chose it over the proportional
//!    model because it never fills us earlier than a real queue could have.
//!
//! Fees, positions and notifications are the exchange's business (`exchange.rs`); this module
//! only decides *what executes at which price*.

use super::book::RecordedBook;
use mm_core::instrument::Instrument;
use mm_core::types::{InstrumentId, Lots, Side, Ticks};

/// Time in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tif {
    /// `good_til_cancelled` (and `good_til_day`, treated alike).
    Gtc,
    /// `good_til_day`.
    Gtd,
    /// `immediate_or_cancel`.
    Ioc,
    /// `fill_or_kill`.
    Fok,
}

impl Tif {
    /// Deribit's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Tif::Gtc => "good_til_cancelled",
            Tif::Gtd => "good_til_day",
            Tif::Ioc => "immediate_or_cancel",
            Tif::Fok => "fill_or_kill",
        }
    }
}

/// Order state (dossier §5.2 `order_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderState {
    /// Resting.
    Open,
    /// Completely filled.
    Filled,
    /// Cancelled (see `cancel_reason`).
    Cancelled,
}

impl OrderState {
    /// Deribit's word.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Open => "open",
            OrderState::Filled => "filled",
            OrderState::Cancelled => "cancelled",
        }
    }
}

/// One of our orders, as the simulated venue sees it.
#[derive(Clone, Debug)]
pub struct Order {
    /// Sequence number (creation order; time priority).
    pub num: u64,
    /// Venue order id (opaque string).
    pub order_id: String,
    /// Account (auth `client_id`).
    pub account: String,
    /// Connection it was created through (cancel-on-disconnect).
    pub conn: u64,
    /// Client label.
    pub label: String,
    /// Instrument.
    pub inst: InstrumentId,
    /// Buy = Bid.
    pub side: Side,
    /// Limit price, ticks.
    pub price: Ticks,
    /// Order size, lots.
    pub lots: Lots,
    /// Filled, lots.
    pub filled: Lots,
    /// Recorded size ahead of us at our level, lots.
    pub queue_ahead: Lots,
    /// `post_only`.
    pub post_only: bool,
    /// `reject_post_only`.
    pub reject_post_only: bool,
    /// `reduce_only`.
    pub reduce_only: bool,
    /// Time in force.
    pub tif: Tif,
    /// State.
    pub state: OrderState,
    /// `cancel_reason` when cancelled.
    pub cancel_reason: Option<&'static str>,
    /// Creation time, ms (tape clock).
    pub created_ms: u64,
    /// Last update, ms (tape clock).
    pub updated_ms: u64,
    /// Edited at least once.
    pub replaced: bool,
    /// Σ price × lots of fills (for `average_price`).
    pub fill_value: i128,
    /// Σ fees paid, settlement currency.
    pub fees: f64,
    /// Counts towards market-maker protection (`mmp: true`; every quote).
    pub mmp: bool,
    /// Mass-quote tag (`quote: true`); `None` for plain orders.
    pub quote: Option<QuoteTag>,
}

/// What makes an order a quote (`private/mass_quote`, dossier §5.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteTag {
    /// `quote_id` of the request that placed or last replaced it.
    pub quote_id: String,
    /// `quote_set_id` of its quotes entry.
    pub quote_set_id: String,
    /// MMP group.
    pub mmp_group: String,
}

impl Order {
    /// Unfilled size.
    pub fn leaves(&self) -> Lots {
        self.lots - self.filled
    }

    /// Is `self` strictly better priced than `px` for its side?
    fn better_than(&self, px: Ticks) -> bool {
        match self.side {
            Side::Bid => self.price > px,
            Side::Ask => self.price < px,
        }
    }
}

/// One execution decided by the matcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exec {
    /// Order sequence number.
    pub num: u64,
    /// Execution price, ticks.
    pub price: Ticks,
    /// Executed lots.
    pub lots: Lots,
    /// Maker (resting) or taker (aggressive on arrival).
    pub maker: bool,
}

/// Does a `side` order at `px` cross the recorded opposite best?
pub fn crosses(book: &RecordedBook, side: Side, px: Ticks) -> bool {
    match book.best(side.opposite()) {
        None => false,
        Some((opp, _)) => match side {
            Side::Bid => px >= opp,
            Side::Ask => px <= opp,
        },
    }
}

/// Post-only repricing: one allowed tick inside the spread (`None` if there is no valid
/// price, e.g. the best ask is the minimum tick).
pub fn post_only_price(
    inst: &Instrument,
    book: &RecordedBook,
    side: Side,
    px: Ticks,
) -> Option<Ticks> {
    let (opp, _) = book.best(side.opposite())?;
    let p = match side {
        Side::Bid => inst.round_to_grid(opp - 1, false).min(px),
        Side::Ask => inst.round_to_grid(opp + 1, true).max(px),
    };
    (p > 0).then_some(p)
}

/// Lots available to a `side` order with limit `px` (for FOK).
pub fn available(book: &RecordedBook, side: Side, px: Ticks) -> Lots {
    book.reachable(side.opposite(), px)
        .iter()
        .map(|(_, l)| l)
        .sum()
}

/// Takes recorded liquidity for an aggressive order; returns `(price, lots)` per level.
pub fn take(book: &mut RecordedBook, side: Side, px: Ticks, lots: Lots) -> Vec<(Ticks, Lots)> {
    let opp = side.opposite();
    let mut left = lots;
    let mut out = Vec::new();
    for (p, avail) in book.reachable(opp, px) {
        if left == 0 {
            break;
        }
        let q = avail.min(left);
        book.consume(opp, p, q);
        out.push((p, q));
        left -= q;
    }
    out
}

/// Queue position of a new resting order.
pub fn queue_on_place(book: &RecordedBook, side: Side, px: Ticks) -> Lots {
    book.lots_at(side, px)
}

/// Sorts orders best price first, then time priority.
fn priority(orders: &mut [&mut Order]) {
    orders.sort_by(|a, b| {
        let pa = a.side.sign() * a.price;
        let pb = b.side.sign() * b.price;
        pb.cmp(&pa).then(a.num.cmp(&b.num))
    });
}

/// After a recorded book update: risk-averse queue decrease on touched levels, then fills
/// of resting orders the recorded opposite side has moved through.
pub fn on_book_update(
    book: &mut RecordedBook,
    orders: &mut [&mut Order],
    touched: &[(Side, Ticks, Lots)],
) -> Vec<Exec> {
    for o in orders.iter_mut() {
        for &(s, px, lots) in touched {
            if o.side == s && o.price == px {
                o.queue_ahead = o.queue_ahead.min(lots);
            }
        }
    }
    priority(orders);
    let mut out = Vec::new();
    for o in orders.iter_mut() {
        if o.state != OrderState::Open || !crosses(book, o.side, o.price) {
            continue;
        }
        let mut left = o.leaves();
        let opp = o.side.opposite();
        for (p, avail) in book.reachable(opp, o.price) {
            if left == 0 {
                break;
            }
            let q = avail.min(left);
            book.consume(opp, p, q);
            left -= q;
        }
        let q = o.leaves() - left;
        if q > 0 {
            o.queue_ahead = 0;
            out.push(Exec {
                num: o.num,
                price: o.price,
                lots: q,
                maker: true,
            });
        }
    }
    out
}

/// A recorded public trade (`taker` side, price, lots) against our resting orders.
pub fn on_trade(orders: &mut [&mut Order], taker: Side, px: Ticks, lots: Lots) -> Vec<Exec> {
    let hit = taker.opposite();
    priority(orders);
    let mut remaining = lots;
    let mut out = Vec::new();
    for o in orders.iter_mut() {
        if remaining <= 0 {
            break;
        }
        if o.state != OrderState::Open || o.side != hit {
            continue;
        }
        let avail = if o.better_than(px) {
            remaining
        } else if o.price == px {
            let ahead = o.queue_ahead;
            o.queue_ahead = (ahead - remaining).max(0);
            (remaining - ahead).max(0)
        } else {
            continue;
        };
        let q = avail.min(o.leaves());
        if q > 0 {
            remaining -= q;
            out.push(Exec {
                num: o.num,
                price: o.price,
                lots: q,
                maker: true,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::tape::{Action, BookUpdate, Row};
    use mm_core::decimal::Dec;
    use mm_core::instrument::Kind;

    fn inst() -> Instrument {
        Instrument::new("X", Kind::Perpetual, Dec::new(5, 1), Dec::new(10, 0))
    }

    fn row(p: i64, q: i64) -> Row {
        Row {
            action: if q == 0 { Action::Delete } else { Action::New },
            price: Dec::new(p * 5, 1),
            amount: Dec::new(q * 10, 0),
        }
    }

    fn book(bids: &[(i64, i64)], asks: &[(i64, i64)]) -> RecordedBook {
        let mut b = RecordedBook::default();
        b.apply(
            &inst(),
            &BookUpdate {
                snapshot: true,
                timestamp_ms: 0,
                change_id: 1,
                prev_change_id: None,
                bids: bids.iter().map(|&(p, q)| row(p, q)).collect(),
                asks: asks.iter().map(|&(p, q)| row(p, q)).collect(),
            },
        );
        b
    }

    fn order(num: u64, side: Side, price: Ticks, lots: Lots, queue: Lots) -> Order {
        Order {
            num,
            order_id: num.to_string(),
            account: "a".into(),
            conn: 0,
            label: String::new(),
            inst: 0,
            side,
            price,
            lots,
            filled: 0,
            queue_ahead: queue,
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

    #[test]
    fn take_walks_levels_and_consumes() {
        let mut b = book(&[(99, 5)], &[(100, 2), (101, 3)]);
        assert!(crosses(&b, Side::Bid, 100));
        assert_eq!(take(&mut b, Side::Bid, 101, 4), vec![(100, 2), (101, 2)]);
        // used liquidity is not taken twice
        assert_eq!(take(&mut b, Side::Bid, 101, 4), vec![(101, 1)]);
        assert_eq!(post_only_price(&inst(), &b, Side::Bid, 105), Some(99));
    }

    #[test]
    fn trade_consumes_queue_first() {
        let mut o = order(1, Side::Bid, 99, 3, 4);
        let mut v = vec![&mut o];
        assert!(on_trade(&mut v, Side::Ask, 99, 2).is_empty());
        assert_eq!(v[0].queue_ahead, 2);
        let e = on_trade(&mut v, Side::Ask, 99, 4);
        assert_eq!(e[0].lots, 2);
        // through our price: fills fully up to the trade size
        let mut o2 = order(2, Side::Bid, 99, 3, 10);
        let mut v2 = vec![&mut o2];
        assert_eq!(on_trade(&mut v2, Side::Ask, 98, 5)[0].lots, 3);
    }

    #[test]
    fn book_cross_fills_at_our_price_and_queue_is_risk_averse() {
        let mut b = book(&[(97, 5)], &[(100, 2)]);
        let mut o = order(1, Side::Bid, 98, 5, 0);
        o.queue_ahead = 3;
        let mut v = vec![&mut o];
        let e = on_book_update(&mut b, &mut v, &[(Side::Bid, 98, 1)]);
        assert!(e.is_empty());
        assert_eq!(v[0].queue_ahead, 1);
        let t = b.apply(
            &inst(),
            &BookUpdate {
                snapshot: false,
                timestamp_ms: 0,
                change_id: 2,
                prev_change_id: Some(1),
                bids: vec![],
                asks: vec![row(98, 2)],
            },
        );
        let e = on_book_update(&mut b, &mut v, &t);
        assert_eq!(
            e,
            vec![Exec {
                num: 1,
                price: 98,
                lots: 2,
                maker: true
            }]
        );
        // the same recorded liquidity does not fill twice
        assert!(on_book_update(&mut b, &mut v, &[]).is_empty());
    }
}
