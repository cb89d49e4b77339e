//! cryptofeed raw Deribit capture reader.
//!
//! Line forms (`shared/data/README.md`):
//! - `configuration: {…}` — recorder configuration (skipped);
//! - `<url> <-> <ts>` — connection opened (skipped);
//! - `<url> <- <ts>: <payload>` — a frame the recording client sent (skipped);
//! - `<ts>: <payload>` — a frame received from Deribit. Subscription notifications on
//!   `book.{instrument}.{interval}`, `ticker.{instrument}.{interval}` and
//!   `trades.{instrument}.{interval}` become [`TapeEvent`]s; replies (the subscribe ack) and
//!   other channels are skipped.
//!
//! `<ts>` is the recorder's receive time in float seconds; it is converted to ns exactly from
//! its text.

use super::TickerUpdate;
use super::{opt_raw_dec, raw_dec, Action, BookUpdate, PublicTrade, Row, TapeBody, TapeEvent};
use mm_core::types::Side;
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct Frame<'a> {
    method: Option<String>,
    #[serde(borrow)]
    params: Option<FrameParams<'a>>,
}

#[derive(Deserialize)]
struct FrameParams<'a> {
    channel: String,
    #[serde(borrow)]
    data: &'a RawValue,
}

#[derive(Deserialize)]
struct BookData<'a> {
    #[serde(rename = "type")]
    typ: Option<String>,
    timestamp: Option<u64>,
    change_id: u64,
    prev_change_id: Option<u64>,
    #[serde(borrow, default)]
    bids: Vec<[&'a RawValue; 3]>,
    #[serde(borrow, default)]
    asks: Vec<[&'a RawValue; 3]>,
}

#[derive(Deserialize)]
struct TickerData<'a> {
    timestamp: Option<u64>,
    #[serde(borrow)]
    mark_price: Option<&'a RawValue>,
    #[serde(borrow)]
    index_price: Option<&'a RawValue>,
    #[serde(borrow)]
    best_bid_price: Option<&'a RawValue>,
    #[serde(borrow)]
    best_ask_price: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct TradeData<'a> {
    trade_id: serde_json::Value,
    trade_seq: Option<u64>,
    timestamp: Option<u64>,
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    amount: &'a RawValue,
    direction: String,
}

/// Float-seconds text (`1617644856.8063161`) → ns since the epoch, exactly.
pub fn secs_text_to_ns(s: &str) -> Option<u64> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: u64 = int.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut ns: u64 = 0;
    for i in 0..9 {
        ns = ns * 10 + frac.as_bytes().get(i).map_or(0, |b| (b - b'0') as u64);
    }
    secs.checked_mul(1_000_000_000)?.checked_add(ns)
}

pub(crate) fn parse_rows(rows: &[[&RawValue; 3]]) -> Result<Vec<Row>, String> {
    rows.iter()
        .map(|[a, p, q]| {
            let action = match serde_json::from_str::<String>(a.get()).as_deref() {
                Ok("new") => Action::New,
                Ok("change") => Action::Change,
                Ok("delete") => Action::Delete,
                _ => return Err(format!("bad book action {}", a.get())),
            };
            let price = raw_dec(p).ok_or_else(|| format!("bad price {}", p.get()))?;
            let amount = raw_dec(q).ok_or_else(|| format!("bad amount {}", q.get()))?;
            Ok(Row {
                action,
                price,
                amount,
            })
        })
        .collect()
}

/// Parses one received payload into an event (or `None` if it is not market data we keep).
pub(crate) fn parse_payload(ts_ns: u64, payload: &str) -> Result<Option<TapeEvent>, String> {
    let f: Frame<'_> = serde_json::from_str(payload).map_err(|e| format!("json: {e}"))?;
    if f.method.as_deref() != Some("subscription") {
        return Ok(None);
    }
    let Some(p) = f.params else { return Ok(None) };
    let parts: Vec<&str> = p.channel.split('.').collect();
    if parts.len() != 3 {
        return Ok(None);
    }
    let instrument = parts[1].to_string();
    let data = p.data.get();
    let body = match parts[0] {
        "book" => {
            let d: BookData<'_> = serde_json::from_str(data).map_err(|e| format!("book: {e}"))?;
            let snapshot = match d.typ.as_deref() {
                Some("snapshot") => true,
                Some(_) => matches!(d.prev_change_id, None | Some(0)),
                None => d.prev_change_id.is_none(),
            };
            TapeBody::Book(BookUpdate {
                snapshot,
                timestamp_ms: d.timestamp.unwrap_or(ts_ns / 1_000_000),
                change_id: d.change_id,
                prev_change_id: if snapshot { None } else { d.prev_change_id },
                bids: parse_rows(&d.bids)?,
                asks: parse_rows(&d.asks)?,
            })
        }
        "ticker" => {
            let d: TickerData<'_> =
                serde_json::from_str(data).map_err(|e| format!("ticker: {e}"))?;
            TapeBody::Ticker(TickerUpdate {
                timestamp_ms: d.timestamp.unwrap_or(ts_ns / 1_000_000),
                mark_price: opt_raw_dec(d.mark_price),
                index_price: opt_raw_dec(d.index_price),
                best_bid_price: opt_raw_dec(d.best_bid_price),
                best_ask_price: opt_raw_dec(d.best_ask_price),
            })
        }
        "trades" => {
            let ds: Vec<TradeData<'_>> =
                serde_json::from_str(data).map_err(|e| format!("trades: {e}"))?;
            let mut trades = Vec::with_capacity(ds.len());
            for d in ds {
                trades.push(PublicTrade {
                    trade_id: match d.trade_id {
                        serde_json::Value::String(s) => s,
                        v => v.to_string(),
                    },
                    trade_seq: d.trade_seq,
                    timestamp_ms: d.timestamp.unwrap_or(ts_ns / 1_000_000),
                    price: raw_dec(d.price).ok_or("bad trade price")?,
                    amount: raw_dec(d.amount).ok_or("bad trade amount")?,
                    taker: if d.direction == "sell" {
                        Side::Ask
                    } else {
                        Side::Bid
                    },
                });
            }
            TapeBody::Trades(trades)
        }
        _ => return Ok(None),
    };
    Ok(Some(TapeEvent {
        ts_ns,
        instrument,
        body,
        raw_data: Some(data.to_string()),
    }))
}

/// Parses a whole capture; returns the events (file order) and the number of skipped lines.
pub fn parse(text: &str) -> Result<(Vec<TapeEvent>, usize), String> {
    let mut events = Vec::new();
    let mut skipped = 0;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty()
            || line.starts_with("configuration:")
            || line.contains(" <-> ")
            || line.contains(" <- ")
        {
            skipped += 1;
            continue;
        }
        let Some((ts, payload)) = line.split_once(": ") else {
            skipped += 1;
            continue;
        };
        let Some(ts_ns) = secs_text_to_ns(ts) else {
            skipped += 1;
            continue;
        };
        match parse_payload(ts_ns, payload).map_err(|e| format!("line {}: {e}", i + 1))? {
            Some(ev) => events.push(ev),
            None => skipped += 1,
        }
    }
    Ok((events, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_exact() {
        assert_eq!(
            secs_text_to_ns("1617644856.8063161"),
            Some(1_617_644_856_806_316_100)
        );
        assert_eq!(secs_text_to_ns("12"), Some(12_000_000_000));
        assert_eq!(secs_text_to_ns("x"), None);
    }

    #[test]
    fn parses_book_change() {
        let p = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.ETH-30APR21-2240-P.raw","data":{"type":"change","timestamp":1617644858339,"prev_change_id":8973367653,"instrument_name":"ETH-30APR21-2240-P","change_id":8973367846,"bids":[["delete",0.0255,0.0],["new",0.026,299.0]],"asks":[]}}}"#;
        let ev = parse_payload(1, p).unwrap().unwrap();
        assert_eq!(ev.instrument, "ETH-30APR21-2240-P");
        let TapeBody::Book(b) = &ev.body else {
            panic!()
        };
        assert!(!b.snapshot);
        assert_eq!(b.prev_change_id, Some(8973367653));
        assert_eq!(b.bids[1].price, mm_core::Dec::new(26, 3));
        assert_eq!(b.bids[0].action, Action::Delete);
        assert!(ev.raw_data.unwrap().starts_with("{\"type\":\"change\""));
    }
}
