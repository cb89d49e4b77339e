//! Real Deribit frames, prepared up front for the decode and hot-step benches.
//!
//! - Every `deribit/cryptofeed-*/ws.capture` in the data directory: the frames *received* from
//!   Deribit (`<ts>: <json>` lines; the recording client's own requests and the
//!   `configuration:` header are left out), with the instrument table the simulator serves
//!   for that tape (`rest.capture` beside the tape where present, else derived from names and
//!   prices: `mm_venues::sim::instruments::build`).
//! - Private notifications (`user.orders`, `user.changes`, `user.trades`) from
//!   `deribit/messages/roq-deribit-user-channels.jsonl` (real frames, Dec 2025).

use crate::data_dir;
use mm_core::instrument::InstrumentTable;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a frame carries (from its channel).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FrameKind {
    /// `book.*` snapshot or change.
    Book,
    /// `ticker.*`.
    Ticker,
    /// `trades.*`.
    Trades,
    /// `user.orders.*`, `user.changes.*`, `user.trades.*` (private channels).
    User,
    /// Anything else (JSON-RPC replies, heartbeats, other channels).
    Other,
}

impl FrameKind {
    /// Short name for tables and JSON keys.
    pub fn name(self) -> &'static str {
        match self {
            FrameKind::Book => "book",
            FrameKind::Ticker => "ticker",
            FrameKind::Trades => "trades",
            FrameKind::User => "user_orders",
            FrameKind::Other => "other",
        }
    }
}

/// Classifies a frame by its `"channel"` (no channel: [`FrameKind::Other`]).
pub fn classify(frame: &[u8]) -> FrameKind {
    const KEY: &[u8] = b"\"channel\":\"";
    let Some(at) = frame.windows(KEY.len()).position(|w| w == KEY) else {
        return FrameKind::Other;
    };
    let ch = &frame[at + KEY.len()..];
    if ch.starts_with(b"book.") {
        FrameKind::Book
    } else if ch.starts_with(b"ticker.") {
        FrameKind::Ticker
    } else if ch.starts_with(b"trades.") {
        FrameKind::Trades
    } else if ch.starts_with(b"user.orders.")
        || ch.starts_with(b"user.changes.")
        || ch.starts_with(b"user.trades.")
    {
        FrameKind::User
    } else {
        FrameKind::Other
    }
}

/// One frame and its kind.
#[derive(Clone, Debug)]
pub struct Frame {
    /// What it carries.
    pub kind: FrameKind,
    /// The frame text.
    pub bytes: Vec<u8>,
}

/// A tape's received frames and its instrument table.
#[derive(Clone, Debug)]
pub struct Tape {
    /// Short name (the tape's directory name).
    pub name: String,
    /// The file it came from.
    pub path: PathBuf,
    /// Instruments the simulator serves for this tape.
    pub table: Arc<InstrumentTable>,
    /// Received frames in file order.
    pub frames: Vec<Frame>,
}

impl Tape {
    /// Total bytes of the frames.
    pub fn bytes(&self) -> usize {
        self.frames.iter().map(|f| f.bytes.len()).sum()
    }

    /// Frames of one kind.
    pub fn of_kind(&self, k: FrameKind) -> impl Iterator<Item = &Frame> {
        self.frames.iter().filter(move |f| f.kind == k)
    }
}

/// The frames received from Deribit in a cryptofeed capture (`<ts>: <json>` lines only).
pub fn capture_frames(text: &str) -> Vec<Vec<u8>> {
    text.lines()
        .filter_map(|l| {
            let (ts, json) = l.split_once(": ")?;
            (ts.parse::<f64>().is_ok() && json.starts_with('{')).then(|| json.as_bytes().to_vec())
        })
        .collect()
}

/// Paths of every `deribit/cryptofeed-*/ws.capture`, sorted.
pub fn cryptofeed_paths() -> Vec<PathBuf> {
    let dir = data_dir().join("deribit");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("cryptofeed-"))
        .map(|e| e.path().join("ws.capture"))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// The simulator's instrument table for a tape file.
///
/// # Errors
/// The tape or its `rest.capture` cannot be read or parsed.
pub fn table_for(path: &Path) -> Result<Arc<InstrumentTable>, String> {
    let tape = mm_venues::sim::tape::load(path)?;
    Ok(mm_venues::sim::instruments::build(&tape, None)?.table)
}

/// Loads one cryptofeed capture.
///
/// # Panics
/// If the file is missing or malformed.
pub fn load_capture(path: &Path) -> Tape {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let frames = capture_frames(&text)
        .into_iter()
        .map(|b| Frame {
            kind: classify(&b),
            bytes: b,
        })
        .collect();
    let name = path.parent().and_then(|p| p.file_name()).map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    Tape {
        name,
        path: path.to_path_buf(),
        table: table_for(path).unwrap_or_else(|e| panic!("{e}")),
        frames,
    }
}

/// Every cryptofeed capture of the data directory.
///
/// # Panics
/// If none is found or one is malformed.
pub fn cryptofeed_tapes() -> Vec<Tape> {
    let v: Vec<Tape> = cryptofeed_paths().iter().map(|p| load_capture(p)).collect();
    assert!(
        !v.is_empty(),
        "no deribit/cryptofeed-*/ws.capture under {}",
        data_dir().display()
    );
    v
}

/// Real private notifications (`user.orders`, `user.changes`, `user.trades`), one per line.
///
/// # Panics
/// If the file is missing.
pub fn user_frames() -> Vec<Vec<u8>> {
    let path = data_dir().join("deribit/messages/roq-deribit-user-channels.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| classify(l.as_bytes()) == FrameKind::User)
        .map(|l| l.as_bytes().to_vec())
        .collect()
}

/// The Binance USD-M tapes re-hosted in Deribit protocol, each as `(name, files)` (day 1 with
/// its depth snapshot, then day 2).
pub const BINANCE_TAPES: [(&str, [&str; 2]); 3] = [
    (
        "binance-btcusdt-2024-07-18",
        [
            "binance/usdm/btcusdt_20240718.gz",
            "binance/usdm/btcusdt_20240719.gz",
        ],
    ),
    (
        "binance-ethusdt-2024-07-18",
        [
            "binance/usdm/ethusdt_20240718.gz",
            "binance/usdm/ethusdt_20240719.gz",
        ],
    ),
    (
        "binance-btcusdt-2023-04-04",
        [
            "binance/usdm/btcusdt_20230404.dat.gz",
            "binance/usdm/btcusdt_20230405.dat.gz",
        ],
    ),
];

/// Loads a Binance tape through the simulator's reader (`mm_venues::sim::tape::load_many`:
/// synchronised to the REST snapshot, `pu` chain checked) and renders its events as the
/// Deribit frames the simulator would send: every book snapshot/change as a
/// `book.<instrument>.raw` notification (`mm_venues::sim::book::write_update_data`), every
/// trade as a `trades.<instrument>.raw` notification in Deribit's trade shape. Binance
/// `markPrice` tickers are not rendered (the simulator does not forward them either).
///
/// # Errors
/// A file is missing or malformed, or the simulator cannot re-host the symbol.
pub fn load_binance(name: &str, files: &[&str]) -> Result<Tape, String> {
    use mm_venues::sim::json::{dec, push_str_lit};
    use mm_venues::sim::tape::TapeBody;
    let paths: Vec<PathBuf> = files.iter().map(|f| data_dir().join(f)).collect();
    let tape = mm_venues::sim::tape::load_many(&paths)?;
    let table = mm_venues::sim::instruments::build(&tape, None)?.table;
    let mut frames = Vec::with_capacity(tape.events.len());
    let mut data = String::new();
    let mut seq = 0u64;
    for ev in &tape.events {
        data.clear();
        let (kind, chan) = match &ev.body {
            TapeBody::Book(u) => {
                mm_venues::sim::book::write_update_data(&ev.instrument, u, &mut data);
                (FrameKind::Book, format!("book.{}.raw", ev.instrument))
            }
            TapeBody::Trades(ts) => {
                data.push('[');
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        data.push(',');
                    }
                    seq += 1;
                    data.push_str(&format!(
                        "{{\"trade_seq\":{},\"trade_id\":",
                        t.trade_seq.unwrap_or(seq)
                    ));
                    push_str_lit(&mut data, &t.trade_id);
                    data.push_str(&format!(
                        ",\"timestamp\":{},\"tick_direction\":0,\"price\":{},\"instrument_name\":",
                        t.timestamp_ms,
                        dec(t.price)
                    ));
                    push_str_lit(&mut data, &ev.instrument);
                    data.push_str(",\"direction\":");
                    push_str_lit(&mut data, t.taker.direction());
                    data.push_str(&format!(",\"amount\":{}}}", dec(t.amount)));
                }
                data.push(']');
                (FrameKind::Trades, format!("trades.{}.raw", ev.instrument))
            }
            TapeBody::Ticker(_) => continue,
        };
        frames.push(Frame {
            kind,
            bytes: mm_venues::sim::exchange::frame(&chan, &data, None).into_bytes(),
        });
    }
    Ok(Tape {
        name: name.to_owned(),
        path: paths[0].clone(),
        table,
        frames,
    })
}

/// Every Binance tape of [`BINANCE_TAPES`] re-hosted in Deribit protocol.
///
/// # Panics
/// If one fails to load.
pub fn binance_tapes() -> Vec<Tape> {
    BINANCE_TAPES
        .iter()
        .map(|(n, f)| load_binance(n, f).unwrap_or_else(|e| panic!("{n}: {e}")))
        .collect()
}

/// Real `trades.*` notifications (the cryptofeed captures hold none): the single messages of
/// `deribit/messages/{crypto-msg-parser,tardis-node}.jsonl` and
/// `deribit/messages/nautilus/ws_trades.json` (pretty-printed upstream; re-serialised compactly
/// with `serde_json`, values unchanged), with an instrument table derived from their names and
/// prices (`mm_venues::sim::instruments::derive`).
///
/// # Panics
/// If the files are missing or malformed.
pub fn message_trades() -> Tape {
    use mm_core::decimal::Dec;
    use std::collections::BTreeMap;
    let dir = data_dir().join("deribit/messages");
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for f in ["crypto-msg-parser.jsonl", "tardis-node.jsonl"] {
        let p = dir.join(f);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        frames.extend(
            text.lines()
                .filter(|l| classify(l.as_bytes()) == FrameKind::Trades)
                .map(|l| l.as_bytes().to_vec()),
        );
    }
    let p = dir.join("nautilus/ws_trades.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let v: serde_json::Value = serde_json::from_str(&text).expect("ws_trades.json");
    frames.push(serde_json::to_vec(&v).expect("json"));
    // Instruments and their prices, for the derived table.
    let mut prices: BTreeMap<String, Vec<Dec>> = BTreeMap::new();
    for f in &frames {
        let v: serde_json::Value = serde_json::from_slice(f).expect("trades frame");
        for t in v["params"]["data"].as_array().into_iter().flatten() {
            let name = t["instrument_name"].as_str().unwrap_or_default().to_owned();
            let px = Dec::parse(t["price"].to_string().as_bytes()).expect("price");
            prices.entry(name).or_default().push(px);
        }
    }
    let mut table = InstrumentTable::new();
    for (name, px) in &prices {
        let (inst, _, _) = mm_venues::sim::instruments::derive(name, px);
        table.push(inst).expect("instrument");
    }
    Tape {
        name: "messages-trades".into(),
        path: p,
        table: Arc::new(table),
        frames: frames
            .into_iter()
            .map(|b| Frame {
                kind: FrameKind::Trades,
                bytes: b,
            })
            .collect(),
    }
}
