//! Small JSON helpers for the simulator.
//!
//! - Output: a tiny object/array writer over `String` that prints exact decimals the way
//!   Deribit does (`10.0` for integral values, `0.0795`, floats like `5.5e-6`), so the engine's
//!   decoder is exercised with venue-shaped numbers (dossier §1.6).
//! - Input: request parameters are kept as borrowed [`RawValue`]s so numbers are parsed from
//!   their text with [`Dec::parse`] (no float round trip, no `arbitrary_precision`).

use mm_core::decimal::Dec;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::fmt::Write as _;

/// Appends `s` as a JSON string literal (quoted, escaped).
pub fn push_str_lit(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `units × unit` as Deribit prints it: exact, with `.0` appended to integral values.
pub fn dec_times(unit: Dec, units: i64) -> String {
    let mut b = [0u8; 48];
    let n = unit.write_times(units, &mut b);
    let mut s = String::from_utf8_lossy(&b[..n]).into_owned();
    if !s.contains('.') {
        s.push_str(".0");
    }
    s
}

/// A decimal as Deribit prints it (`10.0`, `0.0795`).
pub fn dec(d: Dec) -> String {
    dec_times(d, 1)
}

/// A float as Deribit prints it: `0.0`, `10.0`, `0.0003`, `5.5e-6` (Rust's shortest
/// round-trip form, which is valid JSON). Non-finite values print as `0.0`.
pub fn float(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return "0.0".into();
    }
    format!("{v:?}")
}

/// Writer for one JSON object into a `String`.
pub struct Obj<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    /// Opens `{`.
    pub fn new(out: &'a mut String) -> Obj<'a> {
        out.push('{');
        Obj { out, first: true }
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        push_str_lit(self.out, k);
        self.out.push(':');
    }

    /// `"k": <raw JSON text>`.
    pub fn raw(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        self.out.push_str(v);
        self
    }

    /// `"k": "<v>"`.
    pub fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        push_str_lit(self.out, v);
        self
    }

    /// `"k": true|false`.
    pub fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.raw(k, if v { "true" } else { "false" })
    }

    /// `"k": <integer>`.
    pub fn int(&mut self, k: &str, v: i128) -> &mut Self {
        self.key(k);
        let _ = write!(self.out, "{v}");
        self
    }

    /// `"k": <float>` (see [`float`]).
    pub fn float(&mut self, k: &str, v: f64) -> &mut Self {
        let s = float(v);
        self.raw(k, &s)
    }

    /// `"k": <exact decimal>` (see [`dec`]).
    pub fn dec(&mut self, k: &str, v: Dec) -> &mut Self {
        let s = dec(v);
        self.raw(k, &s)
    }

    /// `"k": ` followed by whatever the closure writes (must be one JSON value).
    pub fn with(&mut self, k: &str, f: impl FnOnce(&mut String)) -> &mut Self {
        self.key(k);
        f(self.out);
        self
    }

    /// Closes `}`.
    pub fn end(&mut self) {
        self.out.push('}');
    }
}

/// Errors reading request parameters; map to JSON-RPC `-32602 Invalid params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    /// `"value required"`, `"wrong format"`, …
    pub reason: &'static str,
    /// Parameter name.
    pub param: String,
}

/// Named request parameters, borrowed from the request text.
#[derive(Default)]
pub struct Params<'a> {
    map: HashMap<String, &'a RawValue>,
}

impl<'a> Params<'a> {
    /// Parses a `params` object (absent ⇒ empty). `None` if it is not an object.
    pub fn parse(raw: Option<&'a RawValue>) -> Option<Params<'a>> {
        match raw {
            None => Some(Params::default()),
            Some(r) if r.get().trim() == "null" => Some(Params::default()),
            Some(r) => serde_json::from_str::<HashMap<String, &'a RawValue>>(r.get())
                .ok()
                .map(|map| Params { map }),
        }
    }

    fn get(&self, k: &str) -> Option<&'a RawValue> {
        self.map
            .get(k)
            .copied()
            .filter(|r| r.get().trim() != "null")
    }

    fn wrong(k: &str) -> ParamError {
        ParamError {
            reason: "wrong format",
            param: k.into(),
        }
    }

    /// Required-parameter error for `k`.
    pub fn required(k: &str) -> ParamError {
        ParamError {
            reason: "value required",
            param: k.into(),
        }
    }

    /// True if the parameter is present (and not `null`).
    pub fn has(&self, k: &str) -> bool {
        self.get(k).is_some()
    }

    /// Optional string parameter.
    pub fn opt_str(&self, k: &str) -> Result<Option<String>, ParamError> {
        match self.get(k) {
            None => Ok(None),
            Some(r) => serde_json::from_str::<String>(r.get())
                .map(Some)
                .map_err(|_| Self::wrong(k)),
        }
    }

    /// Required string parameter.
    pub fn req_str(&self, k: &str) -> Result<String, ParamError> {
        self.opt_str(k)?.ok_or_else(|| Self::required(k))
    }

    /// Optional boolean parameter (also accepts `"true"`/`"false"` strings, as REST does).
    pub fn opt_bool(&self, k: &str) -> Result<Option<bool>, ParamError> {
        match self.get(k).map(|r| r.get().trim()) {
            None => Ok(None),
            Some("true") | Some("\"true\"") => Ok(Some(true)),
            Some("false") | Some("\"false\"") => Ok(Some(false)),
            Some(_) => Err(Self::wrong(k)),
        }
    }

    /// Optional exact decimal (a JSON number, or a string holding one).
    pub fn opt_dec(&self, k: &str) -> Result<Option<Dec>, ParamError> {
        match self.get(k) {
            None => Ok(None),
            Some(r) => {
                let t = r.get().trim();
                let t = t
                    .strip_prefix('"')
                    .and_then(|x| x.strip_suffix('"'))
                    .unwrap_or(t);
                Dec::parse(t.as_bytes())
                    .map(Some)
                    .ok_or_else(|| Self::wrong(k))
            }
        }
    }

    /// The raw JSON of a parameter (absent or `null` ⇒ `None`).
    pub fn raw(&self, k: &str) -> Option<&'a RawValue> {
        self.get(k)
    }

    /// Every parameter, raw.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &'a RawValue)> + '_ {
        self.map.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Optional list of strings.
    pub fn opt_str_list(&self, k: &str) -> Result<Option<Vec<String>>, ParamError> {
        match self.get(k) {
            None => Ok(None),
            Some(r) => serde_json::from_str::<Vec<String>>(r.get())
                .map(Some)
                .map_err(|_| Self::wrong(k)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_like_deribit() {
        assert_eq!(dec(Dec::new(10, 0)), "10.0");
        assert_eq!(dec(Dec::new(795, 4)), "0.0795");
        assert_eq!(dec_times(Dec::new(25, 2), 16369), "4092.25");
        assert_eq!(float(0.0), "0.0");
        assert_eq!(float(10.0), "10.0");
        assert_eq!(float(0.0003), "0.0003");
        let mut s = String::new();
        Obj::new(&mut s)
            .str("a", "x\"y")
            .int("b", -3)
            .bool("c", true)
            .end();
        assert_eq!(s, r#"{"a":"x\"y","b":-3,"c":true}"#);
    }

    #[test]
    fn params_parse_exact() {
        let raw: &RawValue =
            serde_json::from_str(r#"{"price":0.0795,"amount":"10","x":null,"l":["a"]}"#).unwrap();
        let p = Params::parse(Some(raw)).unwrap();
        assert_eq!(p.opt_dec("price").unwrap(), Some(Dec::new(795, 4)));
        assert_eq!(p.opt_dec("amount").unwrap(), Some(Dec::new(10, 0)));
        assert_eq!(p.opt_dec("x").unwrap(), None);
        assert!(p.req_str("price").is_err());
        assert_eq!(p.opt_str_list("l").unwrap(), Some(vec!["a".to_string()]));
    }
}
