//! Model-based quoting in the engine (strategies.md §4) on hand-built event sequences: model
//! coefficients set the spread and skew quotes against inventory (long → both quotes lower),
//! the imbalance shifts the reference, a large trade pulls or widens for the cooldown, the
//! volatility ratio scales the spread, and calibration samples come out of `on_md`.

use mm_core::engine::Engine;
use mm_core::event::*;
use mm_core::model::{
    CalibSample, CooldownAction, ModelCoeffs, ModelConfig, ModelKind, SampleKind,
};
use mm_core::types::Side;

mod common;

fn engine(model: ModelConfig) -> Engine {
    common::engine(20, 1, 5, |cfg| {
        cfg.log_quotes = true; // order ids for the fills come from the quote log
        cfg.model = model;
    })
}

fn md(kind: MdKind, side: Side, price: i64, qty: i64, ts: u64) -> MdEvent {
    MdEvent {
        t_recv: 1,
        t_decoded: 2,
        exch_ts: ts,
        kind,
        side,
        price,
        qty,
        instrument: 0,
        ..Default::default()
    }
}

struct Rig {
    e: Engine,
    out: Vec<OrderIntent>,
    tel: Vec<Telemetry>,
}

impl Rig {
    fn new(model: ModelConfig) -> Rig {
        Rig {
            e: engine(model),
            out: Vec::with_capacity(64),
            tel: Vec::with_capacity(4096),
        }
    }

    /// A snapshot with `bids`/`asks` as (price, qty), at exchange time `ts`; answers intents.
    fn book(&mut self, bids: &[(i64, i64)], asks: &[(i64, i64)], ts: u64) {
        let mut evs = vec![md(MdKind::BookClear, Side::Bid, 0, 0, ts)];
        evs.extend(
            bids.iter()
                .map(|&(p, q)| md(MdKind::Level, Side::Bid, p, q, ts)),
        );
        evs.extend(
            asks.iter()
                .map(|&(p, q)| md(MdKind::Level, Side::Ask, p, q, ts)),
        );
        evs.push(md(MdKind::BookDone, Side::Bid, 0, 0, ts));
        for ev in evs {
            self.e.on_md(&ev, 10, &mut self.out, &mut self.tel);
        }
        self.settle();
    }

    fn settle(&mut self) {
        for _ in 0..10 {
            let its: Vec<OrderIntent> = self.out.drain(..).collect();
            if its.is_empty() {
                return;
            }
            for it in &its {
                self.e
                    .on_exec(&ExecEvent::ack_of(it), 11, &mut self.out, &mut self.tel);
            }
        }
    }

    fn model(&mut self, half_e6: i64, skew_e6: i64, vol_ppm: i64) {
        let c = ModelCoeffs {
            instrument: 0,
            t: 5,
            half_spread_e6: half_e6,
            skew_e6,
            vol_ratio_ppm: vol_ppm,
            ..Default::default()
        };
        self.e.on_model(&c, 12, &mut self.out, &mut self.tel);
        self.settle();
    }
}

fn glft() -> ModelConfig {
    ModelConfig {
        kind: ModelKind::Glft,
        ..Default::default()
    }
}

#[test]
fn model_spread_and_inventory_skew_long_lowers_both_quotes() {
    let mut r = Rig::new(glft());
    // One-tick book 10000 × 10001: fixed 20-tick spread around ref2 = 20001 → 9990 / 10011.
    r.book(&[(10_000, 5)], &[(10_001, 5)], 1_000);
    assert_eq!(r.e.quotes(0), (Some(9990), Some(10_011)));
    // Model: half 3 ticks → total 6: bid ⌊(20001 − 6)/2⌋ = 9997, ask ⌈20007/2⌉ = 10004;
    // skew 2 ticks per order size (size 1 lot).
    r.model(3_000_000, 2_000_000, 0);
    assert_eq!(r.e.model_coeffs(0).half_spread_e6, 3_000_000);
    let flat = r.e.quotes(0);
    assert_eq!(flat, (Some(9997), Some(10_004)));
    // Long one order size: r = mid − 2 ticks → 9995 / 10002, both lower.
    fill_via_ledger(&mut r, Side::Bid, 1);
    assert_eq!(r.e.position(0), 1);
    let long = r.e.quotes(0);
    assert_eq!(long, (Some(9995), Some(10_002)));
    assert!(long.0 < flat.0 && long.1 < flat.1);
    // Short one (sell twice): r = mid + 2 → 9999 / 10006, both higher than flat.
    fill_via_ledger(&mut r, Side::Ask, 1);
    assert_eq!(r.e.quotes(0), flat);
    fill_via_ledger(&mut r, Side::Ask, 1);
    assert_eq!(r.e.position(0), -1);
    let short = r.e.quotes(0);
    assert_eq!(short, (Some(9999), Some(10_006)));
    assert!(short.0 > flat.0 && short.1 > flat.1);
}

/// Fills the working order of `side` (found through the quote-log telemetry).
fn fill_via_ledger(r: &mut Rig, side: Side, qty: i64) {
    let (b, a) = r.e.quotes(0);
    let px = if side == Side::Bid { b } else { a }.unwrap();
    let id = r
        .tel
        .iter()
        .rev()
        .find(|t| t.kind == TelKind::Quote && t.side == side)
        .map(|t| t.d as u64)
        .expect("a logged quote");
    r.e.on_exec(
        &ExecEvent {
            client_id: id,
            price: px,
            qty,
            instrument: 0,
            kind: ExecKind::Fill,
            side,
            ..Default::default()
        },
        13,
        &mut r.out,
        &mut r.tel,
    );
    r.settle();
}

#[test]
fn model_quotes_never_improve_the_touch() {
    let mut r = Rig::new(glft());
    // Wide book 10000 × 10010; model total 2 ticks would be 10004 / 10006 inside the touch:
    // held behind it at 10000 / 10010.
    r.book(&[(10_000, 5)], &[(10_010, 5)], 1_000);
    r.model(1_000_000, 0, 0);
    assert_eq!(r.e.quotes(0), (Some(10_000), Some(10_010)));
}

#[test]
fn imbalance_shifts_the_reference_toward_the_heavy_side() {
    let cfg = ModelConfig {
        imbalance_levels: 2,
        imbalance_shift_e6: 4_000_000,
        ..Default::default()
    };
    let mut r = Rig::new(cfg);
    // Balanced: fixed 20 ticks around 20001 → 9990 / 10011.
    r.book(
        &[(10_000, 5), (9_999, 5)],
        &[(10_001, 5), (10_002, 5)],
        1_000,
    );
    assert_eq!(r.e.quotes(0), (Some(9990), Some(10_011)));
    // Bids 30 vs asks 10: imb = 0.5 → +2 ticks.
    r.book(
        &[(10_000, 15), (9_999, 15)],
        &[(10_001, 5), (10_002, 5)],
        2_000,
    );
    assert_eq!(r.e.quotes(0), (Some(9992), Some(10_013)));
    // Asks heavier: imb = −0.5 → −2 ticks.
    r.book(
        &[(10_000, 5), (9_999, 5)],
        &[(10_001, 15), (10_002, 15)],
        3_000,
    );
    assert_eq!(r.e.quotes(0), (Some(9988), Some(10_009)));
}

#[test]
fn large_trade_pulls_for_the_cooldown_then_quotes_again() {
    let cfg = ModelConfig {
        cooldown_trade_lots: vec![10],
        cooldown_ns: 1_000_000_000,
        cooldown_action: CooldownAction::Pull,
        ..Default::default()
    };
    let mut r = Rig::new(cfg);
    r.book(&[(10_000, 5)], &[(10_001, 5)], 1_000_000_000);
    assert_eq!(r.e.quotes(0), (Some(9990), Some(10_011)));
    // A 9-lot trade: nothing.
    let t = md(MdKind::Trade, Side::Bid, 10_001, 9, 1_100_000_000);
    r.e.on_md(&t, 20, &mut r.out, &mut r.tel);
    assert!(r.out.is_empty());
    // A 10-lot trade: both quotes cancelled at once.
    let t = md(MdKind::Trade, Side::Bid, 10_001, 10, 1_200_000_000);
    r.e.on_md(&t, 20, &mut r.out, &mut r.tel);
    assert_eq!(r.out.len(), 2);
    assert!(r.out.iter().all(|i| i.kind == IntentKind::Cancel));
    r.settle();
    assert_eq!(r.e.quotes(0), (None, None));
    assert!(r.e.in_cooldown(0));
    assert_eq!(r.e.counters().cooldowns, 1);
    // Still inside the cooldown (ends at 2.2 s): no quote.
    r.book(&[(10_000, 5)], &[(10_001, 5)], 2_100_000_000);
    assert_eq!(r.e.quotes(0), (None, None));
    // After it: quoting again.
    r.book(&[(10_000, 5)], &[(10_001, 5)], 2_200_000_000);
    assert_eq!(r.e.quotes(0), (Some(9990), Some(10_011)));
}

#[test]
fn fast_move_widens_for_the_cooldown() {
    let cfg = ModelConfig {
        cooldown_move_bps_e2: 500, // 5 bps within one frame
        cooldown_ns: 1_000_000_000,
        cooldown_action: CooldownAction::Widen,
        cooldown_widen_bps_e2: 1000, // 10 bps a side ≈ 10 ticks at 10 000
        ..Default::default()
    };
    let mut r = Rig::new(cfg);
    r.book(&[(10_000, 5)], &[(10_001, 5)], 1_000_000_000);
    // 4 ticks ≈ 4 bps: no cooldown.
    r.book(&[(10_004, 5)], &[(10_005, 5)], 1_100_000_000);
    assert_eq!(r.e.quotes(0), (Some(9994), Some(10_015)));
    // +6 ticks ≈ 6 bps in one frame: widened by ⌈20021·1000/2e6⌉ = 11 ticks a side.
    r.book(&[(10_010, 5)], &[(10_011, 5)], 1_200_000_000);
    assert!(r.e.in_cooldown(0));
    assert_eq!(r.e.quotes(0), (Some(10_000 - 11), Some(10_021 + 11)));
    // After 1 s: normal again.
    r.book(&[(10_010, 5)], &[(10_011, 5)], 2_300_000_000);
    assert_eq!(r.e.quotes(0), (Some(10_000), Some(10_021)));
}

#[test]
fn vol_ratio_scales_the_fixed_spread() {
    let cfg = ModelConfig {
        vol_ratio_min_ppm: 500_000,
        vol_ratio_max_ppm: 3_000_000,
        ..Default::default()
    };
    let mut r = Rig::new(cfg);
    r.book(&[(10_000, 5)], &[(10_001, 5)], 1_000);
    assert_eq!(r.e.quotes(0), (Some(9990), Some(10_011)));
    // σ_now/σ_avg = 2: distances 21 → 42 half-ticks: bid ⌊(20001 − 42)/2⌋ = 9979,
    // ask ⌈(20001 + 42)/2⌉ = 10022.
    r.model(0, 0, 2_000_000);
    assert_eq!(r.e.quotes(0), (Some(9979), Some(10_022)));
}

#[test]
fn calibration_samples_come_out_of_on_md() {
    let mut r = Rig::new(glft());
    r.book(&[(10_000, 5)], &[(10_001, 5)], 1_000);
    r.book(&[(10_000, 5)], &[(10_001, 5)], 2_000); // same mid: no sample
    r.book(&[(10_001, 5)], &[(10_002, 5)], 3_000);
    let t = md(MdKind::Trade, Side::Ask, 10_001, 3, 3_500);
    r.e.on_md(&t, 20, &mut r.out, &mut r.tel);
    let mut got: Vec<CalibSample> = Vec::new();
    r.e.drain_calib(&mut |s| got.push(*s));
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(
        (got[0].kind, got[0].mid2, got[0].t),
        (SampleKind::Mid, 20_001, 1_000)
    );
    assert_eq!(
        (got[1].kind, got[1].mid2, got[1].t),
        (SampleKind::Mid, 20_003, 3_000)
    );
    assert_eq!(got[2].kind, SampleKind::Trade);
    assert_eq!(
        (got[2].price, got[2].qty, got[2].side, got[2].mid2),
        (10_001, 3, Side::Ask, 20_003)
    );
    let mut again = 0;
    r.e.drain_calib(&mut |_| again += 1);
    assert_eq!(again, 0);
    // Fixed quoting without signals produces none.
    let mut f = Rig::new(ModelConfig::default());
    f.book(&[(10_000, 5)], &[(10_001, 5)], 1_000);
    f.book(&[(10_001, 5)], &[(10_002, 5)], 2_000);
    let mut n = 0;
    f.e.drain_calib(&mut |_| n += 1);
    assert_eq!(n, 0);
}
