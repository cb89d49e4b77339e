//! `mm-latency` end to end: short measurements (the default recorded tape, and the touch
//! walk) write the JSON document with exactly the required top-level keys, samples on both
//! sides and ratios consistent with the percentiles; `plot` draws `.hgrm` files (the
//! harness's and `mm-fast --hgrm`'s) into a PNG; the stimulus marks of the default tape; the
//! warm frame-work measurement agrees with the marks.

use clap::Parser;
use mm_core::quote::{Reference, SpreadMode};
use mm_tools::latency::{self, Cli, Command, QuoteModel};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "mm-latency-test-{tag}-{}-{}",
        std::process::id(),
        mm_io::clock::unix_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn assert_png(p: &Path) {
    let bytes = std::fs::read(p).unwrap();
    assert!(bytes.len() > 1000, "PNG too small: {} bytes", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
}

fn btcusdt_files() -> Vec<PathBuf> {
    let d = latency::data_dir();
    latency::BTCUSDT_FILES.iter().map(|f| d.join(f)).collect()
}

/// Runs `mm-latency run ARGS --json --hgrm` and returns the JSON document and the hgrm dir.
fn run(dir: &Path, args: &[&str]) -> (Value, PathBuf) {
    let json = dir.join("lat.json");
    let hgrm = dir.join("hgrm");
    let mut argv = vec!["mm-latency", "run"];
    argv.extend_from_slice(args);
    argv.extend([
        "--json",
        json.to_str().unwrap(),
        "--hgrm",
        hgrm.to_str().unwrap(),
    ]);
    let cli = Cli::parse_from(argv);
    assert!(matches!(cli.command, Some(Command::Run(_))));
    latency::main_with(cli).expect("mm-latency run");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (v, hgrm)
}

/// The document's shape: exactly the required top-level keys, consistent figures.
fn check_document(v: &Value) {
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "context",
            "echo_rtt",
            "engine",
            "ratio_p50",
            "ratio_p99",
            "wire_to_wire"
        ]
    );
    for side in ["wire_to_wire", "echo_rtt"] {
        let s = &v[side];
        let mut k: Vec<&str> = s.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        k.sort_unstable();
        assert_eq!(k, ["count", "max", "p50", "p99", "p999"], "{side}");
        assert!(
            s["count"].as_u64().unwrap() > 0,
            "{side} has no samples: {v}"
        );
        let (p50, p99, p999, max) = (
            s["p50"].as_u64().unwrap(),
            s["p99"].as_u64().unwrap(),
            s["p999"].as_u64().unwrap(),
            s["max"].as_u64().unwrap(),
        );
        assert!(
            0 < p50 && p50 <= p99 && p99 <= p999 && p999 <= max,
            "{side}: {s}"
        );
    }
    let w = &v["wire_to_wire"];
    let e = &v["echo_rtt"];
    let ratio = |k: &str| w[k].as_f64().unwrap() / e[k].as_f64().unwrap();
    assert!(
        (v["ratio_p50"].as_f64().unwrap() - ratio("p50")).abs() < 1e-9,
        "{v}"
    );
    assert!(
        (v["ratio_p99"].as_f64().unwrap() - ratio("p99")).abs() < 1e-9,
        "{v}"
    );
    let engine = v["engine"].as_object().expect("engine stages");
    for stage in [
        "decode",
        "ring",
        "decide",
        "encode_write",
        "tick_to_quote",
        "tick_to_wire",
    ] {
        for k in ["p50", "p90", "p99", "p999", "p9999", "max", "count"] {
            assert!(engine[stage][k].is_u64(), "engine.{stage}.{k} missing");
        }
    }
    assert!(engine["tick_to_wire"]["count"].as_u64().unwrap() > 0);
    let c = &v["context"];
    assert_eq!(c["unit"], "ns");
    assert_eq!(c["idle"], "yield");
    assert_eq!(c["probe"]["samples"], w["count"]);
    assert!(c["probe"]["book_frames"].as_u64().unwrap() > 0);
    assert_eq!(c["echo"]["samples"], e["count"]);
    assert!(c["passes"].as_u64().unwrap() >= 1);
    assert!(c["machine"]["cpus"].as_u64().unwrap() >= 1);
}

fn check_hgrm_and_plot(dir: &Path, hgrm: &Path) {
    for f in ["wire_to_wire", "echo_rtt", "tick_to_wire", "decode"] {
        let p = hgrm.join(format!("{f}.hgrm"));
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(
            !latency::parse_hgrm(&text).unwrap().is_empty(),
            "{f}.hgrm is empty"
        );
    }
    let png = dir.join("lat.png");
    let cli = Cli::parse_from([
        "mm-latency",
        "plot",
        hgrm.join("wire_to_wire.hgrm").to_str().unwrap(),
        hgrm.join("echo_rtt.hgrm").to_str().unwrap(),
        hgrm.join("tick_to_wire.hgrm").to_str().unwrap(),
        "-o",
        png.to_str().unwrap(),
    ]);
    latency::main_with(cli).expect("mm-latency plot");
    assert_png(&png);
}

#[test]
fn default_run_replays_the_recorded_btcusdt_tape_in_passes() {
    let dir = temp_dir("run");
    // A small sample target reached within two passes of at most 2 s each.
    let (v, hgrm) = run(
        &dir,
        &[
            "--rate",
            "1000",
            "--samples",
            "60",
            "--max-passes",
            "2",
            "--duration",
            "4",
            "--warmup-frames",
            "100",
            "--idle",
            "yield",
        ],
    );
    check_document(&v);
    let c = &v["context"];
    assert_eq!(c["tape"], "btcusdt");
    assert_eq!(c["tape_files"].as_array().unwrap().len(), 2);
    assert_eq!(c["attribution"], "Marked");
    assert_eq!(c["rate_per_s"].as_f64(), Some(1000.0));
    assert!(c["quoting"]
        .as_str()
        .unwrap()
        .contains("--reference mid --spread-ticks 1000"));
    let (n, k) = (
        c["tape_book_frames"][0].as_u64().unwrap(),
        c["tape_book_frames"][1].as_u64().unwrap(),
    );
    assert!(n > 9000 && k > 200 && k < n / 20, "{n} frames, {k} marked");
    // Every book frame is either marked or not; nothing is guessed.
    let p = &c["probe"];
    assert!(p["unmarked"].as_u64().unwrap() > 0);
    assert_eq!(p["ambiguous"], 0);
    assert_eq!(p["unanswered"], 0);
    // Quoted wide: nothing filled, nothing rejected (every order reacts to market data).
    assert_eq!(c["engine_counters"]["fills"], 0);
    assert_eq!(c["engine_counters"]["rejects"], 0);
    // The warm frame-work measurement covers every book frame of the tape, and the engine
    // it measures reacts to exactly the marked frames' moves: every stimulus produced
    // intents. The stimuli are the large frames (a moving touch sweeps many levels).
    let fw = &c["frame_work"];
    let (st, ot) = (&fw["stimuli"], &fw["others"]);
    assert_eq!(st["frames"].as_u64(), Some(k), "{fw}");
    assert_eq!(ot["frames"].as_u64(), Some(n - k), "{fw}");
    assert_eq!(fw["stimuli_with_intents"].as_u64(), Some(k), "{fw}");
    let rows = |x: &Value| x["rows_p50"].as_u64().unwrap();
    assert!(rows(st) > 5 * rows(ot), "{fw}");
    for x in [st, ot] {
        let (d, w, w90) = (
            x["decode_p50"].as_u64().unwrap(),
            x["work_p50"].as_u64().unwrap(),
            x["work_p90"].as_u64().unwrap(),
        );
        assert!(0 < d && d <= w && w <= w90, "{fw}");
    }
    let floor = c["ratio_p50_work_floor"].as_f64().unwrap();
    let expect = 1.0 + st["work_p50"].as_f64().unwrap() / v["echo_rtt"]["p50"].as_f64().unwrap();
    assert!((floor - expect).abs() < 1e-9, "{floor} vs {expect}");
    check_hgrm_and_plot(&dir, &hgrm);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn touch_walk_is_still_available() {
    let dir = temp_dir("walk");
    let (v, hgrm) = run(
        &dir,
        &[
            "--tape",
            "touch-walk",
            "--rate",
            "500",
            "--duration",
            "1.5",
            "--warmup-frames",
            "100",
            "--idle",
            "yield",
        ],
    );
    check_document(&v);
    let c = &v["context"];
    assert_eq!(c["tape"], "touch-walk");
    assert_eq!(c["attribution"], "EveryFrame");
    assert_eq!(c["passes"], 1);
    assert_eq!(c["engine_figures"], "exact");
    // No marks: every book frame of the walk is a stimulus, and each moves the touch.
    let fw = &c["frame_work"];
    let frames = fw["stimuli"]["frames"].as_u64().unwrap();
    assert!(frames > 100, "{fw}");
    assert_eq!(fw["others"]["frames"], 0, "{fw}");
    assert!(
        fw["stimuli_with_intents"].as_u64().unwrap() * 10 > frames * 9,
        "{fw}"
    );
    check_hgrm_and_plot(&dir, &hgrm);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stimulus_marks_of_the_btcusdt_tape() {
    let files = btcusdt_files();
    let micro = latency::stimulus_marks(
        &files,
        &QuoteModel {
            reference: Reference::Micro,
            spread: SpreadMode::Ticks(1000),
            requote_ticks: 1,
        },
    )
    .unwrap();
    let touch = latency::stimulus_marks(
        &files,
        &QuoteModel {
            reference: Reference::Mid,
            spread: SpreadMode::Improve(0),
            requote_ticks: 1,
        },
    )
    .unwrap();
    assert_eq!(micro.len(), touch.len());
    assert!(micro.len() > 9000);
    assert!(micro[0] && touch[0], "the snapshot places the first quotes");
    let count = |m: &[bool]| m.iter().filter(|&&x| x).count();
    // The touch moves rarely; the microprice (half-tick resolution) about twice as often.
    assert!((200..320).contains(&count(&touch)), "{}", count(&touch));
    assert!((400..600).contains(&count(&micro)), "{}", count(&micro));
    // A frame that moves the touch moves the microprice too (both sides nonempty).
    let missed = touch
        .iter()
        .zip(&micro)
        .filter(|(t, m)| **t && !**m)
        .count();
    assert!(missed * 10 < count(&touch), "{missed}");
}

#[test]
fn histogram_rebuilt_from_hgrm_keeps_count_max_and_percentiles() {
    let mut h = mm_venues::sim::probe::new_histogram();
    for i in 1..=50_000u64 {
        h.record(20_000 + (i * 7919) % 80_000).unwrap();
    }
    let mut buf = Vec::new();
    latency::write_hgrm(&h, &mut buf).unwrap();
    let pts = latency::parse_hgrm(std::str::from_utf8(&buf).unwrap()).unwrap();
    let r = latency::histogram_from_hgrm(&pts);
    assert_eq!(r.len(), h.len());
    assert!(r.equivalent(r.max(), h.max()));
    for q in [0.5, 0.9, 0.99] {
        let (a, b) = (h.value_at_quantile(q) as f64, r.value_at_quantile(q) as f64);
        // at or above the original, within one row (≤ 10 % of the range here)
        assert!(b >= a * 0.999 && b <= a * 1.1, "q {q}: {a} vs {b}");
    }
}

#[test]
fn plot_draws_hgrm_files_generated_here() {
    let dir = temp_dir("plot");
    let mut files = Vec::new();
    for (name, scale) in [("fast", 10u64), ("slow", 25u64)] {
        let mut h = mm_venues::sim::probe::new_histogram();
        for i in 1..=20_000u64 {
            // a body around `scale` µs with a long tail
            h.record(scale * 1000 + (i * i) % (scale * 4000)).unwrap();
        }
        let p = dir.join(format!("{name}.hgrm"));
        latency::write_hgrm_file(&h, &p).unwrap();
        files.push(p);
    }
    let png = dir.join("two.png");
    let style = latency::PlotStyle {
        title: "two curves".into(),
        size: (800, 500),
        log_y: false,
    };
    latency::plot(&files, &png, &style).expect("plot");
    assert_png(&png);
    let png_log = dir.join("two-log.png");
    let log = latency::PlotStyle {
        log_y: true,
        ..style.clone()
    };
    latency::plot(&files, &png_log, &log).expect("plot --log-y");
    assert_png(&png_log);
    // A malformed file is an error, not a panic.
    let bad = dir.join("bad.hgrm");
    std::fs::write(&bad, "Value Percentile\n\n  1.0 zero 3\n").unwrap();
    assert!(latency::plot(&[bad], &dir.join("bad.png"), &style).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
