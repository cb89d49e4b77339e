//! Binance USD-M collector files re-hosted as Deribit-protocol linear perpetuals.
//!
//! Input (`shared/data/binance/usdm/*.gz`, nkaz001/hftbacktest collector): one frame per line,
//! `<local_ts> <json>`. `<local_ts>` is the recorder's receive time; its unit is taken from its
//! magnitude (≥ 10¹⁷ ns, ≥ 10¹⁴ µs — the `*.dat.gz` files —, ≥ 10¹¹ ms). The JSON is a
//! combined-stream frame `{"stream":"btcusdt@depth@0ms","data":{…}}` (a bare event object with
//! an `"e"` field is accepted too), or the REST depth snapshot
//! `{"lastUpdateId":N,"E":…,"T":…,"bids":[…],"asks":[…]}` the collector fetched once per
//! day-1 file (it carries no symbol: it belongs to the file's only symbol).
//!
//! # What becomes what
//!
//! | Binance line | tape event | fields |
//! |---|---|---|
//! | REST snapshot | Deribit book **snapshot** | `change_id = lastUpdateId`, all rows `new`, bids best first |
//! | `@depth` / `@depth@{0,100,250,500}ms` diff | Deribit book **change** | `change_id = u`, `prev_change_id` = the previous emitted `change_id` (= `pu` once in sync); rows below |
//! | `@trade` | one public trades notification holding one trade | `trade_id = t` (text), price `p`, amount `q` (coin), taker `sell` if `m` (buyer is maker) else `buy`, timestamp `T` |
//! | `@markPrice` / `@markPrice@1s` | ticker (not forwarded; sets the simulator's mark and index) | `mark_price = p`, `index_price = i`, timestamp `E` |
//! | `@bookTicker` | **skipped** (counted) | — |
//! | blank lines, other streams (`aggTrade`, partial `depth5`, …), a second snapshot of a symbol already in sync, diffs older than the snapshot | **skipped** (counted) | — |
//!
//! Book rows: Binance sends the level's new **absolute** quantity (0 = remove). The reader
//! tracks which levels exist per side and maps each row to `new` (level absent), `change`
//! (level present, quantity > 0) or `delete` (level present, quantity 0). A quantity-0 row for
//! a level that does not exist (Binance sends those for levels beyond the 1000-level snapshot)
//! is a no-op and is dropped from the change; a change may therefore carry no rows — it is
//! still emitted so every applied Binance diff has one Deribit change.
//!
//! `bookTicker` is skipped rather than folded into tickers: `depth@0ms` already carries every
//! top-of-book change, the simulator renders best bid/ask in its synthetic ticker from the
//! book it builds from those diffs, and a fold would add ticker events the simulator does not
//! forward (it only forwards recorded Deribit ticker text). Note the synthetic ticker the
//! simulator sends after each book change shows the recorded mark (from `markPrice`, when the
//! file has it) as both `mark_price` and `index_price`; without `markPrice` lines it shows the
//! mid.
//!
//! # Book synchronisation (Binance's documented rule, USD-M flavour)
//!
//! Diffs of a symbol that arrive before its snapshot are **buffered** (as Binance's "how to
//! manage a local order book" says: open the stream, buffer, then fetch the snapshot). In the
//! 2024 files the REST reply arrived *after* the diff that covers `lastUpdateId` (BTCUSDT line
//! 13 covers `U ≤ lastUpdateId+1 ≤ u`, the snapshot is line 14), so dropping the buffered
//! diffs would lose real updates. When the snapshot line comes:
//! 1. it becomes the Deribit snapshot (`change_id = L = lastUpdateId`), at the snapshot's
//!    receive time;
//! 2. buffered and later diffs with `u ≤ L` are dropped (their content is in the snapshot);
//! 3. the first diff with `u > L` must satisfy `U ≤ L+1` (it spans the snapshot point) or
//!    `pu == L` (it directly follows the diff that ended at `L`), else the tape has a hole and
//!    parsing fails naming the line; buffered diffs are emitted at the snapshot's receive
//!    time (that is when a live client applies them), later ones at their own;
//! 4. every later diff must have `pu` = the previous diff's `u`; a break is an **error** naming
//!    the file and line (no resync: the files carry no second snapshot to resync from).
//!
//! Consecutive files of a symbol are one tape ([`parse_files`], `tape::load_many`): the day-2
//! file has no snapshot and continues day 1's chain (`pu` of its first diff = `u` of day 1's
//! last diff; checked). A symbol whose diffs never meet a snapshot is an error (a day-2 file
//! loaded alone). Several symbols in one tape are independent (one state per symbol).
//!
//! # Timestamps
//!
//! `ts_ns` = the local receive time (the collector's clock ran ≈1.5 s behind the exchange,
//! `data/README.md`); Deribit `timestamp` (ms) = the exchange's `T` (transaction time) for
//! diffs, snapshots and trades, `E` (event time) for mark prices (whose `T` is the next
//! funding time).
//!
//! # Re-hosting ([`rehost`])
//!
//! A symbol `XUSDT` is served as the Deribit-style linear perpetual `X_USDT-PERPETUAL`
//! (`instruments::parse_name` reads it as linear + perpetual, base `X`):
//!
//! | field | value | source |
//! |---|---|---|
//! | `instrument_name` | `BTC_USDT-PERPETUAL`, `ETH_USDT-PERPETUAL` | `{base}_USDT-PERPETUAL` |
//! | `tick_size` | BTCUSDT 0.1, ETHUSDT 0.01 | Binance `PRICE_FILTER.tickSize` |
//! | `min_trade_amount` = `contract_size` | 0.001 (coin) | Binance `LOT_SIZE.stepSize` |
//! | kind / type | `future`, `settlement_period: perpetual`, `instrument_type: linear` | USD-M = linear |
//! | quote / settlement currency | `USDT` | |
//! | maker / taker commission | 0.0002 / 0.0005 | Binance USD-M default (VIP 0) rates |
//! | `rehosted_from` | `binance-usdm:BTCUSDT` | served as the extra key `mmf_rehosted_from`; the engine's report lists it under `rehosted` |
//!
//! Other `…USDT`/`…USDC` symbols are re-hosted the same way with tick and step derived from the
//! recorded data (the coarsest of 1, 0.5, 0.1, 0.05, 0.01, … dividing every recorded price;
//! the coarsest power of ten ≤ 1 dividing every recorded amount), which may be finer than
//! Binance's real filters; other symbols (coin-M, dated futures) are refused.

use super::TickerUpdate;
use super::{raw_dec, Action, BookUpdate, PublicTrade, Row, Tape, TapeBody, TapeEvent};
use mm_core::decimal::Dec;
use mm_core::instrument::{Instrument, Kind};
use mm_core::types::Side;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet};

/// Binance USD-M defaults used for re-hosted instruments: maker commission (fraction of
/// notional).
pub const MAKER_FEE: f64 = 0.0002;
/// Binance USD-M default taker commission (fraction of notional).
pub const TAKER_FEE: f64 = 0.0005;

/// Known symbols: `(binance symbol, tick size, step size)`.
const KNOWN: [(&str, Dec, Dec); 2] = [
    (
        "BTCUSDT",
        Dec { mant: 1, scale: 1 },
        Dec { mant: 1, scale: 3 },
    ),
    (
        "ETHUSDT",
        Dec { mant: 1, scale: 2 },
        Dec { mant: 1, scale: 3 },
    ),
];

/// Counts of what a parse did with the lines (all files together).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lines read (including blank ones).
    pub lines: usize,
    /// REST depth snapshots used (one Deribit snapshot each).
    pub snapshots: usize,
    /// Snapshots ignored because the symbol's book was already in sync.
    pub snapshots_ignored: usize,
    /// Depth diff lines read.
    pub diffs: usize,
    /// Diffs emitted as Deribit changes.
    pub diffs_applied: usize,
    /// Diffs dropped because the snapshot already contains them (`u ≤ lastUpdateId`).
    pub diffs_dropped: usize,
    /// Diffs that arrived before their symbol's snapshot and were buffered (included in
    /// `diffs_applied` or `diffs_dropped`).
    pub diffs_buffered: usize,
    /// Quantity-0 rows for levels that did not exist (dropped, no-ops).
    pub noop_deletes: usize,
    /// `@trade` lines (one trade each).
    pub trades: usize,
    /// `@markPrice` lines.
    pub marks: usize,
    /// `@bookTicker` lines (skipped).
    pub book_tickers: usize,
    /// Blank lines and lines of other streams (skipped).
    pub other: usize,
}

/// The result of [`parse_files`].
#[derive(Clone, Debug)]
pub struct Parsed {
    /// Events in time order (ties keep file order).
    pub events: Vec<TapeEvent>,
    /// Lines that produced no event: blank lines, `bookTicker`, unknown streams, ignored
    /// snapshots and dropped diffs.
    pub skipped_lines: usize,
    /// Detailed counts.
    pub stats: Stats,
}

/// True when `line` looks like a Binance collector line (`<digits> {"stream":…` or
/// `<digits> {"lastUpdateId":…`).
pub fn looks_like(line: &str) -> bool {
    let Some((ts, json)) = line.split_once(' ') else {
        return false;
    };
    !ts.is_empty()
        && ts.bytes().all(|b| b.is_ascii_digit())
        && json.starts_with('{')
        && (json.contains("\"stream\"")
            || json.contains("\"lastUpdateId\"")
            || json.contains("\"e\""))
}

/// The Deribit name a Binance symbol is re-hosted under (`BTCUSDT` → `BTC_USDT-PERPETUAL`);
/// `None` for symbols that are not USDT/USDC-margined perpetuals.
pub fn instrument_name(symbol: &str) -> Option<String> {
    let s = symbol.to_ascii_uppercase();
    for q in ["USDT", "USDC"] {
        if let Some(base) = s.strip_suffix(q) {
            if !base.is_empty() && base.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Some(format!("{base}_{q}-PERPETUAL"));
            }
        }
    }
    None
}

/// The Binance symbol behind a re-hosted name (`BTC_USDT-PERPETUAL` → `BTCUSDT`).
pub fn binance_symbol(instrument: &str) -> Option<String> {
    let pair = instrument.strip_suffix("-PERPETUAL")?;
    let (base, quote) = pair.split_once('_')?;
    (quote == "USDT" || quote == "USDC").then(|| format!("{base}{quote}"))
}

/// The re-hosted instrument for tape instrument `name` (see the module docs' table):
/// the instrument and a human-readable note of where its parameters came from.
///
/// # Errors
/// If `name` is not a re-hosted Binance name (`{base}_USDT-PERPETUAL`).
pub fn rehost(tape: &Tape, name: &str) -> Result<(Instrument, String), String> {
    let symbol = binance_symbol(name)
        .ok_or_else(|| format!("{name}: not a re-hosted Binance USD-M instrument name"))?;
    let (tick, step, how) = match KNOWN.iter().find(|k| k.0 == symbol) {
        Some(&(_, t, s)) => (t, s, "Binance exchange filters"),
        None => {
            let (t, s) = derive_grid(tape, name);
            (t, s, "derived from the recorded prices and amounts")
        }
    };
    let base = name.split('_').next().unwrap_or("").to_string();
    let quote = if symbol.ends_with("USDC") {
        "USDC"
    } else {
        "USDT"
    };
    let mut inst = Instrument::new(name, Kind::Perpetual, tick, step);
    inst.base_currency = base;
    inst.quote_currency = quote.into();
    inst.settlement_currency = quote.into();
    inst.contract_size = step;
    inst.inverse = false;
    inst.maker_fee = MAKER_FEE;
    inst.taker_fee = TAKER_FEE;
    inst.rehosted_from = Some(format!("binance-usdm:{symbol}"));
    let note = format!(
        "{name}: re-hosted Binance USD-M {symbol}: linear perpetual, tick {tick}, \
         min_trade_amount = contract_size {step} ({how}), maker {MAKER_FEE}, taker {TAKER_FEE} \
         (Binance USD-M defaults), quote/settlement {quote}"
    );
    Ok((inst, note))
}

/// Coarsest tick / step that divide every recorded price / amount of `name`.
fn derive_grid(tape: &Tape, name: &str) -> (Dec, Dec) {
    let mut prices = Vec::new();
    let mut amounts = Vec::new();
    for e in tape.events.iter().filter(|e| e.instrument == name) {
        match &e.body {
            TapeBody::Book(b) => {
                for r in b.bids.iter().chain(&b.asks) {
                    prices.push(r.price);
                    if r.amount.mant != 0 {
                        amounts.push(r.amount);
                    }
                }
            }
            TapeBody::Trades(t) => {
                for t in t {
                    prices.push(t.price);
                    amounts.push(t.amount);
                }
            }
            TapeBody::Ticker(_) => {}
        }
    }
    let coarsest = |cands: &[Dec], vals: &[Dec]| {
        cands
            .iter()
            .copied()
            .find(|c| vals.iter().all(|v| v.div_exact(*c).is_some()))
            .unwrap_or(Dec::new(1, 8))
    };
    let mut ticks = Vec::new();
    let mut steps = Vec::new();
    for s in 0..=8u32 {
        if s > 0 {
            ticks.push(Dec::new(5, s));
        }
        ticks.push(Dec::new(1, s));
        steps.push(Dec::new(1, s));
    }
    (coarsest(&ticks, &prices), coarsest(&steps, &amounts))
}

/// Receive-time text → ns (unit from magnitude, see the module docs).
fn local_ts_ns(s: &str) -> Option<u64> {
    let v: u64 = s.parse().ok()?;
    if v >= 100_000_000_000_000_000 {
        Some(v)
    } else if v >= 100_000_000_000_000 {
        v.checked_mul(1_000)
    } else if v >= 100_000_000_000 {
        v.checked_mul(1_000_000)
    } else {
        None
    }
}

#[derive(Deserialize)]
struct Frame<'a> {
    stream: Option<&'a str>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    e: Option<&'a str>,
    #[serde(rename = "lastUpdateId")]
    last_update_id: Option<u64>,
    #[serde(rename = "T")]
    t_ms: Option<u64>,
    #[serde(rename = "E")]
    e_ms: Option<u64>,
    #[serde(borrow, default)]
    bids: Vec<[&'a RawValue; 2]>,
    #[serde(borrow, default)]
    asks: Vec<[&'a RawValue; 2]>,
}

#[derive(Deserialize)]
struct DepthData<'a> {
    s: String,
    #[serde(rename = "E")]
    e_ms: Option<u64>,
    #[serde(rename = "T")]
    t_ms: Option<u64>,
    #[serde(rename = "U")]
    first: u64,
    u: u64,
    pu: Option<u64>,
    #[serde(borrow, default)]
    b: Vec<[&'a RawValue; 2]>,
    #[serde(borrow, default)]
    a: Vec<[&'a RawValue; 2]>,
}

#[derive(Deserialize)]
struct TradeData<'a> {
    s: String,
    #[serde(rename = "E")]
    e_ms: Option<u64>,
    #[serde(rename = "T")]
    t_ms: Option<u64>,
    t: u64,
    #[serde(borrow)]
    p: &'a RawValue,
    #[serde(borrow)]
    q: &'a RawValue,
    m: bool,
}

#[derive(Deserialize)]
struct MarkData<'a> {
    s: String,
    #[serde(rename = "E")]
    e_ms: Option<u64>,
    #[serde(borrow)]
    p: Option<&'a RawValue>,
    #[serde(borrow)]
    i: Option<&'a RawValue>,
}

/// One depth diff, owned.
struct Diff {
    at: String,
    ts_ns: u64,
    ts_ms: u64,
    first: u64,
    last: u64,
    prev: Option<u64>,
    bids: Vec<(Dec, Dec)>,
    asks: Vec<(Dec, Dec)>,
}

/// One parsed line.
enum Msg {
    Snapshot {
        at: String,
        ts_ns: u64,
        ts_ms: u64,
        last_update_id: u64,
        bids: Vec<(Dec, Dec)>,
        asks: Vec<(Dec, Dec)>,
    },
    Diff(String, Diff),
    Trade(String, u64, PublicTrade),
    Mark(String, u64, TickerUpdate),
    BookTicker,
    Other,
}

/// Per-symbol replay state.
#[derive(Default)]
struct Sym {
    name: String,
    /// `Some(last change_id)` once a snapshot has been applied.
    last: Option<u64>,
    /// The snapshot's `lastUpdateId` until the first diff after it is applied.
    pending_first: Option<u64>,
    /// Diffs seen before the snapshot.
    buffer: Vec<Diff>,
    /// Existing price levels (normalised `Dec` keys), bids then asks.
    levels: [HashSet<(i64, u32)>; 2],
}

fn levels(rows: &[[&RawValue; 2]], at: &str) -> Result<Vec<(Dec, Dec)>, String> {
    rows.iter()
        .map(|[p, q]| {
            let p = raw_dec(p).ok_or_else(|| format!("{at}: bad price {}", p.get()))?;
            let q = raw_dec(q).ok_or_else(|| format!("{at}: bad quantity {}", q.get()))?;
            if q.mant < 0 {
                return Err(format!("{at}: negative quantity"));
            }
            Ok((p, q))
        })
        .collect()
}

fn parse_line(at: &str, line: &str) -> Result<Msg, String> {
    let (ts, json) = line
        .split_once(' ')
        .ok_or_else(|| format!("{at}: expected `<local_ts> <json>`"))?;
    let ts_ns = local_ts_ns(ts).ok_or_else(|| format!("{at}: bad receive timestamp {ts:?}"))?;
    // Fast path: `bookTicker` frames (most of the lines) are skipped without parsing them.
    if json
        .strip_prefix("{\"stream\":\"")
        .and_then(|r| r.split_once('"'))
        .is_some_and(|(stream, _)| stream.ends_with("@bookTicker"))
    {
        return Ok(Msg::BookTicker);
    }
    let f: Frame<'_> = serde_json::from_str(json).map_err(|e| format!("{at}: json: {e}"))?;
    if let Some(id) = f.last_update_id {
        return Ok(Msg::Snapshot {
            at: at.to_string(),
            ts_ns,
            ts_ms: f.t_ms.or(f.e_ms).unwrap_or(ts_ns / 1_000_000),
            last_update_id: id,
            bids: levels(&f.bids, at)?,
            asks: levels(&f.asks, at)?,
        });
    }
    // Channel: from the stream name (`btcusdt@depth@0ms` → `depth@0ms`), else the event type.
    let (chan, data): (&str, &str) = match (f.stream, f.data) {
        (Some(s), Some(d)) => (s.split_once('@').map_or("", |x| x.1), d.get()),
        _ => match f.e {
            Some(e) => (
                match e {
                    "depthUpdate" => "depth",
                    "trade" => "trade",
                    "markPriceUpdate" => "markPrice",
                    "bookTicker" => "bookTicker",
                    _ => "",
                },
                json,
            ),
            None => return Ok(Msg::Other),
        },
    };
    let base = chan.split('@').next().unwrap_or("");
    let speed_ok = chan
        .split_once('@')
        .is_none_or(|(_, sp)| sp.ends_with("ms") || sp == "1s");
    let jerr = |e: serde_json::Error| format!("{at}: {chan}: {e}");
    match base {
        "depth" if speed_ok => {
            let d: DepthData<'_> = serde_json::from_str(data).map_err(jerr)?;
            let diff = Diff {
                at: at.to_string(),
                ts_ns,
                ts_ms: d.t_ms.or(d.e_ms).unwrap_or(ts_ns / 1_000_000),
                first: d.first,
                last: d.u,
                prev: d.pu,
                bids: levels(&d.b, at)?,
                asks: levels(&d.a, at)?,
            };
            Ok(Msg::Diff(d.s, diff))
        }
        "trade" => {
            let d: TradeData<'_> = serde_json::from_str(data).map_err(jerr)?;
            let price = raw_dec(d.p).ok_or_else(|| format!("{at}: bad trade price"))?;
            let amount = raw_dec(d.q).ok_or_else(|| format!("{at}: bad trade quantity"))?;
            let t = PublicTrade {
                trade_id: d.t.to_string(),
                trade_seq: None,
                timestamp_ms: d.t_ms.or(d.e_ms).unwrap_or(ts_ns / 1_000_000),
                price,
                amount,
                // m = the buyer is the maker ⇒ the taker sold.
                taker: if d.m { Side::Ask } else { Side::Bid },
            };
            Ok(Msg::Trade(d.s, ts_ns, t))
        }
        "markPrice" => {
            let d: MarkData<'_> = serde_json::from_str(data).map_err(jerr)?;
            let t = TickerUpdate {
                timestamp_ms: d.e_ms.unwrap_or(ts_ns / 1_000_000),
                mark_price: d.p.and_then(raw_dec),
                index_price: d.i.and_then(raw_dec),
                best_bid_price: None,
                best_ask_price: None,
            };
            Ok(Msg::Mark(d.s, ts_ns, t))
        }
        "bookTicker" => Ok(Msg::BookTicker),
        _ => Ok(Msg::Other),
    }
}

impl Sym {
    /// Maps absolute Binance quantities to Deribit rows, updating the level sets.
    fn rows(&mut self, side: usize, lv: &[(Dec, Dec)], stats: &mut Stats) -> Vec<Row> {
        let set = &mut self.levels[side];
        let mut out = Vec::with_capacity(lv.len());
        for &(price, amount) in lv {
            let key = (price.mant, price.scale);
            let action = if amount.mant == 0 {
                if !set.remove(&key) {
                    stats.noop_deletes += 1;
                    continue;
                }
                Action::Delete
            } else if set.insert(key) {
                Action::New
            } else {
                Action::Change
            };
            out.push(Row {
                action,
                price,
                amount,
            });
        }
        out
    }

    /// Applies one diff of a synced book: checks the chain, emits the change (at `ts_ns`).
    fn apply(
        &mut self,
        d: Diff,
        ts_ns: u64,
        out: &mut Vec<TapeEvent>,
        stats: &mut Stats,
    ) -> Result<(), String> {
        let last = self.last.unwrap_or(0);
        if let Some(l) = self.pending_first {
            if d.last <= l {
                stats.diffs_dropped += 1;
                return Ok(());
            }
            if !(d.first <= l + 1 || d.prev == Some(l)) {
                return Err(format!(
                    "{}: {}: the first depth diff after the snapshot (lastUpdateId {l}) has \
                     U {} pu {:?}: the updates in between are missing",
                    d.at, self.name, d.first, d.prev
                ));
            }
            self.pending_first = None;
        } else if d.prev != Some(last) {
            return Err(format!(
                "{}: {}: depth chain break: pu {:?} != previous u {last}",
                d.at, self.name, d.prev
            ));
        }
        let bids = self.rows(0, &d.bids, stats);
        let asks = self.rows(1, &d.asks, stats);
        out.push(TapeEvent {
            ts_ns,
            instrument: self.name.clone(),
            body: TapeBody::Book(BookUpdate {
                snapshot: false,
                timestamp_ms: d.ts_ms,
                change_id: d.last,
                prev_change_id: Some(last),
                bids,
                asks,
            }),
            raw_data: None,
        });
        stats.diffs_applied += 1;
        self.last = Some(d.last);
        Ok(())
    }
}

/// Parses one Binance collector file: the events (time order) and the number of skipped lines.
///
/// # Errors
/// As [`parse_files`].
pub fn parse(text: &str) -> Result<(Vec<TapeEvent>, usize), String> {
    parse_files(&[("", text)]).map(|p| (p.events, p.skipped_lines))
}

/// Parses consecutive Binance collector files as one tape. `files` = `(label, text)` in replay
/// order; the label (a path) prefixes error messages. Files of one symbol must be in time
/// order (day 1, then day 2); several symbols may be mixed.
///
/// # Errors
/// A message naming the file and line: malformed line, depth chain break (`pu` ≠ previous
/// `u`, also across files), a hole between a snapshot and the first diff after it, a snapshot
/// in a file holding several symbols, an unsupported symbol, or a symbol whose diffs never
/// meet a snapshot.
pub fn parse_files(files: &[(&str, &str)]) -> Result<Parsed, String> {
    let mut stats = Stats::default();
    let mut events: Vec<TapeEvent> = Vec::new();
    let mut syms: HashMap<String, Sym> = HashMap::new();
    let mut skipped = 0;
    for (label, text) in files {
        let where_ = |i: usize| {
            if label.is_empty() {
                format!("line {}", i + 1)
            } else {
                format!("{label}: line {}", i + 1)
            }
        };
        // Pass 1: parse every line; learn the file's symbols (the snapshot has none).
        let mut msgs = Vec::new();
        let mut file_syms: Vec<String> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            stats.lines += 1;
            if line.trim().is_empty() {
                stats.other += 1;
                skipped += 1;
                continue;
            }
            let m = parse_line(&where_(i), line.trim_end())?;
            if let Msg::Diff(s, _) | Msg::Trade(s, _, _) | Msg::Mark(s, _, _) = &m {
                if !file_syms.contains(s) {
                    file_syms.push(s.clone());
                }
            }
            msgs.push(m);
        }
        for s in &file_syms {
            if !syms.contains_key(s) {
                let name = instrument_name(s).ok_or_else(|| {
                    format!(
                        "{}unsupported Binance symbol {s} (only USDT/USDC-margined perpetuals)",
                        if label.is_empty() {
                            String::new()
                        } else {
                            format!("{label}: ")
                        }
                    )
                })?;
                syms.insert(
                    s.clone(),
                    Sym {
                        name,
                        ..Sym::default()
                    },
                );
            }
        }
        // Pass 2: replay.
        for m in msgs {
            match m {
                Msg::Snapshot {
                    at,
                    ts_ns,
                    ts_ms,
                    last_update_id,
                    bids,
                    asks,
                } => {
                    let [s] = &file_syms[..] else {
                        return Err(format!(
                            "{at}: a depth snapshot carries no symbol; the file must hold \
                             exactly one symbol (found {file_syms:?})"
                        ));
                    };
                    let st = syms.get_mut(s).expect("symbol registered");
                    if st.last.is_some() {
                        stats.snapshots_ignored += 1;
                        skipped += 1;
                        continue;
                    }
                    stats.snapshots += 1;
                    st.levels[0].clear();
                    st.levels[1].clear();
                    let mut b = st.rows(0, &bids, &mut stats);
                    let mut a = st.rows(1, &asks, &mut stats);
                    b.sort_by(|x, y| super::tardis::cmp_dec(y.price, x.price));
                    a.sort_by(|x, y| super::tardis::cmp_dec(x.price, y.price));
                    events.push(TapeEvent {
                        ts_ns,
                        instrument: st.name.clone(),
                        body: TapeBody::Book(BookUpdate {
                            snapshot: true,
                            timestamp_ms: ts_ms,
                            change_id: last_update_id,
                            prev_change_id: None,
                            bids: b,
                            asks: a,
                        }),
                        raw_data: None,
                    });
                    st.last = Some(last_update_id);
                    st.pending_first = Some(last_update_id);
                    for d in std::mem::take(&mut st.buffer) {
                        st.apply(d, ts_ns, &mut events, &mut stats)?;
                    }
                }
                Msg::Diff(s, d) => {
                    stats.diffs += 1;
                    let st = syms.get_mut(&s).expect("symbol registered");
                    if st.last.is_none() {
                        stats.diffs_buffered += 1;
                        st.buffer.push(d);
                    } else {
                        let ts = d.ts_ns;
                        st.apply(d, ts, &mut events, &mut stats)?;
                    }
                }
                Msg::Trade(s, ts_ns, t) => {
                    stats.trades += 1;
                    events.push(TapeEvent {
                        ts_ns,
                        instrument: syms[&s].name.clone(),
                        body: TapeBody::Trades(vec![t]),
                        raw_data: None,
                    });
                }
                Msg::Mark(s, ts_ns, t) => {
                    stats.marks += 1;
                    events.push(TapeEvent {
                        ts_ns,
                        instrument: syms[&s].name.clone(),
                        body: TapeBody::Ticker(t),
                        raw_data: None,
                    });
                }
                Msg::BookTicker => {
                    stats.book_tickers += 1;
                    skipped += 1;
                }
                Msg::Other => {
                    stats.other += 1;
                    skipped += 1;
                }
            }
        }
    }
    let mut orphans: Vec<&Sym> = syms.values().filter(|s| !s.buffer.is_empty()).collect();
    orphans.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(s) = orphans.first() {
        return Err(format!(
            "{}: depth diffs but no REST depth snapshot (`lastUpdateId` line) in the tape (first \
             diff at {}); a continuation (day-2) file must be loaded after its day-1 file",
            s.name, s.buffer[0].at
        ));
    }
    skipped += stats.diffs_dropped;
    events.sort_by_key(|e| e.ts_ns);
    Ok(Parsed {
        events,
        skipped_lines: skipped,
        stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNAP: &str = r#"1721347021281597601 {"lastUpdateId":100,"E":2,"T":1,"bids":[["10.0","1.000"],["9.9","2.000"]],"asks":[["10.1","3.000"]]}"#;

    fn diff(ts: u64, first: u64, u: u64, pu: u64, b: &str, a: &str) -> String {
        format!(
            r#"{ts} {{"stream":"btcusdt@depth@0ms","data":{{"e":"depthUpdate","E":5,"T":4,"s":"BTCUSDT","U":{first},"u":{u},"pu":{pu},"b":[{b}],"a":[{a}]}}}}"#
        )
    }

    #[test]
    fn buffers_syncs_and_maps_rows() {
        let text = [
            diff(1721347021000000000, 80, 90, 70, r#"["9.8","1.000"]"#, ""),
            diff(1721347021100000000, 91, 105, 90, r#"["9.9","0.000"],["9.7","0.000"]"#, ""),
            SNAP.to_string(),
            diff(1721347021300000000, 106, 110, 105, r#"["10.0","4.000"]"#, r#"["10.2","1.000"]"#),
            r#"1721347021400000000 {"stream":"btcusdt@trade","data":{"e":"trade","E":7,"T":6,"s":"BTCUSDT","t":42,"p":"10.0","q":"0.002","X":"MARKET","m":true}}"#.to_string(),
            r#"1721347021400000001 {"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":1,"s":"BTCUSDT","b":"10.0","B":"1","a":"10.1","A":"1","T":1,"E":1}}"#.to_string(),
        ]
        .join("\n");
        let p = parse_files(&[("f", &text)]).unwrap();
        assert_eq!(p.stats.diffs_dropped, 1);
        assert_eq!(p.stats.diffs_applied, 2);
        assert_eq!(p.stats.noop_deletes, 1);
        assert_eq!(p.skipped_lines, 2);
        let books: Vec<&BookUpdate> = p
            .events
            .iter()
            .filter_map(|e| match &e.body {
                TapeBody::Book(b) => Some(b),
                _ => None,
            })
            .collect();
        assert_eq!(books.len(), 3);
        assert!(books[0].snapshot && books[0].change_id == 100);
        assert_eq!(
            (books[1].change_id, books[1].prev_change_id),
            (105, Some(100))
        );
        assert_eq!(books[1].bids.len(), 1);
        assert_eq!(books[1].bids[0].action, Action::Delete);
        assert_eq!(
            (books[2].change_id, books[2].prev_change_id),
            (110, Some(105))
        );
        assert_eq!(books[2].bids[0].action, Action::Change);
        assert_eq!(books[2].asks[0].action, Action::New);
        // The buffered diff is emitted at the snapshot's receive time.
        assert_eq!(p.events[1].ts_ns, p.events[0].ts_ns);
        let TapeBody::Trades(t) = &p.events[3].body else {
            panic!("trade expected")
        };
        assert_eq!((t[0].trade_id.as_str(), t[0].taker), ("42", Side::Ask));
        assert_eq!(p.events[0].instrument, "BTC_USDT-PERPETUAL");
    }

    #[test]
    fn chain_break_names_the_line() {
        let text = [
            SNAP.to_string(),
            diff(1721347021300000000, 100, 110, 99, "", ""),
            diff(1721347021400000000, 112, 120, 111, "", ""),
        ]
        .join("\n");
        let e = parse_files(&[("f", &text)]).unwrap_err();
        assert!(e.contains("f: line 3") && e.contains("chain break"), "{e}");
    }

    #[test]
    fn continuation_alone_is_refused() {
        let text = diff(1721347021300000000, 100, 110, 99, "", "");
        let e = parse(&text).unwrap_err();
        assert!(e.contains("no REST depth snapshot"), "{e}");
    }

    #[test]
    fn names_and_timestamps() {
        assert_eq!(
            instrument_name("btcusdt").as_deref(),
            Some("BTC_USDT-PERPETUAL")
        );
        assert_eq!(
            binance_symbol("ETH_USDT-PERPETUAL").as_deref(),
            Some("ETHUSDT")
        );
        assert_eq!(instrument_name("BTCUSD_PERP"), None);
        assert_eq!(
            local_ts_ns("1680652700423575"),
            Some(1_680_652_700_423_575_000)
        );
        assert_eq!(
            local_ts_ns("1721347021281597601"),
            Some(1_721_347_021_281_597_601)
        );
        assert!(looks_like(SNAP));
    }
}
