//! Scalar vocabulary of the hot path: prices in ticks, sizes in lots, time in nanoseconds.
//!
//! Everything that crosses a ring or lives in hot-thread state is expressed in these integer
//! units. Conversion from and to the venue's decimal text happens at the edges (decoder,
//! encoder, reports) through [`crate::instrument::Instrument`].

/// A price in integer **ticks** of the instrument's base tick size
/// (`price = ticks × tick_size`). With Deribit `tick_size_steps` the allowed price grid is
/// coarser above some levels, but ticks always count the finest (base) tick so that book
/// indexing stays uniform.
pub type Ticks = i64;

/// A size in integer **lots**: multiples of the instrument's amount step (Deribit
/// `min_trade_amount`: USD for inverse futures, coin for options and linear instruments).
pub type Lots = i64;

/// Nanoseconds. Local receive/decision/wire stamps come from one monotonic clock
/// (`mm_io::clock`); exchange timestamps are nanoseconds since the Unix epoch. The two are
/// never mixed in one subtraction.
pub type Nanos = u64;

/// Dense instrument index into preallocated tables (`0..instruments.len()`).
pub type InstrumentId = u32;

/// Our own order identifier, assigned by the hot thread, unique for a run. On the wire it is
/// carried in the Deribit `label` field as `mmf-<id>` (see `mm_venues::deribit::encode`).
pub type ClientId = u64;

/// Side of the book, or direction of an order or trade: `Bid` = buy, `Ask` = sell.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Side {
    /// Bid side of the book; a buy order; for a public trade, a buying taker.
    #[default]
    Bid = 0,
    /// Ask side of the book; a sell order; for a public trade, a selling taker.
    Ask = 1,
}

impl Side {
    /// The other side.
    #[inline]
    pub const fn opposite(self) -> Side {
        match self {
            Side::Bid => Side::Ask,
            Side::Ask => Side::Bid,
        }
    }

    /// `+1` for a bid/buy, `-1` for an ask/sell: the sign a fill of this side adds to a position.
    #[inline]
    pub const fn sign(self) -> i64 {
        match self {
            Side::Bid => 1,
            Side::Ask => -1,
        }
    }

    /// Index for two-element per-side arrays (`Bid` = 0, `Ask` = 1).
    #[inline]
    pub const fn idx(self) -> usize {
        self as usize
    }

    /// Deribit's word for an order of this side (`"buy"` / `"sell"`).
    pub const fn direction(self) -> &'static str {
        match self {
            Side::Bid => "buy",
            Side::Ask => "sell",
        }
    }
}
