//! End-to-end: every quoting and risk control of strategies.md §1–§7 on real tapes through the
//! simulator (`mm-fast --venue sim --speed max`), asserted against the simulator's own ledger
//! and event log — never against the engine's own view alone.
//!
//! Tapes: Binance BTCUSDT re-hosted as the linear perpetual `BTC_USDT-PERPETUAL` (the most
//! active: lot 0.001 BTC, tick 0.1 USDT), the tardis Deribit BTC-PERPETUAL minute (inverse,
//! lot 10 USD) and the cryptofeed option captures.
//!
//! Every run must show `limit_breaches == 0` (the ledger replay of `mm_tools::breaches`),
//! `limit_violations == 0`, the engine's fills equal to the ledger's, and nothing open at
//! exit. Tests of a limit set it tight enough that the ledger shows it **reached** (otherwise
//! they could not fail). Properties that hold only once every request is answered (the exact
//! ladder spacing) are checked on a lockstep replay ([`mm_tests::lockstep`]: the same
//! decoder, engine, order session and simulator in one thread, deterministic).

use clap::Parser;
use mm_tests::{data, DERIBIT_TAPES};
use mm_tools::cli::Args;
use mm_tools::run::{run, RunExtras, RunOutput};
use mm_venues::sim::{LedgerSnapshot, SimLogKind};
use std::collections::BTreeMap;

const BINANCE: &str = "binance/usdm/btcusdt_20240718.gz";
/// Day 1 then day 2 of BTCUSDT: about 8 minutes, the second part much more active (≈ 900
/// touch changes, 9 700 trades) — for the tests that need the limits to be reached.
const BINANCE_2D: [&str; 2] = [
    "binance/usdm/btcusdt_20240718.gz",
    "binance/usdm/btcusdt_20240719.gz",
];
const LINEAR: &str = "BTC_USDT-PERPETUAL";
const PERP: &str = "BTC-PERPETUAL";

fn replay(tape: &str, extra: &[&str]) -> RunOutput {
    replay_tapes(&[tape], extra)
}

/// Several consecutive files as one tape (Binance day 1 then day 2).
fn replay_tapes(tapes: &[&str], extra: &[&str]) -> RunOutput {
    let tapes: Vec<String> = tapes.iter().map(|t| data(t)).collect();
    let mut argv = vec!["mm-fast", "--venue", "sim"];
    for t in &tapes {
        argv.extend_from_slice(&["--tape", t.as_str()]);
    }
    argv.extend_from_slice(&["--speed", "max", "--idle", "yield", "--stats-interval", "0"]);
    argv.extend_from_slice(extra);
    let out = run(&Args::parse_from(argv), RunExtras::default()).expect("run succeeds");
    common(&out);
    out
}

/// What every run must show.
fn common(out: &RunOutput) {
    let r = &out.report;
    let l = out.sim_ledger.as_ref().expect("sim ledger");
    assert!(r.orders_sent > 0, "the engine quoted");
    assert_eq!(
        r.ledger_match,
        Some(true),
        "ledger mismatches: {:?}",
        r.ledger_mismatches
    );
    assert_eq!(r.fills as usize, l.fills.len());
    assert_eq!(r.open_orders_at_exit, 0);
    assert!(
        l.open_orders.is_empty(),
        "simulator holds {:?}",
        l.open_orders
    );
    assert_eq!(
        r.limit_breaches,
        Some(0),
        "ledger shows limits exceeded: {:?}",
        r.limit_breach_details
    );
    assert_eq!(r.limit_violations, 0, "engine sent an order beyond a limit");
    assert_eq!(r.risk_event_count as usize, r.risk_events.len());
}

/// Signed position (lots) of `name` after each of its ledger fills.
fn positions(l: &LedgerSnapshot, name: &str) -> Vec<i64> {
    let mut p = 0;
    l.fills
        .iter()
        .filter(|f| f.instrument == name)
        .map(|f| {
            p += f.lots * f.side.sign();
            p
        })
        .collect()
}

fn max_abs(v: &[i64]) -> i64 {
    v.iter().map(|p| p.abs()).max().unwrap_or(0)
}

fn codes(out: &RunOutput) -> Vec<&str> {
    out.report
        .risk_events
        .iter()
        .map(|e| e.code.as_str())
        .collect()
}

/// Our orders' prices over the simulator's log: label → current price, from `OrderNew` to
/// the order's last log entry (every order ends with a cancel or its final fill; the run's
/// closing cancel-all cancels the rest one by one). Calls `at(open, settled)` after every
/// change with the prices open at that moment; `settled` is true at the last entry of a tape
/// instant (a decision's amends reach the venue together, so in between a ladder is
/// half-moved).
fn open_orders_over_log(l: &LedgerSnapshot, mut at: impl FnMut(&BTreeMap<String, i64>, bool)) {
    let mut last: BTreeMap<&str, u64> = BTreeMap::new();
    for e in &l.log {
        match &e.what {
            SimLogKind::OrderNew { label, .. }
            | SimLogKind::OrderEdit { label, .. }
            | SimLogKind::OrderCancel { label }
            | SimLogKind::Fill { label } => {
                last.insert(label.as_str(), e.seq);
            }
            _ => {}
        }
    }
    let mut open: BTreeMap<String, i64> = BTreeMap::new();
    for (k, e) in l.log.iter().enumerate() {
        let changed = match &e.what {
            SimLogKind::OrderNew { label, price_ticks }
            | SimLogKind::OrderEdit { label, price_ticks } => {
                open.insert(label.clone(), *price_ticks);
                true
            }
            SimLogKind::OrderCancel { label } | SimLogKind::Fill { label } => {
                last.get(label.as_str()) == Some(&e.seq) && open.remove(label).is_some()
            }
            _ => false,
        };
        if changed {
            let settled = l.log.get(k + 1).is_none_or(|n| n.tape_ns != e.tape_ns);
            at(&open, settled);
        }
    }
}

/// Price moves of every edit in the log (new price − previous price of that order, ticks).
fn edit_moves(l: &LedgerSnapshot) -> Vec<i64> {
    let mut px: BTreeMap<&str, i64> = BTreeMap::new();
    let mut moves = Vec::new();
    for e in &l.log {
        match &e.what {
            SimLogKind::OrderNew { label, price_ticks } => {
                px.insert(label, *price_ticks);
            }
            SimLogKind::OrderEdit { label, price_ticks } => {
                if let Some(p) = px.insert(label, *price_ticks) {
                    moves.push((price_ticks - p).abs());
                }
            }
            _ => {}
        }
    }
    moves
}

/// Checks the ladders over the simulator's log: at every moment at most `levels` orders a
/// side, all at distinct prices; counts the settled moments (the last log entry of a tape
/// instant) with full ladders, and those whose spacing is exactly `⌈i·ref·level_spread⌉`
/// ticks. The engine's reference (twice the mid, `ref2`) is taken from our best bid + best
/// ask, which equals it up to the rounding of the first level (±1 tick): the spacing must be
/// exact for one of `b0 + a0 − 1`, `b0 + a0`, `b0 + a0 + 1`.
fn ladders(l: &LedgerSnapshot, levels: usize, level_bps_e2: i64) -> (usize, usize) {
    let (mut full, mut exact) = (0, 0);
    open_orders_over_log(l, |open, settled| {
        let mut p: Vec<i64> = open.values().copied().collect();
        p.sort();
        let n = p.len();
        assert!(
            n <= 2 * levels,
            "at most {levels} orders per side: {open:?}"
        );
        p.dedup();
        assert_eq!(p.len(), n, "one order per price level: {open:?}");
        if n == 2 * levels && settled {
            full += 1;
            // bids p[0..L] below asks p[L..2L].
            let (b0, a0) = (p[levels - 1], p[levels]);
            let spaced = |ref2: i64| {
                let off = |i: i64| (ref2 * level_bps_e2 * i + 1_999_999) / 2_000_000;
                (1..levels).all(|i| {
                    b0 - p[levels - 1 - i] == off(i as i64) && p[levels + i] - a0 == off(i as i64)
                })
            };
            if (-1..=1).any(|d| spaced(b0 + a0 + d)) {
                exact += 1;
            }
        }
    });
    (full, exact)
}

/// Replays `tapes` in lockstep (`mm_tests::lockstep`: every request answered before the next
/// tape event, deterministic) with the flags `extra`; checks what every run must show against
/// the simulator's ledger: the engine's positions equal the ledger's, nothing open at the
/// venue or in the engine at the end, no configured limit exceeded in the ledger.
fn lockstep(tapes: &[&str], extra: &[&str]) -> mm_tests::lockstep::Lockstep {
    let tapes: Vec<String> = tapes.iter().map(|t| data(t)).collect();
    let mut argv = vec!["mm-fast", "--venue", "sim"];
    for t in &tapes {
        argv.extend_from_slice(&["--tape", t.as_str()]);
    }
    argv.extend_from_slice(extra);
    let args = Args::parse_from(argv);
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

/// Deterministic: the ladders are checked on a lockstep replay (no decision is overtaken by
/// the market, whatever the machine's load), so every settled full ladder must be at the
/// exact spacing, and the counts are the same on every run.
#[test]
fn levels_place_n_orders_per_side_at_the_level_spacing() {
    // Binance: 3 levels 1 bp apart (ref ≈ 64 000 USDT = 640 000 ticks → ≈ 64 ticks a level).
    let out = lockstep(
        &BINANCE_2D,
        &[
            "--spread-bps",
            "2",
            "--size",
            "0.002",
            "--max-position",
            "0.05",
            "--levels",
            "3",
            "--level-spread-bps",
            "1",
            "--level-amount",
            "0.001",
        ],
    );
    let (full, exact) = ladders(&out.ledger, 3, 100);
    eprintln!("binance: {full} full ladders, {exact} at the exact spacing");
    assert!(full >= FULL_BINANCE, "{full} full ladders");
    assert_eq!(
        exact, full,
        "every settled full ladder at the exact spacing"
    );
    assert!(out.engine.counters().amends > 0, "levels move by amend");
    assert!(!out.ledger.fills.is_empty(), "the ladder traded");
    // Deribit BTC-PERPETUAL (ref ≈ 4 100 USD = 16 400 ticks): 4 levels 5 bps apart ≈ 8.2 →
    // offsets 9, 17, 25 ticks.
    let out = lockstep(
        &[DERIBIT_TAPES[2]],
        &[
            "--spread-ticks",
            "6",
            "--size",
            "100",
            "--max-position",
            "5000",
            "--levels",
            "4",
            "--level-spread-bps",
            "5",
        ],
    );
    let (full, exact) = ladders(&out.ledger, 4, 500);
    eprintln!("tardis: {full} full ladders, {exact} at the exact spacing");
    assert!(full >= FULL_TARDIS, "{full} full ladders");
    assert_eq!(
        exact, full,
        "every settled full ladder at the exact spacing"
    );
}

/// Settled full ladders the lockstep replays above must show at least (deterministic: 338
/// and 2 when written; the Binance floor leaves room for small changes of the engine).
const FULL_BINANCE: usize = 300;
/// See [`FULL_BINANCE`].
const FULL_TARDIS: usize = 2;

#[test]
fn max_position_binds_and_holds_in_the_ledger() {
    let out = replay_tapes(
        &BINANCE_2D,
        &[
            "--spread-ticks",
            "2",
            "--size",
            "0.002",
            "--max-position",
            "0.004",
        ],
    );
    let l = out.sim_ledger.as_ref().unwrap();
    let pos = positions(l, LINEAR);
    assert_eq!(
        max_abs(&pos),
        4,
        "the 4-lot limit was reached, never passed"
    );
    assert!(codes(&out).contains(&"max_position"));
    let m = &out.report.metrics;
    assert!(m.time_at_limit_s > 0.0, "a side sat at the limit");
    assert_eq!(m.max_abs_inventory.get(LINEAR).copied(), Some(0.004));
}

/// Largest USD value of the linear position over the ledger: lots × 0.001 BTC × fill price
/// (the engine values its USD limits at the highest price it may trade at, so this is exact).
fn worst_linear_usd(l: &LedgerSnapshot) -> f64 {
    let mut p = 0i64;
    let mut worst: f64 = 0.0;
    for f in l.fills.iter().filter(|f| f.instrument == LINEAR) {
        p += f.lots * f.side.sign();
        worst = worst.max(p.abs() as f64 * 0.001 * f.price);
    }
    worst
}

/// Replays the two Binance days with the USD limit `flag` set to `limit` (USD) and checks, in
/// the simulator's ledger, that the worst linear value stays within the limit and gets above
/// `reached` (the limit binds), and that the engine reported `code`.
fn usd_limit_binds_and_holds(flag: &str, limit: &str, reached: f64, code: &str) {
    let out = replay_tapes(
        &BINANCE_2D,
        &[
            "--spread-ticks",
            "2",
            "--size",
            "0.002",
            flag,
            limit,
            "--max-position",
            "1",
        ],
    );
    let lim: f64 = limit.parse().expect("numeric limit");
    let v = worst_linear_usd(out.sim_ledger.as_ref().unwrap());
    assert!(
        v <= lim && v > reached,
        "{flag} {limit}: worth {v} USD: within and reached"
    );
    assert!(codes(&out).contains(&code));
}

#[test]
fn max_position_usd_binds_and_holds_in_the_ledger() {
    // 260 USD ≈ 4 lots at ≈ 64 000 USDT.
    usd_limit_binds_and_holds("--max-position-usd", "260", 190.0, "max_position_usd");
}

#[test]
fn max_inventory_usd_binds_and_holds_in_the_ledger() {
    // 200 USD ≈ 3 lots.
    usd_limit_binds_and_holds("--max-inventory-usd", "200", 120.0, "max_inventory_usd");
}

#[test]
fn max_exposure_binds_and_holds_in_the_ledger() {
    // 130 USD ≈ 2 lots of worst case, pending orders of both sides included.
    usd_limit_binds_and_holds("--max-exposure", "130", 60.0, "max_exposure");
}

#[test]
fn threshold_band_holds_around_the_target() {
    // Target +2 lots, threshold 2 lots: the position stays in [0, 4] lots.
    let out = replay_tapes(
        &BINANCE_2D,
        &[
            "--spread-ticks",
            "2",
            "--size",
            "0.001",
            "--target-position",
            "0.002",
            "--threshold",
            "0.002",
            "--inventory-skew",
            "0.5",
            "--max-position",
            "0.01",
        ],
    );
    let l = out.sim_ledger.as_ref().unwrap();
    let pos = positions(l, LINEAR);
    assert!(!pos.is_empty());
    assert!(
        pos.iter().all(|p| (0..=4).contains(p)),
        "band [0, 4] lots broken: {pos:?}"
    );
    assert!(
        pos.contains(&4) || pos.contains(&0),
        "a band edge was reached: {pos:?}"
    );
    assert!(codes(&out).contains(&"threshold_band"));
}

#[test]
fn hard_max_flattens_with_a_reduce_only_ioc() {
    let out = replay_tapes(
        &BINANCE_2D,
        &[
            "--spread-ticks",
            "2",
            "--size",
            "0.002",
            "--hard-max-position",
            "0.004",
        ],
    );
    let l = out.sim_ledger.as_ref().unwrap();
    let flattens: Vec<String> = out
        .report
        .risk_events
        .iter()
        .filter(|e| e.code == "flatten")
        .map(|e| {
            assert_eq!(e.action, "reduce_only_ioc");
            let id = e.detail.rsplit("mmf-").next().unwrap();
            format!("mmf-{id}")
        })
        .collect();
    assert!(
        !flattens.is_empty(),
        "the hard max was reached: {:?}",
        codes(&out)
    );
    // Never beyond the hard max, in the ledger.
    let pos = positions(l, LINEAR);
    assert_eq!(max_abs(&pos), 4);
    // Each flatten: sent as a new order, never rested (no edit, no cancel: IOC), and every
    // fill of it is a taker fill that reduces the position without crossing zero.
    let mut filled = 0;
    let mut p = 0i64;
    for f in l.fills.iter().filter(|f| f.instrument == LINEAR) {
        let before = p;
        p += f.lots * f.side.sign();
        if flattens.contains(&f.label) {
            filled += 1;
            assert!(!f.maker, "{}: flatten fills as taker", f.label);
            assert!(
                p.abs() < before.abs() && p * before >= 0,
                "reduce-only: {before} → {p}"
            );
            assert!(p.abs() < 4, "back within the hard max");
        } else {
            assert!(f.maker, "quotes are post-only");
        }
    }
    assert!(filled > 0, "a flatten traded");
    for e in &l.log {
        if let SimLogKind::OrderEdit { label, .. } | SimLogKind::OrderCancel { label } = &e.what {
            assert!(!flattens.contains(label), "{label}: an IOC never rests");
        }
    }
    assert!(l.log.iter().any(
        |e| matches!(&e.what, SimLogKind::OrderNew { label, .. } if flattens.contains(label))
    ));
}

/// After a PnL halt: one risk event of `code` then `halt`; in the simulator's log exactly one
/// cancel-all, with no new order or edit after it; and the halt came before the end.
fn assert_pnl_halt(out: &RunOutput, code: &str) {
    let c = codes(out);
    let k = c
        .iter()
        .position(|x| *x == code)
        .unwrap_or_else(|| panic!("no {code} event: {c:?}"));
    assert_eq!(c.get(k + 1), Some(&"halt"), "{c:?}");
    assert_eq!(out.report.risk_events[k].action, "cancel_all+halt");
    let l = out.sim_ledger.as_ref().unwrap();
    let ca: Vec<usize> = l
        .log
        .iter()
        .enumerate()
        .filter(|(_, e)| e.what == SimLogKind::CancelAll)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(ca.len(), 1, "one cancel-all");
    let after = l.log[ca[0]..]
        .iter()
        .filter(|e| {
            matches!(
                e.what,
                SimLogKind::OrderNew { .. } | SimLogKind::OrderEdit { .. }
            )
        })
        .count();
    assert_eq!(after, 0, "nothing quoted after the halt");
    let before = l.log[..ca[0]]
        .iter()
        .filter(|e| matches!(e.what, SimLogKind::OrderNew { .. }))
        .count();
    assert!(before > 0);
    // The tape went on (market data after the halt) but quoting did not.
    let last_md = l.log.last().map_or(0, |e| e.tape_ns);
    assert!(l.log[ca[0]].tape_ns < last_md || out.report.md_events > 1000);
}

#[test]
fn stop_loss_cancels_all_and_halts() {
    // 0.001 % of the entry value: the first adverse tick after a fill.
    let out = replay(
        BINANCE,
        &[
            "--spread-ticks",
            "2",
            "--size",
            "0.002",
            "--stop-loss-pct",
            "0.001",
        ],
    );
    assert!(out.report.fills > 0);
    assert_pnl_halt(&out, "stop_loss");
}

#[test]
fn daily_loss_cancels_all_and_halts() {
    // Fees alone (0.02 % maker on ≈ 128 USD a fill) pass 5 cents within a few fills.
    let out = replay(
        BINANCE,
        &[
            "--spread-ticks",
            "2",
            "--size",
            "0.002",
            "--daily-loss-usd",
            "0.05",
        ],
    );
    assert!(out.report.fills > 0);
    assert_pnl_halt(&out, "daily_loss");
}

#[test]
fn requote_thresholds_leave_small_moves_alone() {
    // 10 bps wide (±32 ticks): a resting order within the threshold never crosses, so
    // every price edit moved by at least the threshold.
    for (flags, min) in [
        (vec!["--requote-ticks", "5"], 5),
        (vec!["--requote-abs", "0.8"], 8),
        (vec!["--requote-bps", "1"], 64),
    ] {
        let mut argv = vec!["--spread-bps", "10", "--size", "0.002"];
        argv.extend_from_slice(&flags);
        let out = replay(BINANCE, &argv);
        let moves = edit_moves(out.sim_ledger.as_ref().unwrap());
        let priced: Vec<i64> = moves.into_iter().filter(|m| *m != 0).collect();
        assert!(!priced.is_empty(), "{flags:?}: quotes moved");
        assert!(
            priced.iter().all(|m| *m >= min),
            "{flags:?}: an edit under the threshold: {priced:?}"
        );
    }
}

#[test]
fn refresh_interval_amends_under_the_threshold() {
    let base = [
        "--spread-bps",
        "10",
        "--size",
        "0.002",
        "--requote-ticks",
        "1000000",
    ];
    let out = replay(BINANCE, &base);
    let moved = |o: &RunOutput| {
        edit_moves(o.sim_ledger.as_ref().unwrap())
            .into_iter()
            .filter(|m| *m != 0)
            .count()
    };
    assert_eq!(moved(&out), 0, "no move reaches a 1 000 000-tick threshold");
    let mut argv = base.to_vec();
    argv.extend_from_slice(&["--refresh-interval", "0.05"]);
    let out = replay(BINANCE, &argv);
    assert!(moved(&out) > 0, "the refresh amends to the current target");
}

#[test]
fn metrics_agree_with_the_ledger() {
    let out = replay(
        BINANCE,
        &[
            "--spread-ticks",
            "2",
            "--size",
            "0.002",
            "--max-position",
            "0.006",
        ],
    );
    let r = &out.report;
    let l = out.sim_ledger.as_ref().unwrap();
    let m = &r.metrics;
    assert!(m.fills > 0);
    assert_eq!(m.fills as usize, l.fills.len());
    assert_eq!(m.orders_sent, r.orders_sent);
    assert!((m.fill_rate - m.fills as f64 / r.orders_sent as f64).abs() < 1e-12);
    let mx = max_abs(&positions(l, LINEAR)) as f64 * 0.001;
    assert!((m.max_abs_inventory[LINEAR] - mx).abs() < 1e-9);
    assert!(m.spread_captured_usd >= 0.0 && m.spread_captured_avg_bps >= 0.0);
    let fees: f64 = l.fees.values().sum();
    assert!(
        (m.fees - fees).abs() < 1e-6,
        "fees {} vs ledger {fees}",
        m.fees
    );
    assert!((m.marked_pnl - (r.pnl.realized + r.pnl.unrealized - r.pnl.fees)).abs() < 1e-9);
    assert!(m.pnl_samples > 100, "about one sample per tape second");
    assert!(m.sharpe_per_second.is_some());
    assert!(m.max_drawdown_usd >= 0.0);
    // The JSON report carries the list.
    let json = serde_json::to_value(r).unwrap();
    let ev = &json["risk_events"][0];
    for k in ["t_s", "instrument", "code", "action", "detail"] {
        assert!(ev.get(k).is_some(), "risk event field {k}: {ev}");
    }
    assert_eq!(json["limit_breaches"], 0);
    assert!(json["risk_event_count"].as_u64().unwrap() >= 1);
}

#[test]
fn every_control_at_once_on_the_linear_perpetual() {
    let out = replay(
        BINANCE,
        &[
            "--reference",
            "micro",
            "--spread-bps",
            "1",
            "--min-spread-bps",
            "0.5",
            "--min-edge-bps",
            "0.2",
            "--levels",
            "3",
            "--level-spread-bps",
            "0.5",
            "--level-amount",
            "0.001",
            "--size-usd",
            "130",
            "--skew-per-100-usd",
            "0.1",
            "--skew-factor",
            "0.0005",
            "--inventory-skew",
            "0.3",
            "--target-position",
            "0.001",
            "--size-skew-range",
            "0.004",
            "--requote-bps",
            "0.2",
            "--refresh-interval",
            "0.5",
            "--requote-on-fill",
            "false",
            "--threshold",
            "0.008",
            "--max-position",
            "0.01",
            "--max-position-usd",
            "600",
            "--hard-max-position",
            "0.012",
            "--max-inventory-usd",
            "700",
            "--max-exposure",
            "900",
            "--stop-loss-pct",
            "5",
            "--daily-loss-usd",
            "100",
        ],
    );
    assert!(out.report.fills > 0);
    let pos = positions(out.sim_ledger.as_ref().unwrap(), LINEAR);
    assert!(
        pos.iter().all(|p| (-7..=9).contains(p)),
        "band around +1: {pos:?}"
    );
}

#[test]
fn inverse_perpetual_usd_limits_and_levels() {
    // Deribit BTC-PERPETUAL (lot = 10 USD, exact USD accounting): 2 levels, USD size.
    let out = replay(
        DERIBIT_TAPES[2],
        &[
            "--spread-ticks",
            "2",
            "--size-usd",
            "100",
            "--levels",
            "2",
            "--level-spread-bps",
            "2",
            "--max-position-usd",
            "200",
            "--max-inventory-usd",
            "150",
        ],
    );
    let pos = positions(out.sim_ledger.as_ref().unwrap(), PERP);
    assert!(max_abs(&pos) <= 15, "{pos:?}");
}

#[test]
fn options_mark_reference_with_min_edge() {
    let out = replay(
        DERIBIT_TAPES[0],
        &[
            "--reference",
            "mark",
            "--spread-bps",
            "300",
            "--min-edge-bps",
            "100",
            "--levels",
            "2",
            "--level-spread-bps",
            "100",
            "--max-exposure",
            "100000",
        ],
    );
    assert!(out.report.instruments > 1);
}
