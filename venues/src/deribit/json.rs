//! An allocation-free, non-recursive JSON scanner for the Deribit hot path.
//!
//! A [`Cursor`] walks a `&[u8]` frame in place. Callers iterate object members with
//! [`Cursor::object`] + [`Obj::next_key`], arrays with [`Cursor::array`] + [`Arr::next`], and read
//! scalars as raw slices: strings ([`Cursor::str`], never unescaped, escapes flagged) and number
//! text ([`Cursor::num`], fed to [`Dec::parse`] for exact decimals). Values the caller does not
//! need are skipped with [`Cursor::skip`], which validates them fully using a fixed-size bit
//! stack (nesting deeper than [`MAX_DEPTH`] is an error, never a stack overflow).
//!
//! Guarantees: no allocation, no recursion, no panic on any input (malformed, truncated,
//! deeply nested); every failure is a [`JsonError`] with the byte offset.
//!
//! Leniency (deliberate, for speed): raw control characters inside strings are accepted and
//! strings are not checked for valid UTF-8 here (callers that need `&str` check with
//! `std::str::from_utf8`). Numbers follow the JSON grammar strictly.

use mm_core::decimal::Dec;

/// Maximum nesting depth [`Cursor::skip`] accepts.
pub const MAX_DEPTH: usize = 128;

/// A JSON syntax error: what was wrong and where (byte offset into the frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonError {
    /// Description of the problem.
    pub what: &'static str,
    /// Byte offset in the scanned buffer.
    pub at: usize,
}

impl core::fmt::Display for JsonError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

impl std::error::Error for JsonError {}

/// The type of the next value, from its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonKind {
    /// `{`
    Object,
    /// `[`
    Array,
    /// `"`
    String,
    /// `-` or a digit
    Number,
    /// `true` / `false`
    Bool,
    /// `null`
    Null,
}

/// A string value as it appears on the wire, without the quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JStr<'a> {
    /// Bytes between the quotes, escape sequences left as they are.
    pub raw: &'a [u8],
    /// True if `raw` contains a backslash escape (then `raw` is not the decoded text).
    pub escaped: bool,
}

/// Iteration state of one object (see [`Cursor::object`]).
#[derive(Clone, Debug)]
pub struct Obj {
    first: bool,
    done: bool,
}

/// Iteration state of one array (see [`Cursor::array`]).
#[derive(Clone, Debug)]
pub struct Arr {
    first: bool,
    done: bool,
}

/// A read position in a JSON buffer.
#[derive(Clone, Debug)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Bit 7 of each byte of the result is set where `w` has byte `c`; exact for the lowest such
/// byte (the classic "has zero byte" trick; false positives only above a true match).
#[inline(always)]
fn byte_mask(w: u64, c: u8) -> u64 {
    let x = w ^ (LO * c as u64);
    x.wrapping_sub(LO) & !x & HI
}

/// Index of the first `"` or `\` at or after `i`, or `buf.len()`.
#[inline(always)]
fn next_quote_or_backslash(buf: &[u8], i: usize) -> usize {
    scan(buf, i, Scan::QuoteOrBackslash)
}

/// Index of the first `"`, `,`, `[`, `]`, `{` or `}` at or after `i`, or `buf.len()`.
#[inline(always)]
fn next_structural(buf: &[u8], i: usize) -> usize {
    scan(buf, i, Scan::Structural)
}

/// Index of the first byte `c` at or after `i`, or `buf.len()`.
#[inline(always)]
pub fn find_byte(buf: &[u8], i: usize, c: u8) -> usize {
    scan(buf, i, Scan::Byte(c))
}

/// What [`scan`] looks for.
#[derive(Clone, Copy)]
enum Scan {
    /// `"` or `\` (inside a string).
    QuoteOrBackslash,
    /// `"`, `,`, `[`, `]`, `{`, `}` (between values).
    Structural,
    /// One byte.
    Byte(u8),
}

impl Scan {
    #[inline(always)]
    fn matches(self, b: u8) -> bool {
        match self {
            Scan::QuoteOrBackslash => b == b'"' || b == b'\\',
            Scan::Structural => matches!(b, b'"' | b',' | b'[' | b']' | b'{' | b'}'),
            Scan::Byte(c) => b == c,
        }
    }

    /// SWAR: bit 7 of each byte of the result is set where `w` has a wanted byte; exact for
    /// the lowest one. For `Structural`, `x | 0x20` maps `[`/`]` onto `{`/`}` (and no other
    /// byte onto them), so four masks cover the six bytes.
    #[inline(always)]
    fn mask8(self, w: u64) -> u64 {
        match self {
            Scan::QuoteOrBackslash => byte_mask(w, b'"') | byte_mask(w, b'\\'),
            Scan::Structural => {
                let f = w | (LO * 0x20);
                byte_mask(w, b'"') | byte_mask(w, b',') | byte_mask(f, b'{') | byte_mask(f, b'}')
            }
            Scan::Byte(c) => byte_mask(w, c),
        }
    }
}

/// Index of the first wanted byte at or after `i`, or `buf.len()`.
///
/// On x86-64, 16 bytes per step with SSE2 (part of the x86-64 baseline: no `target-cpu`
/// needed); elsewhere 8 bytes per step with SWAR; the last few bytes one at a time. Same
/// result on every path (`scan_matches_a_byte_loop` test).
#[inline(always)]
fn scan(buf: &[u8], mut i: usize, what: Scan) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        while let Some(chunk) = buf.get(i..i + 16) {
            // SAFETY: SSE2 is always enabled on x86-64 (baseline target feature), so these
            // intrinsics are available; the unaligned load reads exactly the 16 bytes of
            // `chunk`, which the bounds-checked `get` above guarantees are in `buf`.
            let m = unsafe {
                let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
                let eq = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
                let hit = match what {
                    Scan::QuoteOrBackslash => _mm_or_si128(eq(b'"'), eq(b'\\')),
                    Scan::Structural => {
                        // `v | 0x20` maps `[`/`]` onto `{`/`}` and no other byte onto them.
                        let f = _mm_or_si128(v, _mm_set1_epi8(0x20));
                        let fe = |c: u8| _mm_cmpeq_epi8(f, _mm_set1_epi8(c as i8));
                        _mm_or_si128(
                            _mm_or_si128(eq(b'"'), eq(b',')),
                            _mm_or_si128(fe(b'{'), fe(b'}')),
                        )
                    }
                    Scan::Byte(c) => eq(c),
                };
                _mm_movemask_epi8(hit) as u32
            };
            if m != 0 {
                return i + m.trailing_zeros() as usize;
            }
            i += 16;
        }
    }
    while let Some(chunk) = buf.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let m = what.mask8(w);
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = buf.get(i) {
        if what.matches(b) {
            return i;
        }
        i += 1;
    }
    buf.len()
}

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    #[inline]
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// A cursor at byte `pos` of `buf` (e.g. the start of a span recorded earlier).
    #[inline]
    pub fn at(buf: &'a [u8], pos: usize) -> Self {
        Cursor {
            buf,
            pos: pos.min(buf.len()),
        }
    }

    /// Current byte offset.
    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The whole buffer.
    #[inline]
    pub fn buf(&self) -> &'a [u8] {
        self.buf
    }

    #[inline]
    fn err(&self, what: &'static str) -> JsonError {
        JsonError { what, at: self.pos }
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(&b) = self.buf.get(self.pos) {
            if !is_ws(b) {
                break;
            }
            self.pos += 1;
        }
    }

    /// The next non-whitespace byte (skipping whitespace), or `None` at the end.
    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.buf.get(self.pos).copied()
    }

    #[inline]
    fn expect(&mut self, b: u8, what: &'static str) -> Result<(), JsonError> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    /// The kind of the next value.
    ///
    /// # Errors
    /// End of input or a byte that cannot start a value.
    #[inline]
    pub fn kind(&mut self) -> Result<JsonKind, JsonError> {
        match self.peek() {
            Some(b'{') => Ok(JsonKind::Object),
            Some(b'[') => Ok(JsonKind::Array),
            Some(b'"') => Ok(JsonKind::String),
            Some(b'-' | b'0'..=b'9') => Ok(JsonKind::Number),
            Some(b't' | b'f') => Ok(JsonKind::Bool),
            Some(b'n') => Ok(JsonKind::Null),
            Some(_) => Err(self.err("unexpected byte, expected a value")),
            None => Err(self.err("unexpected end of input, expected a value")),
        }
    }

    /// Enters an object (consumes `{`); iterate it with [`Obj::next_key`].
    ///
    /// # Errors
    /// The next value is not an object.
    #[inline]
    pub fn object(&mut self) -> Result<Obj, JsonError> {
        self.expect(b'{', "expected an object")?;
        Ok(Obj {
            first: true,
            done: false,
        })
    }

    /// Enters an array (consumes `[`); iterate it with [`Arr::next`].
    ///
    /// # Errors
    /// The next value is not an array.
    #[inline]
    pub fn array(&mut self) -> Result<Arr, JsonError> {
        self.expect(b'[', "expected an array")?;
        Ok(Arr {
            first: true,
            done: false,
        })
    }

    /// Reads a string value (raw bytes between the quotes).
    ///
    /// The common case (the cursor is on the opening quote and the string has no escape) is
    /// inlined: one SWAR scan for the closing quote. Everything else goes through the
    /// out-of-line general path.
    ///
    /// # Errors
    /// Not a string, an unterminated string or a malformed escape.
    #[inline(always)]
    pub fn str(&mut self) -> Result<JStr<'a>, JsonError> {
        if self.buf.get(self.pos) == Some(&b'"') {
            let start = self.pos + 1;
            let end = next_quote_or_backslash(self.buf, start);
            if self.buf.get(end) == Some(&b'"') {
                self.pos = end + 1;
                return Ok(JStr {
                    raw: self.buf.get(start..end).unwrap_or(&[]),
                    escaped: false,
                });
            }
        }
        self.str_general()
    }

    /// [`Cursor::str`] for any input: whitespace, escapes, errors.
    #[inline(never)]
    fn str_general(&mut self) -> Result<JStr<'a>, JsonError> {
        self.expect(b'"', "expected a string")?;
        let start = self.pos;
        let mut escaped = false;
        loop {
            self.pos = next_quote_or_backslash(self.buf, self.pos);
            match self.buf.get(self.pos) {
                Some(b'"') => {
                    let raw = self.buf.get(start..self.pos).unwrap_or(&[]);
                    self.pos += 1;
                    return Ok(JStr { raw, escaped });
                }
                Some(b'\\') => {
                    escaped = true;
                    self.pos += 1;
                    match self.buf.get(self.pos) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 1
                        }
                        Some(b'u') => {
                            self.pos += 1;
                            for _ in 0..4 {
                                match self.buf.get(self.pos) {
                                    Some(h) if h.is_ascii_hexdigit() => self.pos += 1,
                                    _ => return Err(self.err("bad \\u escape in string")),
                                }
                            }
                        }
                        _ => return Err(self.err("bad escape in string")),
                    }
                }
                Some(_) => self.pos += 1,
                None => return Err(self.err("unterminated string")),
            }
        }
    }

    /// Reads number text (validated against the JSON number grammar).
    ///
    /// # Errors
    /// Not a number or malformed number text.
    #[inline]
    pub fn num(&mut self) -> Result<&'a [u8], JsonError> {
        self.ws();
        let start = self.pos;
        let b = self.buf;
        let mut i = self.pos;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                i += 1;
                while matches!(b.get(i), Some(b'0'..=b'9')) {
                    i += 1;
                }
            }
            _ => {
                self.pos = i;
                return Err(self.err("expected a number"));
            }
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            let s = i;
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
            if i == s {
                self.pos = i;
                return Err(self.err("number: digits expected after '.'"));
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let s = i;
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
            if i == s {
                self.pos = i;
                return Err(self.err("number: digits expected in exponent"));
            }
        }
        self.pos = i;
        Ok(b.get(start..i).unwrap_or(&[]))
    }

    /// Reads `true` or `false`.
    ///
    /// # Errors
    /// Any other value.
    #[inline]
    pub fn bool(&mut self) -> Result<bool, JsonError> {
        self.ws();
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        if rest.starts_with(b"true") {
            self.pos += 4;
            Ok(true)
        } else if rest.starts_with(b"false") {
            self.pos += 5;
            Ok(false)
        } else {
            Err(self.err("expected true or false"))
        }
    }

    /// Consumes `null` if it is next and returns true; otherwise consumes nothing and returns
    /// false.
    #[inline]
    pub fn null(&mut self) -> bool {
        self.ws();
        if self
            .buf
            .get(self.pos..)
            .is_some_and(|r| r.starts_with(b"null"))
        {
            self.pos += 4;
            true
        } else {
            false
        }
    }

    /// Reads a non-negative integer (`123`; also `123.0` or `1.23e2` when integral).
    ///
    /// # Errors
    /// Not a number, negative, fractional or above `u64::MAX`.
    #[inline]
    pub fn u64(&mut self) -> Result<u64, JsonError> {
        self.ws();
        if let Some(v) = self.fast_u64() {
            return Ok(v);
        }
        let at = self.pos;
        let t = self.num()?;
        let mut v: u64 = 0;
        let mut all_digits = true;
        for &c in t {
            if c.is_ascii_digit() {
                v = match v
                    .checked_mul(10)
                    .and_then(|v| v.checked_add((c - b'0') as u64))
                {
                    Some(v) => v,
                    None => {
                        return Err(JsonError {
                            what: "integer out of range",
                            at,
                        })
                    }
                };
            } else {
                all_digits = false;
                break;
            }
        }
        if all_digits {
            return Ok(v);
        }
        match dec(t) {
            Some(d) if d.scale == 0 && d.mant >= 0 => Ok(d.mant as u64),
            _ => Err(JsonError {
                what: "expected a non-negative integer",
                at,
            }),
        }
    }

    /// Reads a signed integer (also integral numbers written with a fraction or exponent).
    ///
    /// # Errors
    /// Not a number, fractional or out of `i64` range.
    #[inline]
    pub fn i64(&mut self) -> Result<i64, JsonError> {
        let at = self.pos;
        let t = self.num()?;
        match dec(t) {
            Some(d) if d.scale == 0 => Ok(d.mant),
            _ => Err(JsonError {
                what: "expected an integer",
                at,
            }),
        }
    }

    /// Reads a number as an exact [`Dec`].
    ///
    /// # Errors
    /// Not a number, or not representable exactly (more than 18 significant digits or
    /// decimal places).
    #[inline]
    pub fn dec(&mut self) -> Result<Dec, JsonError> {
        self.ws();
        if let Some(d) = self.fast_dec() {
            return Ok(d);
        }
        let at = self.pos;
        let t = self.num()?;
        dec(t).ok_or(JsonError {
            what: "number not representable as an exact decimal",
            at,
        })
    }

    /// Reads a number as a [`Dec`], exact when it fits (as [`Cursor::dec`]), otherwise rounded
    /// as [`dec_lossy`] does. `Ok(None)`: valid JSON number text that no `Dec` can hold.
    ///
    /// # Errors
    /// Not a number or malformed number text.
    #[inline]
    pub fn dec_lossy(&mut self) -> Result<Option<Dec>, JsonError> {
        self.ws();
        if let Some(d) = self.fast_dec() {
            return Ok(Some(d));
        }
        let t = self.num()?;
        Ok(dec_lossy(t))
    }

    /// [`Cursor::dec`]'s one-pass fast path alone: `Some` (consumed) for a plain decimal with
    /// at most 18 digits right at the cursor, `None` (nothing consumed) otherwise.
    #[inline(always)]
    pub fn try_dec(&mut self) -> Option<Dec> {
        self.fast_dec()
    }

    /// Consumes byte `b` if it is exactly at the cursor (no whitespace skipping).
    #[inline(always)]
    pub fn eat(&mut self, b: u8) -> bool {
        if self.buf.get(self.pos) == Some(&b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Moves the cursor back to `pos` (a position it was at before).
    #[inline(always)]
    pub fn rewind(&mut self, pos: usize) {
        self.pos = pos.min(self.buf.len());
    }

    /// The 8 bytes at `pos..pos + 8` as a little-endian word, zero-padded past the end.
    #[inline(always)]
    pub fn word_at(&self, pos: usize) -> u64 {
        word(self.buf, pos)
    }

    /// One-pass fast path of [`Cursor::dec`] for the common shape
    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?` with at most 18 digits and no exponent. Returns `None`
    /// (consuming nothing) for anything else; the general path then decides. Gives exactly
    /// what [`Dec::parse`] gives for the inputs it accepts (normalised: no trailing zeros).
    #[inline(always)]
    fn fast_dec(&mut self) -> Option<Dec> {
        let b = self.buf;
        let neg = b.get(self.pos) == Some(&b'-');
        let (mant, mut scale, end) = plain_decimal(b, self.pos + usize::from(neg))?;
        // ≤ 18 digits: fits an i64 (10^18 < 2^63).
        let mut m = mant as i64;
        while scale > 0 && m % 10 == 0 {
            m /= 10;
            scale -= 1;
        }
        self.pos = end;
        Some(Dec {
            mant: if neg { -m } else { m },
            scale,
        })
    }

    /// One-pass fast path of [`Cursor::u64`]: 1–19 plain digits (no leading zero unless the
    /// number is `0`) not followed by `.`, `e` or `E`. `None` (nothing consumed) otherwise.
    #[inline(always)]
    fn fast_u64(&mut self) -> Option<u64> {
        let b = self.buf;
        let start = self.pos;
        let (v, n) = digit_run(b, start);
        let i = start + n;
        if n == 0
            || n > 19
            || (n > 1 && b.get(start) == Some(&b'0'))
            || matches!(b.get(i), Some(b'.' | b'e' | b'E'))
        {
            return None;
        }
        // At most 19 digits: below 10^19 < u64::MAX, so `digit_run` did not wrap.
        self.pos = i;
        Some(v)
    }

    /// Skips one complete value, validating it.
    ///
    /// # Errors
    /// Malformed or truncated value, or nesting deeper than [`MAX_DEPTH`].
    pub fn skip(&mut self) -> Result<(), JsonError> {
        // Bit i of `stack` is 1 when nesting level i is an object, 0 for an array.
        let mut stack: u128 = 0;
        let mut depth: usize = 0;
        'value: loop {
            // Parse the start of a value.
            match self.kind()? {
                JsonKind::Object => {
                    self.pos += 1;
                    if depth >= MAX_DEPTH {
                        return Err(self.err("nesting too deep"));
                    }
                    stack |= 1u128 << depth;
                    depth += 1;
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        depth -= 1;
                    } else {
                        self.str()?;
                        self.expect(b':', "expected ':' after object key")?;
                        continue 'value;
                    }
                }
                JsonKind::Array => {
                    self.pos += 1;
                    if depth >= MAX_DEPTH {
                        return Err(self.err("nesting too deep"));
                    }
                    stack &= !(1u128 << depth);
                    depth += 1;
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        depth -= 1;
                    } else {
                        continue 'value;
                    }
                }
                JsonKind::String => {
                    self.str()?;
                }
                JsonKind::Number => {
                    self.num()?;
                }
                JsonKind::Bool => {
                    self.bool()?;
                }
                JsonKind::Null => {
                    if !self.null() {
                        return Err(self.err("expected null"));
                    }
                }
            }
            // After a complete value: close containers or move to the next element.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                let in_obj = stack & (1u128 << (depth - 1)) != 0;
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if in_obj {
                            self.str()?;
                            self.expect(b':', "expected ':' after object key")?;
                        }
                        continue 'value;
                    }
                    Some(b'}') if in_obj => {
                        self.pos += 1;
                        depth -= 1;
                    }
                    Some(b']') if !in_obj => {
                        self.pos += 1;
                        depth -= 1;
                    }
                    Some(_) => return Err(self.err("expected ',' or a closing bracket")),
                    None => return Err(self.err("unexpected end of input inside a value")),
                }
            }
        }
    }

    /// Skips one value whose content is not used (a member the decoder ignores).
    ///
    /// Checks structure only: strings must terminate, brackets must balance and match, and a
    /// value must not be empty; scalars are not parsed (a malformed number in a field nobody
    /// reads is not an error here, [`Cursor::skip`] is the validating variant). One SWAR scan
    /// finds the next `"`, `,`, bracket or brace 16 bytes at a time, so a typical scalar costs
    /// one step instead of a per-byte grammar walk. A scalar or an escape-free string right at
    /// the cursor is skipped inline (no call); anything else goes to the general walk, which
    /// gives the same result for those.
    ///
    /// # Errors
    /// Truncated or unbalanced value, an unterminated string, an empty value, or nesting
    /// deeper than [`MAX_DEPTH`].
    #[inline(always)]
    pub fn skip_unused(&mut self) -> Result<(), JsonError> {
        let b = self.buf;
        let i = self.pos;
        match b.get(i) {
            Some(b'0'..=b'9' | b'-' | b't' | b'f' | b'n') => {
                let j = next_structural(b, i);
                if matches!(b.get(j), Some(b',' | b'}' | b']')) {
                    self.pos = j;
                    return Ok(());
                }
            }
            Some(b'"') => {
                let j = next_quote_or_backslash(b, i + 1);
                if b.get(j) == Some(&b'"') {
                    self.pos = j + 1;
                    return Ok(());
                }
            }
            _ => {}
        }
        self.skip_unused_general()
    }

    /// [`Cursor::skip_unused`] for any value: containers, escapes, whitespace, errors.
    #[inline(never)]
    fn skip_unused_general(&mut self) -> Result<(), JsonError> {
        let b = self.buf;
        let start = self.pos;
        let mut i = start;
        // Bit d of `stack` is 1 when nesting level d is an object.
        let mut stack: u128 = 0;
        let mut depth: usize = 0;
        loop {
            i = next_structural(b, i);
            let Some(&c) = b.get(i) else {
                self.pos = i;
                return Err(self.err("unexpected end of input inside a value"));
            };
            match c {
                b'"' => {
                    let mut j = i + 1;
                    loop {
                        j = next_quote_or_backslash(b, j);
                        match b.get(j) {
                            Some(b'"') => break,
                            Some(_) => j += 2,
                            None => {
                                self.pos = j;
                                return Err(self.err("unterminated string"));
                            }
                        }
                    }
                    i = j + 1;
                    if depth == 0 {
                        self.pos = i;
                        return Ok(());
                    }
                }
                b'{' | b'[' => {
                    if depth >= MAX_DEPTH {
                        self.pos = i;
                        return Err(self.err("nesting too deep"));
                    }
                    if c == b'{' {
                        stack |= 1u128 << depth;
                    } else {
                        stack &= !(1u128 << depth);
                    }
                    depth += 1;
                    i += 1;
                }
                b'}' | b']' => {
                    if depth == 0 {
                        // The enclosing container's close: the value was a scalar.
                        if i == start
                            || b.get(start..i).is_some_and(|t| t.iter().all(|&x| is_ws(x)))
                        {
                            self.pos = i;
                            return Err(self.err("unexpected byte, expected a value"));
                        }
                        self.pos = i;
                        return Ok(());
                    }
                    let is_obj = stack & (1u128 << (depth - 1)) != 0;
                    if is_obj != (c == b'}') {
                        self.pos = i;
                        return Err(self.err("mismatched bracket"));
                    }
                    depth -= 1;
                    i += 1;
                    if depth == 0 {
                        self.pos = i;
                        return Ok(());
                    }
                }
                _ => {
                    // `,`
                    if depth == 0 {
                        if i == start
                            || b.get(start..i).is_some_and(|t| t.iter().all(|&x| is_ws(x)))
                        {
                            self.pos = i;
                            return Err(self.err("unexpected byte, expected a value"));
                        }
                        self.pos = i;
                        return Ok(());
                    }
                    i += 1;
                }
            }
        }
    }

    /// Skips one value and returns its raw text (from its first to its last byte).
    ///
    /// # Errors
    /// As [`Cursor::skip`].
    pub fn value(&mut self) -> Result<&'a [u8], JsonError> {
        self.ws();
        let start = self.pos;
        self.skip()?;
        Ok(self.buf.get(start..self.pos).unwrap_or(&[]))
    }

    /// As [`Cursor::value`], skipping with [`Cursor::skip_unused`]: the span's structure
    /// (brackets, strings) is checked, its scalars are not (whoever parses the span later
    /// checks what it reads).
    ///
    /// # Errors
    /// As [`Cursor::skip_unused`].
    #[inline]
    pub fn value_unused(&mut self) -> Result<&'a [u8], JsonError> {
        self.ws();
        let start = self.pos;
        self.skip_unused()?;
        Ok(self.buf.get(start..self.pos).unwrap_or(&[]))
    }

    /// Checks that only whitespace remains.
    ///
    /// # Errors
    /// Trailing bytes after the value.
    pub fn end(&mut self) -> Result<(), JsonError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.err("trailing bytes after the JSON value")),
        }
    }
}

impl Obj {
    /// Advances to the next member and returns its key (raw bytes, escapes not decoded), or
    /// `None` after the closing `}`. The caller must then consume the value (read or
    /// [`Cursor::skip`]) before calling again.
    ///
    /// # Errors
    /// Malformed or truncated object.
    #[inline(always)]
    pub fn next_key<'a>(&mut self, c: &mut Cursor<'a>) -> Result<Option<&'a [u8]>, JsonError> {
        // Fast path: no whitespace, `"key":` (or `,"key":`) right here, no escape in the key.
        if !self.done {
            let lead = usize::from(!self.first);
            let sep_ok = self.first || c.buf.get(c.pos) == Some(&b',');
            if sep_ok && c.buf.get(c.pos + lead) == Some(&b'"') {
                let start = c.pos + lead + 1;
                let end = next_quote_or_backslash(c.buf, start);
                if c.buf.get(end) == Some(&b'"') && c.buf.get(end + 1) == Some(&b':') {
                    self.first = false;
                    c.pos = end + 2;
                    return Ok(Some(c.buf.get(start..end).unwrap_or(&[])));
                }
            }
        }
        self.next_key_general(c)
    }

    /// [`Obj::next_key`] for any input: whitespace, escapes, the closing `}`, errors.
    #[inline(never)]
    fn next_key_general<'a>(&mut self, c: &mut Cursor<'a>) -> Result<Option<&'a [u8]>, JsonError> {
        if self.done {
            return Ok(None);
        }
        match c.peek() {
            Some(b'}') => {
                c.pos += 1;
                self.done = true;
                return Ok(None);
            }
            Some(b',') if !self.first => c.pos += 1,
            Some(b'"') if self.first => {}
            Some(_) => return Err(c.err("expected ',' or '}' in object")),
            None => return Err(c.err("unexpected end of input in object")),
        }
        self.first = false;
        let k = c.str()?;
        c.expect(b':', "expected ':' after object key")?;
        Ok(Some(k.raw))
    }
}

impl Arr {
    /// Advances to the next element: true if there is one (the caller must then consume it),
    /// false after the closing `]`.
    ///
    /// # Errors
    /// Malformed or truncated array.
    #[inline]
    pub fn next(&mut self, c: &mut Cursor<'_>) -> Result<bool, JsonError> {
        if self.done {
            return Ok(false);
        }
        match c.peek() {
            Some(b']') => {
                c.pos += 1;
                self.done = true;
                Ok(false)
            }
            Some(b',') if !self.first => {
                c.pos += 1;
                Ok(true)
            }
            Some(_) if self.first => {
                self.first = false;
                Ok(true)
            }
            Some(_) => Err(c.err("expected ',' or ']' in array")),
            None => Err(c.err("unexpected end of input in array")),
        }
    }
}

/// `P10[k] = 10^k` for k ≤ 19 (every power of ten a `u64` holds).
const P10: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut k = 1;
    while k < 20 {
        t[k] = t[k - 1] * 10;
        k += 1;
    }
    t
};

/// Number of leading ASCII digits in the 8 bytes of `w` (little-endian: byte 0 first), 0–8.
///
/// SWAR: a byte is a digit iff its high nibble is 3 and its high nibble after adding 6 is
/// still 3. A carry out of a non-digit byte can only disturb the bytes after it, which are
/// not counted.
#[inline(always)]
pub fn digit_count(w: u64) -> usize {
    const HI: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    let x = (w & HI) | ((w.wrapping_add(0x0606_0606_0606_0606) & HI) >> 4);
    ((x ^ 0x3333_3333_3333_3333).trailing_zeros() / 8) as usize
}

/// Value of the first `n` (1–8) ASCII digits of `w` (byte 0 is the most significant digit),
/// with three multiplications (the digits are left-aligned by a shift that pads leading
/// zeros and drops the bytes after them).
#[inline(always)]
pub fn digits_value(w: u64, n: usize) -> u64 {
    debug_assert!((1..=8).contains(&n));
    let v = (w << (8 * (8 - n))) & 0x0F0F_0F0F_0F0F_0F0F;
    let v = v.wrapping_mul(2561) >> 8;
    let v = (v & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601) >> 16;
    (v & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001) >> 32
}

/// The run of ASCII digits at `b[i..]`: `(value, length)`, 8 digits per step. The value is
/// exact for runs of at most 19 digits (it wraps beyond; callers bound the length).
#[inline(always)]
pub fn digit_run(b: &[u8], i: usize) -> (u64, usize) {
    let w = word(b, i);
    let n = digit_count(w);
    if n == 0 {
        return (0, 0);
    }
    let v = digits_value(w, n);
    if n < 8 {
        return (v, n);
    }
    let w = word(b, i + 8);
    let m = digit_count(w);
    if m == 0 {
        return (v, 8);
    }
    let v = v.wrapping_mul(P10[m]).wrapping_add(digits_value(w, m));
    if m < 8 {
        return (v, 8 + m);
    }
    let (mut v, mut j) = (v, i + 16);
    while let Some(&c) = b.get(j) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v.wrapping_mul(10).wrapping_add(u64::from(d));
        j += 1;
    }
    (v, j - i)
}

/// The 8 bytes at `b[i..i + 8]` as a little-endian word, zero-padded past the end.
#[inline(always)]
pub fn word(b: &[u8], i: usize) -> u64 {
    match b.get(i..i + 8) {
        Some(c) => u64::from_le_bytes(c.try_into().unwrap_or([0; 8])),
        None => {
            let mut w = [0u8; 8];
            if let Some(rest) = b.get(i..) {
                let n = rest.len().min(8);
                w[..n].copy_from_slice(&rest[..n]);
            }
            u64::from_le_bytes(w)
        }
    }
}

/// A non-negative plain decimal `(0|[1-9][0-9]*)(\.[0-9]+)?` of at most 18 digits and no
/// exponent at `b[i..]`, not normalised: `Some((mantissa, decimals, end))` with value
/// `mantissa × 10^-decimals` (`"0.50"` gives `(50, 2, _)`), `None` for anything else.
#[inline(always)]
pub fn plain_decimal(b: &[u8], i: usize) -> Option<(u64, u32, usize)> {
    let (int, il) = digit_run(b, i);
    if il == 0 || (il > 1 && b.get(i) == Some(&b'0')) {
        return None;
    }
    let mut j = i + il;
    let (mant, scale) = if b.get(j) == Some(&b'.') {
        let (frac, fl) = digit_run(b, j + 1);
        if fl == 0 || il + fl > 18 {
            return None;
        }
        j += 1 + fl;
        (int * P10[fl] + frac, fl as u32)
    } else {
        if il > 18 {
            return None;
        }
        (int, 0)
    };
    if matches!(b.get(j), Some(b'e' | b'E')) {
        return None;
    }
    Some((mant, scale, j))
}

/// Bytes a [`Window`] holds: a book row of two ≤ 16-byte numbers fits with room to spare.
pub const WINDOW: usize = 48;

/// A fixed [`WINDOW`]-byte view of the input from one position, for parsing short values
/// without a bounds check per 8-byte load (callers take one with `b.get(at..at + WINDOW)`
/// and fall back to the general path near the end of the input).
#[derive(Clone, Copy)]
pub struct Window<'a>(pub &'a [u8; WINDOW]);

impl Window<'_> {
    /// The 8 bytes at `k` (little-endian), `k ≤ WINDOW - 8`.
    ///
    /// # Panics
    /// Never in release builds: callers keep `k ≤ WINDOW - 8` (debug-asserted).
    #[inline(always)]
    pub fn word(self, k: usize) -> u64 {
        debug_assert!(k <= WINDOW - 8);
        let k = k.min(WINDOW - 8);
        // SAFETY: `k ≤ WINDOW - 8` (clamped above), so the 8 bytes `k..k + 8` lie inside the
        // `WINDOW`-byte array; `read_unaligned` has no alignment requirement.
        u64::from_le(unsafe { self.0.as_ptr().add(k).cast::<u64>().read_unaligned() })
    }

    /// The byte at `k` (0 past the window).
    #[inline(always)]
    pub fn byte(self, k: usize) -> u8 {
        self.0.get(k).copied().unwrap_or(0)
    }

    /// [`plain_decimal`] for numbers of at most 7 integer digits and at most 7 decimals
    /// starting at `k ≤ 27` (so every load stays inside the window): `Some((mantissa,
    /// decimals, end))`, `end` relative to the window; `None` for anything else (the caller
    /// then uses [`plain_decimal`], which accepts longer numbers and gives the same results).
    ///
    /// When the digits before and after the point fit one 8-byte word together they are
    /// converted in one step (the point is squeezed out with a shift).
    #[inline(always)]
    pub fn short_decimal(self, k: usize) -> Option<(u64, u32, usize)> {
        if k > 27 {
            return None;
        }
        let a = self.word(k);
        let n0 = digit_count(a);
        if n0 == 0 || n0 == 8 || (n0 > 1 && a as u8 == b'0') {
            return None;
        }
        let next = (a >> (8 * n0)) as u8;
        if next != b'.' {
            if next | 0x20 == b'e' {
                return None;
            }
            return Some((digits_value(a, n0), 0, k + n0));
        }
        let f = self.word(k + n0 + 1);
        let n1 = digit_count(f);
        if n1 == 0 || n1 == 8 || (f >> (8 * n1)) as u8 | 0x20 == b'e' {
            return None;
        }
        let v = if n0 + n1 <= 8 {
            // "6394" ++ "04" → one word "639404": the integer digits, then the decimals
            // shifted over the point.
            let ints = a & ((1u64 << (8 * n0)) - 1);
            digits_value(ints | (f << (8 * n0)), n0 + n1)
        } else {
            digits_value(a, n0) * P10[n1] + digits_value(f, n1)
        };
        Some((v, n1 as u32, k + n0 + 1 + n1))
    }
}

/// Parses validated JSON number text into an exact [`Dec`] (`None` if it needs more than 18
/// significant digits or decimal places). Exponents of more than three digits are refused
/// before parsing, which bounds the work [`Dec::parse`] does on hostile input.
#[inline]
pub fn dec(text: &[u8]) -> Option<Dec> {
    if let Some(e) = text.iter().position(|&b| b == b'e' || b == b'E') {
        let exp = text.get(e + 1..)?;
        let digits = exp.iter().filter(|b| b.is_ascii_digit()).count();
        if digits > 3 {
            return None;
        }
    }
    Dec::parse(text)
}

/// Parses number text into a [`Dec`], rounding when the exact value needs more than 18
/// significant digits (kept: about 15 significant digits). For fields where an exact value is
/// not needed (average prices, fees, PnL).
pub fn dec_lossy(text: &[u8]) -> Option<Dec> {
    if let Some(d) = dec(text) {
        return Some(d);
    }
    let s = std::str::from_utf8(text).ok()?;
    let v: f64 = s.parse().ok()?;
    if !v.is_finite() {
        return None;
    }
    let mag = if v == 0.0 {
        0
    } else {
        v.abs().log10().floor() as i32
    };
    let scale = (14 - mag).clamp(0, 18) as u32;
    Dec::from_f64(v, scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_objects_and_arrays() {
        let j = br#" {"a": [1, -2.5e3, "x\"y"], "b": {"c": null, "d": true}, "e": false} "#;
        let mut c = Cursor::new(j);
        let mut o = c.object().unwrap();
        assert_eq!(o.next_key(&mut c).unwrap(), Some(&b"a"[..]));
        let mut a = c.array().unwrap();
        assert!(a.next(&mut c).unwrap());
        assert_eq!(c.u64().unwrap(), 1);
        assert!(a.next(&mut c).unwrap());
        assert_eq!(c.num().unwrap(), b"-2.5e3");
        assert!(a.next(&mut c).unwrap());
        let s = c.str().unwrap();
        assert_eq!(s.raw, br#"x\"y"#);
        assert!(s.escaped);
        assert!(!a.next(&mut c).unwrap());
        assert_eq!(o.next_key(&mut c).unwrap(), Some(&b"b"[..]));
        assert_eq!(c.value().unwrap(), br#"{"c": null, "d": true}"#);
        assert_eq!(o.next_key(&mut c).unwrap(), Some(&b"e"[..]));
        assert!(!c.bool().unwrap());
        assert_eq!(o.next_key(&mut c).unwrap(), None);
        c.end().unwrap();
    }

    #[test]
    fn skip_rejects_malformed() {
        for bad in [
            &b"[1,]"[..],
            b"{\"a\":1,}",
            b"[1}",
            b"{\"a\" 1}",
            b"{1:2}",
            b"[01]",
            b"[1.]",
            b"[1e]",
            b"[tru]",
            b"\"abc",
            b"\"\\q\"",
            b"\"\\u12\"",
            b"",
            b"[",
            b"{\"a\":",
        ] {
            assert!(
                Cursor::new(bad).skip().is_err(),
                "{:?}",
                std::str::from_utf8(bad)
            );
        }
        for good in [
            &b"[]"[..],
            b"{}",
            b"[[],{}]",
            b"-0.5E+2",
            b"\"\\u00e9\\n\"",
            b"null",
        ] {
            let mut c = Cursor::new(good);
            c.skip().unwrap();
            c.end().unwrap();
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let mut v = vec![b'['; 100_000];
        v.extend(std::iter::repeat_n(b']', 100_000));
        assert_eq!(Cursor::new(&v).skip().unwrap_err().what, "nesting too deep");
        let mut ok = vec![b'['; MAX_DEPTH];
        ok.extend(std::iter::repeat_n(b']', MAX_DEPTH));
        Cursor::new(&ok).skip().unwrap();
    }

    #[test]
    fn integers_and_decimals() {
        assert_eq!(Cursor::new(b"10.0").u64().unwrap(), 10);
        assert_eq!(Cursor::new(b"1.5e3").u64().unwrap(), 1500);
        assert!(Cursor::new(b"1.5").u64().is_err());
        assert!(Cursor::new(b"-1").u64().is_err());
        assert!(Cursor::new(b"99999999999999999999").u64().is_err());
        assert_eq!(Cursor::new(b"-4.0e-7").dec().unwrap(), Dec::new(-4, 7));
        assert!(dec(b"1e99999").is_none());
        assert!(dec(b"1.5e-2147483648").is_none());
        assert_eq!(
            dec_lossy(b"0.0028213400122472977").unwrap(),
            Dec::new(28213400122473, 16)
        );
        assert_eq!(
            dec_lossy(b"61660.12345678901234567").unwrap().to_f64(),
            61660.123456789
        );
    }

    #[test]
    fn fast_dec_agrees_with_dec_parse() {
        let mut cases: Vec<String> = vec![
            "0",
            "-0",
            "0.0",
            "1",
            "-1",
            "10",
            "100.500",
            "58039.5",
            "0.0005",
            "1230.0",
            "123456789012345678",
            "1234567890123456789",
            "0.000000000000000001",
            "0.0000000000000000001",
            "01",
            "-",
            "1.",
            ".5",
            "1e3",
            "1.5E-2",
            "-12.34",
            "999999999999999999",
            "99999999999999999.9",
            "1.23456789012345678",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let int = x % 10u64.pow((x >> 20) as u32 % 12);
            let frac_len = (x >> 40) as usize % 10;
            let frac = (x >> 8) % 10u64.pow(frac_len as u32);
            let neg = if x & 1 == 1 { "-" } else { "" };
            cases.push(if frac_len == 0 {
                format!("{neg}{int}")
            } else {
                format!("{neg}{int}.{frac:0frac_len$}")
            });
        }
        for t in &cases {
            for tail in [",", "]", "}", ""] {
                let text = format!("{t}{tail}");
                let mut c = Cursor::new(text.as_bytes());
                let fast = c.fast_dec();
                if let Some(d) = fast {
                    assert_eq!(Some(d), dec(t.as_bytes()), "{text}");
                    assert_eq!(c.pos(), t.len(), "{text}");
                } else {
                    assert_eq!(c.pos(), 0, "{text}: nothing consumed on fallback");
                }
                // The public entry point gives the general path's answer either way.
                let mut c = Cursor::new(text.as_bytes());
                let full = c.dec().ok();
                let mut g = Cursor::new(text.as_bytes());
                let general = g.num().ok().and_then(dec);
                assert_eq!(full, general, "{text}");
            }
        }
    }

    #[test]
    fn scan_matches_a_byte_loop() {
        // Every wanted byte at every offset of 16/8-byte chunks and the tail, between bytes
        // that look like them (`{`/`[` differ by 0x20, `|`/`\\` and `;`/`"` by one bit).
        let fill = b"a|0;<9A[xz{ ]}}E\\;";
        for len in [0usize, 1, 7, 8, 15, 16, 17, 31, 33, 70] {
            let base: Vec<u8> = (0..len).map(|k| fill[k % 5]).collect();
            for what in [
                Scan::QuoteOrBackslash,
                Scan::Structural,
                Scan::Byte(b'.'),
                Scan::Byte(b'"'),
            ] {
                for &b in fill.iter().chain(b"\",.\"") {
                    for at in 0..len {
                        let mut buf = base.clone();
                        buf[at] = b;
                        for start in 0..=len {
                            let want = (start..len).find(|&k| what.matches(buf[k])).unwrap_or(len);
                            assert_eq!(
                                scan(&buf, start, what),
                                want,
                                "len {len} at {at} start {start} byte {b}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn swar_digit_runs_match_a_byte_loop() {
        // Every byte value right after runs of 0..=20 digits, at every alignment near the end
        // of the buffer (the zero-padded tail path included).
        let mut x: u64 = 0x853C_49E6_748F_EA9B;
        for len in 0..=20usize {
            for after in 0..=255u8 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let mut t: Vec<u8> = (0..len)
                    .map(|k| b'0' + ((x >> (k % 60)) % 10) as u8)
                    .collect();
                t.push(after);
                t.extend_from_slice(b"123");
                for cut in [t.len(), len + 1, len] {
                    let b = &t[..cut];
                    let want_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
                    let want = b[..want_len].iter().fold(0u64, |v, &c| {
                        v.wrapping_mul(10).wrapping_add(u64::from(c - b'0'))
                    });
                    assert_eq!(
                        digit_run(b, 0),
                        (want, want_len),
                        "{:?}",
                        String::from_utf8_lossy(b)
                    );
                }
            }
        }
        assert_eq!(digit_count(u64::from_le_bytes(*b"12345678")), 8);
        assert_eq!(
            digits_value(u64::from_le_bytes(*b"12345678"), 8),
            12_345_678
        );
        assert_eq!(digits_value(u64::from_le_bytes(*b"907.xxxx"), 3), 907);
    }

    #[test]
    fn plain_decimal_takes_only_the_plain_shape() {
        let ok = [
            ("0", (0, 0)),
            ("0.0", (0, 1)),
            ("63940.4", (639404, 1)),
            ("569.567", (569567, 3)),
            ("0.50", (50, 2)),
            ("123456789012345678", (123_456_789_012_345_678, 0)),
            ("1234567890.12345678", (123_456_789_012_345_678, 8)),
        ];
        for (t, (m, sc)) in ok {
            let b = format!("{t},");
            assert_eq!(
                plain_decimal(b.as_bytes(), 0),
                Some((m, sc, t.len())),
                "{t}"
            );
        }
        for t in [
            "",
            "-1",
            "01",
            "1.",
            ".5",
            "1e3",
            "1.5E2",
            "1234567890123456789",
            "1.234567890123456789",
        ] {
            assert_eq!(plain_decimal(t.as_bytes(), 0), None, "{t}");
        }
    }

    #[test]
    fn fast_u64_agrees_with_general() {
        for t in [
            "0",
            "7",
            "1617644856302",
            "18446744073709551615",
            "18446744073709551616",
            "01",
            "1.0",
            "1e2",
            "-1",
            "12a",
        ] {
            let mut c = Cursor::new(t.as_bytes());
            let fast = c.u64().ok();
            let mut g = Cursor::new(t.as_bytes());
            let general = g.num().ok().and_then(|n| {
                let d = dec(n)?;
                (d.scale == 0 && d.mant >= 0).then_some(d.mant as u64)
            });
            match t {
                "18446744073709551615" => assert_eq!(fast, Some(u64::MAX)),
                "18446744073709551616" => assert_eq!(fast, None),
                _ => assert_eq!(fast, general, "{t}"),
            }
        }
    }

    #[test]
    fn skip_unused_checks_structure() {
        let ok = [
            (r#"1.5,"#, 3),
            (r#""a\"b","#, 6),
            (r#"{"a":[1,{"b":"}"}],"c":null}}"#, 28),
            (r#"[]]"#, 2),
            (r#"null}"#, 4),
        ];
        for (t, end) in ok {
            let mut c = Cursor::new(t.as_bytes());
            c.skip_unused().unwrap_or_else(|e| panic!("{t}: {e:?}"));
            assert_eq!(c.pos(), end, "{t}");
        }
        for t in [
            r#"{"a":1"#,
            r#"[1,2}"#,
            r#""abc"#,
            r#",1"#,
            r#"}"#,
            "",
            r#"{"a":[}"#,
        ] {
            let mut c = Cursor::new(t.as_bytes());
            assert!(c.skip_unused().is_err(), "{t} must be an error");
        }
    }

    #[test]
    fn skip_unused_inline_paths_agree_with_the_general_walk() {
        let values = [
            "1.5",
            "-2",
            "0",
            "true",
            "false",
            "null",
            "1e5",
            "\"open\"",
            "\"\"",
            "\"a\\\"b\"",
            "\"x",
            "12\"a\"",
            "{\"a\":1}",
            "[1,2]",
            " 7",
            "tru",
            "n{",
        ];
        let tails = ["", ",", "}", "]", ",\"k\":2}", " ,", "[", "{", "\""];
        let pad = "x".repeat(40);
        for v in values {
            for t in tails {
                for p in ["", pad.as_str()] {
                    let text = format!("{v}{t}{p}");
                    let (mut fast, mut general) =
                        (Cursor::new(text.as_bytes()), Cursor::new(text.as_bytes()));
                    let (a, b) = (fast.skip_unused(), general.skip_unused_general());
                    assert_eq!(a.is_ok(), b.is_ok(), "{text}");
                    assert_eq!(fast.pos(), general.pos(), "{text}");
                }
            }
        }
    }
}
