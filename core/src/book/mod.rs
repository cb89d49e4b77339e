//! The book mirror: one instrument's price levels, indexed by tick.
//!
//! Layout: a dense window of `W` levels (power of two) around the touch holds quantities by
//! `price − lo`, with one occupancy bit per level so the next best level is found with a
//! leading/trailing-zeros scan (64 levels per instruction). Levels outside the window (deep
//! book) go to [`deep::DeepLevels`], a fixed-capacity two-level sorted array (O(log n) lookup,
//! at most one 64-level block moved per insert or delete; deep books such as Binance's keep
//! thousands of levels there). A level update is O(1) inside the
//! window; best bid/ask are cached and O(1) to read; deleting the best level costs one bit scan
//! (O(W/64) worst case, one word typically). When the touch drifts out of the window's middle
//! half, [`Book::finish_frame`] re-centres the window (O(W), rare).
//!
//! Allocates on construction ([`Book::new`]), never after: when the deep levels are full, the
//! levels farthest from the touch are dropped and counted in [`Book::truncated`] (never the
//! BBO).

pub mod deep;

use crate::types::{Lots, Side, Ticks};
use deep::DeepLevels;

/// Read access to a book mirror, so book implementations can be swapped and measured
/// against each other (in the spirit of hftbacktest's `MarketDepth`).
pub trait BookView {
    /// Best bid price in ticks, if any bid rests.
    fn best_bid(&self) -> Option<Ticks>;
    /// Best ask price in ticks, if any ask rests.
    fn best_ask(&self) -> Option<Ticks>;
    /// Resting size in lots at `px` on `side` (0 if none).
    fn qty_at(&self, side: Side, px: Ticks) -> Lots;
}

/// Book mirror of one instrument. See the module docs for the layout.
#[derive(Clone, Debug)]
pub struct Book {
    lo: Ticks,
    centred: bool,
    mask: usize,
    qty: [Box<[Lots]>; 2],
    bits: [Box<[u64]>; 2],
    /// Levels outside the window, keyed by [`ov_key`]: the price for bids, minus the price
    /// for asks (ascending key is farthest from the touch first on both sides).
    overflow: [DeepLevels; 2],
    best: [Option<Ticks>; 2],
    levels: [usize; 2],
    truncated: u64,
}

impl Book {
    /// A book with a dense window of `window` ticks (rounded up to a power of two, at least 64)
    /// and room for at least `overflow_cap` levels per side outside it.
    ///
    /// Memory: `2 × (8·W + W/8)` bytes for the window and about `2 × 32 · overflow_cap` bytes
    /// for the deep levels. The window's arrays are zero-allocated (fresh pages from the OS for
    /// large sizes) and only touched around live levels: clearing walks the occupancy bits, so
    /// a wide window (2^20 ticks, 16 MiB of address space) stays cheap in resident memory.
    /// Re-centring moves the window's quantities (O(W), rare: the touch must leave the middle
    /// half of the window).
    pub fn new(window: usize, overflow_cap: usize) -> Book {
        let w = window.max(64).next_power_of_two();
        Book {
            lo: 0,
            centred: false,
            mask: w - 1,
            qty: [vec![0; w].into_boxed_slice(), vec![0; w].into_boxed_slice()],
            bits: [
                vec![0; w / 64].into_boxed_slice(),
                vec![0; w / 64].into_boxed_slice(),
            ],
            overflow: [DeepLevels::new(overflow_cap), DeepLevels::new(overflow_cap)],
            best: [None, None],
            levels: [0, 0],
            truncated: 0,
        }
    }

    /// Window width in ticks.
    #[inline]
    pub fn window(&self) -> usize {
        self.mask + 1
    }

    /// Removes every level (start of a snapshot, or a gap). O(W/64 + levels).
    pub fn clear(&mut self) {
        for s in 0..2 {
            let (qty, bits) = (&mut self.qty[s], &mut self.bits[s]);
            for (wi, word) in bits.iter_mut().enumerate() {
                let mut m = *word;
                while m != 0 {
                    qty[(wi << 6) + m.trailing_zeros() as usize] = 0;
                    m &= m - 1;
                }
                *word = 0;
            }
            self.overflow[s].clear();
            self.best[s] = None;
            self.levels[s] = 0;
        }
        self.centred = false;
    }

    /// Number of non-empty levels on `side`.
    #[inline]
    pub fn levels(&self, side: Side) -> usize {
        self.levels[side.idx()]
    }

    /// Levels dropped because the overflow array was full (deep book only).
    #[inline]
    pub fn truncated(&self) -> u64 {
        self.truncated
    }

    #[inline]
    fn in_window(&self, px: Ticks) -> bool {
        px >= self.lo && ((px - self.lo) as u64) <= self.mask as u64
    }

    /// Sets the total resting size at `px` on `side` to `qty` lots (`qty <= 0` deletes the
    /// level). O(1) inside the window.
    #[inline]
    pub fn set(&mut self, side: Side, px: Ticks, qty: Lots) {
        if !self.centred {
            self.lo = px - (self.window() / 2) as Ticks;
            self.centred = true;
        }
        let s = side.idx();
        let old = if self.in_window(px) {
            let i = (px - self.lo) as usize;
            let old = self.qty[s][i];
            if qty > 0 {
                self.qty[s][i] = qty;
                self.bits[s][i >> 6] |= 1u64 << (i & 63);
            } else {
                self.qty[s][i] = 0;
                self.bits[s][i >> 6] &= !(1u64 << (i & 63));
            }
            old
        } else {
            let out = self.overflow[s].set(ov_key(s, px), qty);
            if out.dropped > 0 {
                // The farthest levels left the book (never the best: see `deep`).
                self.truncated += out.dropped as u64;
                self.levels[s] -= out.dropped;
            }
            if !out.stored && qty > 0 {
                // The new level itself was among the farthest and was dropped.
                self.truncated += 1;
                return;
            }
            out.old
        };
        match (old > 0, qty > 0) {
            (false, true) => {
                self.levels[s] += 1;
                let better = match self.best[s] {
                    None => true,
                    Some(b) => (side == Side::Bid && px > b) || (side == Side::Ask && px < b),
                };
                if better {
                    self.best[s] = Some(px);
                }
            }
            (true, false) => {
                self.levels[s] -= 1;
                if self.best[s] == Some(px) {
                    self.best[s] = self.next_best(side, px);
                }
            }
            _ => {}
        }
    }

    /// Next best price on `side` strictly worse than `px` (bids: below, asks: above).
    fn next_best(&self, side: Side, px: Ticks) -> Option<Ticks> {
        let s = side.idx();
        let ov = &self.overflow[s];
        let w = self.window() as Ticks;
        // Overflow: strictly worse than `px` is a smaller key on both sides; the best of those
        // is the largest such key.
        let from_ov = ov.next_below(ov_key(s, px)).map(|k| ov_key(s, k));
        match side {
            Side::Bid => {
                // window: highest set bit below px
                let mut best = None;
                if px > self.lo {
                    let start = (px - self.lo).min(w) - 1; // highest index to consider
                    best = scan_down(&self.bits[s], start as usize).map(|i| self.lo + i as Ticks);
                }
                max_opt(best, from_ov)
            }
            Side::Ask => {
                let mut best = None;
                if px < self.lo + w - 1 {
                    let start = if px < self.lo {
                        0
                    } else {
                        (px - self.lo + 1) as usize
                    };
                    best = scan_up(&self.bits[s], start).map(|i| self.lo + i as Ticks);
                }
                min_opt(best, from_ov)
            }
        }
    }

    /// Ends a frame (snapshot or change batch): re-centres the window when the touch has left
    /// its middle half. O(W) when it re-centres, O(1) otherwise.
    pub fn finish_frame(&mut self) {
        let anchor = match (self.best[0], self.best[1]) {
            (Some(b), Some(a)) => (b + a) / 2,
            (Some(b), None) => b,
            (None, Some(a)) => a,
            (None, None) => return,
        };
        let w = self.window() as Ticks;
        if anchor >= self.lo + w / 4 && anchor < self.lo + 3 * w / 4 {
            return;
        }
        self.recentre(anchor - w / 2);
    }

    /// Moves the window to start at `new_lo`, in place: window levels that fall outside go to
    /// the deep levels, the window's quantities and bits shift, and deep levels that fall
    /// inside come back. O(W/64 + levels moved + the window's quantities moved).
    fn recentre(&mut self, new_lo: Ticks) {
        let best = self.best;
        let w = self.window() as Ticks;
        let (lo, hi) = (new_lo, new_lo + w);
        for s in 0..2 {
            // 1. Levels leaving the window go deep.
            for wi in 0..self.bits[s].len() {
                let mut m = self.bits[s][wi];
                while m != 0 {
                    let i = (wi << 6) + m.trailing_zeros() as usize;
                    m &= m - 1;
                    let px = self.lo + i as Ticks;
                    if px >= lo && px < hi {
                        continue;
                    }
                    let q = self.qty[s][i];
                    self.qty[s][i] = 0;
                    self.bits[s][wi] &= !(1u64 << (i & 63));
                    let out = self.overflow[s].set(ov_key(s, px), q);
                    // Only the farthest levels are ever dropped, never the best.
                    let lost = out.dropped + usize::from(!out.stored);
                    self.truncated += lost as u64;
                    self.levels[s] -= lost;
                }
            }
            // 2. The rest shift by `delta` places.
            let delta = new_lo - self.lo;
            if delta.unsigned_abs() < w as u64 {
                let (d, n) = (delta.unsigned_abs() as usize, w as usize);
                if delta > 0 {
                    self.qty[s].copy_within(d..n, 0);
                    self.qty[s][n - d..].fill(0);
                    shift_bits_down(&mut self.bits[s], d);
                } else if delta < 0 {
                    self.qty[s].copy_within(0..n - d, d);
                    self.qty[s][..d].fill(0);
                    shift_bits_up(&mut self.bits[s], d);
                }
            }
        }
        self.lo = new_lo;
        self.centred = true;
        for s in 0..2 {
            // 3. Deep levels now inside the window come back (keys of prices in [lo, hi)).
            let (klo, khi) = if s == 0 { (lo, hi) } else { (1 - hi, 1 - lo) };
            let (qty, bits) = (&mut self.qty[s], &mut self.bits[s]);
            self.overflow[s].take_range(klo, khi, |k, q| {
                let i = (ov_key(s, k) - new_lo) as usize;
                qty[i] = q;
                bits[i >> 6] |= 1u64 << (i & 63);
            });
        }
        debug_assert_eq!(self.best, best);
    }

    /// `best_bid + best_ask` in ticks (twice the mid, exact), if both sides exist.
    #[inline]
    pub fn mid_x2(&self) -> Option<Ticks> {
        match (self.best[0], self.best[1]) {
            (Some(b), Some(a)) => Some(b + a),
            _ => None,
        }
    }

    /// Calls `f(price, qty)` for each level of `side` from the best outward, at most `n` levels.
    /// O(W/64 + n) — for reports and tests, not the hot path.
    pub fn for_each_level(&self, side: Side, n: usize, mut f: impl FnMut(Ticks, Lots)) {
        let mut px = match self.best[side.idx()] {
            Some(p) => p,
            None => return,
        };
        for _ in 0..n {
            f(px, self.qty_at(side, px));
            match self.next_best(side, px) {
                Some(p) => px = p,
                None => return,
            }
        }
    }
}

impl BookView for Book {
    #[inline]
    fn best_bid(&self) -> Option<Ticks> {
        self.best[0]
    }
    #[inline]
    fn best_ask(&self) -> Option<Ticks> {
        self.best[1]
    }
    #[inline]
    fn qty_at(&self, side: Side, px: Ticks) -> Lots {
        let s = side.idx();
        if self.in_window(px) {
            self.qty[s][(px - self.lo) as usize]
        } else {
            self.overflow[s].get(ov_key(s, px))
        }
    }
}

/// Overflow sort key of `px` on side index `s` (0 = bid, 1 = ask): `px` for bids, `-px` for
/// asks, so that ascending keys run from the farthest level to the nearest on both sides. The
/// map is its own inverse.
#[inline]
fn ov_key(s: usize, px: Ticks) -> Ticks {
    if s == 0 {
        px
    } else {
        -px
    }
}

#[inline]
fn max_opt(a: Option<Ticks>, b: Option<Ticks>) -> Option<Ticks> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

#[inline]
fn min_opt(a: Option<Ticks>, b: Option<Ticks>) -> Option<Ticks> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Shifts a bit array towards index 0 by `d` bits (bit `i` takes bit `i + d`; zeros enter at
/// the top).
fn shift_bits_down(bits: &mut [u64], d: usize) {
    let (q, r) = (d / 64, d % 64);
    let n = bits.len();
    for j in 0..n {
        let lo = bits.get(j + q).copied().unwrap_or(0);
        let hi = bits.get(j + q + 1).copied().unwrap_or(0);
        bits[j] = if r == 0 {
            lo
        } else {
            (lo >> r) | (hi << (64 - r))
        };
    }
}

/// Shifts a bit array away from index 0 by `d` bits (bit `i` takes bit `i - d`; zeros enter
/// at the bottom).
fn shift_bits_up(bits: &mut [u64], d: usize) {
    let (q, r) = (d / 64, d % 64);
    for j in (0..bits.len()).rev() {
        let hi = if j >= q { bits[j - q] } else { 0 };
        let lo = if j > q { bits[j - q - 1] } else { 0 };
        bits[j] = if r == 0 {
            hi
        } else {
            (hi << r) | (lo >> (64 - r))
        };
    }
}

/// Highest set bit index `<= start`.
#[inline]
fn scan_down(bits: &[u64], start: usize) -> Option<usize> {
    let mut w = start >> 6;
    let mut word = bits[w] & (u64::MAX >> (63 - (start & 63)));
    loop {
        if word != 0 {
            return Some((w << 6) + 63 - word.leading_zeros() as usize);
        }
        if w == 0 {
            return None;
        }
        w -= 1;
        word = bits[w];
    }
}

/// Lowest set bit index `>= start`.
#[inline]
fn scan_up(bits: &[u64], start: usize) -> Option<usize> {
    let mut w = start >> 6;
    if w >= bits.len() {
        return None;
    }
    let mut word = bits[w] & (u64::MAX << (start & 63));
    loop {
        if word != 0 {
            return Some((w << 6) + word.trailing_zeros() as usize);
        }
        w += 1;
        if w >= bits.len() {
            return None;
        }
        word = bits[w];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Reference model: two BTreeMaps.
    #[derive(Default)]
    struct Model {
        s: [BTreeMap<Ticks, Lots>; 2],
    }
    impl Model {
        fn set(&mut self, side: Side, px: Ticks, q: Lots) {
            if q > 0 {
                self.s[side.idx()].insert(px, q);
            } else {
                self.s[side.idx()].remove(&px);
            }
        }
        fn bb(&self) -> Option<Ticks> {
            self.s[0].keys().next_back().copied()
        }
        fn ba(&self) -> Option<Ticks> {
            self.s[1].keys().next().copied()
        }
    }

    #[test]
    fn matches_reference_model_under_random_walk() {
        let mut b = Book::new(64, 1024);
        let mut m = Model::default();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut centre: Ticks = 10_000;
        for step in 0..200_000 {
            if step % 500 == 0 {
                centre += (rnd() % 200) as Ticks - 100; // drift far beyond the window
            }
            let side = if rnd() % 2 == 0 { Side::Bid } else { Side::Ask };
            let off = (rnd() % 150) as Ticks;
            let px = if side == Side::Bid {
                centre - 1 - off
            } else {
                centre + off
            };
            let q = if rnd() % 3 == 0 {
                0
            } else {
                (rnd() % 100) as Lots + 1
            };
            b.set(side, px, q);
            m.set(side, px, q);
            if step % 7 == 0 {
                b.finish_frame();
            }
            assert_eq!(b.best_bid(), m.bb(), "step {step}");
            assert_eq!(b.best_ask(), m.ba(), "step {step}");
            assert_eq!(b.levels(Side::Bid), m.s[0].len());
            assert_eq!(b.qty_at(side, px), q.max(0));
        }
        assert_eq!(b.truncated(), 0);
    }

    #[test]
    fn clear_and_empty_sides() {
        let mut b = Book::new(128, 8);
        assert_eq!(b.best_bid(), None);
        b.set(Side::Ask, 500, 3);
        assert_eq!(b.best_ask(), Some(500));
        assert_eq!(b.mid_x2(), None);
        b.set(Side::Bid, 498, 1);
        assert_eq!(b.mid_x2(), Some(998));
        b.clear();
        assert_eq!((b.best_bid(), b.best_ask()), (None, None));
        assert_eq!(b.qty_at(Side::Ask, 500), 0);
    }

    #[test]
    fn full_deep_levels_drop_the_farthest_only() {
        for side in [Side::Bid, Side::Ask] {
            let sign: Ticks = if side == Side::Bid { -1 } else { 1 };
            // Window of 64 centred at 10_000; deep room for 64 levels (two 64-level blocks).
            let mut b = Book::new(64, 64);
            b.set(side, 10_000, 1);
            let far = |i: Ticks| 10_000 + sign * (1_000 + i);
            for i in 0..200 {
                b.set(side, far(i), 1);
            }
            assert!(b.truncated() > 0, "{side:?}");
            assert_eq!(b.levels(side) as u64, 201 - b.truncated(), "{side:?}");
            let stored = (0..200).filter(|&i| b.qty_at(side, far(i)) > 0).count();
            assert_eq!(
                stored + 1,
                b.levels(side),
                "{side:?}: the count matches the levels"
            );
            assert!(
                (0..64).all(|i| b.qty_at(side, far(i)) == 1),
                "{side:?}: the 64 nearest deep levels stay"
            );
            b.set(side, 10_000, 0);
            let best = if side == Side::Bid {
                b.best_bid()
            } else {
                b.best_ask()
            };
            assert_eq!(best, Some(far(0)), "{side:?}");
        }
    }
}
