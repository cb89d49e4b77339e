//! The book mirror: one instrument's price levels, indexed by tick.
//!
//! Layout: a dense window of `W` levels (power of two) around the touch holds quantities by
//! `price − lo`, with one occupancy bit per level so the next best level is found with a
//! leading/trailing-zeros scan (64 levels per instruction). Levels outside the window (deep
//! book) go to a sorted overflow array of fixed capacity. A level update is O(1) inside the
//! window; best bid/ask are cached and O(1) to read; deleting the best level costs one bit scan
//! (O(W/64) worst case, one word typically). When the touch drifts out of the window's middle
//! half, [`Book::finish_frame`] re-centres the window (O(W), rare).
//!
//! Allocates on construction ([`Book::new`]), never after: when the overflow array is full,
//! the level farthest from the touch is dropped and counted in [`Book::truncated`] (it never
//! affects the BBO).

use crate::types::{Lots, Side, Ticks};

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
    /// Sorted ascending by price; levels outside the window.
    overflow: [Vec<(Ticks, Lots)>; 2],
    overflow_cap: usize,
    best: [Option<Ticks>; 2],
    levels: [usize; 2],
    truncated: u64,
    scratch: Vec<(Ticks, Lots)>,
}

impl Book {
    /// A book with a dense window of `window` ticks (rounded up to a power of two, at least 64)
    /// and room for `overflow_cap` levels per side outside it.
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
            overflow: [
                Vec::with_capacity(overflow_cap),
                Vec::with_capacity(overflow_cap),
            ],
            overflow_cap,
            best: [None, None],
            levels: [0, 0],
            truncated: 0,
            scratch: Vec::with_capacity(2 * w + 2 * overflow_cap),
        }
    }

    /// Window width in ticks.
    #[inline]
    pub fn window(&self) -> usize {
        self.mask + 1
    }

    /// Removes every level (start of a snapshot, or a gap).
    pub fn clear(&mut self) {
        for s in 0..2 {
            if self.levels[s] > self.overflow[s].len() {
                self.qty[s].iter_mut().for_each(|q| *q = 0);
                self.bits[s].iter_mut().for_each(|b| *b = 0);
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
            self.set_overflow(s, px, qty)
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

    fn set_overflow(&mut self, s: usize, px: Ticks, qty: Lots) -> Lots {
        let ov = &mut self.overflow[s];
        match ov.binary_search_by_key(&px, |l| l.0) {
            Ok(i) => {
                let old = ov[i].1;
                if qty > 0 {
                    ov[i].1 = qty;
                } else {
                    ov.remove(i);
                }
                old
            }
            Err(i) => {
                if qty <= 0 {
                    return 0;
                }
                if ov.len() == self.overflow_cap {
                    // Drop the level farthest from the touch: for bids the lowest price, for
                    // asks the highest. If the new level is itself the farthest, drop it.
                    self.truncated += 1;
                    let bid = s == 0;
                    if (bid && i == 0) || (!bid && i == ov.len()) || self.overflow_cap == 0 {
                        return 0;
                    }
                    if bid {
                        ov.remove(0);
                        ov.insert(i - 1, (px, qty));
                    } else {
                        ov.pop();
                        ov.insert(i, (px, qty));
                    }
                    // One level left the book: keep the count consistent.
                    self.levels[s] -= 1;
                    return 0;
                }
                ov.insert(i, (px, qty));
                0
            }
        }
    }

    /// Next best price on `side` strictly worse than `px` (bids: below, asks: above).
    fn next_best(&self, side: Side, px: Ticks) -> Option<Ticks> {
        let s = side.idx();
        let ov = &self.overflow[s];
        let w = self.window() as Ticks;
        match side {
            Side::Bid => {
                // window: highest set bit below px
                let mut best = None;
                if px > self.lo {
                    let start = (px - self.lo).min(w) - 1; // highest index to consider
                    best = scan_down(&self.bits[s], start as usize).map(|i| self.lo + i as Ticks);
                }
                let ob = {
                    let i = ov.partition_point(|l| l.0 < px);
                    if i > 0 {
                        Some(ov[i - 1].0)
                    } else {
                        None
                    }
                };
                max_opt(best, ob)
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
                let oa = {
                    let i = ov.partition_point(|l| l.0 <= px);
                    ov.get(i).map(|l| l.0)
                };
                min_opt(best, oa)
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

    fn recentre(&mut self, new_lo: Ticks) {
        // Collect every level of both sides (window first, then overflow) before moving `lo`.
        let best = self.best;
        self.scratch.clear();
        let mut split = 0;
        for s in 0..2 {
            for i in 0..self.window() {
                let q = self.qty[s][i];
                if q > 0 {
                    self.scratch.push((self.lo + i as Ticks, q));
                    self.qty[s][i] = 0;
                }
            }
            self.bits[s].iter_mut().for_each(|b| *b = 0);
            for k in 0..self.overflow[s].len() {
                let l = self.overflow[s][k];
                self.scratch.push(l);
            }
            self.overflow[s].clear();
            self.levels[s] = 0;
            self.best[s] = None;
            if s == 0 {
                split = self.scratch.len();
            }
        }
        self.lo = new_lo;
        self.centred = true;
        for k in 0..self.scratch.len() {
            let (px, q) = self.scratch[k];
            let side = if k < split { Side::Bid } else { Side::Ask };
            self.set(side, px, q);
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
            let ov = &self.overflow[s];
            match ov.binary_search_by_key(&px, |l| l.0) {
                Ok(i) => ov[i].1,
                Err(_) => 0,
            }
        }
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
    fn overflow_full_drops_farthest_level_only() {
        let mut b = Book::new(64, 2);
        b.set(Side::Bid, 1000, 1); // centres the window at 1000
        for px in [900, 800, 700] {
            b.set(Side::Bid, px, 1);
        }
        assert_eq!(b.truncated(), 1);
        assert_eq!(b.best_bid(), Some(1000));
        b.set(Side::Bid, 1000, 0);
        assert_eq!(b.best_bid(), Some(900));
        b.set(Side::Bid, 900, 0);
        assert_eq!(b.best_bid(), Some(800));
    }
}
