//! The gateway's send queue under the credit budget ([`super::credits`], protocol.md §8):
//! every order intent is paid for before it is written; what cannot be paid waits here.
//!
//! Order when the budget is short (issue 4 item 4):
//! 1. cancel-alls (paid from the `cancel_all` bucket), then single cancels;
//! 2. then News and Amends, the quote furthest from its target first: distance =
//!    |new price − resting price| in ticks, a New (nothing resting) is the furthest; ties in
//!    arrival order.
//!
//! Bookkeeping that keeps the venue and the engine in step:
//! - an Amend queued for an order replaces an older queued Amend of the same order, and is
//!   folded into the order's New if that is still queued;
//! - a Cancel drops a queued Amend of its order (the cancel's reply answers the engine), and
//!   a Cancel of an order whose New is still queued drops both: the New is answered
//!   `Rejected 13666 request_cancelled_by_user` ("order not placed");
//! - a cancel-all drops every queued New and Amend, answered `13666` likewise (the venue would
//!   have cancelled them anyway; a New sent after the cancel-all would outlive it), and every
//!   queued Cancel (the cancel-all's `user.orders` notifications answer those orders).
//!
//! With the budget off (`--rate-budget off`) intents go out in arrival order unpaid (only to
//! prove that the venue's limit is then hit). The queue is allocated once
//! ([`Throttle::CAPACITY`]); when it is full the gateway stops taking intents off the ring
//! (back-pressure to the engine, nothing dropped).

use super::credits::{Class, CreditBudget, RateLimits};
use super::mass_quote::MassQuoter;
use mm_core::event::{ExecEvent, IntentKind, OrderIntent};
use mm_core::types::{ClientId, Ticks};
use mm_io::ring::Consumer;
use std::collections::HashMap;

/// `request_cancelled_by_user`: the answer to an intent dropped from the queue.
pub const DROPPED_CODE: i32 = 13666;

#[derive(Clone, Copy, Debug)]
struct Queued {
    it: OrderIntent,
    /// When it was taken off the ring (ns).
    t_in: u64,
    /// Counted as deferred (the budget was short while it waited).
    deferred: bool,
}

/// The send queue and the budget it pays from (see the module docs).
pub struct Throttle {
    budget: Option<CreditBudget>,
    queue: Vec<Queued>,
    /// Last price sent per live order (ticks): the "resting" price of the distance. Entries
    /// of orders that ended by a fill are only dropped by [`Self::prune_resting`].
    resting: HashMap<ClientId, Ticks>,
    /// [`Self::prune_resting`] does nothing below this many entries.
    prune_at: usize,
    /// Intents that waited because the budget was short.
    pub deferred: u64,
    /// Longest wait of an intent in the queue before it was sent, ns.
    pub max_wait_ns: u64,
    /// Queued intents dropped (superseded amends, News cancelled before they were sent).
    pub dropped: u64,
    /// Mass-quote mode: the intents a [`MassQuoter`] takes are not paid here but per
    /// `private/mass_quote` request, from [`Class::MassQuote`] ([`Self::with_mass_quotes`]).
    mass_quotes: bool,
}

impl Throttle {
    /// Queue capacity (intents).
    pub const CAPACITY: usize = 4096;

    /// A queue paying from a client budget for `limits` ([`CreditBudget::client`]); `None` =
    /// budget off.
    pub fn new(limits: Option<RateLimits>) -> Throttle {
        Throttle {
            budget: limits.map(CreditBudget::client),
            queue: Vec::with_capacity(Self::CAPACITY),
            resting: HashMap::with_capacity(Self::CAPACITY),
            prune_at: Self::CAPACITY,
            deferred: 0,
            max_wait_ns: 0,
            dropped: 0,
            mass_quotes: false,
        }
    }

    /// Mass-quote mode (`--quote-mode mass-quote`): the quote intents ([`MassQuoter::takes`])
    /// go into mass quotes, each of which pays one [`Class::MassQuote`] message when written
    /// (the venue's separate `maximum_mass_quotes` bucket, dossier §8), so they pass this
    /// queue without paying from the trading bucket. Flattens and cancel-alls still pay.
    pub fn with_mass_quotes(mut self, on: bool) -> Self {
        self.mass_quotes = on;
        self
    }

    /// The budget (for other senders, e.g. mass quotes: [`CreditBudget::try_take`]).
    pub fn budget(&mut self) -> Option<&mut CreditBudget> {
        self.budget.as_mut()
    }

    /// Intents waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queues `it` taken off the ring at `now` (ns), applying the bookkeeping of the module
    /// docs; the answers to dropped intents go to `replies`. Returns false (and queues
    /// nothing) when the queue is full.
    pub fn push(&mut self, it: OrderIntent, now: u64, replies: &mut Vec<ExecEvent>) -> bool {
        if self.queue.len() >= Self::CAPACITY {
            return false;
        }
        match it.kind {
            IntentKind::Amend => {
                if let Some(q) = self.queue.iter_mut().find(|q| {
                    q.it.client_id == it.client_id
                        && matches!(q.it.kind, IntentKind::New | IntentKind::Amend)
                }) {
                    // Fold into the queued New or replace the older Amend.
                    q.it.price = it.price;
                    q.it.qty = it.qty;
                    q.it.t_recv = it.t_recv;
                    q.it.t_decide = it.t_decide;
                    self.dropped += 1;
                    return true;
                }
            }
            IntentKind::Cancel => {
                let mut had_new = false;
                let before = self.queue.len();
                self.queue.retain(|q| {
                    if q.it.client_id != it.client_id || q.it.kind == IntentKind::Cancel {
                        return true;
                    }
                    if q.it.kind == IntentKind::New {
                        had_new = true;
                        replies.push(dropped(&q.it, now));
                    }
                    false
                });
                self.dropped += (before - self.queue.len()) as u64;
                if had_new {
                    // Never sent: nothing to cancel at the venue.
                    self.dropped += 1;
                    return true;
                }
            }
            IntentKind::CancelAll => {
                let before = self.queue.len();
                self.queue.retain(|q| match q.it.kind {
                    IntentKind::New | IntentKind::Amend => {
                        replies.push(dropped(&q.it, now));
                        false
                    }
                    // The cancel-all cancels it (its `user.orders` notification answers the
                    // engine).
                    IntentKind::Cancel => false,
                    IntentKind::CancelAll => true,
                });
                self.dropped += (before - self.queue.len()) as u64;
            }
            IntentKind::New => {}
        }
        self.queue.push(Queued {
            it,
            t_in: now,
            deferred: false,
        });
        true
    }

    /// The intent to write now, paid for, or `None` (nothing queued, or the budget is short:
    /// everything queued is then counted as deferred).
    pub fn next(&mut self, now: u64) -> Option<OrderIntent> {
        if self.queue.is_empty() {
            return None;
        }
        let k = match self.budget {
            None => 0,
            Some(_) => self.best(),
        };
        if let Some(b) = self.budget.as_mut() {
            let it = &self.queue[k].it;
            let class = if it.kind == IntentKind::CancelAll {
                Some(Class::CancelAll)
            } else if self.mass_quotes && MassQuoter::takes(it) {
                None
            } else {
                Some(Class::Trading)
            };
            if class.is_some_and(|c| !b.try_take(c, now)) {
                for q in self.queue.iter_mut().filter(|q| !q.deferred) {
                    q.deferred = true;
                    self.deferred += 1;
                }
                return None;
            }
        }
        let q = self.queue.remove(k);
        if q.deferred {
            self.max_wait_ns = self.max_wait_ns.max(now.saturating_sub(q.t_in));
        }
        match q.it.kind {
            IntentKind::New | IntentKind::Amend => {
                self.resting.insert(q.it.client_id, q.it.price);
            }
            IntentKind::Cancel => {
                self.resting.remove(&q.it.client_id);
            }
            IntentKind::CancelAll => self.resting.clear(),
        }
        Some(q.it)
    }

    /// Keeps bounded the map of resting prices: orders that end by a fill are not announced
    /// to the throttle, so once the map holds more than [`Self::CAPACITY`] entries (then twice
    /// the size left after the last pruning) it keeps only the orders `open` says are still
    /// open (the gateway asks its [`crate::deribit::gateway::OrderSession::is_open`]). O(n)
    /// when it prunes, amortised O(1) per order; gateway thread only. Returns the entries
    /// dropped.
    pub fn prune_resting(&mut self, open: impl Fn(ClientId) -> bool) -> usize {
        if self.resting.len() <= self.prune_at {
            return 0;
        }
        let before = self.resting.len();
        self.resting.retain(|cid, _| open(*cid));
        self.prune_at = (2 * self.resting.len()).max(Self::CAPACITY);
        before - self.resting.len()
    }

    /// The connection dropped: every queued intent is void (cancel-on-disconnect cancelled
    /// the orders; the engine forgets them on `Disconnected`). The budget is kept: the venue's
    /// buckets are per account, not per connection (after a 10028, wait for credits).
    pub fn on_disconnect(&mut self) {
        self.dropped += self.queue.len() as u64;
        self.queue.clear();
        self.resting.clear();
    }

    /// Moves intents from the ring into the queue (while it has room), then returns
    /// [`Self::next`]. The gateway's one call in its "intents → wire" step.
    pub fn pull(
        &mut self,
        ring: &mut Consumer<OrderIntent>,
        now: u64,
        replies: &mut Vec<ExecEvent>,
    ) -> Option<OrderIntent> {
        while self.queue.len() < Self::CAPACITY {
            match ring.pop() {
                Some(it) => {
                    self.push(it, now, replies);
                }
                None => break,
            }
        }
        self.next(now)
    }

    /// Index of the intent to send first (module docs' order).
    fn best(&self) -> usize {
        let mut best = 0;
        let mut key = (u8::MAX, 0u64);
        for (k, q) in self.queue.iter().enumerate() {
            let kk = self.priority(&q.it);
            // Lower class first; within a class the larger distance first; ties: earlier.
            if kk.0 < key.0 || (kk.0 == key.0 && kk.1 > key.1) {
                key = kk;
                best = k;
            }
        }
        best
    }

    /// `(class, distance in ticks)`: class 0 cancel-all, 1 cancel, 2 New/Amend.
    fn priority(&self, it: &OrderIntent) -> (u8, u64) {
        match it.kind {
            IntentKind::CancelAll => (0, 0),
            IntentKind::Cancel => (1, 0),
            IntentKind::New => (2, u64::MAX),
            IntentKind::Amend => match self.resting.get(&it.client_id) {
                Some(&p) => (2, it.price.abs_diff(p)),
                None => (2, u64::MAX),
            },
        }
    }
}

/// The answer to an intent dropped from the queue: `Rejected 13666` (not placed / not
/// changed).
fn dropped(it: &OrderIntent, t: u64) -> ExecEvent {
    ExecEvent::rejection_of(it, DROPPED_CODE, 0, t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mm_core::event::ExecKind;
    use mm_core::types::Side;

    fn it(kind: IntentKind, cid: ClientId, price: Ticks) -> OrderIntent {
        OrderIntent {
            kind,
            client_id: cid,
            price,
            qty: 1,
            side: Side::Bid,
            ..Default::default()
        }
    }

    /// Tier 4 with burst 3 (2 spendable after the headroom), 1 request/s.
    fn tight() -> Throttle {
        Throttle::new(Some(
            RateLimits::for_tier(4)
                .unwrap()
                .with_me(Some(1), Some(3))
                .unwrap(),
        ))
    }

    #[test]
    fn resting_prices_of_filled_orders_are_pruned() {
        let mut t = Throttle::new(None);
        let mut r = Vec::new();
        let n = Throttle::CAPACITY as u64 + 10;
        for cid in 1..=n {
            t.push(it(IntentKind::New, cid, 100), 0, &mut r);
            t.next(0).unwrap();
        }
        // Only the last 5 orders are still open (the others filled).
        let open = |cid: ClientId| cid > n - 5;
        assert_eq!(t.prune_resting(open), n as usize - 5);
        assert_eq!(t.resting.len(), 5);
        // Below the threshold nothing is scanned again.
        assert_eq!(t.prune_resting(|_| false), 0);
        // An amend of a still open order keeps its distance.
        assert_eq!(t.priority(&it(IntentKind::Amend, n, 103)), (2, 3));
    }

    #[test]
    fn mass_quote_mode_quotes_skip_the_trading_bucket_flattens_pay() {
        let mut t = tight().with_mass_quotes(true);
        let mut r = Vec::new();
        // Far more quote intents than the trading bucket holds: none waits here.
        for cid in 1..=10 {
            assert!(t.push(it(IntentKind::New, cid, 100), 0, &mut r));
            assert!(t.next(0).is_some(), "quote {cid}");
        }
        assert_eq!(t.deferred, 0);
        // A reduce-only IOC flatten is a plain order: it pays (2 spendable, then waits).
        let mut flat = it(IntentKind::New, 11, 100);
        flat.flags = mm_core::event::intent_flags::IOC | mm_core::event::intent_flags::REDUCE_ONLY;
        for k in 0..3 {
            t.push(
                OrderIntent {
                    client_id: 11 + k,
                    ..flat
                },
                0,
                &mut r,
            );
        }
        assert!(t.next(0).is_some());
        assert!(t.next(0).is_some());
        assert!(t.next(0).is_none(), "the third flatten waits for credits");
    }

    #[test]
    fn sends_at_once_while_the_budget_lasts_then_defers() {
        let mut t = tight();
        let mut r = Vec::new();
        for cid in 1..=4 {
            assert!(t.push(it(IntentKind::New, cid, 100), 0, &mut r));
        }
        assert!(t.next(0).is_some());
        assert!(t.next(0).is_some());
        assert!(t.next(0).is_none(), "budget spent");
        assert_eq!(t.deferred, 2);
        assert_eq!(t.len(), 2);
        // 1 request/s: the next one after a second, with its wait recorded.
        assert!(t.next(999_999_999).is_none());
        assert!(t.next(1_000_000_000).is_some());
        assert_eq!(t.max_wait_ns, 1_000_000_000);
        assert!(r.is_empty());
    }

    #[test]
    fn cancels_first_then_furthest_from_target() {
        let mut t = tight();
        let mut r = Vec::new();
        // Two orders rest at 100 and 200.
        t.push(it(IntentKind::New, 1, 100), 0, &mut r);
        t.push(it(IntentKind::New, 2, 200), 0, &mut r);
        assert_eq!(t.next(0).unwrap().client_id, 1);
        assert_eq!(t.next(0).unwrap().client_id, 2);
        // Budget spent; queue: amend 1 by 2 ticks, New 3, amend 2 by 7 ticks, cancel 4.
        t.push(it(IntentKind::Amend, 1, 102), 1, &mut r);
        t.push(it(IntentKind::New, 3, 300), 1, &mut r);
        t.push(it(IntentKind::Amend, 2, 193), 1, &mut r);
        t.push(it(IntentKind::Cancel, 4, 0), 1, &mut r);
        let s = 1_000_000_000;
        let order: Vec<(IntentKind, ClientId)> = (1..=4)
            .map(|k| t.next(k * s).unwrap())
            .map(|i| (i.kind, i.client_id))
            .collect();
        assert_eq!(
            order,
            vec![
                (IntentKind::Cancel, 4),
                (IntentKind::New, 3),
                (IntentKind::Amend, 2),
                (IntentKind::Amend, 1)
            ]
        );
    }

    #[test]
    fn cancel_all_goes_first_and_drops_queued_quotes() {
        let mut t = tight();
        let mut r = Vec::new();
        t.push(it(IntentKind::New, 1, 100), 0, &mut r);
        t.next(0);
        t.next(0);
        t.push(it(IntentKind::New, 2, 100), 0, &mut r);
        t.push(it(IntentKind::Amend, 1, 101), 0, &mut r);
        t.push(it(IntentKind::CancelAll, 0, 0), 0, &mut r);
        assert_eq!(t.len(), 1);
        assert_eq!(r.len(), 2);
        assert!(r
            .iter()
            .all(|e| e.kind == ExecKind::Rejected && e.code == DROPPED_CODE));
        // Its own bucket: it goes now although trading is spent.
        assert_eq!(t.next(0).unwrap().kind, IntentKind::CancelAll);
    }

    #[test]
    fn amends_coalesce_and_cancel_of_unsent_new_drops_both() {
        let mut t = tight();
        let mut r = Vec::new();
        t.push(it(IntentKind::New, 9, 100), 0, &mut r);
        t.next(0);
        t.next(0);
        t.push(it(IntentKind::Amend, 9, 101), 0, &mut r);
        t.push(it(IntentKind::Amend, 9, 105), 0, &mut r);
        assert_eq!(t.len(), 1);
        t.push(it(IntentKind::New, 10, 50), 0, &mut r);
        t.push(it(IntentKind::Amend, 10, 51), 0, &mut r);
        t.push(it(IntentKind::Cancel, 10, 0), 0, &mut r);
        assert_eq!(t.len(), 1, "New 10 and its cancel both gone");
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].client_id, r[0].code), (10, DROPPED_CODE));
        let a = t.next(2_000_000_000).unwrap();
        assert_eq!((a.kind, a.client_id, a.price), (IntentKind::Amend, 9, 105));
    }

    #[test]
    fn disconnect_voids_the_queue_but_keeps_the_budget() {
        let mut t = tight();
        let mut r = Vec::new();
        for cid in 1..=3 {
            t.push(it(IntentKind::New, cid, 100), 0, &mut r);
        }
        t.next(0);
        t.next(0);
        t.on_disconnect();
        assert!(t.is_empty());
        t.push(it(IntentKind::New, 4, 100), 1, &mut r);
        assert!(t.next(1).is_none(), "still no credit");
    }

    #[test]
    fn budget_off_sends_everything_in_order() {
        let mut t = Throttle::new(None);
        let mut r = Vec::new();
        for cid in 1..=100 {
            t.push(it(IntentKind::New, cid, 100), 0, &mut r);
        }
        let ids: Vec<ClientId> = std::iter::from_fn(|| t.next(0))
            .map(|i| i.client_id)
            .collect();
        assert_eq!(ids, (1..=100).collect::<Vec<_>>());
        assert_eq!(t.deferred, 0);
    }
}
