//! Quoting v1: where to bid and offer, in integer ticks.
//!
//! Formulas (`../shared/docs/strategies.md` §1–§3), computed exactly on twice the mid
//! (`mid2 = best_bid + best_ask`, so the mid of a one-tick market stays an integer):
//!
//! - **bps spread** `s` (total): `bid = ⌊mid·(1 − s/2)⌋`, `ask = ⌈mid·(1 + s/2)⌉`;
//! - **tick spread** `n`: `bid = ⌊(mid2 − n)/2⌋`, `ask = ⌈(mid2 + n)/2⌉`;
//! - **improve the touch** by `k` ticks: `bid = best_bid + k`, `ask = best_ask − k`
//!   (the Deribit/Derive options makers' "join/improve" mode);
//! - **minimum spread** (bps): when `ask − bid` is below it, both sides are widened
//!   symmetrically around the mid;
//! - **inventory skew** in bps per 100 USD of inventory:
//!   `skew_bps = inventory_usd / 100 · skew_per_100_usd`, both quotes move down when long and
//!   up when short;
//! - never cross: `bid < best_ask`, `ask > best_bid` (quotes are post-only), bid ≥ 1 tick;
//! - rounding onto the instrument's price grid (`tick_size_steps`): bid down, ask up.
//!
//! Units: bps are carried as hundredths of a basis point (`bps_e2`, 1 bp = 100) so that
//! fractional settings such as 2.5 bps stay integers; inventory in 1e-4 USD (`usd_e4`).

use crate::instrument::Instrument;
use crate::types::Ticks;

/// How the distance between our quotes is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpreadMode {
    /// Total spread in hundredths of a basis point of the reference mid.
    Bps(i64),
    /// Total spread in ticks.
    Ticks(i64),
    /// Improve the best bid and the best ask by this many ticks (0 = join the touch).
    Improve(i64),
}

/// Quoting parameters shared by all instruments (per-instrument sizes live in the engine).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuoteParams {
    /// Spread mode.
    pub spread: SpreadMode,
    /// Minimum total spread in hundredths of a bp (0 = none beyond one tick).
    pub min_spread_bps_e2: i64,
    /// Inventory skew: hundredths of a bp per 100 USD of inventory (0 = none).
    pub skew_per_100_usd_bps_e2: i64,
}

/// Market inputs to one quote computation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Market {
    /// Best bid (ticks).
    pub best_bid: Option<Ticks>,
    /// Best ask (ticks).
    pub best_ask: Option<Ticks>,
    /// Venue mark price (ticks), the fallback reference when one side of the book is empty.
    pub mark: Option<Ticks>,
}

/// Target two-sided quote (ticks). A side is `None` when it must not be quoted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Target {
    /// Bid price.
    pub bid: Option<Ticks>,
    /// Ask price.
    pub ask: Option<Ticks>,
}

#[inline]
fn div_floor(a: i128, b: i128) -> i128 {
    let q = a / b;
    if (a % b != 0) && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

#[inline]
fn div_ceil(a: i128, b: i128) -> i128 {
    -div_floor(-a, b)
}

/// Computes the target quote.
///
/// `inventory_usd_e4` is the signed inventory value in 1e-4 USD (only used for skew).
/// Returns an empty [`Target`] when no reference price exists: improve mode needs both sides
/// of the book; spread modes use the mid, or the mark price when a side is empty.
pub fn target(inst: &Instrument, p: &QuoteParams, m: &Market, inventory_usd_e4: i64) -> Target {
    // Twice the reference price, in ticks.
    let mid2: i128 = match (m.best_bid, m.best_ask, m.mark) {
        (Some(b), Some(a), _) => (b + a) as i128,
        (_, _, Some(mk)) if !matches!(p.spread, SpreadMode::Improve(_)) && mk > 0 => 2 * mk as i128,
        _ => return Target::default(),
    };
    let (mut bid, mut ask): (i128, i128) = match p.spread {
        SpreadMode::Bps(s) => (
            div_floor(mid2 * (2_000_000 - s as i128), 4_000_000),
            div_ceil(mid2 * (2_000_000 + s as i128), 4_000_000),
        ),
        SpreadMode::Ticks(n) => (
            div_floor(mid2 - n as i128, 2),
            div_ceil(mid2 + n as i128, 2),
        ),
        SpreadMode::Improve(k) => (
            m.best_bid.unwrap_or(0) as i128 + k as i128,
            m.best_ask.unwrap_or(0) as i128 - k as i128,
        ),
    };
    // Minimum spread, at least one tick: widen symmetrically around the mid.
    let min_ticks = div_ceil(mid2 * p.min_spread_bps_e2 as i128, 2_000_000).max(1);
    if ask - bid < min_ticks {
        bid = div_floor(mid2 - min_ticks, 2);
        ask = div_ceil(mid2 + min_ticks, 2);
    }
    // Inventory skew: shift both quotes against the inventory.
    if p.skew_per_100_usd_bps_e2 != 0 && inventory_usd_e4 != 0 {
        // skew_bps_e2 = inv_usd/100 · skew_e2 ; shift = mid · skew_bps_e2 / 1e6
        let skew_e2 = inventory_usd_e4 as i128 * p.skew_per_100_usd_bps_e2 as i128 / 1_000_000;
        let shift = mid2 * skew_e2 / 2_000_000;
        bid -= shift;
        ask -= shift;
    }
    // Never cross the book (post-only).
    if let Some(a) = m.best_ask {
        bid = bid.min(a as i128 - 1);
    }
    if let Some(b) = m.best_bid {
        ask = ask.max(b as i128 + 1);
    }
    let bid = inst.round_to_grid(
        bid.clamp(i64::MIN as i128, i64::MAX as i128) as Ticks,
        false,
    );
    let ask = inst.round_to_grid(ask.clamp(i64::MIN as i128, i64::MAX as i128) as Ticks, true);
    Target {
        bid: (bid >= 1).then_some(bid),
        ask: (ask >= 1 && ask > bid).then_some(ask),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::Dec;
    use crate::instrument::Kind;

    fn inst() -> Instrument {
        Instrument::new(
            "ETH-9APR21-1950-C",
            Kind::Option,
            Dec::new(5, 4),
            Dec::new(1, 0),
        )
    }

    fn mkt(b: i64, a: i64) -> Market {
        Market {
            best_bid: Some(b),
            best_ask: Some(a),
            mark: None,
        }
    }

    #[test]
    fn improve_the_touch() {
        // Real book: bid 0.0795 (159 ticks), ask 0.0945 (189 ticks).
        let p = QuoteParams {
            spread: SpreadMode::Improve(1),
            min_spread_bps_e2: 0,
            skew_per_100_usd_bps_e2: 0,
        };
        let t = target(&inst(), &p, &mkt(159, 189), 0);
        assert_eq!((t.bid, t.ask), (Some(160), Some(188)));
    }

    #[test]
    fn improve_widens_to_min_spread_around_mid() {
        // mid = 174; min spread 1000 bps = 10% of 174 = 17.4 → 18 ticks.
        let p = QuoteParams {
            spread: SpreadMode::Improve(14),
            min_spread_bps_e2: 100_000,
            skew_per_100_usd_bps_e2: 0,
        };
        let t = target(&inst(), &p, &mkt(159, 189), 0);
        assert_eq!((t.bid, t.ask), (Some(165), Some(183)));
    }

    #[test]
    fn bps_spread_is_symmetric_and_rounded_outward() {
        // mid 10000 ticks, 20 bps total → ±10 bps = ±10 ticks.
        let p = QuoteParams {
            spread: SpreadMode::Bps(2000),
            min_spread_bps_e2: 0,
            skew_per_100_usd_bps_e2: 0,
        };
        let t = target(&inst(), &p, &mkt(9990, 10010), 0);
        assert_eq!((t.bid, t.ask), (Some(9990), Some(10010)));
        let t = target(&inst(), &p, &mkt(9999, 10001), 0);
        assert_eq!((t.bid, t.ask), (Some(9990), Some(10010)));
    }

    #[test]
    fn ticks_spread_never_crosses_the_book() {
        let p = QuoteParams {
            spread: SpreadMode::Ticks(2),
            min_spread_bps_e2: 0,
            skew_per_100_usd_bps_e2: 0,
        };
        let t = target(&inst(), &p, &mkt(100, 110), 0);
        assert_eq!((t.bid, t.ask), (Some(104), Some(106)));
        // mid2 = 201: bid ⌊199/2⌋ = 99, ask ⌈203/2⌉ = 102 (outside the one-tick touch).
        let t = target(&inst(), &p, &mkt(100, 101), 0);
        assert_eq!((t.bid, t.ask), (Some(99), Some(102)));
        // Improving a one-tick market can only join it.
        let p = QuoteParams {
            spread: SpreadMode::Improve(1),
            ..p
        };
        let t = target(&inst(), &p, &mkt(100, 101), 0);
        assert_eq!((t.bid, t.ask), (Some(100), Some(101)));
    }

    #[test]
    fn skew_moves_both_quotes_against_inventory() {
        // 10 bps per 100 USD, long 1000 USD → 100 bps down. mid 10000 → 100 ticks.
        let p = QuoteParams {
            spread: SpreadMode::Ticks(20),
            min_spread_bps_e2: 0,
            skew_per_100_usd_bps_e2: 1000,
        };
        let m = Market {
            best_bid: Some(9000),
            best_ask: Some(11000),
            mark: None,
        };
        let t = target(&inst(), &p, &m, 1000 * 10_000);
        assert_eq!((t.bid, t.ask), (Some(9890), Some(9910)));
        let t = target(&inst(), &p, &m, -1000 * 10_000);
        assert_eq!((t.bid, t.ask), (Some(10090), Some(10110)));
    }

    #[test]
    fn falls_back_to_mark_on_one_sided_book() {
        let p = QuoteParams {
            spread: SpreadMode::Ticks(10),
            min_spread_bps_e2: 0,
            skew_per_100_usd_bps_e2: 0,
        };
        let m = Market {
            best_bid: None,
            best_ask: Some(300),
            mark: Some(200),
        };
        let t = target(&inst(), &p, &m, 0);
        assert_eq!((t.bid, t.ask), (Some(195), Some(205)));
        let p = QuoteParams {
            spread: SpreadMode::Improve(1),
            ..p
        };
        assert_eq!(target(&inst(), &p, &m, 0), Target::default());
    }
}
