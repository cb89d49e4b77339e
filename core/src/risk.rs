//! Risk v1: limits and the codes of the risk events the engine reports.
//!
//! Rules (`../shared/docs/strategies.md` §6):
//! - **max position** per instrument, in-flight aware: a bid is allowed only while
//!   `position + pending buys + bid size ≤ max`; an ask while `−position + pending sells + ask
//!   size ≤ max`. The side's size shrinks to what fits; below one lot the side is pulled;
//! - **max total exposure** across instruments: the sum over instruments of the worst-case
//!   absolute position value, `max(|pos + pending buys|, |pos − pending sells|) × USD per lot`,
//!   must stay within the limit after any order we send;
//! - **untrusted state pulls quotes**: a book gap pulls that instrument's quotes until a new
//!   snapshot; a stale feed, a disconnect or a halt pulls everything.

use crate::types::Lots;

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
    /// Quoting halted (shutdown or kill switch); cancel-all sent.
    Halt = 8,
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
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
