//! Real book level updates, prepared up front for the book benches.
//!
//! Each update is kept twice: as integer ticks/lots (what our [`mm_core::book::Book`] takes)
//! and as the `f64` price/quantity parsed from the same wire text (what hftbacktest's
//! `update_bid_depth`/`update_ask_depth` take; they round `price / tick_size` themselves).
//!
//! Sources:
//! - Binance USD-M BTCUSDT, 2024-07-18 23:57 → 2024-07-19 00:05 (`binance/usdm/btcusdt_2024071{8,9}.gz`):
//!   the REST depth snapshot of the day-1 file, then every `depth@0ms` diff from the first one
//!   that bridges the snapshot (`U ≤ lastUpdateId ≤ u`), following the `pu` chain across both
//!   files. Binance sends absolute quantities (`"0.000"` deletes), tick 0.1, lot 0.001.
//! - Deribit BTC-PERPETUAL tardis minute (`deribit/tardis-2019-04-01`): the first record is the
//!   snapshot, the next 3,770 `book_change` records are changes. Tick 0.25, lot 10 USD.

use crate::data_dir;
use mm_core::decimal::Dec;
use mm_core::types::{Lots, Side, Ticks};
use serde_json::Value;

/// One level update in both representations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Level {
    /// Book side.
    pub side: Side,
    /// Price in ticks.
    pub px: Ticks,
    /// New total size in lots (0 deletes the level).
    pub qty: Lots,
    /// Price as parsed from the wire (`f64`).
    pub px_f: f64,
    /// Size as parsed from the wire (`f64`, venue units).
    pub qty_f: f64,
}

/// A book's snapshot followed by its stream of changes, split into frames (one diff message
/// each).
#[derive(Clone, Debug)]
pub struct DepthStream {
    /// Human-readable name of the stream.
    pub name: String,
    /// Tick size (price units per tick).
    pub tick: f64,
    /// Lot size (size units per lot).
    pub lot: f64,
    /// Snapshot levels.
    pub snapshot: Vec<Level>,
    /// Every change after the snapshot, in order.
    pub changes: Vec<Level>,
    /// Exclusive end index in `changes` of each frame (diff message), ascending.
    pub frame_ends: Vec<usize>,
    /// Lowest and highest price (ticks) seen in the snapshot and the changes.
    pub px_range: (Ticks, Ticks),
}

impl DepthStream {
    /// The changes of each frame.
    pub fn frames(&self) -> impl Iterator<Item = &[Level]> {
        let mut start = 0;
        self.frame_ends.iter().map(move |&end| {
            let f = &self.changes[start..end];
            start = end;
            f
        })
    }

    fn finish(&mut self) {
        let mut lo = Ticks::MAX;
        let mut hi = Ticks::MIN;
        for l in self.snapshot.iter().chain(&self.changes) {
            lo = lo.min(l.px);
            hi = hi.max(l.px);
        }
        self.px_range = (lo, hi);
    }
}

fn level(side: Side, px: &str, qty: &str, tick: Dec, lot: Dec) -> Result<Level, String> {
    let p = Dec::parse(px.as_bytes()).ok_or_else(|| format!("bad price {px}"))?;
    let q = Dec::parse(qty.as_bytes()).ok_or_else(|| format!("bad qty {qty}"))?;
    Ok(Level {
        side,
        px: p
            .div_exact(tick)
            .ok_or_else(|| format!("price {px} off tick"))?,
        qty: q
            .div_exact(lot)
            .ok_or_else(|| format!("qty {qty} off lot"))?,
        px_f: px.parse().map_err(|_| format!("bad price {px}"))?,
        qty_f: qty.parse().map_err(|_| format!("bad qty {qty}"))?,
    })
}

fn binance_rows(
    v: &Value,
    side: Side,
    tick: Dec,
    lot: Dec,
    out: &mut Vec<Level>,
) -> Result<(), String> {
    for r in v.as_array().ok_or("levels not an array")? {
        let px = r[0].as_str().ok_or("price not a string")?;
        let q = r[1].as_str().ok_or("qty not a string")?;
        out.push(level(side, px, q, tick, lot)?);
    }
    Ok(())
}

/// Binance USD-M depth stream of `files` (one symbol, consecutive files), synchronised to the
/// REST snapshot found in them (Binance's documented procedure for USD-M futures).
///
/// # Errors
/// A missing file, malformed JSON, a price or quantity off the grid, no snapshot, or a broken
/// `pu` chain after synchronisation.
pub fn binance_stream(
    name: &str,
    files: &[&str],
    tick: Dec,
    lot: Dec,
) -> Result<DepthStream, String> {
    struct Diff {
        first: u64,
        last: u64,
        prev: u64,
        levels: Vec<Level>,
    }
    let mut s = DepthStream {
        name: name.to_owned(),
        tick: tick.to_f64(),
        lot: lot.to_f64(),
        snapshot: Vec::new(),
        changes: Vec::new(),
        frame_ends: Vec::new(),
        px_range: (0, 0),
    };
    let mut buffered: Vec<Diff> = Vec::new();
    let mut snap_id: Option<u64> = None;
    let mut last_u: Option<u64> = None;
    let apply =
        |d: Diff, s: &mut DepthStream, snap: u64, last_u: &mut Option<u64>| -> Result<(), String> {
            match *last_u {
                None => {
                    if d.last < snap {
                        return Ok(()); // older than the snapshot
                    }
                    if d.first > snap {
                        return Err(format!(
                            "first diff after snapshot {snap} starts at {}",
                            d.first
                        ));
                    }
                }
                Some(u) => {
                    if d.prev != u {
                        return Err(format!("pu chain broken: pu {} after u {u}", d.prev));
                    }
                }
            }
            *last_u = Some(d.last);
            s.changes.extend(d.levels);
            s.frame_ends.push(s.changes.len());
            Ok(())
        };
    for f in files {
        let path = data_dir().join(f);
        let text = mm_venues::sim::tape::read_text(&path)?;
        for line in text.lines() {
            let Some((_, json)) = line.split_once(' ') else {
                continue;
            };
            if json.starts_with("{\"lastUpdateId\"") {
                if snap_id.is_some() {
                    continue; // only the first snapshot synchronises
                }
                let v: Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
                let id = v["lastUpdateId"].as_u64().ok_or("lastUpdateId")?;
                binance_rows(&v["bids"], Side::Bid, tick, lot, &mut s.snapshot)?;
                binance_rows(&v["asks"], Side::Ask, tick, lot, &mut s.snapshot)?;
                snap_id = Some(id);
                for d in std::mem::take(&mut buffered) {
                    apply(d, &mut s, id, &mut last_u)?;
                }
                continue;
            }
            if !json.contains("@depth") {
                continue;
            }
            let v: Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
            let d = &v["data"];
            let mut levels = Vec::new();
            binance_rows(&d["b"], Side::Bid, tick, lot, &mut levels)?;
            binance_rows(&d["a"], Side::Ask, tick, lot, &mut levels)?;
            let diff = Diff {
                first: d["U"].as_u64().ok_or("U")?,
                last: d["u"].as_u64().ok_or("u")?,
                prev: d["pu"].as_u64().ok_or("pu")?,
                levels,
            };
            match snap_id {
                None => buffered.push(diff),
                Some(id) => apply(diff, &mut s, id, &mut last_u)?,
            }
        }
    }
    if snap_id.is_none() {
        return Err(format!("{name}: no depth snapshot in {files:?}"));
    }
    s.finish();
    Ok(s)
}

/// Binance USD-M BTCUSDT 2024-07-18/19 (tick 0.1, lot 0.001).
///
/// # Panics
/// If the data is missing or malformed (benchmarks need their input).
pub fn binance_btcusdt() -> DepthStream {
    binance_stream(
        "binance BTCUSDT 2024-07-18/19",
        &[
            "binance/usdm/btcusdt_20240718.gz",
            "binance/usdm/btcusdt_20240719.gz",
        ],
        Dec::new(1, 1),
        Dec::new(1, 3),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The tardis BTC-PERPETUAL minute (tick 0.25, lot 10 USD): the first record is the snapshot,
/// each later `book_change` record one frame of changes.
///
/// # Panics
/// If the data file is missing or malformed.
pub fn tardis_btc_perpetual() -> DepthStream {
    let path = data_dir().join("deribit/tardis-2019-04-01/BTC-PERPETUAL.book_change_trades.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let tick = Dec::new(25, 2);
    let lot = Dec::new(10, 0);
    let mut s = DepthStream {
        name: "deribit BTC-PERPETUAL tardis 2019-04-01".into(),
        tick: 0.25,
        lot: 10.0,
        snapshot: Vec::new(),
        changes: Vec::new(),
        frame_ends: Vec::new(),
        px_range: (0, 0),
    };
    for (n, line) in text.lines().enumerate() {
        let v: Value = serde_json::from_str(line).expect("tardis JSONL line");
        if v["type"] != "book_change" {
            continue;
        }
        let dst = if n == 0 {
            &mut s.snapshot
        } else {
            &mut s.changes
        };
        for (key, side) in [("bids", Side::Bid), ("asks", Side::Ask)] {
            for l in v[key].as_array().into_iter().flatten() {
                let px_f = l["price"].as_f64().unwrap_or(0.0);
                let qty_f = l["amount"].as_f64().unwrap_or(0.0);
                let p = Dec::from_f64(px_f, 8).expect("price");
                let q = Dec::from_f64(qty_f, 8).expect("amount");
                dst.push(Level {
                    side,
                    px: p.div_round(tick).expect("price ticks"),
                    qty: q.div_round(lot).expect("amount lots"),
                    px_f,
                    qty_f,
                });
            }
        }
        if n > 0 {
            s.frame_ends.push(s.changes.len());
        }
    }
    s.finish();
    s
}
