//! Model-based quoting (strategies.md §4) end to end on the real Binance USD-M BTCUSDT tape
//! (day 1 then day 2, 2024-07-18 23:57 → 07-19 00:05, re-hosted as `BTC_USDT-PERPETUAL`,
//! read by `mm_venues::sim::tape`):
//!
//! - lockstep (deterministic): `--model glft` calibrates σ, A, κ online from the engine's
//!   samples (finite, positive, in the plausible ranges stated below), the coefficients reach
//!   the engine, it quotes, fills, matches the ledger and keeps every limit; the quotes skew
//!   against inventory on the real run (decisions taken while long sit lower than while
//!   short, both sides); `--model as` and the signals (imbalance, cooldown, vol-adaptive
//!   spread) run clean too;
//! - threaded (`mm-fast --venue sim --speed max --model glft`): the calibration thread and the
//!   two rings deliver coefficients to the hot thread; the ledger matches.

use clap::Parser;
use mm_core::event::{split_quote_word, IntentKind, TelKind};
use mm_core::types::Side;
use mm_tests::data;
use mm_tools::cli::Args;
use mm_tools::run::{run, RunExtras};
use std::collections::BTreeMap;

const BINANCE_2D: [&str; 2] = [
    "binance/usdm/btcusdt_20240718.gz",
    "binance/usdm/btcusdt_20240719.gz",
];

fn args(extra: &[&str]) -> Args {
    let tapes: Vec<String> = BINANCE_2D.iter().map(|t| data(t)).collect();
    let mut argv = vec!["mm-fast", "--venue", "sim"];
    for t in &tapes {
        argv.extend_from_slice(&["--tape", t.as_str()]);
    }
    argv.extend_from_slice(extra);
    Args::parse_from(argv)
}

/// Lockstep replay with the ledger checks every run must pass (positions = ledger, nothing
/// open, no limit exceeded).
fn lockstep(extra: &[&str]) -> mm_tests::lockstep::Lockstep {
    let args = args(extra);
    let out = mm_tests::lockstep::replay(&args);
    let l = &out.ledger;
    for inst in out.table.iter() {
        assert_eq!(
            out.engine.position(inst.id),
            l.position_lots.get(&inst.name).copied().unwrap_or(0),
            "{}: engine vs ledger position",
            inst.name
        );
    }
    assert_eq!(out.engine.counters().fills as usize, l.fills.len());
    assert_eq!(out.engine.open_orders(), 0);
    assert!(l.open_orders.is_empty(), "venue holds {:?}", l.open_orders);
    assert_eq!(out.engine.counters().limit_violations, 0);
    let cfg = mm_tools::run::engine_config(&args, &out.table).unwrap();
    let limits = mm_tools::breaches::Limits::from_config(&cfg);
    let (n, details) = mm_tools::breaches::count(&out.table, l, &limits, &BTreeMap::new());
    assert_eq!(n, 0, "ledger shows limits exceeded: {details:?}");
    out
}

const GLFT: [&str; 14] = [
    "--model",
    "glft",
    "--gamma",
    "0.05",
    "--size",
    "0.002",
    "--max-position",
    "0.01",
    "--calib-window-secs",
    "120",
    "--recalib-secs",
    "2",
    "--log-quotes",
    "--spread-ticks=4",
];

#[test]
fn glft_calibrates_on_the_real_tape_quotes_fills_and_skews_against_inventory() {
    let out = lockstep(&GLFT);
    let c = out.engine.counters();
    let model = out.model.as_ref().expect("a calibrator ran");
    let fit = model.calib.fit(0);
    eprintln!(
        "glft: {} samples, {} coefficient sets, fit {fit:?}, final coefficients {:?}, \
         {} orders, {} amends, {} fills",
        model.calib.samples,
        c.model_updates,
        out.engine.model_coeffs(0),
        c.orders_sent,
        c.amends,
        c.fills
    );
    // Plausible ranges on BTCUSDT (tick 0.1 USDT at ≈ 64 000): σ of a few to a few hundred
    // ticks per √s (50 % a year ≈ 57 ticks/√s; this quiet midnight is lower), arrival decay
    // κ between 0.01 and 20 per tick (most trades at the touch), A between 0.01 and 100 per
    // second (at most 2 arrivals per 100 ms step are counted: ≤ 20/s at depth 0 per side).
    let (s, a, k) = (fit.sigma.unwrap(), fit.a.unwrap(), fit.kappa.unwrap());
    assert!(s.is_finite() && (0.5..500.0).contains(&s), "σ {s} ticks/√s");
    assert!(k.is_finite() && (0.01..20.0).contains(&k), "κ {k} per tick");
    assert!(a.is_finite() && (0.01..100.0).contains(&a), "A {a} per s");
    assert!(c.model_updates > 10, "coefficients reached the engine");
    let mc = out.engine.model_coeffs(0);
    assert!(mc.half_spread_e6 > 0 && mc.skew_e6 > 0, "{mc:?}");
    assert!(c.orders_sent > 0 && c.fills > 0, "quoted and traded");
    assert_eq!(c.calib_dropped, 0);

    // Skew against inventory on the real run. In lockstep the telemetry is in decision order:
    // a `Fill` record follows the `Mark` of the book it happened on (a = twice the mid), and
    // the quotes re-evaluated on that fill come right after it with the new position. Their
    // distance from the mid (ticks) is averaged separately for decisions taken long and
    // short: GLFT moves both sides down when long (r = mid − skew·q).
    let mut pos: i64 = 0;
    let mut mid2: i64 = 0;
    let mut after_fill = false;
    // [long, short] × [bid, ask]: (sum of 2·(price − mid), count)
    let mut acc = [[(0i64, 0i64); 2]; 2];
    for t in &out.telemetry {
        match t.kind {
            TelKind::Mark => {
                mid2 = t.a;
                after_fill = false;
            }
            TelKind::Fill => {
                pos += t.side.sign() * t.b;
                after_fill = true;
            }
            TelKind::Quote if after_fill && pos != 0 && mid2 > 0 => {
                let q = split_quote_word(t.c);
                if matches!(q.kind, Some(IntentKind::New | IntentKind::Amend)) && q.level == 0 {
                    let w = if pos > 0 { 0 } else { 1 };
                    let s = if t.side == Side::Bid { 0 } else { 1 };
                    acc[w][s].0 += 2 * t.a - mid2;
                    acc[w][s].1 += 1;
                }
            }
            TelKind::Quote | TelKind::Limit | TelKind::Risk => {}
            _ => after_fill = false,
        }
    }
    let avg = |x: (i64, i64)| x.0 as f64 / 2.0 / x.1.max(1) as f64;
    eprintln!(
        "quote − mid after fills (ticks): long bid {:.2} ask {:.2} ({}, {}); short bid {:.2} \
         ask {:.2} ({}, {})",
        avg(acc[0][0]),
        avg(acc[0][1]),
        acc[0][0].1,
        acc[0][1].1,
        avg(acc[1][0]),
        avg(acc[1][1]),
        acc[1][0].1,
        acc[1][1].1
    );
    for (s, (long, short)) in acc[0].iter().zip(acc[1].iter()).enumerate() {
        assert!(long.1 > 0 && short.1 > 0, "decisions long and short");
        assert!(
            avg(*long) < avg(*short),
            "side {s}: quotes while long must sit lower than while short"
        );
    }
}

#[test]
fn as_and_every_signal_run_clean_on_the_real_tape() {
    let out = lockstep(&[
        "--model",
        "as",
        "--gamma",
        "0.01",
        "--horizon-secs",
        "1",
        "--size",
        "0.002",
        "--max-position",
        "0.01",
        "--calib-window-secs",
        "120",
        "--recalib-secs",
        "2",
        "--vol-spread-max",
        "3",
        "--vol-window-secs",
        "20",
        "--imbalance-levels",
        "5",
        "--imbalance-shift-ticks",
        "2",
        "--cooldown-trade-size",
        "1",
        "--cooldown-move-bps",
        "2",
        "--cooldown-ms",
        "500",
    ]);
    let c = out.engine.counters();
    let mc = out.engine.model_coeffs(0);
    eprintln!("as: {c:?}, final coefficients {mc:?}");
    assert!(c.model_updates > 10);
    assert!(mc.half_spread_e6 > 0 && mc.skew_e6 > 0);
    assert!((500_000..=3_000_000).contains(&mc.vol_ratio_ppm), "{mc:?}");
    assert!(c.cooldowns > 0, "1-BTC trades happen on this tape");
    assert!(c.orders_sent > 0 && c.cancels > 0);
}

#[test]
fn threaded_glft_run_delivers_coefficients_through_the_rings() {
    let mut a: Vec<&str> = GLFT.to_vec();
    a.extend_from_slice(&["--speed", "max", "--idle", "yield", "--stats-interval", "0"]);
    let out = run(&args(&a), RunExtras::default()).expect("run succeeds");
    let r = &out.report;
    eprintln!(
        "threaded glft: {} md events, {} orders, {} fills, {} coefficient sets; {:?}",
        r.md_events, r.orders_sent, r.fills, out.model_updates, out.calib_summary
    );
    assert!(r.orders_sent > 0, "the engine quoted");
    assert!(out.model_updates > 0, "coefficients reached the hot thread");
    assert!(out.calib_summary.is_some());
    assert_eq!(
        r.ledger_match,
        Some(true),
        "ledger mismatches: {:?}",
        r.ledger_mismatches
    );
}
