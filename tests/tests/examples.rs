//! Every configuration in `examples/` runs end to end on the real tape its header names:
//! `mm-fast --venue sim --tape <tape> --config examples/<file> --speed max --report-json r.json`
//! exits cleanly with the engine's fills and positions equal to the simulator's ledger and no
//! configured limit exceeded in that ledger (`limit_breaches` 0).

use mm_tests::data;
use mm_tools::config::{parse_args, CliError};
use mm_tools::run::{run, RunExtras};
use std::path::PathBuf;

fn example(file: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples")).join(file)
}

/// The tape a TOML example's header names (`# Tape: ../shared/data/<rel> …`).
fn header_tape(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).expect("example exists");
    let line = text
        .lines()
        .take_while(|l| l.starts_with('#') || l.is_empty())
        .find_map(|l| l.strip_prefix("# Tape: ../shared/data/"))
        .unwrap_or_else(|| panic!("{}: no `# Tape: ../shared/data/…` header", path.display()));
    line.split_whitespace().next().unwrap().to_string()
}

fn run_example(file: &str, tape_rel: Option<&str>) {
    let path = example(file);
    let tape_rel = tape_rel.map_or_else(|| header_tape(&path), str::to_string);
    let tape = data(&tape_rel);
    let report = std::env::temp_dir().join(format!(
        "mm-fast-example-{}-{file}.json",
        std::process::id()
    ));
    let loaded = match parse_args([
        "mm-fast",
        "--venue",
        "sim",
        "--tape",
        tape.as_str(),
        "--config",
        path.to_str().unwrap(),
        "--speed",
        "max",
        "--report-json",
        report.to_str().unwrap(),
        "--stats-interval",
        "0",
    ]) {
        Ok(l) => l,
        Err(CliError::Config(e)) => panic!("{file}: {e}"),
        Err(CliError::Clap(e)) => panic!("{file}: {e}"),
    };
    let out = run(&loaded.args, RunExtras::default())
        .unwrap_or_else(|e| panic!("{file} on {tape_rel}: {e}"));
    let r = &out.report;
    assert_eq!(
        r.ledger_match,
        Some(true),
        "{file}: ledger mismatches {:?}",
        r.ledger_mismatches
    );
    assert!(r.md_events > 0, "{file}: market data replayed");
    assert!(r.orders_sent > 0, "{file}: the configuration quotes");
    assert_eq!(r.open_orders_at_exit, 0, "{file}");
    assert_eq!(r.limit_violations, 0, "{file}");
    assert_eq!(
        r.limit_breaches,
        Some(0),
        "{file}: the simulator's ledger shows a limit exceeded: {:?}",
        r.limit_breach_details
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report written")).unwrap();
    assert_eq!(json["ledger_match"], true);
    assert_eq!(json["limit_breaches"], 0);
    assert_eq!(
        json["name"],
        file.split('.').next().unwrap(),
        "{file}: run name"
    );
    let _ = std::fs::remove_file(report);
}

#[test]
fn options_touch() {
    run_example("options-touch.toml", None);
}

#[test]
fn fixed_cent() {
    run_example("fixed-cent.toml", None);
}

#[test]
fn perp_target_flatten() {
    run_example("perp-target-flatten.toml", None);
}

#[test]
fn bps_skew_levels() {
    run_example("bps-skew-levels.toml", None);
}

#[test]
fn json_usd_maker() {
    // JSON has no comments: the USD maker's `BTC-PERP` runs on the Deribit BTC-PERPETUAL minute.
    run_example(
        "json-usd-maker.json",
        Some("deribit/tardis-2019-04-01/BTC-PERPETUAL.book_change_trades.jsonl"),
    );
}
