//! # mm-bench
//!
//! Benchmarks on recorded data (`../shared/data`, or `MM_DATA_DIR`), and the workloads they
//! share. Timing claims live here, never in tests.
//!
//! Every workload is built up front, outside any measured region, by the loaders of this
//! crate, so the criterion benches (`benches/*.rs`), the `compare` binary (one table of
//! medians, ours vs peer crates) and the `hotstep` driver (deterministic instruction counts
//! under callgrind) all measure the same inputs:
//!
//! - [`depth`]: level updates of real books (Binance USD-M depth stream, Deribit tardis
//!   minute), as integer ticks/lots for our book and as `f64` for hftbacktest.
//! - [`deribit`]: real Deribit frames (cryptofeed captures, private `user.*` notifications)
//!   with their instrument tables, and (once the simulator re-hosts Binance tapes) Binance
//!   book diffs rendered in Deribit protocol.
//! - [`books`]: our book and hftbacktest's depths behind one reset/apply interface.
//! - [`decode`]: the decode corpus by frame kind and our decoders behind one call.
//! - [`hot`]: the hot step (engine `on_md` with null sinks) and the two `#[inline(never)]`
//!   functions callgrind counts.
//! - [`ring`]: hop latency (ping-pong RTT/2) and throughput of our ring vs rtrb and
//!   crossbeam `ArrayQueue`.
//! - [`timing`]: median-of-batches timing and machine info for `compare`.
//! - `peers` (feature `peers`): the peer decoders (serde_json, simd-json, sonic-rs) that
//!   extract the same fields as our decoder.

pub mod books;
pub mod decode;
pub mod depth;
pub mod deribit;
pub mod hot;
#[cfg(feature = "peers")]
pub mod peers;
pub mod ring;
pub mod timing;

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
    let s = depth::tardis_btc_perpetual();
    let lv = |v: &[depth::Level]| v.iter().map(|l| (l.side, l.px, l.qty)).collect();
    (lv(&s.snapshot), lv(&s.changes))
}
