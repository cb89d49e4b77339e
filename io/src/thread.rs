//! Thread spawning, CPU pinning and idle policies.
//!
//! The hot thread is pinned to one CPU with `core_affinity` and busy-polls its rings; when it
//! finds no work it calls [`IdleWaiter::idle`], whose behaviour is chosen by `--idle`:
//!
//! | policy | per idle call | latency cost | CPU cost |
//! |---|---|---|---|
//! | [`Idle::Spin`] | `PAUSE` (`spin_loop` hint) | none | one full core |
//! | [`Idle::Yield`] | `sched_yield` syscall | a syscall, plus a time slice when others run | a core when alone |
//! | [`Idle::Park`] | spin [`PARK_SPINS`] times, then park ≤ [`PARK_TIMEOUT`] | a wake-up (~13 µs context switch) | near zero |
//! | [`Idle::Wake`] | spin [`WAKE_SPINS`] times ([`WAKE_SOCKET_SPINS`] for socket readers), then block until a producer rings its [`crate::Doorbell`] (≤ [`WAKE_MAX_SLEEP`]) | a wake-up; the producer pays a `futex`/`eventfd` syscall only when the consumer sleeps | zero while idle |
//!
//! Production uses `spin` on an isolated core; `yield`/`park`/`wake` are for small machines
//! and CI. With `wake` the blocking itself is done by the caller (it knows its rings and
//! sockets): [`IdleWaiter::idle`] only spins and [`IdleWaiter::should_sleep`] says when to
//! block.

use std::fmt;
use std::str::FromStr;
use std::thread::JoinHandle;
use std::time::Duration;

/// Idle iterations [`Idle::Park`] spins before parking.
pub const PARK_SPINS: u32 = 512;

/// Longest a [`Idle::Park`] waiter sleeps per idle call (50 µs) when nobody unparks it.
pub const PARK_TIMEOUT: Duration = Duration::from_micros(50);

/// Idle iterations [`Idle::Wake`] spins before a thread that polls rings only (the hot
/// thread) blocks: a few µs of polling ([`IdleWaiter::should_sleep`]).
pub const WAKE_SPINS: u32 = 64;

/// Idle iterations [`Idle::Wake`] spins before a thread whose poll is a socket read (a
/// `recv` syscall each, ~1 µs) blocks in `epoll` ([`IdleWaiter::should_sleep_after`]).
/// Measured: 64 such polls per wake-up cost the md and echo-client threads ~17–19 % of a
/// CPU at 1000 frames/s.
pub const WAKE_SOCKET_SPINS: u32 = 4;

/// Longest a [`Idle::Wake`] thread blocks without being rung (1 ms): bounds how late its own
/// timers (heartbeats, quote refresh, `Engine::on_idle`, the stop flag) run.
pub const WAKE_MAX_SLEEP: Duration = Duration::from_millis(1);

/// What a polling thread does when it found no work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum Idle {
    /// Busy-spin with the CPU's spin-loop hint. Lowest latency; burns the core.
    #[default]
    Spin,
    /// Give the rest of the time slice to the scheduler (`std::thread::yield_now`).
    Yield,
    /// Spin a few hundred iterations, then `park_timeout(50 µs)`.
    Park,
    /// Spin [`WAKE_SPINS`] iterations, then block until a producer rings the thread's
    /// [`crate::Doorbell`] (futex / eventfd) or its socket is readable, at most
    /// [`WAKE_MAX_SLEEP`].
    Wake,
}

impl Idle {
    /// The policy's command-line name: `spin`, `yield` or `park`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Idle::Spin => "spin",
            Idle::Yield => "yield",
            Idle::Park => "park",
            Idle::Wake => "wake",
        }
    }
}

impl fmt::Display for Idle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error parsing an [`Idle`] policy name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseIdleError(String);

impl fmt::Display for ParseIdleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown idle policy {:?}: expected spin, yield, park or wake",
            self.0
        )
    }
}

impl std::error::Error for ParseIdleError {}

impl FromStr for Idle {
    type Err = ParseIdleError;

    /// Parses `spin`, `yield`, `park` or `wake` (ASCII case-insensitive).
    ///
    /// # Errors
    /// [`ParseIdleError`] for any other text.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "spin" => Ok(Idle::Spin),
            "yield" => Ok(Idle::Yield),
            "park" => Ok(Idle::Park),
            "wake" => Ok(Idle::Wake),
            _ => Err(ParseIdleError(s.to_owned())),
        }
    }
}

/// Applies an [`Idle`] policy across consecutive empty polls. Allocation-free.
///
/// ```
/// # use mm_io::{Idle, IdleWaiter};
/// let mut w = IdleWaiter::new(Idle::Park);
/// for _ in 0..3 {
///     let found_work = false; // poll rings here
///     if found_work { w.reset() } else { w.idle() }
/// }
/// ```
#[derive(Clone, Debug)]
pub struct IdleWaiter {
    policy: Idle,
    /// Consecutive idle calls since the last [`IdleWaiter::reset`] (saturating).
    idle_calls: u32,
}

impl IdleWaiter {
    /// A waiter with the given policy.
    pub const fn new(policy: Idle) -> Self {
        IdleWaiter {
            policy,
            idle_calls: 0,
        }
    }

    /// The policy.
    pub const fn policy(&self) -> Idle {
        self.policy
    }

    /// Consecutive idle calls since the last reset (saturates at `u32::MAX`).
    pub const fn idle_calls(&self) -> u32 {
        self.idle_calls
    }

    /// Called when a poll found nothing: waits according to the policy. Never blocks longer
    /// than [`PARK_TIMEOUT`] (plus scheduler latency).
    #[inline]
    pub fn idle(&mut self) {
        self.idle_calls = self.idle_calls.saturating_add(1);
        match self.policy {
            Idle::Spin | Idle::Wake => std::hint::spin_loop(),
            Idle::Yield => std::thread::yield_now(),
            Idle::Park => {
                if self.idle_calls <= PARK_SPINS {
                    std::hint::spin_loop();
                } else {
                    std::thread::park_timeout(PARK_TIMEOUT);
                }
            }
        }
    }

    /// With [`Idle::Wake`]: the thread has spun [`WAKE_SPINS`] idle calls and should now
    /// block on its doorbell or socket. Always false for the other policies.
    #[inline]
    pub const fn should_sleep(&self) -> bool {
        self.should_sleep_after(WAKE_SPINS)
    }

    /// [`Self::should_sleep`] with a thread's own spin count (e.g. [`WAKE_SOCKET_SPINS`]).
    #[inline]
    pub const fn should_sleep_after(&self, spins: u32) -> bool {
        matches!(self.policy, Idle::Wake) && self.idle_calls > spins
    }

    /// Called when a poll found work: the next idle call starts spinning again.
    #[inline]
    pub fn reset(&mut self) {
        self.idle_calls = 0;
    }
}

/// A CPU that cannot be used for pinning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuError {
    /// The CPU id asked for.
    pub requested: usize,
    /// CPU ids this process may run on (empty if they could not be read).
    pub available: Vec<usize>,
}

impl fmt::Display for CpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.available.is_empty() {
            return write!(
                f,
                "cannot pin to CPU {}: the list of available CPUs could not be read",
                self.requested
            );
        }
        write!(
            f,
            "CPU {} does not exist or is not available to this process; available CPUs: ",
            self.requested
        )?;
        for (i, c) in self.available.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CpuError {}

/// Ids of the CPUs this process may run on (its affinity mask on Linux), ascending. Empty if
/// the platform does not report them.
pub fn available_cpus() -> Vec<usize> {
    let mut ids: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    ids.sort_unstable();
    ids
}

/// Checks that `cpu` is one of [`available_cpus`].
///
/// # Errors
/// [`CpuError`] naming the available CPUs when it is not.
pub fn check_cpu(cpu: usize) -> Result<(), CpuError> {
    let available = available_cpus();
    if available.contains(&cpu) {
        Ok(())
    } else {
        Err(CpuError {
            requested: cpu,
            available,
        })
    }
}

/// Spawns a named thread running `f`, pinned to `cpu` when it is `Some`.
///
/// Pinning happens inside the new thread, before `f` runs. If the OS refuses it (e.g. a
/// cgroup changed the mask in between), a warning is logged and the thread runs unpinned.
///
/// # Errors
/// - [`std::io::ErrorKind::InvalidInput`] (wrapping a [`CpuError`]) when `cpu` is not one of
///   [`available_cpus`]: a mistyped `--cpu` is an error, not a silent fallback.
/// - Whatever [`std::thread::Builder::spawn`] returns (out of threads or memory).
pub fn spawn_pinned<F, T>(name: &str, cpu: Option<usize>, f: F) -> std::io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if let Some(c) = cpu {
        check_cpu(c).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    }
    let thread_name = name.to_owned();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            if let Some(id) = cpu {
                if core_affinity::set_for_current(core_affinity::CoreId { id }) {
                    log::debug!("thread {thread_name} pinned to CPU {id}");
                } else {
                    log::warn!(
                        "thread {thread_name}: pinning to CPU {id} failed; running unpinned"
                    );
                }
            }
            f()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_parses_and_displays() {
        for p in [Idle::Spin, Idle::Yield, Idle::Park, Idle::Wake] {
            assert_eq!(p.to_string().parse::<Idle>(), Ok(p));
        }
        assert_eq!("PARK".parse::<Idle>(), Ok(Idle::Park));
        let err = "sleep".parse::<Idle>().unwrap_err();
        assert!(err.to_string().contains("spin, yield, park or wake"));
    }

    #[test]
    fn waiter_counts_and_resets() {
        for p in [Idle::Spin, Idle::Yield, Idle::Park, Idle::Wake] {
            let mut w = IdleWaiter::new(p);
            for _ in 0..(PARK_SPINS + 3) {
                w.idle();
            }
            assert_eq!(w.idle_calls(), PARK_SPINS + 3);
            assert_eq!(w.should_sleep(), p == Idle::Wake);
            w.reset();
            assert!(!w.should_sleep());
            assert_eq!(w.idle_calls(), 0);
        }
    }

    #[test]
    fn park_is_bounded() {
        let mut w = IdleWaiter::new(Idle::Park);
        let t = std::time::Instant::now();
        for _ in 0..(PARK_SPINS + 10) {
            w.idle();
        }
        // 10 parks of ≤ 50 µs each; generous bound for a loaded CI box.
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn cpu_checks() {
        let cpus = available_cpus();
        assert!(!cpus.is_empty(), "this platform reports its CPUs");
        assert!(check_cpu(cpus[0]).is_ok());
        let err = check_cpu(100_000).unwrap_err();
        assert_eq!(err.requested, 100_000);
        let msg = err.to_string();
        assert!(msg.contains("100000"), "{msg}");
        assert!(msg.contains(&cpus[0].to_string()), "{msg}");
    }

    #[test]
    fn spawn_pinned_runs_and_rejects_bad_cpu() {
        let cpu = available_cpus()[0];
        let h = spawn_pinned("mm-test-pinned", Some(cpu), || {
            std::thread::current().name().map(str::to_owned)
        })
        .unwrap();
        assert_eq!(h.join().unwrap().as_deref(), Some("mm-test-pinned"));
        let h = spawn_pinned("mm-test-free", None, || 7).unwrap();
        assert_eq!(h.join().unwrap(), 7);
        let err = spawn_pinned("mm-test-bad", Some(100_000), || ()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("available CPUs"));
    }
}
