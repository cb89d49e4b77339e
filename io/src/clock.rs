//! Monotonic nanosecond clock on `quanta` (TSC where available), plus wall-clock time.
//!
//! One process-wide [`quanta::Clock`] lives in a [`OnceLock`]. Creating it calibrates the TSC
//! against the OS monotonic clock, which can take up to ~200 ms, so call [`calibrate`] once at
//! startup: afterwards [`now`] costs one `rdtsc` plus a multiply-shift and never blocks,
//! allocates or makes a system call.
//!
//! Cost model (performance-references.md, row 8): `Clock::raw` ≈ 9 ns, `raw` + conversion
//! ≈ 18 ns. [`now`] is `Clock::delta_as_nanos(origin, Clock::raw())`, the same arithmetic as
//! `Clock::now()` but returning a plain `u64` instead of an opaque `quanta::Instant` (whose
//! value is not public). A thread that must shave the conversion off its hot loop stores
//! [`raw`] ticks and converts them later with [`raw_to_nanos`].
//!
//! Caveats: `rdtsc` is not serialising (it can be reordered around the code being measured),
//! and a TSC read after an `Acquire` load on one core can be earlier than the writer's read on
//! another core. Cross-thread deltas can therefore be slightly negative: subtract with
//! `saturating_sub` and count such samples (see
//! [`LatencyRecorder::record_span`](crate::telemetry::LatencyRecorder::record_span)).

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use mm_core::Nanos;

struct Global {
    clock: quanta::Clock,
    /// Raw counter value at initialisation: [`now`] counts from here.
    origin: u64,
}

static GLOBAL: OnceLock<Global> = OnceLock::new();

#[inline]
fn global() -> &'static Global {
    GLOBAL.get_or_init(|| {
        let clock = quanta::Clock::new();
        let origin = clock.raw();
        Global { clock, origin }
    })
}

/// Forces creation and calibration of the global clock (up to ~200 ms). Call it once at
/// startup, before any hot thread runs, so that no hot thread pays for it. Idempotent.
pub fn calibrate() {
    let _ = global();
}

/// Monotonic time in nanoseconds since the clock was initialised (process start, in
/// practice). Comparable across threads of this process; never comparable with exchange time.
///
/// Never blocks, allocates or makes a system call once [`calibrate`] has run (the first call
/// otherwise calibrates the clock).
#[inline]
pub fn now() -> Nanos {
    let g = global();
    g.clock.delta_as_nanos(g.origin, g.clock.raw())
}

/// Raw counter value (TSC ticks where available, otherwise nanoseconds). Not in nanoseconds:
/// convert with [`raw_to_nanos`], off the hot path if possible.
#[inline]
pub fn raw() -> u64 {
    global().clock.raw()
}

/// Converts a value from [`raw`] to the [`now`] time base (ns since clock initialisation).
/// Values older than the initialisation convert to 0.
#[inline]
pub fn raw_to_nanos(raw: u64) -> Nanos {
    let g = global();
    g.clock.delta_as_nanos(g.origin, raw)
}

/// Wall-clock time in nanoseconds since the Unix epoch (`SystemTime`), for comparisons with
/// exchange timestamps. May jump (NTP); off the hot path (it is a vDSO call, ≈20–50 ns).
/// Returns 0 if the system clock is before 1970.
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn monotonic_and_scaled_to_nanoseconds() {
        calibrate();
        let mut prev = now();
        for _ in 0..10_000 {
            let t = now();
            assert!(t >= prev, "clock went backwards: {t} < {prev}");
            prev = t;
        }
        // Bracket our reading with std's so preemption cannot make the check flaky.
        let wall = std::time::Instant::now();
        let a = now();
        std::thread::sleep(Duration::from_millis(20));
        let b = now();
        let wall_ns = wall.elapsed().as_nanos() as u64;
        let ours = b - a;
        // At least the sleep, at most the bracketing interval (10 % calibration slack).
        assert!(
            ours >= 18_000_000 && ours <= wall_ns + wall_ns / 10,
            "quanta {ours} ns vs std {wall_ns} ns"
        );
    }

    #[test]
    fn raw_converts_to_now_time_base() {
        let r = raw();
        let n = now();
        let converted = raw_to_nanos(r);
        assert!(converted <= n);
        assert!(n - converted < 10_000_000);
    }

    #[test]
    fn unix_nanos_is_plausible() {
        // After 2024-01-01 and before 2100.
        let t = unix_nanos();
        assert!(t > 1_704_067_200_000_000_000 && t < 4_102_444_800_000_000_000);
    }
}
