//! Rate limits and error reactions end to end (issue 4 items 4 and 5; README "Rate limits",
//! "Error codes"): `mm-fast --venue sim` on the busy Binance BTCUSDT tape at `--speed max`
//! with settings that re-quote on every tick, against a simulator that enforces Deribit's
//! tier-4 credit model per account (10028 + connection closed on exhaustion).
//!
//! - With the client budget on (the default) the venue's limit is never hit
//!   (`rate_limit_errors: 0`, the run reaches the end of the tape with `ledger_match: true`)
//!   while intents did wait for credits (`rate_deferred > 0`).
//! - With `--rate-budget off` the same run is cut by a 10028: the test can fail.
//! - `--sim-fault reject-code=CODE:P` makes the simulator answer with 10009, 10041, 13666 or
//!   an unknown code; each run ends with `ledger_match: true` and the expected reaction.

use mm_tests::data;
use mm_tools::run::{run, RunExtras, RunOutput, STOP_MD_CONN_LOST, STOP_ORDER_CONN_LOST};

use mm_tests::{BINANCE_ARGS, BINANCE_BTC as BINANCE};

/// Re-quote on every one-tick move, two levels: far more order traffic than 5 requests/s.
const BUSY: [&str; 6] = [
    "--spread-ticks",
    "1",
    "--requote-ticks",
    "1",
    "--levels",
    "2",
];

fn run_busy(extra: &[&str]) -> RunOutput {
    let mut v: Vec<String> = BINANCE_ARGS
        .iter()
        .chain(&BUSY)
        .map(|s| s.to_string())
        .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    let args = mm_tests::sim_args(&data(BINANCE), &v);
    run(&args, RunExtras::default()).expect("the run starts and ends")
}

fn lost(out: &RunOutput) -> bool {
    let r = &out.report.stop_reason;
    r == STOP_ORDER_CONN_LOST || r == STOP_MD_CONN_LOST
}

#[test]
fn budget_keeps_the_venue_limit_and_off_hits_it() {
    let on = run_busy(&[]);
    let r = &on.report;
    eprintln!(
        "budget on: orders {} amends {} cancels {} deferred {} max wait {:.1} ms dropped {} \
         rate_limit_errors {} stop {:?}",
        r.orders_sent,
        r.amends,
        r.cancels,
        r.rate_deferred,
        r.rate_max_wait_ns as f64 / 1e6,
        r.rate_dropped,
        r.rate_limit_errors,
        r.stop_reason
    );
    assert_eq!(r.rate_limit_errors, 0, "{:?}", r.reject_codes);
    assert_eq!(
        r.sim_rate_limited,
        Some(0),
        "the venue never refused a request"
    );
    assert!(!lost(&on), "{}", r.stop_reason);
    assert!(r.rate_deferred > 0, "the budget was short at some point");
    assert!(r.rate_max_wait_ns > 0);
    assert!(
        r.orders_sent + r.amends > 20,
        "{} {}",
        r.orders_sent,
        r.amends
    );
    assert_eq!(r.ledger_match, Some(true), "{:?}", r.ledger_mismatches);
    assert!(r.rate_limits.contains("5/s burst 20"), "{}", r.rate_limits);

    // The same run against a tighter account (1 request/s, burst 4, on both sides), with
    // and without the budget: the venue's limit is then far below the ~25 requests the
    // tape asks for, whatever the machine's load does to the replay's wall time.
    const TIGHT: [&str; 4] = ["--me-rate", "1", "--me-burst", "4"];
    let tight = run_busy(&TIGHT);
    let r = &tight.report;
    eprintln!(
        "budget on, 1/s burst 4: orders {} amends {} deferred {} max wait {:.1} ms \
         rate_limit_errors {} stop {:?}",
        r.orders_sent,
        r.amends,
        r.rate_deferred,
        r.rate_max_wait_ns as f64 / 1e6,
        r.rate_limit_errors,
        r.stop_reason
    );
    assert_eq!(r.rate_limit_errors, 0);
    assert_eq!(r.sim_rate_limited, Some(0));
    assert!(!lost(&tight), "{}", r.stop_reason);
    assert!(r.rate_deferred > 0);
    assert_eq!(r.ledger_match, Some(true), "{:?}", r.ledger_mismatches);

    let off = run_busy(&[&TIGHT[..], &["--rate-budget", "off"]].concat());
    let r = &off.report;
    eprintln!(
        "budget off: orders {} amends {} cancels {} rate_limit_errors {} sim 10028 {:?} stop {:?}",
        r.orders_sent, r.amends, r.cancels, r.rate_limit_errors, r.sim_rate_limited, r.stop_reason
    );
    assert_eq!(r.rate_limits, "off");
    // The venue refused at least one request with 10028 and ended the session (the client
    // usually reads the 10028 first; it may not when the socket closes under its writes).
    assert!(r.sim_rate_limited >= Some(1), "{:?}", r.sim_rate_limited);
    // … and the engine reconnected (README "Reconnect and reconciliation").
    assert!(
        r.reconnects_order >= 1,
        "the venue ended the session: {}",
        r.reconnects_order
    );
    assert_eq!(r.rate_deferred, 0);
    assert_eq!(
        off.sim_ledger.as_ref().expect("ledger").open_orders.len(),
        0,
        "cancel-on-disconnect ran"
    );
}

fn risk(out: &RunOutput, code: &str) -> usize {
    out.report
        .risk_events
        .iter()
        .filter(|e| e.code == code)
        .count()
}

fn code_count(out: &RunOutput, code: i32) -> u64 {
    out.report
        .reject_codes
        .get(&code.to_string())
        .copied()
        .unwrap_or(0)
}

#[test]
fn injected_error_codes_get_their_reactions() {
    // 10009 not_enough_funds: a side stops for the cool-off.
    let out = run_busy(&["--sim-fault", "reject-code=10009:0.2"]);
    assert!(code_count(&out, 10009) > 0, "{:?}", out.report.reject_codes);
    assert!(risk(&out, "funds_cool_off") > 0);
    assert_eq!(out.report.ledger_match, Some(true));
    assert!(!lost(&out));

    // 10041 settlement_in_progress: all quoting pauses.
    let out = run_busy(&["--sim-fault", "reject-code=10041:0.2"]);
    assert!(code_count(&out, 10041) > 0);
    assert!(risk(&out, "settlement_pause") > 0);
    assert_eq!(out.report.ledger_match, Some(true));

    // 13666 request_cancelled_by_user: not placed, nothing else.
    let out = run_busy(&["--sim-fault", "reject-code=13666:0.3"]);
    assert!(code_count(&out, 13666) > 0);
    assert_eq!(out.report.unknown_errors, 0);
    assert_eq!(out.report.ledger_match, Some(true));
    assert!(!lost(&out));

    // An unknown code, rarely: counted, logged, the run goes on.
    let out = run_busy(&["--sim-fault", "reject-code=19999:0.2"]);
    assert!(out.report.unknown_errors > 0);
    assert_eq!(out.report.unknown_errors, code_count(&out, 19999));
    assert_eq!(out.report.ledger_match, Some(true));

    // Every request refused with an unknown code: the burst halts quoting.
    let out = run_busy(&["--sim-fault", "reject-code=19999"]);
    assert!(
        out.report
            .risk_events
            .iter()
            .any(|e| e.code == "halt" && e.detail.contains("reject")),
        "{:?}",
        out.report
            .risk_events
            .iter()
            .map(|e| &e.detail)
            .collect::<Vec<_>>()
    );
    assert_eq!(out.report.ledger_match, Some(true));
}
