//! # mm-bench
//!
//! Benchmarks on recorded data (`../shared/data`, or `MM_DATA_DIR`), and the loaders they
//! share. Timing claims live here, never in tests.

use mm_core::types::{Lots, Side, Ticks};
use std::path::PathBuf;

/// The shared data directory: `MM_DATA_DIR`, else `<workspace>/../shared/data`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("MM_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")))
}

/// One level update: side, price (ticks), new total size (lots; 0 deletes).
pub type LevelUpdate = (Side, Ticks, Lots);

/// The tardis BTC-PERPETUAL minute as level updates in ticks of 0.25 USD and lots of 10 USD:
/// `(snapshot levels, subsequent changes)`.
///
/// # Panics
/// If the data file is missing or malformed (benchmarks need their input).
pub fn tardis_levels() -> (Vec<LevelUpdate>, Vec<LevelUpdate>) {
    let path = data_dir().join("deribit/tardis-2019-04-01/BTC-PERPETUAL.book_change_trades.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut snap = Vec::new();
    let mut changes = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).expect("tardis JSONL line");
        if v["type"] != "book_change" {
            continue;
        }
        let dst = if n == 0 { &mut snap } else { &mut changes };
        for (key, side) in [("bids", Side::Bid), ("asks", Side::Ask)] {
            for l in v[key].as_array().into_iter().flatten() {
                let px = (l["price"].as_f64().unwrap_or(0.0) * 4.0).round() as Ticks;
                let q = (l["amount"].as_f64().unwrap_or(0.0) / 10.0).round() as Lots;
                dst.push((side, px, q));
            }
        }
    }
    (snap, changes)
}
