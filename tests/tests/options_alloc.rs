//! The option path of the hot thread (option tickers → Black-76 theo, per-expiry smile fit,
//! greeks per lot, net delta/vega limits, quoting around theo) allocates nothing over whole
//! replays of the recorded option tapes, fills included (every third new order fills).

use mm_core::engine::{Engine, EngineConfig};
use mm_core::event::*;
use mm_core::options::{GreeksSource, TheoIv};
use mm_core::quote::{QuoteParams, Reference, SpreadMode};
use mm_tests::data;
use mm_venues::deribit::md::MdDecoder;
use mm_venues::sim::{Sim, SimConfig};
use std::sync::Arc;

#[global_allocator]
static GLOBAL: mm_tests::CountingAlloc = mm_tests::CountingAlloc;

fn now() -> u64 {
    7
}

#[test]
fn option_path_allocates_nothing() {
    for tape in [
        "deribit/cryptofeed-2021-04-05/ws.capture",
        "deribit/cryptofeed-2021-04-17/ws.capture",
    ] {
        let path = data(tape);
        let sim = Sim::start(SimConfig::new(&path)).expect("sim");
        let table = sim.instruments();
        drop(sim);
        let mut dec = MdDecoder::new(Arc::clone(&table));
        let mut events = Vec::new();
        let text = std::fs::read_to_string(&path).expect("tape");
        for l in text.lines() {
            if let Some((_, j)) = l.split_once(": {") {
                let f = format!("{{{j}");
                let _ = dec.decode(f.as_bytes(), 1, &mut |e| events.push(e));
            }
        }
        let tickers = events
            .iter()
            .filter(|e| e.kind == MdKind::OptionTicker)
            .count();
        assert!(tickers > 50, "{tape}: {tickers} option tickers");
        for (theo_iv, greeks) in [
            (TheoIv::Smile, GreeksSource::Computed),
            (TheoIv::Mark, GreeksSource::Ticker),
        ] {
            let q = QuoteParams {
                spread: SpreadMode::Bps(400),
                min_spread_bps_e2: 0,
                skew_per_100_usd_bps_e2: 0,
            };
            let mut cfg = EngineConfig::uniform(&table, q, 1, 5);
            cfg.option_reference = Some(Reference::Theo);
            cfg.theo_iv = theo_iv;
            cfg.greeks = greeks;
            cfg.max_delta_e8 = 200_000_000;
            cfg.max_vega_e6 = 50_000_000;
            cfg.levels = 2;
            let mut e = Engine::new(&table, cfg, now);
            let mut out: Vec<OrderIntent> = Vec::with_capacity(4096);
            let mut tel: Vec<Telemetry> = Vec::with_capacity(1 << 20);
            let mut venue = mm_tests::AckAndFill::new();
            mm_tests::arm_allocation_count(true);
            for ev in &events {
                e.on_md(ev, 5, &mut out, &mut tel);
                venue.answer(&mut e, &mut out, &mut tel, 6);
            }
            let _ = e.halt(8, &mut out, &mut tel);
            mm_tests::arm_allocation_count(false);
            let n = mm_tests::take_allocation_count();
            assert!(
                e.counters().orders_sent > 0 && e.counters().fills > 0,
                "{tape}: quoted and filled"
            );
            let moved = e.net_greeks().iter().any(|g| g.delta_e8 != 0);
            assert!(moved, "{tape}: fills moved the net delta");
            assert_eq!(n, 0, "{tape} ({theo_iv:?}, {greeks:?}): {n} allocations");
        }
    }
}
