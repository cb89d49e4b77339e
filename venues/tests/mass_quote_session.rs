//! The order session in mass-quote mode (`OrderSession::with_quoting`): intents → one
//! `private/mass_quote`; the reply, quote fills and cancels (no label) and `user.mmp_trigger`
//! → events carrying the engine's client ids.

use mm_core::decimal::Dec;
use mm_core::event::{intent_flags, ExecEvent, ExecKind, IntentKind, OrderIntent};
use mm_core::instrument::{Instrument, InstrumentTable, Kind};
use mm_core::types::Side;
use mm_venues::deribit::gateway::{OrderSession, QuotingOpts};
use mm_venues::deribit::mass_quote::MassQuoteOpts;
use mm_venues::deribit::mmp::MmpOpts;
use std::sync::Arc;

fn session() -> OrderSession {
    let mut t = InstrumentTable::new();
    t.push(Instrument::new(
        "BTC-PERPETUAL",
        Kind::Perpetual,
        Dec::new(5, 1),
        Dec::new(10, 0),
    ))
    .unwrap();
    OrderSession::new(Arc::new(t)).with_quoting(&QuotingOpts {
        mass_quote: Some(MassQuoteOpts {
            mmp_group: "g".into(),
            quote_set_id: "g".into(),
            valid_ms: 0,
        }),
        mmp: Some(MmpOpts {
            group: Some("g".into()),
            interval_s: 1,
            frozen_s: 1,
            qty_limit: Some(Dec::new(1, 0)),
            delta_limit: None,
            auto_reset_s: None,
        }),
    })
}

fn new(cid: u64, side: Side, price: i64) -> OrderIntent {
    OrderIntent {
        client_id: cid,
        price,
        qty: 1,
        kind: IntentKind::New,
        side,
        flags: intent_flags::POST_ONLY,
        ..Default::default()
    }
}

fn frame(s: &mut OrderSession, text: &str) -> Vec<ExecEvent> {
    let mut out = Vec::new();
    s.on_frame(text.as_bytes(), 7, &mut out);
    out
}

#[test]
fn mass_quote_events_carry_our_client_ids() {
    let mut s = session();
    assert_eq!(s.request(&new(1, Side::Bid, 8000), 0), Ok(""));
    assert_eq!(s.request(&new(2, Side::Ask, 8004), 0), Ok(""));
    let f = s.next_frame(0, None).expect("one mass quote").to_string();
    assert!(s.next_frame(0, None).is_none());
    assert!(
        f.starts_with(r#"{"jsonrpc":"2.0","id":1000,"method":"private/mass_quote""#),
        "{f}"
    );
    assert!(
        f.contains(r#""bid":{"price":4000,"amount":10,"post_only":true,"reject_post_only":true}"#),
        "{f}"
    );
    assert!(f.contains(r#""ask":{"price":4002,"amount":10"#), "{f}");
    // The notification may come before the reply (dossier §5.8 ordering).
    assert!(frame(&mut s, r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"user.orders.any.any.raw","data":{"order_id":"A","label":"","quote_id":"1","instrument_name":"BTC-PERPETUAL","direction":"buy","order_state":"open","price":4000.0,"amount":10.0}}}"#).is_empty());
    let ev = frame(
        &mut s,
        r#"{"jsonrpc":"2.0","id":1000,"result":{"errors":[],"orders":[{"order_id":"A","label":"","quote_id":"1","instrument_name":"BTC-PERPETUAL","direction":"buy","order_state":"open","price":4000.0,"amount":10.0},{"order_id":"B","label":"","quote_id":"1","instrument_name":"BTC-PERPETUAL","direction":"sell","order_state":"open","price":4002.0,"amount":10.0}],"trades":[]}}"#,
    );
    let k: Vec<_> = ev
        .iter()
        .map(|e| (e.client_id, e.kind, e.price, e.qty))
        .collect();
    assert_eq!(
        k,
        vec![
            (1, ExecKind::Accepted, 8000, 1),
            (2, ExecKind::Accepted, 8004, 1)
        ]
    );
    // A quote fill: no label, quote_id set → our client id 1.
    let ev = frame(
        &mut s,
        r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"user.trades.any.any.raw","data":[{"trade_id":"T1","order_id":"A","label":"","quote_id":"1","instrument_name":"BTC-PERPETUAL","direction":"buy","price":4000.0,"amount":10.0,"fee":0.0,"fee_currency":"BTC","liquidity":"M","timestamp":1,"trade_seq":1}]}}"#,
    );
    assert_eq!(ev.len(), 1);
    assert_eq!(
        (ev[0].client_id, ev[0].kind, ev[0].qty),
        (1, ExecKind::Fill, 1)
    );
    // MMP: the venue cancels the ask, then the trigger.
    let ev = frame(
        &mut s,
        r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"user.orders.any.any.raw","data":{"order_id":"B","label":"","quote_id":"1","instrument_name":"BTC-PERPETUAL","direction":"sell","order_state":"cancelled","cancel_reason":"mmp_trigger","mmp_cancelled":true,"price":4002.0,"amount":10.0}}}"#,
    );
    assert_eq!(ev.len(), 1);
    assert_eq!(
        (ev[0].client_id, ev[0].kind, ev[0].code),
        (2, ExecKind::Cancelled, 13030)
    );
    let ev = frame(
        &mut s,
        r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"user.mmp_trigger.btc_usd","data":{"index_name":"btc_usd","frozen_until":1700000001000,"mmp_group":"g"}}}"#,
    );
    assert_eq!(ev.len(), 1);
    assert_eq!((ev[0].kind, ev[0].instrument), (ExecKind::MmpTriggered, 0));
    // A cancel of the cancelled ask is answered at once; a refused request rejects its sides.
    let c = OrderIntent {
        client_id: 2,
        kind: IntentKind::Cancel,
        side: Side::Ask,
        ..Default::default()
    };
    let e = s.request(&c, 0).unwrap_err();
    assert_eq!((e.client_id, e.kind), (2, ExecKind::Cancelled));
    assert_eq!(s.request(&new(3, Side::Ask, 8006), 0), Ok(""));
    s.next_frame(0, None).unwrap();
    let ev = frame(
        &mut s,
        r#"{"jsonrpc":"2.0","id":1001,"error":{"code":13030,"message":"mmp_trigger"}}"#,
    );
    assert_eq!(ev.len(), 1);
    assert_eq!(
        (ev[0].client_id, ev[0].kind, ev[0].code),
        (3, ExecKind::Rejected, 13030)
    );
    // Cancel-all is private/cancel_quotes.
    let all = OrderIntent {
        kind: IntentKind::CancelAll,
        instrument: u32::MAX,
        ..Default::default()
    };
    let f = s.request(&all, 0).unwrap().to_string();
    assert!(
        f.contains(r#""method":"private/cancel_quotes","params":{"cancel_type":"all"}"#),
        "{f}"
    );
    assert_eq!(s.stats.mass_quotes_sent, 2);
    assert_eq!(s.stats.mmp_triggers, 1);
    assert_eq!(s.stats.quote_errors, 1);
}

/// Each `private/mass_quote` pays one message of the mass-quote bucket (10/s, burst 10, one
/// kept as headroom): when it is empty the turn's quotes stay batched, and go once it refills.
#[test]
fn mass_quotes_wait_for_the_mass_quote_bucket() {
    use mm_venues::deribit::credits::{Class, CreditBudget, RateLimits};
    let mut s = session();
    let mut b = CreditBudget::client(RateLimits::for_tier(4).unwrap());
    while b.try_take(Class::MassQuote, 0) {}
    assert_eq!(s.request(&new(1, Side::Bid, 8000), 0), Ok(""));
    assert!(
        s.next_frame(0, Some(&mut b)).is_none(),
        "bucket empty: batched"
    );
    // 10 messages/s: one more after 100 ms.
    let f = s
        .next_frame(100_000_000, Some(&mut b))
        .expect("refilled: sent")
        .to_string();
    assert!(f.contains("private/mass_quote"), "{f}");
}
