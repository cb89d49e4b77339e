//! End-to-end: `mm-fast --venue sim --tape T --speed max` on every recorded Deribit tape, over
//! real loopback WebSockets, checked against the simulator's own ledger.

use clap::Parser;
use mm_tests::{data, DERIBIT_TAPES};
use mm_tools::cli::Args;
use mm_tools::run::{run, RunExtras, RunOutput};
use std::collections::BTreeMap;

fn replay(tape: &str, extra: &[&str]) -> RunOutput {
    replay_with(tape, "max", "yield", extra)
}

fn replay_with(tape: &str, speed: &str, idle: &str, extra: &[&str]) -> RunOutput {
    let tape = data(tape);
    let mut argv = vec![
        "mm-fast",
        "--venue",
        "sim",
        "--tape",
        tape.as_str(),
        "--speed",
        speed,
        "--idle",
        idle,
    ];
    argv.extend_from_slice(extra);
    let args = Args::parse_from(argv);
    run(&args, RunExtras::default()).expect("run succeeds")
}

/// Every check the issue lists for a whole-tape replay.
fn check(out: &RunOutput, max_position_lots: i64) {
    let r = &out.report;
    let l = out.sim_ledger.as_ref().expect("sim ledger");
    assert!(r.instruments > 0);
    assert_eq!(r.decode_errors, 0, "decode errors");
    assert_eq!(r.book_gaps, 0, "the recorded chain is unbroken");
    assert!(r.md_events > 0);
    assert!(r.orders_sent > 0, "the engine quoted");
    assert!(
        r.latency_ns["tick_to_quote"].count > 0,
        "tick-to-quote samples"
    );
    // Books: the engine's mirror equals the simulator's recorded book at the end.
    for (name, b) in &r.books {
        let (sb, sa) = l.books.get(name).copied().unwrap_or((None, None));
        assert_eq!(
            (b.best_bid, b.best_ask),
            (sb, sa),
            "{name}: engine book vs simulator"
        );
    }
    // Fills and positions equal the simulator's ledger.
    assert_eq!(
        r.ledger_match,
        Some(true),
        "ledger mismatches: {:?}",
        r.ledger_mismatches
    );
    assert_eq!(r.fills as usize, l.fills.len());
    // No order is open at exit, on either side.
    assert_eq!(r.open_orders_at_exit, 0);
    assert!(
        l.open_orders.is_empty(),
        "simulator still holds {:?}",
        l.open_orders
    );
    // Max position never broken, in the simulator's own ledger, fill by fill.
    let mut pos: BTreeMap<&str, i64> = BTreeMap::new();
    for f in &l.fills {
        let p = pos.entry(f.instrument.as_str()).or_default();
        *p += f.lots * f.side.sign();
        assert!(
            p.abs() <= max_position_lots,
            "{}: position {} lots beyond the limit {}",
            f.instrument,
            p,
            max_position_lots
        );
    }
    assert_eq!(r.limit_violations, 0, "engine sent an order beyond a limit");
    // Every configured limit held in the simulator's ledger (mm_tools::breaches).
    assert_eq!(
        r.limit_breaches,
        Some(0),
        "limit breaches: {:?}",
        r.limit_breach_details
    );
    assert_eq!(r.risk_event_count as usize, r.risk_events.len());
}

#[test]
fn options_tape_2021_04_05_improve_the_touch() {
    // One lot per side; default max position 5 × size = 5 lots.
    let out = replay(
        DERIBIT_TAPES[0],
        &["--improve-ticks", "1", "--min-spread-bps", "200"],
    );
    check(&out, 5);
}

#[test]
fn options_tape_2021_04_17_bps_spread_with_limits() {
    let out = replay(
        DERIBIT_TAPES[1],
        &[
            "--spread-bps",
            "300",
            "--max-position",
            "0.3",
            "--max-exposure",
            "100000",
        ],
    );
    // BTC options lot 0.1 → 3 lots; ETH options lot 1 → 0 lots (no quoting beyond 0.3 ETH).
    check(&out, 3);
}

/// Tight quotes on the tardis BTC-PERPETUAL minute (lot 10 USD: size 10 lots, max 30 lots).
const TIGHT_PERPETUAL: &[&str] = &[
    "--spread-ticks",
    "2",
    "--size",
    "100",
    "--max-position",
    "300",
    "--skew-per-100-usd",
    "0.5",
];

#[test]
fn perpetual_tardis_minute_tight_spread() {
    let out = replay(DERIBIT_TAPES[2], TIGHT_PERPETUAL);
    // lot 10 USD: size 10 lots, max 30 lots.
    check(&out, 30);
    assert!(
        out.report.fills > 0,
        "a tight quote on a liquid perpetual trades"
    );
}

/// The tight-spread perpetual run with `--idle wake`: every thread sleeps when idle and is
/// woken by its producer's doorbell; the ledger must match exactly as with `yield`.
#[test]
fn perpetual_tardis_minute_tight_spread_idle_wake() {
    let out = replay_with(DERIBIT_TAPES[2], "max", "wake", TIGHT_PERPETUAL);
    check(&out, 30);
    assert!(out.report.fills > 0, "orders reached the venue and traded");
}

/// `--idle wake` with a paced replay (`--speed N/s`): the simulator waits for each frame on
/// its timerfd, the engine's threads sleep between frames; the run (bounded by
/// `--duration`) still ends flat with the ledger matching.
#[test]
fn options_tape_paced_idle_wake() {
    let out = replay_with(DERIBIT_TAPES[0], "4000/s", "wake", PACED_OPTIONS);
    check(&out, 5);
}

/// The paced options run of the `wake` tests: touch-improving quotes, 4 s.
const PACED_OPTIONS: &[&str] = &[
    "--improve-ticks",
    "1",
    "--min-spread-bps",
    "200",
    "--duration",
    "4",
];

/// `--topology inline` (one thread reads, decides and writes): the tight-spread perpetual
/// run ends flat with the ledger matching, and no event crossed the md → hot ring (the
/// `ring` stage is empty) while tick-to-wire was measured.
#[test]
fn perpetual_tardis_minute_tight_spread_inline() {
    let mut extra = TIGHT_PERPETUAL.to_vec();
    extra.extend(["--topology", "inline"]);
    let out = replay(DERIBIT_TAPES[2], &extra);
    check(&out, 30);
    assert!(out.report.fills > 0, "orders reached the venue and traded");
    let lat = &out.report.latency_ns;
    assert_eq!(lat["ring"].count, 0, "inline: no md → hot ring hop");
    assert!(lat["tick_to_wire"].count > 0, "tick-to-wire measured");
}

/// `--topology inline --idle wake` on a paced multi-instrument options replay: the engine
/// thread sleeps in one `poll(2)` over both sockets between frames; the run ends flat with
/// the ledger matching.
#[test]
fn options_tape_paced_inline_idle_wake() {
    let mut extra = PACED_OPTIONS.to_vec();
    extra.extend(["--topology", "inline"]);
    let out = replay_with(DERIBIT_TAPES[0], "4000/s", "wake", &extra);
    check(&out, 5);
    assert_eq!(out.report.latency_ns["ring"].count, 0);
}
