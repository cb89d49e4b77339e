//! The hot thread's step functions allocate nothing over whole replays.
//!
//! Each recorded Deribit tape is decoded up front (the decoder is the md thread's), then every
//! event goes through `Engine::on_md`, every intent is answered as the venue would (accepted,
//! amended, cancelled; every third new order filled), and `on_idle`/`halt` run too — all while
//! a counting global allocator watches this thread. Twice per tape: the v1 settings, and
//! levels with every quoting and risk control on (reference, min edge, skews, size skew,
//! band, USD limits, hard-max flattens, refresh, PnL limits, marks).

use mm_core::engine::{Engine, EngineConfig};
use mm_core::event::*;
use mm_core::quote::{QuoteParams, Reference, SpreadMode};
use mm_tests::{data, DERIBIT_TAPES};
use mm_venues::deribit::instruments::instruments_from_rest_capture;
use mm_venues::deribit::md::MdDecoder;
use mm_venues::sim::{Sim, SimConfig};
use std::sync::Arc;

#[global_allocator]
static GLOBAL: mm_tests::CountingAlloc = mm_tests::CountingAlloc;

fn now() -> u64 {
    7
}

fn frames(tape: &str) -> Vec<String> {
    let text = std::fs::read_to_string(tape).expect("tape");
    if tape.ends_with(".capture") {
        text.lines()
            .filter_map(|l| l.split_once(": {").map(|(_, j)| format!("{{{j}")))
            .collect()
    } else {
        Vec::new()
    }
}

#[test]
fn engine_steps_allocate_nothing_over_whole_replays() {
    let _ = instruments_from_rest_capture; // instruments come from the simulator's table
    for tape in DERIBIT_TAPES.iter().take(2) {
        let path = data(tape);
        // The simulator's instrument table for the tape (same as the engine gets over the wire).
        let sim = Sim::start(SimConfig::new(&path)).expect("sim");
        let table = sim.instruments();
        drop(sim);
        let mut dec = MdDecoder::new(Arc::clone(&table));
        let mut events = Vec::new();
        for f in frames(&path) {
            let _ = dec.decode(f.as_bytes(), 1, &mut |e| events.push(e));
        }
        assert!(events.len() > 100, "{tape}: decoded {}", events.len());
        for all_controls in [false, true] {
            let q = QuoteParams {
                spread: SpreadMode::Improve(1),
                min_spread_bps_e2: 100,
                skew_per_100_usd_bps_e2: 50,
            };
            let mut cfg = EngineConfig::uniform(&table, q, 1, 3);
            cfg.max_exposure_usd_e4 = 1_000_000 * 10_000;
            cfg.stale_ns = 1;
            if all_controls {
                // Levels and every quoting/risk control of strategies.md §1–§6 at once.
                let n = table.len();
                cfg.quote.spread = SpreadMode::Bps(300);
                cfg.reference = Reference::Micro;
                cfg.min_edge_bps_e2 = 50;
                cfg.levels = 4;
                cfg.level_spread_bps_e2 = 100;
                cfg.level_amount = vec![1; n];
                cfg.skew_factor_ppm = 1_000;
                cfg.inventory_skew_ppm = 300_000;
                cfg.size_skew_range = vec![4; n];
                cfg.target_position = vec![0; n];
                cfg.threshold = vec![6; n];
                cfg.max_position = vec![8; n];
                // Even instruments: every fill reaches the hard max (flatten); odd: full ladders.
                cfg.hard_max_position = (0..n).map(|k| if k % 2 == 0 { 1 } else { 8 }).collect();
                cfg.max_position_usd_e4 = 100_000 * 10_000;
                cfg.max_inventory_usd_e4 = 100_000 * 10_000;
                cfg.requote_bps_e2 = 10;
                cfg.requote_abs = Some(mm_core::decimal::Dec::new(5, 4));
                cfg.refresh_ns = 1;
                cfg.requote_on_fill = false;
                cfg.stop_loss_ppm = 900_000;
                cfg.daily_loss_usd_e4 = 1_000_000 * 10_000;
                cfg.mark_every_ns = 1;
            }
            let mut e = Engine::new(&table, cfg, now);
            let mut out: Vec<OrderIntent> = Vec::with_capacity(4096);
            let mut tel: Vec<Telemetry> = Vec::with_capacity(1 << 20);
            let mut acks: Vec<ExecEvent> = Vec::with_capacity(4096);
            let mut news = 0u64;

            mm_tests::arm_allocation_count(true);
            for ev in &events {
                e.on_md(ev, 5, &mut out, &mut tel);
                for it in out.drain(..) {
                    acks.push(ExecEvent::ack_of(&it));
                    if it.kind == IntentKind::New {
                        news += 1;
                        if news % 3 == 0 {
                            acks.push(ExecEvent {
                                client_id: it.client_id,
                                price: it.price,
                                qty: it.qty,
                                instrument: it.instrument,
                                kind: ExecKind::Fill,
                                side: it.side,
                                ..Default::default()
                            });
                        }
                    }
                }
                for a in acks.drain(..) {
                    e.on_exec(&a, 6, &mut out, &mut tel);
                }
                e.on_idle(6, &mut out, &mut tel);
            }
            e.on_idle(1_000_000, &mut out, &mut tel);
            let _ = e.halt(8, &mut out, &mut tel);
            mm_tests::arm_allocation_count(false);
            let n = mm_tests::take_allocation_count();
            assert!(e.counters().orders_sent > 0, "{tape}: the engine quoted");
            assert_eq!(
                n, 0,
                "{tape} (all controls: {all_controls}): {n} allocations in the hot step functions"
            );
            if all_controls {
                assert!(e.counters().flattens > 0, "{tape}: the hard max flattened");
                assert!(
                    e.counters().amends > 0 && e.counters().cancels > 0,
                    "{tape}: levels moved"
                );
            }
        }
    }
}
