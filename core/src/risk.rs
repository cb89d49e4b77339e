//! Risk: limits and the codes of the risk events the engine reports.
//!
//! Rules (`../shared/docs/strategies.md` §6). Every quoting limit is **in-flight aware**: a
//! side may add `k` lots only while `signed position + pending same-side lots + k` stays
//! within it (`signed position` = `position` for bids, `−position` for asks; pending counts
//! the worst case of in-flight amends). The side's size shrinks to what fits (deeper levels
//! first); below one lot the level is pulled. Per side the binding limit is the smallest of:
//! - **max position** (lots) per instrument;
//! - **max position in USD** per instrument, as lots: `⌊max_usd / USD per lot⌋`;
//! - **hard max position** (lots): also a quoting limit; when `|position|` *reaches* it the
//!   engine sends one reduce-only IOC order for the whole position (a flatten) through the
//!   opposite touch, with a collar of [`FLATTEN_COLLAR_BPS_E2`];
//! - **target ± threshold band**: bids stop at `target + threshold`, asks at
//!   `target − threshold` (the perp makers' "stop accumulating beyond the band");
//! - **max total exposure** across instruments: the sum over instruments of the worst-case
//!   absolute position value, `max(|pos + pending buys|, |pos − pending sells|) × USD per lot`,
//!   must stay within the limit after any order we send;
//! - **max inventory in USD** across instruments: the net signed inventory value
//!   `Σ (pos + pending buys) × USD per lot` may not exceed `+max` through a bid, and
//!   `Σ (pos − pending sells) × USD per lot` may not go below `−max` through an ask (the side
//!   that increases the inventory beyond it stops).
//!
//! - **max net delta / vega** across the book (options, futures in delta): see
//!   [`crate::options::greeks`]; the side that would move the worst-case net greek beyond
//!   `±limit` stops.
//!
//! PnL limits (cancel everything and halt for the rest of the run):
//! - **stop-loss** on a position: unrealized loss versus the entry value (average entry
//!   price × position, quote currency) at or above the set fraction;
//! - **daily loss**: realized + marked PnL in USD since start, fees included, at or below
//!   `−limit`.
//!
//! Market-maker protection: a venue MMP trigger on an instrument's index stops quoting it
//! (its quotes are pulled) until the gateway reports the reset.
//!
//! Untrusted state pulls quotes: a book gap pulls that instrument's quotes until a new
//! snapshot; a stale feed, a disconnect or a halt pulls everything.

use crate::types::Lots;

/// "No limit" for the optional lot and 1e-4 USD limits of the engine configuration.
pub const NO_LIMIT: i64 = i64::MAX;

/// How far through the opposite touch a flatten order may trade: 50 bps of the reference
/// (at least one tick), in hundredths of a bp.
pub const FLATTEN_COLLAR_BPS_E2: i64 = 5_000;

/// Risk event codes (carried in [`crate::event::Telemetry::a`] for `TelKind::Risk`).
#[repr(i64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RiskCode {
    /// A side was stopped or shrunk by the max-position limit (`b` = side index).
    MaxPosition = 1,
    /// A side was stopped by the max-exposure limit (`b` = side index).
    MaxExposure = 2,
    /// Quotes pulled: book gap on this instrument.
    GapPulled = 3,
    /// Quotes pulled: no market data within the stale threshold.
    Stale = 4,
    /// Not quotable: the USD value of a lot is unknown (no index yet) while an exposure limit
    /// is set.
    NoUsdValue = 5,
    /// Intent ring full: decision deferred (back-pressure, nothing dropped).
    IntentBackPressure = 6,
    /// Order pool full: new order not sent.
    OrderPoolFull = 7,
    /// Quoting halted for good by the kill switch or a PnL limit; cancel-all sent
    /// (`b` = [`HaltCause`] value). A PnL halt follows its `StopLoss`/`DailyLoss` event.
    Halt = 8,
    /// A side was stopped or shrunk by the max-position-in-USD limit (`b` = side index).
    MaxPositionUsd = 9,
    /// A side was stopped or shrunk by the max-inventory-in-USD limit (`b` = side index).
    MaxInventoryUsd = 10,
    /// A side was stopped or shrunk by the target ± threshold band (`b` = side index).
    ThresholdBand = 11,
    /// A side was stopped or shrunk by the hard max position (`b` = side index).
    HardMax = 12,
    /// `|position|` reached the hard max: reduce-only IOC flatten sent (`b` = position lots,
    /// `c` = hard max lots, `d` = the flatten order's client id).
    Flatten = 13,
    /// Stop-loss on a position: cancel all + halt (`b` = loss in ppm of the entry value,
    /// `c` = position lots).
    StopLoss = 14,
    /// Daily loss limit: cancel all + halt (`b` = PnL in 1e-4 USD, `c` = limit in 1e-4 USD).
    DailyLoss = 15,
    /// The normal end of a run (end of tape, `--duration`, Ctrl+C/SIGTERM): quoting stops and
    /// every order is cancelled with one cancel-all. Not a limit: listed so that the closing
    /// cancel-all is accounted for in the report.
    Shutdown = 16,
    /// A side was stopped or shrunk by the net delta limit across the book (`b` = side
    /// index; see [`crate::options::greeks`]).
    MaxDelta = 17,
    /// A side was stopped or shrunk by the net vega limit across the book (`b` = side index).
    MaxVega = 18,
    /// Not quotable: the instrument's delta or vega per lot is unknown (no option ticker, no
    /// index yet) while a delta/vega limit is set (`b` = side index).
    NoGreeks = 19,
    /// Reconciliation after a reconnect found a position different from the engine's: the
    /// venue's was adopted (`b` = venue lots, `c` = engine lots before).
    PositionMismatch = 20,
    /// A side stopped for the funds cool-off after `10009/10039 not_enough_funds`
    /// (`b` = side index, `c` = cool-off end, ns; [`crate::reject::Reaction::FundsCoolOff`]).
    FundsCoolOff = 21,
    /// All quoting paused after `10041 settlement_in_progress` (`c` = pause end, ns;
    /// [`crate::reject::Reaction::SettlementPause`]).
    Settlement = 22,
    /// A price band learnt from `10005/10006/10007` clamps the instrument's quotes (`b` = low,
    /// `c` = high limit in ticks; `i64::MIN`/`i64::MAX` = none).
    PriceBand = 23,
    /// Quoting of the instrument stopped for the run: the venue refused its tick or amount
    /// (`b` = the error code; [`crate::reject::Reaction::ConfigBug`]).
    ConfigReject = 24,
    /// The venue's market-maker protection tripped for this instrument's index
    /// (`user.mmp_trigger`, Deribit dossier §5.7): its quotes are cancelled by the venue and
    /// the engine quotes nothing on it until `MmpReset` (`b` = `frozen_until`, ms since the
    /// epoch; 0 = until `private/reset_mmp`).
    MmpTriggered = 25,
    /// MMP was reset for this instrument's index: quoting resumes.
    MmpReset = 26,
}

/// Why [`crate::engine::Engine::halt_for`] stopped quoting (carried in `b` of the `Halt` risk
/// event).
#[repr(i64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HaltCause {
    /// The end of the run (reported as [`RiskCode::Shutdown`], not as a halt).
    Shutdown = 0,
    /// A PnL limit (stop-loss or daily loss; its own event comes first).
    PnlLimit = 1,
    /// The kill switch (SIGUSR1, kill file, `mm-fast kill` / `POST /kill`).
    KillSwitch = 2,
    /// A burst of unknown venue error codes ([`crate::reject::UNKNOWN_BURST`] within
    /// [`crate::reject::UNKNOWN_BURST_WINDOW_NS`]).
    RejectBurst = 3,
}

impl HaltCause {
    /// Inverse of `as i64`.
    pub fn from_i64(v: i64) -> Option<HaltCause> {
        Some(match v {
            0 => HaltCause::Shutdown,
            1 => HaltCause::PnlLimit,
            2 => HaltCause::KillSwitch,
            3 => HaltCause::RejectBurst,
            _ => return None,
        })
    }
}

impl RiskCode {
    /// Stable lower-case name for logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            RiskCode::MaxPosition => "max_position",
            RiskCode::MaxExposure => "max_exposure",
            RiskCode::GapPulled => "gap_pulled",
            RiskCode::Stale => "stale_feed",
            RiskCode::NoUsdValue => "no_usd_value",
            RiskCode::IntentBackPressure => "intent_back_pressure",
            RiskCode::OrderPoolFull => "order_pool_full",
            RiskCode::Halt => "halt",
            RiskCode::MaxPositionUsd => "max_position_usd",
            RiskCode::MaxInventoryUsd => "max_inventory_usd",
            RiskCode::ThresholdBand => "threshold_band",
            RiskCode::HardMax => "hard_max_position",
            RiskCode::Flatten => "flatten",
            RiskCode::StopLoss => "stop_loss",
            RiskCode::DailyLoss => "daily_loss",
            RiskCode::Shutdown => "shutdown",
            RiskCode::MaxDelta => "max_delta",
            RiskCode::MaxVega => "max_vega",
            RiskCode::NoGreeks => "no_greeks",
            RiskCode::PositionMismatch => "position_mismatch",
            RiskCode::FundsCoolOff => "funds_cool_off",
            RiskCode::Settlement => "settlement_pause",
            RiskCode::PriceBand => "price_band",
            RiskCode::ConfigReject => "config_reject",
            RiskCode::MmpTriggered => "mmp_triggered",
            RiskCode::MmpReset => "mmp_reset",
        }
    }

    /// What the engine does on this event (for reports).
    pub fn action(self) -> &'static str {
        match self {
            RiskCode::MaxPosition
            | RiskCode::MaxExposure
            | RiskCode::MaxPositionUsd
            | RiskCode::MaxInventoryUsd
            | RiskCode::ThresholdBand
            | RiskCode::HardMax
            | RiskCode::NoUsdValue
            | RiskCode::MaxDelta
            | RiskCode::MaxVega
            | RiskCode::NoGreeks => "limit_side",
            RiskCode::GapPulled => "pull_instrument",
            RiskCode::Stale => "pull_all",
            RiskCode::IntentBackPressure => "defer",
            RiskCode::OrderPoolFull => "skip_order",
            RiskCode::Halt => "cancel_all+halt",
            RiskCode::Flatten => "reduce_only_ioc",
            RiskCode::StopLoss | RiskCode::DailyLoss => "cancel_all+halt",
            RiskCode::Shutdown => "cancel_all",
            RiskCode::PositionMismatch => "adopt_venue_position",
            RiskCode::FundsCoolOff => "pause_side",
            RiskCode::Settlement => "pause_all",
            RiskCode::PriceBand => "clamp_prices",
            RiskCode::ConfigReject => "stop_instrument",
            RiskCode::MmpTriggered => "pull_instrument",
            RiskCode::MmpReset => "resume_instrument",
        }
    }

    /// True for the codes that limit one side of one instrument (carried with the side in
    /// `b`, released and re-engaged as the binding limit changes).
    pub fn is_side_limit(self) -> bool {
        self.action() == "limit_side"
    }

    /// Inverse of `as i64`.
    pub fn from_i64(v: i64) -> Option<RiskCode> {
        Some(match v {
            1 => RiskCode::MaxPosition,
            2 => RiskCode::MaxExposure,
            3 => RiskCode::GapPulled,
            4 => RiskCode::Stale,
            5 => RiskCode::NoUsdValue,
            6 => RiskCode::IntentBackPressure,
            7 => RiskCode::OrderPoolFull,
            8 => RiskCode::Halt,
            9 => RiskCode::MaxPositionUsd,
            10 => RiskCode::MaxInventoryUsd,
            11 => RiskCode::ThresholdBand,
            12 => RiskCode::HardMax,
            13 => RiskCode::Flatten,
            14 => RiskCode::StopLoss,
            15 => RiskCode::DailyLoss,
            16 => RiskCode::Shutdown,
            17 => RiskCode::MaxDelta,
            18 => RiskCode::MaxVega,
            19 => RiskCode::NoGreeks,
            20 => RiskCode::PositionMismatch,
            21 => RiskCode::FundsCoolOff,
            22 => RiskCode::Settlement,
            23 => RiskCode::PriceBand,
            24 => RiskCode::ConfigReject,
            25 => RiskCode::MmpTriggered,
            26 => RiskCode::MmpReset,
            _ => return None,
        })
    }
}

/// Worst-case absolute position (lots) if every pending order of one side fills.
#[inline]
pub fn worst_position(position: Lots, pending_buys: Lots, pending_sells: Lots) -> Lots {
    (position + pending_buys)
        .abs()
        .max((position - pending_sells).abs())
}

/// Lots a side may still add under the max-position limit, given the position and the
/// side's other pending size (signed by side: pass `position` for bids, `-position` for asks).
#[inline]
pub fn room(max_position: Lots, signed_position: Lots, pending_same_side: Lots) -> Lots {
    max_position.saturating_sub(signed_position.saturating_add(pending_same_side))
}

/// Absolute lot level the worst-case exposure limit allows on one side (strategies.md §6).
///
/// `budget_e4` = limit − (total exposure − this instrument's exposure), `usd_e4_per_lot` > 0,
/// `other_worst` = the worst case of the other direction (lots). Returns the largest
/// `signed position + pending same side` the side may reach, or `i64::MIN / 4` when even
/// nothing more fits.
#[inline]
pub fn exposure_level(budget_e4: i64, usd_e4_per_lot: i64, other_worst: Lots) -> Lots {
    if budget_e4 < 0 {
        return i64::MIN / 4;
    }
    let a = budget_e4 / usd_e4_per_lot;
    if other_worst > a {
        i64::MIN / 4
    } else {
        a
    }
}

/// Loss of a position versus its entry value, in ppm of the entry value (positive = loss).
///
/// `entry_cost` = average entry price × |position| (ticks × lots), `ref2` = twice the mark
/// price (ticks). Price-based: `(entry − mark)/entry` for a long, `(mark − entry)/entry` for
/// a short.
#[inline]
pub fn loss_ppm(position: Lots, entry_cost: i64, ref2: i64) -> i64 {
    if position == 0 || entry_cost <= 0 {
        return 0;
    }
    let cost2 = 2 * entry_cost as i128;
    let value2 = position.unsigned_abs() as i128 * ref2 as i128;
    let loss2 = if position > 0 {
        cost2 - value2
    } else {
        value2 - cost2
    };
    (loss2 * 1_000_000 / cost2).clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposure_level_by_hand() {
        // 1000 USD budget, 10 USD a lot → 100 lots; the other direction at 30 fits.
        assert_eq!(exposure_level(1000 * 10_000, 10 * 10_000, 30), 100);
        assert_eq!(
            exposure_level(1000 * 10_000, 10 * 10_000, 101),
            i64::MIN / 4
        );
        assert_eq!(exposure_level(-1, 10, 0), i64::MIN / 4);
    }

    #[test]
    fn loss_ppm_by_hand() {
        // Long 2 lots entered at 100 (cost 200), mark 99 → 1% = 10 000 ppm.
        assert_eq!(loss_ppm(2, 200, 198), 10_000);
        // Short 2 at 100, mark 99 → gain.
        assert_eq!(loss_ppm(-2, 200, 198), -10_000);
        assert_eq!(loss_ppm(0, 200, 198), 0);
    }

    #[test]
    fn worst_case_counts_the_larger_direction() {
        assert_eq!(worst_position(0, 3, 2), 3);
        assert_eq!(worst_position(5, 1, 10), 6);
        assert_eq!(worst_position(-4, 1, 1), 5);
    }

    #[test]
    fn room_counts_in_flight() {
        assert_eq!(room(10, 4, 3), 3);
        assert_eq!(room(10, -4, 3), 11);
        assert_eq!(room(10, 8, 3), -1);
    }
}
