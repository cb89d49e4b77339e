//! Timer-paced waiting for the paced servers (`--idle wake`): the simulator's
//! [`super::Speed::Rate`] replay and the echo server wait for the next frame's due time on a
//! Linux `timerfd` registered in their `mio::Poll`, instead of polling without blocking in
//! the last [`super::probe::SPIN_WINDOW`] before it (`epoll_wait`'s timeout has millisecond
//! granularity; a `timerfd` has nanosecond resolution). The thread's timer slack is set to
//! 1 ns (`PR_SET_TIMERSLACK`) so the kernel does not defer the expiry by its default 50 µs.
//!
//! Cost: one `timerfd_settime` per wait and one `read` per expiry; zero CPU while waiting.

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// A one-shot `CLOCK_MONOTONIC` timer whose expiry makes the owning `mio::Poll` return.
#[derive(Debug)]
pub struct TimerPacer {
    fd: OwnedFd,
    /// The due time currently armed (avoids re-arming the same deadline every loop turn).
    armed_for: Option<Instant>,
}

impl TimerPacer {
    /// Creates the timer, registers it under `token` (readable) and sets the calling thread's
    /// timer slack to 1 ns. Call it on the thread that polls.
    ///
    /// # Errors
    /// The `timerfd_create` or `epoll_ctl` error.
    pub fn new(registry: &Registry, token: Token) -> io::Result<TimerPacer> {
        // SAFETY: plain syscall with constant flags; the result is checked below.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a freshly created descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        registry.register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)?;
        let slack_ns: libc::c_ulong = 1;
        // SAFETY: PR_SET_TIMERSLACK takes an unsigned long by value; no pointers. A failure
        // only leaves the default slack (50 µs), so the result is ignored.
        unsafe {
            libc::prctl(libc::PR_SET_TIMERSLACK, slack_ns, 0, 0, 0);
        }
        Ok(TimerPacer {
            fd,
            armed_for: None,
        })
    }

    /// Arms the timer to expire at `due` (no-op if already armed for it). Returns the time
    /// left; zero when `due` has passed (nothing armed: the caller acts now).
    ///
    /// # Errors
    /// The `timerfd_settime` error.
    pub fn arm(&mut self, due: Instant, now: Instant) -> io::Result<Duration> {
        let rem = due.saturating_duration_since(now);
        if rem.is_zero() {
            return Ok(rem);
        }
        if self.armed_for == Some(due) {
            return Ok(rem);
        }
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: rem.as_secs() as libc::time_t,
                tv_nsec: rem.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: `spec` is a valid itimerspec on the stack; a null old-value pointer is
        // allowed; the descriptor is owned by `self`.
        let r =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        self.armed_for = Some(due);
        Ok(rem)
    }

    /// Consumes an expiry (after the poll reported the timer's token), so the next expiry is
    /// a new readiness edge.
    pub fn clear(&mut self) {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a valid 8-byte buffer; non-blocking descriptor.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        self.armed_for = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};

    #[test]
    fn expiry_wakes_the_poll_and_rearms() {
        let mut poll = Poll::new().unwrap();
        let mut events = Events::with_capacity(4);
        let mut t = TimerPacer::new(poll.registry(), Token(7)).unwrap();
        for _ in 0..3 {
            let now = Instant::now();
            let due = now + Duration::from_micros(300);
            assert!(!t.arm(due, now).unwrap().is_zero());
            let mut fired = false;
            // Bounded: a timer that never fires fails the test after 100 empty polls.
            for _ in 0..100 {
                poll.poll(&mut events, Some(Duration::from_secs(10)))
                    .unwrap();
                if events.iter().any(|e| e.token() == Token(7)) {
                    fired = true;
                    break;
                }
            }
            assert!(fired);
            assert!(Instant::now() >= due, "never fires early");
            t.clear();
        }
        let now = Instant::now();
        assert!(
            t.arm(now, now).unwrap().is_zero(),
            "a past due time arms nothing"
        );
    }
}
