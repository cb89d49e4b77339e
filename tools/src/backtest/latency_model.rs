//! Latency models of the backtest: a constant, or draws from a recorded latency histogram.
//!
//! As hftbacktest's `ConstantLatency` / `IntpOrderLatency` (nkaz001/hftbacktest,
//! "Latency models" docs): an order intent reaches the matching model `entry` ns after the
//! engine decided, and the venue's answer reaches the engine `response` ns after the
//! matching model handled it; market data reaches the engine `feed` ns after the tape time.
//!
//! A recorded histogram is read from an `.hgrm` file (parsed by [`crate::latency::parse_hgrm`])
//! in HdrHistogram's percentile text format
//! (what `mm-fast --hgrm DIR` and `mm-latency` write with [`mm_io::telemetry::write_hgrm`]:
//! columns Value (µs), Percentile, TotalCount, 1/(1-Percentile)). It becomes an integer table
//! of (cumulative count, value ns); a draw takes a uniform integer in `[0, total)` from a
//! seeded SplitMix64 generator and returns the value of the first row whose cumulative count
//! exceeds it (the empirical step CDF). Same seed → same draws: runs stay deterministic.

use std::path::Path;

/// SplitMix64 (Steele, Lea, Flood 2014): a small, fast, seedable generator.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer in `[0, n)` (`n > 0`; Lemire's multiply-shift, bias < 2⁻³²·n).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// A recorded latency distribution: cumulative counts and values in ns, ascending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    /// `(cumulative count, value ns)` per percentile row, both non-decreasing.
    rows: Vec<(u64, u64)>,
}

impl Histogram {
    /// Parses the text of an `.hgrm` file (values in µs).
    ///
    /// # Errors
    /// No percentile row, a row whose numbers do not parse, or counts that decrease.
    pub fn parse(text: &str) -> Result<Histogram, String> {
        let mut rows: Vec<(u64, u64)> = Vec::new();
        for p in crate::latency::parse_hgrm(text)? {
            if !(p.value_us.is_finite() && p.value_us >= 0.0) {
                return Err(format!("bad value {}", p.value_us));
            }
            if rows.last().is_some_and(|&(c, _)| p.total_count < c) {
                return Err("total count decreases".into());
            }
            rows.push((p.total_count, (p.value_us * 1e3).round() as u64));
        }
        match rows.last() {
            None => Err("no percentile rows (is this an .hgrm file?)".into()),
            Some(&(0, _)) => Err("the histogram is empty (total count 0)".into()),
            Some(_) => Ok(Histogram { rows }),
        }
    }

    /// Reads an `.hgrm` file.
    ///
    /// # Errors
    /// Unreadable file or [`Histogram::parse`] errors, naming the file.
    pub fn load(path: &Path) -> Result<Histogram, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("latency histogram {}: {e}", path.display()))?;
        Histogram::parse(&text).map_err(|e| format!("latency histogram {}: {e}", path.display()))
    }

    /// Total count.
    pub fn total(&self) -> u64 {
        self.rows.last().map_or(0, |r| r.0)
    }

    /// Median value, ns.
    pub fn median_ns(&self) -> u64 {
        self.value_at(self.total() / 2)
    }

    /// Value (ns) of the first row whose cumulative count exceeds `k`.
    fn value_at(&self, k: u64) -> u64 {
        let i = self.rows.partition_point(|&(c, _)| c <= k);
        self.rows[i.min(self.rows.len() - 1)].1
    }

    /// One draw (ns).
    #[inline]
    pub fn draw(&self, rng: &mut SplitMix64) -> u64 {
        self.value_at(rng.below(self.total()))
    }
}

/// One latency: constant, or drawn from a recorded histogram.
#[derive(Clone, Debug)]
pub enum Latency {
    /// Always this many ns.
    Constant(u64),
    /// Drawn from this histogram.
    Recorded(std::sync::Arc<Histogram>),
}

impl Latency {
    /// The next latency, ns.
    #[inline]
    pub fn next(&self, rng: &mut SplitMix64) -> u64 {
        match self {
            Latency::Constant(ns) => *ns,
            Latency::Recorded(h) => h.draw(rng),
        }
    }

    /// Short description (`"250000 ns"`, `"recorded (median 41000 ns)"`).
    pub fn describe(&self) -> String {
        match self {
            Latency::Constant(ns) => format!("{ns} ns"),
            Latency::Recorded(h) => format!("recorded (median {} ns)", h.median_ns()),
        }
    }
}

/// The three latencies of a run and the generator their draws come from.
#[derive(Clone, Debug)]
pub struct LatencyModel {
    /// Tape time → the engine sees the market-data event.
    pub feed: Latency,
    /// Engine decision → the intent reaches the matching model.
    pub entry: Latency,
    /// Matching model → the answer (ack, reject, fill) reaches the engine.
    pub response: Latency,
    /// Seeded generator of the draws.
    pub rng: SplitMix64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hgrm_written_by_mm_io_and_draws_from_it() {
        let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
        for v in [10_000u64, 20_000, 20_000, 30_000, 1_000_000] {
            h.record(v).unwrap();
        }
        let mut buf = Vec::new();
        mm_io::telemetry::write_hgrm(&h, &mut buf).unwrap();
        let hist = Histogram::parse(std::str::from_utf8(&buf).unwrap()).unwrap();
        assert_eq!(hist.total(), 5);
        assert!((19_000..=21_000).contains(&hist.median_ns()));
        let mut rng = SplitMix64::new(7);
        let draws: Vec<u64> = (0..2000).map(|_| hist.draw(&mut rng)).collect();
        assert!(draws.iter().all(|&d| (9_000..=1_100_000).contains(&d)));
        let big = draws.iter().filter(|&&d| d > 500_000).count();
        assert!((250..=550).contains(&big), "{big} of 2000 ≈ 1/5");
        let mut rng2 = SplitMix64::new(7);
        assert_eq!(hist.draw(&mut rng2), draws[0]);
    }

    #[test]
    fn rejects_garbage() {
        assert!(Histogram::parse("hello world\n").is_err());
        assert!(Histogram::parse("").is_err());
        assert!(Histogram::parse("1.0 0.5 3 2.0\n1.0 0.6 2 2.5\n").is_err());
    }
}
