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
            let mut venue = mm_tests::AckAndFill::new();

            mm_tests::arm_allocation_count(true);
            for ev in &events {
                e.on_md(ev, 5, &mut out, &mut tel);
                venue.answer(&mut e, &mut out, &mut tel, 6);
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

/// `--model glft` with every model signal on (imbalance, cooldown, vol-adaptive spread): the
/// engine's step functions, `drain_calib` and `on_model` allocate nothing. The calibrator runs
/// between steps with counting disarmed (it is the calibration thread's, allowed to
/// allocate); fixed coefficients are also applied every 50 events so `on_model` always runs
/// with a model spread and skew even before the calibrator has enough data.
#[test]
fn model_steps_allocate_nothing_over_whole_replays() {
    use mm_core::model::{
        CalibSample, Calibrator, CooldownAction, ModelCoeffs, ModelConfig, ModelKind,
    };
    for tape in DERIBIT_TAPES.iter().take(2) {
        let path = data(tape);
        let sim = Sim::start(SimConfig::new(&path)).expect("sim");
        let table = sim.instruments();
        drop(sim);
        let mut dec = MdDecoder::new(Arc::clone(&table));
        let mut events = Vec::new();
        for f in frames(&path) {
            let _ = dec.decode(f.as_bytes(), 1, &mut |e| events.push(e));
        }
        let n = table.len();
        let q = QuoteParams {
            spread: SpreadMode::Bps(300),
            min_spread_bps_e2: 100,
            skew_per_100_usd_bps_e2: 0,
        };
        let mut cfg = EngineConfig::uniform(&table, q, 1, 3);
        cfg.levels = 2;
        cfg.model = ModelConfig {
            kind: ModelKind::Glft,
            step_ns: 1_000_000,
            recalib_ns: 10_000_000,
            calib_window_ns: 60_000_000_000,
            vol_window_ns: 1_000_000_000,
            vol_ratio_min_ppm: 500_000,
            vol_ratio_max_ppm: 2_000_000,
            imbalance_levels: 5,
            imbalance_shift_e6: 1_000_000,
            cooldown_trade_lots: vec![1; n],
            cooldown_move_bps_e2: 100,
            cooldown_ns: 1_000_000,
            cooldown_action: CooldownAction::Widen,
            cooldown_widen_bps_e2: 200,
            ..Default::default()
        };
        let mut calib = Calibrator::new(&table, &cfg.model);
        let mut e = Engine::new(&table, cfg, now);
        let mut out: Vec<OrderIntent> = Vec::with_capacity(4096);
        let mut tel: Vec<Telemetry> = Vec::with_capacity(1 << 20);
        let mut venue = mm_tests::AckAndFill::new();
        let mut samples: Vec<CalibSample> = Vec::with_capacity(mm_core::engine::CALIB_CAP);
        let mut coeffs: Vec<ModelCoeffs> = Vec::with_capacity(n * 4);
        let mut allocs = 0u64;
        let mut last_t = 0u64;
        for (k, ev) in events.iter().enumerate() {
            mm_tests::arm_allocation_count(true);
            e.on_md(ev, 5, &mut out, &mut tel);
            e.drain_calib(&mut |s| samples.push(*s));
            if k % 50 == 0 {
                for id in 0..n as u32 {
                    let c = ModelCoeffs {
                        instrument: id,
                        half_spread_e6: 3_000_000,
                        skew_e6: 1_500_000,
                        vol_ratio_ppm: 1_500_000,
                        ..Default::default()
                    };
                    e.on_model(&c, 5, &mut out, &mut tel);
                }
            }
            for c in coeffs.drain(..) {
                e.on_model(&c, 5, &mut out, &mut tel);
            }
            venue.answer(&mut e, &mut out, &mut tel, 6);
            mm_tests::arm_allocation_count(false);
            allocs += mm_tests::take_allocation_count();
            // The calibration side (may allocate).
            for s in samples.drain(..) {
                calib.observe(&s);
                last_t = last_t.max(s.t);
            }
            calib.poll(last_t, &mut |c| coeffs.push(c));
        }
        mm_tests::arm_allocation_count(true);
        let _ = e.halt(8, &mut out, &mut tel);
        mm_tests::arm_allocation_count(false);
        allocs += mm_tests::take_allocation_count();
        let c = e.counters();
        assert!(c.orders_sent > 0 && c.model_updates > 0, "{tape}: {c:?}");
        eprintln!("{tape}: {} calibration samples, {c:?}", calib.samples);
        assert!(calib.samples > 0, "{tape}: samples reached the calibrator");
        assert_eq!(
            allocs, 0,
            "{tape}: {allocs} allocations in the model step functions"
        );
    }
}
