//! End to end: `mm-fast --venue sim --quote-mode mass-quote` on real tapes — quotes go out
//! as `private/mass_quote` in the MMP group, fills come back mapped to the engine's client
//! ids (the ledgers match), and an MMP trigger freezes quoting until the reset.

use mm_tests::{data, DERIBIT_TAPES};
use mm_tools::run::{run, RunExtras, RunOutput};
use mm_venues::sim::SimLogKind;

fn run_on(tape: &str, extra: &[&str]) -> RunOutput {
    let args = mm_tests::sim_args(&data(tape), extra);
    run(&args, RunExtras::default()).expect("the run starts and ends")
}

/// A run on the Binance tape (`mm_tests::BINANCE_ARGS` sizing, 2-tick spread) with `extra`.
fn run_binance(extra: &[&str]) -> RunOutput {
    let v = [&mm_tests::BINANCE_ARGS[..], &["--spread-ticks", "2"], extra].concat();
    run_on(mm_tests::BINANCE_BTC, &v)
}

#[test]
fn mass_quote_run_on_tardis_matches_the_ledger() {
    let out = run_on(
        DERIBIT_TAPES[2],
        &[
            "--spread-ticks",
            "2",
            "--speed",
            "max",
            "--quote-mode",
            "mass-quote",
            "--mmp-qty-limit",
            "100",
        ],
    );
    let r = &out.report;
    let l = out.sim_ledger.as_ref().expect("sim ledger");
    eprintln!(
        "mass-quote run: mass_quotes_sent {} quote_errors {} orders_sent {} amends {} fills {} \
         reject_codes {:?}",
        r.mass_quotes_sent, r.quote_errors, r.orders_sent, r.amends, r.fills, r.reject_codes
    );
    assert_eq!(r.quote_mode, "mass-quote");
    assert!(r.mass_quotes_sent > 0, "quotes went out as mass quotes");
    assert!(l.stats.mass_quotes > 0 && l.stats.mass_quotes <= r.mass_quotes_sent);
    assert!(r.orders_sent > 0);
    assert!(r.fills > 0, "a 2-tick quote on the tardis tape trades");
    assert_eq!(r.fills as usize, l.fills.len());
    // Every fill is of a quote (no label) and was mapped back to our client id.
    assert!(l.fills.iter().all(|f| f.label.is_empty()));
    assert_eq!(
        r.ledger_match,
        Some(true),
        "ledger mismatches: {:?}",
        r.ledger_mismatches
    );
    assert_eq!(r.open_orders_at_exit, 0);
    assert!(l.open_orders.is_empty(), "{:?}", l.open_orders);
    assert_eq!(r.mmp_triggers, 0, "a 100 BTC limit does not trip");
    assert_eq!(r.quotes_while_mmp_frozen, 0);
}

#[test]
fn mmp_trigger_cancels_freezes_and_quoting_resumes_after_reset() {
    // Binance BTCUSDT re-hosted as BTC_USDT-PERPETUAL (index btc_usdt): 0.002 BTC quotes,
    // MMP net delta 0.001 BTC per second (quantity 0.003): any fill trips it. At --speed
    // max the tape ends within a few wall seconds, before a 1 s freeze counted on our clock
    // would: --mmp-auto-reset-secs 0 resets at once (after the trigger is handled).
    let out = run_binance(&[
        "--quote-mode",
        "mass-quote",
        "--mmp-qty-limit",
        "0.003",
        "--mmp-delta-limit",
        "0.001",
        "--mmp-interval-secs",
        "1",
        "--mmp-frozen-secs",
        "1",
        "--mmp-auto-reset-secs",
        "0",
    ]);
    let r = &out.report;
    let l = out.sim_ledger.as_ref().expect("sim ledger");
    eprintln!(
        "mmp run: mass_quotes_sent {} quote_errors {} fills {} mmp_triggers {} mmp_resets {} \
         quotes_while_mmp_frozen {} reject_codes {:?}",
        r.mass_quotes_sent,
        r.quote_errors,
        r.fills,
        r.mmp_triggers,
        r.mmp_resets,
        r.quotes_while_mmp_frozen,
        r.reject_codes
    );
    assert!(r.mmp_triggers >= 1, "MMP tripped: {r:?}");
    assert_eq!(l.stats.mmp_triggers, r.mmp_triggers);
    assert!(r.mmp_resets >= 1, "and was reset");
    assert_eq!(r.quotes_while_mmp_frozen, 0, "no quote while frozen");
    let codes: Vec<&str> = r.risk_events.iter().map(|e| e.code.as_str()).collect();
    assert!(codes.contains(&"mmp_triggered"), "{codes:?}");
    assert!(codes.contains(&"mmp_reset"), "{codes:?}");
    // On the venue: trigger → our resting quotes cancelled → reset → quoting resumes.
    let log = &l.log;
    let is_quote = |k: &SimLogKind| {
        matches!(
            k,
            SimLogKind::OrderNew { .. } | SimLogKind::OrderEdit { .. }
        )
    };
    let mut windows = Vec::new();
    let mut from = 0;
    while let Some(t) = log[from..]
        .iter()
        .position(|e| matches!(e.what, SimLogKind::MmpTriggered { .. }))
    {
        let trig = from + t;
        let Some(k) = log[trig..]
            .iter()
            .position(|e| matches!(e.what, SimLogKind::MmpReset { .. }))
        else {
            break;
        };
        windows.push((trig, trig + k));
        from = trig + k;
    }
    assert!(
        !windows.is_empty(),
        "a trigger and its reset in the venue log"
    );
    // The venue's freeze lasts until `frozen_until` (1 s of tape time; at --speed max that
    // can pass before our reset arrives) or the reset, whichever comes first.
    for &(trig, reset) in &windows {
        let until = log[trig].tape_ns + 1_000_000_000;
        assert!(
            !log[trig..reset]
                .iter()
                .any(|e| e.tape_ns < until && is_quote(&e.what)),
            "nothing placed while frozen: {:?}",
            &log[trig..reset]
        );
    }
    assert!(
        windows.iter().any(|&(trig, reset)| log[trig..reset]
            .iter()
            .any(|e| matches!(e.what, SimLogKind::OrderCancel { .. }))),
        "a trigger cancelled a resting quote"
    );
    let (_, first_reset) = windows[0];
    assert!(
        log[first_reset..].iter().any(|e| is_quote(&e.what)),
        "quoting resumed after the reset"
    );
    assert_eq!(
        r.ledger_match,
        Some(true),
        "ledger mismatches: {:?}",
        r.ledger_mismatches
    );
    assert!(l.open_orders.is_empty(), "{:?}", l.open_orders);
}

#[test]
fn mass_quote_flags_are_checked_at_startup() {
    let tape = data(DERIBIT_TAPES[2]);
    let err = |extra: &[&str]| -> String {
        let args = mm_tests::sim_args(&tape, extra);
        mm_tools::quoting::quoting_opts(&args).expect_err("refused")
    };
    let e = err(&[
        "--quote-mode",
        "mass-quote",
        "--mmp-qty-limit",
        "1",
        "--levels",
        "2",
    ]);
    assert!(e.contains("--levels 1"), "{e}");
    let e = err(&["--quote-mode", "mass-quote"]);
    assert!(e.contains("--mmp-qty-limit"), "{e}");
    let e = err(&["--mmp", "--mmp-qty-limit", "1", "--mmp-delta-limit", "2"]);
    assert!(e.contains("--mmp-delta-limit"), "{e}");
    let e = err(&["--mmp", "--mmp-qty-limit=-1"]);
    assert!(e.contains("> 0"), "{e}");
}

#[test]
fn mmp_in_orders_mode_trips_and_resets() {
    // Plain orders with `mmp: true` under the index's plain-order MMP (no group).
    let out = run_binance(&[
        "--mmp",
        "--mmp-qty-limit",
        "0.003",
        "--mmp-delta-limit",
        "0.001",
        "--mmp-auto-reset-secs",
        "0",
    ]);
    let r = &out.report;
    let l = out.sim_ledger.as_ref().expect("sim ledger");
    assert_eq!(r.quote_mode, "orders");
    assert_eq!(r.mass_quotes_sent, 0);
    assert!(r.mmp_triggers >= 1, "MMP tripped on plain orders");
    assert_eq!(l.stats.mmp_triggers, r.mmp_triggers);
    assert!(r.mmp_resets >= 1);
    assert_eq!(r.quotes_while_mmp_frozen, 0);
    assert!(l
        .log
        .iter()
        .any(|e| matches!(&e.what, SimLogKind::MmpTriggered { group, .. } if group.is_empty())));
    assert_eq!(
        r.ledger_match,
        Some(true),
        "ledger mismatches: {:?}",
        r.ledger_mismatches
    );
    assert!(l.open_orders.is_empty(), "{:?}", l.open_orders);
}
