//! Exact decimals of private frames in one pass: the plain shape (`92037.0`) through the
//! JSON scanner's fast path, and the short-exponent shape Deribit uses for order prices and
//! fees (`9.21e4`, `5.0e-8`), which the scanner leaves to its general path (number grammar
//! walk, then [`Dec::parse`]).

use crate::deribit::json::{self, Cursor};
use crate::deribit::DecodeError;
use mm_core::decimal::{Dec, POW10};

/// The number right at the cursor (no whitespace) as an exact [`Dec`], consumed, for the
/// shapes `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]{1,2})?` with at most 18 mantissa
/// digits whose value is representable (at most 18 decimal places, |mantissa| below 2^63
/// after scaling). `None`, consuming nothing, for anything else: the caller then takes the
/// general path ([`Cursor::dec`]), which decides. Where it answers, it gives exactly what
/// [`json::dec`] (and so [`Dec::parse`]) gives for the same number text (trailing zeros
/// stripped, scale ≥ 0).
#[inline(always)]
pub(crate) fn fast_dec(c: &mut Cursor<'_>) -> Option<Dec> {
    if let Some(d) = c.try_dec() {
        return Some(d);
    }
    exp_dec(c)
}

/// A non-negative integer (timestamps, sequence numbers): 1–19 plain digits right at the
/// cursor (no leading zero unless the number is `0`, not followed by `.`, `e` or `E`) read
/// inline, anything else by [`Cursor::u64`], so the result is always [`Cursor::u64`]'s.
///
/// # Errors
/// As [`Cursor::u64`]: not a number, negative, fractional or above `u64::MAX`.
#[inline(always)]
pub(crate) fn read_u64(c: &mut Cursor<'_>) -> Result<u64, DecodeError> {
    let b = c.buf();
    let i = c.pos();
    let (v, n) = json::digit_run(b, i);
    if (1..=19).contains(&n)
        && (n == 1 || b.get(i) != Some(&b'0'))
        && !matches!(b.get(i + n), Some(b'.' | b'e' | b'E'))
    {
        // At most 19 digits: below 10^19 < u64::MAX, so `digit_run` did not wrap.
        c.rewind(i + n);
        return Ok(v);
    }
    Ok(c.u64()?)
}

/// The exponent form of [`fast_dec`] (the plain form was refused).
#[inline(never)]
fn exp_dec(c: &mut Cursor<'_>) -> Option<Dec> {
    let b = c.buf();
    let start = c.pos();
    let neg = b.get(start) == Some(&b'-');
    let i = start + usize::from(neg);
    let (int, il) = json::digit_run(b, i);
    if il == 0 || (il > 1 && b.get(i) == Some(&b'0')) {
        return None;
    }
    let mut j = i + il;
    let (mut fl, mut frac) = (0, 0);
    if b.get(j) == Some(&b'.') {
        (frac, fl) = json::digit_run(b, j + 1);
        if fl == 0 {
            return None;
        }
        j += 1 + fl;
    }
    // ≤ 18 digits: the mantissa is below 10^18 < 2^63.
    if il + fl > 18 || !matches!(b.get(j), Some(b'e' | b'E')) {
        return None;
    }
    let mant = int.checked_mul(*POW10.get(fl)? as u64)?.checked_add(frac)? as i64;
    j += 1;
    let eneg = match b.get(j) {
        Some(b'-') => {
            j += 1;
            true
        }
        Some(b'+') => {
            j += 1;
            false
        }
        _ => false,
    };
    let (e, el) = json::digit_run(b, j);
    if el == 0 || el > 2 {
        return None;
    }
    j += el;
    let e = e as i32;
    let mut scale = fl as i32 - if eneg { -e } else { e };
    let mut m = mant;
    while scale > 0 && m % 10 == 0 {
        m /= 10;
        scale -= 1;
    }
    if scale < 0 {
        m = m.checked_mul(*POW10.get((-scale) as usize)?)?;
        scale = 0;
    }
    if scale > 18 {
        return None;
    }
    c.rewind(j);
    Some(Dec {
        mant: if neg { -m } else { m },
        scale: scale as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `fast_dec` must agree with the general path wherever it answers, consume exactly the
    /// number text, and answer the shapes it claims.
    fn pin(text: &str) -> Option<Dec> {
        let framed = format!("{text},");
        let mut c = Cursor::new(framed.as_bytes());
        let fast = fast_dec(&mut c);
        let mut g = Cursor::new(framed.as_bytes());
        let general = g.dec().ok();
        match fast {
            Some(d) => {
                assert_eq!(Some(d), general, "{text}");
                assert_eq!(c.pos(), g.pos(), "{text}");
            }
            None => assert_eq!(c.pos(), 0, "{text}: consumed on refusal"),
        }
        fast
    }

    #[test]
    fn read_u64_is_cursor_u64() {
        for t in [
            "0",
            "7",
            "1765505266849",
            "123024306",
            "18446744073709551615",
            "18446744073709551616",
            "9999999999999999999",
            "00",
            "01",
            "1.0",
            "1e3",
            "-1",
            "1.5",
            "",
            "x",
            " 5",
            "1234567890123456789012",
        ] {
            let framed = format!("{t},");
            let mut c = Cursor::new(framed.as_bytes());
            let mut g = Cursor::new(framed.as_bytes());
            let (r, e) = (read_u64(&mut c), g.u64().map_err(DecodeError::from));
            assert_eq!(r, e, "{t}");
            if r.is_ok() {
                assert_eq!(c.pos(), g.pos(), "{t}");
            }
        }
    }

    #[test]
    fn agrees_with_the_general_path() {
        // The shapes of the recorded private frames.
        for t in [
            "9.21e4", "3.2e4", "5.0e-8", "-4.0e-7", "-3.97e-7", "92037.0", "10.0", "0.0", "0",
        ] {
            assert!(pin(t).is_some(), "{t} not taken by the fast path");
        }
        assert_eq!(
            pin("9.21e4"),
            Some(Dec {
                mant: 92100,
                scale: 0
            })
        );
        assert_eq!(pin("5.0e-8"), Some(Dec { mant: 5, scale: 8 }));
        assert_eq!(
            pin("-3.97e-7"),
            Some(Dec {
                mant: -397,
                scale: 9
            })
        );
        // Every combination of a few mantissas and exponents (edges of the 18-digit and
        // 18-place limits, overflow on scaling up, leading zeros, signs, malformed text).
        let mants = [
            "0",
            "1",
            "-1",
            "0.5",
            "1.50",
            "12.345",
            "-0.001",
            "123456789012345678",
            "12345678901234567.8",
            "1234567890123456789",
            "9.99",
            "00",
            "01.5",
            "1.",
            "-",
            ".5",
        ];
        let exps = [
            "", "e0", "e1", "E2", "e+3", "e-3", "e17", "e18", "e19", "e-18", "e-19", "e99", "e-99",
            "e100", "e", "e+", "e-", "E-05",
        ];
        let mut taken = 0;
        for m in mants {
            for e in exps {
                taken += usize::from(pin(&format!("{m}{e}")).is_some());
            }
        }
        assert!(taken >= 80, "fast path took {taken}");
    }
}
