//! Bounded single-producer single-consumer ring for small `Copy` events.
//!
//! A Lamport ring: the producer owns `tail`, the consumer owns `head`, each published with a
//! `Release` store and read by the other side with an `Acquire` load. The two indices sit on
//! separate [`CachePadded`] lines (128 bytes on x86_64, because the spatial prefetcher pulls
//! pairs of 64-byte lines), and each side keeps a *cached* copy of the other side's index so
//! that the shared line is only read when the cached value says the ring looks full (producer)
//! or empty (consumer). In steady state a push or pop touches one shared line: the slot.
//!
//! Indices are free-running `usize` counters (`0..=usize::MAX`, wrapping); the slot of index
//! `i` is `i & mask`. Because the capacity is a power of two, wrapping arithmetic stays exact.
//!
//! Contract: [`ring`] allocates the slot array once; [`Producer::push`] and [`Consumer::pop`]
//! never allocate, never block, never make a system call and are wait-free. A full ring is
//! reported (`Err(value)` hands the value back) and never silently loses data.
//!
//! Each half is [`Send`] but not [`Sync`]: it may move to another thread, but exactly one
//! thread uses it at a time, which is what makes the single-producer/single-consumer
//! protocol sound.

use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Pads and aligns a value to the size of the destructive-interference unit: 128 bytes on
/// x86_64 and aarch64 (adjacent-line prefetch), 64 bytes elsewhere.
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), repr(align(128)))]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    repr(align(64))
)]
#[derive(Debug, Default)]
pub struct CachePadded<T>(pub T);

impl<T> Deref for CachePadded<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// State shared by the two halves.
struct Shared<T> {
    /// Index of the next slot the consumer reads. Written only by the consumer (`Release`).
    head: CachePadded<AtomicUsize>,
    /// Index of the next slot the producer writes. Written only by the producer (`Release`).
    tail: CachePadded<AtomicUsize>,
    /// `capacity - 1`; capacity is a power of two ≥ 1.
    mask: usize,
    /// The slots, initialised with `T::default()` so every read sees an initialised value.
    slots: Box<[UnsafeCell<T>]>,
}

// SAFETY: the slots are only accessed under the SPSC protocol: the producer writes slot
// `tail & mask` only while `tail - head < capacity` (the consumer has released it with a
// `Release` store of `head`, which the producer observed with `Acquire`), and the consumer
// reads slot `head & mask` only while `head < tail` (the producer published it with a
// `Release` store of `tail`, observed with `Acquire`). No slot is ever accessed by both sides
// at once, the indices are atomics, and `T: Send` lets values cross threads.
unsafe impl<T: Send> Sync for Shared<T> {}
// SAFETY: see above; `Shared` owns plain `T` values, which may be sent when `T: Send`.
unsafe impl<T: Send> Send for Shared<T> {}

/// Creates a ring holding at least `capacity` values (rounded up to a power of two, minimum
/// 1) and returns its two halves.
///
/// Allocates `capacity.next_power_of_two() * size_of::<T>()` bytes once; nothing after.
///
/// # Panics
/// Panics if the rounded capacity overflows `usize` or the allocation fails.
pub fn ring<T: Copy + Default>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let cap = capacity
        .max(1)
        .checked_next_power_of_two()
        .expect("ring capacity overflows usize");
    let slots: Box<[UnsafeCell<T>]> = (0..cap).map(|_| UnsafeCell::new(T::default())).collect();
    let shared = Arc::new(Shared {
        head: CachePadded(AtomicUsize::new(0)),
        tail: CachePadded(AtomicUsize::new(0)),
        mask: cap - 1,
        slots,
    });
    (
        Producer {
            shared: Arc::clone(&shared),
            tail: 0,
            cached_head: Cell::new(0),
            _not_sync: PhantomData,
        },
        Consumer {
            shared,
            head: 0,
            cached_tail: Cell::new(0),
            _not_sync: PhantomData,
        },
    )
}

/// The writing half of a [`ring`]. `Send`, not `Sync`.
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
    /// Local copy of `shared.tail` (this side is its only writer).
    tail: usize,
    /// Last observed value of `shared.head`; refreshed only when the ring looks full.
    cached_head: Cell<usize>,
    _not_sync: PhantomData<Cell<()>>,
}

impl<T: Copy> Producer<T> {
    /// Appends `value`. Never blocks, never allocates.
    ///
    /// # Errors
    /// Returns `Err(value)` (the value handed back) when the ring is full; callers count it and
    /// apply their full-ring policy.
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), T> {
        let cap = self.shared.mask + 1;
        if self.tail.wrapping_sub(self.cached_head.get()) >= cap {
            // Looks full: refresh the consumer's index (one shared-line read).
            self.cached_head
                .set(self.shared.head.load(Ordering::Acquire));
            if self.tail.wrapping_sub(self.cached_head.get()) >= cap {
                return Err(value);
            }
        }
        // SAFETY: `slots.len() == mask + 1` (built so in `ring`, never resized), so
        // `tail & mask` is in bounds; the unchecked index saves a compare and a panic branch.
        let slot = unsafe {
            self.shared
                .slots
                .get_unchecked(self.tail & self.shared.mask)
        };
        // SAFETY: `tail - head < capacity`, so slot `tail & mask` is not readable by the
        // consumer (it has moved `head` past it and released it with a `Release` store that we
        // observed with `Acquire`, or it was never written). We are the only producer.
        unsafe { slot.get().write(value) };
        self.tail = self.tail.wrapping_add(1);
        self.shared.tail.store(self.tail, Ordering::Release);
        Ok(())
    }

    /// Number of values that can be pushed right now without failing (a lower bound: the
    /// consumer may free more concurrently). Reads the consumer's index.
    #[inline]
    pub fn free_slots(&self) -> usize {
        let head = self.shared.head.load(Ordering::Acquire);
        self.cached_head.set(head);
        (self.shared.mask + 1) - self.tail.wrapping_sub(head)
    }

    /// Capacity of the ring in values (a power of two).
    #[inline]
    pub fn capacity(&self) -> usize {
        self.shared.mask + 1
    }

    /// True when the [`Consumer`] has been dropped (nothing pushed will ever be read).
    pub fn is_abandoned(&self) -> bool {
        Arc::strong_count(&self.shared) < 2
    }
}

impl<T> std::fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &(self.shared.mask + 1))
            .field("tail", &self.tail)
            .finish()
    }
}

/// The reading half of a [`ring`]. `Send`, not `Sync`.
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
    /// Local copy of `shared.head` (this side is its only writer).
    head: usize,
    /// Last observed value of `shared.tail`; refreshed only when the ring looks empty.
    cached_tail: Cell<usize>,
    _not_sync: PhantomData<Cell<()>>,
}

impl<T: Copy> Consumer<T> {
    /// Takes the oldest value, or `None` when the ring is empty. Never blocks, never
    /// allocates. An empty poll costs one `Acquire` load of the producer's index.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        if self.head == self.cached_tail.get() {
            self.cached_tail
                .set(self.shared.tail.load(Ordering::Acquire));
            if self.head == self.cached_tail.get() {
                return None;
            }
        }
        // SAFETY: `slots.len() == mask + 1` (built so in `ring`, never resized), so
        // `head & mask` is in bounds.
        let slot = unsafe {
            self.shared
                .slots
                .get_unchecked(self.head & self.shared.mask)
        };
        // SAFETY: `head < tail`: the producer wrote this slot and published it with a `Release`
        // store of `tail` that we observed with `Acquire`; it will not write the slot again
        // until we release it below. We are the only consumer. The value is initialised
        // (slots start as `T::default()`), and `T: Copy`, so a bitwise read is a valid copy.
        let value = unsafe { slot.get().read() };
        self.head = self.head.wrapping_add(1);
        self.shared.head.store(self.head, Ordering::Release);
        Some(value)
    }

    /// Number of values ready to pop (a lower bound: the producer may add more concurrently).
    /// Reads the producer's index.
    #[inline]
    pub fn len(&self) -> usize {
        let tail = self.shared.tail.load(Ordering::Acquire);
        self.cached_tail.set(tail);
        tail.wrapping_sub(self.head)
    }

    /// True when nothing is ready to pop right now.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Capacity of the ring in values (a power of two).
    #[inline]
    pub fn capacity(&self) -> usize {
        self.shared.mask + 1
    }

    /// True when the [`Producer`] has been dropped (after draining, nothing more will come).
    pub fn is_abandoned(&self) -> bool {
        Arc::strong_count(&self.shared) < 2
    }
}

impl<T> std::fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &(self.shared.mask + 1))
            .field("head", &self.head)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values passed in the two-thread test (small under Miri, which is ~1000× slower).
    const N: u64 = if cfg!(miri) { 2_000 } else { 1_000_000 };

    #[test]
    fn capacity_rounds_up() {
        assert_eq!(ring::<u8>(0).0.capacity(), 1);
        assert_eq!(ring::<u8>(1).0.capacity(), 1);
        assert_eq!(ring::<u8>(3).0.capacity(), 4);
        assert_eq!(ring::<u8>(1024).1.capacity(), 1024);
        assert_eq!(ring::<u8>(1025).1.capacity(), 2048);
    }

    #[test]
    fn fifo_full_and_empty() {
        let (mut p, mut c) = ring::<u32>(4);
        assert!(c.is_empty());
        assert_eq!(c.pop(), None);
        assert_eq!(p.free_slots(), 4);
        for i in 0..4 {
            assert_eq!(p.push(i), Ok(()));
        }
        assert_eq!(p.free_slots(), 0);
        assert_eq!(p.push(99), Err(99), "full ring hands the value back");
        assert_eq!(c.len(), 4);
        assert_eq!(c.pop(), Some(0));
        assert_eq!(p.free_slots(), 1);
        assert_eq!(p.push(4), Ok(()));
        assert_eq!(p.push(5), Err(5));
        for i in 1..=4 {
            assert_eq!(c.pop(), Some(i));
        }
        assert_eq!(c.pop(), None);
        assert!(c.is_empty());
        assert_eq!(p.free_slots(), 4);
    }

    #[test]
    fn wraparound_many_laps() {
        let (mut p, mut c) = ring::<u64>(8);
        let mut next_in = 0u64;
        let mut next_out = 0u64;
        // Uneven batch sizes so that head/tail cross the wrap at every offset.
        for lap in 0..200u64 {
            let batch = 1 + (lap % 8);
            for _ in 0..batch {
                p.push(next_in).unwrap();
                next_in += 1;
            }
            while let Some(v) = c.pop() {
                assert_eq!(v, next_out);
                next_out += 1;
            }
        }
        assert_eq!(next_in, next_out);
    }

    #[test]
    fn counters_wrap_at_usize_max() {
        let (mut p, mut c) = ring::<u32>(4);
        // Start both sides just below the wrap of the free-running counters.
        let start = usize::MAX - 5;
        p.tail = start;
        p.cached_head.set(start);
        p.shared.tail.store(start, Ordering::Relaxed);
        p.shared.head.store(start, Ordering::Relaxed);
        c.head = start;
        c.cached_tail.set(start);
        for round in 0..5u32 {
            for i in 0..4 {
                p.push(round * 10 + i).unwrap();
            }
            assert_eq!(p.push(0), Err(0));
            assert_eq!(c.len(), 4);
            for i in 0..4 {
                assert_eq!(c.pop(), Some(round * 10 + i));
            }
            assert_eq!(c.pop(), None);
        }
    }

    #[test]
    fn event_sized_values() {
        let (mut p, mut c) = ring::<mm_core::MdEvent>(16);
        let ev = mm_core::MdEvent {
            seq: 42,
            price: -7,
            ..Default::default()
        };
        p.push(ev).unwrap();
        assert_eq!(c.pop(), Some(ev));
    }

    #[test]
    fn abandonment_is_visible() {
        let (p, c) = ring::<u8>(2);
        assert!(!p.is_abandoned());
        drop(c);
        assert!(p.is_abandoned());
    }

    #[test]
    fn two_threads_in_order_no_loss() {
        let (mut p, mut c) = ring::<u64>(1024);
        let producer = std::thread::spawn(move || {
            let mut full = 0u64;
            for i in 0..N {
                let mut v = i;
                loop {
                    match p.push(v) {
                        Ok(()) => break,
                        Err(back) => {
                            v = back;
                            full += 1;
                            std::hint::spin_loop();
                            if cfg!(miri) {
                                std::thread::yield_now();
                            }
                        }
                    }
                }
            }
            full
        });
        let mut expected = 0u64;
        while expected < N {
            match c.pop() {
                Some(v) => {
                    assert_eq!(v, expected, "out of order or lost value");
                    expected += 1;
                }
                None => {
                    std::hint::spin_loop();
                    if cfg!(miri) {
                        std::thread::yield_now();
                    }
                }
            }
        }
        let _full_events = producer.join().unwrap();
        assert_eq!(c.pop(), None);
        assert!(c.is_abandoned());
    }
}
