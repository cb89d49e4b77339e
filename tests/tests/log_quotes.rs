//! `--log-quotes` end to end on a real tape: every quote intent the engine sends (new, amend,
//! cancel, cancel-all) becomes exactly one log line with side, level, price, size, order and
//! reason; the lines are written by the control thread (the telemetry consumer), never by the
//! hot thread; what they say matches the simulator's own log of the orders it received; and
//! without the switch nothing is logged.

use clap::Parser;
use mm_tests::data;
use mm_tools::cli::Args;
use mm_tools::quotelog::TARGET;
use mm_tools::run::{run, RunExtras, RunOutput};
use mm_venues::sim::SimLogKind;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Captured quote lines: (thread name, message).
static LINES: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target() == TARGET
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            let thread = std::thread::current().name().unwrap_or("?").to_string();
            LINES.lock().unwrap().push((thread, r.args().to_string()));
        }
    }
    fn flush(&self) {}
}

static LOGGER: Capture = Capture;

fn replay(extra: &[&str]) -> (RunOutput, Vec<(String, String)>) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
    let tape = data("binance/usdm/btcusdt_20240718.gz");
    let mut argv = vec![
        "mm-fast",
        "--venue",
        "sim",
        "--tape",
        tape.as_str(),
        "--speed",
        "max",
        "--stats-interval",
        "0",
        "--spread-ticks",
        "2",
        "--size",
        "0.002",
        "--levels",
        "2",
        "--level-spread-bps",
        "1",
        "--max-position",
        "0.004",
    ];
    argv.extend_from_slice(extra);
    LINES.lock().unwrap().clear();
    let out = run(&Args::parse_from(argv), RunExtras::default()).expect("run succeeds");
    let lines = std::mem::take(&mut *LINES.lock().unwrap());
    (out, lines)
}

/// One parsed quote line.
#[derive(Debug)]
struct Line {
    action: String,
    label: String,
    price: String,
    reason: String,
}

/// `quote NAME SIDE Lk ACTION mmf-ID size S [(total T)] @ P (REASON)` or
/// `quote * cancel_all (REASON)`.
fn parse(msg: &str, inst: &str) -> Line {
    let w: Vec<&str> = msg.split_whitespace().collect();
    assert_eq!(w[0], "quote", "{msg}");
    let reason = w.last().unwrap().trim_matches(|c| c == '(' || c == ')');
    if w[1] == "*" {
        assert_eq!(w[2], "cancel_all", "{msg}");
        return Line {
            action: "cancel_all".into(),
            label: String::new(),
            price: String::new(),
            reason: reason.into(),
        };
    }
    assert!(w.len() == 11 || w.len() == 13, "{msg}");
    assert_eq!(w[1], inst, "{msg}");
    assert!(matches!(w[2], "bid" | "ask"), "{msg}");
    assert!(
        w[3].starts_with('L') && w[3][1..].parse::<usize>().unwrap() < 2,
        "{msg}"
    );
    assert!(w[5].starts_with("mmf-"), "{msg}");
    assert_eq!(w[6], "size", "{msg}");
    let size: f64 = w[7].parse().unwrap();
    assert!(size > 0.0, "{msg}");
    if w.len() == 13 {
        assert_eq!((w[4], w[8]), ("amend", "(total"), "{msg}");
        let total: f64 = w[9].trim_end_matches(')').parse().unwrap();
        assert!(total > size, "{msg}");
    }
    assert_eq!(w[w.len() - 3], "@", "{msg}");
    Line {
        action: w[4].into(),
        label: w[5].into(),
        price: w[w.len() - 2].into(),
        reason: reason.into(),
    }
}

#[test]
fn every_quote_intent_is_logged_once_by_the_control_thread() {
    let (out, lines) = replay(&["--log-quotes"]);
    let r = &out.report;
    assert_eq!(r.ledger_match, Some(true), "{:?}", r.ledger_mismatches);
    assert!(r.fills > 0, "the tape traded against us");
    let me = std::thread::current().name().unwrap().to_string();
    assert!(
        lines.iter().all(|(t, _)| *t == me),
        "logged by the control thread ({me}), not by {:?}",
        lines.iter().find(|(t, _)| *t != me)
    );
    let inst = out.table.get(0);
    let parsed: Vec<Line> = lines.iter().map(|(_, m)| parse(m, &inst.name)).collect();
    let count = |a: &str| parsed.iter().filter(|l| l.action == a).count() as u64;
    assert_eq!(count("new"), r.orders_sent, "one line per new order");
    assert_eq!(count("amend"), r.amends, "one line per amend");
    assert_eq!(
        count("cancel") + count("cancel_all"),
        r.cancels,
        "one line per cancel"
    );
    // Reasons: placed, re-quoted (the price moves over 8 minutes), and the closing cancel-all.
    let reasons: Vec<&str> = parsed.iter().map(|l| l.reason.as_str()).collect();
    for want in ["place", "requote"] {
        assert!(reasons.contains(&want), "{want} in {reasons:?}");
    }
    let last = parsed.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.reason.as_str()),
        ("cancel_all", "halt")
    );
    // The simulator's log of accepted orders and edits: per order, its prices are the logged
    // ones in the same order (a logged request may have been refused: counted in rejects).
    let l = out.sim_ledger.as_ref().unwrap();
    let mut logged: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in parsed
        .iter()
        .filter(|p| p.action == "new" || p.action == "amend")
    {
        logged.entry(&p.label).or_default().push(&p.price);
    }
    let mut venue: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for e in &l.log {
        if let SimLogKind::OrderNew { label, price_ticks }
        | SimLogKind::OrderEdit { label, price_ticks } = &e.what
        {
            venue
                .entry(label)
                .or_default()
                .push(format!("{}", inst.price_f64(*price_ticks)));
        }
    }
    assert!(!venue.is_empty());
    let mut unmatched = 0;
    for (label, prices) in &venue {
        let ours = logged
            .get(label)
            .unwrap_or_else(|| panic!("{label}: at the venue, never logged"));
        // `prices` is a subsequence of `ours`.
        let mut it = ours.iter();
        for p in prices {
            assert!(
                it.any(|q| q == p),
                "{label}: venue prices {prices:?} vs logged {ours:?}"
            );
        }
        unmatched += ours.len() - prices.len();
    }
    for (label, ours) in &logged {
        if !venue.contains_key(label) {
            unmatched += ours.len();
        }
    }
    assert!(
        unmatched as u64 <= r.rejects,
        "{unmatched} logged requests not at the venue, {} rejects",
        r.rejects
    );
    // The end-of-run cancel-all is reported as a shutdown, not as a halt.
    assert_eq!(
        r.risk_events.last().map(|e| e.code.as_str()),
        Some("shutdown")
    );
    assert!(!r.risk_events.iter().any(|e| e.code == "halt"));

    // Without the switch: not one line.
    let (out, lines) = replay(&[]);
    assert!(out.report.orders_sent > 0);
    assert!(
        !lines.iter().any(|(t, _)| *t == me),
        "quote lines without --log-quotes: {:?}",
        &lines[..lines.len().min(3)]
    );
}
