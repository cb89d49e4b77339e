//! Wake-up signalling between a ring's producer and a consumer that sleeps ([`Idle::Wake`]).
//!
//! The rings ([`crate::ring`]) stay wait-free and syscall-free; a [`Doorbell`] sits beside
//! them. A consumer that found no work for a while *arms* the doorbell (announces it is going
//! to sleep), re-checks its rings and, if they are still empty, blocks: in
//! [`std::thread::park_timeout`] (a thread that waits on rings only, the hot thread) or in
//! its `mio::Poll` with a [`mio::Waker`] registered (a thread that also waits on a socket,
//! the gateway). A producer calls [`Doorbell::ring`] after each push: when the consumer is
//! not armed that is one fence and one relaxed load; when it is armed, it disarms it and
//! makes the wake-up system call (`futex` for `unpark`, an `eventfd` write for a `Waker`).
//!
//! **No lost wake-up.** The consumer does `armed = true; fence(SeqCst); check rings`, the
//! producer `push; fence(SeqCst); load armed` (Dekker's pattern): either the consumer's
//! re-check sees the push, or the producer sees `armed` and wakes it. Both wake-up
//! mechanisms are sticky (an `unpark` or a `Waker::wake` before the block makes the block
//! return at once), so a wake that lands between the re-check and the block is not lost.
//!
//! With the other idle policies the doorbell is [`Doorbell::disabled`]: [`Doorbell::ring`]
//! is one load of a plain `bool` and returns.
//!
//! [`Idle::Wake`]: crate::Idle::Wake

use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::Thread;
use std::time::Duration;

/// Who a [`Doorbell`] wakes.
enum Target {
    /// Nobody bound yet (rings are no-ops until a consumer binds).
    None,
    /// A thread blocked in [`std::thread::park_timeout`].
    Thread(Thread),
    /// A thread blocked in a `mio::Poll` with this waker registered.
    Waker(mio::Waker),
}

/// A consumer's "I am going to sleep" flag plus the means to wake it. Shared (`Arc`) between
/// the consumer and every producer that feeds it. See the module docs for the protocol.
pub struct Doorbell {
    enabled: bool,
    armed: AtomicBool,
    target: Mutex<Target>,
    wakes: AtomicU64,
}

impl Doorbell {
    /// An enabled doorbell with no consumer bound yet ([`Self::bind_current_thread`],
    /// [`Self::set_waker`]).
    pub fn new() -> Arc<Doorbell> {
        Arc::new(Doorbell {
            enabled: true,
            armed: AtomicBool::new(false),
            target: Mutex::new(Target::None),
            wakes: AtomicU64::new(0),
        })
    }

    /// A doorbell whose [`Self::ring`] does nothing (policies other than `wake`).
    pub fn disabled() -> Arc<Doorbell> {
        Arc::new(Doorbell {
            enabled: false,
            armed: AtomicBool::new(false),
            target: Mutex::new(Target::None),
            wakes: AtomicU64::new(0),
        })
    }

    /// Enabled when `policy` is [`crate::Idle::Wake`], disabled otherwise.
    pub fn for_policy(policy: crate::Idle) -> Arc<Doorbell> {
        if policy == crate::Idle::Wake {
            Doorbell::new()
        } else {
            Doorbell::disabled()
        }
    }

    /// Whether [`Self::ring`] can wake anybody.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    fn target(&self) -> std::sync::MutexGuard<'_, Target> {
        self.target.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Consumer side: the calling thread is the one to wake (it sleeps with
    /// [`Self::park`]).
    pub fn bind_current_thread(&self) {
        *self.target() = Target::Thread(std::thread::current());
    }

    /// Consumer side: wake this `mio` waker (registered in the consumer's `Poll`). Called
    /// again with the new connection's waker after a reconnect; `None` unbinds.
    pub fn set_waker(&self, waker: Option<mio::Waker>) {
        *self.target() = match waker {
            Some(w) => Target::Waker(w),
            None => Target::None,
        };
    }

    /// Producer side, after a push: wakes the consumer if it is armed (asleep or about to
    /// be). No system call and no lock unless it is.
    #[inline]
    pub fn ring(&self) {
        if !self.enabled {
            return;
        }
        // SeqCst fence: orders the ring's tail store (the push) before the flag load.
        fence(Ordering::SeqCst);
        if self.armed.load(Ordering::Relaxed) {
            self.wake_armed();
        }
    }

    #[cold]
    fn wake_armed(&self) {
        if self.armed.swap(false, Ordering::AcqRel) {
            self.wake_now();
        }
    }

    /// Wakes the consumer unconditionally (stop requests): the next or current block
    /// returns at once.
    pub fn wake_now(&self) {
        if !self.enabled {
            return;
        }
        self.wakes.fetch_add(1, Ordering::Relaxed);
        match &*self.target() {
            Target::None => {}
            Target::Thread(t) => t.unpark(),
            Target::Waker(w) => {
                if let Err(e) = w.wake() {
                    log::warn!("doorbell: waker failed: {e}");
                }
            }
        }
    }

    /// Consumer side: announce the coming sleep. The caller must then re-check every ring
    /// this doorbell covers and block only if all are empty, then call [`Self::disarm`].
    #[inline]
    pub fn arm(&self) {
        self.armed.store(true, Ordering::Relaxed);
        // SeqCst fence: orders the flag store before the consumer's re-check loads.
        fence(Ordering::SeqCst);
    }

    /// Consumer side: awake again (after the block, or when the re-check found work).
    #[inline]
    pub fn disarm(&self) {
        self.armed.store(false, Ordering::Relaxed);
    }

    /// Consumer side for [`Self::bind_current_thread`]: [`Self::arm`], then, if `has_work()`
    /// is false, park for at most `timeout`, then [`Self::disarm`]. Returns whether it
    /// blocked.
    pub fn park(&self, timeout: Duration, has_work: impl FnOnce() -> bool) -> bool {
        self.arm();
        let blocked = !has_work();
        if blocked {
            std::thread::park_timeout(timeout);
        }
        self.disarm();
        blocked
    }

    /// Wake-up system calls made so far (rings that found the consumer armed, plus
    /// [`Self::wake_now`] calls).
    pub fn wakes(&self) -> u64 {
        self.wakes.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for Doorbell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Doorbell")
            .field("enabled", &self.enabled)
            .field("armed", &self.armed.load(Ordering::Relaxed))
            .field("wakes", &self.wakes())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::ring;

    /// A producer pushes N values one at a time, each only after the consumer took the
    /// previous one (so the consumer sleeps between most of them); the consumer parks with a
    /// one-hour timeout. A lost wake-up hangs the test (the harness's timeout catches it);
    /// completing means every push was seen.
    #[test]
    fn no_lost_wakeup_with_park() {
        const N: u64 = 20_000;
        let bell = Doorbell::new();
        let back = Doorbell::new();
        let (mut tx, mut rx) = ring::<u64>(4);
        let (mut ack_tx, mut ack_rx) = ring::<u64>(4);
        let cb = bell.clone();
        let cback = back.clone();
        let consumer = std::thread::spawn(move || {
            cb.bind_current_thread();
            let mut sum = 0u64;
            let mut next = 0u64;
            while next < N {
                if let Some(v) = rx.pop() {
                    assert_eq!(v, next);
                    sum += v;
                    next += 1;
                    while ack_tx.push(v).is_err() {}
                    cback.ring();
                } else {
                    cb.park(Duration::from_secs(3600), || !rx.is_empty());
                }
            }
            sum
        });
        back.bind_current_thread();
        for i in 0..N {
            while tx.push(i).is_err() {}
            bell.ring();
            loop {
                if ack_rx.pop().is_some() {
                    break;
                }
                back.park(Duration::from_secs(3600), || !ack_rx.is_empty());
            }
        }
        assert_eq!(consumer.join().unwrap(), N * (N - 1) / 2);
        assert!(bell.wakes() > 0, "the consumer slept at least once");
    }

    /// The same through a `mio::Waker` in a `Poll` (the gateway's mechanism).
    #[test]
    fn no_lost_wakeup_with_waker() {
        const N: u64 = 5_000;
        let bell = Doorbell::new();
        let (mut tx, mut rx) = ring::<u64>(4);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let cb = bell.clone();
        let consumer = std::thread::spawn(move || {
            let mut poll = mio::Poll::new().unwrap();
            let mut events = mio::Events::with_capacity(4);
            cb.set_waker(Some(
                mio::Waker::new(poll.registry(), mio::Token(1)).unwrap(),
            ));
            ready_tx.send(()).unwrap();
            let mut next = 0u64;
            while next < N {
                if let Some(v) = rx.pop() {
                    assert_eq!(v, next);
                    next += 1;
                } else {
                    cb.arm();
                    if rx.is_empty() {
                        poll.poll(&mut events, Some(Duration::from_secs(3600)))
                            .unwrap();
                    }
                    cb.disarm();
                }
            }
            next
        });
        ready_rx.recv().unwrap();
        for i in 0..N {
            while tx.push(i).is_err() {
                std::thread::yield_now();
            }
            bell.ring();
            if i % 64 == 0 {
                std::thread::yield_now();
            }
        }
        assert_eq!(consumer.join().unwrap(), N);
    }

    #[test]
    fn disabled_never_wakes() {
        let bell = Doorbell::disabled();
        bell.bind_current_thread();
        bell.arm();
        bell.ring();
        bell.wake_now();
        assert_eq!(bell.wakes(), 0);
        assert!(!bell.is_enabled());
    }
}
