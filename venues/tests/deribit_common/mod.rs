//! Shared helpers of the `deribit_*` integration tests: data location, hand-built instrument
//! tables, frame feeding.
#![allow(dead_code)]

use mm_core::decimal::Dec;
use mm_core::event::MdEvent;
use mm_core::instrument::{Instrument, InstrumentTable, Kind};
use mm_venues::deribit::md::{Frame, MdDecoder};
use mm_venues::deribit::DecodeError;
use std::path::PathBuf;
use std::sync::Arc;

/// `MM_DATA_DIR`, else `<workspace>/../shared/data`.
pub fn data_dir() -> PathBuf {
    match std::env::var_os("MM_DATA_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")),
    }
}

/// A file under `deribit/`.
pub fn deribit_file(rel: &str) -> String {
    let p = data_dir().join("deribit").join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// Line `n` (1-based) of a jsonl file under `deribit/messages/`.
pub fn message_line(file: &str, n: usize) -> String {
    deribit_file(&format!("messages/{file}"))
        .lines()
        .nth(n - 1)
        .unwrap_or_else(|| panic!("{file} has no line {n}"))
        .to_string()
}

/// A nautilus single-frame file under `deribit/messages/nautilus/`.
pub fn nautilus(name: &str) -> String {
    deribit_file(&format!("messages/nautilus/{name}"))
}

pub fn d(s: &str) -> Dec {
    Dec::parse(s.as_bytes()).expect("test decimal")
}

/// Tick/lot by name, the realistic values of the period the messages come from.
pub fn grid_for(name: &str) -> (Kind, Dec, Dec) {
    let opt = name.matches('-').count() == 3;
    match name {
        "BTC-PERPETUAL" => (Kind::Perpetual, d("0.5"), d("10")),
        "ETH-PERPETUAL" => (Kind::Perpetual, d("0.05"), d("1")),
        // Assumed grids (not in any captured get_instruments): price ticks fit the frames.
        "LINK_USDC-PERPETUAL" => (Kind::Perpetual, d("0.001"), d("0.1")),
        "MATIC_USDC-9MAR24-1d02-C" => (Kind::Option, d("0.0001"), d("1")),
        n if n.starts_with("BTC-") && opt => (Kind::Option, d("0.0005"), d("0.1")),
        n if n.starts_with("ETH-") && opt => (Kind::Option, d("0.0005"), d("1")),
        n if n.starts_with("BTC-") => (Kind::Future, d("0.5"), d("10")),
        n if n.starts_with("ETH-") => (Kind::Future, d("0.05"), d("1")),
        n => panic!("no grid for {n}"),
    }
}

/// A table of the given names with [`grid_for`] grids.
pub fn table_of(names: &[&str]) -> Arc<InstrumentTable> {
    let mut t = InstrumentTable::new();
    for n in names {
        let (k, tick, lot) = grid_for(n);
        t.push(Instrument::new(n, k, tick, lot))
            .expect("unique names");
    }
    Arc::new(t)
}

/// Every instrument the single-message files mention (combos deliberately left out).
pub const MESSAGE_INSTRUMENTS: &[&str] = &[
    "BTC-PERPETUAL",
    "ETH-PERPETUAL",
    "BTC-26MAR21",
    "BTC-25JUN21",
    "BTC-30SEP22",
    "BTC-8JUN20-8750-P",
    "BTC-5JUN20-9250-C",
    "BTC-26MAR21-62000-C",
    "BTC-11JUN21-25000-P",
    "BTC-30SEP22-60000-C",
    "BTC-2APR20-7125-P",
    "ETH-5JUN20-310-P",
    "ETH-10JUN20-270-C",
    "ETH-10SEP21-3350-P",
    "LINK_USDC-PERPETUAL",
    "MATIC_USDC-9MAR24-1d02-C",
];

pub fn message_table() -> Arc<InstrumentTable> {
    table_of(MESSAGE_INSTRUMENTS)
}

/// Decodes one frame and collects its events.
pub fn feed(dec: &mut MdDecoder, frame: &str) -> (Result<Frame, DecodeError>, Vec<MdEvent>) {
    let mut evs = Vec::new();
    let r = dec.decode(frame.as_bytes(), 42, &mut |e| evs.push(e));
    (r, evs)
}

/// A minimal snapshot frame for `channel` with `change_id`, to put a book in sequence before
/// a real change message.
pub fn empty_snapshot(channel: &str, change_id: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"{channel}","data":{{"type":"snapshot","timestamp":1,"change_id":{change_id},"bids":[],"asks":[]}}}}}}"#
    )
}

/// `(kind, side, price, qty, seq)` of events, for compact assertions.
pub fn brief(
    evs: &[MdEvent],
) -> Vec<(mm_core::event::MdKind, mm_core::types::Side, i64, i64, u64)> {
    evs.iter()
        .map(|e| (e.kind, e.side, e.price, e.qty, e.seq))
        .collect()
}
