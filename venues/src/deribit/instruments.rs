//! Instrument metadata: `public/get_instruments` replies ⇄ [`Instrument`] (dossier §6).
//!
//! Off the hot path (startup, simulator). Numbers are read from their JSON text with our
//! [`json`](super::json) scanner, so tick sizes, lot sizes and tick steps are exact decimals
//! (no float round trip); fees and strikes are `f64` as in [`Instrument`].
//!
//! Mapping:
//! - `kind: "future"` + `settlement_period: "perpetual"` ⇒ [`Kind::Perpetual`], other futures ⇒
//!   [`Kind::Future`], `"option"` ⇒ [`Kind::Option`] (with `strike`, `option_type`), `"spot"` ⇒
//!   [`Kind::Spot`]; combos (`future_combo`, `option_combo`) and unknown kinds are skipped.
//! - `tick_size` ⇒ `tick`; `tick_size_steps[] {above_price, tick_size}` ⇒ [`TickStep`] with
//!   `above` = ⌈above_price / tick⌉ base ticks and `step` = tick_size / tick (must be whole).
//! - `min_trade_amount` ⇒ `lot`; `contract_size` (default: the lot).
//! - inverse: `instrument_type` (or the deprecated `future_type`) `"reversed"` ⇒ true,
//!   `"linear"` ⇒ false; when both are absent (2021 payloads): spot ⇒ false, else
//!   `settlement_currency == base_currency` if given, else true for names without `_`
//!   (BTC/ETH-settled futures and options) and false for `*_USDC…` linear names.
//! - `settlement_currency` default: the base currency for inverse, else the quote currency.
//! - `expiration_timestamp` ⇒ `expiry_ms`; `None` for perpetuals (sentinel 32503708800000) and
//!   spot.
//! - `maker_commission`, `taker_commission` ⇒ fees.

use super::json::{Cursor, JsonKind};
use super::md::read_error;
use super::DecodeError;
use mm_core::decimal::{Dec, POW10};
use mm_core::instrument::{Instrument, Kind, OptionTerms, OptionType, TickStep};
use std::collections::HashSet;

/// `expiration_timestamp` Deribit gives perpetuals (3000-01-01T08:00Z, dossier §6).
pub const PERPETUAL_EXPIRY_MS: u64 = 32_503_708_800_000;

/// Expiries at or beyond this (year ~2984) are perpetual sentinels (older payloads used
/// 32503734000000).
const SENTINEL_FROM_MS: u64 = 32_000_000_000_000;

fn err(what: &'static str, at: usize) -> DecodeError {
    DecodeError::new(what, at)
}

/// Reads a string value as an owned `String`, decoding escapes if there are any.
fn owned_str(c: &mut Cursor<'_>) -> Result<String, DecodeError> {
    c.peek();
    let at = c.pos();
    let s = c.str()?;
    if s.escaped {
        let quoted = c.buf().get(at..c.pos()).unwrap_or(b"\"\"");
        serde_json::from_slice::<String>(quoted).map_err(|_| err("bad string escape", at))
    } else {
        std::str::from_utf8(s.raw)
            .map(str::to_string)
            .map_err(|_| err("string is not valid UTF-8", at))
    }
}

fn read_f64(c: &mut Cursor<'_>) -> Result<f64, DecodeError> {
    c.peek();
    let at = c.pos();
    let t = c.num()?;
    std::str::from_utf8(t)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or(err("number out of range", at))
}

/// ⌈a / unit⌉ for a positive unit.
fn ceil_div(a: Dec, unit: Dec) -> Option<i64> {
    if unit.mant <= 0 {
        return None;
    }
    let n = a.mant as i128 * *POW10.get(unit.scale as usize)? as i128;
    let d = unit.mant as i128 * *POW10.get(a.scale as usize)? as i128;
    let q = n / d;
    let q = if n % d != 0 && n > 0 { q + 1 } else { q };
    i64::try_from(q).ok()
}

/// One `get_instruments` element; `Ok(None)` for kinds we do not trade (combos).
fn parse_one(c: &mut Cursor<'_>) -> Result<Option<Instrument>, DecodeError> {
    c.peek();
    let start = c.pos();
    let mut o = c.object()?;
    let mut name: Option<String> = None;
    let mut kind: Option<String> = None;
    let mut base: Option<String> = None;
    let mut quote: Option<String> = None;
    let mut settle: Option<String> = None;
    let mut tick: Option<Dec> = None;
    let mut steps: Vec<(Dec, Dec, usize)> = Vec::new();
    let mut lot: Option<Dec> = None;
    let mut contract: Option<Dec> = None;
    let mut itype: Option<String> = None;
    let mut ftype: Option<String> = None;
    let mut period: Option<String> = None;
    let mut otype: Option<String> = None;
    let mut strike: Option<f64> = None;
    let mut maker = 0.0;
    let mut taker = 0.0;
    let mut expiry: Option<u64> = None;
    let mut rehosted: Option<String> = None;
    while let Some(k) = o.next_key(c)? {
        if c.null() {
            continue;
        }
        match k {
            b"instrument_name" => name = Some(owned_str(c)?),
            b"kind" => kind = Some(owned_str(c)?),
            b"base_currency" => base = Some(owned_str(c)?),
            b"quote_currency" => quote = Some(owned_str(c)?),
            b"settlement_currency" => settle = Some(owned_str(c)?),
            b"tick_size" => tick = Some(c.dec()?),
            b"tick_size_steps" => {
                let mut a = c.array()?;
                while a.next(c)? {
                    c.peek();
                    let at = c.pos();
                    let mut so = c.object()?;
                    let (mut above, mut ts) = (None, None);
                    while let Some(sk) = so.next_key(c)? {
                        match sk {
                            b"above_price" => above = Some(c.dec()?),
                            b"tick_size" => ts = Some(c.dec()?),
                            _ => c.skip()?,
                        }
                    }
                    match (above, ts) {
                        (Some(a), Some(t)) => steps.push((a, t, at)),
                        _ => {
                            return Err(err(
                                "tick_size_steps element without above_price/tick_size",
                                at,
                            ))
                        }
                    }
                }
            }
            b"min_trade_amount" => lot = Some(c.dec()?),
            b"contract_size" => contract = Some(c.dec()?),
            b"instrument_type" => itype = Some(owned_str(c)?),
            b"future_type" => ftype = Some(owned_str(c)?),
            b"settlement_period" => period = Some(owned_str(c)?),
            b"option_type" => otype = Some(owned_str(c)?),
            b"strike" => strike = Some(read_f64(c)?),
            b"maker_commission" => maker = read_f64(c)?,
            b"taker_commission" => taker = read_f64(c)?,
            b"expiration_timestamp" => expiry = Some(c.u64()?),
            b"mmf_rehosted_from" => rehosted = Some(owned_str(c)?),
            _ => c.skip()?,
        }
    }
    let name = name.ok_or(err("instrument without instrument_name", start))?;
    let kind = match (kind.as_deref(), period.as_deref()) {
        (Some("future"), Some("perpetual")) => Kind::Perpetual,
        (Some("future"), _) => Kind::Future,
        (Some("option"), _) => Kind::Option,
        (Some("spot"), _) => Kind::Spot,
        (Some(_), _) => return Ok(None),
        (None, _) => return Err(err("instrument without kind", start)),
    };
    let tick = tick
        .filter(|d| d.mant > 0)
        .ok_or(err("tick_size missing or not positive", start))?;
    let lot = lot
        .filter(|d| d.mant > 0)
        .ok_or(err("min_trade_amount missing or not positive", start))?;
    let contract_size = contract.filter(|d| d.mant > 0).unwrap_or(lot);
    let base = base.unwrap_or_else(|| name.split(['-', '_']).next().unwrap_or("").to_string());
    let quote = quote.unwrap_or_else(|| "USD".to_string());
    let inverse = match itype.as_deref().or(ftype.as_deref()) {
        Some("reversed") => true,
        Some("linear") => false,
        Some(_) => return Err(err("unknown instrument_type", start)),
        None => match (kind, settle.as_deref()) {
            (Kind::Spot, _) => false,
            (_, Some(s)) => s == base,
            (_, None) => !name.contains('_'),
        },
    };
    let settlement_currency =
        settle.unwrap_or_else(|| if inverse { base.clone() } else { quote.clone() });
    steps.sort_by(|a, b| a.0.to_f64().total_cmp(&b.0.to_f64()));
    let mut tick_steps = Vec::with_capacity(steps.len());
    for (above, ts, at) in steps {
        let above =
            ceil_div(above, tick).ok_or(err("tick_size_steps above_price out of range", at))?;
        let step = ts.div_exact(tick).filter(|s| *s >= 1).ok_or(err(
            "tick_size_steps tick_size is not a whole multiple of the base tick",
            at,
        ))?;
        tick_steps.push(TickStep { above, step });
    }
    let expiry_ms = match kind {
        Kind::Perpetual | Kind::Spot => None,
        _ => expiry.filter(|&e| e < SENTINEL_FROM_MS),
    };
    let option = if kind == Kind::Option {
        let strike = strike.ok_or(err("option without strike", start))?;
        let option_type = match otype.as_deref() {
            Some("call") => OptionType::Call,
            Some("put") => OptionType::Put,
            _ => return Err(err("option without a call/put option_type", start)),
        };
        Some(OptionTerms {
            strike,
            option_type,
        })
    } else {
        None
    };
    Ok(Some(Instrument {
        id: 0,
        name,
        kind,
        base_currency: base,
        quote_currency: quote,
        settlement_currency,
        tick,
        tick_steps,
        lot,
        contract_size,
        inverse,
        maker_fee: maker,
        taker_fee: taker,
        expiry_ms,
        option,
        rehosted_from: rehosted,
    }))
}

fn parse_array(c: &mut Cursor<'_>, out: &mut Vec<Instrument>) -> Result<(), DecodeError> {
    let mut a = c.array()?;
    while a.next(c)? {
        if let Some(i) = parse_one(c)? {
            out.push(i);
        }
    }
    Ok(())
}

/// Parses a `public/get_instruments` result (a JSON array of instruments), a full JSON-RPC
/// reply envelope around one, or a `public/get_instrument` reply (a single object). Ids are
/// assigned in order (0, 1, …); [`mm_core::instrument::InstrumentTable::push`] re-assigns
/// them anyway.
///
/// # Errors
/// Malformed JSON, a JSON-RPC error reply, an element without name/kind/tick/lot, a
/// non-positive tick or lot, a tick step that is not a whole multiple of the base tick, an
/// option without strike or type.
pub fn parse_instruments(result_json: &[u8]) -> Result<Vec<Instrument>, DecodeError> {
    let mut c = Cursor::new(result_json);
    let mut out = Vec::new();
    match c.kind()? {
        JsonKind::Array => parse_array(&mut c, &mut out)?,
        JsonKind::Object => {
            let start = c.pos();
            let mut probe = c.clone();
            let mut o = probe.object()?;
            let mut result_at: Option<usize> = None;
            let mut single = false;
            while let Some(k) = o.next_key(&mut probe)? {
                match k {
                    b"result" => {
                        probe.peek();
                        result_at = Some(probe.pos());
                        probe.skip()?;
                    }
                    b"error" => {
                        let (_code, _msg) = read_error(&mut probe)?;
                        return Err(err("get_instruments returned a JSON-RPC error", start));
                    }
                    b"instrument_name" => {
                        single = true;
                        probe.skip()?;
                    }
                    _ => probe.skip()?,
                }
            }
            match (result_at, single) {
                (Some(at), _) => {
                    let mut rc = Cursor::at(result_json, at);
                    match rc.kind()? {
                        JsonKind::Array => parse_array(&mut rc, &mut out)?,
                        JsonKind::Object => out.extend(parse_one(&mut rc)?),
                        _ => return Err(err("result is neither an array nor an object", at)),
                    }
                }
                (None, true) => out.extend(parse_one(&mut c)?),
                (None, false) => return Err(err("no result in the reply", start)),
            }
            c = probe;
        }
        _ => {
            return Err(err(
                "expected an array of instruments or a JSON-RPC reply",
                c.pos(),
            ))
        }
    }
    c.end()?;
    for (i, inst) in out.iter_mut().enumerate() {
        inst.id = i as u32;
    }
    Ok(out)
}

/// Reads every `get_instruments` reply of a cryptofeed `rest.capture` (lines
/// `<url> -> <ts>: <payload>`; other lines are skipped) and returns the instruments, first
/// occurrence of each name kept, ids in order.
///
/// # Errors
/// A reply that [`parse_instruments`] refuses.
pub fn instruments_from_rest_capture(text: &str) -> Result<Vec<Instrument>, DecodeError> {
    let mut out: Vec<Instrument> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for line in text.lines() {
        let Some((url, rest)) = line.split_once(" -> ") else {
            continue;
        };
        if !url.contains("get_instruments") {
            continue;
        }
        let Some((_ts, payload)) = rest.split_once(": ") else {
            continue;
        };
        for inst in parse_instruments(payload.as_bytes())? {
            if seen.insert(inst.name.clone()) {
                out.push(inst);
            }
        }
    }
    for (i, inst) in out.iter_mut().enumerate() {
        inst.id = i as u32;
    }
    Ok(out)
}

fn push_json_str(s: &mut String, v: &str) {
    // serde_json escapes exactly what JSON needs.
    s.push_str(&serde_json::to_string(v).unwrap_or_else(|_| "\"\"".to_string()));
}

fn push_f64(s: &mut String, v: f64) {
    if v.is_finite() {
        // Display prints the shortest text that parses back to the same f64, without exponent.
        s.push_str(&format!("{v}"));
    } else {
        s.push('0');
    }
}

fn push_dec_times(s: &mut String, d: Dec, units: i64) {
    let mut b = [0u8; 48];
    let n = d.write_times(units, &mut b);
    s.push_str(std::str::from_utf8(b.get(..n).unwrap_or(b"0")).unwrap_or("0"));
}

/// Renders an instrument as one `public/get_instruments` result element (the 2022+ shape with
/// `instrument_type`, `settlement_currency`, `tick_size_steps`), so the simulator can serve it.
/// `parse_instruments` of the output gives back an equal instrument. A re-hosted instrument
/// carries the non-Deribit key `mmf_rehosted_from`.
pub fn instrument_json(inst: &Instrument) -> String {
    let mut s = String::with_capacity(640);
    s.push('{');
    s.push_str("\"instrument_name\":");
    push_json_str(&mut s, &inst.name);
    let (kind, period) = match inst.kind {
        Kind::Perpetual => ("future", Some("perpetual")),
        Kind::Future => ("future", Some("month")),
        Kind::Option => ("option", Some("month")),
        Kind::Spot => ("spot", None),
    };
    s.push_str(",\"kind\":\"");
    s.push_str(kind);
    s.push('"');
    if let Some(p) = period {
        s.push_str(",\"settlement_period\":\"");
        s.push_str(p);
        s.push('"');
    }
    s.push_str(",\"base_currency\":");
    push_json_str(&mut s, &inst.base_currency);
    s.push_str(",\"quote_currency\":");
    push_json_str(&mut s, &inst.quote_currency);
    s.push_str(",\"counter_currency\":");
    push_json_str(
        &mut s,
        if inst.kind == Kind::Option {
            "USD"
        } else {
            &inst.quote_currency
        },
    );
    s.push_str(",\"settlement_currency\":");
    push_json_str(&mut s, &inst.settlement_currency);
    let itype = if inst.inverse { "reversed" } else { "linear" };
    s.push_str(",\"instrument_type\":\"");
    s.push_str(itype);
    s.push('"');
    if matches!(inst.kind, Kind::Future | Kind::Perpetual) {
        s.push_str(",\"future_type\":\"");
        s.push_str(itype);
        s.push('"');
    }
    s.push_str(",\"price_index\":");
    push_json_str(
        &mut s,
        &format!("{}_usd", inst.base_currency.to_lowercase()),
    );
    s.push_str(",\"tick_size\":");
    push_dec_times(&mut s, inst.tick, 1);
    s.push_str(",\"tick_size_steps\":[");
    for (i, st) in inst.tick_steps.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"above_price\":");
        push_dec_times(&mut s, inst.tick, st.above);
        s.push_str(",\"tick_size\":");
        push_dec_times(&mut s, inst.tick, st.step);
        s.push('}');
    }
    s.push(']');
    s.push_str(",\"min_trade_amount\":");
    push_dec_times(&mut s, inst.lot, 1);
    s.push_str(",\"contract_size\":");
    push_dec_times(&mut s, inst.contract_size, 1);
    s.push_str(",\"maker_commission\":");
    push_f64(&mut s, inst.maker_fee);
    s.push_str(",\"taker_commission\":");
    push_f64(&mut s, inst.taker_fee);
    let expiry = match inst.kind {
        Kind::Perpetual => Some(PERPETUAL_EXPIRY_MS),
        _ => inst.expiry_ms,
    };
    if let Some(e) = expiry {
        s.push_str(",\"expiration_timestamp\":");
        s.push_str(&e.to_string());
    }
    if let Some(o) = inst.option {
        s.push_str(",\"option_type\":\"");
        s.push_str(match o.option_type {
            OptionType::Call => "call",
            OptionType::Put => "put",
        });
        s.push_str("\",\"strike\":");
        push_f64(&mut s, o.strike);
    }
    s.push_str(",\"is_active\":true,\"rfq\":false");
    if let Some(r) = &inst.rehosted_from {
        s.push_str(",\"mmf_rehosted_from\":");
        push_json_str(&mut s, r);
    }
    s.push('}');
    s
}
