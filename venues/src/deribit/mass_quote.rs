//! Mass-quote mode of the order session (`--quote-mode mass-quote`, dossier §5.6).
//!
//! The engine's New/Amend/Cancel intents taken in one gateway loop turn are queued here
//! ([`MassQuoter::queue`]) and written as `private/mass_quote` requests
//! ([`MassQuoter::next_frame`]): one entry per (instrument, side) *slot* — the venue keeps
//! one quote per side per instrument per MMP group, a new quote replacing the old — at most
//! [`MAX_PER_SIDE`] bids and asks per request, all of one index (a turn spanning several
//! indexes, or more slots, is split). `Cancel` is `amount: 0` on that side.
//!
//! Quote orders carry no label, so the slot is the key: slot → our client id (the id of the
//! last New/Amend on it), venue `order_id` → slot. Replies become the usual events:
//! - a side placed/replaced → `Accepted` (New) / `Amended` (Amend) with the order's price and
//!   size; an `amount: 0` side → `Cancelled`; a client id whose slot a New took over
//!   without a Cancel → `Cancelled` (the venue replaced its quote);
//! - a side in `errors[]` → `Rejected` with the venue code (New: never existed; Amend:
//!   `qty = -1`, the venue cancels the side's resting quote when an amendment errs);
//! - a JSON-RPC error for the whole request (`13030` MMP frozen, `13043` quotes frozen,
//!   `13888` `valid_until` passed, `13042` no COD, `13040`, `13902`, `13903`, `10028`) →
//!   `Rejected` for every intent of it with the order states unchanged.
//! - `user.orders` cancels/fills of a quote (`quote_id` set) → `Cancelled` for the slot's
//!   client id; `user.trades` fills of a quote → `Fill` for it ([`MassQuoter::trade_cid`]).
//!
//! Known race: a quote filled or cancelled by the venue while our replacement is in flight can
//! leave a quote the engine does not track; the next quote on that slot replaces it, and the
//! closing `cancel_quotes` removes it.

use super::encode::{Encoder, QuoteEntry, QuoteLeg};
use super::mmp::index_name;
use super::private::{OrderState, OrderView, OrdersView, QuoteErrorsView, TradeView};
use mm_core::event::{intent_flags, ExecEvent, ExecKind, IntentKind, OrderIntent};
use mm_core::instrument::InstrumentTable;
use mm_core::types::{ClientId, InstrumentId, Lots, Side, Ticks};
use std::collections::HashMap;
use std::sync::Arc;

/// Most bids (and most asks) in one `private/mass_quote` request (dossier §5.6).
pub const MAX_PER_SIDE: usize = 100;

/// Mass-quote settings (`--mmp-group`, `--quote-valid-ms`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MassQuoteOpts {
    /// MMP group of the quotes (configured with `private/set_mmp_config` at startup).
    pub mmp_group: String,
    /// `quote_set_id` of every quote (targeted `cancel_quotes`).
    pub quote_set_id: String,
    /// `valid_until` = wall clock + this (ms); 0 = no `valid_until`.
    pub valid_ms: u64,
}

/// What the mass-quote mode counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MassQuoteStats {
    /// `private/mass_quote` requests written.
    pub mass_quotes_sent: u64,
    /// Quote sides written (bids + asks, cancels included).
    pub quote_sides_sent: u64,
    /// Sides refused (`errors[]` entries, and every side of a refused request).
    pub quote_errors: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// Our client id of the quote on the slot (0 = none).
    cid: ClientId,
    /// The previous one (fills of a quote cancelled in flight).
    last_cid: ClientId,
}

#[derive(Clone, Debug)]
struct Leg {
    inst: InstrumentId,
    side: Side,
    price: Ticks,
    qty: Lots,
    post_only: bool,
    /// Slot client id before this turn touched it (restored if the request is refused).
    prev_cid: ClientId,
    /// The intents folded into this side, in order (a replaced client id as a Cancel).
    intents: Vec<(ClientId, IntentKind)>,
}

/// The mass-quote bookkeeping of an order session (see the module docs).
pub struct MassQuoter {
    opts: MassQuoteOpts,
    table: Arc<InstrumentTable>,
    /// Index number of each instrument.
    index_of: Vec<u32>,
    slots: HashMap<(InstrumentId, Side), Slot>,
    order_slot: HashMap<String, (InstrumentId, Side)>,
    batch: Vec<Leg>,
    pending: HashMap<u64, Vec<Leg>>,
    next_quote_id: u64,
    /// What was counted.
    pub stats: MassQuoteStats,
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl MassQuoter {
    /// A quoter for the instruments of `table`.
    pub fn new(opts: MassQuoteOpts, table: Arc<InstrumentTable>) -> MassQuoter {
        let mut names: Vec<String> = Vec::new();
        let index_of = (0..table.len())
            .map(|i| {
                let n = index_name(table.get(i as InstrumentId));
                match names.iter().position(|x| *x == n) {
                    Some(k) => k as u32,
                    None => {
                        names.push(n);
                        (names.len() - 1) as u32
                    }
                }
            })
            .collect();
        MassQuoter {
            opts,
            table,
            index_of,
            slots: HashMap::new(),
            order_slot: HashMap::new(),
            batch: Vec::new(),
            pending: HashMap::new(),
            next_quote_id: 1,
            stats: MassQuoteStats::default(),
        }
    }

    /// Forgets every quote, batch and pending request after the order connection was lost:
    /// cancel-on-disconnect (required for mass quotes, dossier §5.6) cancelled the quotes at
    /// the venue, and the engine forgot them on `ExecKind::Disconnected`. The `quote_id`
    /// counter and the stats are kept.
    pub fn forget_connection(&mut self) {
        self.slots.clear();
        self.order_slot.clear();
        self.batch.clear();
        self.pending.clear();
    }

    /// Whether `client_id` is the quote of a slot now.
    pub fn holds(&self, client_id: ClientId) -> bool {
        self.slots.values().any(|s| s.cid == client_id)
    }

    /// The settings.
    pub fn opts(&self) -> &MassQuoteOpts {
        &self.opts
    }

    /// True if `it` goes through mass quotes: New (not IOC, not reduce-only), Amend and
    /// Cancel. Flattens (reduce-only IOC) and CancelAll do not.
    pub fn takes(it: &OrderIntent) -> bool {
        match it.kind {
            IntentKind::New => it.flags & (intent_flags::IOC | intent_flags::REDUCE_ONLY) == 0,
            IntentKind::Amend | IntentKind::Cancel => true,
            IntentKind::CancelAll => false,
        }
    }

    /// Queues an intent for this turn's requests. Returns the event to report at once when
    /// nothing is to be sent: an Amend or Cancel of a client id that no longer holds its slot
    /// (`Rejected` with `qty = -1` for the Amend, `Cancelled` for the Cancel).
    pub fn queue(&mut self, it: &OrderIntent, t: u64) -> Option<ExecEvent> {
        if it.instrument as usize >= self.table.len() {
            return Some(ExecEvent::rejection_of(it, 10004, -1, t));
        }
        let key = (it.instrument, it.side);
        let slot = self.slots.entry(key).or_default();
        if it.kind != IntentKind::New && slot.cid != it.client_id {
            let (kind, qty, code) = if it.kind == IntentKind::Cancel {
                (ExecKind::Cancelled, 0, 0)
            } else {
                (ExecKind::Rejected, -1, 10004)
            };
            return Some(ExecEvent {
                t_recv: t,
                client_id: it.client_id,
                instrument: it.instrument,
                kind,
                code,
                qty,
                side: it.side,
                ..Default::default()
            });
        }
        let prev = slot.cid;
        let k = match self
            .batch
            .iter()
            .position(|l| l.inst == it.instrument && l.side == it.side)
        {
            Some(k) => k,
            None => {
                self.batch.push(Leg {
                    inst: it.instrument,
                    side: it.side,
                    price: 0,
                    qty: 0,
                    post_only: false,
                    prev_cid: prev,
                    intents: Vec::new(),
                });
                self.batch.len() - 1
            }
        };
        let leg = &mut self.batch[k];
        match it.kind {
            IntentKind::New => {
                if prev != 0 && prev != it.client_id {
                    // The venue replaces the slot's quote: the old id is gone.
                    leg.intents.push((prev, IntentKind::Cancel));
                    slot.last_cid = prev;
                }
                slot.cid = it.client_id;
                leg.price = it.price;
                leg.qty = it.qty;
            }
            IntentKind::Amend => {
                leg.price = it.price;
                leg.qty = it.qty;
            }
            _ => {
                slot.last_cid = prev;
                slot.cid = 0;
                leg.qty = 0;
            }
        }
        leg.post_only |= it.flags & intent_flags::POST_ONLY != 0;
        leg.intents.push((it.client_id, it.kind));
        None
    }

    /// The next `private/mass_quote` frame of this turn's queue (id `id`; the caller
    /// advances its id counter when a frame is returned), or `None` when the queue is empty.
    /// One index per request, ≤ [`MAX_PER_SIDE`] bids and asks.
    pub fn next_frame<'e>(&mut self, enc: &'e mut Encoder, id: u64) -> Option<&'e str> {
        let first = self.batch.first()?;
        let index = self.index_of[first.inst as usize];
        let (mut bids, mut asks) = (0, 0);
        let mut legs = Vec::new();
        let mut rest = Vec::new();
        for l in self.batch.drain(..) {
            let n = if l.side == Side::Bid {
                &mut bids
            } else {
                &mut asks
            };
            if self.index_of[l.inst as usize] == index && *n < MAX_PER_SIDE {
                *n += 1;
                legs.push(l);
            } else {
                rest.push(l);
            }
        }
        self.batch = rest;
        let table = self.table.clone();
        let mut entries: Vec<QuoteEntry<'_>> = Vec::with_capacity(legs.len());
        let mut post_only = false;
        for l in &legs {
            post_only |= l.post_only;
            let leg = QuoteLeg {
                price: l.price,
                qty: l.qty,
            };
            match entries.iter_mut().find(|e| e.inst.id == l.inst) {
                Some(e) if l.side == Side::Bid && e.bid.is_none() => e.bid = Some(leg),
                Some(e) if l.side == Side::Ask && e.ask.is_none() => e.ask = Some(leg),
                _ => entries.push(QuoteEntry {
                    inst: table.get(l.inst),
                    quote_set_id: &self.opts.quote_set_id,
                    bid: (l.side == Side::Bid).then_some(leg),
                    ask: (l.side == Side::Ask).then_some(leg),
                }),
            }
        }
        let quote_id = self.next_quote_id;
        self.next_quote_id += 1;
        let valid = (self.opts.valid_ms > 0).then(|| wall_ms() + self.opts.valid_ms);
        self.stats.mass_quotes_sent += 1;
        self.stats.quote_sides_sent += legs.len() as u64;
        let frame = enc.mass_quote(
            id,
            quote_id,
            &self.opts.mmp_group,
            valid,
            post_only,
            &entries,
        );
        drop(entries);
        self.pending.insert(id, legs);
        Some(frame)
    }

    /// True if request `id` is a mass quote of ours still unanswered.
    pub fn is_pending(&self, id: u64) -> bool {
        self.pending.contains_key(&id)
    }

    fn slot_of_order(&mut self, o: &OrderView<'_>, inst: InstrumentId) {
        if o.state == OrderState::Open {
            self.order_slot
                .insert(o.order_id.to_string(), (inst, o.side));
        } else {
            self.order_slot.remove(o.order_id);
        }
    }

    /// The `{orders, trades, errors}` reply to mass quote `id` at `t_recv`: pushes the
    /// events of each of its sides (see the module docs).
    pub fn on_reply(
        &mut self,
        id: u64,
        orders: OrdersView<'_>,
        errors: QuoteErrorsView<'_>,
        t_recv: u64,
        out: &mut Vec<ExecEvent>,
    ) {
        let Some(legs) = self.pending.remove(&id) else {
            return;
        };
        let table = self.table.clone();
        for l in legs {
            let name = &table.get(l.inst).name;
            let err = errors
                .iter()
                .flatten()
                .find(|e| e.instrument_name == name && e.side == l.side);
            let order = orders
                .iter()
                .flatten()
                .find(|o| o.instrument_name == name && o.side == l.side);
            if let Some(o) = &order {
                self.slot_of_order(o, l.inst);
            }
            if let Some(e) = err {
                self.stats.quote_errors += 1;
                log::debug!(
                    "gateway: quote {name} {:?} refused: {} {}",
                    l.side,
                    e.code,
                    e.message
                );
                // An errored side has no quote on the venue any more.
                let slot = self.slots.entry((l.inst, l.side)).or_default();
                if l.intents.iter().any(|&(c, _)| c == slot.cid) {
                    slot.last_cid = slot.cid;
                    slot.cid = 0;
                }
                for &(cid, kind) in &l.intents {
                    out.push(match kind {
                        IntentKind::Cancel => ExecEvent {
                            t_recv,
                            client_id: cid,
                            instrument: l.inst,
                            kind: ExecKind::Cancelled,
                            side: l.side,
                            ..Default::default()
                        },
                        _ => ExecEvent {
                            t_recv,
                            client_id: cid,
                            instrument: l.inst,
                            kind: ExecKind::Rejected,
                            code: e.code,
                            qty: if kind == IntentKind::Amend { -1 } else { 0 },
                            side: l.side,
                            ..Default::default()
                        },
                    });
                }
                continue;
            }
            let inst = table.get(l.inst);
            let (price, qty, gone) = match &order {
                Some(o) => (
                    o.price.and_then(|p| inst.ticks_round(p)).unwrap_or(l.price),
                    inst.lots_round(o.amount).unwrap_or(l.qty),
                    o.state == OrderState::Cancelled || o.state == OrderState::Rejected,
                ),
                None => (l.price, l.qty, false),
            };
            for &(cid, kind) in &l.intents {
                let kind = match kind {
                    IntentKind::Cancel => ExecKind::Cancelled,
                    _ if gone => ExecKind::Cancelled,
                    IntentKind::New => ExecKind::Accepted,
                    _ => ExecKind::Amended,
                };
                out.push(ExecEvent {
                    t_recv,
                    client_id: cid,
                    price,
                    qty,
                    leaves: qty,
                    instrument: l.inst,
                    kind,
                    side: l.side,
                    ..Default::default()
                });
            }
            if gone {
                let slot = self.slots.entry((l.inst, l.side)).or_default();
                if l.intents.iter().any(|&(c, _)| c == slot.cid) {
                    slot.last_cid = slot.cid;
                    slot.cid = 0;
                }
            }
        }
    }

    /// A JSON-RPC error for mass quote `id` (the whole request refused): pushes `Rejected`
    /// with `code` for each of its intents and restores the slots. Returns whether `id` was
    /// ours.
    pub fn on_error(&mut self, id: u64, code: i32, t_recv: u64, out: &mut Vec<ExecEvent>) -> bool {
        let Some(legs) = self.pending.remove(&id) else {
            return false;
        };
        for l in legs {
            self.stats.quote_errors += 1;
            let slot = self.slots.entry((l.inst, l.side)).or_default();
            let ours = l.intents.last().map(|x| x.0);
            let set_by_us = match ours {
                Some(c) if l.intents.last().map(|x| x.1) == Some(IntentKind::Cancel) => {
                    slot.cid == 0 && slot.last_cid == c
                }
                Some(c) => slot.cid == c,
                None => false,
            };
            if set_by_us {
                slot.cid = l.prev_cid;
            }
            // A New was never placed; the slot's previous quote is unchanged.
            for &(cid, _) in &l.intents {
                out.push(ExecEvent {
                    t_recv,
                    client_id: cid,
                    instrument: l.inst,
                    kind: ExecKind::Rejected,
                    code,
                    side: l.side,
                    ..Default::default()
                });
            }
        }
        true
    }

    /// A `user.orders` notification of a quote (`quote_id` set): a cancel (MMP trigger,
    /// `cancel_quotes`, cancel-on-disconnect) or a full fill of the slot's quote pushes
    /// `Cancelled` for its client id (fills: nothing, the fills report it) and frees the slot.
    pub fn on_order(&mut self, o: &OrderView<'_>, t_recv: u64, out: &mut Vec<ExecEvent>) {
        let Some(inst) = self.table.id(o.instrument_name) else {
            return;
        };
        if o.state == OrderState::Open {
            self.order_slot
                .insert(o.order_id.to_string(), (inst, o.side));
            return;
        }
        let known = self.order_slot.remove(o.order_id).is_some();
        if !known || !matches!(o.state, OrderState::Cancelled | OrderState::Filled) {
            return;
        }
        let slot = self.slots.entry((inst, o.side)).or_default();
        if slot.cid == 0 {
            return;
        }
        let cid = slot.cid;
        slot.last_cid = cid;
        slot.cid = 0;
        if o.state == OrderState::Cancelled {
            out.push(ExecEvent {
                t_recv,
                client_id: cid,
                instrument: inst,
                kind: ExecKind::Cancelled,
                code: if o.cancel_reason == "mmp_trigger" {
                    13030
                } else {
                    0
                },
                side: o.side,
                ..Default::default()
            });
        }
    }

    /// Our client id for a fill of a quote (empty label, `quote_id` set) on instrument
    /// `inst`: the slot of its `order_id` (else of its instrument and side) → the slot's
    /// client id, or the previous one if the slot was just freed.
    pub fn trade_cid(&self, t: &TradeView<'_>, inst: InstrumentId) -> Option<ClientId> {
        if t.quote_id.is_empty() {
            return None;
        }
        let key = self
            .order_slot
            .get(t.order_id)
            .copied()
            .unwrap_or((inst, t.side));
        let s = self.slots.get(&key)?;
        Some(if s.cid != 0 { s.cid } else { s.last_cid }).filter(|&c| c != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deribit::private::{decode_private, PrivateMsg, RpcResult};
    use mm_core::instrument::InstrumentTable;

    fn table() -> Arc<InstrumentTable> {
        Arc::new(crate::deribit::test_option_table(130))
    }

    fn intent(kind: IntentKind, cid: u64, side: Side, price: i64, qty: i64) -> OrderIntent {
        OrderIntent {
            client_id: cid,
            price,
            qty,
            instrument: 0,
            kind,
            side,
            flags: intent_flags::POST_ONLY,
            ..Default::default()
        }
    }

    #[test]
    fn batching_and_reply_mapping() {
        let t = table();
        let mut q = MassQuoter::new(
            MassQuoteOpts {
                mmp_group: "mmf".into(),
                quote_set_id: "mmf".into(),
                valid_ms: 0,
            },
            t.clone(),
        );
        let mut enc = Encoder::new();
        assert!(q
            .queue(&intent(IntentKind::New, 1, Side::Bid, 100, 10), 0)
            .is_none());
        assert!(q
            .queue(&intent(IntentKind::New, 2, Side::Ask, 102, 10), 0)
            .is_none());
        let f = q.next_frame(&mut enc, 7).unwrap().to_string();
        assert!(q.next_frame(&mut enc, 8).is_none());
        let v: serde_json::Value = serde_json::from_str(&f).unwrap();
        assert_eq!(v["method"], "private/mass_quote");
        assert_eq!(v["params"]["mmp_group"], "mmf");
        assert_eq!(v["params"]["quote_id"], "1");
        assert_eq!(v["params"]["detailed"], true);
        let qs = v["params"]["quotes"].as_array().unwrap();
        assert_eq!(
            qs.len(),
            1,
            "bid and ask of one instrument in one entry: {f}"
        );
        assert_eq!(qs[0]["bid"]["post_only"], true);
        assert_eq!(qs[0]["bid"]["reject_post_only"], true);
        assert!(qs[0]["ask"]["amount"].is_number());
        let name = &t.get(0).name;
        let reply = format!(
            r#"{{"jsonrpc":"2.0","id":7,"result":{{"orders":[{{"order_id":"55","instrument_name":"{name}","direction":"buy","order_state":"open","price":0.0,"amount":0,"quote_id":"1"}}],"trades":[],"errors":[{{"instrument_name":"{name}","side":"ask","error":{{"code":10007,"message":"price_too_high 1"}}}}]}}}}"#
        );
        let PrivateMsg::RpcOk {
            result: RpcResult::MassQuote { orders, errors, .. },
            ..
        } = decode_private(reply.as_bytes()).unwrap()
        else {
            panic!()
        };
        let mut out = Vec::new();
        q.on_reply(7, orders, errors, 5, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].client_id, out[0].kind), (1, ExecKind::Accepted));
        assert_eq!(
            (out[1].client_id, out[1].kind, out[1].code),
            (2, ExecKind::Rejected, 10007)
        );
        assert_eq!(q.stats.quote_errors, 1);
        // A New on the bid slot replaces client id 1; a Cancel of 2 (refused) is answered
        // at once.
        assert!(q
            .queue(&intent(IntentKind::New, 3, Side::Bid, 99, 10), 0)
            .is_none());
        let ev = q
            .queue(&intent(IntentKind::Cancel, 2, Side::Ask, 0, 0), 0)
            .unwrap();
        assert_eq!(ev.kind, ExecKind::Cancelled);
        let f = q.next_frame(&mut enc, 9).unwrap().to_string();
        assert!(!f.contains("\"ask\""), "{f}");
        let mut out = Vec::new();
        assert!(q.on_error(9, 13030, 6, &mut out));
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out
            .iter()
            .all(|e| e.kind == ExecKind::Rejected && e.code == 13030));
        // Refused as a whole: the slot is 1's again; an amend of 1 is a quote again.
        assert!(q
            .queue(&intent(IntentKind::Amend, 1, Side::Bid, 98, 10), 0)
            .is_none());
        let f = q.next_frame(&mut enc, 10).unwrap().to_string();
        assert!(f.contains("\"bid\""), "{f}");
        // Cancel → amount 0.
        q.pending.clear();
        assert!(q
            .queue(&intent(IntentKind::Cancel, 1, Side::Bid, 0, 0), 0)
            .is_none());
        let f = q.next_frame(&mut enc, 11).unwrap().to_string();
        assert!(f.contains(r#""bid":{"amount":0}"#), "{f}");
    }

    #[test]
    fn one_side_per_slot_and_split_at_max_per_side() {
        let t = table();
        let mut q = MassQuoter::new(
            MassQuoteOpts {
                mmp_group: "g".into(),
                quote_set_id: "s".into(),
                valid_ms: 500,
            },
            t,
        );
        // Same slot repeated: folded into one side.
        for c in 1..=150u64 {
            q.queue(&intent(IntentKind::New, c, Side::Bid, 100, 10), 0);
        }
        let mut enc = Encoder::new();
        let f = q.next_frame(&mut enc, 1).unwrap().to_string();
        assert!(f.contains("valid_until"));
        assert!(q.next_frame(&mut enc, 2).is_none());
        assert_eq!(q.pending[&1][0].intents.len(), 150 * 2 - 1);
        // 130 instruments × 2 sides: 100 bids + 100 asks, then 30 + 30.
        for i in 0..130u32 {
            for side in [Side::Bid, Side::Ask] {
                let mut it = intent(
                    IntentKind::New,
                    1000 + 2 * i as u64 + side as u64,
                    side,
                    100,
                    10,
                );
                it.instrument = i;
                q.queue(&it, 0);
            }
        }
        let f = q.next_frame(&mut enc, 3).unwrap().to_string();
        let v: serde_json::Value = serde_json::from_str(&f).unwrap();
        assert_eq!(v["params"]["quotes"].as_array().unwrap().len(), 100);
        let f = q.next_frame(&mut enc, 4).unwrap().to_string();
        let v: serde_json::Value = serde_json::from_str(&f).unwrap();
        assert_eq!(v["params"]["quotes"].as_array().unwrap().len(), 30);
        assert_eq!(v["params"]["quote_id"], "3");
        assert!(q.next_frame(&mut enc, 5).is_none());
    }
}
