//! The engine across a reconnect: no new/amend while the order connection is down or a book
//! is untrusted (missed fills from reconciliation included), quoting again only after
//! `Connected` and a fresh snapshot, and reconciliation positions (`ExecKind::Position`)
//! checked and adopted.

use mm_core::engine::{Engine, EngineConfig};
use mm_core::event::*;
use mm_core::risk::RiskCode;
use mm_core::types::Side;

mod common;

fn engine(f: impl FnOnce(&mut EngineConfig)) -> Engine {
    common::engine(4, 2, 100, f)
}

fn md(kind: MdKind, side: Side, price: i64, qty: i64) -> MdEvent {
    MdEvent {
        t_recv: 1,
        kind,
        side,
        price,
        qty,
        instrument: 0,
        ..Default::default()
    }
}

fn snapshot(e: &mut Engine, out: &mut Vec<OrderIntent>, tel: &mut Vec<Telemetry>, t: u64) {
    for ev in [
        md(MdKind::BookClear, Side::Bid, 0, 0),
        md(MdKind::Level, Side::Bid, 10000, 5),
        md(MdKind::Level, Side::Ask, 10010, 5),
        md(MdKind::BookDone, Side::Bid, 0, 0),
    ] {
        e.on_md(&ev, t, out, tel);
    }
}

fn exec(kind: ExecKind) -> ExecEvent {
    ExecEvent {
        kind,
        instrument: u32::MAX,
        ..Default::default()
    }
}

fn ack_all(e: &mut Engine, out: &mut Vec<OrderIntent>, tel: &mut Vec<Telemetry>) {
    let sent: Vec<_> = out.split_off(0);
    for it in &sent {
        e.on_exec(&ExecEvent::ack_of(it), 11, out, tel);
    }
}

fn quoting(out: &[OrderIntent]) -> usize {
    out.iter()
        .filter(|i| matches!(i.kind, IntentKind::New | IntentKind::Amend))
        .count()
}

#[test]
fn no_quote_while_disconnected_even_when_a_missed_fill_reaches_the_hard_max() {
    // Hard max 2 lots: a fill of 2 would send a reduce-only flatten — but not while the
    // order connection is down (the missed fill arrives from reconciliation, before
    // `Connected`). With `requote_on_fill` off a fill goes straight to the flatten check.
    let mut e = engine(|c| {
        c.hard_max_position = vec![2];
        c.requote_on_fill = false;
    });
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(4096);
    snapshot(&mut e, &mut out, &mut tel, 10);
    assert_eq!(quoting(&out), 2);
    ack_all(&mut e, &mut out, &mut tel);
    let bid = ExecEvent {
        client_id: 1,
        price: 10002,
        qty: 2,
        instrument: 0,
        kind: ExecKind::Fill,
        side: Side::Bid,
        ..Default::default()
    };
    // Both connections drop.
    e.on_exec(&exec(ExecKind::Disconnected), 12, &mut out, &mut tel);
    e.on_md(
        &md(MdKind::Disconnected, Side::Bid, 0, 0),
        12,
        &mut out,
        &mut tel,
    );
    assert_eq!(e.open_orders(), 0, "cancel-on-disconnect: orders forgotten");
    out.clear();
    // The market-data connection comes back first: trusted book, gateway still down.
    snapshot(&mut e, &mut out, &mut tel, 13);
    assert!(e.trusted(0));
    e.on_idle(14, &mut out, &mut tel);
    assert_eq!(quoting(&out), 0, "gateway down: {out:?}");
    // Reconciliation: the missed fill, then the venue's position (agrees), then Connected.
    e.on_exec(&bid, 15, &mut out, &mut tel);
    assert_eq!(e.position(0), 2);
    assert_eq!(quoting(&out), 0, "no flatten while down: {out:?}");
    let pos = ExecEvent {
        qty: 2,
        instrument: 0,
        kind: ExecKind::Position,
        ..Default::default()
    };
    e.on_exec(&pos, 16, &mut out, &mut tel);
    assert_eq!(e.counters().position_mismatches, 0);
    assert_eq!(quoting(&out), 0);
    e.on_exec(&exec(ExecKind::Connected), 17, &mut out, &mut tel);
    e.on_idle(18, &mut out, &mut tel);
    // Now: the flatten (reduce-only IOC ask) and the ask quote; no bid (hard max).
    assert!(
        out.iter().any(|i| i.kind == IntentKind::New
            && i.flags & intent_flags::IOC != 0
            && i.side == Side::Ask),
        "{out:?}"
    );
    assert!(out.iter().all(|i| i.side == Side::Ask), "{out:?}");
    assert_eq!(e.counters().quotes_while_untrusted, 0);
}

#[test]
fn after_reconnect_quotes_wait_for_the_snapshot() {
    let mut e = engine(|_| {});
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(4096);
    snapshot(&mut e, &mut out, &mut tel, 10);
    ack_all(&mut e, &mut out, &mut tel);
    e.on_exec(&exec(ExecKind::Disconnected), 12, &mut out, &mut tel);
    e.on_md(
        &md(MdKind::Disconnected, Side::Bid, 0, 0),
        12,
        &mut out,
        &mut tel,
    );
    out.clear();
    // The gateway reconciles first: Connected, but the book is not rebuilt yet.
    e.on_exec(&exec(ExecKind::Connected), 13, &mut out, &mut tel);
    e.on_idle(14, &mut out, &mut tel);
    // Deltas without a snapshot do not make it trusted.
    e.on_md(
        &md(MdKind::Level, Side::Bid, 10001, 1),
        15,
        &mut out,
        &mut tel,
    );
    e.on_md(
        &md(MdKind::BookDone, Side::Bid, 0, 0),
        15,
        &mut out,
        &mut tel,
    );
    assert!(!e.trusted(0));
    assert_eq!(quoting(&out), 0, "{out:?}");
    // The snapshot: quoting resumes with two new orders.
    snapshot(&mut e, &mut out, &mut tel, 16);
    assert_eq!(
        out.iter().filter(|i| i.kind == IntentKind::New).count(),
        2,
        "{out:?}"
    );
    assert_eq!(e.counters().quotes_while_untrusted, 0);
}

#[test]
fn a_different_venue_position_is_adopted_and_counted() {
    let mut e = engine(|_| {});
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(4096);
    snapshot(&mut e, &mut out, &mut tel, 10);
    ack_all(&mut e, &mut out, &mut tel);
    e.on_exec(&exec(ExecKind::Disconnected), 12, &mut out, &mut tel);
    let pos = ExecEvent {
        qty: -3,
        instrument: 0,
        kind: ExecKind::Position,
        ..Default::default()
    };
    e.on_exec(&pos, 13, &mut out, &mut tel);
    assert_eq!(e.position(0), -3);
    assert_eq!(e.counters().position_mismatches, 1);
    let ev = tel
        .iter()
        .find(|t| t.kind == TelKind::Risk && t.a == RiskCode::PositionMismatch as i64)
        .expect("a position_mismatch risk event");
    assert_eq!((ev.b, ev.c), (-3, 0));
    // The same position again: nothing new.
    e.on_exec(&pos, 14, &mut out, &mut tel);
    assert_eq!(e.counters().position_mismatches, 1);
    // Out-of-range instruments are ignored.
    let bad = ExecEvent {
        instrument: 7,
        ..pos
    };
    e.on_exec(&bad, 15, &mut out, &mut tel);
    assert_eq!(e.counters().position_mismatches, 1);
}
