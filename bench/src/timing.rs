//! Timing helpers for the `compare` binary: medians over repeated batches, and machine info.

use std::time::Instant;

/// Median of `v` (sorted in place); 0 for an empty slice.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs `batch` once to warm up, then `reps` more times, and returns the median time per item
/// in ns. `batch` returns the number of items it processed; `setup` runs before each batch,
/// outside the timed region. Both get `state` (the thing measured).
pub fn median_ns_per_item<T, S: FnMut(&mut T), F: FnMut(&mut T) -> u64>(
    reps: usize,
    state: &mut T,
    mut setup: S,
    mut batch: F,
) -> f64 {
    setup(state);
    std::hint::black_box(batch(state));
    let mut v = Vec::with_capacity(reps);
    for _ in 0..reps {
        setup(state);
        let t = Instant::now();
        let n = batch(state);
        let dt = t.elapsed().as_nanos() as f64;
        v.push(dt / n.max(1) as f64);
    }
    median(&mut v)
}

/// What the numbers were measured on.
#[derive(Clone, Debug)]
pub struct Machine {
    /// Logical CPUs available to this process.
    pub cpus: usize,
    /// `model name` from `/proc/cpuinfo` (empty if unavailable).
    pub model: String,
    /// Current clocksource (`tsc` expected).
    pub clocksource: String,
    /// `rustc` target features relevant to the SIMD peers (compile time).
    pub target_features: String,
}

fn first_line(path: &str) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.trim().to_owned()))
        .unwrap_or_default()
}

/// Reads the machine info.
pub fn machine() -> Machine {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default();
    let mut tf = Vec::new();
    if cfg!(target_feature = "sse4.2") {
        tf.push("sse4.2");
    }
    if cfg!(target_feature = "avx2") {
        tf.push("avx2");
    }
    if cfg!(target_feature = "pclmulqdq") {
        tf.push("pclmulqdq");
    }
    if tf.is_empty() {
        tf.push("baseline x86-64 (sse2)");
    }
    Machine {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        model,
        clocksource: first_line("/sys/devices/system/clocksource/clocksource0/current_clocksource"),
        target_features: tf.join(","),
    }
}
