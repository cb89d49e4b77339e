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

/// One timed batch: `setup(state)` untimed, then `batch(state)` timed; returns ns per item
/// (`batch` returns the number of items it processed).
pub fn timed<T>(
    state: &mut T,
    setup: impl FnOnce(&mut T),
    batch: impl FnOnce(&mut T) -> u64,
) -> f64 {
    setup(state);
    let t = Instant::now();
    let n = batch(state);
    t.elapsed().as_nanos() as f64 / n.max(1) as f64
}

/// Side-by-side timing on a noisy machine: one warm-up round, then `reps` rounds in which
/// every contender runs one batch (each a closure returning ns per item, usually via
/// [`timed`]), the starting contender rotating from round to round. Interleaving exposes
/// every contender to the same background load, so their ratios stay stable even when the
/// absolute times drift. Returns each contender's median ns per item.
pub fn interleaved(reps: usize, contenders: &mut [&mut dyn FnMut() -> f64]) -> Vec<f64> {
    let k = contenders.len();
    for c in contenders.iter_mut() {
        std::hint::black_box(c());
    }
    let mut v = vec![Vec::with_capacity(reps); k];
    for r in 0..reps {
        for j in 0..k {
            let c = (r + j) % k;
            v[c].push(contenders[c]());
        }
    }
    v.iter_mut().map(|x| median(x)).collect()
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
