//! The book update workload behind one interface: reset to the snapshot (untimed), then apply
//! every change of a [`DepthStream`], reading best bid and ask after each update.
//!
//! `apply` returns a fold of the best prices so the optimiser cannot drop the reads.

use crate::depth::DepthStream;
use mm_core::book::{Book, BookView};

/// Window of our book in ticks: the engine's default for perpetuals, futures and spot
/// (`EngineConfig::book_window_linear`); both benched streams are perpetuals.
pub const OUR_WINDOW: usize = 1 << 20;
/// Deep-level capacity of our book per side (as the engine builds it).
pub const OUR_OVERFLOW: usize = 2048;
/// The engine's default window for options (`EngineConfig::book_window`), benched as a detail:
/// on a deep perpetual book most levels then live in the deep levels beyond the window.
pub const OPTION_WINDOW: usize = 4096;

/// Our book: integer ticks/lots, `finish_frame` after each diff message.
#[derive(Debug)]
pub struct Ours {
    book: Book,
}

impl Ours {
    /// A book sized for the benches ([`OUR_WINDOW`], [`OUR_OVERFLOW`]).
    pub fn new(_s: &DepthStream) -> Self {
        Self::with_window(OUR_WINDOW, OUR_OVERFLOW)
    }

    /// A book with a dense window of `window` ticks and `overflow` levels per side beyond it.
    pub fn with_window(window: usize, overflow: usize) -> Self {
        Ours {
            book: Book::new(window, overflow),
        }
    }

    /// Clears the book and applies the snapshot.
    pub fn reset(&mut self, s: &DepthStream) {
        self.book.clear();
        for l in &s.snapshot {
            self.book.set(l.side, l.px, l.qty);
        }
        self.book.finish_frame();
    }

    /// Applies every change of `s`.
    #[inline(never)]
    pub fn apply(&mut self, s: &DepthStream) -> i64 {
        let mut acc = 0i64;
        let book = &mut self.book;
        for frame in s.frames() {
            for l in frame {
                book.set(l.side, l.px, l.qty);
                acc = acc.wrapping_add(book.best_bid().unwrap_or(0) ^ book.best_ask().unwrap_or(0));
            }
            book.finish_frame();
        }
        acc
    }

    /// The book (for checks).
    pub fn book(&self) -> &Book {
        &self.book
    }
}

#[cfg(feature = "peers")]
pub use peers::{HashMap, Roi};

#[cfg(feature = "peers")]
mod peers {
    use crate::depth::DepthStream;
    use hftbacktest::depth::{
        HashMapMarketDepth, L2MarketDepth, MarketDepth, ROIVectorMarketDepth,
    };
    use hftbacktest::types::Side as HSide;

    macro_rules! peer {
        ($name:ident, $ty:ty, $mk:expr, $doc:literal) => {
            #[doc = $doc]
            pub struct $name {
                d: $ty,
            }

            impl $name {
                /// A depth for the tick and lot of `s`.
                pub fn new(s: &DepthStream) -> Self {
                    $name { d: $mk(s) }
                }

                /// Clears the depth and applies the snapshot.
                pub fn reset(&mut self, s: &DepthStream) {
                    self.d.clear_depth(HSide::None, 0.0);
                    for l in &s.snapshot {
                        match l.side {
                            mm_core::types::Side::Bid => {
                                self.d.update_bid_depth(l.px_f, l.qty_f, 0)
                            }
                            mm_core::types::Side::Ask => {
                                self.d.update_ask_depth(l.px_f, l.qty_f, 0)
                            }
                        };
                    }
                }

                /// Applies every change of `s` (`f64` price and quantity, as the API takes).
                #[inline(never)]
                pub fn apply(&mut self, s: &DepthStream) -> i64 {
                    let mut acc = 0i64;
                    let d = &mut self.d;
                    for l in &s.changes {
                        match l.side {
                            mm_core::types::Side::Bid => d.update_bid_depth(l.px_f, l.qty_f, 0),
                            mm_core::types::Side::Ask => d.update_ask_depth(l.px_f, l.qty_f, 0),
                        };
                        acc = acc.wrapping_add(d.best_bid_tick() ^ d.best_ask_tick());
                    }
                    acc
                }

                /// Best bid and ask in ticks (hftbacktest sentinels when empty).
                pub fn best(&self) -> (i64, i64) {
                    (self.d.best_bid_tick(), self.d.best_ask_tick())
                }
            }
        };
    }

    peer!(
        HashMap,
        HashMapMarketDepth,
        |s: &DepthStream| HashMapMarketDepth::new(s.tick, s.lot),
        "hftbacktest `HashMapMarketDepth` (L2 API)."
    );
    peer!(
        Roi,
        ROIVectorMarketDepth,
        |s: &DepthStream| ROIVectorMarketDepth::new(
            s.tick,
            s.lot,
            s.px_range.0 as f64 * s.tick,
            s.px_range.1 as f64 * s.tick
        ),
        "hftbacktest `ROIVectorMarketDepth` over the stream's whole price range (L2 API)."
    );
}
