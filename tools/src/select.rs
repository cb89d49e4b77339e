//! Instrument selection: `--instruments`, or `--underlying/--expiry/--strikes|--all-strikes`,
//! or (with a tape) every instrument on the tape.

use mm_core::instrument::{Instrument, Kind};

/// How instruments are chosen.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Exact names.
    pub names: Vec<String>,
    /// Underlying (base currency) filter.
    pub underlying: Option<String>,
    /// Expiry `YYYYMMDD` filter (options and futures).
    pub expiry: Option<String>,
    /// Strike filter (options).
    pub strikes: Vec<f64>,
    /// Every strike of the expiry.
    pub all_strikes: bool,
}

impl Selection {
    /// True when nothing narrows the choice.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
            && self.underlying.is_none()
            && self.expiry.is_none()
            && self.strikes.is_empty()
            && !self.all_strikes
    }

    /// Whether `inst` is selected.
    pub fn matches(&self, inst: &Instrument) -> bool {
        if !self.names.is_empty() {
            return self.names.iter().any(|n| n == &inst.name);
        }
        if let Some(u) = &self.underlying {
            if !inst.base_currency.eq_ignore_ascii_case(u) {
                return false;
            }
        }
        if let Some(e) = &self.expiry {
            match inst.expiry_ms {
                Some(ms) if yyyymmdd(ms) == *e => {}
                _ => return false,
            }
        }
        if !self.strikes.is_empty() || self.all_strikes {
            let Some(o) = inst.option else { return false };
            if !self.all_strikes && !self.strikes.iter().any(|k| (k - o.strike).abs() < 1e-9) {
                return false;
            }
        } else if self.expiry.is_some() && inst.kind == Kind::Option {
            // An expiry without strikes selects nothing of the options: say which.
            return false;
        }
        true
    }
}

/// `YYYYMMDD` of a Unix-epoch millisecond timestamp (UTC, proleptic Gregorian).
pub fn yyyymmdd(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}{m:02}{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(yyyymmdd(1_632_470_400_000), "20210924");
        assert_eq!(yyyymmdd(0), "19700101");
    }
}
