//! tardis.dev *normalized* JSONL reader (`book_change` + `trade` records).
//!
//! - `book_change` with `isSnapshot: true` becomes a Deribit snapshot (all rows `new`);
//!   otherwise a change whose rows are `delete` (amount 0), `change` (level already present)
//!   or `new`. Levels are tracked while reading to pick the action.
//! - `change_id`s are synthesized from one global counter that advances by a varying step
//!   (1..=11), so consecutive ids of one book are not contiguous, like Deribit's global
//!   counter (dossier §4.1); `prev_change_id` chains per instrument.
//! - Consecutive `trade` records of one symbol with the same `localTimestamp` form one
//!   trades notification (an array), as Deribit batches trades of one aggressor.
//! - Event time = `localTimestamp` (the recorder's receive time); the Deribit `timestamp`
//!   field (exchange time, ms) comes from `timestamp`.

use super::{raw_dec, Action, BookUpdate, PublicTrade, Row, TapeBody, TapeEvent};
use mm_core::decimal::Dec;
use mm_core::types::Side;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet};

#[derive(Deserialize)]
struct Level<'a> {
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    amount: &'a RawValue,
}

#[derive(Deserialize)]
struct Rec<'a> {
    #[serde(rename = "type")]
    typ: String,
    symbol: String,
    timestamp: Option<String>,
    #[serde(rename = "localTimestamp")]
    local_timestamp: Option<String>,
    #[serde(rename = "isSnapshot", default)]
    is_snapshot: bool,
    #[serde(borrow, default)]
    bids: Vec<Level<'a>>,
    #[serde(borrow, default)]
    asks: Vec<Level<'a>>,
    // trade fields
    id: Option<serde_json::Value>,
    #[serde(borrow)]
    price: Option<&'a RawValue>,
    #[serde(borrow)]
    amount: Option<&'a RawValue>,
    side: Option<String>,
}

/// ISO-8601 UTC (`2019-04-01T00:00:00.336181Z`) → ns since the epoch.
pub fn iso_to_ns(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut ns: u64 = 0;
    let rest = &s[19..];
    let rest = rest.strip_suffix('Z').unwrap_or(rest);
    if let Some(frac) = rest.strip_prefix('.') {
        if !frac.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        for i in 0..9 {
            ns = ns * 10 + frac.as_bytes().get(i).map_or(0, |c| (c - b'0') as u64);
        }
    } else if !rest.is_empty() {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
    u64::try_from(secs)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(ns)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses a whole file; returns the events (file order) and the number of skipped lines.
pub fn parse(text: &str) -> Result<(Vec<TapeEvent>, usize), String> {
    let mut events: Vec<TapeEvent> = Vec::new();
    let mut skipped = 0;
    let mut change_id: u64 = 1_000_000_000;
    let mut n: u64 = 0;
    let mut last_id: HashMap<String, u64> = HashMap::new();
    let mut levels: HashMap<(String, Side), HashSet<(i64, u32)>> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            skipped += 1;
            continue;
        }
        let r: Rec<'_> =
            serde_json::from_str(line).map_err(|e| format!("line {}: json: {e}", i + 1))?;
        let ts_text = r.local_timestamp.as_deref().or(r.timestamp.as_deref());
        let Some(ts_ns) = ts_text.and_then(iso_to_ns) else {
            return Err(format!("line {}: bad timestamp", i + 1));
        };
        let exch_ms = r
            .timestamp
            .as_deref()
            .and_then(iso_to_ns)
            .map_or(ts_ns / 1_000_000, |t| t / 1_000_000);
        match r.typ.as_str() {
            "book_change" => {
                n += 1;
                change_id += 1 + (n * 37) % 11;
                let mut conv = |side: Side, lv: &[Level<'_>]| -> Result<Vec<Row>, String> {
                    let set = levels.entry((r.symbol.clone(), side)).or_default();
                    if r.is_snapshot {
                        set.clear();
                    }
                    let mut rows = Vec::with_capacity(lv.len());
                    for l in lv {
                        let price =
                            raw_dec(l.price).ok_or_else(|| format!("line {}: bad price", i + 1))?;
                        let amount = raw_dec(l.amount)
                            .ok_or_else(|| format!("line {}: bad amount", i + 1))?;
                        let action = if amount.mant == 0 {
                            set.remove(&(price.mant, price.scale));
                            Action::Delete
                        } else if set.insert((price.mant, price.scale)) {
                            Action::New
                        } else {
                            Action::Change
                        };
                        rows.push(Row {
                            action,
                            price,
                            amount,
                        });
                    }
                    Ok(rows)
                };
                let mut bids = conv(Side::Bid, &r.bids)?;
                let mut asks = conv(Side::Ask, &r.asks)?;
                if r.is_snapshot {
                    // Snapshot rows: best first, no deletes.
                    bids.retain(|x| x.action != Action::Delete);
                    asks.retain(|x| x.action != Action::Delete);
                    bids.sort_by(|a, b| cmp_dec(b.price, a.price));
                    asks.sort_by(|a, b| cmp_dec(a.price, b.price));
                }
                let prev = last_id.insert(r.symbol.clone(), change_id);
                events.push(TapeEvent {
                    ts_ns,
                    instrument: r.symbol,
                    body: TapeBody::Book(BookUpdate {
                        snapshot: r.is_snapshot,
                        timestamp_ms: exch_ms,
                        change_id,
                        prev_change_id: if r.is_snapshot { None } else { prev },
                        bids,
                        asks,
                    }),
                    raw_data: None,
                });
            }
            "trade" => {
                let price = r.price.and_then(raw_dec).ok_or("bad trade price")?;
                let amount = r.amount.and_then(raw_dec).ok_or("bad trade amount")?;
                let t = PublicTrade {
                    trade_id: match r.id {
                        Some(serde_json::Value::String(s)) => s,
                        Some(v) => v.to_string(),
                        None => format!("{}", i + 1),
                    },
                    trade_seq: None,
                    timestamp_ms: exch_ms,
                    price,
                    amount,
                    taker: if r.side.as_deref() == Some("sell") {
                        Side::Ask
                    } else {
                        Side::Bid
                    },
                };
                if let Some(TapeEvent {
                    ts_ns: lts,
                    instrument,
                    body: TapeBody::Trades(v),
                    ..
                }) = events.last_mut()
                {
                    if *lts == ts_ns && *instrument == r.symbol {
                        v.push(t);
                        continue;
                    }
                }
                events.push(TapeEvent {
                    ts_ns,
                    instrument: r.symbol,
                    body: TapeBody::Trades(vec![t]),
                    raw_data: None,
                });
            }
            _ => skipped += 1,
        }
    }
    Ok((events, skipped))
}

/// Orders two decimals by value.
pub fn cmp_dec(a: Dec, b: Dec) -> std::cmp::Ordering {
    let s = a.scale.max(b.scale);
    let av = a.mant as i128 * mm_core::decimal::POW10[(s - a.scale) as usize] as i128;
    let bv = b.mant as i128 * mm_core::decimal::POW10[(s - b.scale) as usize] as i128;
    av.cmp(&bv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso() {
        assert_eq!(
            iso_to_ns("2019-04-01T00:00:00.336181Z"),
            Some(1_554_076_800_336_181_000)
        );
        assert_eq!(iso_to_ns("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(iso_to_ns("garbage"), None);
    }

    #[test]
    fn synthesizes_chain() {
        let t = r#"{"asks":[{"amount":10,"price":4092.5}],"bids":[{"amount":20,"price":4092.25}],"exchange":"deribit","isSnapshot":true,"localTimestamp":"2019-04-01T00:00:00.100Z","symbol":"X","timestamp":"2019-04-01T00:00:00.050Z","type":"book_change"}
{"asks":[{"amount":0,"price":4092.5},{"amount":30,"price":4092.75}],"bids":[{"amount":40,"price":4092.25}],"exchange":"deribit","isSnapshot":false,"localTimestamp":"2019-04-01T00:00:00.200Z","symbol":"X","timestamp":"2019-04-01T00:00:00.150Z","type":"book_change"}
{"amount":500,"exchange":"deribit","id":"1","localTimestamp":"2019-04-01T00:00:00.300Z","price":4092.25,"side":"sell","symbol":"X","timestamp":"2019-04-01T00:00:00.250Z","type":"trade"}
{"amount":50,"exchange":"deribit","id":"2","localTimestamp":"2019-04-01T00:00:00.300Z","price":4092.25,"side":"sell","symbol":"X","timestamp":"2019-04-01T00:00:00.250Z","type":"trade"}"#;
        let (ev, _) = parse(t).unwrap();
        assert_eq!(ev.len(), 3);
        let (TapeBody::Book(a), TapeBody::Book(b)) = (&ev[0].body, &ev[1].body) else {
            panic!()
        };
        assert!(a.snapshot && !b.snapshot);
        assert_eq!(b.prev_change_id, Some(a.change_id));
        assert!(b.change_id > a.change_id + 1);
        assert_eq!(b.asks[0].action, Action::Delete);
        assert_eq!(b.asks[1].action, Action::New);
        assert_eq!(b.bids[0].action, Action::Change);
        let TapeBody::Trades(tr) = &ev[2].body else {
            panic!()
        };
        assert_eq!(tr.len(), 2);
        assert_eq!(tr[0].taker, Side::Ask);
    }
}
