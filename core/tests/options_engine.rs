//! The engine with an option quoted around its theo (`Reference::Theo` via
//! `option_reference`), fed hand-built events built from a real Deribit ticker
//! (ETH-16APR21-1600-C on 2021-04-05: underlying 2143.93, mark IV 99.78, delta 0.96459,
//! vega 0.28493, mark 0.256257 ETH): no quote before the ticker, quotes bracketing the
//! Black-76 theo after it, the ticker's greeks per lot, a net delta limit that shrinks sides.

use mm_core::decimal::Dec;
use mm_core::engine::{Engine, EngineConfig};
use mm_core::event::*;
use mm_core::instrument::{Instrument, InstrumentTable, Kind, OptionTerms, OptionType};
use mm_core::quote::{QuoteParams, Reference, SpreadMode};
use mm_core::risk::RiskCode;
use mm_core::types::Side;

const TS_MS: u64 = 1_617_644_856_308;
const EXPIRY_MS: u64 = 1_618_560_000_000; // 16 Apr 2021 08:00 UTC

fn clock() -> u64 {
    7
}

fn engine(max_delta_e8: i64, size: i64) -> Engine {
    let mut t = InstrumentTable::new();
    let mut i = Instrument::new(
        "ETH-16APR21-1600-C",
        Kind::Option,
        Dec::new(5, 4),
        Dec::new(1, 0),
    );
    i.expiry_ms = Some(EXPIRY_MS);
    i.option = Some(OptionTerms {
        strike: 1600.0,
        option_type: OptionType::Call,
    });
    t.push(i).unwrap();
    let q = QuoteParams {
        spread: SpreadMode::Ticks(20),
        min_spread_bps_e2: 0,
        skew_per_100_usd_bps_e2: 0,
    };
    let mut cfg = EngineConfig::uniform(&t, q, size, 100);
    cfg.option_reference = Some(Reference::Theo);
    cfg.max_delta_e8 = max_delta_e8;
    Engine::new(&t, cfg, clock)
}

fn md(kind: MdKind, side: Side, price: i64, qty: i64) -> MdEvent {
    MdEvent {
        t_recv: 1,
        exch_ts: TS_MS * 1_000_000,
        kind,
        side,
        price,
        qty,
        ..Default::default()
    }
}

/// Book 0.206 / 0.2645 (ticks of 0.0005: 412 / 529).
fn snapshot(e: &mut Engine, out: &mut Vec<OrderIntent>, tel: &mut Vec<Telemetry>) {
    for ev in [
        md(MdKind::BookClear, Side::Bid, 0, 0),
        md(MdKind::Level, Side::Bid, 412, 10),
        md(MdKind::Level, Side::Ask, 529, 1),
        md(MdKind::BookDone, Side::Bid, 0, 0),
    ] {
        e.on_md(&ev, 10, out, tel);
    }
}

fn ticker(iv_ppm: i64) -> MdEvent {
    MdEvent {
        seq: pack_greeks(964_590, 2_849),
        flags: md_flags::GREEKS,
        ..md(MdKind::OptionTicker, Side::Bid, iv_ppm, 21_439_300)
    }
}

#[test]
fn quotes_wait_for_the_theo_then_bracket_it() {
    let mut e = engine(mm_core::risk::NO_LIMIT, 1);
    let (mut out, mut tel) = (Vec::with_capacity(64), Vec::with_capacity(256));
    snapshot(&mut e, &mut out, &mut tel);
    assert!(out.is_empty(), "no quote before a theo");
    e.on_md(&ticker(997_800), 11, &mut out, &mut tel);
    // Deribit's mark 0.256257 ETH = 512.5 ticks; ours within one tick.
    let theo = e.theo(0).expect("theo");
    assert!((theo - 513).abs() <= 1, "theo {theo}");
    assert_eq!(out.len(), 2, "{out:?}");
    let bid = out.iter().find(|o| o.side == Side::Bid).unwrap().price;
    let ask = out.iter().find(|o| o.side == Side::Ask).unwrap().price;
    assert_eq!((bid, ask), (theo - 10, theo + 10));
    // Greeks per lot (1 ETH): the ticker's.
    assert_eq!(e.greeks_per_lot(0), (Some(96_459_000), Some(284_900)));
    // An event without a valid IV is ignored (the theo stays the last valid one).
    e.on_md(&ticker(0), 12, &mut out, &mut tel);
    assert_eq!(e.theo(0), Some(theo), "an event without IV is ignored");
}

#[test]
fn net_delta_limit_shrinks_both_sides() {
    // 1.5 ETH of delta, 2-lot quotes of a 1-ETH call at delta 0.96459: 2 lots would be
    // 1.93 ETH on either side (bid: +, ask: −), so each side shrinks to 1 lot (0.96 ETH).
    let mut e = engine(150_000_000, 2);
    let (mut out, mut tel) = (Vec::with_capacity(64), Vec::with_capacity(256));
    snapshot(&mut e, &mut out, &mut tel);
    e.on_md(&ticker(997_800), 11, &mut out, &mut tel);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out.iter().all(|o| o.qty == 1), "{out:?}");
    for side in [Side::Bid, Side::Ask] {
        assert_eq!(e.limited(0, side), Some(RiskCode::MaxDelta));
    }
    assert!(tel
        .iter()
        .any(|t| t.kind == TelKind::Risk && t.a == RiskCode::MaxDelta as i64));
    assert_eq!(e.counters().limit_violations, 0);
    // 0.5 ETH: not even one lot fits; nothing is quoted.
    let mut e = engine(50_000_000, 2);
    let (mut out, mut tel) = (Vec::with_capacity(64), Vec::with_capacity(256));
    snapshot(&mut e, &mut out, &mut tel);
    e.on_md(&ticker(997_800), 11, &mut out, &mut tel);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(e.limited(0, Side::Ask), Some(RiskCode::MaxDelta));
}
