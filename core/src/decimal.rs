//! Exact decimal numbers as they appear on the wire (`0.0005`, `10.0`, `5.0e-8`, `9.21e4`).
//!
//! A [`Dec`] is `mant × 10^-scale`. Parsing never goes through a float, so a price such as
//! `0.0795` converts to ticks exactly; this is what lets book prices and order prices be
//! compared as integers (Deribit protocol dossier §1.6: "use decimal-exact parsing").

/// An exact decimal `mant × 10^-scale`, `scale` ≤ 18.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Dec {
    /// Integer mantissa.
    pub mant: i64,
    /// Number of decimal places (power of ten dividing `mant`), 0..=18.
    pub scale: u32,
}

/// Powers of ten that fit an `i64` (`POW10[k] = 10^k`, k ≤ 18).
pub const POW10: [i64; 19] = {
    let mut t = [1i64; 19];
    let mut i = 1;
    while i < 19 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

impl Dec {
    /// Builds `mant × 10^-scale`.
    ///
    /// # Panics
    /// If `scale > 18`.
    pub const fn new(mant: i64, scale: u32) -> Dec {
        assert!(scale <= 18, "Dec scale above 18");
        Dec { mant, scale }
    }

    /// Parses JSON number text (optional sign, digits, optional fraction, optional exponent).
    ///
    /// Trailing fractional zeros are stripped (`10.0` → `10`, scale 0) so that equal values
    /// have equal representations.
    ///
    /// # Errors
    /// Returns `None` on empty or malformed text, or if the value needs more than 18
    /// significant digits or more than 18 decimal places.
    pub fn parse(s: &[u8]) -> Option<Dec> {
        let mut i = 0;
        let neg = match s.first() {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let mut mant: i64 = 0;
        let mut scale: i32 = 0;
        let mut digits = 0u32;
        let mut any = false;
        while i < s.len() && s[i].is_ascii_digit() {
            if digits < 18 {
                mant = mant * 10 + (s[i] - b'0') as i64;
                if mant != 0 {
                    digits += 1;
                }
            } else {
                return None;
            }
            any = true;
            i += 1;
        }
        if i < s.len() && s[i] == b'.' {
            i += 1;
            while i < s.len() && s[i].is_ascii_digit() {
                if digits >= 18 {
                    // Only zeros may follow beyond the precision we keep.
                    if s[i] != b'0' {
                        return None;
                    }
                } else {
                    mant = mant * 10 + (s[i] - b'0') as i64;
                    if mant != 0 {
                        digits += 1;
                    }
                    scale += 1;
                }
                any = true;
                i += 1;
            }
        }
        if !any {
            return None;
        }
        if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
            i += 1;
            let eneg = match s.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let mut e: i32 = 0;
            let start = i;
            while i < s.len() && s[i].is_ascii_digit() {
                e = e.saturating_mul(10).saturating_add((s[i] - b'0') as i32);
                i += 1;
            }
            if i == start {
                return None;
            }
            scale -= if eneg { -e } else { e };
        }
        if i != s.len() {
            return None;
        }
        // Normalise: drop trailing zeros, then bring a negative scale up to zero.
        while scale > 0 && mant % 10 == 0 {
            mant /= 10;
            scale -= 1;
        }
        while scale < 0 {
            mant = mant.checked_mul(10)?;
            scale += 1;
        }
        if scale > 18 {
            return None;
        }
        Some(Dec {
            mant: if neg { -mant } else { mant },
            scale: scale as u32,
        })
    }

    /// Converts an `f64` (from a config file or a float-only source) to the nearest decimal
    /// with at most `max_scale` places, trailing zeros stripped.
    pub fn from_f64(v: f64, max_scale: u32) -> Option<Dec> {
        if !v.is_finite() || max_scale > 18 {
            return None;
        }
        let m = (v * POW10[max_scale as usize] as f64).round();
        if m.abs() > 9.0e17 {
            return None;
        }
        let mut d = Dec {
            mant: m as i64,
            scale: max_scale,
        };
        while d.scale > 0 && d.mant % 10 == 0 {
            d.mant /= 10;
            d.scale -= 1;
        }
        Some(d)
    }

    /// The value as an `f64` (reports and off-hot-path arithmetic only).
    pub fn to_f64(self) -> f64 {
        self.mant as f64 / POW10[self.scale as usize] as f64
    }

    /// `self / unit` when it is an exact integer, else `None` (also `None` on overflow or a
    /// zero unit).
    #[inline]
    pub fn div_exact(self, unit: Dec) -> Option<i64> {
        let (n, d) = self.ratio(unit)?;
        if n % d == 0 {
            i64::try_from(n / d).ok()
        } else {
            None
        }
    }

    /// `self / unit` rounded to the nearest integer (ties away from zero); `None` on overflow
    /// or a zero unit.
    #[inline]
    pub fn div_round(self, unit: Dec) -> Option<i64> {
        let (n, d) = self.ratio(unit)?;
        // Common case (quotes, greeks, ticker fields): both fit an i64, so a 64-bit division
        // replaces the 128-bit one (`__divti3`, ~5× the instructions).
        if let (Ok(n), Ok(d)) = (i64::try_from(n), i64::try_from(d)) {
            let (q, r) = (n / d, n % d);
            // |r| < d ≤ i64::MAX, so 2·|r| fits a u64.
            return Some(if 2 * r.unsigned_abs() >= d as u64 {
                q + n.signum()
            } else {
                q
            });
        }
        let q = n / d;
        let r = n % d;
        let q = if 2 * r.abs() >= d { q + n.signum() } else { q };
        i64::try_from(q).ok()
    }

    #[inline]
    fn ratio(self, unit: Dec) -> Option<(i128, i128)> {
        if unit.mant <= 0 {
            return None;
        }
        // self/unit = (m1·10^-s1)/(m2·10^-s2) = m1·10^s2 / (m2·10^s1)
        let n = self.mant as i128 * POW10[unit.scale as usize] as i128;
        let d = unit.mant as i128 * POW10[self.scale as usize] as i128;
        Some((n, d))
    }

    /// Writes the exact decimal text of `units × self` (e.g. ticks × tick size) into `out`,
    /// without exponent and without trailing zeros (`0.0795`, `4092.25`, `10`).
    /// Returns the number of bytes written.
    ///
    /// # Panics
    /// If `out` is shorter than 40 bytes.
    pub fn write_times(self, units: i64, out: &mut [u8]) -> usize {
        let v = units as i128 * self.mant as i128;
        write_scaled(v, self.scale, out)
    }
}

/// Writes `v × 10^-scale` as plain decimal text into `out`; returns the length.
///
/// # Panics
/// If `out` is shorter than 40 bytes.
pub fn write_scaled(v: i128, scale: u32, out: &mut [u8]) -> usize {
    assert!(out.len() >= 40, "write_scaled needs 40 bytes");
    let mut buf = [0u8; 48];
    let mut n = 0;
    let neg = v < 0;
    let mut a = v.unsigned_abs();
    let mut s = scale;
    // strip trailing zeros of the fraction
    while s > 0 && a.is_multiple_of(10) {
        a /= 10;
        s -= 1;
    }
    let mut written_frac = 0;
    loop {
        if s > 0 && written_frac == s {
            buf[n] = b'.';
            n += 1;
        }
        buf[n] = b'0' + (a % 10) as u8;
        n += 1;
        a /= 10;
        written_frac += 1;
        if a == 0 && written_frac > s {
            break;
        }
    }
    if neg {
        buf[n] = b'-';
        n += 1;
    }
    for i in 0..n {
        out[i] = buf[n - 1 - i];
    }
    n
}

impl core::fmt::Display for Dec {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut b = [0u8; 48];
        let n = self.write_times(1, &mut b);
        f.write_str(core::str::from_utf8(&b[..n]).unwrap_or("?"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Dec {
        Dec::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn parses_wire_forms() {
        assert_eq!(p("0.0795"), Dec::new(795, 4));
        assert_eq!(p("10.0"), Dec::new(10, 0));
        assert_eq!(p("5.0e-8"), Dec::new(5, 8));
        assert_eq!(p("9.21e4"), Dec::new(92100, 0));
        assert_eq!(p("-4.0e-7"), Dec::new(-4, 7));
        assert_eq!(p("4092.25"), Dec::new(409225, 2));
        assert_eq!(p("0"), Dec::new(0, 0));
        assert!(Dec::parse(b"").is_none());
        assert!(Dec::parse(b"1.2.3").is_none());
        assert!(Dec::parse(b"abc").is_none());
        assert!(Dec::parse(b"1e").is_none());
    }

    #[test]
    fn divides_into_ticks() {
        let tick = p("0.0005");
        assert_eq!(p("0.0795").div_exact(tick), Some(159));
        assert_eq!(p("0.07951").div_exact(tick), None);
        assert_eq!(p("0.07951").div_round(tick), Some(159));
        assert_eq!(p("4092.25").div_exact(p("0.25")), Some(16369));
        assert_eq!(p("481310").div_exact(p("10")), Some(48131));
        // Ties round away from zero, on the 64-bit path and on the 128-bit one (18-digit
        // mantissa × 10^18 does not fit an i64).
        let e4 = Dec::new(1, 4);
        assert_eq!(p("0.00005").div_round(e4), Some(1));
        assert_eq!(p("-0.00005").div_round(e4), Some(-1));
        assert_eq!(p("-0.00015").div_round(e4), Some(-2));
        assert_eq!(p("-0.000149").div_round(e4), Some(-1));
        assert_eq!(p("7").div_round(p("2")), Some(4));
        let big = Dec::new(123_456_789_012_345_678, 18);
        assert_eq!(
            big.div_round(Dec::new(1, 18)),
            Some(123_456_789_012_345_678)
        );
        assert_eq!(big.div_round(Dec::new(1, 0)), Some(0));
        assert_eq!(
            Dec::new(5, 1).div_round(Dec::new(1, 18)),
            Some(500_000_000_000_000_000)
        );
    }

    #[test]
    fn writes_exact_text() {
        let mut b = [0u8; 48];
        let tick = p("0.0005");
        let n = tick.write_times(159, &mut b);
        assert_eq!(&b[..n], b"0.0795");
        let n = p("0.25").write_times(16369, &mut b);
        assert_eq!(&b[..n], b"4092.25");
        let n = p("10").write_times(3, &mut b);
        assert_eq!(&b[..n], b"30");
        let n = p("0.1").write_times(-3, &mut b);
        assert_eq!(&b[..n], b"-0.3");
        let n = p("0.0005").write_times(1, &mut b);
        assert_eq!(&b[..n], b"0.0005");
    }
}
