//! Hot-path signals of strategies.md §4, in integers: order-book imbalance and the
//! adverse-selection cooldown triggers.

use crate::book::Book;
use crate::types::{Lots, Side, Ticks};

/// Order-book imbalance over the top `levels` levels of each side, ppm:
/// `imb = (bid_depth − ask_depth)/(bid_depth + ask_depth)` (strategies.md §4), in
/// `[−1 000 000, 1 000 000]`; 0 when both sides are empty. O(levels) plus the book's
/// occupancy-bit scans.
pub fn imbalance_ppm(book: &Book, levels: usize) -> i64 {
    let mut depth = [0 as Lots; 2];
    for side in [Side::Bid, Side::Ask] {
        let d = &mut depth[side.idx()];
        book.for_each_level(side, levels, |_, q| *d = d.saturating_add(q.max(0)));
    }
    imbalance_of(depth[0], depth[1])
}

/// `(bid − ask)/(bid + ask)` in ppm (0 when both are 0).
#[inline]
pub fn imbalance_of(bid: Lots, ask: Lots) -> i64 {
    let tot = bid as i128 + ask as i128;
    if tot <= 0 {
        return 0;
    }
    ((bid as i128 - ask as i128) * 1_000_000 / tot) as i64
}

/// Reference shift of the imbalance, ticks × 10⁶, **upward** for a heavier bid:
/// `K · imb` with `K` = `shift_e6` (ticks × 10⁶ at `imb = 1`).
#[inline]
pub fn imbalance_shift_e6(imb_ppm: i64, shift_e6: i64) -> i64 {
    (imb_ppm as i128 * shift_e6 as i128 / 1_000_000) as i64
}

/// True when the mid moved at least `bps_e2` hundredths of a bp between two twice-mids
/// (`|mid2 − prev2| / prev2 ≥ bps_e2 / 10⁶`); false when either is unknown (≤ 0) or the
/// trigger is off (`bps_e2 ≤ 0`).
#[inline]
pub fn fast_move(prev2: Ticks, mid2: Ticks, bps_e2: i64) -> bool {
    bps_e2 > 0
        && prev2 > 0
        && mid2 > 0
        && (mid2 - prev2).unsigned_abs() as i128 * 1_000_000 >= bps_e2 as i128 * prev2 as i128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imbalance_by_hand() {
        // 30 lots bid vs 10 ask over the top levels: (30 − 10)/40 = 0.5.
        assert_eq!(imbalance_of(30, 10), 500_000);
        assert_eq!(imbalance_of(10, 30), -500_000);
        assert_eq!(imbalance_of(0, 0), 0);
        assert_eq!(imbalance_of(5, 0), 1_000_000);
        // K = 2 ticks at imb = 1: imb 0.5 → 1 tick up (× 10⁶).
        assert_eq!(imbalance_shift_e6(500_000, 2_000_000), 1_000_000);
        assert_eq!(imbalance_shift_e6(-250_000, 2_000_000), -500_000);
    }

    #[test]
    fn imbalance_of_a_book() {
        let mut b = Book::new(1024, 16);
        // Bids 100 (5), 99 (7), 98 (100); asks 101 (3), 102 (1), 103 (100).
        for (side, px, q) in [
            (Side::Bid, 100, 5),
            (Side::Bid, 99, 7),
            (Side::Bid, 98, 100),
            (Side::Ask, 101, 3),
            (Side::Ask, 102, 1),
            (Side::Ask, 103, 100),
        ] {
            b.set(side, px, q);
        }
        b.finish_frame();
        // Top 2: bid 12, ask 4 → 8/16 = 0.5.
        assert_eq!(imbalance_ppm(&b, 2), 500_000);
        // Top 3: 112 vs 104 → 8/216 = 0.037 037.
        assert_eq!(imbalance_ppm(&b, 3), 37_037);
    }

    #[test]
    fn fast_move_by_hand() {
        // 10 000 → 10 010 ticks (twice: 20 000 → 20 020) is 10 bps.
        assert!(fast_move(20_000, 20_020, 1000));
        assert!(!fast_move(20_000, 20_019, 1000));
        assert!(fast_move(20_000, 19_980, 1000));
        assert!(!fast_move(0, 19_980, 1000));
        assert!(!fast_move(20_000, 40_000, 0));
    }
}
