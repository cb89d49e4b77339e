//! `mm-latency` end to end: a short measurement writes the JSON document with every key,
//! samples on both sides and ratios consistent with the percentiles; `plot` draws `.hgrm`
//! files into a PNG.

use clap::Parser;
use mm_tools::latency::{self, Cli, Command};
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

#[test]
fn short_run_writes_every_key_and_consistent_ratios() {
    let dir = temp_dir("run");
    let json = dir.join("lat.json");
    let hgrm = dir.join("hgrm");
    let cli = Cli::parse_from([
        "mm-latency",
        "run",
        "--rate",
        "500",
        "--duration",
        "1.5",
        "--warmup-frames",
        "100",
        "--idle",
        "yield",
        "--json",
        json.to_str().unwrap(),
        "--hgrm",
        hgrm.to_str().unwrap(),
    ]);
    assert!(matches!(cli.command, Some(Command::Run(_))));
    latency::main_with(cli).expect("mm-latency run");

    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for side in ["wire_to_wire", "echo_rtt"] {
        let s = &v[side];
        for k in ["p50", "p99", "p999", "max", "count"] {
            assert!(s[k].is_u64(), "{side}.{k} missing in {v}");
        }
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
    // Context.
    assert_eq!(v["unit"], "ns");
    assert_eq!(v["rate_per_s"].as_f64(), Some(500.0));
    assert_eq!(v["idle"], "yield");
    assert_eq!(v["tape"], "touch-walk");
    let probe = &v["probe"];
    assert_eq!(probe["samples"], w["count"]);
    assert!(probe["book_frames"].as_u64().unwrap() > 0);
    assert!(v["samples_discarded"].is_u64());
    assert_eq!(v["echo"]["samples"], e["count"]);

    // The histograms as .hgrm files, and a plot of two of them.
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
        "-o",
        png.to_str().unwrap(),
    ]);
    latency::main_with(cli).expect("mm-latency plot");
    assert_png(&png);
    let _ = std::fs::remove_dir_all(&dir);
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
