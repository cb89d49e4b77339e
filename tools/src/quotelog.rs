//! `--log-quotes`: the quote log, rendered on the control thread.
//!
//! With `--log-quotes` the hot thread publishes one `TelKind::Quote` telemetry record per
//! quote intent it sends (see [`mm_core::event::TelKind::Quote`]); it formats nothing. The
//! control thread, draining the telemetry rings, turns each record into one line and writes
//! it with the `log` crate at `info` on the target [`TARGET`] (the binary enables that target
//! whenever `--log-quotes` is set, whatever `--log` says):
//!
//! ```text
//! quote BTC_USDT-PERPETUAL bid L0 new mmf-12 size 0.002 @ 64123.4 (place)
//! quote BTC_USDT-PERPETUAL ask L1 amend mmf-15 size 0.003 @ 64140.2 (requote)
//! quote BTC_USDT-PERPETUAL ask L0 amend mmf-9 size 0.002 (total 0.003) @ 64139.9 (resize)
//! quote BTC_USDT-PERPETUAL bid L0 cancel mmf-12 size 0.002 @ 64123.4 (limit)
//! quote * cancel_all (halt)
//! ```
//!
//! Fields: instrument, side, ladder level (`L0` = best; `L0` also for flattens and for
//! cancels of surplus or pulled orders), action (`new`, `amend`, `cancel`, `cancel_all`),
//! our order (`mmf-<client id>`, the venue label), the open size in the instrument's amount
//! unit (after the request; for an order that already filled in part, `(total …)` is the
//! total size the venue is asked for), price in price units, and the reason
//! ([`mm_core::event::QuoteReason::name`]).

use mm_core::event::{split_quote_word, IntentKind, TelKind, Telemetry};
use mm_core::instrument::InstrumentTable;

/// The `log` target of the quote lines.
pub const TARGET: &str = "mm_fast::quotes";

/// The log line of a `TelKind::Quote` record (`None` for other records or an unknown
/// instrument).
pub fn line(table: &InstrumentTable, t: &Telemetry) -> Option<String> {
    if t.kind != TelKind::Quote {
        return None;
    }
    let q = split_quote_word(t.c);
    let reason = q.reason.map_or("?", |r| r.name());
    let level = q.level;
    let kind = q.kind?;
    if kind == IntentKind::CancelAll {
        return Some(format!("quote * cancel_all ({reason})"));
    }
    if t.instrument as usize >= table.len() {
        return None;
    }
    let inst = table.get(t.instrument);
    let action = match kind {
        IntentKind::New => "new",
        IntentKind::Amend => "amend",
        IntentKind::Cancel => "cancel",
        IntentKind::CancelAll => "cancel_all",
    };
    // An order that already filled in part: the venue is asked for the total size.
    let total = if t.b != q.open {
        format!(" (total {})", inst.amount_f64(t.b))
    } else {
        String::new()
    };
    Some(format!(
        "quote {} {} L{level} {action} mmf-{} size {}{total} @ {} ({reason})",
        inst.name,
        if t.side.idx() == 0 { "bid" } else { "ask" },
        t.d,
        inst.amount_f64(q.open),
        inst.price_f64(t.a),
    ))
}
