//! Inter-thread queue benchmarks: our SPSC ring vs peers (feature `peers`: `rtrb`, crossbeam
//! `ArrayQueue`), with the hot path's real payload ([`MdEvent`], one 64-byte line).
//!
//! - **Hop latency** ([`ping_pong`]): thread A pushes an event on ring 1 and spins until thread
//!   B has popped it and pushed it back on ring 2; one sample is that round trip / 2, timed on
//!   A alone with the TSC (`mm_io::clock::raw`), so no cross-core clock skew enters. Samples go
//!   to an `hdrhistogram` (1 ns … 10 ms, 3 significant digits). This is the
//!   nexus-queue/core-to-core-latency methodology (performance-references.md rows 1–2).
//! - **Throughput** ([`throughput`]): A pushes `n` events as fast as the ring accepts them,
//!   B pops them; time from the first push to the last pop.
//!
//! Both sides busy-spin (`spin_loop` hint) and give up after [`SPIN_TIMEOUT`] (a lost wake-up
//! or a descheduled peer fails the run instead of hanging it). With two or more CPUs the
//! threads are pinned to the first two available CPUs (`mm_io::thread::spawn_pinned`).

use hdrhistogram::Histogram;
use mm_core::event::MdEvent;
use mm_io::clock;
use std::time::{Duration, Instant};

/// A spin that lasts longer than this aborts the run.
pub const SPIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Producer half of a queue under test.
pub trait Tx: Send + 'static {
    /// Pushes `v`; false when full.
    fn try_push(&mut self, v: MdEvent) -> bool;
}

/// Consumer half of a queue under test.
pub trait Rx: Send + 'static {
    /// Pops the oldest value, if any.
    fn try_pop(&mut self) -> Option<MdEvent>;
}

impl Tx for mm_io::ring::Producer<MdEvent> {
    #[inline]
    fn try_push(&mut self, v: MdEvent) -> bool {
        self.push(v).is_ok()
    }
}

impl Rx for mm_io::ring::Consumer<MdEvent> {
    #[inline]
    fn try_pop(&mut self) -> Option<MdEvent> {
        self.pop()
    }
}

/// Our ring's halves.
pub fn ours(
    cap: usize,
) -> (
    mm_io::ring::Producer<MdEvent>,
    mm_io::ring::Consumer<MdEvent>,
) {
    mm_io::ring::ring(cap)
}

#[cfg(feature = "peers")]
pub use peers::{arrayqueue, rtrb};

#[cfg(feature = "peers")]
mod peers {
    use super::{Rx, Tx};
    use crossbeam_queue::ArrayQueue;
    use mm_core::event::MdEvent;
    use std::sync::Arc;

    impl Tx for ::rtrb::Producer<MdEvent> {
        #[inline]
        fn try_push(&mut self, v: MdEvent) -> bool {
            self.push(v).is_ok()
        }
    }

    impl Rx for ::rtrb::Consumer<MdEvent> {
        #[inline]
        fn try_pop(&mut self) -> Option<MdEvent> {
            self.pop().ok()
        }
    }

    /// `rtrb::RingBuffer` halves.
    pub fn rtrb(cap: usize) -> (::rtrb::Producer<MdEvent>, ::rtrb::Consumer<MdEvent>) {
        ::rtrb::RingBuffer::new(cap)
    }

    /// One side of a crossbeam `ArrayQueue` (MPMC, used here as SPSC).
    pub struct Aq(Arc<ArrayQueue<MdEvent>>);

    impl Tx for Aq {
        #[inline]
        fn try_push(&mut self, v: MdEvent) -> bool {
            self.0.push(v).is_ok()
        }
    }

    impl Rx for Aq {
        #[inline]
        fn try_pop(&mut self) -> Option<MdEvent> {
            self.0.pop()
        }
    }

    /// `ArrayQueue` shared by a producer and a consumer handle.
    pub fn arrayqueue(cap: usize) -> (Aq, Aq) {
        let q = Arc::new(ArrayQueue::new(cap));
        (Aq(Arc::clone(&q)), Aq(q))
    }
}

/// CPUs for the two threads: the first two available, if there are two.
pub fn cpus() -> (Option<usize>, Option<usize>) {
    let c = mm_io::thread::available_cpus();
    if c.len() >= 2 {
        (Some(c[0]), Some(c[1]))
    } else {
        (None, None)
    }
}

#[inline]
fn spin_push<T: Tx>(tx: &mut T, v: MdEvent, deadline: &mut Option<Instant>) -> Result<(), String> {
    let mut spins = 0u32;
    while !tx.try_push(v) {
        std::hint::spin_loop();
        spins += 1;
        if spins & 0xffff == 0 {
            // Long spins mean the other side is not running (a loaded 2-core machine): give
            // way, so that the measurement degrades instead of stalling.
            std::thread::yield_now();
            let d = *deadline.get_or_insert_with(|| Instant::now() + SPIN_TIMEOUT);
            if Instant::now() > d {
                return Err("push spun past the timeout".into());
            }
        }
    }
    *deadline = None;
    Ok(())
}

#[inline]
fn spin_pop<R: Rx>(rx: &mut R, deadline: &mut Option<Instant>) -> Result<MdEvent, String> {
    let mut spins = 0u32;
    loop {
        if let Some(v) = rx.try_pop() {
            *deadline = None;
            return Ok(v);
        }
        std::hint::spin_loop();
        spins += 1;
        if spins & 0xffff == 0 {
            std::thread::yield_now();
            let d = *deadline.get_or_insert_with(|| Instant::now() + SPIN_TIMEOUT);
            if Instant::now() > d {
                return Err("pop spun past the timeout".into());
            }
        }
    }
}

/// Result of one hop-latency run.
#[derive(Clone, Debug)]
pub struct HopStats {
    /// One-way latency (RTT/2) histogram, ns.
    pub hist: Histogram<u64>,
    /// Whether the threads were pinned.
    pub pinned: bool,
}

impl HopStats {
    /// Quantile in ns.
    pub fn q(&self, q: f64) -> u64 {
        self.hist.value_at_quantile(q)
    }
}

/// Ping-pong hop latency over two rings made by `mk` (capacity `cap`): `warmup` unrecorded
/// round trips, then `samples` recorded ones.
///
/// # Errors
/// A spin timed out or a thread could not be spawned.
pub fn ping_pong<T: Tx, R: Rx>(
    mk: impl Fn(usize) -> (T, R),
    cap: usize,
    warmup: usize,
    samples: usize,
) -> Result<HopStats, String> {
    clock::calibrate();
    let (mut a_tx, mut b_rx) = mk(cap);
    let (mut b_tx, mut a_rx) = mk(cap);
    let (ca, cb) = cpus();
    let total = warmup + samples;
    let echo = mm_io::thread::spawn_pinned("mmb-echo", cb, move || -> Result<(), String> {
        let mut dl = None;
        for _ in 0..total {
            let v = spin_pop(&mut b_rx, &mut dl)?;
            spin_push(&mut b_tx, v, &mut dl)?;
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    let ping =
        mm_io::thread::spawn_pinned("mmb-ping", ca, move || -> Result<Histogram<u64>, String> {
            let mut h =
                Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).map_err(|e| e.to_string())?;
            let mut dl = None;
            let mut ev = MdEvent::default();
            for i in 0..total {
                ev.seq = i as u64;
                let t0 = clock::raw();
                spin_push(&mut a_tx, ev, &mut dl)?;
                let back = spin_pop(&mut a_rx, &mut dl)?;
                let t1 = clock::raw();
                if back.seq != i as u64 {
                    return Err(format!("echo out of order: {} != {i}", back.seq));
                }
                if i >= warmup {
                    let rtt = clock::raw_to_nanos(t1).saturating_sub(clock::raw_to_nanos(t0));
                    h.saturating_record((rtt / 2).max(1));
                }
            }
            Ok(h)
        })
        .map_err(|e| e.to_string())?;
    let hist = ping
        .join()
        .map_err(|_| "ping thread panicked".to_string())??;
    echo.join()
        .map_err(|_| "echo thread panicked".to_string())??;
    Ok(HopStats {
        hist,
        pinned: ca.is_some(),
    })
}

/// One-way throughput: pushes `n` events through a ring of capacity `cap`; returns ns per
/// event (first push to last pop).
///
/// # Errors
/// A spin timed out or a thread could not be spawned.
pub fn throughput<T: Tx, R: Rx>(
    mk: impl Fn(usize) -> (T, R),
    cap: usize,
    n: usize,
) -> Result<f64, String> {
    let (mut tx, mut rx) = mk(cap);
    let (ca, cb) = cpus();
    let start = std::sync::Arc::new(std::sync::Barrier::new(2));
    let s2 = std::sync::Arc::clone(&start);
    let cons = mm_io::thread::spawn_pinned("mmb-cons", cb, move || -> Result<Instant, String> {
        let mut dl = None;
        s2.wait();
        for expect in 0..n as u64 {
            let v = spin_pop(&mut rx, &mut dl)?;
            if v.seq != expect {
                return Err("out of order".into());
            }
        }
        Ok(Instant::now())
    })
    .map_err(|e| e.to_string())?;
    let prod = mm_io::thread::spawn_pinned("mmb-prod", ca, move || -> Result<Instant, String> {
        let mut dl = None;
        let mut ev = MdEvent::default();
        start.wait();
        let t0 = Instant::now();
        for i in 0..n {
            ev.seq = i as u64;
            spin_push(&mut tx, ev, &mut dl)?;
        }
        Ok(t0)
    })
    .map_err(|e| e.to_string())?;
    let t0 = prod.join().map_err(|_| "producer panicked".to_string())??;
    let t1 = cons.join().map_err(|_| "consumer panicked".to_string())??;
    Ok(t1.duration_since(t0).as_nanos() as f64 / n as f64)
}
