//! Fault injection end to end: each `--sim-fault` kind on the real tardis BTC-PERPETUAL tape
//! (60 s; at 8× real time where a reconnect must complete while the tape plays, else at max
//! speed) and the Binance BTCUSDT tape. Each fault must show up in the report's
//! `faults_injected`, and the run must recover: reconnect (disconnect, restart, rate-limit),
//! reconcile, and end normally with the ledger matched, no orphan order, no quote while
//! untrusted, every gap detected and nothing left open at the venue. Also: the issue's
//! "Done when" run with every fault, `--reconnect-max-secs 0` (a loss ends the run, exit 4),
//! and the `--sim-fault` syntax and its errors.

use clap::Parser;
use mm_tests::{data, DERIBIT_TAPES};
use mm_tools::cli::Args;
use mm_tools::config::{parse_command_line, CliError};
use mm_tools::run::{run, RunExtras, RunOutput, STOP_MD_CONN_LOST, STOP_ORDER_CONN_LOST};
use mm_venues::sim::{Fault, FAULT_SYNTAX};

/// The Binance tape (more order traffic than the tardis tape).
use mm_tests::{BINANCE_ARGS, BINANCE_BTC as BINANCE};

fn run_with(faults: &[&str]) -> RunOutput {
    run_on(DERIBIT_TAPES[2], &["--speed", "max"], faults)
}

/// The tardis tape at 8× real time (60 s of tape in 7.5 s): slow enough that the tape is
/// still playing when a reconnect completes (the market does not wait: tape events during
/// the outage are missed, as live).
fn run_paced(faults: &[&str]) -> RunOutput {
    run_on(DERIBIT_TAPES[2], &["--speed", "8"], faults)
}

fn run_on(tape: &str, extra: &[&str], faults: &[&str]) -> RunOutput {
    let mut v: Vec<String> = vec!["--spread-ticks".into(), "2".into()];
    v.extend(extra.iter().map(|s| s.to_string()));
    for f in faults {
        v.push("--sim-fault".into());
        v.push(f.to_string());
    }
    let args = mm_tests::sim_args(&data(tape), &v);
    assert_eq!(args.sim_fault.len(), faults.len());
    run(&args, RunExtras::default()).expect("the run starts and ends")
}

fn injected(out: &RunOutput, kind: &str) -> u64 {
    out.report.faults_injected.get(kind).copied().unwrap_or(0)
}

fn sim_open_orders(out: &RunOutput) -> usize {
    out.sim_ledger.as_ref().expect("ledger").open_orders.len()
}

/// What every fault run must end with: to the end of the tape (mm-fast exits 0), engine
/// fills and positions equal to the simulator's ledger, no orphan, no quote while a book was
/// untrusted or the order connection down, every injected gap detected, nothing left open at
/// the venue, no reconciliation position mismatch.
fn assert_recovered(out: &RunOutput) {
    let r = &out.report;
    assert_eq!(r.stop_reason, "end of tape", "{:?}", r.faults_injected);
    assert_eq!(r.ledger_match, Some(true), "{:?}", r.ledger_mismatches);
    assert_eq!(r.orphan_orders, Some(0));
    assert_eq!(r.quotes_while_untrusted, Some(0));
    assert_eq!(r.gaps_detected, injected(out, "gap"));
    assert_eq!(sim_open_orders(out), 0, "open at the venue after the run");
    assert_eq!(r.open_orders_at_exit, 0);
    assert_eq!(r.position_mismatches, 0);
    assert_eq!(r.reconnects, r.reconnects_md + r.reconnects_order);
}

#[test]
fn disconnect_reconnects_both_connections_and_quotes_again() {
    let out = run_paced(&["disconnect@20"]);
    let r = &out.report;
    assert_eq!(injected(&out, "disconnect"), 1, "{:?}", r.faults_injected);
    assert_recovered(&out);
    assert_eq!((r.reconnects_md, r.reconnects_order), (1, 1), "{r:?}");
    // Quoting resumed after the reconnect: new orders after the fault's tape time (the old
    // connections were dropped then, so they came on the new order connection).
    let l = out.sim_ledger.as_ref().unwrap();
    assert_eq!(l.stats.connections, 4, "2 at start + 2 reconnects");
    let start = l.log.iter().map(|e| e.tape_ns).min().unwrap();
    let after = l
        .log
        .iter()
        .filter(|e| matches!(e.what, mm_venues::sim::SimLogKind::OrderNew { .. }))
        .filter(|e| e.tape_ns > start + 20_000_000_000)
        .count();
    assert!(after >= 1, "no new order after the reconnect");
}

#[test]
fn disconnect_without_reconnect_ends_the_run_and_cod_cancels() {
    no_reconnect_after_disconnect(&[]);
}

/// `--reconnect-max-secs 0` with a disconnect: the run ends on the lost connection (exit 4)
/// after quoting, with nothing left open at the venue (cancel-on-disconnect) and no
/// reconnect. `extra`: more engine flags.
fn no_reconnect_after_disconnect(extra: &[&str]) {
    let mut flags = vec!["--speed", "max", "--reconnect-max-secs", "0"];
    flags.extend_from_slice(extra);
    let out = run_on(DERIBIT_TAPES[2], &flags, &["disconnect@20"]);
    let r = &out.report;
    assert_eq!(injected(&out, "disconnect"), 1, "{:?}", r.faults_injected);
    assert!(
        r.stop_reason == STOP_ORDER_CONN_LOST || r.stop_reason == STOP_MD_CONN_LOST,
        "{}",
        r.stop_reason
    );
    assert!(r.orders_sent > 0, "it was quoting before the fault");
    assert_eq!(
        sim_open_orders(&out),
        0,
        "cancel-on-disconnect cancelled our orders"
    );
    assert_eq!(r.orphan_orders, Some(0));
    assert_eq!(r.reconnects, 0);
}

#[test]
fn restart_reconnects_and_reconciles() {
    let out = run_paced(&["restart@20"]);
    let r = &out.report;
    assert_eq!(injected(&out, "restart"), 1);
    assert_recovered(&out);
    assert!(r.reconnects_md >= 1 && r.reconnects_order >= 1, "{r:?}");
    let l = out.sim_ledger.as_ref().unwrap();
    assert!(l.stats.connections >= 4, "{}", l.stats.connections);
}

#[test]
fn rate_limit_10028_closes_the_order_connection_and_it_comes_back() {
    // Armed from the first tape event: the engine's first quote request gets the 10028.
    let out = run_paced(&["rate-limit@0"]);
    let r = &out.report;
    assert_eq!(injected(&out, "rate-limit"), 1);
    assert_eq!(r.rate_limit_errors, 1, "{:?}", r.reject_codes);
    assert_eq!(r.reject_codes.get("10028"), Some(&1));
    assert_recovered(&out);
    assert!(r.reconnects_order >= 1, "{r:?}");
    assert_eq!(r.reconnects_md, 0, "only the order connection was closed");
    assert!(r.orders_sent > 1, "quoting resumed: {}", r.orders_sent);
}

#[test]
fn malformed_frame_is_counted_and_the_run_continues() {
    let out = run_paced(&["malformed@20"]);
    let r = &out.report;
    assert_eq!(injected(&out, "malformed"), 1);
    assert!(r.decode_errors >= 1, "{}", r.decode_errors);
    assert_recovered(&out);
    assert_eq!(r.reconnects, 0);
}

#[test]
fn gap_is_detected_and_no_quote_while_untrusted() {
    let out = run_paced(&["gap@20"]);
    let r = &out.report;
    assert_eq!(injected(&out, "gap"), 1);
    assert_eq!(r.gaps_detected, 1);
    assert_eq!(r.book_gaps, 1);
    assert_recovered(&out);
    assert_eq!(r.reconnects, 0);
}

/// Issue 4's "Done when": disconnect, gap, malformed frame, rate-limit disconnect and venue
/// restart in one run on a real tape — it ends normally (exit 0) with the ledger matched,
/// no orphan, no quote while untrusted, the gap detected, and at least two reconnects.
#[test]
fn done_when_every_fault_in_one_run() {
    every_fault_in_one_run(&["--speed", "4"]);
}

/// The same run with `--topology inline`: one thread serves both connections and the
/// engine, so each reconnect (blocking that thread for its round trips) and the
/// reconciliation run between market-data turns; the run must recover the same way.
#[test]
fn done_when_every_fault_in_one_run_inline() {
    every_fault_in_one_run(&["--speed", "4", "--topology", "inline"]);
}

/// With `--topology inline` a lost connection that is not to be reconnected still ends the
/// run (exit 4) with nothing left open at the venue.
#[test]
fn disconnect_without_reconnect_inline_ends_the_run() {
    no_reconnect_after_disconnect(&["--topology", "inline"]);
}

fn every_fault_in_one_run(extra: &[&str]) {
    let out = run_on(
        DERIBIT_TAPES[2],
        extra,
        &[
            "disconnect@5",
            "gap@8",
            "malformed@10",
            "rate-limit@12",
            "restart@15",
        ],
    );
    let r = &out.report;
    for k in ["disconnect", "gap", "malformed", "rate-limit", "restart"] {
        assert_eq!(injected(&out, k), 1, "{k}: {:?}", r.faults_injected);
    }
    assert_recovered(&out);
    assert!(r.gaps_detected >= 1);
    assert!(r.reconnects >= 2, "{}", r.reconnects);
    assert!(r.decode_errors >= 1);
    // mm-fast's exit code: 0 unless a connection was lost for good (4) or the ledger differs (3).
    assert!(r.stop_reason != STOP_ORDER_CONN_LOST && r.stop_reason != STOP_MD_CONN_LOST);
}

#[test]
fn reject_rate_rejects_that_fraction_deterministically() {
    // A generous credit budget: this test counts rejects, not the tier-4 rate limit (each
    // 10047 also holds the instrument for the transient back-off, README "Error codes").
    // Tape time paced (×30, ~10 s) rather than `max`: the back-off is wall time, and at
    // `max` the whole tape can pass within a few back-offs.
    let mut args = BINANCE_ARGS[..4].to_vec();
    args.extend(["--speed", "30", "--me-rate", "1000", "--me-burst", "1000"]);
    let a = run_on(BINANCE, &args, &["reject-rate=0.5"]);
    let r = &a.report;
    let n = injected(&a, "reject-rate");
    assert_eq!(
        r.reject_codes.get("10047"),
        Some(&n),
        "{:?}",
        r.reject_codes
    );
    let requests = r.orders_sent + r.amends;
    eprintln!("reject-rate 0.5: {n} of {requests} requests rejected");
    assert!(requests >= 10, "{requests}");
    let frac = n as f64 / requests as f64;
    assert!((0.2..0.8).contains(&frac), "{n} of {requests}");
    assert_recovered(&a);
}

#[test]
fn ack_delay_holds_order_replies() {
    let out = run_with(&["ack-delay-ms=20"]);
    let r = &out.report;
    assert!(
        injected(&out, "ack-delay-ms") >= r.orders_sent,
        "{:?}",
        r.faults_injected
    );
    assert_recovered(&out);
}

#[test]
fn fault_syntax_and_errors() {
    let parse = |xs: &[&str]| {
        let mut v = vec!["mm-fast".to_string(), "--venue".into(), "sim".into()];
        v.extend(xs.iter().map(|s| s.to_string()));
        parse_command_line(v.into_iter().map(std::ffi::OsString::from))
    };
    match parse(&["--sim-fault", "foo@x"]) {
        Err(CliError::Clap(e)) => {
            assert_eq!(e.exit_code(), 2);
            let msg = e.to_string();
            assert!(msg.contains("foo@x") && msg.contains(FAULT_SYNTAX), "{msg}");
        }
        Err(e) => panic!("expected a usage error, got {e}"),
        Ok(_) => panic!("foo@x must be refused"),
    }
    for bad in ["gap@-3", "restart", "reject-rate=1.5", "ack-delay-ms=soon"] {
        assert!(
            matches!(parse(&["--sim-fault", bad]), Err(CliError::Clap(_))),
            "{bad}"
        );
    }
    let Ok(mm_tools::config::Command::Run(l)) = parse(&[
        "--sim-fault",
        "disconnect@5",
        "--sim-fault",
        "reject-rate=0.1",
        "--sim-fault",
        "ack-delay-ms=3",
    ]) else {
        panic!("valid faults refused")
    };
    assert_eq!(
        l.args.sim_fault,
        vec![
            Fault::Disconnect { at_secs: 5.0 },
            Fault::RejectRate(0.1),
            Fault::AckDelayMs(3)
        ]
    );
    // Live venue: refused.
    let a = Args::parse_from(["mm-fast", "--sim-fault", "gap@1", "--dry-run"]);
    let e = run(&a, RunExtras::default()).err().expect("refused");
    assert!(e.contains("--sim-fault needs --venue sim"), "{e}");
}

#[test]
fn quotes_while_untrusted_counts_orders_inside_the_gap_window() {
    use mm_venues::sim::{LedgerSnapshot, SimLogEntry, SimLogKind};
    let e = |seq: u64, inst: &str, what: SimLogKind| SimLogEntry {
        seq,
        tape_ns: seq,
        instrument: Some(inst.to_string()),
        what,
    };
    let new = || SimLogKind::OrderNew {
        label: "mmf-1".into(),
        price_ticks: 1,
    };
    let l = LedgerSnapshot {
        log: vec![
            e(0, "A", new()),
            e(1, "A", SimLogKind::ChangeDropped),
            e(2, "B", new()),
            e(3, "A", new()),
            e(
                4,
                "A",
                SimLogKind::OrderEdit {
                    label: "mmf-1".into(),
                    price_ticks: 2,
                },
            ),
            e(5, "A", SimLogKind::SnapshotSent),
            e(6, "A", new()),
        ],
        ..Default::default()
    };
    assert_eq!(mm_tools::report::quotes_while_untrusted(&l), 2);
}
