//! Book greeks in fixed point: per-lot delta and vega, and the in-flight-aware net limits.
//!
//! Units (integers, so that the hot path compares and sums exactly):
//! - **delta** in 1e-8 coin of the underlying (`delta_e8`): an option lot of `L` coin with
//!   ticker delta `δ` counts `δ·L·1e8`; an inverse perpetual/future lot of `U` USD counts
//!   `U / index` coin (its USD position divided by the index, as the issue states); a linear
//!   lot of `L` coin counts `L`.
//! - **vega** in 1e-6 USD per volatility point (`vega_e6`): an option lot counts
//!   `vega·L·1e6` with the ticker's vega (USD per vol point per coin); futures count 0.
//!
//! Deribit's ticker delta of an inverse option is the Black-76 `∂V_usd/∂F` (coin of
//! underlying per coin of option; `core/tests/options_tape.rs` checks it against our
//! [`super::black_scholes`]), so positions × delta sum with futures' coin deltas.
//!
//! **Net limits** (strategies.md §6 style, like the max-inventory limit), **per underlying**
//! (base currency: BTC deltas and ETH deltas are never added): per instrument the
//! worst cases of the net greek if every pending order of one side fills are
//! `up_i = max((pos + buys)·g, (pos − sells)·g)` and `down_i = min(…)`; a bid or an ask may
//! only add lots while `Σ up ≤ +limit` and `Σ down ≥ −limit` (the side that moves the greek
//! beyond the limit stops). [`side_level`] turns that into the largest
//! `signed position + pending same side` a side may reach, as the other limits do.

use crate::types::{Lots, Side};

/// Fixed-point scale of delta (1e-8 coin).
pub const DELTA_SCALE: f64 = 1e8;
/// Fixed-point scale of vega (1e-6 USD per vol point).
pub const VEGA_SCALE: f64 = 1e6;
/// Largest per-lot magnitude accepted (guards the i128-free sums against absurd input).
pub const MAX_PER_LOT: i64 = 1 << 52;

/// `value × lot_coin × scale` rounded to an integer; `None` when non-finite or beyond
/// [`MAX_PER_LOT`].
#[inline]
pub fn per_lot(value: f64, lot_coin: f64, scale: f64) -> Option<i64> {
    let v = (value * lot_coin * scale).round();
    (v.is_finite() && v.abs() <= MAX_PER_LOT as f64).then_some(v as i64)
}

/// Delta (1e-8 coin) of one inverse-future lot of `lot_usd_e4` (1e-4 USD) at index
/// `index_e4` (1e-4 USD); `None` while the index is unknown (`≤ 0`).
#[inline]
pub fn inverse_delta_e8(lot_usd_e4: i64, index_e4: i64) -> Option<i64> {
    if index_e4 <= 0 || lot_usd_e4 <= 0 {
        return None;
    }
    let v = lot_usd_e4 as i128 * 100_000_000 / index_e4 as i128;
    i64::try_from(v).ok()
}

/// Worst cases `(up, down)` of one instrument's contribution to a net greek (same unit as
/// `per_lot`), `position` and pending sizes in lots.
#[inline]
pub fn contribution(position: Lots, buys: Lots, sells: Lots, per_lot: i64) -> (i64, i64) {
    let sat = |x: i128| x.clamp(i64::MIN as i128 / 4, i64::MAX as i128 / 4) as i64;
    let a = sat((position + buys) as i128 * per_lot as i128);
    let b = sat((position - sells) as i128 * per_lot as i128);
    (a.max(b), a.min(b))
}

/// Largest `signed position + pending same side` (lots) `side` of an instrument may reach
/// under a net limit `limit` (> 0): `up_others`/`down_others` = the totals without this
/// instrument, `per_lot` = its greek per lot (a bid adds `per_lot` per lot, an ask
/// subtracts it). `None` when the greek is 0 (no constraint).
#[inline]
pub fn side_level(
    side: Side,
    limit: i64,
    up_others: i64,
    down_others: i64,
    per_lot: i64,
) -> Option<Lots> {
    if per_lot == 0 {
        return None;
    }
    // A bid with g > 0 (or an ask with g < 0) pushes the net up; the other pair pushes down.
    let pushes_up = (side == Side::Bid) == (per_lot > 0);
    let budget = if pushes_up {
        limit as i128 - up_others as i128
    } else {
        limit as i128 + down_others as i128
    };
    let v = budget.div_euclid(per_lot.unsigned_abs() as i128);
    Some(v.clamp(i64::MIN as i128 / 4, i64::MAX as i128 / 4) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_by_hand() {
        // limit 1 coin = 1e8; option lot delta 0.5·0.1 coin = 5e6; nothing else held.
        assert_eq!(
            side_level(Side::Bid, 100_000_000, 0, 0, 5_000_000),
            Some(20)
        );
        // Others already +0.6 coin up: room for 0.4 coin = 8 lots on the bid.
        assert_eq!(
            side_level(Side::Bid, 100_000_000, 60_000_000, 0, 5_000_000),
            Some(8)
        );
        // A put (negative delta): the ask pushes up.
        assert_eq!(
            side_level(Side::Ask, 100_000_000, 60_000_000, 0, -5_000_000),
            Some(8)
        );
        // Beyond the limit already: negative level (side stops).
        assert_eq!(
            side_level(Side::Bid, 100_000_000, 150_000_000, 0, 5_000_000),
            Some(-10)
        );
        assert_eq!(side_level(Side::Bid, 1, 0, 0, 0), None);
    }

    #[test]
    fn contribution_takes_both_directions() {
        assert_eq!(contribution(2, 3, 4, 10), (50, -20));
        assert_eq!(contribution(2, 3, 4, -10), (20, -50));
        assert_eq!(inverse_delta_e8(10 * 10_000, 50_000 * 10_000), Some(20_000));
        assert_eq!(inverse_delta_e8(10, 0), None);
        assert_eq!(per_lot(f64::NAN, 0.1, DELTA_SCALE), None);
        assert_eq!(per_lot(0.5, 0.1, DELTA_SCALE), Some(5_000_000));
    }
}
