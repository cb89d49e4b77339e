//! Restart restoration ([`Engine::restore_fill`], [`Engine::adopt_position`],
//! [`Engine::reserve_client_ids`]): an engine seeded with a previous run's fills holds the
//! same position, fill count and PnL as one that saw them live, and quotes the same way.

use mm_core::engine::Engine;
use mm_core::event::*;
use mm_core::types::Side;

mod common;

fn engine() -> Engine {
    common::engine(4, 1, 100, |cfg| {
        // PnL is evaluated (for the daily-loss limit) at every fill; never reached here.
        cfg.daily_loss_usd_e4 = i64::MAX / 4;
        // Quotes lean with the position, so equal quotes mean equal positions.
        cfg.inventory_skew_ppm = 500_000;
    })
}

fn book(e: &mut Engine, out: &mut Vec<OrderIntent>, tel: &mut Vec<Telemetry>, bid: i64, ask: i64) {
    for (kind, side, price, qty) in [
        (MdKind::BookClear, Side::Bid, 0, 0),
        (MdKind::Level, Side::Bid, bid, 5),
        (MdKind::Level, Side::Ask, ask, 5),
        (MdKind::BookDone, Side::Bid, 0, 0),
    ] {
        let ev = MdEvent {
            t_recv: 1,
            t_decoded: 2,
            kind,
            side,
            price,
            qty,
            instrument: 0,
            ..Default::default()
        };
        e.on_md(&ev, 10, out, tel);
    }
}

fn fill(client_id: u64, side: Side, price: i64, qty: i64, fee_nano: i64) -> ExecEvent {
    ExecEvent {
        client_id,
        price,
        qty,
        fee_nano,
        instrument: 0,
        kind: ExecKind::Fill,
        side,
        maker: 1,
        ..Default::default()
    }
}

/// A previous run's fills (client ids this engine never assigned): long 3, short 1 back,
/// long 2 more, at different prices, with fees.
fn history() -> Vec<ExecEvent> {
    vec![
        fill(1001, Side::Bid, 200, 3, -25),
        fill(1002, Side::Ask, 212, 1, -10),
        fill(1003, Side::Bid, 198, 2, 40),
    ]
}

#[test]
fn restored_fills_equal_live_fills() {
    let (mut out, mut tel) = (Vec::with_capacity(64), Vec::with_capacity(1024));
    // Live: the fills arrive as execution reports (before the first book frame, as they
    // would right after a restart, so both engines hold the same orders: none).
    let mut live = engine();
    for ev in history() {
        live.on_exec(&ev, 20, &mut out, &mut tel);
    }
    assert!(out.is_empty());
    // Restored: the same fills booked at start.
    let mut restored = engine();
    for ev in history() {
        assert!(restored.restore_fill(&ev));
    }
    assert!(!restored.restore_fill(&ExecEvent {
        kind: ExecKind::Accepted,
        ..fill(9, Side::Bid, 1, 1, 0)
    }));
    assert_eq!(restored.position(0), 4);
    assert_eq!(restored.position(0), live.position(0));
    assert_eq!(restored.counters().fills, live.counters().fills);
    assert_eq!(restored.counters().restored_fills, 3);
    // The same book: the same quotes (they lean with the position).
    let (mut out_l, mut out_r) = (Vec::with_capacity(64), Vec::with_capacity(64));
    book(&mut live, &mut out_l, &mut tel, 204, 214);
    book(&mut restored, &mut out_r, &mut tel, 204, 214);
    let key = |v: &[OrderIntent]| -> Vec<_> {
        v.iter()
            .map(|i| (i.kind, i.side, i.price, i.qty, i.client_id))
            .collect()
    };
    assert_eq!(out_l.len(), 2);
    assert_eq!(key(&out_l), key(&out_r));
    // One more identical fill each: the same PnL (cash, entry price, fees).
    let last = fill(99, Side::Ask, 214, 1, 7);
    live.on_exec(&last, 30, &mut out_l, &mut tel);
    restored.on_exec(&last, 30, &mut out_r, &mut tel);
    assert_ne!(live.pnl_usd_e4(), 0);
    assert_eq!(restored.pnl_usd_e4(), live.pnl_usd_e4());
}

#[test]
fn adopted_position_and_reserved_client_ids() {
    let (mut out, mut tel) = (Vec::with_capacity(64), Vec::with_capacity(1024));
    let mut e = engine();
    for ev in history() {
        e.restore_fill(&ev);
    }
    // The venue says −2: the difference is booked, no fill counted.
    assert_eq!(e.adopt_position(0, -2, 205), -6);
    assert_eq!(e.position(0), -2);
    assert_eq!(e.counters().fills, 3);
    assert_eq!(e.adopt_position(0, -2, 205), 0);
    // Client ids start in the reserved block, and never go down.
    e.reserve_client_ids(1 << 32);
    e.reserve_client_ids(5);
    assert_eq!(e.next_client_id(), 1 << 32);
    book(&mut e, &mut out, &mut tel, 200, 210);
    assert!(!out.is_empty());
    assert!(
        out.iter().all(|i| i.client_id >= 1 << 32),
        "{:?}",
        out.iter().map(|i| i.client_id).collect::<Vec<_>>()
    );
}
