//! Fault injection end to end: each `--sim-fault` kind on the real tardis BTC-PERPETUAL tape
//! (60 s, replayed at max speed). Each fault must show up in the report's `faults_injected`,
//! and the run must end without a panic or a hang, with a clear `stop_reason` (`mm-fast` exits
//! 4 for a lost connection, 0 otherwise) and — where cancel-on-disconnect applies — no order
//! of ours left open in the simulator's ledger. Also: the `--sim-fault` syntax and its errors.

use clap::Parser;
use mm_tests::{data, DERIBIT_TAPES};
use mm_tools::cli::Args;
use mm_tools::config::{parse_command_line, CliError};
use mm_tools::run::{run, RunExtras, RunOutput, STOP_MD_CONN_LOST, STOP_ORDER_CONN_LOST};
use mm_venues::sim::{Fault, FAULT_SYNTAX};

/// The Binance BTCUSDT day-1 tape re-hosted as a perpetual, with the settings of
/// `e2e_binance` (more order traffic than the tardis tape).
const BINANCE: &str = "binance/usdm/btcusdt_20240718.gz";
const BINANCE_ARGS: [&str; 6] = [
    "--size",
    "0.002",
    "--max-position",
    "0.01",
    "--speed",
    "max",
];

fn run_with(faults: &[&str]) -> RunOutput {
    run_on(DERIBIT_TAPES[2], &["--speed", "max"], faults)
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

#[test]
fn disconnect_ends_the_run_and_cod_cancels() {
    let out = run_with(&["disconnect@20"]);
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
fn restart_drops_everything_and_cancels_resting_orders() {
    let out = run_with(&["restart@20"]);
    let r = &out.report;
    assert_eq!(injected(&out, "restart"), 1);
    assert!(
        r.stop_reason == STOP_ORDER_CONN_LOST || r.stop_reason == STOP_MD_CONN_LOST,
        "{}",
        r.stop_reason
    );
    assert_eq!(sim_open_orders(&out), 0);
    let l = out.sim_ledger.as_ref().unwrap();
    assert_eq!(l.stats.connections, 2, "no reconnect");
}

#[test]
fn rate_limit_answers_10028_and_closes_the_order_connection() {
    // Armed from the first tape event: the engine's first quote request gets the 10028.
    let out = run_with(&["rate-limit@0"]);
    let r = &out.report;
    assert_eq!(injected(&out, "rate-limit"), 1);
    assert_eq!(r.rate_limit_errors, 1, "{:?}", r.reject_codes);
    assert_eq!(r.reject_codes.get("10028"), Some(&1));
    assert_eq!(r.stop_reason, STOP_ORDER_CONN_LOST);
    assert_eq!(
        sim_open_orders(&out),
        0,
        "COD on the closed order connection"
    );
}

#[test]
fn malformed_frame_is_counted_and_the_run_continues() {
    let out = run_with(&["malformed@20"]);
    let r = &out.report;
    assert_eq!(injected(&out, "malformed"), 1);
    assert!(r.decode_errors >= 1, "{}", r.decode_errors);
    assert_eq!(r.stop_reason, "end of tape");
    assert_eq!(r.ledger_match, Some(true), "{:?}", r.ledger_mismatches);
    assert_eq!(r.open_orders_at_exit, 0);
}

#[test]
fn gap_is_detected_and_no_quote_while_untrusted() {
    let out = run_with(&["gap@20"]);
    let r = &out.report;
    assert_eq!(injected(&out, "gap"), 1);
    assert_eq!(r.gaps_detected, 1);
    assert_eq!(r.book_gaps, 1);
    assert_eq!(r.quotes_while_untrusted, Some(0));
    assert_eq!(r.stop_reason, "end of tape");
    assert_eq!(r.ledger_match, Some(true), "{:?}", r.ledger_mismatches);
}

#[test]
fn reject_rate_rejects_that_fraction_deterministically() {
    let a = run_on(BINANCE, &BINANCE_ARGS, &["reject-rate=0.5"]);
    let r = &a.report;
    let n = injected(&a, "reject-rate");
    assert_eq!(
        r.reject_codes.get("10047"),
        Some(&n),
        "{:?}",
        r.reject_codes
    );
    let requests = r.orders_sent + r.amends;
    assert!(requests >= 10, "{requests}");
    let frac = n as f64 / requests as f64;
    assert!((0.2..0.8).contains(&frac), "{n} of {requests}");
    assert_eq!(r.stop_reason, "end of tape");
    assert_eq!(r.ledger_match, Some(true), "{:?}", r.ledger_mismatches);
    assert_eq!(r.open_orders_at_exit, 0);
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
    assert_eq!(r.stop_reason, "end of tape");
    assert_eq!(r.ledger_match, Some(true), "{:?}", r.ledger_mismatches);
    assert_eq!(sim_open_orders(&out), 0);
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
