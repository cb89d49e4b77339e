//! Engine step functions on hand-built event sequences: quoting after a snapshot, amend on a
//! move, gap pulls quotes until the next snapshot, fills move the position, max position
//! stops the side that would increase it, halt cancels everything.

use mm_core::engine::{Engine, EngineConfig};
use mm_core::event::*;
use mm_core::types::Side;

mod common;

fn engine(max_pos: i64) -> Engine {
    common::engine(4, 1, max_pos, |_| {})
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
    e.on_exec(&ExecEvent::ack_of(it), 11, out, tel);
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
    let sent: Vec<_> = out.split_off(0);
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
    let sent: Vec<_> = out.split_off(0);
    for it in &sent {
        ack(&mut e, &mut out, &mut tel, it);
    }
    e.on_md(&md(MdKind::Gap, Side::Bid, 0, 0), 13, &mut out, &mut tel);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|i| i.kind == IntentKind::Cancel));
    assert!(!e.trusted(0));
    let cancels: Vec<_> = out.split_off(0);
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
    let sent: Vec<_> = out.split_off(0);
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
    let sent: Vec<_> = out.split_off(0);
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

// ---------------------------------------------------------------------------------------
// Quoting and risk controls (strategies.md §1–§6) on hand-built books. Instrument: the
// inverse perpetual above, tick 0.5 USD, lot 10 USD (so 1 lot = 10 USD = 100 000 e-4 USD).

use mm_core::quote::Reference;
use mm_core::risk::RiskCode;

fn engine_with(f: impl FnOnce(&mut EngineConfig)) -> Engine {
    common::engine(4, 2, 100, f)
}

fn book(
    e: &mut Engine,
    out: &mut Vec<OrderIntent>,
    tel: &mut Vec<Telemetry>,
    bid: (i64, i64),
    ask: (i64, i64),
    t: u64,
) {
    for ev in [
        md(MdKind::BookClear, Side::Bid, 0, 0),
        md(MdKind::Level, Side::Bid, bid.0, bid.1),
        md(MdKind::Level, Side::Ask, ask.0, ask.1),
        md(MdKind::BookDone, Side::Bid, 0, 0),
    ] {
        e.on_md(&ev, t, out, tel);
    }
}

fn ack_all(
    e: &mut Engine,
    out: &mut Vec<OrderIntent>,
    tel: &mut Vec<Telemetry>,
) -> Vec<OrderIntent> {
    let sent: Vec<_> = out.split_off(0);
    for it in &sent {
        ack(e, out, tel, it);
    }
    sent
}

fn fill(
    e: &mut Engine,
    out: &mut Vec<OrderIntent>,
    tel: &mut Vec<Telemetry>,
    it: &OrderIntent,
    qty: i64,
) {
    let ev = ExecEvent {
        client_id: it.client_id,
        price: it.price,
        qty,
        instrument: 0,
        kind: ExecKind::Fill,
        side: it.side,
        ..Default::default()
    };
    e.on_exec(&ev, 20, out, tel);
}

fn quotes(v: &[OrderIntent], side: Side) -> Vec<(IntentKind, i64, i64)> {
    v.iter()
        .filter(|i| i.side == side)
        .map(|i| (i.kind, i.price, i.qty))
        .collect()
}

fn risk_codes(tel: &[Telemetry]) -> Vec<RiskCode> {
    tel.iter()
        .filter(|t| t.kind == TelKind::Risk)
        .filter_map(|t| RiskCode::from_i64(t.a))
        .collect()
}

#[test]
fn levels_quote_one_order_per_level_at_exact_prices_and_sizes() {
    // Book 10000 × 10010 ticks: ref2 = 20010; 4-tick spread → 10003 / 10007. Level spread
    // 5 bps: offsets ⌈1·20010·500/2e6⌉ = ⌈5.0025⌉ = 6 and ⌈10.005⌉ = 11. Sizes 2 + i·1.
    let mut e = engine_with(|c| {
        c.levels = 3;
        c.level_spread_bps_e2 = 500;
        c.level_amount = vec![1];
    });
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(4096);
    book(&mut e, &mut out, &mut tel, (10000, 5), (10010, 5), 10);
    use IntentKind::New;
    assert_eq!(
        quotes(&out, Side::Bid),
        vec![(New, 10003, 2), (New, 9997, 3), (New, 9992, 4)]
    );
    assert_eq!(
        quotes(&out, Side::Ask),
        vec![(New, 10007, 2), (New, 10013, 3), (New, 10018, 4)]
    );
    assert!(out.iter().all(|i| i.flags == intent_flags::POST_ONLY));
    assert_eq!(e.counters().limit_violations, 0);
}

#[test]
fn levels_are_keyed_by_price_and_move_by_amend() {
    // Equal sizes; the book moves down so that the new bid targets 9997 / 9992 / 9987 reuse
    // two resting bids: only the old best bid moves (to 9987), by amend, nothing is cancelled
    // or re-sent; asks (no price in common) are all amended in rank order.
    let mut e = engine_with(|c| {
        c.levels = 3;
        c.level_spread_bps_e2 = 500;
    });
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(4096);
    book(&mut e, &mut out, &mut tel, (10000, 5), (10010, 5), 10);
    let first = ack_all(&mut e, &mut out, &mut tel);
    assert!(out.is_empty());
    // ref2 = 19998 → 9997 / 10001; offsets ⌈4.9995⌉ = 5, ⌈9.999⌉ = 10.
    book(&mut e, &mut out, &mut tel, (9994, 5), (10004, 5), 11);
    use IntentKind::Amend;
    assert_eq!(quotes(&out, Side::Bid), vec![(Amend, 9987, 2)]);
    assert_eq!(
        out.iter().find(|i| i.side == Side::Bid).unwrap().client_id,
        first[0].client_id
    );
    assert_eq!(
        quotes(&out, Side::Ask),
        vec![(Amend, 10001, 2), (Amend, 10006, 2), (Amend, 10011, 2)]
    );
    let ask_ids: Vec<_> = out
        .iter()
        .filter(|i| i.side == Side::Ask)
        .map(|i| i.client_id)
        .collect();
    assert_eq!(
        ask_ids,
        vec![first[3].client_id, first[4].client_id, first[5].client_id]
    );
    assert_eq!(e.open_orders(), 6);
}

#[test]
fn levels_share_the_position_room_best_level_first() {
    // Sizes 2, 3, 4 but max position 6 lots: bids 2 + 3 + 1, asks the same; the side is
    // reported limited by max position; nothing beyond the limit is ever sent.
    let mut e = engine_with(|c| {
        c.levels = 3;
        c.level_spread_bps_e2 = 500;
        c.level_amount = vec![1];
        c.max_position = vec![6];
    });
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(4096);
    book(&mut e, &mut out, &mut tel, (10000, 5), (10010, 5), 10);
    let q: Vec<i64> = quotes(&out, Side::Bid).iter().map(|q| q.2).collect();
    assert_eq!(q, vec![2, 3, 1]);
    let q: Vec<i64> = quotes(&out, Side::Ask).iter().map(|q| q.2).collect();
    assert_eq!(q, vec![2, 3, 1]);
    assert_eq!(e.limited(0, Side::Bid), Some(RiskCode::MaxPosition));
    assert!(tel
        .iter()
        .any(|t| t.kind == TelKind::Limit && t.a == RiskCode::MaxPosition as i64));
    // Filling the best bid (2 lots) leaves room 0: the freed level is not re-sent.
    let sent = ack_all(&mut e, &mut out, &mut tel);
    fill(&mut e, &mut out, &mut tel, &sent[0], 2);
    assert_eq!(e.position(0), 2);
    assert!(
        out.iter()
            .all(|i| i.side != Side::Bid || i.kind != IntentKind::New),
        "{out:?}"
    );
    assert_eq!(e.counters().limit_violations, 0);
}

#[test]
fn hard_max_reached_sends_one_reduce_only_ioc_flatten() {
    // Hard max 2 lots. The 2-lot bid fills → position 2 = hard max → a reduce-only IOC sell of
    // 2 lots through the touch: best bid 10000 − collar ⌈20010·5000/2e6⌉ = 51 → 9949.
    let mut e = engine_with(|c| c.hard_max_position = vec![2]);
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(4096);
    book(&mut e, &mut out, &mut tel, (10000, 5), (10010, 5), 10);
    let sent = ack_all(&mut e, &mut out, &mut tel);
    fill(&mut e, &mut out, &mut tel, &sent[0], 2);
    let flat: Vec<_> = out
        .iter()
        .filter(|i| i.flags & intent_flags::IOC != 0)
        .copied()
        .collect();
    assert_eq!(flat.len(), 1, "{out:?}");
    let f = flat[0];
    assert_eq!(
        (f.kind, f.side, f.price, f.qty),
        (IntentKind::New, Side::Ask, 9949, 2)
    );
    assert_eq!(f.flags, intent_flags::REDUCE_ONLY | intent_flags::IOC);
    assert!(out
        .iter()
        .all(|i| i.side != Side::Bid || i.kind == IntentKind::Cancel));
    let ev = tel
        .iter()
        .find(|t| t.kind == TelKind::Risk && t.a == RiskCode::Flatten as i64)
        .unwrap();
    assert_eq!((ev.b, ev.c, ev.d), (2, 2, f.client_id as i64));
    assert_eq!(e.counters().flattens, 1);
    // While it is in flight, another frame sends no second flatten.
    out.clear();
    book(&mut e, &mut out, &mut tel, (10000, 5), (10010, 5), 12);
    assert!(
        out.iter().all(|i| i.flags & intent_flags::IOC == 0),
        "{out:?}"
    );
    // It fills as taker: flat again, and the bid comes back.
    out.clear();
    ack(&mut e, &mut out, &mut tel, &f);
    fill(&mut e, &mut out, &mut tel, &f, 2);
    assert_eq!(e.position(0), 0);
    assert!(quotes(&out, Side::Bid)
        .iter()
        .any(|q| q.0 == IntentKind::New));
    assert_eq!(e.counters().limit_violations, 0);
}

#[test]
fn threshold_band_stops_accumulating_beyond_target() {
    // Target +2 lots, threshold 1 → bids up to +3, asks down to +1: flat, the ask may not
    // trade at all and the bid only 2 (size) ≤ 3.
    let mut e = engine_with(|c| {
        c.target_position = vec![2];
        c.threshold = vec![1];
    });
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(4096);
    book(&mut e, &mut out, &mut tel, (10000, 5), (10010, 5), 10);
    assert_eq!(quotes(&out, Side::Bid), vec![(IntentKind::New, 10003, 2)]);
    assert!(quotes(&out, Side::Ask).is_empty());
    assert_eq!(e.limited(0, Side::Ask), Some(RiskCode::ThresholdBand));
    // Long 2 (at target): the bid may add 1, the ask 1.
    let sent = ack_all(&mut e, &mut out, &mut tel);
    fill(&mut e, &mut out, &mut tel, &sent[0], 2);
    assert_eq!(quotes(&out, Side::Bid), vec![(IntentKind::New, 10003, 1)]);
    assert_eq!(quotes(&out, Side::Ask), vec![(IntentKind::New, 10007, 1)]);
}

#[test]
fn usd_limits_cap_sides_in_lots() {
    // 10 USD a lot. Max position 35 USD → 3 lots; size 5 → 3 each side.
    let mut e = engine_with(|c| {
        c.size = vec![5];
        c.max_position_usd_e4 = 35 * 10_000;
    });
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(4096);
    book(&mut e, &mut out, &mut tel, (10000, 5), (10010, 5), 10);
    assert_eq!(quotes(&out, Side::Bid), vec![(IntentKind::New, 10003, 3)]);
    assert_eq!(quotes(&out, Side::Ask), vec![(IntentKind::New, 10007, 3)]);
    assert_eq!(e.limited(0, Side::Bid), Some(RiskCode::MaxPositionUsd));
    // Max inventory 25 USD → 2 lots a side; after a 2-lot buy the bid stops, the ask may
    // sell 2 + 2 = 4 (down to −20 USD).
    let mut e = engine_with(|c| {
        c.size = vec![5];
        c.max_inventory_usd_e4 = 25 * 10_000;
    });
    let mut out = Vec::with_capacity(64);
    book(&mut e, &mut out, &mut tel, (10000, 5), (10010, 5), 10);
    assert_eq!(quotes(&out, Side::Bid), vec![(IntentKind::New, 10003, 2)]);
    assert_eq!(quotes(&out, Side::Ask), vec![(IntentKind::New, 10007, 2)]);
    assert_eq!(e.limited(0, Side::Ask), Some(RiskCode::MaxInventoryUsd));
    let sent = ack_all(&mut e, &mut out, &mut tel);
    fill(&mut e, &mut out, &mut tel, &sent[0], 2);
    assert!(quotes(&out, Side::Bid)
        .iter()
        .all(|q| q.0 != IntentKind::New));
    assert_eq!(quotes(&out, Side::Ask), vec![(IntentKind::Amend, 10007, 4)]);
    assert_eq!(e.counters().limit_violations, 0);
}

#[test]
fn size_usd_converts_to_lots() {
    // Inverse: 55 USD / 10 USD a lot = 5.5 → 6 lots (nearest, half up).
    let mut e = engine_with(|c| c.size_usd_e4 = 55 * 10_000);
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(4096);
    book(&mut e, &mut out, &mut tel, (10000, 5), (10010, 5), 10);
    assert_eq!(quotes(&out, Side::Bid), vec![(IntentKind::New, 10003, 6)]);
}

#[test]
fn stop_loss_cancels_all_and_halts() {
    // Long 2 lots bought at 10003; stop-loss 1 %: the mid falls to 9895 → loss
    // (10003 − 9895)/10003 = 1.08 % → one cancel-all, halted, nothing after.
    let mut e = engine_with(|c| c.stop_loss_ppm = 10_000);
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(4096);
    book(&mut e, &mut out, &mut tel, (10000, 5), (10010, 5), 10);
    let sent = ack_all(&mut e, &mut out, &mut tel);
    fill(&mut e, &mut out, &mut tel, &sent[0], 2);
    ack_all(&mut e, &mut out, &mut tel);
    // 1 % down is not yet enough: mid 9905 → 0.98 %.
    book(&mut e, &mut out, &mut tel, (9900, 5), (9910, 5), 11);
    assert!(!e.halted());
    ack_all(&mut e, &mut out, &mut tel);
    book(&mut e, &mut out, &mut tel, (9890, 5), (9900, 5), 12);
    assert!(e.halted());
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].kind, IntentKind::CancelAll);
    let codes = risk_codes(&tel);
    let k = codes
        .iter()
        .position(|c| *c == RiskCode::StopLoss)
        .expect("stop-loss event");
    assert_eq!(codes[k + 1], RiskCode::Halt);
    out.clear();
    book(&mut e, &mut out, &mut tel, (10000, 5), (10010, 5), 13);
    assert!(out.is_empty());
}

#[test]
fn daily_loss_cancels_all_and_halts() {
    // Long 20 USD at 10003 ticks (5001.5 USD); mid 9895 ticks: PnL = 20·(9895/10003 − 1)
    // = −0.2159 USD ≤ −0.2 → halt.
    let mut e = engine_with(|c| c.daily_loss_usd_e4 = 2_000);
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(4096);
    book(&mut e, &mut out, &mut tel, (10000, 5), (10010, 5), 10);
    let sent = ack_all(&mut e, &mut out, &mut tel);
    fill(&mut e, &mut out, &mut tel, &sent[0], 2);
    assert!(!e.halted());
    ack_all(&mut e, &mut out, &mut tel);
    book(&mut e, &mut out, &mut tel, (9890, 5), (9900, 5), 12);
    assert!(e.halted());
    assert!(
        (-2160..=-2158).contains(&e.pnl_usd_e4()),
        "{}",
        e.pnl_usd_e4()
    );
    assert_eq!(out.last().map(|i| i.kind), Some(IntentKind::CancelAll));
    assert!(risk_codes(&tel).contains(&RiskCode::DailyLoss));
}

#[test]
fn requote_on_fill_off_waits_for_the_next_frame() {
    let mut e = engine_with(|c| c.requote_on_fill = false);
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(4096);
    book(&mut e, &mut out, &mut tel, (10000, 5), (10010, 5), 10);
    let sent = ack_all(&mut e, &mut out, &mut tel);
    fill(&mut e, &mut out, &mut tel, &sent[0], 2);
    assert!(out.is_empty(), "no re-quote on the fill: {out:?}");
    book(&mut e, &mut out, &mut tel, (10000, 5), (10010, 5), 11);
    assert_eq!(quotes(&out, Side::Bid), vec![(IntentKind::New, 10003, 2)]);
    // On (the default), the fill re-quotes at once.
    let mut e = engine_with(|_| {});
    let mut out = Vec::with_capacity(64);
    book(&mut e, &mut out, &mut tel, (10000, 5), (10010, 5), 10);
    let sent = ack_all(&mut e, &mut out, &mut tel);
    fill(&mut e, &mut out, &mut tel, &sent[0], 2);
    assert_eq!(quotes(&out, Side::Bid), vec![(IntentKind::New, 10003, 2)]);
}

#[test]
fn thresholds_and_refresh() {
    // Threshold 5 ticks (ticks), 3 bps (⌈20010·300/2e6⌉ = 4 ticks) and 2.0 USD (4 ticks):
    // the largest, 5, applies. A 4-tick move is left alone; a refresh (every 1000 ns) amends
    // it anyway; a 5-tick move amends at once.
    let mut e = engine_with(|c| {
        c.requote_ticks = 5;
        c.requote_bps_e2 = 300;
        c.requote_abs = Some(mm_core::decimal::Dec::new(2, 0));
        c.refresh_ns = 1000;
    });
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(4096);
    book(&mut e, &mut out, &mut tel, (10000, 5), (10010, 5), 10);
    ack_all(&mut e, &mut out, &mut tel);
    // The book moves up 4 ticks → targets +4.
    book(&mut e, &mut out, &mut tel, (10004, 5), (10014, 5), 20);
    assert!(out.is_empty(), "{out:?}");
    e.on_idle(500, &mut out, &mut tel);
    assert!(out.is_empty(), "refresh not yet due");
    e.on_idle(1100, &mut out, &mut tel);
    assert_eq!(
        out.iter().map(|i| (i.kind, i.price)).collect::<Vec<_>>(),
        vec![(IntentKind::Amend, 10007), (IntentKind::Amend, 10011)]
    );
    ack_all(&mut e, &mut out, &mut tel);
    // 5 more ticks: amended at once (no refresh due before 2100).
    book(&mut e, &mut out, &mut tel, (10009, 5), (10019, 5), 1200);
    assert_eq!(
        out.iter().map(|i| (i.kind, i.price)).collect::<Vec<_>>(),
        vec![(IntentKind::Amend, 10012), (IntentKind::Amend, 10016)]
    );
}

#[test]
fn micro_price_and_mark_references_quote_differently_from_mid() {
    // Book 100 (1 lot) × 110 (3 lots), 4-tick spread. Mid: 103/107. Micro 102.5 → 100/105.
    // Mark 108 → 106/110.
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(4096);
    let mut e = engine_with(|_| {});
    book(&mut e, &mut out, &mut tel, (100, 1), (110, 3), 10);
    assert_eq!(
        out.iter().map(|i| i.price).collect::<Vec<_>>(),
        vec![103, 107]
    );
    out.clear();
    let mut e = engine_with(|c| c.reference = Reference::Micro);
    book(&mut e, &mut out, &mut tel, (100, 1), (110, 3), 10);
    assert_eq!(
        out.iter().map(|i| i.price).collect::<Vec<_>>(),
        vec![100, 105]
    );
    out.clear();
    let mut e = engine_with(|c| c.reference = Reference::Mark);
    book(&mut e, &mut out, &mut tel, (100, 1), (110, 3), 10);
    assert!(out.is_empty(), "no mark yet: no quote");
    e.on_md(&md(MdKind::Mark, Side::Bid, 108, 0), 11, &mut out, &mut tel);
    book(&mut e, &mut out, &mut tel, (100, 1), (110, 3), 12);
    assert_eq!(
        out.iter().map(|i| i.price).collect::<Vec<_>>(),
        vec![106, 110]
    );
}

#[test]
fn size_skew_moves_size_between_sides() {
    // Target 0, range 4 lots; long 2 → x = 0.5: bid 2·0.5 = 1, ask 2·1.5 = 3.
    let mut e = engine_with(|c| c.size_skew_range = vec![4]);
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(4096);
    book(&mut e, &mut out, &mut tel, (10000, 5), (10010, 5), 10);
    let sent = ack_all(&mut e, &mut out, &mut tel);
    fill(&mut e, &mut out, &mut tel, &sent[0], 2);
    assert_eq!(quotes(&out, Side::Bid), vec![(IntentKind::New, 10003, 1)]);
    assert_eq!(quotes(&out, Side::Ask), vec![(IntentKind::Amend, 10007, 3)]);
}

#[test]
fn a_new_order_refused_after_a_halt_is_forgotten() {
    // Halt while both new orders are in flight: the cancel-all covers them; the venue then
    // refuses one (post-only) and cancels the other. Nothing stays live.
    let mut e = engine_with(|_| {});
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(4096);
    book(&mut e, &mut out, &mut tel, (10000, 5), (10010, 5), 10);
    let sent: Vec<_> = out.split_off(0);
    assert!(!e.halt(11, &mut out, &mut tel));
    assert_eq!(out[0].kind, IntentKind::CancelAll);
    let rej = ExecEvent {
        client_id: sent[0].client_id,
        instrument: 0,
        kind: ExecKind::Rejected,
        code: 11054,
        side: sent[0].side,
        ..Default::default()
    };
    e.on_exec(&rej, 12, &mut out, &mut tel);
    let gone = ExecEvent {
        client_id: sent[1].client_id,
        instrument: 0,
        kind: ExecKind::Cancelled,
        side: sent[1].side,
        ..Default::default()
    };
    e.on_exec(&gone, 13, &mut out, &mut tel);
    assert_eq!(e.open_orders(), 0);
    assert!(e.halt(14, &mut out, &mut tel));
}

/// `log_quotes`: one `Quote` telemetry record per intent, in order, carrying the intent's
/// kind, side, price, size and client id, its reason and ladder level; none when off.
#[test]
fn quote_log_records_every_intent_with_its_reason() {
    type Rec = (IntentKind, Side, i64, i64, u64, Option<QuoteReason>, usize);
    let records = |tel: &[Telemetry]| -> Vec<Rec> {
        tel.iter()
            .filter(|t| t.kind == TelKind::Quote)
            .map(|t| {
                let q = split_quote_word(t.c);
                assert_eq!(
                    q.open,
                    if q.kind == Some(IntentKind::CancelAll) {
                        0
                    } else {
                        t.b
                    }
                );
                (
                    q.kind.unwrap(),
                    t.side,
                    t.a,
                    t.b,
                    t.d as u64,
                    q.reason,
                    q.level,
                )
            })
            .collect()
    };
    let mut e = engine_with(|c| {
        c.log_quotes = true;
        c.requote_ticks = 3;
        c.refresh_ns = 1_000;
    });
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(4096);
    let mut sent: Vec<OrderIntent> = Vec::new();
    let mut reasons: Vec<QuoteReason> = Vec::new();
    let mut step = |e: &mut Engine,
                    out: &mut Vec<OrderIntent>,
                    tel: &mut Vec<Telemetry>,
                    want: &[QuoteReason],
                    sent: &mut Vec<OrderIntent>| {
        assert_eq!(out.len(), want.len(), "{out:?}");
        reasons.extend_from_slice(want);
        sent.extend(out.iter().copied());
        ack_all(e, out, tel);
    };
    // Snapshot: two new quotes (mid 105, 4 ticks wide: 103 / 107).
    book(&mut e, &mut out, &mut tel, (100, 5), (110, 5), 10);
    step(
        &mut e,
        &mut out,
        &mut tel,
        &[QuoteReason::Place; 2],
        &mut sent,
    );
    // Targets move 1 tick, under the 3-tick threshold: nothing.
    book(&mut e, &mut out, &mut tel, (102, 5), (110, 5), 20);
    step(&mut e, &mut out, &mut tel, &[], &mut sent);
    // Targets move 8 ticks: re-quote both.
    book(&mut e, &mut out, &mut tel, (108, 5), (118, 5), 30);
    step(
        &mut e,
        &mut out,
        &mut tel,
        &[QuoteReason::Requote; 2],
        &mut sent,
    );
    // After the refresh interval a 1-tick move is amended anyway.
    book(&mut e, &mut out, &mut tel, (110, 5), (118, 5), 2_000);
    step(
        &mut e,
        &mut out,
        &mut tel,
        &[QuoteReason::Refresh; 2],
        &mut sent,
    );
    // A gap pulls both.
    e.on_md(&md(MdKind::Gap, Side::Bid, 0, 0), 2_010, &mut out, &mut tel);
    step(
        &mut e,
        &mut out,
        &mut tel,
        &[QuoteReason::Pull; 2],
        &mut sent,
    );
    // Quoting again, then the halt's cancel-all.
    book(&mut e, &mut out, &mut tel, (100, 5), (110, 5), 2_020);
    step(
        &mut e,
        &mut out,
        &mut tel,
        &[QuoteReason::Place; 2],
        &mut sent,
    );
    assert!(!e.halt(2_030, &mut out, &mut tel));
    step(&mut e, &mut out, &mut tel, &[QuoteReason::Halt], &mut sent);
    let got = records(&tel);
    let want: Vec<Rec> = sent
        .iter()
        .zip(&reasons)
        .map(|(it, r)| {
            (
                it.kind,
                it.side,
                it.price,
                it.qty,
                it.client_id,
                Some(*r),
                0,
            )
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(sent.last().unwrap().kind, IntentKind::CancelAll);
    assert_eq!(sent[2].price, 111, "re-quoted to the new target");
    assert_eq!(sent[4].price, 112, "refreshed by one tick");
    // Off (the default): no record.
    let mut e = engine_with(|_| {});
    let mut tel = Vec::with_capacity(4096);
    book(&mut e, &mut out, &mut tel, (100, 5), (110, 5), 10);
    assert_eq!(out.len(), 2);
    assert!(records(&tel).is_empty());
}

#[test]
fn mmp_trigger_stops_quoting_until_reset() {
    let mut e = engine(5);
    let mut out = Vec::with_capacity(64);
    let mut tel = Vec::with_capacity(1024);
    snapshot(&mut e, &mut out, &mut tel, 100, 110);
    let sent: Vec<_> = out.split_off(0);
    for it in &sent {
        ack(&mut e, &mut out, &mut tel, it);
    }
    // The trigger: the quotes are pulled (the venue has cancelled them already).
    let trig = ExecEvent {
        instrument: 0,
        kind: ExecKind::MmpTriggered,
        price: 1_700_000_000_000,
        ..Default::default()
    };
    e.on_exec(&trig, 13, &mut out, &mut tel);
    assert!(e.mmp_frozen(0));
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out.iter().all(|i| i.kind == IntentKind::Cancel));
    let risk: Vec<_> = tel
        .iter()
        .filter(|t| t.kind == TelKind::Risk)
        .map(|t| (t.a, t.b))
        .collect();
    assert_eq!(
        risk.last(),
        Some(&(RiskCode::MmpTriggered as i64, 1_700_000_000_000))
    );
    let c: Vec<_> = out.split_off(0);
    for it in &c {
        ack(&mut e, &mut out, &mut tel, it);
    }
    // No quote while frozen: a new snapshot and a repeated trigger send nothing.
    snapshot(&mut e, &mut out, &mut tel, 101, 111);
    e.on_exec(&trig, 14, &mut out, &mut tel);
    assert!(out.is_empty(), "{out:?}");
    // Reset: both sides quoted again at once.
    e.on_exec(
        &ExecEvent {
            instrument: 0,
            kind: ExecKind::MmpReset,
            ..Default::default()
        },
        15,
        &mut out,
        &mut tel,
    );
    assert!(!e.mmp_frozen(0));
    assert_eq!(out.iter().filter(|i| i.kind == IntentKind::New).count(), 2);
    assert!(tel
        .iter()
        .any(|t| t.kind == TelKind::Risk && t.a == RiskCode::MmpReset as i64));
}
