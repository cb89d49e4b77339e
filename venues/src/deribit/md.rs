//! Market-data decoder: Deribit subscription frames → [`MdEvent`]s (dossier §4, §9.1–§9.5).
//!
//! One [`MdDecoder`] per market-data connection, owned by its md thread. It decodes a frame in
//! place with the [`json`](super::json) scanner, resolves the instrument name (taken from the
//! channel) to its dense id, converts prices to ticks and amounts to lots exactly, checks the
//! `change_id` chain of every book, and hands the frame's events to a callback.
//!
//! Allocation: only in the constructors (name index, per-instrument state, a scratch buffer of
//! `max_levels` events). [`MdDecoder::decode`] never allocates.
//!
//! All-or-nothing: a frame is decoded completely into the scratch buffer and validated up to
//! its last byte before any event is emitted, so a malformed or truncated frame never leaves a
//! half-applied book behind.
//!
//! Timestamps: every event of a frame carries the caller's `t_recv`; `t_decoded` is set equal
//! to `t_recv` and the caller overwrites it with its clock after `decode` returns (the decoder
//! has no clock). `exch_ts` is the frame's `timestamp` (ms) × 1 000 000.

use super::json::{self, plain_decimal, word, Cursor, JsonKind};
use super::DecodeError;
use mm_core::decimal::{Dec, POW10};
use mm_core::event::{md_flags, pack_greeks, MdEvent, MdKind};
use mm_core::instrument::InstrumentTable;
use mm_core::types::{InstrumentId, Nanos, Side};
use std::sync::Arc;

/// Default capacity of the scratch buffer: the most book levels (both sides) or trades one
/// frame may carry. Larger frames are refused with a [`DecodeError`] (counted in
/// [`MdStats::errors`]).
pub const DEFAULT_MAX_LEVELS: usize = 8192;

/// Request id reported for a reply without an id, or with an id we cannot have sent (a
/// non-numeric string id such as roq's `"subscribe_platform_state"`, a negative number).
pub const NO_ID: u64 = u64::MAX;

/// What a decoded frame was, and what the caller must do about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A book snapshot or an in-sequence change was emitted (`BookClear`? `Level`*
    /// `BookDone`).
    Book {
        /// The book's instrument.
        instrument: InstrumentId,
    },
    /// A ticker: a `Mark` event was emitted (none when `mark_price` is null), followed by an
    /// `OptionTicker` event when the ticker has a `mark_iv` and an `underlying_price`
    /// (options).
    Ticker,
    /// Public trades: one `Trade` event per trade of a known instrument.
    Trades,
    /// The book's `prev_change_id` chain broke (or a change came before any snapshot): one
    /// `Gap` event was emitted and the book's changes are dropped until a new snapshot. The
    /// caller must re-subscribe the book channel (dossier §4.1 "resync = resubscribe").
    Gap {
        /// The book's instrument.
        instrument: InstrumentId,
    },
    /// A book change arrived while the book awaits its snapshot after a gap: dropped and
    /// counted ([`MdStats::dropped_while_gapped`]); nothing to do.
    Dropped {
        /// The book's instrument.
        instrument: InstrumentId,
    },
    /// A successful JSON-RPC reply (e.g. the subscribe acknowledgement); `id` is [`NO_ID`] if
    /// absent or not numeric.
    Rpc {
        /// Request id.
        id: u64,
    },
    /// A JSON-RPC error reply (dossier §1.4, §7).
    RpcError {
        /// Request id ([`NO_ID`] if absent or not numeric).
        id: u64,
        /// Venue error code.
        code: i32,
    },
    /// A heartbeat notification (dossier §3.1); answer `test_request` with `public/test`.
    Heartbeat {
        /// True for `"type":"test_request"`.
        test_request: bool,
    },
    /// A channel or instrument this decoder does not track (counted, not an error).
    Ignored,
}

/// Counters of one decoder (monotonic since construction).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MdStats {
    /// Frames passed to [`MdDecoder::decode`].
    pub frames: u64,
    /// Events emitted.
    pub events: u64,
    /// Book gaps detected (chain breaks and changes before a snapshot).
    pub gaps: u64,
    /// Book changes dropped while their book awaited a snapshot.
    pub dropped_while_gapped: u64,
    /// Frames (or trades of a multi-instrument channel) for instruments not in the table.
    pub unknown_instrument: u64,
    /// Frames of channels the decoder does not handle (quote, index, …) or methods other than
    /// `subscription`/`heartbeat`.
    pub ignored: u64,
    /// Amounts that were not a whole number of lots (rounded to the nearest lot).
    pub inexact_amounts: u64,
    /// Frames that failed to decode.
    pub errors: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// No snapshot yet on this connection: a change is a gap.
    Fresh,
    /// In sequence; `last` is the last applied `change_id`.
    Live,
    /// After a gap or a reset: changes are dropped until a snapshot.
    Await,
}

#[derive(Clone, Copy, Debug)]
struct BookState {
    last: u64,
    mode: Mode,
}

#[derive(Clone, Copy, Debug)]
struct Grid {
    tick: Dec,
    lot: Dec,
}

/// Open-addressing name → id index over the table's names (allocated once).
#[derive(Debug)]
struct NameIndex {
    slots: Vec<(u64, u32)>,
    mask: usize,
    names: Vec<u8>,
    spans: Vec<(u32, u32)>,
}

const EMPTY: u32 = u32::MAX;

#[inline]
fn hash_name(b: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h: u64 = (b.len() as u64) ^ 0x9e37_79b9_7f4a_7c15;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    let mut w = 0u64;
    for (i, &x) in chunks.remainder().iter().enumerate() {
        w |= (x as u64) << (8 * i);
    }
    h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    h ^ (h >> 29)
}

impl NameIndex {
    fn new(table: &InstrumentTable) -> Self {
        let cap = (table.len() * 2).next_power_of_two().max(16);
        let mut ix = NameIndex {
            slots: vec![(0, EMPTY); cap],
            mask: cap - 1,
            names: Vec::new(),
            spans: Vec::with_capacity(table.len()),
        };
        for inst in table.iter() {
            let start = ix.names.len() as u32;
            ix.names.extend_from_slice(inst.name.as_bytes());
            ix.spans.push((start, inst.name.len() as u32));
            let h = hash_name(inst.name.as_bytes());
            let mut i = h as usize & ix.mask;
            while ix.slots[i].1 != EMPTY {
                i = (i + 1) & ix.mask;
            }
            ix.slots[i] = (h, inst.id);
        }
        ix
    }

    #[inline]
    fn name(&self, id: u32) -> &[u8] {
        match self.spans.get(id as usize) {
            Some(&(s, l)) => self.names.get(s as usize..(s + l) as usize).unwrap_or(&[]),
            None => &[],
        }
    }

    #[inline]
    fn get(&self, name: &[u8]) -> Option<InstrumentId> {
        let h = hash_name(name);
        let mut i = h as usize & self.mask;
        loop {
            let (sh, id) = *self.slots.get(i)?;
            if id == EMPTY {
                return None;
            }
            if sh == h && self.name(id) == name {
                return Some(id);
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// `v / unit` when exact (fast path for normalised decimals, as [`Dec::parse`] returns).
#[inline]
fn units_exact(v: Dec, unit: Dec) -> Option<i64> {
    if unit.mant <= 0 {
        return None;
    }
    if v.scale <= unit.scale {
        let n = v
            .mant
            .checked_mul(*POW10.get((unit.scale - v.scale) as usize)?)?;
        if n % unit.mant == 0 {
            Some(n / unit.mant)
        } else {
            None
        }
    } else {
        v.div_exact(unit)
    }
}

/// `v / unit` rounded to the nearest integer (ties away from zero), and whether it was exact.
#[inline]
fn units_round(v: Dec, unit: Dec) -> Option<(i64, bool)> {
    if unit.mant <= 0 {
        return None;
    }
    if v.scale <= unit.scale {
        let n = v
            .mant
            .checked_mul(*POW10.get((unit.scale - v.scale) as usize)?)?;
        let m = unit.mant;
        let q = n / m;
        let r = (n % m).abs();
        if r == 0 {
            Some((q, true))
        } else if r >= m - r {
            Some((q + n.signum(), false))
        } else {
            Some((q, false))
        }
    } else {
        let q = v.div_round(unit)?;
        Some((q, v.div_exact(unit).is_some()))
    }
}

/// A level amount in lots: nearest lot, but never 0 for a positive amount (rounding must not
/// turn a live level into a delete). Returns `(lots, inexact)`.
#[inline]
fn amount_lots(amt: Dec, lot: Dec, at: usize) -> Result<(i64, bool), DecodeError> {
    let (q, exact) = units_round(amt, lot).ok_or(DecodeError::new("amount out of range", at))?;
    if q < 0 || amt.mant < 0 {
        return Err(DecodeError::new("negative amount", at));
    }
    if q == 0 && amt.mant > 0 {
        return Ok((1, true));
    }
    Ok((q, !exact))
}

#[derive(Clone, Copy, Debug)]
enum Chan {
    Book(InstrumentId),
    Ticker(InstrumentId),
    /// `Some` for `trades.{instrument}.{interval}`, `None` for `trades.{kind}.{currency}.{interval}`.
    Trades(Option<InstrumentId>),
    UnknownInstrument,
    Other,
}

#[derive(Clone, Copy, Debug)]
enum Pending {
    Book {
        inst: InstrumentId,
        snapshot: bool,
        change_id: u64,
        prev: u64,
        exch_ts: Nanos,
        inexact: u32,
    },
    Trades {
        inexact: u32,
        unknown: u32,
    },
    /// The `Mark` event and, for an option ticker with `mark_iv`, its `OptionTicker`.
    Ticker(Option<MdEvent>, Option<MdEvent>),
    Heartbeat(bool),
    Rpc(u64),
    RpcError(u64, i32),
    Ignored,
    Unknown,
}

/// Decoder of one market-data connection's frames. See the module docs.
#[derive(Debug)]
pub struct MdDecoder {
    table: Arc<InstrumentTable>,
    names: NameIndex,
    grids: Vec<Grid>,
    books: Vec<BookState>,
    scratch: Vec<MdEvent>,
    max_levels: usize,
    cur_book: Option<InstrumentId>,
    stats: MdStats,
}

#[inline]
fn read_id(c: &mut Cursor<'_>) -> Result<u64, DecodeError> {
    match c.kind()? {
        JsonKind::Number => {
            let t = c.num()?;
            Ok(digits_u64(t).unwrap_or(NO_ID))
        }
        JsonKind::String => Ok(digits_u64(c.str()?.raw).unwrap_or(NO_ID)),
        JsonKind::Null => {
            c.null();
            Ok(NO_ID)
        }
        _ => Err(DecodeError::new(
            "JSON-RPC id is neither a number nor a string",
            c.pos(),
        )),
    }
}

/// Parses a plain unsigned decimal integer (`None` for anything else or overflow).
#[inline]
pub(crate) fn digits_u64(t: &[u8]) -> Option<u64> {
    if t.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in t {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((b - b'0') as u64)?;
    }
    Some(v)
}

/// Reads a JSON-RPC `error` object and returns its `code` (and the message span).
#[inline]
pub(crate) fn read_error<'a>(c: &mut Cursor<'a>) -> Result<(i32, &'a [u8]), DecodeError> {
    let mut o = c.object()?;
    let mut code: Option<i32> = None;
    let mut msg: &[u8] = b"";
    while let Some(k) = o.next_key(c)? {
        match k {
            b"code" => {
                let at = c.pos();
                let v = c.i64()?;
                code = Some(
                    i32::try_from(v)
                        .map_err(|_| DecodeError::new("error code out of range", at))?,
                );
            }
            b"message" => msg = c.str()?.raw,
            _ => c.skip_unused()?,
        }
    }
    let code = code.ok_or(DecodeError::new("error object without code", c.pos()))?;
    Ok((code, msg))
}

/// The book row as Deribit sends it, `["new"|"change"|"delete",price,amount]` with plain
/// non-negative decimals and no whitespace, in one pass straight to ticks and lots (SWAR digit
/// runs, no intermediate [`Dec`] normalisation): `Some((price ticks, qty lots, inexact))` with
/// the cursor after the `]`, or `None` with the cursor where it was (the general path then
/// parses or rejects the row with a precise error). Gives exactly what the general path gives
/// for the rows it accepts.
#[inline(always)]
fn fast_row(c: &mut Cursor<'_>, grid: Grid) -> Option<(i64, i64, bool)> {
    let b = c.buf();
    let at = c.pos();
    if let Some(win) = b.get(at..at + json::WINDOW) {
        let win = json::Window(win.try_into().ok()?);
        if let Some(r) = windowed_row(win, grid) {
            c.rewind(at + r.3);
            return Some((r.0, r.1, r.2));
        }
    }
    let (delete, px_off) = row_action(word(b, at), word(b, at + 8))?;
    let (pm, ps, i) = plain_decimal(b, at + px_off)?;
    if b.get(i) != Some(&b',') {
        return None;
    }
    let (am, asc, i) = plain_decimal(b, i + 1)?;
    if b.get(i) != Some(&b']') {
        return None;
    }
    let r = row_units(delete, (pm, ps), (am, asc), grid)?;
    c.rewind(i + 1);
    Some(r)
}

/// [`fast_row`] inside a [`json::Window`] (no bounds check per load) for rows whose numbers
/// have at most 7 integer digits and 7 decimals: `(price ticks, qty lots, inexact, row
/// length)`, or `None` (the caller tries the unbounded path).
#[inline(always)]
fn windowed_row(w: json::Window<'_>, grid: Grid) -> Option<(i64, i64, bool, usize)> {
    let (delete, px_off) = row_action(w.word(0), w.word(8))?;
    let (pm, ps, i) = w.short_decimal(px_off)?;
    if w.byte(i) != b',' {
        return None;
    }
    let (am, asc, i) = w.short_decimal(i + 1)?;
    if w.byte(i) != b']' {
        return None;
    }
    let (price, qty, inexact) = row_units(delete, (pm, ps), (am, asc), grid)?;
    Some((price, qty, inexact, i + 1))
}

/// A book row's opening `["new",` / `["change",` / `["delete",` from the row's first 16
/// bytes (`w0`, `w8`, little-endian): `Some((delete, offset of the price))`, `None` for any
/// other opening.
#[inline(always)]
fn row_action(w0: u64, w8: u64) -> Option<(bool, usize)> {
    const NEW: u64 = u64::from_le_bytes(*b"[\"new\",\0") & 0x00ff_ffff_ffff_ffff;
    const CHANGE: u64 = u64::from_le_bytes(*b"[\"change");
    const DELETE: u64 = u64::from_le_bytes(*b"[\"delete");
    const QUOTE_COMMA: u64 = u16::from_le_bytes(*b"\",") as u64;
    if w0 & 0x00ff_ffff_ffff_ffff == NEW {
        Some((false, 7))
    } else if (w0 == CHANGE || w0 == DELETE) && w8 & 0xffff == QUOTE_COMMA {
        Some((w0 == DELETE, 10))
    } else {
        None
    }
}

/// A row's price `(mantissa, decimals)` on the tick grid and amount on the lot grid (0 for a
/// delete): `(price ticks, qty lots, inexact)`, `None` off the tick grid or on overflow.
#[inline(always)]
fn row_units(
    delete: bool,
    (pm, ps): (u64, u32),
    (am, asc): (u64, u32),
    grid: Grid,
) -> Option<(i64, i64, bool)> {
    let price = raw_units_exact(pm, ps, grid.tick)?;
    let (qty, inexact) = if delete {
        (0, false)
    } else {
        raw_amount_lots(am, asc, grid.lot)?
    };
    Some((price, qty, inexact))
}

/// [`units_exact`] of the non-negative decimal `mant × 10^-scale` (not normalised).
#[inline(always)]
fn raw_units_exact(mant: u64, scale: u32, unit: Dec) -> Option<i64> {
    // ≤ 18 digits: `mant` fits an i64.
    let m = mant as i64;
    if scale <= unit.scale && unit.mant > 0 {
        let n = m.checked_mul(*POW10.get((unit.scale - scale) as usize)?)?;
        if unit.mant == 1 {
            return Some(n);
        }
        return (n % unit.mant == 0).then_some(n / unit.mant);
    }
    Dec { mant: m, scale }.div_exact(unit)
}

/// [`amount_lots`] of the non-negative decimal `mant × 10^-scale` (not normalised):
/// `(lots, inexact)`.
#[inline(always)]
fn raw_amount_lots(mant: u64, scale: u32, lot: Dec) -> Option<(i64, bool)> {
    let m = mant as i64;
    let (q, exact) = if scale <= lot.scale && lot.mant > 0 {
        let n = m.checked_mul(*POW10.get((lot.scale - scale) as usize)?)?;
        if lot.mant == 1 {
            (n, true)
        } else {
            let (q, r) = (n / lot.mant, n % lot.mant);
            (q + i64::from(r >= lot.mant - r && r != 0), r == 0)
        }
    } else {
        units_round(Dec { mant: m, scale }, lot)?
    };
    if q == 0 && m > 0 {
        return Some((1, true));
    }
    Some((q, !exact))
}

/// A book row in any valid JSON shape (whitespace, exponents, `[price, amount]` without an
/// action): `(price ticks, qty lots, inexact)`, with a precise error for anything else. The
/// cursor is at the row's `[` (`row_at`).
fn general_row(
    c: &mut Cursor<'_>,
    grid: Grid,
    row_at: usize,
) -> Result<(i64, i64, bool), DecodeError> {
    let mut row = c.array()?;
    if !row.next(c)? {
        return Err(DecodeError::new("empty book row", row_at));
    }
    let mut delete = false;
    if c.peek() == Some(b'"') {
        let at = c.pos();
        match c.str()?.raw {
            b"new" | b"change" => {}
            b"delete" => delete = true,
            _ => return Err(DecodeError::new("unknown book action", at)),
        }
        if !row.next(c)? {
            return Err(DecodeError::new("book row without price", row_at));
        }
    }
    let px_at = c.pos();
    let px = c.dec()?;
    if !row.next(c)? {
        return Err(DecodeError::new("book row without amount", row_at));
    }
    let amt_at = c.pos();
    let amt = c.dec_lossy()?;
    if row.next(c)? {
        return Err(DecodeError::new("book row has extra elements", row_at));
    }
    let price = units_exact(px, grid.tick).ok_or(DecodeError::new(
        "price off the instrument's tick grid",
        px_at,
    ))?;
    if delete {
        return Ok((price, 0, false));
    }
    let amt = amt.ok_or(DecodeError::new("amount not a decimal", amt_at))?;
    let (q, inexact) = amount_lots(amt, grid.lot, amt_at)?;
    Ok((price, q, inexact))
}

#[inline]
fn side_of(dir: &[u8], at: usize) -> Result<Side, DecodeError> {
    match dir {
        b"buy" => Ok(Side::Bid),
        b"sell" => Ok(Side::Ask),
        _ => Err(DecodeError::new("direction is neither buy nor sell", at)),
    }
}

impl MdDecoder {
    /// A decoder for the instruments of `table` with the default scratch capacity
    /// ([`DEFAULT_MAX_LEVELS`]). Every book starts awaiting its first snapshot.
    pub fn new(table: Arc<InstrumentTable>) -> Self {
        Self::with_max_levels(table, DEFAULT_MAX_LEVELS)
    }

    /// As [`MdDecoder::new`] with room for `max_levels` book levels (or trades) per frame.
    pub fn with_max_levels(table: Arc<InstrumentTable>, max_levels: usize) -> Self {
        let names = NameIndex::new(&table);
        let grids = table
            .iter()
            .map(|i| Grid {
                tick: i.tick,
                lot: i.lot,
            })
            .collect();
        let books = vec![
            BookState {
                last: 0,
                mode: Mode::Fresh,
            };
            table.len()
        ];
        MdDecoder {
            table,
            names,
            grids,
            books,
            scratch: Vec::with_capacity(max_levels + 2),
            max_levels,
            cur_book: None,
            stats: MdStats::default(),
        }
    }

    /// The instrument table this decoder resolves names against.
    pub fn table(&self) -> &Arc<InstrumentTable> {
        &self.table
    }

    /// Counters since construction.
    pub fn stats(&self) -> MdStats {
        self.stats
    }

    /// The last applied `change_id` of a book that is in sequence, `None` if the book awaits
    /// a snapshot (or the id is unknown).
    pub fn last_change_id(&self, id: InstrumentId) -> Option<u64> {
        self.books
            .get(id as usize)
            .filter(|b| b.mode == Mode::Live)
            .map(|b| b.last)
    }

    /// Marks a book as awaiting a new snapshot; changes that still arrive for it are dropped
    /// silently (counted). Call after re-subscribing its book channel.
    pub fn reset_instrument(&mut self, id: InstrumentId) {
        if let Some(b) = self.books.get_mut(id as usize) {
            b.mode = Mode::Await;
        }
    }

    /// The connection dropped: every book needs a new snapshot, and a change arriving before
    /// one on the new connection is reported as a gap.
    pub fn on_disconnect(&mut self) {
        for b in &mut self.books {
            b.mode = Mode::Fresh;
        }
    }

    /// Decodes one WebSocket text frame and passes its events to `out` (all events of the
    /// frame carry `t_recv`; see the module docs for `t_decoded`).
    ///
    /// Handles `book.{name}.{raw|100ms|agg2}` (snapshot/change with gap check, dossier §4.1),
    /// `book.{name}.{group}.{depth}.{interval}` (each frame a full top-N snapshot, §4.2),
    /// `ticker.{name}.{interval}` (`Mark`, §4.3), `trades.{name}.{interval}` and
    /// `trades.{kind}.{currency}.{interval}` (`Trade`, §4.5), JSON-RPC replies and heartbeats.
    ///
    /// # Errors
    /// A malformed or truncated frame, an unknown book action or `type`, a price off the
    /// instrument's tick grid, or a frame with more than `max_levels` levels/trades. Nothing
    /// of the frame is emitted. If it was a book frame of a known instrument, that book is
    /// marked as awaiting a snapshot, `resync` is set in the error (re-subscribe as for
    /// [`Frame::Gap`]) and, if the book was in sequence, one `Gap` event is emitted so the hot
    /// thread stops trusting it.
    pub fn decode(
        &mut self,
        frame: &[u8],
        t_recv: Nanos,
        out: &mut impl FnMut(MdEvent),
    ) -> Result<Frame, DecodeError> {
        self.stats.frames += 1;
        self.cur_book = None;
        match self.parse(frame) {
            Ok(p) => Ok(self.commit(p, t_recv, out)),
            Err(mut e) => {
                self.stats.errors += 1;
                if let Some(inst) = self.cur_book {
                    e.resync = Some(inst);
                    if let Some(st) = self.books.get_mut(inst as usize) {
                        if st.mode == Mode::Live {
                            out(MdEvent {
                                t_recv,
                                t_decoded: t_recv,
                                seq: st.last,
                                instrument: inst,
                                kind: MdKind::Gap,
                                ..Default::default()
                            });
                            self.stats.events += 1;
                            self.stats.gaps += 1;
                        }
                        st.mode = Mode::Await;
                    }
                }
                Err(e)
            }
        }
    }

    fn commit(&mut self, p: Pending, t_recv: Nanos, out: &mut impl FnMut(MdEvent)) -> Frame {
        match p {
            Pending::Book {
                inst,
                snapshot,
                change_id,
                prev,
                exch_ts,
                inexact,
            } => {
                let Some(st) = self.books.get_mut(inst as usize) else {
                    return Frame::Ignored;
                };
                let emit_levels = |skip_clear: bool, out: &mut dyn FnMut(MdEvent)| -> u64 {
                    let mut n = 0;
                    let from = usize::from(skip_clear);
                    for ev in self.scratch.iter().skip(from) {
                        let mut e = *ev;
                        e.t_recv = t_recv;
                        e.t_decoded = t_recv;
                        e.exch_ts = exch_ts;
                        e.seq = change_id;
                        out(e);
                        n += 1;
                    }
                    out(MdEvent {
                        t_recv,
                        t_decoded: t_recv,
                        exch_ts,
                        seq: change_id,
                        instrument: inst,
                        kind: MdKind::BookDone,
                        ..Default::default()
                    });
                    n + 1
                };
                let gap = |seq: u64, out: &mut dyn FnMut(MdEvent)| {
                    out(MdEvent {
                        t_recv,
                        t_decoded: t_recv,
                        exch_ts,
                        seq,
                        instrument: inst,
                        kind: MdKind::Gap,
                        ..Default::default()
                    })
                };
                if snapshot {
                    st.mode = Mode::Live;
                    st.last = change_id;
                    self.stats.events += emit_levels(false, out);
                    self.stats.inexact_amounts += inexact as u64;
                    return Frame::Book { instrument: inst };
                }
                match st.mode {
                    Mode::Live if prev == st.last => {
                        st.last = change_id;
                        self.stats.events += emit_levels(true, out);
                        self.stats.inexact_amounts += inexact as u64;
                        Frame::Book { instrument: inst }
                    }
                    Mode::Live | Mode::Fresh => {
                        let expected = if st.mode == Mode::Live { st.last } else { 0 };
                        st.mode = Mode::Await;
                        gap(expected, out);
                        self.stats.events += 1;
                        self.stats.gaps += 1;
                        Frame::Gap { instrument: inst }
                    }
                    Mode::Await => {
                        self.stats.dropped_while_gapped += 1;
                        Frame::Dropped { instrument: inst }
                    }
                }
            }
            Pending::Trades { inexact, unknown } => {
                self.stats.unknown_instrument += unknown as u64;
                if self.scratch.is_empty() && unknown > 0 {
                    return Frame::Ignored;
                }
                for ev in &self.scratch {
                    let mut e = *ev;
                    e.t_recv = t_recv;
                    e.t_decoded = t_recv;
                    out(e);
                }
                self.stats.events += self.scratch.len() as u64;
                self.stats.inexact_amounts += inexact as u64;
                Frame::Trades
            }
            Pending::Ticker(mark, opt) => {
                for mut e in [mark, opt].into_iter().flatten() {
                    e.t_recv = t_recv;
                    e.t_decoded = t_recv;
                    out(e);
                    self.stats.events += 1;
                }
                Frame::Ticker
            }
            Pending::Heartbeat(test_request) => Frame::Heartbeat { test_request },
            Pending::Rpc(id) => Frame::Rpc { id },
            Pending::RpcError(id, code) => Frame::RpcError { id, code },
            Pending::Ignored => {
                self.stats.ignored += 1;
                Frame::Ignored
            }
            Pending::Unknown => {
                self.stats.unknown_instrument += 1;
                Frame::Ignored
            }
        }
    }

    /// Parses the whole frame (validating it to the last byte) into a pending action; events
    /// go to the scratch buffer.
    fn parse(&mut self, frame: &[u8]) -> Result<Pending, DecodeError> {
        if let Some(p) = self.parse_subscription_fast(frame) {
            return Ok(p);
        }
        self.parse_general(frame)
    }

    /// Fast path for the exact envelope Deribit sends every notification in:
    /// `{"jsonrpc":"2.0","method":"subscription","params":{"channel":"…","data":…}}` with no
    /// whitespace. One prefix comparison replaces walking six keys. `None` on any deviation
    /// (or any error inside): [`MdDecoder::parse_general`] then parses the frame from scratch
    /// and reports errors precisely, so the fast path changes cost, never results.
    #[inline]
    fn parse_subscription_fast(&mut self, frame: &[u8]) -> Option<Pending> {
        const PREFIX: &[u8] =
            b"{\"jsonrpc\":\"2.0\",\"method\":\"subscription\",\"params\":{\"channel\":\"";
        if !frame.starts_with(PREFIX) {
            return None;
        }
        let mut c = Cursor::at(frame, PREFIX.len() - 1);
        let ch = c.str().ok()?;
        if ch.escaped || frame.get(c.pos()..c.pos() + 8) != Some(b",\"data\":") {
            return None;
        }
        c.rewind(c.pos() + 8);
        let chan = self.classify(ch.raw);
        let p = self.parse_data(chan, &mut c).ok()?;
        if frame.get(c.pos()..) != Some(b"}}") {
            return None;
        }
        Some(p)
    }

    /// Parses any frame: RPC replies, errors, heartbeats, notifications in any key order.
    fn parse_general(&mut self, frame: &[u8]) -> Result<Pending, DecodeError> {
        let mut c = Cursor::new(frame);
        let mut top = c.object()?;
        let mut method: Option<&[u8]> = None;
        let mut params_at: Option<usize> = None;
        let mut pending: Option<Pending> = None;
        let mut id = NO_ID;
        let mut has_result = false;
        let mut err_code: Option<i32> = None;
        while let Some(k) = top.next_key(&mut c)? {
            match k {
                b"method" => method = Some(c.str()?.raw),
                b"params" => {
                    if method == Some(b"subscription") && pending.is_none() {
                        pending = Some(self.parse_params(&mut c)?);
                    } else {
                        c.peek();
                        params_at = Some(c.pos());
                        c.skip()?;
                    }
                }
                b"id" => id = read_id(&mut c)?,
                b"result" => {
                    has_result = true;
                    c.skip()?;
                }
                b"error" => err_code = Some(read_error(&mut c)?.0),
                _ => c.skip_unused()?,
            }
        }
        c.end()?;
        match method {
            Some(b"subscription") => match pending {
                Some(p) => Ok(p),
                None => match params_at {
                    Some(at) => self.parse_params(&mut Cursor::at(frame, at)),
                    None => Err(DecodeError::new("subscription without params", c.pos())),
                },
            },
            Some(b"heartbeat") => {
                let mut test = false;
                if let Some(at) = params_at {
                    let mut pc = Cursor::at(frame, at);
                    let mut o = pc.object()?;
                    while let Some(k) = o.next_key(&mut pc)? {
                        if k == b"type" {
                            test = pc.str()?.raw == b"test_request";
                        } else {
                            pc.skip()?;
                        }
                    }
                }
                Ok(Pending::Heartbeat(test))
            }
            Some(_) => Ok(Pending::Ignored),
            None => match (err_code, has_result) {
                (Some(code), _) => Ok(Pending::RpcError(id, code)),
                (None, true) => Ok(Pending::Rpc(id)),
                (None, false) => Err(DecodeError::new(
                    "frame has neither method nor result nor error",
                    c.pos(),
                )),
            },
        }
    }

    fn parse_params(&mut self, c: &mut Cursor<'_>) -> Result<Pending, DecodeError> {
        let mut o = c.object()?;
        let mut chan: Option<Chan> = None;
        let mut data_at: Option<usize> = None;
        let mut result: Option<Pending> = None;
        while let Some(k) = o.next_key(c)? {
            match k {
                b"channel" => chan = Some(self.classify(c.str()?.raw)),
                b"data" => match chan {
                    Some(ch) if result.is_none() => result = Some(self.parse_data(ch, c)?),
                    _ => {
                        c.peek();
                        data_at = Some(c.pos());
                        c.skip()?;
                    }
                },
                _ => c.skip_unused()?,
            }
        }
        if let Some(r) = result {
            return Ok(r);
        }
        match (chan, data_at) {
            (Some(ch), Some(at)) => self.parse_data(ch, &mut Cursor::at(c.buf(), at)),
            (Some(_), None) => Err(DecodeError::new("subscription without data", c.pos())),
            (None, _) => Err(DecodeError::new("subscription without channel", c.pos())),
        }
    }

    /// Channel name → what to do with its data (no allocation): `book.{name}.{interval}`
    /// (3 or 5 parts), `ticker.{name}.{interval}`, `trades.{name}.{interval}`,
    /// `trades.{kind}.{currency}.{interval}`; anything else is [`Chan::Other`].
    #[inline]
    fn classify(&self, ch: &[u8]) -> Chan {
        // 0 book, 1 ticker, 2 trades
        let (kind, rest) = if let Some(r) = ch.strip_prefix(b"book.") {
            (0, r)
        } else if let Some(r) = ch.strip_prefix(b"ticker.") {
            (1, r)
        } else if let Some(r) = ch.strip_prefix(b"trades.") {
            (2, r)
        } else {
            return Chan::Other;
        };
        let dot = json::find_byte(rest, 0, b'.');
        let name = rest.get(..dot).unwrap_or(&[]);
        let suffix = rest.get(dot..).unwrap_or(&[]);
        // parts = kind + name + one per '.' in the suffix
        let n = 2 + suffix.iter().filter(|&&b| b == b'.').count();
        if n > 6 {
            return Chan::Other;
        }
        let lookup = |name: &[u8]| self.names.get(name);
        match (kind, n) {
            (0, 3) | (0, 5) => lookup(name).map_or(Chan::UnknownInstrument, Chan::Book),
            (1, 3) => lookup(name).map_or(Chan::UnknownInstrument, Chan::Ticker),
            (2, 3) => lookup(name).map_or(Chan::UnknownInstrument, |i| Chan::Trades(Some(i))),
            (2, 4) => Chan::Trades(None),
            _ => Chan::Other,
        }
    }

    fn parse_data(&mut self, ch: Chan, c: &mut Cursor<'_>) -> Result<Pending, DecodeError> {
        match ch {
            Chan::Book(i) => {
                self.cur_book = Some(i);
                self.parse_book(i, c)
            }
            Chan::Ticker(i) => self.parse_ticker(i, c),
            Chan::Trades(i) => self.parse_trades(i, c),
            Chan::UnknownInstrument => {
                c.skip()?;
                Ok(Pending::Unknown)
            }
            Chan::Other => {
                c.skip()?;
                Ok(Pending::Ignored)
            }
        }
    }

    fn parse_book(
        &mut self,
        inst: InstrumentId,
        c: &mut Cursor<'_>,
    ) -> Result<Pending, DecodeError> {
        let grid = *self
            .grids
            .get(inst as usize)
            .ok_or(DecodeError::new("instrument id out of range", c.pos()))?;
        self.scratch.clear();
        self.scratch.push(MdEvent {
            instrument: inst,
            kind: MdKind::BookClear,
            ..Default::default()
        });
        let mut o = c.object()?;
        let mut ty = 0u8;
        let mut prev = 0u64;
        let mut change_id: Option<u64> = None;
        let mut ts = 0u64;
        let mut inexact = 0u32;
        while let Some(k) = o.next_key(c)? {
            match k {
                b"type" => {
                    let at = c.pos();
                    ty = match c.str()?.raw {
                        b"snapshot" => 1,
                        b"change" => 2,
                        _ => return Err(DecodeError::new("unknown book type", at)),
                    }
                }
                b"prev_change_id" => prev = if c.null() { 0 } else { c.u64()? },
                b"change_id" => change_id = Some(c.u64()?),
                b"timestamp" => ts = c.u64()?,
                b"bids" => self.parse_levels(c, inst, grid, Side::Bid, &mut inexact)?,
                b"asks" => self.parse_levels(c, inst, grid, Side::Ask, &mut inexact)?,
                _ => c.skip_unused()?,
            }
        }
        let change_id =
            change_id.ok_or(DecodeError::new("book frame without change_id", c.pos()))?;
        Ok(Pending::Book {
            inst,
            // Dossier §4.1 item 4: type "snapshot" ⇒ snapshot; otherwise a missing, null or
            // zero prev_change_id ⇒ snapshot (2019 books had no type; grouped books have
            // neither).
            snapshot: ty == 1 || prev == 0,
            change_id,
            prev,
            exch_ts: ts.saturating_mul(1_000_000),
            inexact,
        })
    }

    fn parse_levels(
        &mut self,
        c: &mut Cursor<'_>,
        inst: InstrumentId,
        grid: Grid,
        side: Side,
        inexact: &mut u32,
    ) -> Result<(), DecodeError> {
        let mut a = c.array()?;
        while a.next(c)? {
            if self.scratch.len() > self.max_levels {
                return Err(DecodeError::new(
                    "book frame has more levels than the decoder's capacity",
                    c.pos(),
                ));
            }
            let row_at = c.pos();
            let (price, qty, inx) = match fast_row(c, grid) {
                Some(r) => r,
                None => general_row(c, grid, row_at)?,
            };
            *inexact += u32::from(inx);
            self.scratch.push(MdEvent {
                instrument: inst,
                kind: MdKind::Level,
                side,
                price,
                qty,
                ..Default::default()
            });
        }
        Ok(())
    }

    fn parse_ticker(
        &mut self,
        inst: InstrumentId,
        c: &mut Cursor<'_>,
    ) -> Result<Pending, DecodeError> {
        let tick = self
            .grids
            .get(inst as usize)
            .ok_or(DecodeError::new("instrument id out of range", c.pos()))?
            .tick;
        let mut o = c.object()?;
        let mut mark: Option<(Dec, usize)> = None;
        let mut index_e4: i64 = 0;
        let mut ts = 0u64;
        // Option fields: mark IV (ppm of a fraction), underlying (1e-4 USD), greeks.
        let (mut iv_ppm, mut under_e4) = (0i64, 0i64);
        let (mut delta_e6, mut vega_e4): (Option<i64>, Option<i64>) = (None, None);
        while let Some(k) = o.next_key(c)? {
            match k {
                b"mark_iv" => {
                    // Percent (48.18) → ppm of a fraction (481 800) = value / 1e-4.
                    if !c.null() {
                        if let Some(v) = c.dec_lossy()?.and_then(|d| d.div_round(Dec::new(1, 4))) {
                            iv_ppm = v.max(0);
                        }
                    }
                }
                b"underlying_price" => {
                    if !c.null() {
                        if let Some(v) = c.dec_lossy()?.and_then(|d| d.div_round(Dec::new(1, 4))) {
                            under_e4 = v.max(0);
                        }
                    }
                }
                b"greeks" => {
                    if !c.null() {
                        let mut g = c.object()?;
                        while let Some(gk) = g.next_key(c)? {
                            let unit = match gk {
                                b"delta" => Dec::new(1, 6),
                                b"vega" => Dec::new(1, 4),
                                _ => {
                                    c.skip_unused()?;
                                    continue;
                                }
                            };
                            let v = if c.null() {
                                None
                            } else {
                                c.dec_lossy()?.and_then(|d| d.div_round(unit))
                            };
                            if gk == b"delta" {
                                delta_e6 = v;
                            } else {
                                vega_e4 = v;
                            }
                        }
                    }
                }
                b"index_price" => {
                    // Underlying index in USD, carried as 1e-4 USD in the Mark event's qty.
                    if !c.null() {
                        if let Some(v) = c.dec_lossy()?.and_then(|d| d.div_round(Dec::new(1, 4))) {
                            index_e4 = v.max(0);
                        }
                    }
                }
                b"mark_price" => {
                    if !c.null() {
                        let at = c.pos();
                        let d = c
                            .dec_lossy()?
                            .ok_or(DecodeError::new("mark_price not a decimal", at))?;
                        mark = Some((d, at));
                    }
                }
                b"timestamp" => ts = c.u64()?,
                _ => c.skip_unused()?,
            }
        }
        let ev = match mark {
            Some((d, at)) => {
                let (px, _) =
                    units_round(d, tick).ok_or(DecodeError::new("mark_price out of range", at))?;
                Some(MdEvent {
                    exch_ts: ts.saturating_mul(1_000_000),
                    price: px,
                    qty: index_e4,
                    instrument: inst,
                    kind: MdKind::Mark,
                    ..Default::default()
                })
            }
            None => None,
        };
        let opt = (iv_ppm > 0 && under_e4 > 0).then(|| {
            let greeks = delta_e6.zip(vega_e4);
            MdEvent {
                exch_ts: ts.saturating_mul(1_000_000),
                price: iv_ppm,
                qty: under_e4,
                seq: greeks.map_or(0, |(d, v)| pack_greeks(d, v)),
                instrument: inst,
                kind: MdKind::OptionTicker,
                flags: if greeks.is_some() {
                    md_flags::GREEKS
                } else {
                    0
                },
                ..Default::default()
            }
        });
        Ok(Pending::Ticker(ev, opt))
    }

    fn parse_trades(
        &mut self,
        inst: Option<InstrumentId>,
        c: &mut Cursor<'_>,
    ) -> Result<Pending, DecodeError> {
        self.scratch.clear();
        let mut inexact = 0u32;
        let mut unknown = 0u32;
        let mut a = c.array()?;
        while a.next(c)? {
            let el_at = c.pos();
            let mut o = c.object()?;
            let mut px: Option<(Dec, usize)> = None;
            let mut amt: Option<(Dec, usize)> = None;
            let mut side: Option<Side> = None;
            let mut seq = 0u64;
            let mut ts = 0u64;
            let mut name: Option<&[u8]> = None;
            while let Some(k) = o.next_key(c)? {
                match k {
                    b"price" => {
                        let at = c.pos();
                        px = Some((c.dec()?, at));
                    }
                    b"amount" => {
                        let at = c.pos();
                        let d = c
                            .dec_lossy()?
                            .ok_or(DecodeError::new("amount not a decimal", at))?;
                        amt = Some((d, at));
                    }
                    b"direction" => {
                        let at = c.pos();
                        side = Some(side_of(c.str()?.raw, at)?);
                    }
                    b"trade_seq" => seq = c.u64()?,
                    b"timestamp" => ts = c.u64()?,
                    b"instrument_name" if inst.is_none() => name = Some(c.str()?.raw),
                    _ => c.skip_unused()?,
                }
            }
            let id = match inst {
                Some(i) => i,
                None => match name.and_then(|n| self.names.get(n)) {
                    Some(i) => i,
                    None => {
                        unknown += 1;
                        continue;
                    }
                },
            };
            let grid = *self
                .grids
                .get(id as usize)
                .ok_or(DecodeError::new("instrument id out of range", el_at))?;
            let (px, px_at) = px.ok_or(DecodeError::new("trade without price", el_at))?;
            let (amt, amt_at) = amt.ok_or(DecodeError::new("trade without amount", el_at))?;
            let side = side.ok_or(DecodeError::new("trade without direction", el_at))?;
            let price = units_exact(px, grid.tick).ok_or(DecodeError::new(
                "trade price off the instrument's tick grid",
                px_at,
            ))?;
            let (qty, inx) = amount_lots(amt, grid.lot, amt_at)?;
            inexact += u32::from(inx);
            if self.scratch.len() >= self.max_levels {
                return Err(DecodeError::new(
                    "trades frame has more trades than the decoder's capacity",
                    el_at,
                ));
            }
            self.scratch.push(MdEvent {
                exch_ts: ts.saturating_mul(1_000_000),
                price,
                qty,
                seq,
                instrument: id,
                kind: MdKind::Trade,
                side,
                ..Default::default()
            });
        }
        Ok(Pending::Trades { inexact, unknown })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mm_core::instrument::{Instrument, Kind};

    fn table() -> Arc<InstrumentTable> {
        let mut t = crate::deribit::test_option_table(100);
        t.push(Instrument::new(
            "BTC-PERPETUAL",
            Kind::Perpetual,
            Dec::new(5, 1),
            Dec::new(10, 0),
        ))
        .unwrap();
        Arc::new(t)
    }

    #[test]
    fn name_index_finds_every_name() {
        let t = table();
        let ix = NameIndex::new(&t);
        for i in t.iter() {
            assert_eq!(ix.get(i.name.as_bytes()), Some(i.id));
        }
        assert_eq!(ix.get(b"BTC-PERPETUA"), None);
        assert_eq!(ix.get(b""), None);
    }

    #[test]
    fn unit_conversions() {
        let tick = Dec::new(5, 4);
        assert_eq!(units_exact(Dec::new(795, 4), tick), Some(159));
        assert_eq!(units_exact(Dec::new(7951, 5), tick), None);
        assert_eq!(units_exact(Dec::new(-5, 1), Dec::new(5, 1)), Some(-1));
        assert_eq!(units_round(Dec::new(6926904, 8), tick), Some((139, false)));
        assert_eq!(
            units_round(Dec::new(153, 1), Dec::new(1, 1)),
            Some((153, true))
        );
        assert_eq!(
            units_round(Dec::new(15, 2), Dec::new(1, 1)),
            Some((2, false))
        );
        assert_eq!(
            units_round(Dec::new(-15, 2), Dec::new(1, 1)),
            Some((-2, false))
        );
        assert_eq!(units_exact(Dec::new(1, 0), Dec::new(0, 0)), None);
    }

    #[test]
    fn gap_then_snapshot_recovers() {
        let t = table();
        let mut d = MdDecoder::new(t.clone());
        let mut evs = Vec::new();
        let snap = br#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.BTC-PERPETUAL.raw","data":{"type":"snapshot","timestamp":1,"instrument_name":"BTC-PERPETUAL","change_id":10,"bids":[["new",100.5,20.0]],"asks":[["new",101.0,10.0]]}}}"#;
        let chg = |prev: u64, id: u64| {
            format!(
                r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"book.BTC-PERPETUAL.raw","data":{{"type":"change","timestamp":2,"prev_change_id":{prev},"instrument_name":"BTC-PERPETUAL","change_id":{id},"bids":[["delete",100.5,0.0]],"asks":[]}}}}}}"#
            )
        };
        let perp = t.id("BTC-PERPETUAL").unwrap();
        // change before snapshot ⇒ gap
        assert_eq!(
            d.decode(chg(5, 6).as_bytes(), 7, &mut |e| evs.push(e))
                .unwrap(),
            Frame::Gap { instrument: perp }
        );
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].kind, MdKind::Gap);
        evs.clear();
        assert_eq!(
            d.decode(chg(6, 8).as_bytes(), 7, &mut |e| evs.push(e))
                .unwrap(),
            Frame::Dropped { instrument: perp }
        );
        assert!(evs.is_empty());
        assert_eq!(
            d.decode(snap, 9, &mut |e| evs.push(e)).unwrap(),
            Frame::Book { instrument: perp }
        );
        let kinds: Vec<_> = evs.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                MdKind::BookClear,
                MdKind::Level,
                MdKind::Level,
                MdKind::BookDone
            ]
        );
        assert_eq!((evs[1].price, evs[1].qty, evs[1].side), (201, 2, Side::Bid));
        assert_eq!((evs[2].price, evs[2].qty, evs[2].side), (202, 1, Side::Ask));
        assert!(evs
            .iter()
            .all(|e| e.t_recv == 9 && e.exch_ts == 1_000_000 && e.seq == 10));
        evs.clear();
        assert_eq!(
            d.decode(chg(10, 12).as_bytes(), 9, &mut |e| evs.push(e))
                .unwrap(),
            Frame::Book { instrument: perp }
        );
        assert_eq!(evs.len(), 2);
        assert_eq!(
            (evs[0].kind, evs[0].qty, evs[0].seq),
            (MdKind::Level, 0, 12)
        );
        evs.clear();
        assert_eq!(
            d.decode(chg(13, 14).as_bytes(), 9, &mut |e| evs.push(e))
                .unwrap(),
            Frame::Gap { instrument: perp }
        );
        assert_eq!((evs[0].kind, evs[0].seq), (MdKind::Gap, 12));
        let s = d.stats();
        assert_eq!((s.gaps, s.dropped_while_gapped, s.errors), (2, 1, 0));
    }

    #[test]
    fn broken_book_frame_emits_nothing_but_a_gap() {
        let t = table();
        let mut d = MdDecoder::new(t.clone());
        let snap = br#"{"method":"subscription","params":{"channel":"book.BTC-PERPETUAL.raw","data":{"type":"snapshot","timestamp":1,"change_id":10,"bids":[["new",100.5,20.0]],"asks":[]}}}"#;
        let bad = br#"{"method":"subscription","params":{"channel":"book.BTC-PERPETUAL.raw","data":{"type":"change","timestamp":1,"prev_change_id":10,"change_id":11,"bids":[["new",100.5,20.0],["new",100.3,1]],"asks":[]}}}"#;
        let mut evs = Vec::new();
        d.decode(snap, 1, &mut |e| evs.push(e)).unwrap();
        evs.clear();
        let e = d.decode(bad, 1, &mut |e| evs.push(e)).unwrap_err();
        assert_eq!(e.what, "price off the instrument's tick grid");
        assert_eq!(e.resync, t.id("BTC-PERPETUAL"));
        assert_eq!(evs.len(), 1);
        assert_eq!((evs[0].kind, evs[0].seq), (MdKind::Gap, 10));
        assert_eq!(d.last_change_id(t.id("BTC-PERPETUAL").unwrap()), None);
    }

    #[test]
    fn capacity_is_enforced_without_growth() {
        let t = table();
        let mut d = MdDecoder::with_max_levels(t, 4);
        let cap = d.scratch.capacity();
        let rows = (0..10)
            .map(|i| format!(r#"["new",{}.5,10]"#, 100 + i))
            .collect::<Vec<_>>()
            .join(",");
        let f = format!(
            r#"{{"method":"subscription","params":{{"channel":"book.BTC-PERPETUAL.raw","data":{{"type":"snapshot","change_id":1,"bids":[{rows}],"asks":[]}}}}}}"#
        );
        assert!(d.decode(f.as_bytes(), 0, &mut |_| {}).is_err());
        assert_eq!(d.scratch.capacity(), cap);
    }

    /// `fast_row` must give exactly what `general_row` gives whenever it accepts a row, and
    /// leave the cursor alone when it declines. Rows: every action, prices on and off the
    /// grid, amounts that round (up, down, ties, to zero), trailing zeros, exponents, signs,
    /// whitespace and truncations, over Binance-, Deribit-perpetual- and option-like grids.
    #[test]
    fn fast_row_agrees_with_general_row() {
        let grids = [
            Grid {
                tick: Dec::new(1, 1),
                lot: Dec::new(1, 3),
            },
            Grid {
                tick: Dec::new(5, 1),
                lot: Dec::new(10, 0),
            },
            Grid {
                tick: Dec::new(5, 4),
                lot: Dec::new(1, 1),
            },
            Grid {
                tick: Dec::new(25, 2),
                lot: Dec::new(25, 1),
            },
        ];
        let prices = [
            "0",
            "0.0",
            "1000.0",
            "63940.4",
            "63940.45",
            "63940.40",
            "0.0005",
            "0.0015",
            "0.001",
            "123456789012345678",
            "12345678901234567890",
            "1e3",
            "-5.5",
            "01.5",
            "7.",
            "60000",
            "1234.5678",
            "1234567.1234567",
            "12345678.5",
            "1.12345678",
            "5E2",
            "5.5E2",
        ];
        let amounts = [
            "0",
            "0.0",
            "569.567",
            "0.0004",
            "0.0005",
            "0.0006",
            "1.2345",
            "0.05",
            "0.25",
            "12.5",
            "10",
            "1e1",
            "-1",
            "3.00",
            "0.000000000000000001",
            "1234567.1234567",
            "0.1234567",
            "0.12345678",
            "2.5e1",
        ];
        let mut checked = 0;
        for g in grids {
            for act in ["new", "change", "delete", "other"] {
                for px in prices {
                    for amt in amounts {
                        for row in [
                            format!("[\"{act}\",{px},{amt}]"),
                            format!("[\"{act}\", {px}, {amt}]"),
                            format!("[{px},{amt}]"),
                            format!("[\"{act}\",{px},{amt}"),
                            format!("[\"{act}\",{px},{amt},1]"),
                        ]
                        .into_iter()
                        // Alone (the unbounded path) and followed by more rows (the
                        // windowed path: 48 bytes available from the row's start).
                        .flat_map(|r| [r.clone(), r + &",[\"change\",1.0,2.0]".repeat(4)])
                        {
                            let b = row.as_bytes();
                            let mut fc = Cursor::new(b);
                            let fast = fast_row(&mut fc, g);
                            let mut gc = Cursor::new(b);
                            let general = general_row(&mut gc, g, 0);
                            match fast {
                                Some(r) => {
                                    assert_eq!(general.ok(), Some(r), "{row}");
                                    assert_eq!(fc.pos(), gc.pos(), "{row}");
                                }
                                None => assert_eq!(fc.pos(), 0, "{row}"),
                            }
                            checked += usize::from(fast.is_some());
                        }
                    }
                }
            }
        }
        assert!(checked > 1000, "the fast path accepted only {checked} rows");
    }

    /// The fast paths (envelope, rows, skipping) must decide exactly as the general path on
    /// every real frame we have, and on every truncation of them.
    #[test]
    fn fast_paths_agree_with_general_path_on_real_frames() {
        let dir = std::env::var_os("MM_DATA_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"))
            });
        let mut checked = 0;
        for tape in [
            "deribit/cryptofeed-2021-04-05",
            "deribit/cryptofeed-2021-04-17",
        ] {
            let base = dir.join(tape);
            let Ok(text) = std::fs::read_to_string(base.join("ws.capture")) else {
                panic!("recorded data missing under {}", dir.display());
            };
            // The simulator's instrument table (rest.capture where recorded, else derived).
            let tape = crate::sim::tape::load(&base.join("ws.capture")).expect("tape");
            let table = crate::sim::instruments::build(&tape, None)
                .expect("instruments")
                .table;
            let mut a = MdDecoder::new(Arc::clone(&table));
            let mut b = MdDecoder::new(Arc::clone(&table));
            for line in text.lines() {
                let Some((_, j)) = line.split_once(": {") else {
                    continue;
                };
                let frame = format!("{{{j}");
                let cuts = [frame.len(), frame.len() - 1, frame.len() / 2];
                for cut in cuts {
                    let f = &frame.as_bytes()[..cut];
                    let ra = a.parse(f).map(|p| format!("{p:?}")).map_err(|e| e.what);
                    let ea = a.scratch.clone();
                    let rb = b
                        .parse_general(f)
                        .map(|p| format!("{p:?}"))
                        .map_err(|e| e.what);
                    let eb = b.scratch.clone();
                    assert_eq!(ra.is_ok(), rb.is_ok(), "{}", String::from_utf8_lossy(f));
                    if ra.is_ok() {
                        assert_eq!(ra, rb, "{}", String::from_utf8_lossy(f));
                        assert_eq!(ea, eb, "{}", String::from_utf8_lossy(f));
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 1000, "only {checked} frames checked");
    }
}
