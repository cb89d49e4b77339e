//! Tape readers: recorded market data → a time-ordered stream of [`TapeEvent`]s.
//!
//! Formats (see `shared/data/README.md`), detected from the content:
//! - [`cryptofeed`]: raw Deribit WebSocket captures (`<ts>: <payload>` lines). The recorded
//!   notification `data` text is kept so the simulator can forward it byte for byte.
//! - [`tardis`]: tardis.dev *normalized* JSONL (`book_change` with `isSnapshot`, `trade`); it has
//!   no `change_id`, so ids are synthesized from one global counter that jumps by a varying
//!   step (Deribit's `change_id` is global, not +1 per book; dossier §4.1).
//! - [`binance`]: Binance USD-M collector files (`<local_ts> <combined-stream json>` plus a
//!   REST depth snapshot), re-hosted as Deribit-protocol linear perpetuals
//!   (`BTC_USDT-PERPETUAL`); depth diffs become Deribit changes with `change_id = u`. Several
//!   consecutive files of a symbol (day 1, day 2) load as one tape with [`load_many`].
//!
//! Files ending in `.gz` are decompressed with `flate2`. Prices and amounts are kept as exact
//! [`Dec`]s parsed from their text.

pub mod binance;
pub mod cryptofeed;
pub mod tardis;

use mm_core::decimal::Dec;
use mm_core::types::Side;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Book row action (`new` / `change` / `delete`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A level appears.
    New,
    /// A level's total changes.
    Change,
    /// A level disappears (amount 0).
    Delete,
}

impl Action {
    /// Deribit's word for the action.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::New => "new",
            Action::Change => "change",
            Action::Delete => "delete",
        }
    }
}

/// One `[action, price, amount]` row; `amount` is the level's new total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    /// new/change/delete.
    pub action: Action,
    /// Level price, exact.
    pub price: Dec,
    /// New total amount at the level (0 for delete), exact.
    pub amount: Dec,
}

/// A book notification (`book.{instrument}.raw` data).
#[derive(Clone, Debug)]
pub struct BookUpdate {
    /// `type == "snapshot"` (or no `prev_change_id`).
    pub snapshot: bool,
    /// Exchange timestamp, ms.
    pub timestamp_ms: u64,
    /// `change_id` (recorded, or synthesized for tardis).
    pub change_id: u64,
    /// `prev_change_id` (absent on snapshots).
    pub prev_change_id: Option<u64>,
    /// Bid rows.
    pub bids: Vec<Row>,
    /// Ask rows.
    pub asks: Vec<Row>,
}

/// A ticker notification; only the fields the simulator uses are parsed.
#[derive(Clone, Debug, Default)]
pub struct TickerUpdate {
    /// Exchange timestamp, ms.
    pub timestamp_ms: u64,
    /// `mark_price`.
    pub mark_price: Option<Dec>,
    /// `index_price`.
    pub index_price: Option<Dec>,
    /// `best_bid_price`.
    pub best_bid_price: Option<Dec>,
    /// `best_ask_price`.
    pub best_ask_price: Option<Dec>,
}

/// One public trade.
#[derive(Clone, Debug)]
pub struct PublicTrade {
    /// `trade_id` (string).
    pub trade_id: String,
    /// `trade_seq` if recorded.
    pub trade_seq: Option<u64>,
    /// Exchange timestamp, ms.
    pub timestamp_ms: u64,
    /// Price, exact.
    pub price: Dec,
    /// Amount, exact.
    pub amount: Dec,
    /// Taker side (`direction`).
    pub taker: Side,
}

/// What a tape event carries.
#[derive(Clone, Debug)]
pub enum TapeBody {
    /// Book snapshot or change.
    Book(BookUpdate),
    /// Ticker.
    Ticker(TickerUpdate),
    /// Public trades (one notification = an array).
    Trades(Vec<PublicTrade>),
}

/// One recorded market-data event.
#[derive(Clone, Debug)]
pub struct TapeEvent {
    /// Tape time in ns since the Unix epoch (the recorder's receive time).
    pub ts_ns: u64,
    /// Instrument name.
    pub instrument: String,
    /// The event.
    pub body: TapeBody,
    /// The recorded notification `data` JSON text, when the tape holds Deribit frames
    /// (forwarded byte for byte); `None` for synthesized events.
    pub raw_data: Option<String>,
}

/// Tape file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TapeFormat {
    /// cryptofeed raw Deribit WebSocket capture.
    Cryptofeed,
    /// tardis.dev normalized JSONL (book_change + trade).
    TardisNormalized,
    /// Binance USD-M collector lines (`<local_ts> <json>`), re-hosted as Deribit linear
    /// perpetuals ([`binance`]).
    Binance,
}

/// A loaded tape.
#[derive(Clone, Debug)]
pub struct Tape {
    /// Where it came from.
    pub path: PathBuf,
    /// Detected format.
    pub format: TapeFormat,
    /// Events in time order (ties keep file order).
    pub events: Vec<TapeEvent>,
    /// Lines skipped (client frames, replies, unknown channels, blank lines).
    pub skipped_lines: usize,
}

impl Tape {
    /// Tape time of the first event (0 if empty).
    pub fn start_ns(&self) -> u64 {
        self.events.first().map_or(0, |e| e.ts_ns)
    }

    /// Distinct instrument names in order of first appearance.
    pub fn instruments(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for e in &self.events {
            if seen.insert(e.instrument.as_str()) {
                out.push(e.instrument.clone());
            }
        }
        out
    }

    /// Number of book notifications (snapshots + changes) on the tape.
    pub fn book_events(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e.body, TapeBody::Book(_)))
            .count()
    }
}

/// Reads a whole file as text, decompressing `.gz`.
pub fn read_text(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if path.extension().is_some_and(|x| x == "gz") {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .map_err(|e| format!("{}: gzip: {e}", path.display()))?;
        Ok(s)
    } else {
        String::from_utf8(bytes).map_err(|e| format!("{}: not UTF-8: {e}", path.display()))
    }
}

/// Detects the format from the first non-blank line.
pub fn detect(text: &str) -> Option<TapeFormat> {
    let first = text.lines().find(|l| !l.trim().is_empty())?;
    if binance::looks_like(first) {
        return Some(TapeFormat::Binance);
    }
    if first.starts_with("configuration:")
        || first.starts_with("wss://")
        || first.starts_with("ws://")
        || first
            .split_once(": ")
            .is_some_and(|(ts, p)| ts.parse::<f64>().is_ok() && p.starts_with('{'))
    {
        return Some(TapeFormat::Cryptofeed);
    }
    if first.starts_with('{') && first.contains("\"type\"") {
        return Some(TapeFormat::TardisNormalized);
    }
    None
}

/// Loads and parses a tape, detecting its format.
///
/// # Errors
/// A message naming the file and the line that could not be parsed.
pub fn load(path: &Path) -> Result<Tape, String> {
    let text = read_text(path)?;
    let format =
        detect(&text).ok_or_else(|| format!("{}: unrecognised tape format", path.display()))?;
    let (mut events, skipped_lines) = match format {
        TapeFormat::Cryptofeed => cryptofeed::parse(&text),
        TapeFormat::TardisNormalized => tardis::parse(&text),
        TapeFormat::Binance => binance::parse(&text),
    }
    .map_err(|e| format!("{}: {e}", path.display()))?;
    // Stable sort: ties keep file order.
    events.sort_by_key(|e| e.ts_ns);
    Ok(Tape {
        path: path.to_path_buf(),
        format,
        events,
        skipped_lines,
    })
}

/// Loads several files as **one** tape, in the order given.
///
/// Supported for Binance collector files only ([`binance::parse_files`]): consecutive files of
/// a symbol (day 1 with its depth snapshot, then day 2 continuing the `pu`/`u` chain), and
/// files of several symbols mixed. One path behaves exactly like [`load`]. `Tape::path` is the
/// first path.
///
/// # Errors
/// No path; a file that cannot be read or whose format is not recognised; several files of
/// another format (Deribit captures and tardis files carry their own snapshot/`change_id`
/// chains per file, so concatenating them would replay broken chains: refused); or a Binance
/// parse error naming the file and line (e.g. a chain break across files).
pub fn load_many(paths: &[PathBuf]) -> Result<Tape, String> {
    match paths {
        [] => return Err("load_many: no tape file given".into()),
        [one] => return load(one),
        _ => {}
    }
    let mut texts = Vec::with_capacity(paths.len());
    for p in paths {
        let text = read_text(p)?;
        match detect(&text) {
            Some(TapeFormat::Binance) => {}
            Some(f) => {
                return Err(format!(
                    "{}: several tape files are supported for Binance collector files only \
                     (this one is {f:?}); replay it on its own",
                    p.display()
                ))
            }
            None => return Err(format!("{}: unrecognised tape format", p.display())),
        }
        texts.push((p.display().to_string(), text));
    }
    let files: Vec<(&str, &str)> = texts
        .iter()
        .map(|(l, t)| (l.as_str(), t.as_str()))
        .collect();
    let parsed = binance::parse_files(&files)?;
    log::info!(
        "mm-sim: binance tape of {} files: {:?}",
        paths.len(),
        parsed.stats
    );
    Ok(Tape {
        path: paths[0].clone(),
        format: TapeFormat::Binance,
        events: parsed.events,
        skipped_lines: parsed.skipped_lines,
    })
}

/// Parses a JSON number (or numeric string) from raw JSON text into a [`Dec`].
pub(crate) fn raw_dec(raw: &serde_json::value::RawValue) -> Option<Dec> {
    let t = raw.get().trim();
    let t = t
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(t);
    Dec::parse(t.as_bytes())
}

/// Parses an optional raw number; `null`/absent/non-numeric ⇒ `None`.
pub(crate) fn opt_raw_dec(raw: Option<&serde_json::value::RawValue>) -> Option<Dec> {
    raw.and_then(raw_dec)
}
