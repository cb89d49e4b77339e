//! The order session's translation of real Deribit error frames (protocol.md §9.9 captures and
//! the §7.2 message shapes) into the `ExecEvent`s the engine reacts to (README "Error codes";
//! `mm_venues::deribit::errors`).

use mm_core::decimal::Dec;
use mm_core::event::{ExecEvent, ExecKind, IntentKind, OrderIntent};
use mm_core::instrument::{Instrument, InstrumentTable, Kind};
use mm_core::types::Side;
use mm_venues::deribit::gateway::OrderSession;
use mm_venues::deribit::session::{AuthMethod, AuthState, Credentials};
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
    OrderSession::new(Arc::new(t))
}

/// Sends a New for client id `cid` and returns its request id (the session numbers from 1000).
fn send_new(s: &mut OrderSession, cid: u64) -> u64 {
    let it = OrderIntent {
        kind: IntentKind::New,
        client_id: cid,
        price: 87_400,
        qty: 1,
        side: Side::Ask,
        ..Default::default()
    };
    let frame = s.request(&it, 1).expect("a frame").to_string();
    let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
    v["id"].as_u64().unwrap()
}

fn reply(s: &mut OrderSession, frame: &str) -> Vec<ExecEvent> {
    let mut out = Vec::new();
    s.on_frame(frame.as_bytes(), 5, &mut out);
    out
}

#[test]
fn not_open_order_capture_is_terminal() {
    let mut s = session();
    let id = send_new(&mut s, 7);
    // §9.9 [prod 2024-03-05], id replaced by ours.
    let f = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"error":{{"message":"not_open_order","code":11044}},"usIn":1709663172181556,"usOut":1709663172183829,"usDiff":2273,"testnet":false}}"#
    );
    let ev = reply(&mut s, &f);
    assert_eq!(ev.len(), 1);
    assert_eq!(
        (ev[0].kind, ev[0].code, ev[0].qty, ev[0].client_id),
        (ExecKind::Rejected, 11044, -1, 7)
    );
}

#[test]
fn price_band_message_carries_the_limit_in_ticks() {
    let mut s = session();
    let id = send_new(&mut s, 8);
    // §9.9 [doc]: "price_too_high 43666.4288" on a 0.5 USD tick → at most 87 332 ticks.
    let f = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"error":{{"message":"price_too_high 43666.4288","code":10007}}}}"#
    );
    let ev = reply(&mut s, &f);
    assert_eq!((ev[0].code, ev[0].price, ev[0].qty), (10007, 87_332, 0));
}

#[test]
fn too_many_requests_is_counted() {
    let mut s = session();
    let id = send_new(&mut s, 9);
    // §9.9 [synthetic-ish] nautilus ws_error.json shape.
    let f = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":10028,"message":"too_many_requests","data":null}}}}"#
    );
    let ev = reply(&mut s, &f);
    assert_eq!((ev[0].kind, ev[0].code), (ExecKind::Rejected, 10028));
    assert_eq!(s.stats.rate_limit_errors, 1);
    assert_eq!(s.stats.unknown_errors, 0);
}

#[test]
fn unauthorized_triggers_one_relogin_on_the_same_connection() {
    let creds = Credentials {
        client_id: "k".into(),
        client_secret: "s".into(),
        method: AuthMethod::Credentials,
    };
    let mut s = session().with_auth(AuthState::new(creds));
    assert!(s.refresh_request(10).is_none(), "nothing due");
    let id = send_new(&mut s, 10);
    let f = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":13009,"message":"unauthorized"}}}}"#
    );
    let ev = reply(&mut s, &f);
    assert_eq!((ev[0].code, ev[0].qty), (13009, 0), "reported, not retried");
    let login = s.refresh_request(20).expect("a fresh login").to_string();
    assert!(login.contains("public/auth") && login.contains("client_credentials"));
    assert!(s.refresh_request(30).is_none(), "one at a time");
    assert_eq!(s.stats.reauths, 1);
}

#[test]
fn unknown_code_is_counted_and_reported() {
    let mut s = session();
    let id = send_new(&mut s, 11);
    let f = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":19999,"message":"something_new"}}}}"#
    );
    let ev = reply(&mut s, &f);
    assert_eq!(
        (ev[0].kind, ev[0].code, ev[0].qty),
        (ExecKind::Rejected, 19999, 0)
    );
    assert_eq!(s.stats.unknown_errors, 1);
    assert_eq!(s.stats.error_codes.get(&19999), Some(&1));
}
