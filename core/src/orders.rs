//! Order state: every live order of the run in a fixed pool, addressed by [`ClientId`].
//!
//! An order lives from the moment the hot thread decides to send it until the venue reports it
//! filled, cancelled or rejected. While a request about it is unanswered it carries an
//! [`InFlight`] marker; the engine sends at most one request per order at a time.
//!
//! Allocates on construction ([`Orders::new`]), never after. Slot of id `n` is
//! `n & (capacity − 1)`; ids whose slot is still busy are skipped at allocation.

use crate::types::{ClientId, InstrumentId, Lots, Side, Ticks};

/// Lifecycle state of an order (Deribit `order_state`, plus our pending-new state).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Status {
    /// Slot unused.
    #[default]
    Free,
    /// Sent, not yet acknowledged.
    PendingNew,
    /// Resting at the venue (possibly partially filled: see [`Order::filled`]).
    Open,
}

/// The request about an order that awaits the venue's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InFlight {
    /// Nothing outstanding.
    #[default]
    None,
    /// The new-order request.
    New,
    /// An amend to this price and total size.
    Amend {
        /// Requested price (ticks).
        price: Ticks,
        /// Requested total size (lots).
        qty: Lots,
    },
    /// A cancel (or a cancel-all covering it).
    Cancel,
}

/// One order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Order {
    /// Our id.
    pub client_id: ClientId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Buy (`Bid`) or sell (`Ask`).
    pub side: Side,
    /// Current price at the venue (ticks); the requested price while pending new.
    pub price: Ticks,
    /// Total size (lots).
    pub qty: Lots,
    /// Filled so far (lots).
    pub filled: Lots,
    /// Lifecycle state.
    pub status: Status,
    /// Outstanding request.
    pub inflight: InFlight,
    /// Size this order currently counts in the side's pending total (lots): the larger of its
    /// open size and the open size an in-flight amend may give it.
    pub counted: Lots,
}

impl Order {
    /// Open size (lots).
    #[inline]
    pub fn leaves(&self) -> Lots {
        (self.qty - self.filled).max(0)
    }

    /// True while partially filled and still open.
    #[inline]
    pub fn partially_filled(&self) -> bool {
        self.filled > 0 && self.leaves() > 0
    }

    /// What this order may add to its side's position in the worst case (lots).
    #[inline]
    pub fn worst_leaves(&self) -> Lots {
        match self.inflight {
            InFlight::Amend { qty, .. } => self.leaves().max(qty - self.filled),
            _ => self.leaves(),
        }
    }
}

/// Fixed pool of live orders.
#[derive(Debug)]
pub struct Orders {
    slots: Box<[Order]>,
    mask: usize,
    next_id: ClientId,
    live: usize,
}

impl Orders {
    /// A pool for up to `capacity` simultaneously live orders (rounded up to a power of two).
    pub fn new(capacity: usize) -> Orders {
        let cap = capacity.max(16).next_power_of_two();
        Orders {
            slots: vec![Order::default(); cap].into_boxed_slice(),
            mask: cap - 1,
            next_id: 1,
            live: 0,
        }
    }

    /// Number of live orders (pending or open).
    #[inline]
    pub fn live(&self) -> usize {
        self.live
    }

    /// Creates a pending-new order and returns its id, or `None` when the pool is full.
    pub fn create(
        &mut self,
        instrument: InstrumentId,
        side: Side,
        price: Ticks,
        qty: Lots,
    ) -> Option<ClientId> {
        if self.live > self.mask {
            return None;
        }
        loop {
            let id = self.next_id;
            self.next_id += 1;
            let slot = &mut self.slots[id as usize & self.mask];
            if slot.status == Status::Free {
                *slot = Order {
                    client_id: id,
                    instrument,
                    side,
                    price,
                    qty,
                    filled: 0,
                    status: Status::PendingNew,
                    inflight: InFlight::New,
                    counted: 0,
                };
                self.live += 1;
                return Some(id);
            }
        }
    }

    /// The live order with this id.
    #[inline]
    pub fn get(&self, id: ClientId) -> Option<&Order> {
        let o = &self.slots[id as usize & self.mask];
        (o.client_id == id && o.status != Status::Free).then_some(o)
    }

    /// The live order with this id, mutably.
    #[inline]
    pub fn get_mut(&mut self, id: ClientId) -> Option<&mut Order> {
        let o = &mut self.slots[id as usize & self.mask];
        (o.client_id == id && o.status != Status::Free).then_some(o)
    }

    /// Removes an order (filled, cancelled or rejected); returns it.
    pub fn remove(&mut self, id: ClientId) -> Option<Order> {
        let o = self.get_mut(id)?;
        let out = *o;
        o.status = Status::Free;
        self.live -= 1;
        Some(out)
    }

    /// Raises the next id to assign to `next` (never lowers it; cold path, before trading).
    pub fn reserve_ids(&mut self, next: ClientId) {
        self.next_id = self.next_id.max(next);
    }

    /// The next id [`Self::create`] will try.
    pub fn next_id(&self) -> ClientId {
        self.next_id
    }

    /// Forgets every live order (after a disconnect with cancel-on-disconnect). O(capacity).
    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|o| o.status = Status::Free);
        self.live = 0;
    }

    /// Calls `f` on every live order (O(capacity); shutdown and reports only).
    pub fn for_each_live(&mut self, mut f: impl FnMut(&mut Order)) {
        for o in self.slots.iter_mut().filter(|o| o.status != Status::Free) {
            f(o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_skip_busy_slots() {
        let mut p = Orders::new(16);
        let a = p.create(0, Side::Bid, 10, 1).unwrap();
        for _ in 0..15 {
            let id = p.create(0, Side::Ask, 11, 1).unwrap();
            p.remove(id);
        }
        // id a+16 would land on a's busy slot: it is skipped.
        let b = p.create(0, Side::Bid, 9, 1).unwrap();
        assert_ne!(b as usize & 15, a as usize & 15);
        assert_eq!(p.get(a).unwrap().price, 10);
        assert_eq!(p.live(), 2);
        assert!(p.get(a + 16).is_none());
    }

    #[test]
    fn worst_leaves_counts_inflight_amend() {
        let mut o = Order {
            qty: 5,
            filled: 2,
            ..Default::default()
        };
        assert_eq!(o.worst_leaves(), 3);
        o.inflight = InFlight::Amend { price: 1, qty: 10 };
        assert_eq!(o.worst_leaves(), 8);
        o.inflight = InFlight::Amend { price: 1, qty: 3 };
        assert_eq!(o.worst_leaves(), 3);
    }
}
