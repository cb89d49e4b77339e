//! The fixed-size `Copy` events that cross the rings (design.md §2).
//!
//! Every event is one 64-byte cache line (`#[repr(C, align(64))]`), holds no heap data, and
//! carries the local receive stamp of the frame it came from, so latency can be measured at
//! every stage.
//!
//! | ring | producer → consumer | event |
//! |---|---|---|
//! | md | md thread → hot thread | [`MdEvent`] |
//! | intent | hot thread → gateway | [`OrderIntent`] |
//! | exec | gateway → hot thread | [`ExecEvent`] |
//! | telemetry | hot thread → control | [`Telemetry`] |

use crate::types::{ClientId, InstrumentId, Lots, Nanos, Side, Ticks};

/// What an [`MdEvent`] says.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MdKind {
    /// Start of a book snapshot: clear the instrument's book. `seq` = the snapshot `change_id`.
    #[default]
    BookClear = 0,
    /// A price level's new total size (`qty` lots at `price` ticks on `side`); `qty == 0`
    /// deletes the level. Part of the frame that the next `BookDone` closes.
    Level = 1,
    /// End of one book frame (snapshot or change): the book is consistent again.
    /// `seq` = `change_id`; `exch_ts` = the frame's exchange timestamp.
    BookDone = 2,
    /// The `prev_change_id` chain broke (or the decoder lost the book): the book is untrusted
    /// until the next `BookClear`…`BookDone` snapshot. The md thread has already asked for a
    /// new snapshot (resubscribe). `seq` = the change id that was expected.
    Gap = 3,
    /// A public trade: `side` = taker side, `price`, `qty`.
    Trade = 4,
    /// Ticker: venue mark price in `price` ticks (0 if none); `qty` = underlying index price
    /// in 1e-4 USD (0 if unknown).
    Mark = 5,
    /// The market-data connection dropped: every book of this connection is untrusted.
    /// `instrument` is `u32::MAX`.
    Disconnected = 6,
    /// Option ticker data (sent after the frame's `Mark`): `price` = mark IV in ppm of a
    /// fraction (`mark_iv` 48.18 → 481 800); `qty` = `underlying_price` (the expiry's
    /// forward) in 1e-4 USD; `seq` = the ticker's greeks packed by [`pack_greeks`] (delta in
    /// 1e-6, vega in 1e-4 USD per vol point, per coin) when `flags & 1`
    /// ([`md_flags::GREEKS`]); `exch_ts` = the ticker's timestamp. See
    /// [`crate::options`].
    OptionTicker = 7,
}

/// Flags of an [`MdEvent`].
pub mod md_flags {
    /// `OptionTicker`: `seq` carries the ticker's greeks ([`super::pack_greeks`]).
    pub const GREEKS: u8 = 1;
}

/// Packs a delta (1e-6, clamped to the i32 range) and a vega (1e-4 USD per vol point,
/// clamped to the i32 range) into an `OptionTicker`'s `seq`: delta in the high 32 bits,
/// vega in the low 32 bits, both two's complement.
#[inline]
pub fn pack_greeks(delta_e6: i64, vega_e4: i64) -> u64 {
    let c = |v: i64| v.clamp(i32::MIN as i64, i32::MAX as i64) as i32 as u32 as u64;
    (c(delta_e6) << 32) | c(vega_e4)
}

/// The `(delta_e6, vega_e4)` of an `OptionTicker` event when it carries greeks.
#[inline]
pub fn unpack_greeks(ev: &MdEvent) -> Option<(i64, i64)> {
    (ev.flags & md_flags::GREEKS != 0).then_some((
        (ev.seq >> 32) as u32 as i32 as i64,
        ev.seq as u32 as i32 as i64,
    ))
}

/// A normalized market-data event (md ring payload). 64 bytes.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MdEvent {
    /// Local receive time of the frame (monotonic clock, ns).
    pub t_recv: Nanos,
    /// Local time the decoder finished this frame (monotonic clock, ns).
    pub t_decoded: Nanos,
    /// Exchange timestamp of the frame, ns since the Unix epoch (0 if none).
    pub exch_ts: Nanos,
    /// Price in ticks (meaning depends on `kind`).
    pub price: Ticks,
    /// Size in lots (meaning depends on `kind`).
    pub qty: Lots,
    /// Venue sequence: Deribit `change_id` for book events, `trade_seq` for trades.
    pub seq: u64,
    /// Instrument id.
    pub instrument: InstrumentId,
    /// What this is.
    pub kind: MdKind,
    /// Book side or taker side.
    pub side: Side,
    /// Reserved flag bits (0).
    pub flags: u8,
}

/// Flags of an [`OrderIntent`].
pub mod intent_flags {
    /// Post-only (`post_only: true, reject_post_only: true` on Deribit: a crossing order is
    /// rejected with 11054, never repriced).
    pub const POST_ONLY: u8 = 1;
    /// Reduce-only.
    pub const REDUCE_ONLY: u8 = 2;
    /// Immediate-or-cancel.
    pub const IOC: u8 = 4;
}

/// What an [`OrderIntent`] asks the gateway to do.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IntentKind {
    /// New limit order `client_id` (`private/buy`/`private/sell`).
    #[default]
    New = 0,
    /// Move order `client_id` to `price`/`qty` (`private/edit`).
    Amend = 1,
    /// Cancel order `client_id` (`private/cancel`).
    Cancel = 2,
    /// Cancel every order of the account (`private/cancel_all`); `instrument` is `u32::MAX`.
    CancelAll = 3,
}

/// An order instruction from the hot thread to the gateway (intent ring payload). 64 bytes.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrderIntent {
    /// Receive time of the market-data frame that caused this intent (ns, monotonic); 0 when
    /// not caused by market data (e.g. shutdown).
    pub t_recv: Nanos,
    /// Time the hot thread decided (ns, monotonic).
    pub t_decide: Nanos,
    /// Our order id.
    pub client_id: ClientId,
    /// Limit price in ticks (New, Amend).
    pub price: Ticks,
    /// Size in lots (New, Amend): total order size.
    pub qty: Lots,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Action.
    pub kind: IntentKind,
    /// Order side.
    pub side: Side,
    /// [`intent_flags`] bits.
    pub flags: u8,
}

/// What an [`ExecEvent`] reports.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ExecKind {
    /// The venue accepted a new order; it rests (`qty` = open size, `price` = its price).
    #[default]
    Accepted = 0,
    /// The venue applied an amend (`price`, `qty` = new values, `leaves` = open size).
    Amended = 1,
    /// The order is gone without (further) fills: user cancel, cancel-all,
    /// cancel-on-disconnect, IOC remainder. `code` holds a reason code (0 = user request).
    Cancelled = 2,
    /// A fill of `qty` lots at `price`; `leaves` = size still open after it (0 = filled).
    Fill = 3,
    /// A request about `client_id` failed; `code` = the venue's error code (e.g. 11054
    /// post-only reject, 11044 not open). For a rejected New the order never existed.
    /// For a rejected Amend/Cancel the order's state is unchanged unless `qty == -1`, which
    /// means the venue says the order is no longer open.
    Rejected = 4,
    /// Cancel-all acknowledged; `qty` = number of orders the venue cancelled.
    CancelAllDone = 5,
    /// The order connection dropped: orders' fates are unknown until reconciled.
    Disconnected = 6,
    /// The order connection is up, authenticated and subscribed, and (after a reconnect or
    /// a restart) the venue's open orders, fills and positions are reconciled: quoting may
    /// resume.
    Connected = 7,
    /// Reconciliation: the venue's position of `instrument` is `qty` lots (signed: + long,
    /// − short), from `private/get_positions`. Sent after the missed fills have been
    /// reported, so a difference from the engine's own position is a real mismatch.
    Position = 8,
    /// Market-maker protection tripped (`user.mmp_trigger`, dossier §5.7): the venue cancelled
    /// the MMP orders/quotes of the index of `instrument` (or of every instrument with
    /// `instrument == u32::MAX`); `price` = `frozen_until` in ms since the epoch (0 = until
    /// `private/reset_mmp`).
    MmpTriggered = 9,
    /// MMP was reset (`private/reset_mmp` acknowledged or `frozen_until` passed) for the
    /// index of `instrument` (or all with `u32::MAX`): quoting may resume.
    MmpReset = 10,
}

/// A report from the gateway to the hot thread (exec ring payload). 64 bytes.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecEvent {
    /// Local receive time of the frame (ns, monotonic).
    pub t_recv: Nanos,
    /// Our order id (0 for account-wide events).
    pub client_id: ClientId,
    /// Price in ticks (fill price, resting price).
    pub price: Ticks,
    /// Size in lots (fill size, open size, or count for `CancelAllDone`).
    pub qty: Lots,
    /// Size still open after this event, in lots.
    pub leaves: Lots,
    /// Fee of a fill in nano-units of the settlement currency (1e-9 BTC, …); negative = rebate.
    pub fee_nano: i64,
    /// Venue error or cancel-reason code (0 if none).
    pub code: i32,
    /// Instrument.
    pub instrument: InstrumentId,
    /// What happened.
    pub kind: ExecKind,
    /// Order side.
    pub side: Side,
    /// 1 if the fill was as maker, 0 taker (fills only).
    pub maker: u8,
}

impl ExecEvent {
    /// The refusal of `it` with error `code` at `t_recv` (ns): `Rejected`, echoing the
    /// intent's id and side, with its instrument (`u32::MAX` for a cancel-all, which has
    /// none). `qty` −1 means the order is not open at the venue (the engine forgets it), 0
    /// that its state is unchanged (see [`ExecKind::Rejected`]).
    pub fn rejection_of(it: &OrderIntent, code: i32, qty: Lots, t_recv: Nanos) -> ExecEvent {
        ExecEvent {
            t_recv,
            client_id: it.client_id,
            instrument: if it.kind == IntentKind::CancelAll {
                u32::MAX
            } else {
                it.instrument
            },
            kind: ExecKind::Rejected,
            code,
            qty,
            side: it.side,
            ..Default::default()
        }
    }

    /// The venue's plain acknowledgement of `it`: `New` → `Accepted`, `Amend` → `Amended`,
    /// `Cancel` → `Cancelled`, `CancelAll` → `CancelAllDone`, echoing the intent's id, price
    /// (ticks), size (lots), instrument and side. What a venue that accepts everything and
    /// fills nothing sends back; used by benches, replays and tests.
    pub fn ack_of(it: &OrderIntent) -> ExecEvent {
        let kind = match it.kind {
            IntentKind::New => ExecKind::Accepted,
            IntentKind::Amend => ExecKind::Amended,
            IntentKind::Cancel => ExecKind::Cancelled,
            IntentKind::CancelAll => ExecKind::CancelAllDone,
        };
        ExecEvent {
            client_id: it.client_id,
            price: it.price,
            qty: it.qty,
            instrument: it.instrument,
            kind,
            side: it.side,
            ..Default::default()
        }
    }
}

/// Measurement stage of a latency sample (design.md §5).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Stage {
    /// Frame read → decoded (md thread).
    #[default]
    Decode = 0,
    /// Decoded → taken off the md ring by the hot thread.
    Ring = 1,
    /// Taken off the ring → intent written (hot thread decision).
    Decide = 2,
    /// Intent taken by the gateway → frame written to the socket.
    EncodeWrite = 3,
    /// Frame read → intent written (tick-to-quote).
    TickToQuote = 4,
    /// Frame read → order frame written (tick-to-wire).
    TickToWire = 5,
}

/// Number of [`Stage`] values.
pub const STAGES: usize = 6;

/// What a [`Telemetry`] record carries.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TelKind {
    /// A latency sample: `a` = ns, `stage`.
    #[default]
    Latency = 0,
    /// A fill as the engine booked it: `instrument`, `side`, `a` = price ticks, `b` = lots,
    /// `c` = fee in nano-units, `d` = client id.
    Fill = 1,
    /// A book gap detected: `instrument`.
    Gap = 2,
    /// A risk event: `instrument`, `a` = [`crate::risk::RiskCode`] value, `b` = detail.
    Risk = 3,
    /// A reject from the venue: `instrument`, `a` = code, `d` = client id.
    Reject = 4,
    /// A new mark/index reading: `instrument`, `a` = mark price ticks, `b` = underlying index
    /// in 1e-4 USD (0 if unknown). Emitted only when the index changes.
    Index = 5,
    /// The gateway wrote a cancel request to the order socket (in dry-run: acknowledged it
    /// locally): `t` = write time, `a` = [`IntentKind`] value (`Cancel` or `CancelAll`),
    /// `d` = client id (0 for cancel-all), `instrument`. The kill switch measures with it.
    CancelWritten = 6,
    /// A mark for PnL series: `instrument`, `a` = twice the reference price (ticks, the mid
    /// or, on a one-sided book, twice the mark; 0 if none), `b` = exchange time of the last
    /// book frame (ns since the epoch; local monotonic time when the feed has none),
    /// `c` = underlying index in 1e-4 USD (0 if unknown). Emitted once per
    /// `EngineConfig::mark_every_ns` of exchange time per instrument, and just before every
    /// `Fill` record (the mid at the fill).
    Mark = 7,
    /// The binding limit of one side changed: `instrument`, `side`, `a` = the
    /// [`crate::risk::RiskCode`] now limiting the side (0 = no longer limited), `b` = exchange
    /// time as in `Mark`. A side is limited while its quoted size is below the configured
    /// size (or it is not quoted) because of a limit.
    Limit = 8,
    /// A quote decision sent to the gateway (only with `EngineConfig::log_quotes`):
    /// `instrument`, `side`, `a` = price ticks (New/Amend; the order's price for a Cancel;
    /// 0 for CancelAll), `b` = order size in lots (total size; 0 for CancelAll),
    /// `c` = [`quote_word`] (intent kind, [`QuoteReason`], level, open size), `d` = client id
    /// (0 for CancelAll). Rendered and logged by the control thread, never on the hot thread.
    Quote = 9,
    /// An option's theo or greeks changed (an `OptionTicker` arrived): `instrument`,
    /// `a` = theo in ticks (0 = none), `b` = delta per lot in 1e-8 coin, `c` = vega per lot
    /// in 1e-6 USD per vol point (`i64::MIN` = unknown), `d` = exchange time (ns).
    Theo = 10,
    /// A fill could not be written to the fill journal (gateway thread): `a` = failed writes
    /// so far (the error is logged by the gateway). The fill was still reported to the
    /// engine (it happened at the venue), but it is not durable: the control thread stops
    /// the run.
    JournalError = 17,
}

/// Why the engine sent a quote intent (the reason of a `TelKind::Quote` record).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuoteReason {
    /// A level of the ladder had no order: new quote.
    Place = 1,
    /// The level's target moved by at least the re-quote threshold: amend to it.
    Requote = 2,
    /// The resting order would cross the book: amend to the target.
    Cross = 3,
    /// Refresh interval: amend to the target although it moved less than the threshold.
    Refresh = 4,
    /// Same price, new size (limit room, size skew, a partial fill): amend.
    Resize = 5,
    /// A limit leaves no room for the level: cancel.
    Limit = 6,
    /// More orders than targets on the side (the ladder shrank): cancel.
    Surplus = 7,
    /// The instrument's quotes are pulled (book gap, stale feed, disconnect): cancel.
    Pull = 8,
    /// `|position|` reached the hard max: reduce-only IOC flatten.
    Flatten = 9,
    /// Quoting stopped (end of run, kill switch, PnL limit): cancel-all.
    Halt = 10,
}

impl QuoteReason {
    /// Stable lower-case name for logs.
    pub fn name(self) -> &'static str {
        match self {
            QuoteReason::Place => "place",
            QuoteReason::Requote => "requote",
            QuoteReason::Cross => "would_cross",
            QuoteReason::Refresh => "refresh",
            QuoteReason::Resize => "resize",
            QuoteReason::Limit => "limit",
            QuoteReason::Surplus => "surplus",
            QuoteReason::Pull => "pull",
            QuoteReason::Flatten => "flatten",
            QuoteReason::Halt => "halt",
        }
    }

    /// Inverse of `as u8`.
    pub fn from_u8(v: u8) -> Option<QuoteReason> {
        Some(match v {
            1 => QuoteReason::Place,
            2 => QuoteReason::Requote,
            3 => QuoteReason::Cross,
            4 => QuoteReason::Refresh,
            5 => QuoteReason::Resize,
            6 => QuoteReason::Limit,
            7 => QuoteReason::Surplus,
            8 => QuoteReason::Pull,
            9 => QuoteReason::Flatten,
            10 => QuoteReason::Halt,
            _ => return None,
        })
    }
}

impl IntentKind {
    /// Inverse of `as u8`.
    pub fn from_u8(v: u8) -> Option<IntentKind> {
        Some(match v {
            0 => IntentKind::New,
            1 => IntentKind::Amend,
            2 => IntentKind::Cancel,
            3 => IntentKind::CancelAll,
            _ => return None,
        })
    }
}

/// The `c` word of a `TelKind::Quote` record: bits 0–7 the [`IntentKind`], 8–15 the
/// [`QuoteReason`], 16–23 the ladder level (0 = best; 0 for flattens, cancel-alls and cancels
/// of surplus or pulled orders), 24–62 the open size after the intent in lots (clamped to
/// 2^39 − 1; see [`QuoteInfo::open`]).
#[inline]
pub fn quote_word(kind: IntentKind, reason: QuoteReason, level: usize, open: Lots) -> i64 {
    kind as i64
        | (reason as i64) << 8
        | ((level.min(255) as i64) << 16)
        | (open.clamp(0, (1 << 39) - 1) << 24)
}

/// A decoded [`quote_word`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuoteInfo {
    /// What the intent asks (`None`: not a valid word).
    pub kind: Option<IntentKind>,
    /// Why (`None`: not a valid word).
    pub reason: Option<QuoteReason>,
    /// Ladder level (0 = best).
    pub level: usize,
    /// Open size in lots: a new order's size, an amended order's size net of what already
    /// filled (the record's `b` is the total size the venue is asked for), a cancelled
    /// order's open size; 0 for a cancel-all.
    pub open: Lots,
}

/// Splits a [`quote_word`].
pub fn split_quote_word(c: i64) -> QuoteInfo {
    QuoteInfo {
        kind: IntentKind::from_u8((c & 0xff) as u8),
        reason: QuoteReason::from_u8(((c >> 8) & 0xff) as u8),
        level: ((c >> 16) & 0xff) as usize,
        open: (c >> 24) & ((1 << 39) - 1),
    }
}

/// A record for the control thread (telemetry ring payload). 64 bytes.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Telemetry {
    /// When (ns, monotonic).
    pub t: Nanos,
    /// Payload word a.
    pub a: i64,
    /// Payload word b.
    pub b: i64,
    /// Payload word c.
    pub c: i64,
    /// Payload word d.
    pub d: i64,
    /// Instrument (or `u32::MAX`).
    pub instrument: InstrumentId,
    /// Kind.
    pub kind: TelKind,
    /// Latency stage (for `Latency`).
    pub stage: Stage,
    /// Side (for fills).
    pub side: Side,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_one_cache_line() {
        assert_eq!(core::mem::size_of::<MdEvent>(), 64);
        assert_eq!(core::mem::size_of::<OrderIntent>(), 64);
        assert_eq!(core::mem::size_of::<ExecEvent>(), 64);
        assert_eq!(core::mem::size_of::<Telemetry>(), 64);
        assert_eq!(core::mem::align_of::<MdEvent>(), 64);
    }

    #[test]
    fn quote_word_round_trips() {
        let w = quote_word(IntentKind::Amend, QuoteReason::Refresh, 3, 17);
        assert_eq!(
            split_quote_word(w),
            QuoteInfo {
                kind: Some(IntentKind::Amend),
                reason: Some(QuoteReason::Refresh),
                level: 3,
                open: 17
            }
        );
        let w = quote_word(IntentKind::CancelAll, QuoteReason::Halt, 0, 0);
        let q = split_quote_word(w);
        assert_eq!(
            (q.kind, q.reason, q.open),
            (Some(IntentKind::CancelAll), Some(QuoteReason::Halt), 0)
        );
        assert_eq!(split_quote_word(0).reason, None);
        assert_eq!(
            split_quote_word(quote_word(IntentKind::New, QuoteReason::Place, 0, i64::MAX)).open,
            (1 << 39) - 1
        );
    }
}
