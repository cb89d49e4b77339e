//! Latency recording: one fixed-bound `hdrhistogram` per measurement [`Stage`].
//!
//! Histograms are created with fixed bounds ([`LOWEST_NS`] .. [`HIGHEST_NS`], [`SIGFIG`]
//! significant digits) and auto-resize **off**, so [`LatencyRecorder::record`] never
//! allocates: a value above the bound is clamped to it and counted in
//! [`LatencyRecorder::clamped`], never lost. Memory: about 220 KiB per stage, allocated in
//! [`LatencyRecorder::new`].
//!
//! The recorder is meant for the control thread (design.md §5), which drains latency samples
//! from the telemetry ring. Reporting ([`LatencyRecorder::percentiles`],
//! [`LatencyRecorder::write_hgrm`]) allocates and does IO: off the hot path.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;

use hdrhistogram::Histogram;
use mm_core::{Stage, STAGES};

/// Lowest discernible value, ns.
pub const LOWEST_NS: u64 = 1;
/// Highest trackable value, ns (60 s). Larger samples are clamped to it.
pub const HIGHEST_NS: u64 = 60_000_000_000;
/// Significant decimal digits kept per value (relative error ≤ 0.1 %).
pub const SIGFIG: u8 = 3;

/// Every [`Stage`], in index order.
pub const STAGE_LIST: [Stage; STAGES] = [
    Stage::Decode,
    Stage::Ring,
    Stage::Decide,
    Stage::EncodeWrite,
    Stage::TickToQuote,
    Stage::TickToWire,
];

/// Short snake-case name of a stage, used in file names and tables: `decode`, `ring`,
/// `decide`, `encode_write`, `tick_to_quote`, `tick_to_wire`.
pub const fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Decode => "decode",
        Stage::Ring => "ring",
        Stage::Decide => "decide",
        Stage::EncodeWrite => "encode_write",
        Stage::TickToQuote => "tick_to_quote",
        Stage::TickToWire => "tick_to_wire",
    }
}

/// Percentile summary of one stage. All values in nanoseconds (highest-equivalent values of
/// the histogram, so within 0.1 % of the recorded ones); all 0 when `count == 0`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Percentiles {
    /// Median, ns.
    pub p50: u64,
    /// 90th percentile, ns.
    pub p90: u64,
    /// 99th percentile, ns.
    pub p99: u64,
    /// 99.9th percentile, ns.
    pub p999: u64,
    /// 99.99th percentile, ns.
    pub p9999: u64,
    /// Largest sample, ns (clamped samples count as [`HIGHEST_NS`]).
    pub max: u64,
    /// Number of samples.
    pub count: u64,
}

/// One fixed-bound latency histogram per [`Stage`], plus counters of clamped and negative
/// samples.
#[derive(Clone, Debug)]
pub struct LatencyRecorder {
    hist: Vec<Histogram<u64>>,
    clamped: [u64; STAGES],
    negative: [u64; STAGES],
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyRecorder {
    /// Allocates the [`STAGES`] histograms (about 1.3 MiB in total).
    ///
    /// # Panics
    /// Never in practice: the bounds are valid constants. Panics only if the allocation fails.
    pub fn new() -> Self {
        let hist = (0..STAGES)
            .map(|_| {
                let mut h = Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, SIGFIG)
                    .expect("constant histogram bounds are valid");
                h.auto(false);
                h
            })
            .collect();
        LatencyRecorder {
            hist,
            clamped: [0; STAGES],
            negative: [0; STAGES],
        }
    }

    /// Records one sample of `ns` nanoseconds for `stage`. Never allocates; a value above
    /// [`HIGHEST_NS`] is recorded as [`HIGHEST_NS`] and counted in [`Self::clamped`].
    #[inline]
    pub fn record(&mut self, stage: Stage, ns: u64) {
        let i = stage as usize;
        let h = &mut self.hist[i];
        if ns > h.high() {
            self.clamped[i] += 1;
        }
        h.saturating_record(ns);
    }

    /// Records a signed sample (as carried in `Telemetry::a`). A negative value (cross-core
    /// TSC skew, see [`crate::clock`]) is recorded as 0 and counted in [`Self::negative`].
    #[inline]
    pub fn record_signed(&mut self, stage: Stage, ns: i64) {
        if ns < 0 {
            self.negative[stage as usize] += 1;
            self.record(stage, 0);
        } else {
            self.record(stage, ns as u64);
        }
    }

    /// Records `end - start` (both monotonic ns). When `end < start` the sample is recorded
    /// as 0 and counted in [`Self::negative`].
    #[inline]
    pub fn record_span(&mut self, stage: Stage, start: u64, end: u64) {
        match end.checked_sub(start) {
            Some(d) => self.record(stage, d),
            None => {
                self.negative[stage as usize] += 1;
                self.record(stage, 0);
            }
        }
    }

    /// Samples of `stage` that exceeded [`HIGHEST_NS`] and were clamped.
    pub fn clamped(&self, stage: Stage) -> u64 {
        self.clamped[stage as usize]
    }

    /// Samples of `stage` that were negative and recorded as 0.
    pub fn negative(&self, stage: Stage) -> u64 {
        self.negative[stage as usize]
    }

    /// The histogram of `stage` (values in ns).
    pub fn histogram(&self, stage: Stage) -> &Histogram<u64> {
        &self.hist[stage as usize]
    }

    /// Adds every sample and counter of `other` (e.g. another thread's recorder) into `self`.
    /// Never allocates: both sides have the same fixed bounds.
    pub fn merge(&mut self, other: &LatencyRecorder) {
        for i in 0..STAGES {
            // Same bounds on both sides, so adding cannot fail.
            let _ = self.hist[i].add(&other.hist[i]);
            self.clamped[i] += other.clamped[i];
            self.negative[i] += other.negative[i];
        }
    }

    /// Clears every histogram and counter (keeps the allocation).
    pub fn reset(&mut self) {
        for h in &mut self.hist {
            h.reset();
        }
        self.clamped = [0; STAGES];
        self.negative = [0; STAGES];
    }

    /// p50/p90/p99/p99.9/p99.99/max/count of `stage`, in ns.
    pub fn percentiles(&self, stage: Stage) -> Percentiles {
        let h = &self.hist[stage as usize];
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            p9999: h.value_at_quantile(0.9999),
            max: h.max(),
            count: h.len(),
        }
    }

    /// A plain-text percentile table of every stage, values in ns (for reports and logs).
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<14} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12} {:>12}",
            "stage", "p50", "p90", "p99", "p99.9", "p99.99", "max", "count"
        );
        for stage in STAGE_LIST {
            let p = self.percentiles(stage);
            let _ = writeln!(
                s,
                "{:<14} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12} {:>12}",
                stage_name(stage),
                p.p50,
                p.p90,
                p.p99,
                p.p999,
                p.p9999,
                p.max,
                p.count
            );
        }
        s
    }

    /// Writes the `.hgrm` percentile distribution of `stage` to the file at `path`
    /// (created or truncated). See [`Self::write_hgrm_to`] for the format.
    ///
    /// # Errors
    /// Any IO error creating or writing the file.
    pub fn write_hgrm(&self, stage: Stage, path: impl AsRef<Path>) -> io::Result<()> {
        let file = std::fs::File::create(path)?;
        let mut w = io::BufWriter::new(file);
        self.write_hgrm_to(stage, &mut w)?;
        w.flush()
    }

    /// Writes the `.hgrm` percentile distribution of `stage` in the text format of
    /// HdrHistogram's `outputPercentileDistribution(out, 5, 1000.0)`: columns Value,
    /// Percentile, TotalCount, 1/(1-Percentile), five reporting ticks per half distance,
    /// values in **microseconds** (ns / 1000), then the Mean/StdDeviation, Max/Total count
    /// and Buckets/SubBuckets footer. Readable by the standard HdrHistogram plotter.
    ///
    /// # Errors
    /// Any IO error from `w`.
    pub fn write_hgrm_to(&self, stage: Stage, w: &mut impl Write) -> io::Result<()> {
        write_hgrm(&self.hist[stage as usize], w)
    }
}

/// Writes `h` (values in ns) in HdrHistogram's `.hgrm` text format, as
/// `outputPercentileDistribution(out, 5, 1000.0)` does: the percentile distribution with 5
/// ticks per half distance, values in **microseconds** (ns / 1000), then the
/// Mean/StdDeviation, Max/Total count and Buckets/SubBuckets footer. Readable by the standard
/// HdrHistogram plotter and by `mm-latency plot`.
///
/// # Errors
/// Any IO error from `w`.
pub fn write_hgrm(h: &Histogram<u64>, w: &mut impl Write) -> io::Result<()> {
    const TICKS_PER_HALF_DISTANCE: u32 = 5;
    const RATIO: f64 = 1000.0;
    let p = usize::from(h.sigfig());
    writeln!(
        w,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    if !h.is_empty() {
        let mut total = 0u64;
        for v in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
            total += v.count_since_last_iteration();
            let q = v.quantile_iterated_to();
            let value = v.value_iterated_to() as f64 / RATIO;
            if q < 1.0 {
                writeln!(
                    w,
                    "{value:>12.p$} {q:>2.12} {total:>10} {:>14.2}",
                    1.0 / (1.0 - q)
                )?;
            } else {
                writeln!(w, "{value:>12.p$} {q:>2.12} {total:>10}")?;
            }
        }
    }
    let (mean, stdev, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (h.mean() / RATIO, h.stdev() / RATIO, h.max() as f64 / RATIO)
    };
    writeln!(
        w,
        "#[Mean    = {mean:>12.p$}, StdDeviation   = {stdev:>12.p$}]"
    )?;
    writeln!(
        w,
        "#[Max     = {max:>12.p$}, Total count    = {:>12}]",
        h.len()
    )?;
    writeln!(
        w,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        sub_bucket_count(h.sigfig())
    )
}

fn sub_bucket_count(sigfig: u8) -> u64 {
    (2 * 10u64.pow(u32::from(sigfig))).next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let names: Vec<_> = STAGE_LIST.iter().map(|s| stage_name(*s)).collect();
        assert_eq!(
            names,
            [
                "decode",
                "ring",
                "decide",
                "encode_write",
                "tick_to_quote",
                "tick_to_wire"
            ]
        );
        for (i, s) in STAGE_LIST.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
    }

    #[test]
    fn percentiles_of_uniform_samples() {
        let mut r = LatencyRecorder::new();
        assert_eq!(r.percentiles(Stage::Decide), Percentiles::default());
        for v in 1..=100_000u64 {
            r.record(Stage::Decide, v);
        }
        let p = r.percentiles(Stage::Decide);
        assert_eq!(p.count, 100_000);
        let close = |a: u64, b: u64| (a as f64 - b as f64).abs() <= b as f64 * 0.001 + 1.0;
        assert!(close(p.p50, 50_000), "{p:?}");
        assert!(close(p.p90, 90_000), "{p:?}");
        assert!(close(p.p99, 99_000), "{p:?}");
        assert!(close(p.p999, 99_900), "{p:?}");
        assert!(close(p.p9999, 99_990), "{p:?}");
        assert!(close(p.max, 100_000), "{p:?}");
        // Other stages untouched.
        assert_eq!(r.percentiles(Stage::Ring).count, 0);
    }

    #[test]
    fn out_of_range_is_clamped_and_counted_without_resizing() {
        let mut r = LatencyRecorder::new();
        let before = r.histogram(Stage::Ring).distinct_values();
        r.record(Stage::Ring, u64::MAX);
        r.record(Stage::Ring, HIGHEST_NS * 10);
        r.record(Stage::Ring, 0);
        assert_eq!(r.clamped(Stage::Ring), 2);
        assert_eq!(r.histogram(Stage::Ring).distinct_values(), before);
        let p = r.percentiles(Stage::Ring);
        assert_eq!(p.count, 3);
        assert!(p.max >= HIGHEST_NS && p.max <= HIGHEST_NS + HIGHEST_NS / 1000);
    }

    #[test]
    fn negative_spans_are_counted() {
        let mut r = LatencyRecorder::new();
        r.record_span(Stage::TickToQuote, 100, 50);
        r.record_span(Stage::TickToQuote, 100, 350);
        r.record_signed(Stage::TickToQuote, -3);
        assert_eq!(r.negative(Stage::TickToQuote), 2);
        assert_eq!(r.percentiles(Stage::TickToQuote).count, 3);
        assert_eq!(r.percentiles(Stage::TickToQuote).max, 250);
        let mut other = LatencyRecorder::new();
        other.merge(&r);
        other.merge(&r);
        assert_eq!(other.negative(Stage::TickToQuote), 4);
        assert_eq!(other.percentiles(Stage::TickToQuote).count, 6);
        other.reset();
        assert_eq!(other.percentiles(Stage::TickToQuote).count, 0);
    }

    #[test]
    fn hgrm_format() {
        let mut r = LatencyRecorder::new();
        for v in 1..=10_000u64 {
            r.record(Stage::TickToWire, v * 100); // 0.1 µs .. 1000 µs
        }
        let mut out = Vec::new();
        r.write_hgrm_to(Stage::TickToWire, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        if std::env::var_os("MM_IO_PRINT_HGRM").is_some() {
            eprintln!("{text}");
        }
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines[1], "");
        // First data line: the minimum, 0.1 µs, at percentile 0.
        let first: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(first, ["0.100", "0.000000000000", "1", "1.00"]);
        // Last data line: percentile 1, total count, no 1/(1-p) column.
        let last_data = lines[lines.len() - 4];
        let last: Vec<&str> = last_data.split_whitespace().collect();
        assert_eq!(last.len(), 3, "{last_data}");
        assert_eq!(last[1], "1.000000000000");
        assert_eq!(last[2], "10000");
        assert!(lines[lines.len() - 3].starts_with("#[Mean    = "));
        assert!(lines[lines.len() - 2].starts_with("#[Max     = "));
        assert!(lines[lines.len() - 2].ends_with("Total count    =        10000]"));
        assert!(lines[lines.len() - 1].ends_with("SubBuckets     =         2048]"));
        // Values and total counts never decrease.
        let mut prev = (0.0f64, 0u64);
        for l in &lines[2..lines.len() - 3] {
            let f: Vec<&str> = l.split_whitespace().collect();
            let v: f64 = f[0].parse().unwrap();
            let c: u64 = f[2].parse().unwrap();
            assert!(v >= prev.0 && c >= prev.1, "{l}");
            prev = (v, c);
        }
        // Empty stage still gives a valid file.
        let mut out = Vec::new();
        r.write_hgrm_to(Stage::Decode, &mut out).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("Total count    =            0]"));
    }

    #[test]
    fn hgrm_file_and_table() {
        let mut r = LatencyRecorder::new();
        r.record(Stage::Decode, 1234);
        let dir = std::env::temp_dir().join(format!("mm-io-hgrm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("decode.hgrm");
        r.write_hgrm(Stage::Decode, &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("1.234"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
        let t = r.table();
        assert!(t.lines().nth(1).unwrap().starts_with("decode"));
        assert_eq!(t.lines().count(), 1 + STAGES);
    }
}
