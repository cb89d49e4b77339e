//! The fill journal: an append-only file, one JSON line per fill of ours, written by the
//! gateway thread **before** the fill is handed to the engine (issue 4, item 7).
//!
//! A fill the engine acted on is therefore always in the journal: each line is one `write(2)`
//! straight into the OS page cache (no user-space buffer), which survives the process being
//! killed (SIGKILL, a panic, OOM). It does not survive a power loss or a kernel crash; with
//! `fsync` ([`FillJournal::open`], `--journal-fsync`) each line is followed by
//! `fdatasync(2)`, which does, at the price of a disk flush per fill (the `journal` bench
//! measures both). Either way, fills the journal lacks are recovered from the venue's trade
//! history on the next start (`private/get_user_trades_by_currency`), so the journal is what
//! makes a restart exact and cheap, the venue what makes it complete.
//!
//! # Format (version [`JOURNAL_VERSION`])
//!
//! Every line is a JSON object with a `type`:
//! - `header` (first line, once): `version`, `endpoint` (the venue URL), `account` (the API
//!   key's client id; never the secret), `created_ms`. A journal is only reused by a run
//!   against the same endpoint and account.
//! - `start`: a run started; `client_id_base` is the first client id it may use (runs use
//!   disjoint blocks of [`CLIENT_ID_BLOCK`] ids, so labels `mmf-<id>` never repeat, even for
//!   orders that never filled), `t_ms` the wall-clock time, `trades_from` the venue's newest
//!   trade id per currency when the run started trading (the account's earlier history —
//!   e.g. from before the journal existed — is never taken for fills the journal missed).
//! - `fill`: `trade_id`, `instrument`, `label`, `client_id` (from the label), `side`
//!   (`buy`/`sell`), `price` (venue price, quote currency) and `price_ticks`, `amount` (venue
//!   amount unit: USD for inverse futures, coin otherwise) and `lots`, `fee` (negative =
//!   rebate) and `fee_currency`, `maker`, `timestamp_ms` (venue trade time, ms since the
//!   epoch). Prices, amounts and fees are written as exact decimals.
//!
//! # Reading
//!
//! A last line without its newline is what a kill in the middle of a write leaves: it is
//! ignored with a warning (the engine never saw that fill — the line is written before the
//! fill is passed on — and the venue's history restores it) and cut off before the next
//! append. Any other line that does not parse is an error naming the file and line number:
//! the journal is damaged and a person has to look at it.

use crate::deribit::private::TradeView;
use mm_core::decimal::Dec;
use mm_core::types::{ClientId, Side};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Format version written in the header; a journal of another version is refused.
pub const JOURNAL_VERSION: u32 = 1;

/// Client ids reserved per run: run *k* uses ids from its `client_id_base`, a multiple of
/// this (2³²), so no run reaches the next run's ids.
pub const CLIENT_ID_BLOCK: u64 = 1 << 32;

/// The header of a journal: which venue and account its fills belong to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalHeader {
    /// Format version ([`JOURNAL_VERSION`]).
    pub version: u32,
    /// Venue endpoint URL (`wss://www.deribit.com/ws/api/v2`, …).
    pub endpoint: String,
    /// Account: the API key's client id.
    pub account: String,
    /// Creation time, ms since the epoch.
    pub created_ms: u64,
}

/// One journaled fill (a `fill` line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalFill {
    /// Venue trade id (the deduplication key).
    pub trade_id: String,
    /// Instrument name.
    pub instrument: String,
    /// The order's label (`mmf-<client id>`).
    pub label: String,
    /// Our client id (from the label).
    pub client_id: ClientId,
    /// Our side.
    pub side: Side,
    /// Fill price, venue units (quote currency).
    pub price: Dec,
    /// Fill price in ticks of the instrument.
    pub price_ticks: i64,
    /// Fill size, venue amount unit.
    pub amount: Dec,
    /// Fill size in lots.
    pub lots: i64,
    /// Fee in `fee_currency` (negative = rebate).
    pub fee: Dec,
    /// Currency of the fee.
    pub fee_currency: String,
    /// True when we were the maker.
    pub maker: bool,
    /// Venue trade time, ms since the epoch.
    pub timestamp_ms: u64,
}

/// What a journal file holds.
#[derive(Clone, Debug, Default)]
pub struct JournalContents {
    /// The header (`None` for an empty or missing file).
    pub header: Option<JournalHeader>,
    /// The fills in file order, each trade id once.
    pub fills: Vec<JournalFill>,
    /// Lines repeating a trade id already read (ignored).
    pub duplicates: u64,
    /// The largest `client_id_base` of the `start` lines (0 if none).
    pub max_client_id_base: u64,
    /// Runs recorded (`start` lines).
    pub starts: u64,
    /// The newest `trades_from` trade id per currency over the `start` lines.
    pub trades_from: BTreeMap<String, String>,
    /// Bytes of an unterminated last line that was ignored (0 = none).
    pub truncated_tail: usize,
    /// Length of the complete lines (where the next append goes).
    pub complete_len: u64,
}

impl JournalContents {
    /// The largest client id in the journal: of the fills and of the runs' id blocks (0 if
    /// none).
    pub fn max_client_id(&self) -> u64 {
        let fills = self.fills.iter().map(|f| f.client_id).max().unwrap_or(0);
        fills.max(self.max_client_id_base)
    }
}

#[derive(Deserialize)]
struct TypeOf<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
}

#[derive(Deserialize)]
struct HeaderLine {
    version: u32,
    endpoint: String,
    account: String,
    created_ms: u64,
}

#[derive(Deserialize)]
struct StartLine {
    client_id_base: u64,
    #[serde(default)]
    trades_from: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct FillLine<'a> {
    trade_id: String,
    instrument: String,
    label: String,
    client_id: ClientId,
    side: String,
    #[serde(borrow)]
    price: &'a RawValue,
    price_ticks: i64,
    #[serde(borrow)]
    amount: &'a RawValue,
    lots: i64,
    #[serde(borrow)]
    fee: &'a RawValue,
    fee_currency: String,
    maker: bool,
    timestamp_ms: u64,
}

fn dec_of(v: &RawValue, what: &str) -> Result<Dec, String> {
    Dec::parse(v.get().as_bytes()).ok_or_else(|| format!("{what} {} is not a decimal", v.get()))
}

/// Parses a journal's bytes (see the module docs for the rules).
///
/// # Errors
/// A complete line that is not a journal line, a header that is not the first line, or a
/// fill before the header: the message names the 1-based line number.
pub fn parse_journal(bytes: &[u8]) -> Result<JournalContents, String> {
    let mut out = JournalContents::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut pos = 0usize;
    let mut n = 0usize;
    while pos < bytes.len() {
        n += 1;
        let Some(len) = bytes[pos..].iter().position(|&b| b == b'\n') else {
            out.truncated_tail = bytes.len() - pos;
            log::warn!(
                "fill journal: line {n} is unterminated ({} bytes, a write cut short by a \
                 kill): ignored",
                out.truncated_tail
            );
            break;
        };
        let line = &bytes[pos..pos + len];
        pos += len + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let kind: TypeOf<'_> =
            serde_json::from_slice(line).map_err(|e| format!("line {n}: {e}"))?;
        let bad = |e: serde_json::Error| format!("line {n}: {e}");
        match kind.kind {
            "header" => {
                let HeaderLine {
                    version,
                    endpoint,
                    account,
                    created_ms,
                } = serde_json::from_slice(line).map_err(bad)?;
                if out.header.is_some() || !out.fills.is_empty() {
                    return Err(format!("line {n}: a second header"));
                }
                if version != JOURNAL_VERSION {
                    return Err(format!(
                        "line {n}: journal format version {version}, this build reads \
                         {JOURNAL_VERSION}"
                    ));
                }
                out.header = Some(JournalHeader {
                    version,
                    endpoint,
                    account,
                    created_ms,
                });
            }
            "start" => {
                let StartLine {
                    client_id_base,
                    trades_from,
                } = serde_json::from_slice(line).map_err(bad)?;
                out.starts += 1;
                out.max_client_id_base = out.max_client_id_base.max(client_id_base);
                for (cur, id) in trades_from {
                    let newer = out
                        .trades_from
                        .get(&cur)
                        .is_none_or(|old| trade_num(old) < trade_num(&id));
                    if newer {
                        out.trades_from.insert(cur, id);
                    }
                }
            }
            "fill" => {
                let FillLine {
                    trade_id,
                    instrument,
                    label,
                    client_id,
                    side,
                    price,
                    price_ticks,
                    amount,
                    lots,
                    fee,
                    fee_currency,
                    maker,
                    timestamp_ms,
                } = serde_json::from_slice(line).map_err(bad)?;
                if out.header.is_none() {
                    return Err(format!("line {n}: a fill before the header"));
                }
                let side = match side.as_str() {
                    "buy" => Side::Bid,
                    "sell" => Side::Ask,
                    s => return Err(format!("line {n}: side {s:?} is not buy or sell")),
                };
                let f = JournalFill {
                    price: dec_of(price, "price").map_err(|e| format!("line {n}: {e}"))?,
                    amount: dec_of(amount, "amount").map_err(|e| format!("line {n}: {e}"))?,
                    fee: dec_of(fee, "fee").map_err(|e| format!("line {n}: {e}"))?,
                    trade_id,
                    instrument,
                    label,
                    client_id,
                    side,
                    price_ticks,
                    lots,
                    fee_currency,
                    maker,
                    timestamp_ms,
                };
                if lots <= 0 {
                    return Err(format!("line {n}: lots {lots} must be > 0"));
                }
                if seen.insert(f.trade_id.clone()) {
                    out.fills.push(f);
                } else {
                    out.duplicates += 1;
                }
            }
            other => return Err(format!("line {n}: unknown line type {other:?}")),
        }
    }
    out.complete_len = (bytes.len() - out.truncated_tail) as u64;
    Ok(out)
}

/// Reads a journal file; a missing file is an empty journal.
///
/// # Errors
/// The file cannot be read, or [`parse_journal`] fails (the message names the file).
pub fn read_journal(path: &Path) -> Result<JournalContents, String> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes)
                .map_err(|e| format!("fill journal {}: {e}", path.display()))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("fill journal {}: {e}", path.display())),
    }
    parse_journal(&bytes).map_err(|e| format!("fill journal {}: {e}", path.display()))
}

/// The writer: owned by the gateway thread ([`crate::deribit::gateway::OrderSession`] writes
/// each new fill of ours before reporting it).
#[derive(Debug)]
pub struct FillJournal {
    file: File,
    path: PathBuf,
    fsync: bool,
    buf: Vec<u8>,
    /// `(currency, trade id)` of the trades an order session given this journal must treat
    /// as already seen (the journal's fills, the start's `trades_from`, recovered trades):
    /// set by the start-up code, taken by
    /// [`crate::deribit::gateway::OrderSession::with_journal`].
    pub seed: Vec<(String, String)>,
    /// Fill lines appended by this process.
    pub appended: u64,
}

/// Milliseconds since the epoch (wall clock).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl FillJournal {
    /// Opens (creating it if needed) the journal at `path` for a run against `endpoint` with
    /// the API key `account`, and returns it with what it already held. A new or empty file
    /// gets the header; an unterminated last line is cut off. With `fsync`, every appended
    /// line is followed by `fdatasync` (see the module docs).
    ///
    /// # Errors
    /// The file cannot be read, parsed ([`parse_journal`]), truncated or opened for append;
    /// or its header names another endpoint or account (the message names both).
    pub fn open(
        path: &Path,
        endpoint: &str,
        account: &str,
        fsync: bool,
    ) -> Result<(FillJournal, JournalContents), String> {
        let contents = read_journal(path)?;
        let err = |e: std::io::Error| format!("fill journal {}: {e}", path.display());
        if let Some(h) = &contents.header {
            if h.endpoint != endpoint || h.account != account {
                return Err(format!(
                    "fill journal {} belongs to endpoint {} account {}, this run is endpoint \
                     {endpoint} account {account}: use another --journal path",
                    path.display(),
                    h.endpoint,
                    h.account
                ));
            }
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(err)?;
        if contents.truncated_tail > 0 {
            file.set_len(contents.complete_len).map_err(err)?;
        }
        let mut j = FillJournal {
            file,
            path: path.to_path_buf(),
            fsync,
            buf: Vec::with_capacity(512),
            seed: Vec::new(),
            appended: 0,
        };
        if contents.header.is_none() {
            let line = serde_json::json!({
                "type": "header",
                "version": JOURNAL_VERSION,
                "endpoint": endpoint,
                "account": account,
                "created_ms": now_ms(),
            });
            j.write_line(line.to_string().as_bytes()).map_err(err)?;
            if !fsync {
                // The header is written once: make the file's existence durable.
                j.file.sync_all().map_err(err)?;
            }
        }
        Ok((j, contents))
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records that a run starts using client ids from `client_id_base`, with the venue's
    /// newest trade id per currency `trades_from`.
    ///
    /// # Errors
    /// The write (or `fdatasync`) failed.
    pub fn append_start(
        &mut self,
        client_id_base: u64,
        trades_from: &BTreeMap<String, String>,
    ) -> std::io::Result<()> {
        let line = serde_json::json!({
            "type": "start",
            "client_id_base": client_id_base,
            "t_ms": now_ms(),
            "trades_from": trades_from,
        });
        self.write_line(line.to_string().as_bytes())
    }

    /// Appends one fill of ours: `t` as the venue reported it, `client_id` from its label,
    /// `price_ticks` and `lots` as the engine books it. One `write(2)` of the whole line (then
    /// `fdatasync` with `fsync`); the line buffer is reused (no allocation once warm).
    ///
    /// # Errors
    /// The write (or `fdatasync`) failed: the fill is not durable; the caller must stop
    /// trading.
    pub fn append_fill(
        &mut self,
        t: &TradeView<'_>,
        client_id: ClientId,
        price_ticks: i64,
        lots: i64,
    ) -> std::io::Result<()> {
        let b = &mut self.buf;
        b.clear();
        b.extend_from_slice(b"{\"type\":\"fill\",\"trade_id\":");
        json_str(b, t.trade_id);
        b.extend_from_slice(b",\"instrument\":");
        json_str(b, t.instrument_name);
        b.extend_from_slice(b",\"label\":");
        json_str(b, t.label);
        let _ = write!(
            b,
            ",\"client_id\":{client_id},\"side\":\"{}\",\"price\":",
            match t.side {
                Side::Bid => "buy",
                Side::Ask => "sell",
            }
        );
        json_dec(b, t.price);
        let _ = write!(b, ",\"price_ticks\":{price_ticks},\"amount\":");
        json_dec(b, t.amount);
        let _ = write!(b, ",\"lots\":{lots},\"fee\":");
        json_dec(b, t.fee);
        b.extend_from_slice(b",\"fee_currency\":");
        json_str(b, t.fee_currency);
        let _ = write!(
            b,
            ",\"maker\":{},\"timestamp_ms\":{}}}",
            t.maker, t.timestamp_ms
        );
        self.write_buf()?;
        self.appended += 1;
        Ok(())
    }

    /// Writes `line` + `\n` with one `write_all` (then `fdatasync` with `fsync`).
    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.buf.clear();
        self.buf.extend_from_slice(line);
        self.write_buf()
    }

    /// Writes the line buffer + `\n` with one `write_all` (then `fdatasync` with `fsync`).
    fn write_buf(&mut self) -> std::io::Result<()> {
        self.buf.push(b'\n');
        self.file.write_all(&self.buf)?;
        if self.fsync {
            self.file.sync_data()?;
        }
        Ok(())
    }
}

pub use crate::deribit::reconcile::trade_num;

/// Writes a venue string (raw JSON string content, escapes kept as received) as a JSON
/// string; control bytes, which valid JSON cannot hold raw, become spaces.
fn json_str(b: &mut Vec<u8>, s: &str) {
    b.push(b'"');
    b.extend(s.bytes().map(|c| if c < 0x20 { b' ' } else { c }));
    b.push(b'"');
}

/// Writes a decimal exactly (plain notation).
fn json_dec(b: &mut Vec<u8>, d: Dec) {
    let mut tmp = [0u8; 48];
    let n = d.write_times(1, &mut tmp);
    b.extend_from_slice(&tmp[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deribit::private::TradesView;

    const TRADE: &str = r#"[{"trade_id":"ETH-17","order_id":"o1","label":"mmf-42","instrument_name":"BTC-PERPETUAL","direction":"sell","price":4092.25,"amount":10,"fee":-0.0000001,"fee_currency":"BTC","liquidity":"M","timestamp":1554076800123,"trade_seq":5}]"#;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mm-journal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&d);
        d
    }

    fn write_one(j: &mut FillJournal, json: &str) {
        let v = TradesView::new(json.as_bytes());
        for t in v.iter() {
            let t = t.expect("trade decodes");
            j.append_fill(&t, 42, 16369, 1).expect("append");
        }
    }

    #[test]
    fn round_trip_exact_and_deduplicated() {
        let p = tmp("rt");
        let (mut j, c) = FillJournal::open(&p, "ws://x", "acct", false).expect("open");
        assert!(c.fills.is_empty() && c.header.is_none());
        let from = BTreeMap::from([("BTC".to_string(), "ETH-9".to_string())]);
        j.append_start(CLIENT_ID_BLOCK, &from).expect("start");
        write_one(&mut j, TRADE);
        write_one(&mut j, TRADE); // a repeated line is read once
        drop(j);
        let c = read_journal(&p).expect("read");
        let h = c.header.as_ref().expect("header");
        assert_eq!(
            (h.endpoint.as_str(), h.account.as_str()),
            ("ws://x", "acct")
        );
        assert_eq!(c.fills.len(), 1);
        assert_eq!(c.duplicates, 1);
        let f = &c.fills[0];
        assert_eq!(f.trade_id, "ETH-17");
        assert_eq!(f.instrument, "BTC-PERPETUAL");
        assert_eq!(f.label, "mmf-42");
        assert_eq!(
            (f.client_id, f.side, f.price_ticks, f.lots),
            (42, Side::Ask, 16369, 1)
        );
        assert_eq!(f.price, Dec::new(409225, 2));
        assert_eq!(f.amount, Dec::new(10, 0));
        assert_eq!(f.fee, Dec::new(-1, 7));
        assert_eq!((f.fee_currency.as_str(), f.maker), ("BTC", true));
        assert_eq!(f.timestamp_ms, 1554076800123);
        assert_eq!(c.max_client_id(), CLIENT_ID_BLOCK);
        assert_eq!(c.trades_from, from);
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn truncated_last_line_is_ignored_and_cut_off() {
        let p = tmp("trunc");
        let (mut j, _) = FillJournal::open(&p, "ws://x", "acct", false).expect("open");
        write_one(&mut j, TRADE);
        drop(j);
        // A kill in the middle of the next line's write.
        let full = std::fs::read(&p).expect("read");
        let mut cut = full.clone();
        cut.extend_from_slice(br#"{"type":"fill","trade_id":"ETH-18","instr"#);
        std::fs::write(&p, &cut).expect("write");
        let c = read_journal(&p).expect("a truncated last line is not an error");
        assert_eq!(c.fills.len(), 1);
        assert_eq!(c.truncated_tail, cut.len() - full.len());
        // Reopening cuts the partial line off, so the next line starts on its own line.
        let (mut j, c2) = FillJournal::open(&p, "ws://x", "acct", false).expect("reopen");
        assert_eq!(c2.fills.len(), 1);
        write_one(&mut j, &TRADE.replace("ETH-17", "ETH-19"));
        drop(j);
        let c3 = read_journal(&p).expect("read again");
        assert_eq!(c3.truncated_tail, 0);
        let ids: Vec<&str> = c3.fills.iter().map(|f| f.trade_id.as_str()).collect();
        assert_eq!(ids, ["ETH-17", "ETH-19"]);
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn corrupt_middle_line_is_an_error_naming_the_line() {
        let p = tmp("corrupt");
        let (mut j, _) = FillJournal::open(&p, "ws://x", "acct", false).expect("open");
        write_one(&mut j, TRADE);
        write_one(&mut j, &TRADE.replace("ETH-17", "ETH-18"));
        drop(j);
        let text = std::fs::read_to_string(&p).expect("read");
        let mut lines: Vec<&str> = text.lines().collect();
        lines[1] = r#"{"type":"fill","trade_id":"ETH-17","#;
        std::fs::write(&p, lines.join("\n") + "\n").expect("write");
        let e = read_journal(&p).expect_err("corrupt line 2");
        assert!(
            e.contains("line 2") && e.contains(&p.display().to_string()),
            "{e}"
        );
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn another_endpoint_or_account_is_refused() {
        let p = tmp("hdr");
        drop(FillJournal::open(&p, "ws://x", "acct", false).expect("open"));
        let e = FillJournal::open(&p, "ws://y", "acct", false).expect_err("other endpoint");
        assert!(e.contains("ws://x") && e.contains("ws://y"), "{e}");
        let e = FillJournal::open(&p, "ws://x", "other", false).expect_err("other account");
        assert!(e.contains("acct") && e.contains("other"), "{e}");
        assert!(FillJournal::open(&p, "ws://x", "acct", true).is_ok());
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn order_session_journals_each_new_fill_of_ours_before_reporting_it() {
        use crate::deribit::gateway::OrderSession;
        use mm_core::instrument::{Instrument, InstrumentTable, Kind};
        let mut table = InstrumentTable::new();
        table
            .push(Instrument::new(
                "BTC-PERPETUAL",
                Kind::Perpetual,
                Dec::new(25, 2),
                Dec::new(10, 0),
            ))
            .expect("instrument");
        let table = std::sync::Arc::new(table);
        let p = tmp("session");
        let (mut j, _) = FillJournal::open(&p, "ws://x", "acct", false).expect("open");
        j.seed = vec![("BTC".into(), "ETH-16".into())];
        let mut s = OrderSession::new(table).with_journal(j);
        assert_eq!(s.last_trade_id("BTC"), Some("ETH-16"));
        let mut out = Vec::new();
        let seeded = TRADE.replace("ETH-17", "ETH-16");
        let foreign = TRADE
            .replace("ETH-17", "ETH-18")
            .replace("mmf-42", "manual");
        for frame in [TRADE, TRADE, seeded.as_str(), foreign.as_str()] {
            s.on_trades(TradesView::new(frame.as_bytes()), 7, &mut out);
        }
        // One report (the repeat and the seeded trade are known, the foreign one is not
        // ours), and exactly that fill on disk, in the engine's units.
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].client_id, out[0].price, out[0].qty), (42, 16369, 1));
        assert_eq!(s.stats.journal_fills, 1);
        assert_eq!(s.last_trade_id("BTC"), Some("ETH-18"));
        let c = read_journal(&p).expect("read");
        assert_eq!(c.fills.len(), 1);
        let f = &c.fills[0];
        assert_eq!(
            (f.trade_id.as_str(), f.price_ticks, f.lots),
            ("ETH-17", 16369, 1)
        );
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn fill_before_header_and_bad_side_are_errors() {
        let fill = r#"{"type":"fill","trade_id":"1","instrument":"X","label":"mmf-1","client_id":1,"side":"buy","price":1,"price_ticks":1,"amount":1,"lots":1,"fee":0,"fee_currency":"BTC","maker":true,"timestamp_ms":1}"#;
        let e = parse_journal(format!("{fill}\n").as_bytes()).expect_err("no header");
        assert!(e.contains("line 1"), "{e}");
        let hdr = r#"{"type":"header","version":1,"endpoint":"e","account":"a","created_ms":0}"#;
        let bad = fill.replace("\"buy\"", "\"up\"");
        let e = parse_journal(format!("{hdr}\n{bad}\n").as_bytes()).expect_err("side");
        assert!(e.contains("line 2") && e.contains("up"), "{e}");
        let ok = parse_journal(format!("{hdr}\n{fill}\n").as_bytes()).expect("valid");
        assert_eq!(ok.fills.len(), 1);
        let v2 = hdr.replace("\"version\":1", "\"version\":2");
        let e = parse_journal(format!("{v2}\n").as_bytes()).expect_err("version");
        assert!(e.contains("version 2"), "{e}");
    }
}
