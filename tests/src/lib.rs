//! # mm-tests
//!
//! End-to-end tests of mm-fast: the engine against the simulator over real loopback sockets,
//! on recorded data from `../shared/data` (or `MM_DATA_DIR`). Helpers shared by the test
//! binaries live here.

use std::path::PathBuf;

/// The shared data directory: `MM_DATA_DIR`, else `<workspace>/../shared/data`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("MM_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")))
}

/// Path of a file under the data directory, as a string.
///
/// # Panics
/// If the file does not exist (the tests need the recorded data beside the repository).
pub fn data(rel: &str) -> String {
    let p = data_dir().join(rel);
    assert!(
        p.exists(),
        "recorded data missing: {} (set MM_DATA_DIR or put shared/ beside the repo)",
        p.display()
    );
    p.display().to_string()
}

/// The three Deribit tapes every end-to-end check runs on.
pub const DERIBIT_TAPES: [&str; 3] = [
    "deribit/cryptofeed-2021-04-05/ws.capture",
    "deribit/cryptofeed-2021-04-17/ws.capture",
    "deribit/tardis-2019-04-01/BTC-PERPETUAL.book_change_trades.jsonl",
];
