//! Deep levels: the price levels of one book side outside the dense window.
//!
//! A two-level sorted array (a flat B+tree): a pool of fixed blocks of [`BLOCK`] levels, each
//! sorted by key, and a directory of the live blocks in key order with each block's first key.
//! A lookup is two binary searches (directory, then block); an insert or delete moves at most
//! one block's worth of entries (≤ 64, ≤ 1 KiB), never the whole side. A full block splits in
//! two halves into a free block from the pool.
//!
//! Keys are the book's overflow keys (`px` for bids, `−px` for asks), so ascending key runs
//! from the farthest level to the nearest on both sides.
//!
//! Allocates on construction ([`DeepLevels::new`]), never after. When a split needs a block and
//! the pool is empty, the farthest block (the directory's first, up to 64 levels) is dropped
//! and its levels reported as dropped: they are the levels farthest from the touch, and the
//! nearest level (the side's best, when it lies outside the window) is always in the last
//! block, so it is never dropped.

use crate::types::{Lots, Ticks};

/// Levels per block.
pub const BLOCK: usize = 64;

/// Outcome of [`DeepLevels::set`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetOutcome {
    /// Size that was resting at the key before (0 if none).
    pub old: Lots,
    /// Existing levels dropped to make room (farthest first; 0 unless the pool was full).
    pub dropped: usize,
    /// Whether the new size was stored. `false` for a delete of a missing level, or when the
    /// new level itself fell in the dropped farthest block.
    pub stored: bool,
}

/// The sorted deep levels of one side. See the module docs.
#[derive(Clone, Debug)]
pub struct DeepLevels {
    /// `blocks × BLOCK` keys; block `b` holds `keys[b*BLOCK .. b*BLOCK + len[b]]`, ascending.
    keys: Box<[Ticks]>,
    /// Sizes in lots, parallel to `keys`.
    qtys: Box<[Lots]>,
    /// Entries used per block.
    len: Box<[u8]>,
    /// Live block ids in key order.
    dir: Vec<u32>,
    /// First key of each live block, parallel to `dir`.
    dir_min: Vec<Ticks>,
    /// Free block ids.
    free: Vec<u32>,
    /// Levels stored.
    total: usize,
}

impl DeepLevels {
    /// Room for at least `cap_levels` levels (`max(2, ⌈2·cap_levels / 64⌉)` blocks, since a
    /// block is at least half full right after a split). Memory: 16 bytes per slot.
    pub fn new(cap_levels: usize) -> DeepLevels {
        let blocks = (2 * cap_levels).div_ceil(BLOCK).max(2);
        DeepLevels {
            keys: vec![0; blocks * BLOCK].into_boxed_slice(),
            qtys: vec![0; blocks * BLOCK].into_boxed_slice(),
            len: vec![0; blocks].into_boxed_slice(),
            dir: Vec::with_capacity(blocks),
            dir_min: Vec::with_capacity(blocks),
            free: (0..blocks as u32).rev().collect(),
            total: 0,
        }
    }

    /// Number of levels stored.
    #[inline]
    pub fn len(&self) -> usize {
        self.total
    }

    /// Whether no level is stored.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Removes every level. O(live blocks).
    pub fn clear(&mut self) {
        for &b in &self.dir {
            self.len[b as usize] = 0;
            self.free.push(b);
        }
        self.dir.clear();
        self.dir_min.clear();
        self.total = 0;
    }

    /// Keys and sizes of block `b`.
    #[inline]
    fn block(&self, b: u32) -> (&[Ticks], &[Lots]) {
        let at = b as usize * BLOCK;
        let n = self.len[b as usize] as usize;
        (&self.keys[at..at + n], &self.qtys[at..at + n])
    }

    /// Directory position of the block that holds (or would hold) `k`: the last block whose
    /// first key is `<= k`, or the first block when `k` is below every key. `None` if empty.
    #[inline]
    fn find_block(&self, k: Ticks) -> Option<usize> {
        if self.dir.is_empty() {
            return None;
        }
        // The nearest block (last) takes most of the traffic: check it first.
        let last = self.dir.len() - 1;
        if self.dir_min[last] <= k {
            return Some(last);
        }
        Some(self.dir_min.partition_point(|&m| m <= k).saturating_sub(1))
    }

    /// Size at key `k` (0 if none). O(log n).
    pub fn get(&self, k: Ticks) -> Lots {
        let Some(d) = self.find_block(k) else {
            return 0;
        };
        let (keys, qtys) = self.block(self.dir[d]);
        match keys.binary_search(&k) {
            Ok(j) => qtys[j],
            Err(_) => 0,
        }
    }

    /// Largest key strictly below `k`, if any. O(log n).
    pub fn next_below(&self, k: Ticks) -> Option<Ticks> {
        let d = self.dir_min.partition_point(|&m| m < k);
        if d == 0 {
            return None;
        }
        let (keys, _) = self.block(self.dir[d - 1]);
        // dir_min[d - 1] < k, so at least the block's first key qualifies.
        let j = keys.partition_point(|&x| x < k);
        Some(keys[j - 1])
    }

    /// Calls `f(key, qty)` for every level in ascending key order.
    pub fn for_each(&self, mut f: impl FnMut(Ticks, Lots)) {
        for &b in &self.dir {
            let (keys, qtys) = self.block(b);
            for (&k, &q) in keys.iter().zip(qtys) {
                f(k, q);
            }
        }
    }

    /// Removes every level with a key in `[lo, hi)`, calling `f(key, qty)` for each in
    /// ascending order. O(log n + blocks touched × 64).
    pub fn take_range(&mut self, lo: Ticks, hi: Ticks, mut f: impl FnMut(Ticks, Lots)) {
        let mut d = self.dir_min.partition_point(|&m| m <= lo).saturating_sub(1);
        while d < self.dir.len() && self.dir_min[d] < hi {
            let b = self.dir[d] as usize;
            let at = b * BLOCK;
            let n = self.len[b] as usize;
            let keys = &self.keys[at..at + n];
            let j0 = keys.partition_point(|&k| k < lo);
            let j1 = keys.partition_point(|&k| k < hi);
            for j in j0..j1 {
                f(self.keys[at + j], self.qtys[at + j]);
            }
            let taken = j1 - j0;
            if taken == 0 {
                d += 1;
                continue;
            }
            self.keys.copy_within(at + j1..at + n, at + j0);
            self.qtys.copy_within(at + j1..at + n, at + j0);
            self.len[b] -= taken as u8;
            self.total -= taken;
            if taken == n {
                self.dir.remove(d);
                self.dir_min.remove(d);
                self.free.push(b as u32);
                continue;
            }
            if j0 == 0 {
                self.dir_min[d] = self.keys[at];
            }
            d += 1;
        }
    }

    /// Sets the size at key `k` to `qty` lots (`qty <= 0` deletes the level). O(log n) plus
    /// a move of at most one block's entries.
    pub fn set(&mut self, k: Ticks, qty: Lots) -> SetOutcome {
        let Some(mut d) = self.find_block(k) else {
            if qty <= 0 {
                return SetOutcome {
                    old: 0,
                    dropped: 0,
                    stored: false,
                };
            }
            self.open_block(0, k, qty);
            return SetOutcome {
                old: 0,
                dropped: 0,
                stored: true,
            };
        };
        let b = self.dir[d];
        let at = b as usize * BLOCK;
        let n = self.len[b as usize] as usize;
        match self.keys[at..at + n].binary_search(&k) {
            Ok(j) => {
                let old = self.qtys[at + j];
                if qty > 0 {
                    self.qtys[at + j] = qty;
                } else {
                    self.remove_at(d, j);
                }
                SetOutcome {
                    old,
                    dropped: 0,
                    stored: true,
                }
            }
            Err(_) if qty <= 0 => SetOutcome {
                old: 0,
                dropped: 0,
                stored: false,
            },
            Err(j) if n < BLOCK => {
                self.insert_at(d, j, k, qty);
                SetOutcome {
                    old: 0,
                    dropped: 0,
                    stored: true,
                }
            }
            Err(j) => {
                let mut dropped = 0;
                if self.free.is_empty() {
                    dropped = self.drop_farthest_block();
                    if d == 0 {
                        // The new level fell in the dropped block: it is among the farthest.
                        return SetOutcome {
                            old: 0,
                            dropped,
                            stored: false,
                        };
                    }
                    d -= 1;
                }
                if j == BLOCK && d + 1 == self.dir.len() {
                    // Past the nearest block's end (ascending fills, e.g. a snapshot or a
                    // re-centre): open a new block rather than leave a half-empty one behind.
                    self.open_block(d + 1, k, qty);
                } else if j == 0 && d == 0 {
                    // Below the farthest block's start: likewise.
                    self.open_block(0, k, qty);
                } else {
                    self.split(d);
                    if j <= BLOCK / 2 {
                        self.insert_at(d, j, k, qty);
                    } else {
                        self.insert_at(d + 1, j - BLOCK / 2, k, qty);
                    }
                }
                SetOutcome {
                    old: 0,
                    dropped,
                    stored: true,
                }
            }
        }
    }

    fn put_first(&mut self, b: u32, k: Ticks, qty: Lots) {
        let at = b as usize * BLOCK;
        self.keys[at] = k;
        self.qtys[at] = qty;
        self.len[b as usize] = 1;
    }

    /// Opens a free block holding only `k` at directory position `d`. The caller has checked
    /// that a free block exists.
    fn open_block(&mut self, d: usize, k: Ticks, qty: Lots) {
        let b = self
            .free
            .pop()
            .expect("open_block: caller ensures a free block");
        self.put_first(b, k, qty);
        self.dir.insert(d, b);
        self.dir_min.insert(d, k);
        self.total += 1;
    }

    /// Inserts into the block at directory position `d` (which has room) at index `j`.
    fn insert_at(&mut self, d: usize, j: usize, k: Ticks, qty: Lots) {
        let b = self.dir[d] as usize;
        let at = b * BLOCK;
        let n = self.len[b] as usize;
        debug_assert!(n < BLOCK && j <= n);
        self.keys.copy_within(at + j..at + n, at + j + 1);
        self.qtys.copy_within(at + j..at + n, at + j + 1);
        self.keys[at + j] = k;
        self.qtys[at + j] = qty;
        self.len[b] += 1;
        if j == 0 {
            self.dir_min[d] = k;
        }
        self.total += 1;
    }

    /// Removes index `j` of the block at directory position `d`; frees the block if empty.
    fn remove_at(&mut self, d: usize, j: usize) {
        let b = self.dir[d] as usize;
        let at = b * BLOCK;
        let n = self.len[b] as usize;
        self.keys.copy_within(at + j + 1..at + n, at + j);
        self.qtys.copy_within(at + j + 1..at + n, at + j);
        self.len[b] -= 1;
        self.total -= 1;
        if n == 1 {
            self.dir.remove(d);
            self.dir_min.remove(d);
            self.free.push(b as u32);
        } else if j == 0 {
            self.dir_min[d] = self.keys[at];
        }
    }

    /// Moves the upper half of the (full) block at directory position `d` into a free block
    /// inserted after it. The caller has checked that a free block exists.
    fn split(&mut self, d: usize) {
        let b = self.dir[d] as usize;
        let nb = self.free.pop().expect("split: caller ensures a free block") as usize;
        let (from, to, half) = (b * BLOCK + BLOCK / 2, nb * BLOCK, BLOCK / 2);
        self.keys.copy_within(from..from + half, to);
        self.qtys.copy_within(from..from + half, to);
        self.len[b] = half as u8;
        self.len[nb] = half as u8;
        self.dir.insert(d + 1, nb as u32);
        self.dir_min.insert(d + 1, self.keys[to]);
    }

    /// Drops the farthest block (directory position 0). Returns the number of levels dropped.
    fn drop_farthest_block(&mut self) -> usize {
        let b = self.dir.remove(0);
        self.dir_min.remove(0);
        let n = self.len[b as usize] as usize;
        self.len[b as usize] = 0;
        self.free.push(b);
        self.total -= n;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn check(d: &DeepLevels, m: &BTreeMap<Ticks, Lots>) {
        let mut got = Vec::new();
        d.for_each(|k, q| got.push((k, q)));
        let want: Vec<_> = m.iter().map(|(&k, &q)| (k, q)).collect();
        assert_eq!(got, want);
        assert_eq!(d.len(), m.len());
        for (i, (&mk, _)) in d.dir_min.iter().zip(&d.dir).enumerate() {
            let (keys, _) = d.block(d.dir[i]);
            assert!(!keys.is_empty());
            assert_eq!(keys[0], mk);
        }
    }

    #[test]
    fn matches_a_btreemap_under_random_updates() {
        let mut d = DeepLevels::new(4096);
        let mut m = BTreeMap::new();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for step in 0..100_000 {
            let k = (rnd() % 3000) as Ticks - 1500;
            let q = if rnd() % 3 == 0 {
                0
            } else {
                (rnd() % 50) as Lots + 1
            };
            let out = d.set(k, q);
            assert_eq!(out.dropped, 0);
            assert_eq!(out.old, m.get(&k).copied().unwrap_or(0), "step {step}");
            if q > 0 {
                m.insert(k, q);
            } else {
                m.remove(&k);
            }
            assert_eq!(d.get(k), q.max(0));
            let probe = (rnd() % 3200) as Ticks - 1600;
            assert_eq!(
                d.next_below(probe),
                m.range(..probe).next_back().map(|(&k, _)| k)
            );
            if step % 1000 == 0 {
                check(&d, &m);
            }
        }
        check(&d, &m);
        d.clear();
        assert!(d.is_empty());
        assert_eq!(d.free.len(), d.len.len());
    }

    #[test]
    fn take_range_removes_exactly_the_range() {
        let mut x: u64 = 0xD1B5_4A32_D192_ED03;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..200 {
            let mut d = DeepLevels::new(1024);
            let mut m = BTreeMap::new();
            for _ in 0..(rnd() % 1500) {
                let k = (rnd() % 4000) as Ticks - 2000;
                let q = (rnd() % 9) as Lots + 1;
                d.set(k, q);
                m.insert(k, q);
            }
            let lo = (rnd() % 4400) as Ticks - 2200;
            let hi = lo + (rnd() % 2500) as Ticks;
            let mut got = Vec::new();
            d.take_range(lo, hi, |k, q| got.push((k, q)));
            let want: Vec<_> = m.range(lo..hi).map(|(&k, &q)| (k, q)).collect();
            assert_eq!(got, want, "round {round}");
            m.retain(|&k, _| k < lo || k >= hi);
            check(&d, &m);
        }
    }

    #[test]
    fn a_full_pool_drops_the_farthest_block_only() {
        // Two blocks. Ascending inserts fill block 0, open block 1 at key 65 and fill it; key
        // 129 needs a third block.
        let mut d = DeepLevels::new(64);
        assert_eq!(d.len.len(), 2);
        let mut k = 0;
        let out = loop {
            k += 1;
            let out = d.set(k, 1);
            if out.dropped > 0 {
                break out;
            }
            assert!(out.stored);
        };
        assert_eq!((k, out.dropped, out.stored), (129, 64, true));
        assert_eq!((d.get(1), d.get(64), d.get(65), d.get(129)), (0, 0, 1, 1));
        assert_eq!(d.len(), 65);
        // A level farther than every other one, with no room: its block is the one dropped,
        // so it goes too.
        let out = d.set(-100, 1);
        assert_eq!((out.dropped, out.stored), (64, false));
        assert_eq!((d.get(-100), d.len()), (0, 1));
        assert_eq!(
            d.next_below(Ticks::MAX),
            Some(129),
            "the nearest level survives"
        );
    }

    #[test]
    fn drops_are_always_the_farthest_levels() {
        // A small pool under random traffic: whenever levels are dropped, they are exactly the
        // smallest keys, and everything else matches the model.
        let mut d = DeepLevels::new(256);
        let mut m: BTreeMap<Ticks, Lots> = BTreeMap::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut drops = 0;
        for step in 0..50_000 {
            let k = (rnd() % 3000) as Ticks;
            let q = if rnd() % 4 == 0 {
                0
            } else {
                (rnd() % 50) as Lots + 1
            };
            let out = d.set(k, q);
            for _ in 0..out.dropped {
                m.pop_first();
            }
            drops += out.dropped;
            match (q > 0, out.stored) {
                (true, true) => {
                    m.insert(k, q);
                }
                (false, _) => {
                    m.remove(&k);
                }
                (true, false) => assert!(out.dropped > 0, "step {step}: dropped without room"),
            }
            if step % 500 == 0 {
                check(&d, &m);
            }
        }
        check(&d, &m);
        assert!(
            drops > 0,
            "the pool never filled: the test does not test drops"
        );
    }
}
