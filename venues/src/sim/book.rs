//! The simulator's copy of the **recorded** book of one instrument, in integer ticks/lots.
//!
//! This is the market as recorded; our (virtual) orders are never inserted into it. It also
//! tracks how much of each recorded level our aggressive fills have already "used"
//! (`consumed`), so two of our orders cannot take the same recorded liquidity twice; the
//! consumption of a level is forgotten as soon as the tape updates that level (the new
//! recorded total is the truth again) or a snapshot arrives.

use super::json;
use super::tape::{Action, BookUpdate, Row};
use mm_core::decimal::Dec;
use mm_core::instrument::Instrument;
use mm_core::types::{Lots, Side, Ticks};
use std::collections::BTreeMap;

/// One recorded price level.
#[derive(Clone, Copy, Debug)]
pub struct Level {
    /// Exact recorded price.
    pub price: Dec,
    /// Exact recorded amount (level total).
    pub amount: Dec,
    /// Amount in lots (rounded if the tape is off the lot grid).
    pub lots: Lots,
}

/// A recorded L2 book.
#[derive(Clone, Debug, Default)]
pub struct RecordedBook {
    /// Bid levels by price (ticks).
    pub bids: BTreeMap<Ticks, Level>,
    /// Ask levels by price (ticks).
    pub asks: BTreeMap<Ticks, Level>,
    /// `change_id` of the last applied notification.
    pub change_id: u64,
    /// Exchange timestamp (ms) of the last applied notification.
    pub timestamp_ms: u64,
    /// A snapshot has been applied.
    pub have_snapshot: bool,
    /// Rows whose price was not on the tick grid (rounded).
    pub off_grid: u64,
    consumed: [BTreeMap<Ticks, Lots>; 2],
}

impl RecordedBook {
    fn side(&self, s: Side) -> &BTreeMap<Ticks, Level> {
        match s {
            Side::Bid => &self.bids,
            Side::Ask => &self.asks,
        }
    }

    fn side_mut(&mut self, s: Side) -> &mut BTreeMap<Ticks, Level> {
        match s {
            Side::Bid => &mut self.bids,
            Side::Ask => &mut self.asks,
        }
    }

    /// Applies a recorded notification; returns the touched levels `(side, price, new lots)`.
    pub fn apply(&mut self, inst: &Instrument, u: &BookUpdate) -> Vec<(Side, Ticks, Lots)> {
        let mut touched = Vec::new();
        if u.snapshot {
            for s in [Side::Bid, Side::Ask] {
                touched.extend(self.side(s).keys().map(|p| (s, *p, 0)));
            }
            self.bids.clear();
            self.asks.clear();
            self.consumed[0].clear();
            self.consumed[1].clear();
            self.have_snapshot = true;
        }
        for (s, rows) in [(Side::Bid, &u.bids), (Side::Ask, &u.asks)] {
            for r in rows {
                let (px, lots) = self.apply_row(inst, s, r);
                self.consumed[s.idx()].remove(&px);
                touched.push((s, px, lots));
            }
        }
        self.change_id = u.change_id;
        self.timestamp_ms = u.timestamp_ms;
        touched
    }

    fn apply_row(&mut self, inst: &Instrument, s: Side, r: &Row) -> (Ticks, Lots) {
        let px = match inst.ticks_exact(r.price) {
            Some(p) => p,
            None => {
                self.off_grid += 1;
                inst.ticks_round(r.price).unwrap_or(0)
            }
        };
        if r.action == Action::Delete || r.amount.mant == 0 {
            self.side_mut(s).remove(&px);
            return (px, 0);
        }
        let lots = inst
            .lots_exact(r.amount)
            .or_else(|| inst.lots_round(r.amount))
            .unwrap_or(0);
        self.side_mut(s).insert(
            px,
            Level {
                price: r.price,
                amount: r.amount,
                lots,
            },
        );
        (px, lots)
    }

    /// Best level of a side: `(price ticks, lots)`.
    pub fn best(&self, s: Side) -> Option<(Ticks, Lots)> {
        match s {
            Side::Bid => self.bids.iter().next_back(),
            Side::Ask => self.asks.iter().next(),
        }
        .map(|(p, l)| (*p, l.lots))
    }

    /// Best price as `f64` (for reports).
    pub fn best_f64(&self, s: Side) -> Option<f64> {
        match s {
            Side::Bid => self.bids.values().next_back(),
            Side::Ask => self.asks.values().next(),
        }
        .map(|l| l.price.to_f64())
    }

    /// Recorded lots at a price on a side (0 if no level).
    pub fn lots_at(&self, s: Side, px: Ticks) -> Lots {
        self.side(s).get(&px).map_or(0, |l| l.lots)
    }

    /// Recorded lots at `px` not yet used by our fills.
    pub fn avail_at(&self, s: Side, px: Ticks) -> Lots {
        let c = self.consumed[s.idx()].get(&px).copied().unwrap_or(0);
        (self.lots_at(s, px) - c).max(0)
    }

    /// Marks `lots` of the recorded level as used by our fills.
    pub fn consume(&mut self, s: Side, px: Ticks, lots: Lots) {
        *self.consumed[s.idx()].entry(px).or_insert(0) += lots;
    }

    /// Levels of side `s` at prices an order of the opposite side with limit `limit` would
    /// reach, best first: `(price, available lots)`.
    pub fn reachable(&self, s: Side, limit: Ticks) -> Vec<(Ticks, Lots)> {
        let it: Box<dyn Iterator<Item = &Ticks>> = match s {
            Side::Ask => Box::new(self.asks.range(..=limit).map(|(p, _)| p)),
            Side::Bid => Box::new(self.bids.range(limit..).rev().map(|(p, _)| p)),
        };
        it.map(|p| (*p, self.avail_at(s, *p)))
            .filter(|(_, l)| *l > 0)
            .collect()
    }

    /// Writes this book as a Deribit snapshot notification `data` object.
    pub fn write_snapshot_data(&self, instrument: &str, out: &mut String) {
        let mut o = json::Obj::new(out);
        o.str("type", "snapshot");
        o.int("timestamp", self.timestamp_ms as i128);
        o.str("instrument_name", instrument);
        o.int("change_id", self.change_id as i128);
        let rows = |s: &mut String, it: &mut dyn Iterator<Item = &Level>| {
            s.push('[');
            for (i, l) in it.enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str("[\"new\",");
                s.push_str(&json::dec(l.price));
                s.push(',');
                s.push_str(&json::dec(l.amount));
                s.push(']');
            }
            s.push(']');
        };
        o.with("bids", |s| rows(s, &mut self.bids.values().rev()));
        o.with("asks", |s| rows(s, &mut self.asks.values()));
        o.end();
    }
}

/// Writes a recorded update as a Deribit book `data` object (for synthesized tapes).
pub fn write_update_data(instrument: &str, u: &BookUpdate, out: &mut String) {
    let mut o = json::Obj::new(out);
    o.str("type", if u.snapshot { "snapshot" } else { "change" });
    o.int("timestamp", u.timestamp_ms as i128);
    if let Some(p) = u.prev_change_id {
        o.int("prev_change_id", p as i128);
    }
    o.str("instrument_name", instrument);
    o.int("change_id", u.change_id as i128);
    let rows = |s: &mut String, rows: &[Row]| {
        s.push('[');
        for (i, r) in rows.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push('[');
            json::push_str_lit(s, r.action.as_str());
            s.push(',');
            s.push_str(&json::dec(r.price));
            s.push(',');
            s.push_str(&json::dec(r.amount));
            s.push(']');
        }
        s.push(']');
    };
    o.with("bids", |s| rows(s, &u.bids));
    o.with("asks", |s| rows(s, &u.asks));
    o.end();
}
