//! Engine step functions on hand-built event sequences: quoting after a snapshot, amend on a
//! move, gap pulls quotes until the next snapshot, fills move the position, max position
//! stops the side that would increase it, halt cancels everything.

use mm_core::decimal::Dec;
use mm_core::engine::{Engine, EngineConfig};
use mm_core::event::*;
use mm_core::instrument::{Instrument, InstrumentTable, Kind};
use mm_core::quote::{QuoteParams, SpreadMode};
use mm_core::types::Side;

fn clock() -> u64 {
    42
}

fn table() -> InstrumentTable {
    let mut t = InstrumentTable::new();
    t.push(Instrument::new(
        "BTC-PERPETUAL",
        Kind::Perpetual,
        Dec::new(5, 1),
        Dec::new(10, 0),
    ))
    .unwrap();
    t
}

fn engine(max_pos: i64) -> Engine {
    let t = table();
    let q = QuoteParams {
        spread: SpreadMode::Ticks(4),
        min_spread_bps_e2: 0,
        skew_per_100_usd_bps_e2: 0,
    };
    let mut cfg = EngineConfig::uniform(&t, q, 1, max_pos);
    cfg.order_capacity = 64;
    Engine::new(&t, cfg, clock)
}

fn md(kind: MdKind, side: Side, price: i64, qty: i64) -> MdEvent {
    MdEvent {
        t_recv: 1,
        t_decoded: 2,
        kind,
        side,
        price,
        qty,
        instrument: 0,
        ..Default::default()
    }
}

fn snapshot(
    e: &mut Engine,
    out: &mut Vec<OrderIntent>,
    tel: &mut Vec<Telemetry>,
    bid: i64,
    ask: i64,
) {
    for ev in [
        md(MdKind::BookClear, Side::Bid, 0, 0),
        md(MdKind::Level, Side::Bid, bid, 5),
        md(MdKind::Level, Side::Ask, ask, 5),
        md(MdKind::BookDone, Side::Bid, 0, 0),
    ] {
        e.on_md(&ev, 10, out, tel);
    }
}

fn ack(e: &mut Engine, out: &mut Vec<OrderIntent>, tel: &mut Vec<Telemetry>, it: &OrderIntent) {
    let kind = match it.kind {
        IntentKind::New => ExecKind::Accepted,
        IntentKind::Amend => ExecKind::Amended,
        IntentKind::Cancel => ExecKind::Cancelled,
        IntentKind::CancelAll => ExecKind::CancelAllDone,
    };
    let ev = ExecEvent {
        client_id: it.client_id,
        price: it.price,
        qty: it.qty,
        instrument: it.instrument,
        kind,
        side: it.side,
        ..Default::default()
    };
    e.on_exec(&ev, 11, out, tel);
}

#[test]
fn quotes_after_snapshot_and_amends_on_move() {
    let mut e = engine(5);
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(1024);
    snapshot(&mut e, &mut out, &mut tel, 100, 110);
    assert_eq!(out.len(), 2);
    assert_eq!(
        (out[0].kind, out[0].side, out[0].price),
        (IntentKind::New, Side::Bid, 103)
    );
    assert_eq!(
        (out[1].kind, out[1].side, out[1].price),
        (IntentKind::New, Side::Ask, 107)
    );
    assert!(out.iter().all(|i| i.flags & intent_flags::POST_ONLY != 0));
    let sent: Vec<_> = out.drain(..).collect();
    for it in &sent {
        ack(&mut e, &mut out, &mut tel, it);
    }
    assert!(out.is_empty(), "no request while nothing moved: {out:?}");
    // Best bid moves up two ticks: both targets move one tick → amend both, same ids.
    e.on_md(
        &md(MdKind::Level, Side::Bid, 102, 1),
        12,
        &mut out,
        &mut tel,
    );
    e.on_md(
        &md(MdKind::BookDone, Side::Bid, 0, 0),
        12,
        &mut out,
        &mut tel,
    );
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|i| i.kind == IntentKind::Amend));
    assert_eq!(out[0].client_id, sent[0].client_id);
    assert_eq!((out[0].price, out[1].price), (104, 108));
    // Tick-to-quote samples were recorded for md-triggered decisions.
    assert!(tel
        .iter()
        .any(|t| t.kind == TelKind::Latency && t.stage == Stage::TickToQuote));
}

#[test]
fn gap_pulls_quotes_until_next_snapshot() {
    let mut e = engine(5);
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(1024);
    snapshot(&mut e, &mut out, &mut tel, 100, 110);
    let sent: Vec<_> = out.drain(..).collect();
    for it in &sent {
        ack(&mut e, &mut out, &mut tel, it);
    }
    e.on_md(&md(MdKind::Gap, Side::Bid, 0, 0), 13, &mut out, &mut tel);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|i| i.kind == IntentKind::Cancel));
    assert!(!e.trusted(0));
    let cancels: Vec<_> = out.drain(..).collect();
    for it in &cancels {
        ack(&mut e, &mut out, &mut tel, it);
    }
    // Changes before the snapshot do not quote.
    e.on_md(
        &md(MdKind::Level, Side::Bid, 101, 1),
        14,
        &mut out,
        &mut tel,
    );
    e.on_md(
        &md(MdKind::BookDone, Side::Bid, 0, 0),
        14,
        &mut out,
        &mut tel,
    );
    assert!(out.is_empty());
    snapshot(&mut e, &mut out, &mut tel, 100, 110);
    assert_eq!(out.iter().filter(|i| i.kind == IntentKind::New).count(), 2);
    assert_eq!(e.counters().gaps, 1);
}

#[test]
fn fills_move_position_and_max_position_stops_the_side() {
    let mut e = engine(2); // max 2 lots
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(1024);
    snapshot(&mut e, &mut out, &mut tel, 100, 110);
    let sent: Vec<_> = out.drain(..).collect();
    for it in &sent {
        ack(&mut e, &mut out, &mut tel, it);
    }
    let bid = sent[0];
    // Bid filled twice (the engine re-quotes a new bid after each full fill).
    let fill = ExecEvent {
        client_id: bid.client_id,
        price: bid.price,
        qty: 1,
        instrument: 0,
        kind: ExecKind::Fill,
        side: Side::Bid,
        ..Default::default()
    };
    e.on_exec(&fill, 20, &mut out, &mut tel);
    assert_eq!(e.position(0), 1);
    let new_bid = out
        .iter()
        .find(|i| i.kind == IntentKind::New && i.side == Side::Bid)
        .copied()
        .expect("re-quoted bid");
    out.clear();
    ack(&mut e, &mut out, &mut tel, &new_bid);
    let fill2 = ExecEvent {
        client_id: new_bid.client_id,
        ..fill
    };
    e.on_exec(&fill2, 21, &mut out, &mut tel);
    assert_eq!(e.position(0), 2);
    // At the limit: no new bid; the ask stays.
    assert!(
        out.iter()
            .all(|i| i.side != Side::Bid || i.kind == IntentKind::Cancel),
        "{out:?}"
    );
    assert!(tel.iter().any(|t| t.kind == TelKind::Risk));
    assert_eq!(e.counters().limit_violations, 0);
    assert_eq!(tel.iter().filter(|t| t.kind == TelKind::Fill).count(), 2);
}

#[test]
fn halt_cancels_everything_once() {
    let mut e = engine(5);
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(1024);
    snapshot(&mut e, &mut out, &mut tel, 100, 110);
    let sent: Vec<_> = out.drain(..).collect();
    for it in &sent {
        ack(&mut e, &mut out, &mut tel, it);
    }
    assert!(!e.halt(30, &mut out, &mut tel));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, IntentKind::CancelAll);
    assert!(!e.halt(31, &mut out, &mut tel));
    assert_eq!(out.len(), 1, "cancel-all sent once");
    for it in &sent {
        let ev = ExecEvent {
            client_id: it.client_id,
            instrument: 0,
            kind: ExecKind::Cancelled,
            side: it.side,
            ..Default::default()
        };
        e.on_exec(&ev, 32, &mut out, &mut tel);
    }
    assert!(e.halt(33, &mut out, &mut tel));
    assert_eq!(e.open_orders(), 0);
    // No quoting after halt.
    snapshot(&mut e, &mut out, &mut tel, 100, 110);
    assert_eq!(out.len(), 1);
}
