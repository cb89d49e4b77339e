//! Quoting: where to bid and offer, in integer ticks, and how large.
//!
//! Formulas are those of `../shared/docs/strategies.md` §1–§3, computed exactly on **twice the
//! reference price** (`ref2`, ticks), so the mid of a one-tick market stays an integer.
//!
//! **Reference** (§1, [`Reference`]):
//! - mid: `ref2 = best_bid + best_ask`;
//! - micro-price (size-weighted mid): `micro = (bid·ask_qty + ask·bid_qty)/(bid_qty + ask_qty)`,
//!   `ref2 = round(2·micro)` (half up);
//! - venue mark price: `ref2 = 2·mark` (no mark yet ⇒ no quote);
//! - option theo ([`Reference::Theo`], `--quote-around theo`): `ref2 = 2·theo` (no theo yet ⇒
//!   no quote).
//!
//! Mid and micro fall back to the mark price when one side of the book is empty.
//!
//! **Spread** (§1–§2), first level, in order:
//! 1. base: bps `s` (total) `bid = ⌊ref·(1 − s/2)⌋`, `ask = ⌈ref·(1 + s/2)⌉`; ticks `n`
//!    `bid = ⌊(ref2 − n)/2⌋`, `ask = ⌈(ref2 + n)/2⌉`; absolute amount `A` (total) = ticks
//!    `n = round(A / tick)`; improve the touch by `k`: `bid = best_bid + k`,
//!    `ask = best_ask − k` (the Deribit/Derive options makers' join/improve mode);
//! 2. minimum spread (bps, at least one tick): when `ask − bid` is below it, both sides are
//!    widened symmetrically around the reference;
//! 3. inventory skew (§3): a shift `σ` (ticks, positive = down) is subtracted from both
//!    quotes, the sum of the configured conventions, each truncated toward zero:
//!    - bps per 100 USD: `σ = ref · (inventory_usd/100 · skew_per_100_usd) / 10⁴`;
//!    - factor of position: `σ = ref · skew_factor · inventory / max_inventory`, with
//!      `inventory / max_inventory` = `inventory_usd / max_inventory_usd` when a USD maximum
//!      is set, else `position / max_position`, clipped to ±1. strategies.md §3 writes
//!      `bid·(1 − skew)`, `ask·(1 + skew)`; read literally that would *raise* the ask when
//!      long (selling less while long). We apply the shift to both quotes (`bid·(1 − skew)`,
//!      `ask·(1 − skew)` around the reference, the form `ref·(1 ± s/2 − skew)` of the
//!      backtest-style makers), so that, like the two other conventions, both quotes move
//!      down when long and up when short;
//!    - fraction of the spread: `σ = inventory_skew · half_spread · (position − target) /
//!      max_position` with `half_spread = (ask − bid)/2` after step 2 and the ratio clipped
//!      to ±1;
//! 4. minimum edge versus the reference (bps): `bid ≤ ⌊ref − e⌋`, `ask ≥ ⌈ref + e⌉` with
//!    `e = ⌈ref·edge⌉` ticks — a quote with less edge is moved back to the minimum edge (it is
//!    never sent with less);
//! 5. never cross (post-only): `bid < best_ask`, `ask > best_bid`;
//! 6. onto the instrument's price grid (`tick_size_steps`): bid down, ask up; `bid ≥ 1`.
//!
//! **Levels** (§2): level `i` (0-based) lies `⌈i·ref·level_spread⌉` ticks (at least `i`)
//! beyond the first level: `bid_i = bid_0 − ⌈i·ref·ls⌉`, `ask_i = ask_0 + ⌈i·ref·ls⌉`, rounded
//! onto the grid outward, strictly one price level per order. Level sizes
//! `size_i = size + i·level_amount` ([`level_size`]).
//!
//! **Size skew** (§3, [`skewed_size`]): bid sizes `·(1 − x)`, ask sizes `·(1 + x)`,
//! `x = clip((position − target)/range, −1, 1)`, rounded to the nearest lot (half up).
//!
//! Units: bps are carried as hundredths of a basis point (`bps_e2`, 1 bp = 100) so that
//! fractional settings such as 2.5 bps stay integers; dimensionless factors in parts per
//! million (`ppm`, 1.0 = 1 000 000); inventory value in 1e-4 USD (`usd_e4`); sizes in lots.
//! Everything is integer arithmetic (i128 only where a product can exceed i64).

use crate::decimal::Dec;
use crate::instrument::Instrument;
use crate::types::{Lots, Side, Ticks};

/// Most levels per side ([`QuoteSpec::levels`] is clamped to it).
pub const MAX_LEVELS: usize = 8;

/// The price quotes are built around (strategies.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reference {
    /// `(best_bid + best_ask)/2`.
    #[default]
    Mid,
    /// Size-weighted mid of the touch: `(bid·ask_qty + ask·bid_qty)/(bid_qty + ask_qty)`.
    Micro,
    /// The venue's mark price (ticker `mark_price`).
    Mark,
    /// The option's theoretical value (Black-76 on the mark IV or the fitted smile,
    /// [`crate::options`]). The engine passes it in [`Market::mark`]; like `Mark`, no value
    /// ⇒ no quote (never falls back to the book).
    Theo,
}

/// How the distance between our quotes is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpreadMode {
    /// Total spread in hundredths of a basis point of the reference.
    Bps(i64),
    /// Total spread in ticks.
    Ticks(i64),
    /// Improve the best bid and the best ask by this many ticks (0 = join the touch).
    Improve(i64),
    /// Total spread as an absolute price amount (e.g. `0.04` = 2 cents a side); converted to
    /// ticks of each instrument (nearest, at least one) by [`QuoteSpec::resolve`].
    Abs(Dec),
}

/// Quoting parameters shared by all instruments (the v1 settings; the engine extends them to
/// a [`QuoteSpec`] per instrument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuoteParams {
    /// Spread mode.
    pub spread: SpreadMode,
    /// Minimum total spread in hundredths of a bp (0 = none beyond one tick).
    pub min_spread_bps_e2: i64,
    /// Inventory skew: hundredths of a bp per 100 USD of inventory (0 = none).
    pub skew_per_100_usd_bps_e2: i64,
}

/// Every quoting setting of one instrument, in integers (built once, in `Engine::new`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuoteSpec {
    /// Reference price.
    pub reference: Reference,
    /// Spread mode ([`SpreadMode::Abs`] is resolved to ticks by [`QuoteSpec::resolve`]).
    pub spread: SpreadMode,
    /// Minimum total spread, hundredths of a bp of the reference (0 = one tick).
    pub min_spread_bps_e2: i64,
    /// Minimum edge of each quote versus the reference, hundredths of a bp (0 = none).
    pub min_edge_bps_e2: i64,
    /// Skew: hundredths of a bp per 100 USD of inventory (0 = none).
    pub skew_per_100_usd_bps_e2: i64,
    /// Skew factor of position, ppm (`--skew-factor 0.001` = 1000; 0 = none).
    pub skew_factor_ppm: i64,
    /// Inventory skew as a fraction of the half-spread, ppm (`0.5` = 500 000; 0 = none).
    pub inventory_skew_ppm: i64,
    /// Levels per side (1..=[`MAX_LEVELS`]).
    pub levels: usize,
    /// Extra distance per level, hundredths of a bp of the reference.
    pub level_spread_bps_e2: i64,
}

impl QuoteSpec {
    /// The v1 parameters with every newer control off (one level, mid reference).
    pub fn from_params(p: &QuoteParams) -> QuoteSpec {
        QuoteSpec {
            reference: Reference::Mid,
            spread: p.spread,
            min_spread_bps_e2: p.min_spread_bps_e2,
            min_edge_bps_e2: 0,
            skew_per_100_usd_bps_e2: p.skew_per_100_usd_bps_e2,
            skew_factor_ppm: 0,
            inventory_skew_ppm: 0,
            levels: 1,
            level_spread_bps_e2: 0,
        }
    }

    /// Resolves instrument-dependent settings: an absolute spread becomes ticks of `inst`
    /// (nearest, at least one); `levels` is clamped to `1..=MAX_LEVELS`.
    pub fn resolve(mut self, inst: &Instrument) -> QuoteSpec {
        if let SpreadMode::Abs(a) = self.spread {
            let n = a.div_round(inst.tick).unwrap_or(1).max(1);
            self.spread = SpreadMode::Ticks(n);
        }
        self.levels = self.levels.clamp(1, MAX_LEVELS);
        self
    }
}

/// Market inputs to one quote computation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Market {
    /// Best bid (ticks).
    pub best_bid: Option<Ticks>,
    /// Best ask (ticks).
    pub best_ask: Option<Ticks>,
    /// Venue mark price (ticks): the reference with [`Reference::Mark`], and the fallback
    /// when one side of the book is empty. With [`Reference::Theo`] the engine puts the
    /// option's theoretical value (ticks) here instead.
    pub mark: Option<Ticks>,
    /// Size at the best bid (lots; micro-price only).
    pub bid_qty: Lots,
    /// Size at the best ask (lots; micro-price only).
    pub ask_qty: Lots,
}

/// Inventory inputs to the skews.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Inventory {
    /// Signed inventory value, 1e-4 USD.
    pub usd_e4: i64,
    /// Signed position, lots.
    pub position: Lots,
    /// Target position, lots.
    pub target: Lots,
    /// Max position (lots) normalising the factor and fraction skews (≤ 0 = not set).
    pub max_position: Lots,
    /// Max inventory value (1e-4 USD) normalising the factor skew when set (≤ 0 = not set).
    pub max_usd_e4: i64,
}

/// Target two-sided quote of the first level (ticks). A side is `None` when it must not be
/// quoted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Target {
    /// Bid price.
    pub bid: Option<Ticks>,
    /// Ask price.
    pub ask: Option<Ticks>,
}

/// Target prices of every level, best first (`bid[0..n_bid]`, `ask[0..n_ask]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Ladder {
    /// Twice the reference price in ticks (0 = no reference: nothing is quoted).
    pub ref2: Ticks,
    /// Bid prices, best (highest) first.
    pub bid: [Ticks; MAX_LEVELS],
    /// Ask prices, best (lowest) first.
    pub ask: [Ticks; MAX_LEVELS],
    /// Bid levels to quote.
    pub n_bid: usize,
    /// Ask levels to quote.
    pub n_ask: usize,
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

/// `⌊a·b / c⌋` for `c > 0`, in i64 when the product fits (the common case), else i128.
#[inline]
pub fn mul_div_floor(a: i64, b: i64, c: i64) -> i64 {
    match a.checked_mul(b) {
        Some(p) => p.div_euclid(c),
        None => div_floor(a as i128 * b as i128, c as i128)
            .clamp(i64::MIN as i128, i64::MAX as i128) as i64,
    }
}

/// `⌈a·b / c⌉` for `c > 0`.
#[inline]
pub fn mul_div_ceil(a: i64, b: i64, c: i64) -> i64 {
    match a.checked_mul(b) {
        Some(p) => -((-p).div_euclid(c)),
        None => {
            div_ceil(a as i128 * b as i128, c as i128).clamp(i64::MIN as i128, i64::MAX as i128)
                as i64
        }
    }
}

/// `a·b / c` truncated toward zero, `c > 0`.
#[inline]
fn mul_div_trunc(a: i64, b: i64, c: i64) -> i64 {
    match a.checked_mul(b) {
        Some(p) => p / c,
        None => {
            (a as i128 * b as i128 / c as i128).clamp(i64::MIN as i128, i64::MAX as i128) as i64
        }
    }
}

/// Twice the reference price in ticks, or `None` when it does not exist (see module docs).
#[inline]
pub fn reference_x2(reference: Reference, m: &Market) -> Option<Ticks> {
    let mark2 = match m.mark {
        Some(mk) if mk > 0 => Some(2 * mk),
        _ => None,
    };
    match (reference, m.best_bid, m.best_ask) {
        (Reference::Mark | Reference::Theo, _, _) => mark2,
        (Reference::Micro, Some(b), Some(a)) if m.bid_qty > 0 && m.ask_qty > 0 => {
            // round(2·(b·qa + a·qb)/(qa + qb)) = ⌊(4·num + den) / (2·den)⌋
            let num = b as i128 * m.ask_qty as i128 + a as i128 * m.bid_qty as i128;
            let den = (m.bid_qty + m.ask_qty) as i128;
            Some(div_floor(4 * num + den, 2 * den) as Ticks)
        }
        (_, Some(b), Some(a)) => Some(b + a),
        _ => mark2,
    }
}

/// Computes every level's target price (see the module docs for the formulas).
///
/// Returns an empty ladder (`ref2 == 0`) when no reference price exists; improve mode needs
/// both sides of the book.
pub fn ladder(inst: &Instrument, p: &QuoteSpec, m: &Market, inv: &Inventory) -> Ladder {
    ladder_impl::<false>(inst, p, m, inv, &Adjust::NONE)
}

/// Model adjustments of a ladder (strategies.md §4, [`crate::model`]), applied by
/// [`ladder_adj`] on top of the steps of the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Adjust {
    /// Step 1: total spread in ticks replacing the configured one (0 = configured). The
    /// model's `2 × half-spread`.
    pub spread_ticks: Ticks,
    /// Step 1b: volatility-adaptive spread, `σ_now/σ_avg` in ppm (0 = off): each side's
    /// distance from the reference is scaled by it (outward rounding).
    pub vol_ratio_ppm: i64,
    /// Step 2b: extra distance of each side, hundredths of a bp of the reference (cooldown
    /// widening; 0 = none).
    pub widen_bps_e2: i64,
    /// Step 3: extra downward shift of both quotes, ticks (model inventory skew minus the
    /// imbalance shift).
    pub shift: Ticks,
    /// Step 4b: never better than the touch: `bid ≤ best_bid`, `ask ≥ best_ask` (GLFT/AS).
    pub behind_touch: bool,
}

impl Adjust {
    /// No adjustment.
    pub const NONE: Adjust = Adjust {
        spread_ticks: 0,
        vol_ratio_ppm: 0,
        widen_bps_e2: 0,
        shift: 0,
        behind_touch: false,
    };
}

/// [`ladder`] with model adjustments (see [`Adjust`]): the model spread replaces step 1, the
/// volatility ratio scales it, the cooldown widens after the minimum spread, the model skew
/// and imbalance shift join the inventory skews, and model quotes stay behind the touch.
pub fn ladder_adj(
    inst: &Instrument,
    p: &QuoteSpec,
    m: &Market,
    inv: &Inventory,
    adj: &Adjust,
) -> Ladder {
    ladder_impl::<true>(inst, p, m, inv, adj)
}

#[inline(always)]
fn ladder_impl<const ADJ: bool>(
    inst: &Instrument,
    p: &QuoteSpec,
    m: &Market,
    inv: &Inventory,
    adj: &Adjust,
) -> Ladder {
    let mut out = Ladder::default();
    let improve = matches!(p.spread, SpreadMode::Improve(_));
    if improve && (m.best_bid.is_none() || m.best_ask.is_none()) {
        return out;
    }
    let Some(ref2) = reference_x2(p.reference, m) else {
        return out;
    };
    if ref2 <= 0 {
        return out;
    }
    // 1. Base spread (or the model's).
    let spread = if ADJ && adj.spread_ticks > 0 {
        SpreadMode::Ticks(adj.spread_ticks)
    } else {
        p.spread
    };
    let (mut bid, mut ask): (i64, i64) = match spread {
        SpreadMode::Bps(s) => (
            mul_div_floor(ref2, 2_000_000 - s, 4_000_000),
            mul_div_ceil(ref2, 2_000_000 + s, 4_000_000),
        ),
        SpreadMode::Ticks(n) => ((ref2 - n).div_euclid(2), -((-(ref2 + n)).div_euclid(2))),
        SpreadMode::Improve(k) => (m.best_bid.unwrap_or(0) + k, m.best_ask.unwrap_or(0) - k),
        SpreadMode::Abs(a) => {
            let n = a.div_round(inst.tick).unwrap_or(1).max(1);
            ((ref2 - n).div_euclid(2), -((-(ref2 + n)).div_euclid(2)))
        }
    };
    // 1b. Volatility-adaptive: scale each side's distance from the reference.
    if ADJ && adj.vol_ratio_ppm > 0 && adj.vol_ratio_ppm != 1_000_000 {
        let db = (ref2 - 2 * bid).max(0);
        let da = (2 * ask - ref2).max(0);
        let db = mul_div_ceil(db, adj.vol_ratio_ppm, 1_000_000);
        let da = mul_div_ceil(da, adj.vol_ratio_ppm, 1_000_000);
        bid = (ref2 - db).div_euclid(2);
        ask = -((-(ref2 + da)).div_euclid(2));
    }
    // 2. Minimum spread, at least one tick: widen symmetrically around the reference.
    let min_ticks = if p.min_spread_bps_e2 > 0 {
        mul_div_ceil(ref2, p.min_spread_bps_e2, 2_000_000).max(1)
    } else {
        1
    };
    if ask - bid < min_ticks {
        bid = (ref2 - min_ticks).div_euclid(2);
        ask = -((-(ref2 + min_ticks)).div_euclid(2));
    }
    // 2b. Cooldown widening.
    if ADJ && adj.widen_bps_e2 > 0 {
        let e = mul_div_ceil(ref2, adj.widen_bps_e2, 2_000_000);
        bid -= e;
        ask += e;
    }
    // 3. Inventory skews: one downward shift of both quotes.
    let mut shift: i64 = if ADJ { adj.shift } else { 0 };
    if p.skew_per_100_usd_bps_e2 != 0 && inv.usd_e4 != 0 {
        // skew_bps_e2 = inv_usd/100 · skew_e2 ; shift = ref · skew_bps_e2 / 1e6
        let skew_e2 = mul_div_trunc(inv.usd_e4, p.skew_per_100_usd_bps_e2, 1_000_000);
        shift += mul_div_trunc(ref2, skew_e2, 2_000_000);
    }
    if p.skew_factor_ppm != 0 {
        let (num, den) = if inv.max_usd_e4 > 0 {
            (inv.usd_e4, inv.max_usd_e4)
        } else {
            (inv.position, inv.max_position)
        };
        if den > 0 && num != 0 {
            let num = num.clamp(-den, den);
            // σ = ref2/2 · factor_ppm/1e6 · num/den
            let v = ref2 as i128 * p.skew_factor_ppm as i128 * num as i128
                / (2_000_000i128 * den as i128);
            shift += v as i64;
        }
    }
    if p.inventory_skew_ppm != 0 && inv.max_position > 0 {
        let dev = (inv.position - inv.target).clamp(-inv.max_position, inv.max_position);
        if dev != 0 {
            // σ = skew · (ask − bid)/2 · dev/max
            let v = p.inventory_skew_ppm as i128 * (ask - bid) as i128 * dev as i128
                / (2_000_000i128 * inv.max_position as i128);
            shift += v as i64;
        }
    }
    bid -= shift;
    ask -= shift;
    // 4. Minimum edge versus the reference.
    if p.min_edge_bps_e2 > 0 {
        let e = mul_div_ceil(ref2, p.min_edge_bps_e2, 2_000_000);
        bid = bid.min((ref2 - 2 * e).div_euclid(2));
        ask = ask.max(-((-(ref2 + 2 * e)).div_euclid(2)));
    }
    // 4b. Model quotes never improve the touch.
    if ADJ && adj.behind_touch {
        if let Some(b) = m.best_bid {
            bid = bid.min(b);
        }
        if let Some(a) = m.best_ask {
            ask = ask.max(a);
        }
    }
    // 5. Never cross the book (post-only).
    if let Some(a) = m.best_ask {
        bid = bid.min(a - 1);
    }
    if let Some(b) = m.best_bid {
        ask = ask.max(b + 1);
    }
    // 6. Grid.
    let bid = inst.round_to_grid(bid, false);
    let ask = inst.round_to_grid(ask, true);
    out.ref2 = ref2;
    if bid >= 1 {
        out.bid[0] = bid;
        out.n_bid = 1;
    }
    if ask >= 1 && ask > bid {
        out.ask[0] = ask;
        out.n_ask = 1;
    }
    // Levels.
    let levels = p.levels.clamp(1, MAX_LEVELS);
    if levels > 1 {
        let unit = ref2 as i128 * p.level_spread_bps_e2 as i128;
        for i in 1..levels {
            let off = (div_ceil(unit * i as i128, 2_000_000) as i64).max(i as i64);
            if out.n_bid == i {
                let prev = out.bid[i - 1];
                let mut b = inst.round_to_grid(bid - off, false);
                if b >= prev {
                    b = inst.round_to_grid(prev - 1, false);
                }
                if b >= 1 {
                    out.bid[i] = b;
                    out.n_bid = i + 1;
                }
            }
            if out.n_ask == i {
                let prev = out.ask[i - 1];
                let mut a = inst.round_to_grid(ask + off, true);
                if a <= prev {
                    a = inst.round_to_grid(prev + 1, true);
                }
                out.ask[i] = a;
                out.n_ask = i + 1;
            }
        }
    }
    out
}

/// Computes the first-level target quote with the v1 parameters (mid reference, one level).
///
/// `inventory_usd_e4` is the signed inventory value in 1e-4 USD (only used for skew).
/// Returns an empty [`Target`] when no reference price exists: improve mode needs both sides
/// of the book; spread modes use the mid, or the mark price when a side is empty.
pub fn target(inst: &Instrument, p: &QuoteParams, m: &Market, inventory_usd_e4: i64) -> Target {
    let spec = QuoteSpec::from_params(p);
    let inv = Inventory {
        usd_e4: inventory_usd_e4,
        ..Default::default()
    };
    let l = ladder(inst, &spec, m, &inv);
    Target {
        bid: (l.n_bid > 0).then_some(l.bid[0]),
        ask: (l.n_ask > 0).then_some(l.ask[0]),
    }
}

/// Size of level `i` (0-based): `size + i·level_amount` lots (strategies.md §2).
#[inline]
pub fn level_size(size: Lots, level_amount: Lots, i: usize) -> Lots {
    size + i as Lots * level_amount
}

/// Size skew (strategies.md §3): bid sizes `·(1 − x)`, ask sizes `·(1 + x)` with
/// `x = clip(deviation / range, −1, 1)` and `deviation = position − target` (lots), rounded
/// to the nearest lot (half up). `range ≤ 0` leaves the size unchanged.
#[inline]
pub fn skewed_size(size: Lots, side: Side, deviation: Lots, range: Lots) -> Lots {
    if range <= 0 || deviation == 0 {
        return size;
    }
    let d = deviation.clamp(-range, range) as i128;
    let r = range as i128;
    let num = match side {
        Side::Bid => r - d,
        Side::Ask => r + d,
    };
    // round(size · num / r) = ⌊(2·size·num + r) / (2r)⌋
    ((2 * size as i128 * num + r) / (2 * r)) as Lots
}

#[cfg(test)]
mod tests {
    use super::*;
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
            bid_qty: 1,
            ask_qty: 1,
        }
    }

    fn spec(spread: SpreadMode) -> QuoteSpec {
        QuoteSpec::from_params(&QuoteParams {
            spread,
            min_spread_bps_e2: 0,
            skew_per_100_usd_bps_e2: 0,
        })
    }

    fn lad(p: &QuoteSpec, m: &Market, inv: &Inventory) -> (Vec<Ticks>, Vec<Ticks>) {
        let l = ladder(&inst(), p, m, inv);
        (l.bid[..l.n_bid].to_vec(), l.ask[..l.n_ask].to_vec())
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
        let m = mkt(9000, 11000);
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
            ..Default::default()
        };
        let t = target(&inst(), &p, &m, 0);
        assert_eq!((t.bid, t.ask), (Some(195), Some(205)));
        let p = QuoteParams {
            spread: SpreadMode::Improve(1),
            ..p
        };
        assert_eq!(target(&inst(), &p, &m, 0), Target::default());
    }

    #[test]
    fn micro_price_and_mark_reference_differ_from_mid() {
        // Book 100 × 110, 1 lot bid, 3 lots ask, mark 108. 4-tick spread.
        let m = Market {
            best_bid: Some(100),
            best_ask: Some(110),
            mark: Some(108),
            bid_qty: 1,
            ask_qty: 3,
        };
        let inv = Inventory::default();
        let mut p = spec(SpreadMode::Ticks(4));
        // mid: ref2 = 210 → bid ⌊206/2⌋ = 103, ask ⌈214/2⌉ = 107.
        assert_eq!(lad(&p, &m, &inv), (vec![103], vec![107]));
        // micro = (100·3 + 110·1)/4 = 102.5 → ref2 = 205 → bid ⌊201/2⌋ = 100, ask ⌈209/2⌉ = 105.
        p.reference = Reference::Micro;
        assert_eq!(reference_x2(p.reference, &m), Some(205));
        assert_eq!(lad(&p, &m, &inv), (vec![100], vec![105]));
        // Heavier bid: (100·1 + 110·3)/4 = 107.5 → ref2 = 215 → bid 105, ask 110 → 110 (not
        // crossing: ask ≥ best_bid + 1 holds), bid < best ask.
        let m2 = Market {
            bid_qty: 3,
            ask_qty: 1,
            ..m
        };
        assert_eq!(reference_x2(p.reference, &m2), Some(215));
        assert_eq!(lad(&p, &m2, &inv), (vec![105], vec![110]));
        // mark 108: ref2 = 216 → bid 106, ask 110.
        p.reference = Reference::Mark;
        assert_eq!(lad(&p, &m, &inv), (vec![106], vec![110]));
        // Mark reference without a mark: nothing.
        let no_mark = Market { mark: None, ..m };
        assert_eq!(lad(&p, &no_mark, &inv), (vec![], vec![]));
    }

    #[test]
    fn absolute_spread_is_converted_to_ticks() {
        // 0.004 total on a 0.0005 tick = 8 ticks: mid 200 → 196 / 204.
        let p = spec(SpreadMode::Abs(Dec::new(4, 3))).resolve(&inst());
        assert_eq!(p.spread, SpreadMode::Ticks(8));
        assert_eq!(
            lad(&p, &mkt(150, 250), &Inventory::default()),
            (vec![196], vec![204])
        );
        // Unresolved (direct call) gives the same.
        let p = spec(SpreadMode::Abs(Dec::new(4, 3)));
        assert_eq!(
            lad(&p, &mkt(150, 250), &Inventory::default()),
            (vec![196], vec![204])
        );
    }

    #[test]
    fn min_edge_moves_a_skewed_quote_back() {
        // mid 10000, 4 ticks, short 1000 USD at 10 bps/100 USD → shift −100 ticks: bid 10098,
        // ask 10102. Min edge 5 bps = 5 ticks → bid ≤ 9995; ask stays.
        let mut p = spec(SpreadMode::Ticks(4));
        p.skew_per_100_usd_bps_e2 = 1000;
        p.min_edge_bps_e2 = 500;
        let inv = Inventory {
            usd_e4: -1000 * 10_000,
            ..Default::default()
        };
        assert_eq!(lad(&p, &mkt(9000, 11000), &inv), (vec![9995], vec![10102]));
    }

    #[test]
    fn skew_factor_of_position_by_hand() {
        // ref 10000 ticks, factor 0.01, long 3 of max 10 lots → skew 0.003 → 30 ticks down.
        let mut p = spec(SpreadMode::Ticks(20));
        p.skew_factor_ppm = 10_000;
        let m = mkt(9000, 11000);
        let inv = Inventory {
            position: 3,
            max_position: 10,
            ..Default::default()
        };
        // base 9990 / 10010 → 9960 / 9980.
        assert_eq!(lad(&p, &m, &inv), (vec![9960], vec![9980]));
        // Short 7 of 10: skew −0.007 → 70 ticks up.
        let inv = Inventory {
            position: -7,
            max_position: 10,
            ..Default::default()
        };
        assert_eq!(lad(&p, &m, &inv), (vec![10060], vec![10080]));
        // Normalised by max inventory USD when set: 250 of 1000 USD → 0.0025 → 25 ticks.
        let inv = Inventory {
            usd_e4: 250 * 10_000,
            max_usd_e4: 1000 * 10_000,
            position: 9,
            max_position: 10,
            ..Default::default()
        };
        assert_eq!(lad(&p, &m, &inv), (vec![9965], vec![9985]));
        // Clipped at ±1: 40 of 10 lots counts as 10 → 100 ticks.
        let inv = Inventory {
            position: 40,
            max_position: 10,
            ..Default::default()
        };
        assert_eq!(lad(&p, &m, &inv), (vec![9890], vec![9910]));
    }

    #[test]
    fn inventory_skew_fraction_of_half_spread_by_hand() {
        // 40-tick spread (half 20), inventory_skew 0.5, position 6, target 2, max 8:
        // σ = 0.5 · 20 · 4/8 = 5 ticks down.
        let mut p = spec(SpreadMode::Ticks(40));
        p.inventory_skew_ppm = 500_000;
        let m = mkt(9000, 11000);
        let inv = Inventory {
            position: 6,
            target: 2,
            max_position: 8,
            ..Default::default()
        };
        assert_eq!(lad(&p, &m, &inv), (vec![9975], vec![10015]));
        // Position −2 vs target 2: σ = 0.5 · 20 · (−4/8) = −5 → up.
        let inv = Inventory {
            position: -2,
            ..inv
        };
        assert_eq!(lad(&p, &m, &inv), (vec![9985], vec![10025]));
        // At target: no shift.
        let inv = Inventory { position: 2, ..inv };
        assert_eq!(lad(&p, &m, &inv), (vec![9980], vec![10020]));
    }

    #[test]
    fn skew_conventions_add_up() {
        // bps/100 USD: 1 bp per 100 USD, long 500 USD → 5 bps = 5 ticks; factor 0.001 · 5/10 →
        // 0.0005 = 5 ticks; fraction 0.5 · 10 · 5/10 = 2.5 → 2 (truncated). Total 12.
        let mut p = spec(SpreadMode::Ticks(20));
        p.skew_per_100_usd_bps_e2 = 100;
        p.skew_factor_ppm = 1000;
        p.inventory_skew_ppm = 500_000;
        let inv = Inventory {
            usd_e4: 500 * 10_000,
            position: 5,
            max_position: 10,
            ..Default::default()
        };
        assert_eq!(lad(&p, &mkt(9000, 11000), &inv), (vec![9978], vec![9998]));
    }

    #[test]
    fn levels_step_out_by_level_spread() {
        // ref 10000, 20 bps total: 9990 / 10010. Level spread 2.5 bps = 2.5 ticks per level:
        // offsets ⌈2.5⌉ = 3, ⌈5⌉ = 5, ⌈7.5⌉ = 8.
        let mut p = spec(SpreadMode::Bps(2000));
        p.levels = 4;
        p.level_spread_bps_e2 = 250;
        assert_eq!(
            lad(&p, &mkt(9999, 10001), &Inventory::default()),
            (
                vec![9990, 9987, 9985, 9982],
                vec![10010, 10013, 10015, 10018]
            )
        );
        // Zero level spread still gives one distinct tick per level.
        p.level_spread_bps_e2 = 0;
        p.levels = 3;
        assert_eq!(
            lad(&p, &mkt(9999, 10001), &Inventory::default()),
            (vec![9990, 9989, 9988], vec![10010, 10011, 10012])
        );
        // Levels below one tick are not quoted.
        p.spread = SpreadMode::Ticks(2);
        assert_eq!(
            lad(&p, &mkt(1, 3), &Inventory::default()),
            (vec![1], vec![3, 4, 5])
        );
    }

    #[test]
    fn model_adjustments_by_hand() {
        let p = spec(SpreadMode::Ticks(20));
        let m = mkt(10_000, 10_001); // ref2 = 20001
        let inv = Inventory::default();
        let l = |a: &Adjust| {
            let l = ladder_adj(&inst(), &p, &m, &inv, a);
            (l.bid[0], l.ask[0])
        };
        // No adjustment = the plain ladder: ⌊19981/2⌋ = 9990, ⌈20021/2⌉ = 10011.
        assert_eq!(l(&Adjust::NONE), (9990, 10_011));
        assert_eq!(lad(&p, &m, &inv), (vec![9990], vec![10_011]));
        // Model spread 6 ticks: ⌊19995/2⌋ = 9997, ⌈20007/2⌉ = 10004; shift 3 down.
        let a = Adjust {
            spread_ticks: 6,
            shift: 3,
            ..Adjust::NONE
        };
        assert_eq!(l(&a), (9994, 10_001));
        // Vol ratio 1.5: distances 21 → ⌈31.5⌉ = 32 half-ticks: ⌊19969/2⌋ = 9984,
        // ⌈20033/2⌉ = 10017.
        let a = Adjust {
            vol_ratio_ppm: 1_500_000,
            ..Adjust::NONE
        };
        assert_eq!(l(&a), (9984, 10_017));
        // Widen 5 bps a side: ⌈20001·500/2e6⌉ = 6 ticks.
        let a = Adjust {
            widen_bps_e2: 500,
            ..Adjust::NONE
        };
        assert_eq!(l(&a), (9984, 10_017));
        // Behind the touch: a 2-tick model spread on a 10-tick book stays at the touch.
        let wide = mkt(10_000, 10_010);
        let a = Adjust {
            spread_ticks: 2,
            behind_touch: true,
            ..Adjust::NONE
        };
        let lw = ladder_adj(&inst(), &p, &wide, &inv, &a);
        assert_eq!((lw.bid[0], lw.ask[0]), (10_000, 10_010));
    }

    #[test]
    fn level_sizes_and_size_skew_by_hand() {
        assert_eq!(level_size(10, 5, 0), 10);
        assert_eq!(level_size(10, 5, 2), 20);
        // x = 3/10 → bid 10·0.7 = 7, ask 10·1.3 = 13.
        assert_eq!(skewed_size(10, Side::Bid, 3, 10), 7);
        assert_eq!(skewed_size(10, Side::Ask, 3, 10), 13);
        // x = −0.25 on 2 lots → bid 2.5 → 3 (half up), ask 1.5 → 2.
        assert_eq!(skewed_size(2, Side::Bid, -1, 4), 3);
        assert_eq!(skewed_size(2, Side::Ask, -1, 4), 2);
        // Clipped: x = 1 → bid 0, ask 2·size.
        assert_eq!(skewed_size(4, Side::Bid, 50, 10), 0);
        assert_eq!(skewed_size(4, Side::Ask, 50, 10), 8);
        assert_eq!(skewed_size(4, Side::Ask, 50, 0), 4);
    }
}
