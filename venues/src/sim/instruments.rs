//! The instruments the simulator serves (`public/get_instruments`).
//!
//! Source, per tape instrument:
//! 1. a recorded `rest.capture` (cryptofeed format: `<url> -> <ts>: <get_instruments reply>`)
//!    given in [`super::SimConfig::rest_capture`] or found beside the tape — the recorded
//!    element is used as is (tick, lot, contract size, fees, expiry, strike);
//! 2. otherwise the instrument is **derived** from its name (dossier §6.1) and the recorded
//!    prices, with these documented defaults:
//!
//! | instrument | tick_size | min_trade_amount | contract_size | maker / taker | amount unit |
//! |---|---|---|---|---|---|
//! | `BTC-…-C/P` option | 0.0005 | 0.1 | 1 | 0.0003 / 0.0003 | BTC |
//! | `ETH-…-C/P` option (and other coins) | 0.0005 | 1 | 1 | 0.0003 / 0.0003 | coin |
//! | `BTC-PERPETUAL`, `BTC-DMMMYY` | 0.5 | 10 | 10 | 0.0 / 0.0005 | USD |
//! | `ETH-PERPETUAL`, `ETH-DMMMYY` | 0.05 | 1 | 1 | 0.0 / 0.0005 | USD |
//! | other inverse futures | 0.001 | 1 | 1 | 0.0 / 0.0005 | USD |
//! | `X_USDC-PERPETUAL` (linear) | 0.0001 | 0.001 | 0.001 | 0.0 / 0.0005 | coin |
//!
//! The tick is then checked against every recorded price of the instrument (book rows and
//! trades): if the default does not divide them all, the coarsest tick of
//! {0.5, 0.25, 0.1, 0.05, 0.01, 0.005, 0.001, 0.0005, 0.0001, …} (at most the default) that
//! divides them all is used — e.g. the 2019 tardis BTC-PERPETUAL tape is on a 0.25 grid.
//! Options expire at 08:00 UTC of their date; `settlement_period` is `month` for the last
//! Friday of a month, `week` for other Fridays, else `day`; perpetuals use the sentinel expiry
//! 32503708800000. Binance tapes ([`super::tape::binance`]) are instead **re-hosted** with
//! Binance's own grid and fees (`BTC_USDT-PERPETUAL`: tick 0.1, lot 0.001 BTC, maker 0.0002,
//! taker 0.0005; table in that module) and served with the extra key `mmf_rehosted_from`
//! (`binance-usdm:BTCUSDT`). Which defaults were used is logged (`log::info!`) and returned in
//! [`Instruments::notes`].

use super::json::{self, Obj};
use super::tape::{binance, raw_dec, Tape, TapeBody, TapeFormat};
use super::tape::{cryptofeed::secs_text_to_ns, read_text, tardis::days_from_civil};
use mm_core::decimal::Dec;
use mm_core::instrument::{Instrument, InstrumentTable, Kind, OptionTerms, OptionType, TickStep};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Perpetual expiry sentinel (3000-01-01T08:00Z, dossier §6).
pub const PERPETUAL_EXPIRY_MS: u64 = 32_503_708_800_000;

/// Extra metadata served with an instrument.
#[derive(Clone, Debug)]
pub struct InstMeta {
    /// `settlement_period`.
    pub settlement_period: String,
    /// `creation_timestamp` (ms).
    pub creation_timestamp: u64,
    /// True when the element came from a recorded `rest.capture`.
    pub recorded: bool,
}

/// The served instrument set.
#[derive(Clone, Debug)]
pub struct Instruments {
    /// Instruments of the tape, dense ids in tape order.
    pub table: Arc<InstrumentTable>,
    /// Metadata by instrument id.
    pub meta: Vec<InstMeta>,
    /// Human-readable notes on sources and defaults used.
    pub notes: Vec<String>,
}

#[derive(Deserialize)]
struct RestReply<'a> {
    #[serde(borrow, default)]
    result: Vec<RestInst<'a>>,
}

#[derive(Deserialize)]
struct RestStep<'a> {
    #[serde(borrow)]
    above_price: &'a RawValue,
    #[serde(borrow)]
    tick_size: &'a RawValue,
}

#[derive(Deserialize)]
struct RestInst<'a> {
    instrument_name: String,
    kind: String,
    #[serde(borrow)]
    tick_size: &'a RawValue,
    #[serde(borrow)]
    min_trade_amount: &'a RawValue,
    #[serde(borrow)]
    contract_size: &'a RawValue,
    maker_commission: Option<f64>,
    taker_commission: Option<f64>,
    strike: Option<f64>,
    option_type: Option<String>,
    expiration_timestamp: Option<u64>,
    creation_timestamp: Option<u64>,
    settlement_period: Option<String>,
    base_currency: String,
    quote_currency: Option<String>,
    settlement_currency: Option<String>,
    instrument_type: Option<String>,
    future_type: Option<String>,
    #[serde(borrow)]
    tick_size_steps: Option<Vec<RestStep<'a>>>,
}

/// Parses the instrument elements of a cryptofeed `rest.capture` file.
pub fn load_rest_capture(path: &Path) -> Result<HashMap<String, (Instrument, InstMeta)>, String> {
    let text = read_text(path)?;
    let mut out = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let Some(pos) = line.find(" -> ") else {
            continue;
        };
        let Some((ts, payload)) = line[pos + 4..].split_once(": ") else {
            continue;
        };
        if secs_text_to_ns(ts).is_none() {
            continue;
        }
        let reply: RestReply<'_> = serde_json::from_str(payload)
            .map_err(|e| format!("{} line {}: {e}", path.display(), i + 1))?;
        for r in reply.result {
            if let Some(x) = rest_to_instrument(&r) {
                out.insert(r.instrument_name.clone(), x);
            }
        }
    }
    Ok(out)
}

fn rest_to_instrument(r: &RestInst<'_>) -> Option<(Instrument, InstMeta)> {
    let tick = raw_dec(r.tick_size)?;
    let lot = raw_dec(r.min_trade_amount)?;
    let perpetual = r.settlement_period.as_deref() == Some("perpetual")
        || r.instrument_name.ends_with("PERPETUAL");
    let kind = match r.kind.as_str() {
        "option" => Kind::Option,
        "spot" => Kind::Spot,
        _ if perpetual => Kind::Perpetual,
        _ => Kind::Future,
    };
    let mut inst = Instrument::new(&r.instrument_name, kind, tick, lot);
    inst.base_currency = r.base_currency.clone();
    if let Some(q) = &r.quote_currency {
        inst.quote_currency = q.clone();
    }
    inst.settlement_currency = r
        .settlement_currency
        .clone()
        .unwrap_or_else(|| r.base_currency.clone());
    inst.contract_size = raw_dec(r.contract_size)?;
    inst.inverse = r
        .instrument_type
        .as_deref()
        .or(r.future_type.as_deref())
        .is_none_or(|t| t != "linear");
    inst.maker_fee = r.maker_commission.unwrap_or(0.0);
    inst.taker_fee = r.taker_commission.unwrap_or(0.0);
    inst.expiry_ms = if perpetual {
        None
    } else {
        r.expiration_timestamp
    };
    if kind == Kind::Option {
        inst.option = Some(OptionTerms {
            strike: r.strike.unwrap_or(0.0),
            option_type: if r.option_type.as_deref() == Some("put") {
                OptionType::Put
            } else {
                OptionType::Call
            },
        });
    }
    for s in r.tick_size_steps.iter().flatten() {
        let above = raw_dec(s.above_price)?.div_round(tick)?;
        let step = raw_dec(s.tick_size)?.div_exact(tick)?;
        inst.tick_steps.push(TickStep { above, step });
    }
    inst.tick_steps.sort_by_key(|s| s.above);
    let meta = InstMeta {
        settlement_period: r.settlement_period.clone().unwrap_or_else(|| {
            if perpetual {
                "perpetual".into()
            } else {
                "month".into()
            }
        }),
        creation_timestamp: r.creation_timestamp.unwrap_or(0),
        recorded: true,
    };
    Some((inst, meta))
}

/// Parsed parts of a Deribit instrument name (dossier §6.1).
#[derive(Clone, Debug, PartialEq)]
pub struct NameParts {
    /// Base currency (`BTC`; for `XRP_USDC` the part before `_`).
    pub base: String,
    /// Linear (`_USDC`/`_USDT` quoted) instrument.
    pub linear: bool,
    /// Kind.
    pub kind: Kind,
    /// Expiry (ms, 08:00 UTC) for futures and options.
    pub expiry_ms: Option<u64>,
    /// Strike and type for options.
    pub option: Option<OptionTerms>,
}

/// Parses `DMMMYY` (`9APR21`) into days since the epoch.
fn parse_date(s: &str) -> Option<i64> {
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let day: i64 = s[..split].parse().ok()?;
    let mon = s.get(split..split + 3)?;
    let yy: i64 = s.get(split + 3..)?.parse().ok()?;
    const M: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    let m = M.iter().position(|x| *x == mon)? as i64 + 1;
    if !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(2000 + yy, m, day))
}

/// Parses an instrument name.
pub fn parse_name(name: &str) -> Option<NameParts> {
    let parts: Vec<&str> = name.split('-').collect();
    let (base, linear) = match parts[0].split_once('_') {
        Some((b, _q)) => (b.to_string(), true),
        None => (parts[0].to_string(), false),
    };
    let expiry = |d: &str| parse_date(d).map(|days| (days * 86_400 + 8 * 3600) as u64 * 1000);
    match parts.len() {
        2 if parts[1] == "PERPETUAL" => Some(NameParts {
            base,
            linear,
            kind: Kind::Perpetual,
            expiry_ms: None,
            option: None,
        }),
        2 => Some(NameParts {
            base,
            linear,
            kind: Kind::Future,
            expiry_ms: Some(expiry(parts[1])?),
            option: None,
        }),
        4 => {
            let strike: f64 = parts[2].replace('d', ".").parse().ok()?;
            let option_type = match parts[3] {
                "C" => OptionType::Call,
                "P" => OptionType::Put,
                _ => return None,
            };
            Some(NameParts {
                base,
                linear,
                kind: Kind::Option,
                expiry_ms: Some(expiry(parts[1])?),
                option: Some(OptionTerms {
                    strike,
                    option_type,
                }),
            })
        }
        _ => None,
    }
}

fn settlement_period_for(expiry_ms: Option<u64>) -> String {
    let Some(ms) = expiry_ms else {
        return "perpetual".into();
    };
    let days = (ms / 86_400_000) as i64;
    let weekday = (days + 4).rem_euclid(7); // 0 = Sunday; 1970-01-01 was a Thursday
    if weekday != 5 {
        return "day".into();
    }
    // last Friday of its month ⇔ a week later is another month
    let month_of = |d: i64| {
        // civil_from_days, month only
        let z = d + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        if mp < 10 {
            mp + 3
        } else {
            mp - 9
        }
    };
    if month_of(days + 7) != month_of(days) {
        "month".into()
    } else {
        "week".into()
    }
}

const TICK_LADDER: [Dec; 14] = [
    Dec { mant: 5, scale: 1 },
    Dec { mant: 25, scale: 2 },
    Dec { mant: 1, scale: 1 },
    Dec { mant: 5, scale: 2 },
    Dec { mant: 1, scale: 2 },
    Dec { mant: 5, scale: 3 },
    Dec { mant: 1, scale: 3 },
    Dec { mant: 5, scale: 4 },
    Dec { mant: 1, scale: 4 },
    Dec { mant: 5, scale: 5 },
    Dec { mant: 1, scale: 5 },
    Dec { mant: 1, scale: 6 },
    Dec { mant: 1, scale: 7 },
    Dec { mant: 1, scale: 8 },
];

/// Derives an instrument from its name and recorded prices (defaults in the module docs).
pub fn derive(name: &str, prices: &[Dec]) -> (Instrument, InstMeta, String) {
    let parts = parse_name(name).unwrap_or(NameParts {
        base: name.split(['-', '_']).next().unwrap_or("").to_string(),
        linear: false,
        kind: Kind::Future,
        expiry_ms: None,
        option: None,
    });
    let d = |m, s| Dec::new(m, s);
    let (tick, lot, cs, maker, taker) = match (parts.kind, parts.base.as_str(), parts.linear) {
        (Kind::Option, "BTC", _) => (d(5, 4), d(1, 1), d(1, 0), 0.0003, 0.0003),
        (Kind::Option, _, _) => (d(5, 4), d(1, 0), d(1, 0), 0.0003, 0.0003),
        (_, _, true) => (d(1, 4), d(1, 3), d(1, 3), 0.0, 0.0005),
        (_, "BTC", _) => (d(5, 1), d(10, 0), d(10, 0), 0.0, 0.0005),
        (_, "ETH", _) => (d(5, 2), d(1, 0), d(1, 0), 0.0, 0.0005),
        _ => (d(1, 3), d(1, 0), d(1, 0), 0.0, 0.0005),
    };
    let divides_all = |t: Dec| prices.iter().all(|p| p.div_exact(t).is_some());
    let chosen = if divides_all(tick) {
        tick
    } else {
        TICK_LADDER
            .iter()
            .copied()
            .filter(|t| tick.div_exact(*t).is_some())
            .find(|t| divides_all(*t))
            .unwrap_or(Dec::new(1, 8))
    };
    let mut inst = Instrument::new(name, parts.kind, chosen, lot);
    inst.base_currency = parts.base.clone();
    inst.contract_size = cs;
    inst.maker_fee = maker;
    inst.taker_fee = taker;
    inst.expiry_ms = parts.expiry_ms;
    inst.option = parts.option;
    if parts.linear {
        inst.inverse = false;
        inst.quote_currency = "USDC".into();
        inst.settlement_currency = "USDC".into();
    }
    let note = format!(
        "{name}: derived (no rest.capture element): kind {:?}, tick {} (default {}), \
         min_trade_amount {lot}, contract_size {cs}, maker {maker}, taker {taker}",
        parts.kind, chosen, tick
    );
    let meta = InstMeta {
        settlement_period: settlement_period_for(parts.expiry_ms),
        creation_timestamp: 0,
        recorded: false,
    };
    (inst, meta, note)
}

/// Builds the served set for a tape: rest.capture elements where present, derivation
/// otherwise. `rest` = explicit path, else a `rest.capture` beside the tape if it exists.
pub fn build(tape: &Tape, rest: Option<&Path>) -> Result<Instruments, String> {
    let sibling = tape.path.parent().map(|p| p.join("rest.capture"));
    let rest_path = rest
        .map(Path::to_path_buf)
        .or_else(|| sibling.filter(|p| p.is_file()));
    let mut notes = Vec::new();
    let recorded = match &rest_path {
        Some(p) => {
            notes.push(format!("instruments from {}", p.display()));
            load_rest_capture(p)?
        }
        None => HashMap::new(),
    };
    let mut prices: HashMap<&str, Vec<Dec>> = HashMap::new();
    for e in &tape.events {
        let v = prices.entry(e.instrument.as_str()).or_default();
        match &e.body {
            TapeBody::Book(b) => v.extend(b.bids.iter().chain(&b.asks).map(|r| r.price)),
            TapeBody::Trades(t) => v.extend(t.iter().map(|t| t.price)),
            TapeBody::Ticker(_) => {}
        }
    }
    let mut table = InstrumentTable::new();
    let mut meta = Vec::new();
    for name in tape.instruments() {
        let (inst, m) = match recorded.get(&name) {
            Some((i, m)) => (i.clone(), m.clone()),
            None if tape.format == TapeFormat::Binance => {
                let (i, note) = binance::rehost(tape, &name)?;
                log::info!("mm-sim: {note}");
                notes.push(note);
                let m = InstMeta {
                    settlement_period: "perpetual".into(),
                    creation_timestamp: 0,
                    recorded: false,
                };
                (i, m)
            }
            None => {
                let p = prices.get(name.as_str()).map_or(&[][..], |v| &v[..]);
                let (i, m, note) = derive(&name, p);
                log::info!("mm-sim: {note}");
                notes.push(note);
                (i, m)
            }
        };
        table.push(inst).map_err(|e| e.to_string())?;
        meta.push(m);
    }
    Ok(Instruments {
        table: Arc::new(table),
        meta,
        notes,
    })
}

/// Deribit's `price_index` name (`btc_usd`, `sol_usdc`).
pub fn price_index(inst: &Instrument) -> String {
    if inst.inverse {
        format!("{}_usd", inst.base_currency.to_lowercase())
    } else {
        format!(
            "{}_{}",
            inst.base_currency.to_lowercase(),
            inst.settlement_currency.to_lowercase()
        )
    }
}

/// Writes one instrument as a Deribit `instrument` object.
pub fn write_json(inst: &Instrument, meta: &InstMeta, out: &mut String) {
    let mut o = Obj::new(out);
    o.dec("tick_size", inst.tick);
    if !inst.tick_steps.is_empty() {
        o.with("tick_size_steps", |s| {
            s.push('[');
            for (i, st) in inst.tick_steps.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let mut so = Obj::new(s);
                so.raw("above_price", &json::dec_times(inst.tick, st.above));
                so.raw("tick_size", &json::dec_times(inst.tick, st.step));
                so.end();
            }
            s.push(']');
        });
    }
    o.float("taker_commission", inst.taker_fee);
    if let Some(op) = &inst.option {
        o.float("strike", op.strike);
        o.str(
            "option_type",
            if op.option_type == OptionType::Put {
                "put"
            } else {
                "call"
            },
        );
    }
    o.str("settlement_period", &meta.settlement_period);
    o.str("settlement_currency", &inst.settlement_currency);
    o.str("quote_currency", &inst.quote_currency);
    o.str("price_index", &price_index(inst));
    o.dec("min_trade_amount", inst.lot);
    o.float("maker_commission", inst.maker_fee);
    o.str(
        "kind",
        match inst.kind {
            Kind::Option => "option",
            Kind::Spot => "spot",
            _ => "future",
        },
    );
    o.bool("is_active", true);
    o.str("instrument_name", &inst.name);
    o.int("instrument_id", inst.id as i128 + 1);
    let itype = if inst.inverse { "reversed" } else { "linear" };
    o.str("instrument_type", itype);
    if inst.kind != Kind::Option {
        o.str("future_type", itype);
    }
    o.int(
        "expiration_timestamp",
        inst.expiry_ms.unwrap_or(PERPETUAL_EXPIRY_MS) as i128,
    );
    o.int("creation_timestamp", meta.creation_timestamp as i128);
    o.str(
        "counter_currency",
        if inst.inverse {
            "USD"
        } else {
            &inst.settlement_currency
        },
    );
    o.dec("contract_size", inst.contract_size);
    o.str("base_currency", &inst.base_currency);
    o.bool("rfq", false);
    if let Some(r) = &inst.rehosted_from {
        // Not a Deribit key: labels a re-hosted recording of another venue (parsed by
        // `deribit::instruments` into `Instrument::rehosted_from`).
        o.str("mmf_rehosted_from", r);
    }
    o.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let p = parse_name("BTC-9APR21-50000-C").unwrap();
        assert_eq!(p.kind, Kind::Option);
        assert_eq!(p.expiry_ms, Some(1_617_955_200_000));
        assert_eq!(p.option.unwrap().strike, 50000.0);
        assert_eq!(parse_name("BTC-PERPETUAL").unwrap().kind, Kind::Perpetual);
        let l = parse_name("XRP_USDC-30JUN23-0d625-C").unwrap();
        assert!(l.linear && l.option.unwrap().strike == 0.625);
        assert_eq!(settlement_period_for(Some(1_617_955_200_000)), "week"); // Fri 9 Apr 2021
        assert_eq!(settlement_period_for(Some(1_619_769_600_000)), "month"); // Fri 30 Apr 2021
        assert_eq!(settlement_period_for(Some(1_617_696_000_000)), "day"); // Tue 6 Apr 2021
    }

    #[test]
    fn derives_quarter_tick() {
        let prices = [Dec::new(409225, 2), Dec::new(40925, 1)];
        let (i, _, _) = derive("BTC-PERPETUAL", &prices);
        assert_eq!(i.tick, Dec::new(25, 2));
        assert_eq!(i.lot, Dec::new(10, 0));
        let (i, _, _) = derive("BTC-PERPETUAL", &[Dec::new(40925, 1)]);
        assert_eq!(i.tick, Dec::new(5, 1));
    }
}
