//! The Deribit error codes a market maker meets (protocol.md §7.2; names from the complete
//! table §7.3) and what mm-fast does about each: the [`Reaction`] the engine applies
//! (`mm_core::reject`) and what the gateway does first ([`GatewayAction`]).
//!
//! The engine classifies by code with [`Reaction::of`]; [`ERRORS`] names each code and states
//! the reaction it must get, and a test checks the two agree, so the table here is the one to
//! read (the README's "Error codes" table is generated from the same rows).

use mm_core::instrument::Instrument;
use mm_core::reject::Reaction;
use mm_core::types::Ticks;

/// What the gateway does with an error before telling the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewayAction {
    /// Report `Rejected` with the code.
    Report,
    /// Report `Rejected` with `qty = -1` (the order is not open any more).
    Terminal,
    /// Parse the band limit from the message (`"price_too_high 43666.4288"`) into the
    /// event's `price` (ticks; rounded into the band), then report.
    ParseLimit,
    /// Re-authenticate on the same connection (`public/auth` with the credentials), then
    /// report (the request is not retried).
    Reauthenticate,
    /// Count it as `rate_limit_errors`; the venue closes the session.
    RateLimited,
    /// Log the code with its message (warn), count it per code, report.
    LogUnknown,
}

/// One row: code, Deribit's message, the engine's reaction.
pub type ErrorRow = (i32, &'static str, Reaction);

/// The codes with a defined reaction (dossier §7.2), in the dossier's order.
pub const ERRORS: &[ErrorRow] = &[
    (10028, "too_many_requests", Reaction::RateLimited),
    (10040, "retry", Reaction::Transient),
    (10041, "settlement_in_progress", Reaction::SettlementPause),
    (10047, "matching_engine_queue_full", Reaction::Transient),
    (10066, "too_many_concurrent_requests", Reaction::Transient),
    (11094, "internal_server_error", Reaction::Transient),
    (13028, "temporarily_unavailable", Reaction::Transient),
    (13888, "timed_out", Reaction::Reprice),
    (10009, "not_enough_funds", Reaction::FundsCoolOff),
    (
        10039,
        "not_enough_funds_in_currency",
        Reaction::FundsCoolOff,
    ),
    (10002, "qty_too_low", Reaction::ConfigBug),
    (10021, "invalid_amount", Reaction::ConfigBug),
    (10027, "non_integer_contract_amount", Reaction::ConfigBug),
    (10043, "price_wrong_tick", Reaction::ConfigBug),
    (10026, "price_precision_exceeded", Reaction::ConfigBug),
    (11055, "post_only_not_allowed", Reaction::ConfigBug),
    (10005, "price_too_low", Reaction::PriceBand),
    (10006, "price_too_low4idx", Reaction::PriceBand),
    (10007, "price_too_high", Reaction::PriceBand),
    (10004, "order_not_found", Reaction::Terminal),
    (10010, "already_closed", Reaction::Terminal),
    (11044, "not_open_order", Reaction::Terminal),
    (11008, "already_filled", Reaction::Terminal),
    (13666, "request_cancelled_by_user", Reaction::NotPlaced),
    (11054, "post_only_reject", Reaction::Reprice),
    (10000, "authorization_required", Reaction::Reauth),
    (13009, "unauthorized", Reaction::Reauth),
];

/// Deribit's message for `code` (`None` for a code not in [`ERRORS`]).
pub fn name(code: i32) -> Option<&'static str> {
    ERRORS.iter().find(|r| r.0 == code).map(|r| r.1)
}

/// What the gateway does with error `code` first.
pub fn gateway_action(code: i32) -> GatewayAction {
    match Reaction::of(code) {
        Reaction::Terminal => GatewayAction::Terminal,
        Reaction::PriceBand => GatewayAction::ParseLimit,
        Reaction::Reauth => GatewayAction::Reauthenticate,
        Reaction::RateLimited => GatewayAction::RateLimited,
        Reaction::Unknown => GatewayAction::LogUnknown,
        _ => GatewayAction::Report,
    }
}

/// The band limit in a `10005/10006/10007` message (`"price_too_high 43666.4288"`), in ticks
/// of `inst`: rounded down for `price_too_high` (a price at the limit is allowed), up for
/// `price_too_low*`. `None` when the message carries no number.
pub fn band_limit_ticks(code: i32, message: &str, inst: &Instrument) -> Option<Ticks> {
    let num = message.split_whitespace().nth(1)?;
    let px: f64 = num
        .parse()
        .ok()
        .filter(|x: &f64| x.is_finite() && *x > 0.0)?;
    let tick = inst.tick.to_f64();
    if tick <= 0.0 {
        return None;
    }
    let t = px / tick;
    // A limit on the tick grid must stay itself despite float noise.
    let r = if code == 10007 {
        (t + 1e-9).floor()
    } else {
        (t - 1e-9).ceil()
    };
    (r >= 1.0 && r < i64::MAX as f64).then_some(r as Ticks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mm_core::decimal::Dec;
    use mm_core::instrument::Kind;

    #[test]
    fn table_agrees_with_the_engine_classification() {
        for &(code, msg, r) in ERRORS {
            assert_eq!(Reaction::of(code), r, "{code} {msg}");
        }
        assert_eq!(Reaction::of(12_345), Reaction::Unknown);
        assert_eq!(gateway_action(12_345), GatewayAction::LogUnknown);
        assert_eq!(gateway_action(11044), GatewayAction::Terminal);
        assert_eq!(gateway_action(13009), GatewayAction::Reauthenticate);
        assert_eq!(gateway_action(10007), GatewayAction::ParseLimit);
        assert_eq!(gateway_action(10028), GatewayAction::RateLimited);
        assert_eq!(name(10041), Some("settlement_in_progress"));
    }

    #[test]
    fn parses_the_band_limit_of_the_dossier_message() {
        let perp = Instrument::new(
            "BTC-PERPETUAL",
            Kind::Perpetual,
            Dec::new(5, 1),
            Dec::new(10, 0),
        );
        // §9.9: "price_too_high 43666.4288" on a 0.5 tick: highest allowed 43666.0.
        assert_eq!(
            band_limit_ticks(10007, "price_too_high 43666.4288", &perp),
            Some(87_332)
        );
        assert_eq!(
            band_limit_ticks(10005, "price_too_low 43666.4288", &perp),
            Some(87_333)
        );
        assert_eq!(
            band_limit_ticks(10007, "price_too_high 43666.5", &perp),
            Some(87_333)
        );
        assert_eq!(band_limit_ticks(10007, "price_too_high", &perp), None);
        assert_eq!(band_limit_ticks(10007, "price_too_high x", &perp), None);
    }
}
