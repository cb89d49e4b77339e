//! Deribit JSON-RPC v2: codec, instruments, connection loops.
//!
//! Codec modules (all decoding is done in place over the received bytes, see
//! `../shared/docs/deribit/protocol.md` — "the dossier" — for the wire format):
//! - [`json`]: our allocation-free JSON scanner (the hot path's decoder is ours);
//! - [`md`]: market-data frames → [`mm_core::event::MdEvent`]s (books with `change_id` gap
//!   detection, tickers, trades), dossier §4;
//! - [`private`]: order-connection frames (RPC replies, `user.orders`, `user.trades`) as
//!   borrowed views, dossier §5;
//! - [`encode`]: JSON-RPC request frames written into a preallocated buffer, dossier §1.2, §5;
//! - [`instruments`]: `public/get_instruments` ⇄ [`mm_core::instrument::Instrument`], dossier §6.

pub mod backoff;
pub mod credits;
pub mod encode;
pub mod errors;
pub mod instruments;
pub mod journal;
pub mod json;
pub mod md;
pub mod private;
pub mod reconcile;
pub mod session;
pub mod throttle;

use mm_core::types::InstrumentId;

/// A frame (or metadata document) that could not be decoded.
///
/// Cheap to create and `Copy`: no allocation on the error path of the hot loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// What was wrong.
    pub what: &'static str,
    /// Byte offset in the frame where it was detected.
    pub at: usize,
    /// Set by [`md::MdDecoder`] when the broken frame was a book frame of a known instrument:
    /// that book is now untrusted and awaits a new snapshot, so the caller must re-subscribe
    /// its book channel exactly as for [`md::Frame::Gap`].
    pub resync: Option<InstrumentId>,
}

impl DecodeError {
    /// An error without a resync request.
    pub const fn new(what: &'static str, at: usize) -> Self {
        DecodeError {
            what,
            at,
            resync: None,
        }
    }
}

impl From<json::JsonError> for DecodeError {
    fn from(e: json::JsonError) -> Self {
        DecodeError::new(e.what, e.at)
    }
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "deribit decode error: {} (at byte {})",
            self.what, self.at
        )?;
        if let Some(i) = self.resync {
            write!(f, "; book of instrument {i} needs a resync")?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

pub mod feed;
pub mod gateway;
pub mod mass_quote;
pub mod mmp;

/// Test fixture: the recorded data directory (`MM_DATA_DIR`, else `../shared/data` beside
/// the workspace).
#[cfg(test)]
pub(crate) fn test_data_dir() -> std::path::PathBuf {
    std::env::var_os("MM_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"))
        })
}

/// Test fixture: the recorded private-channel frames (roq capture), one per line.
///
/// # Panics
/// If the capture cannot be read.
#[cfg(test)]
pub(crate) fn test_user_frames() -> Vec<Vec<u8>> {
    let p = test_data_dir().join("deribit/messages/roq-deribit-user-channels.jsonl");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    text.lines().map(|l| l.as_bytes().to_vec()).collect()
}

/// Test fixture: calls `f` with every copy of `frame` in which one bracket, quote or comma
/// is replaced by one of the others (structural damage for fast-vs-general path tests).
#[cfg(test)]
pub(crate) fn for_each_damaged_copy(frame: &[u8], mut f: impl FnMut(&[u8])) {
    const STRUCTURAL: &[u8] = b"{}[]\",";
    for (i, &b) in frame.iter().enumerate() {
        if !STRUCTURAL.contains(&b) {
            continue;
        }
        for &r in STRUCTURAL {
            if r != b {
                let mut g = frame.to_vec();
                g[i] = r;
                f(&g);
            }
        }
    }
}

/// Test fixture: `n` BTC calls (`BTC-{i}JUN21-{1000·i}-C`, tick 0.0005, lot 0.1) in a new
/// table, ids 0..n.
#[cfg(test)]
pub(crate) fn test_option_table(n: usize) -> mm_core::instrument::InstrumentTable {
    use mm_core::decimal::Dec;
    use mm_core::instrument::{Instrument, InstrumentTable, Kind};
    let mut t = InstrumentTable::new();
    for i in 0..n {
        let name = format!("BTC-{i}JUN21-{}-C", 1000 * i);
        t.push(Instrument::new(
            &name,
            Kind::Option,
            Dec::new(5, 4),
            Dec::new(1, 1),
        ))
        .unwrap();
    }
    t
}
