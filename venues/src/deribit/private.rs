//! Order-connection decoder: JSON-RPC replies and private-channel notifications as borrowed,
//! allocation-free views over the frame (dossier §1.3–§1.5, §5, §9.7–§9.9).
//!
//! [`decode_private`] checks the whole frame's structure (brackets, strings, members) and
//! classifies it in one pass; every value it reads is validated fully, values it skips only
//! structurally ([`Cursor::skip_unused`] for scalars; objects and arrays, e.g. the lists and
//! `positions`, by a 64-byte-block bracket walk, `span::container_end`, that falls back to
//! `skip_unused` on escapes or malformed input). Order and trade objects are decoded into
//! [`OrderView`] / [`TradeView`] whose strings borrow from the frame; exact decimals in the
//! plain and short-exponent shapes (`92037.0`, `9.21e4`, `5.0e-8`) and integers are read
//! inline (`number`), anything else by the scanner's general path. Lists ([`TradesView`],
//! [`OrdersView`], [`ChannelsView`]) keep the raw span and decode element by element when
//! iterated. Every fast path is pinned against the general path on the recorded frames
//! (tests here and in `span` / `number`).
//!
//! Strings are the raw bytes between the quotes: JSON escapes are not decoded (Deribit ids,
//! names and our `mmf-<id>` labels never contain any).

use super::json::{self, Cursor, JsonKind};
use super::md::{digits_u64, read_error, NO_ID};
use super::DecodeError;
use mm_core::decimal::Dec;
use mm_core::types::{ClientId, Side};
use span::{skip_value, value_span};

mod number;
mod span;

#[cfg(test)]
thread_local! {
    /// Tests set this to run the general paths only (no [`span::container_end`], no in-pass
    /// `user.changes`), to pin the fast paths against them.
    static GENERAL_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True unless a test switched the fast paths off ([`GENERAL_ONLY`]); always true outside
/// tests.
#[inline(always)]
fn fast_paths() -> bool {
    #[cfg(test)]
    {
        !GENERAL_ONLY.with(|g| g.get())
    }
    #[cfg(not(test))]
    {
        true
    }
}

/// Prefix of the labels we put on our orders (`mmf-<client id>`).
pub const LABEL_PREFIX: &str = "mmf-";

/// Deribit `order_state` (dossier §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderState {
    /// Resting.
    Open,
    /// Completely filled.
    Filled,
    /// Rejected (rare: post-only rejects are JSON-RPC error 11054 instead).
    Rejected,
    /// Cancelled (by us, cancel-all, cancel-on-disconnect, IOC remainder, …).
    Cancelled,
    /// A trigger order waiting for its trigger.
    Untriggered,
    /// A trigger order that fired.
    Triggered,
}

/// An order object (`private/buy|sell|edit` reply `order`, `private/cancel` result,
/// `user.orders.*` data). Fields absent from the frame are empty / zero / false.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderView<'a> {
    /// Venue order id (opaque: `"6800409604"`, `"ETH-349249"`, `"USDC-104819327443"`).
    pub order_id: &'a str,
    /// Our label (`mmf-<client id>`, see [`parse_label`]), `""` if none.
    pub label: &'a str,
    /// Instrument name.
    pub instrument_name: &'a str,
    /// `direction`: buy = `Bid`, sell = `Ask`.
    pub side: Side,
    /// Limit price (quote currency), `None` for `"market_price"`.
    pub price: Option<Dec>,
    /// Order size (USD for inverse futures, coin for options).
    pub amount: Dec,
    /// Filled size, same unit.
    pub filled_amount: Dec,
    /// Average fill price (0 when unfilled; rounded if it has more than 18 digits).
    pub average_price: Dec,
    /// State.
    pub state: OrderState,
    /// `cancel_reason` (`user_request`, `cancel_on_disconnect`, `edit_post_only_reject`, …),
    /// `""` if absent.
    pub cancel_reason: &'a str,
    /// `post_only` flag.
    pub post_only: bool,
    /// `reduce_only` flag.
    pub reduce_only: bool,
    /// `last_update_timestamp`, ms since the epoch.
    pub last_update_ms: u64,
    /// `quote_id` of a mass-quote order (dossier §5.6), `""` for plain orders.
    pub quote_id: &'a str,
}

/// A user trade (a fill of one of our orders; `user.trades.*` element, `trades` of an order
/// reply). Fields absent from the frame are empty / zero / false.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradeView<'a> {
    /// Venue trade id (dedupe key).
    pub trade_id: &'a str,
    /// Venue id of the order that filled.
    pub order_id: &'a str,
    /// The order's label, `""` if none.
    pub label: &'a str,
    /// Instrument name.
    pub instrument_name: &'a str,
    /// Our side (`direction`).
    pub side: Side,
    /// Fill price.
    pub price: Dec,
    /// Fill size.
    pub amount: Dec,
    /// Fee in `fee_currency` (negative = rebate; rounded if more than 18 digits).
    pub fee: Dec,
    /// Currency of the fee.
    pub fee_currency: &'a str,
    /// True when we were the maker (`liquidity: "M"`).
    pub maker: bool,
    /// Trade time, ms since the epoch.
    pub timestamp_ms: u64,
    /// Per-instrument trade sequence.
    pub trade_seq: u64,
    /// `quote_id` of the mass quote that placed the order (dossier §5.8 user_trade), `""`
    /// for plain orders.
    pub quote_id: &'a str,
}

/// A list of trades (a JSON array, or a single object) decoded lazily.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradesView<'a> {
    span: &'a [u8],
}

/// A list of orders (a JSON array, or a single object) decoded lazily.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrdersView<'a> {
    span: &'a [u8],
}

/// The `errors[]` of a `private/mass_quote` reply, decoded lazily ([`QuoteError`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuoteErrorsView<'a> {
    span: &'a [u8],
}

/// One side of a mass quote the venue refused (`{instrument_name, side, error:{code,
/// message}}`, dossier §5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuoteError<'a> {
    /// Instrument name.
    pub instrument_name: &'a str,
    /// `"bid"` = `Bid`, `"ask"` = `Ask`.
    pub side: Side,
    /// Venue error code (e.g. 10007 price band, 11054 post-only, 13030 MMP frozen).
    pub code: i32,
    /// Venue message.
    pub message: &'a str,
}

/// The channel list of a subscribe/unsubscribe reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelsView<'a> {
    span: &'a [u8],
}

/// The `result` of a successful JSON-RPC reply, classified by its shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RpcResult<'a> {
    /// `{order, trades}`: reply to `private/buy`, `private/sell`, `private/edit`.
    Order {
        /// The order after the request.
        order: OrderView<'a>,
        /// Immediate fills of this order.
        trades: TradesView<'a>,
    },
    /// An order object: reply to `private/cancel` (also `get_order_state`).
    CancelledOrder(OrderView<'a>),
    /// An integer: reply to `private/cancel_all*` (number of orders cancelled).
    Count(i64),
    /// The string `"ok"` (set_heartbeat, enable_cancel_on_disconnect, …).
    Ok,
    /// `public/auth` reply.
    Auth {
        /// Bearer token (secret: never log it).
        access_token: &'a str,
        /// Seconds until the token expires.
        expires_in: u64,
        /// Refresh token (secret).
        refresh_token: &'a str,
    },
    /// A non-empty array of strings: subscribe/unsubscribe reply (the channels now
    /// subscribed — diff them against the request, dossier §4.0).
    Channels(ChannelsView<'a>),
    /// `{orders, trades, errors}`: reply to `private/mass_quote` with `detailed: true`
    /// (dossier §5.6). Orders carry no label; match them by instrument and side.
    MassQuote {
        /// The quote orders after the request (one per side placed, replaced or cancelled).
        orders: OrdersView<'a>,
        /// Immediate fills.
        trades: TradesView<'a>,
        /// The sides refused.
        errors: QuoteErrorsView<'a>,
    },
    /// Anything else (get_instruments, get_positions, open orders, `public/test`, an empty
    /// array, …): the raw JSON of `result`. The caller knows from the request id what it
    /// asked for.
    Raw(&'a [u8]),
}

/// A decoded order-connection frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrivateMsg<'a> {
    /// Successful reply. `id` is [`NO_ID`] when absent or not numeric.
    RpcOk {
        /// Request id.
        id: u64,
        /// The result.
        result: RpcResult<'a>,
    },
    /// Error reply (dossier §7).
    RpcErr {
        /// Request id ([`NO_ID`] when absent or not numeric).
        id: u64,
        /// Venue error code (e.g. 11054 post_only_reject, 10028 too_many_requests).
        code: i32,
        /// Venue message (may carry a limit, e.g. `"price_too_high 43666.4288"`).
        message: &'a str,
    },
    /// `user.orders.*.raw` notification (a single order object).
    Orders(OrderView<'a>),
    /// `user.orders.*.{100ms|agg2}` notification (an array of orders).
    OrderList(OrdersView<'a>),
    /// `user.trades.*` notification.
    Trades(TradesView<'a>),
    /// `user.changes.*` notification (`{orders, trades, positions}`; positions not decoded).
    Changes {
        /// Orders changed.
        orders: OrdersView<'a>,
        /// Trades of those orders.
        trades: TradesView<'a>,
    },
    /// `user.mmp_trigger.{index_name}` notification (dossier §5.7/§5.8): the venue
    /// cancelled the MMP orders/quotes of `mmp_group` (`""` = plain-order MMP) on the index.
    MmpTrigger {
        /// Index, e.g. `btc_usd`.
        index_name: &'a str,
        /// MMP group, `""` if absent.
        mmp_group: &'a str,
        /// End of the freeze, ms since the epoch; 0 = until `private/reset_mmp`.
        frozen_until_ms: u64,
    },
    /// Heartbeat; answer `test_request` with `public/test`.
    Heartbeat {
        /// True for `"type":"test_request"`.
        test_request: bool,
    },
    /// Any other notification (portfolio, public channels, …).
    Other,
}

/// `raw` as `&str`: an inline word-wise ASCII check for the usual ids and names, the full
/// UTF-8 validation otherwise.
#[inline(always)]
fn utf8(raw: &[u8], at: usize) -> Result<&str, DecodeError> {
    if raw.is_ascii() {
        // SAFETY: every ASCII byte sequence is valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(raw) });
    }
    std::str::from_utf8(raw).map_err(|_| DecodeError::new("string is not valid UTF-8", at))
}

#[inline(always)]
fn read_str<'a>(c: &mut Cursor<'a>) -> Result<&'a str, DecodeError> {
    let at = c.pos();
    let s = c.str()?;
    utf8(s.raw, at)
}

/// Reads a string, or `null` as `""`.
#[inline(always)]
fn read_opt_str<'a>(c: &mut Cursor<'a>) -> Result<&'a str, DecodeError> {
    if c.buf().get(c.pos()) == Some(&b'"') {
        return read_str(c);
    }
    if c.null() {
        Ok("")
    } else {
        read_str(c)
    }
}

#[inline(always)]
fn read_side(c: &mut Cursor<'_>) -> Result<Side, DecodeError> {
    let at = c.pos();
    match c.str()?.raw {
        b"buy" => Ok(Side::Bid),
        b"sell" => Ok(Side::Ask),
        _ => Err(DecodeError::new("direction is neither buy nor sell", at)),
    }
}

/// An exact decimal: [`number::fast_dec`], else the scanner's general path.
#[inline(always)]
fn read_dec(c: &mut Cursor<'_>) -> Result<Dec, DecodeError> {
    if let Some(d) = number::fast_dec(c) {
        return Ok(d);
    }
    Ok(c.dec()?)
}

#[inline(always)]
fn read_lossy(c: &mut Cursor<'_>) -> Result<Dec, DecodeError> {
    // Exact when it fits: what `json::dec_lossy` gives first.
    if let Some(d) = number::fast_dec(c) {
        return Ok(d);
    }
    if c.null() {
        return Ok(Dec::default());
    }
    let at = c.pos();
    let t = c.num()?;
    json::dec_lossy(t).ok_or(DecodeError::new("number not a decimal", at))
}

#[inline(always)]
fn read_exact(c: &mut Cursor<'_>) -> Result<Dec, DecodeError> {
    if let Some(d) = number::fast_dec(c) {
        return Ok(d);
    }
    if c.null() {
        return Ok(Dec::default());
    }
    Ok(c.dec()?)
}

fn parse_order<'a>(c: &mut Cursor<'a>) -> Result<OrderView<'a>, DecodeError> {
    let start = c.pos();
    let mut o = c.object()?;
    let mut order_id: Option<&str> = None;
    let mut side: Option<Side> = None;
    let mut state: Option<OrderState> = None;
    let mut v = OrderView {
        order_id: "",
        label: "",
        instrument_name: "",
        side: Side::Bid,
        price: None,
        amount: Dec::default(),
        filled_amount: Dec::default(),
        average_price: Dec::default(),
        state: OrderState::Open,
        cancel_reason: "",
        post_only: false,
        reduce_only: false,
        last_update_ms: 0,
        quote_id: "",
    };
    while let Some(k) = o.next_key(c)? {
        match k {
            b"order_id" => order_id = Some(read_str(c)?),
            b"label" => v.label = read_opt_str(c)?,
            b"instrument_name" => v.instrument_name = read_str(c)?,
            b"direction" => side = Some(read_side(c)?),
            b"price" => {
                v.price = match c.kind()? {
                    JsonKind::String => {
                        let at = c.pos();
                        match c.str()?.raw {
                            b"market_price" => None,
                            _ => {
                                return Err(DecodeError::new(
                                    "order price string is not market_price",
                                    at,
                                ))
                            }
                        }
                    }
                    JsonKind::Null => {
                        c.null();
                        None
                    }
                    _ => Some(read_dec(c)?),
                }
            }
            b"amount" => v.amount = read_exact(c)?,
            b"filled_amount" => v.filled_amount = read_exact(c)?,
            b"average_price" => v.average_price = read_lossy(c)?,
            b"order_state" => {
                let at = c.pos();
                state = Some(match c.str()?.raw {
                    b"open" => OrderState::Open,
                    b"filled" => OrderState::Filled,
                    b"rejected" => OrderState::Rejected,
                    b"cancelled" => OrderState::Cancelled,
                    b"untriggered" => OrderState::Untriggered,
                    b"triggered" => OrderState::Triggered,
                    _ => return Err(DecodeError::new("unknown order_state", at)),
                });
            }
            b"cancel_reason" => v.cancel_reason = read_opt_str(c)?,
            b"post_only" => v.post_only = c.bool()?,
            b"reduce_only" => v.reduce_only = c.bool()?,
            b"last_update_timestamp" => v.last_update_ms = number::read_u64(c)?,
            b"quote_id" => v.quote_id = read_opt_str(c)?,
            _ => c.skip_unused()?,
        }
    }
    v.order_id = order_id.ok_or(DecodeError::new("order without order_id", start))?;
    v.side = side.ok_or(DecodeError::new("order without direction", start))?;
    v.state = state.ok_or(DecodeError::new("order without order_state", start))?;
    Ok(v)
}

fn parse_trade<'a>(c: &mut Cursor<'a>) -> Result<TradeView<'a>, DecodeError> {
    let start = c.pos();
    let mut o = c.object()?;
    let mut trade_id: Option<&str> = None;
    let mut side: Option<Side> = None;
    let mut price: Option<Dec> = None;
    let mut amount: Option<Dec> = None;
    let mut v = TradeView {
        trade_id: "",
        order_id: "",
        label: "",
        instrument_name: "",
        side: Side::Bid,
        price: Dec::default(),
        amount: Dec::default(),
        fee: Dec::default(),
        fee_currency: "",
        maker: false,
        timestamp_ms: 0,
        trade_seq: 0,
        quote_id: "",
    };
    while let Some(k) = o.next_key(c)? {
        match k {
            b"trade_id" => trade_id = Some(read_str(c)?),
            b"order_id" => v.order_id = read_str(c)?,
            b"label" => v.label = read_opt_str(c)?,
            b"instrument_name" => v.instrument_name = read_str(c)?,
            b"direction" => side = Some(read_side(c)?),
            b"price" => price = Some(read_dec(c)?),
            b"amount" => amount = Some(read_dec(c)?),
            b"fee" => v.fee = read_lossy(c)?,
            b"fee_currency" => v.fee_currency = read_opt_str(c)?,
            b"liquidity" => v.maker = c.str()?.raw == b"M",
            b"timestamp" => v.timestamp_ms = number::read_u64(c)?,
            b"trade_seq" => v.trade_seq = number::read_u64(c)?,
            b"quote_id" => v.quote_id = read_opt_str(c)?,
            _ => c.skip_unused()?,
        }
    }
    v.trade_id = trade_id.ok_or(DecodeError::new("trade without trade_id", start))?;
    v.side = side.ok_or(DecodeError::new("trade without direction", start))?;
    v.price = price.ok_or(DecodeError::new("trade without price", start))?;
    v.amount = amount.ok_or(DecodeError::new("trade without amount", start))?;
    Ok(v)
}

/// Iterator over the elements of a list view (array or single object).
#[derive(Clone, Debug)]
pub struct ListIter<'a, T> {
    c: Cursor<'a>,
    arr: Option<json::Arr>,
    single_done: bool,
    failed: bool,
    parse: fn(&mut Cursor<'a>) -> Result<T, DecodeError>,
}

impl<'a, T> ListIter<'a, T> {
    fn new(span: &'a [u8], parse: fn(&mut Cursor<'a>) -> Result<T, DecodeError>) -> Self {
        let mut c = Cursor::new(span);
        let mut failed = false;
        let arr = if c.peek() == Some(b'[') {
            match c.array() {
                Ok(a) => Some(a),
                Err(_) => {
                    failed = true;
                    None
                }
            }
        } else {
            None
        };
        ListIter {
            c,
            arr,
            single_done: false,
            failed,
            parse,
        }
    }
}

impl<'a, T> Iterator for ListIter<'a, T> {
    type Item = Result<T, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let r = match &mut self.arr {
            Some(a) => match a.next(&mut self.c) {
                Ok(true) => (self.parse)(&mut self.c),
                Ok(false) => return None,
                Err(e) => Err(e.into()),
            },
            None => {
                if self.single_done {
                    return None;
                }
                self.single_done = true;
                (self.parse)(&mut self.c)
            }
        };
        if r.is_err() {
            // The cursor position is unknown after an error: stop.
            self.failed = true;
        }
        Some(r)
    }
}

impl<'a> TradesView<'a> {
    /// A view over raw JSON (an array of trades, or one trade object).
    pub fn new(span: &'a [u8]) -> Self {
        TradesView { span }
    }

    /// The trades, decoded one by one; an element that fails to decode yields `Err` and ends
    /// the iteration.
    pub fn iter(&self) -> ListIter<'a, TradeView<'a>> {
        ListIter::new(self.span, parse_trade)
    }

    /// True for an empty array.
    pub fn is_empty(&self) -> bool {
        let mut c = Cursor::new(self.span);
        c.array().is_ok() && c.peek() == Some(b']')
    }

    /// The raw JSON.
    pub fn raw(&self) -> &'a [u8] {
        self.span
    }
}

impl<'a> OrdersView<'a> {
    /// A view over raw JSON (an array of orders, or one order object).
    pub fn new(span: &'a [u8]) -> Self {
        OrdersView { span }
    }

    /// The orders, decoded one by one; an element that fails to decode yields `Err` and ends
    /// the iteration.
    pub fn iter(&self) -> ListIter<'a, OrderView<'a>> {
        ListIter::new(self.span, parse_order)
    }

    /// The raw JSON.
    pub fn raw(&self) -> &'a [u8] {
        self.span
    }
}

fn parse_quote_error<'a>(c: &mut Cursor<'a>) -> Result<QuoteError<'a>, DecodeError> {
    let start = c.pos();
    let mut o = c.object()?;
    let mut v = QuoteError {
        instrument_name: "",
        side: Side::Bid,
        code: 0,
        message: "",
    };
    let mut side = None;
    while let Some(k) = o.next_key(c)? {
        match k {
            b"instrument_name" => v.instrument_name = read_str(c)?,
            b"side" => {
                let at = c.pos();
                side = Some(match c.str()?.raw {
                    b"bid" | b"buy" => Side::Bid,
                    b"ask" | b"sell" => Side::Ask,
                    _ => {
                        return Err(DecodeError::new(
                            "quote error side is neither bid nor ask",
                            at,
                        ))
                    }
                });
            }
            b"error" => {
                c.peek();
                let at = c.pos();
                let (code, msg) = read_error(c)?;
                v.code = code;
                v.message = utf8(msg, at)?;
            }
            _ => c.skip_unused()?,
        }
    }
    v.side = side.ok_or(DecodeError::new("quote error without side", start))?;
    Ok(v)
}

impl<'a> QuoteErrorsView<'a> {
    /// A view over raw JSON (an array of quote errors).
    pub fn new(span: &'a [u8]) -> Self {
        QuoteErrorsView { span }
    }

    /// The errors, decoded one by one; an element that fails to decode yields `Err` and ends
    /// the iteration.
    pub fn iter(&self) -> ListIter<'a, QuoteError<'a>> {
        ListIter::new(self.span, parse_quote_error)
    }

    /// The raw JSON.
    pub fn raw(&self) -> &'a [u8] {
        self.span
    }
}

fn parse_channel<'a>(c: &mut Cursor<'a>) -> Result<&'a str, DecodeError> {
    read_str(c)
}

impl<'a> ChannelsView<'a> {
    /// The channel names.
    pub fn iter(&self) -> ListIter<'a, &'a str> {
        ListIter::new(self.span, parse_channel)
    }

    /// The raw JSON array.
    pub fn raw(&self) -> &'a [u8] {
        self.span
    }
}

/// Our client id from an order label `mmf-<decimal id>` (`None` for foreign labels).
pub fn parse_label(label: &str) -> Option<ClientId> {
    digits_u64(label.strip_prefix(LABEL_PREFIX)?.as_bytes())
}

/// Classifies a `result` span (structure already checked).
fn classify_result(span: &[u8]) -> Result<RpcResult<'_>, DecodeError> {
    let mut c = Cursor::new(span);
    match c.kind()? {
        JsonKind::Number => {
            let t = c.num()?;
            match json::dec(t) {
                Some(d) if d.scale == 0 => Ok(RpcResult::Count(d.mant)),
                _ => Ok(RpcResult::Raw(span)),
            }
        }
        JsonKind::String => {
            if c.str()?.raw == b"ok" {
                Ok(RpcResult::Ok)
            } else {
                Ok(RpcResult::Raw(span))
            }
        }
        JsonKind::Array => {
            let mut a = c.array()?;
            let mut n = 0;
            while a.next(&mut c)? {
                if c.kind()? != JsonKind::String {
                    return Ok(RpcResult::Raw(span));
                }
                c.skip_unused()?;
                n += 1;
            }
            if n == 0 {
                Ok(RpcResult::Raw(span))
            } else {
                Ok(RpcResult::Channels(ChannelsView { span }))
            }
        }
        JsonKind::Object => {
            let mut o = c.object()?;
            let mut order: Option<usize> = None;
            let mut trades: Option<&[u8]> = None;
            let mut access: Option<&str> = None;
            let mut refresh = "";
            let mut expires = 0u64;
            let mut is_order = false;
            let mut mq_orders: Option<&[u8]> = None;
            let mut mq_errors: Option<&[u8]> = None;
            while let Some(k) = o.next_key(&mut c)? {
                match k {
                    b"orders" => mq_orders = Some(value_span(&mut c)?),
                    b"errors" => mq_errors = Some(value_span(&mut c)?),
                    b"order" => {
                        c.peek();
                        order = Some(c.pos());
                        skip_value(&mut c)?;
                    }
                    b"trades" => trades = Some(value_span(&mut c)?),
                    b"access_token" => access = Some(read_str(&mut c)?),
                    b"refresh_token" => refresh = read_opt_str(&mut c)?,
                    b"expires_in" => expires = c.u64()?,
                    b"order_id" => {
                        is_order = true;
                        c.skip_unused()?;
                    }
                    _ => skip_value(&mut c)?,
                }
            }
            if let (Some(at), Some(tr)) = (order, trades) {
                let order = parse_order(&mut Cursor::at(span, at))?;
                return Ok(RpcResult::Order {
                    order,
                    trades: TradesView { span: tr },
                });
            }
            if mq_orders.is_some() || mq_errors.is_some() {
                return Ok(RpcResult::MassQuote {
                    orders: OrdersView {
                        span: mq_orders.unwrap_or(b"[]"),
                    },
                    trades: TradesView {
                        span: trades.unwrap_or(b"[]"),
                    },
                    errors: QuoteErrorsView {
                        span: mq_errors.unwrap_or(b"[]"),
                    },
                });
            }
            if let Some(tok) = access {
                return Ok(RpcResult::Auth {
                    access_token: tok,
                    expires_in: expires,
                    refresh_token: refresh,
                });
            }
            if is_order {
                return Ok(RpcResult::CancelledOrder(parse_order(&mut Cursor::new(
                    span,
                ))?));
            }
            Ok(RpcResult::Raw(span))
        }
        JsonKind::Bool | JsonKind::Null => Ok(RpcResult::Raw(span)),
    }
}

fn classify_notification<'a>(
    frame: &'a [u8],
    params_at: usize,
) -> Result<PrivateMsg<'a>, DecodeError> {
    notification(&mut Cursor::at(frame, params_at))
}

/// Parses a notification's `params` object at the cursor (left after it) and classifies it.
/// A single `user.orders` order or a `user.changes` object (its `channel` first, as Deribit
/// sends it) is decoded straight from the frame in the same pass; lists are spanned with
/// [`value_span`] (one pass over their brackets) and decoded when iterated.
fn notification<'a>(c: &mut Cursor<'a>) -> Result<PrivateMsg<'a>, DecodeError> {
    c.peek();
    let params_at = c.pos();
    let mut o = c.object()?;
    let mut channel: Option<&[u8]> = None;
    let mut data: Option<&[u8]> = None;
    let mut msg: Option<PrivateMsg<'a>> = None;
    while let Some(k) = o.next_key(c)? {
        match k {
            b"channel" => channel = Some(c.str()?.raw),
            b"data" if msg.is_none() && c.peek() == Some(b'{') => match channel {
                Some(ch) if ch.starts_with(b"user.orders.") => {
                    msg = Some(PrivateMsg::Orders(parse_order(c)?));
                }
                Some(ch) if fast_paths() && ch.starts_with(b"user.changes.") => {
                    msg = Some(changes(c)?);
                }
                _ => data = Some(value_span(c)?),
            },
            b"data" => data = Some(value_span(c)?),
            _ => skip_value(c)?,
        }
    }
    if let Some(msg) = msg {
        return Ok(msg);
    }
    let channel = channel.ok_or(DecodeError::new("subscription without channel", params_at))?;
    let data = data.ok_or(DecodeError::new("subscription without data", params_at))?;
    if channel.starts_with(b"user.orders.") {
        if data.first() == Some(&b'[') {
            Ok(PrivateMsg::OrderList(OrdersView { span: data }))
        } else {
            Ok(PrivateMsg::Orders(parse_order(&mut Cursor::new(data))?))
        }
    } else if channel.starts_with(b"user.mmp_trigger.") {
        let mut dc = Cursor::new(data);
        let mut o = dc.object()?;
        let mut index_name = "";
        let mut mmp_group = "";
        let mut frozen_until_ms = 0;
        while let Some(k) = o.next_key(&mut dc)? {
            match k {
                b"index_name" => index_name = read_str(&mut dc)?,
                b"mmp_group" => mmp_group = read_opt_str(&mut dc)?,
                b"frozen_until" => {
                    frozen_until_ms = if dc.null() { 0 } else { dc.u64()? };
                }
                _ => dc.skip_unused()?,
            }
        }
        Ok(PrivateMsg::MmpTrigger {
            index_name,
            mmp_group,
            frozen_until_ms,
        })
    } else if channel.starts_with(b"user.trades.") {
        Ok(PrivateMsg::Trades(TradesView { span: data }))
    } else if channel.starts_with(b"user.changes.") {
        // S1 says array for the instrument variant; real captures are objects. Accept both
        // (an array: its first element).
        let mut dc = Cursor::new(data);
        if dc.peek() == Some(b'[') {
            let mut a = dc.array()?;
            if !a.next(&mut dc)? {
                return Ok(PrivateMsg::Other);
            }
        }
        changes(&mut dc)
    } else {
        Ok(PrivateMsg::Other)
    }
}

/// A `user.changes` data object `{orders, trades, positions, …}` at the cursor (left after
/// it): the order and trade lists as lazy views, everything else skipped.
fn changes<'a>(c: &mut Cursor<'a>) -> Result<PrivateMsg<'a>, DecodeError> {
    let mut o = c.object()?;
    let mut orders: &[u8] = b"[]";
    let mut trades: &[u8] = b"[]";
    while let Some(k) = o.next_key(c)? {
        match k {
            b"orders" => orders = value_span(c)?,
            b"trades" => trades = value_span(c)?,
            _ => skip_value(c)?,
        }
    }
    Ok(PrivateMsg::Changes {
        orders: OrdersView { span: orders },
        trades: TradesView { span: trades },
    })
}

/// Decodes one frame of the order connection.
///
/// The whole frame's structure is checked; the values read are validated. Orders of `user.orders.*.raw` and of `{order, trades}` /
/// cancel replies are decoded eagerly; lists decode lazily while iterated.
///
/// # Errors
/// Malformed or truncated JSON; an order object without `order_id`, `direction` or
/// `order_state`, or with an unknown `order_state`; non-UTF-8 strings; a number that is not an
/// exact decimal where one is required (prices, amounts).
pub fn decode_private(frame: &[u8]) -> Result<PrivateMsg<'_>, DecodeError> {
    let mut c = Cursor::new(frame);
    let mut top = c.object()?;
    let mut method: Option<&[u8]> = None;
    let mut params_at: Option<usize> = None;
    let mut id = NO_ID;
    let mut result: Option<&[u8]> = None;
    let mut error: Option<(i32, &[u8], usize)> = None;
    let mut notified: Option<PrivateMsg<'_>> = None;
    while let Some(k) = top.next_key(&mut c)? {
        match k {
            b"method" => method = Some(c.str()?.raw),
            b"params" if method == Some(b"subscription") && notified.is_none() => {
                // Deribit sends `method` before `params`: classify in this pass.
                c.peek();
                params_at = Some(c.pos());
                notified = Some(notification(&mut c)?);
            }
            b"params" => {
                c.peek();
                params_at = Some(c.pos());
                skip_value(&mut c)?;
            }
            b"id" => {
                id = match c.kind()? {
                    JsonKind::Number => digits_u64(c.num()?).unwrap_or(NO_ID),
                    JsonKind::String => digits_u64(c.str()?.raw).unwrap_or(NO_ID),
                    JsonKind::Null => {
                        c.null();
                        NO_ID
                    }
                    _ => {
                        return Err(DecodeError::new(
                            "JSON-RPC id is neither a number nor a string",
                            c.pos(),
                        ))
                    }
                }
            }
            b"result" => result = Some(value_span(&mut c)?),
            b"error" => {
                c.peek();
                let at = c.pos();
                let (code, msg) = read_error(&mut c)?;
                error = Some((code, msg, at));
            }
            _ => c.skip_unused()?,
        }
    }
    c.end()?;
    match method {
        Some(b"subscription") => {
            if let Some(m) = notified {
                return Ok(m);
            }
            let at = params_at.ok_or(DecodeError::new("subscription without params", 0))?;
            classify_notification(frame, at)
        }
        Some(b"heartbeat") => {
            let mut test_request = false;
            if let Some(at) = params_at {
                let mut pc = Cursor::at(frame, at);
                let mut o = pc.object()?;
                while let Some(k) = o.next_key(&mut pc)? {
                    if k == b"type" {
                        test_request = pc.str()?.raw == b"test_request";
                    } else {
                        pc.skip_unused()?;
                    }
                }
            }
            Ok(PrivateMsg::Heartbeat { test_request })
        }
        Some(_) => Ok(PrivateMsg::Other),
        None => {
            if let Some((code, msg, at)) = error {
                return Ok(PrivateMsg::RpcErr {
                    id,
                    code,
                    message: utf8(msg, at)?,
                });
            }
            match result {
                Some(span) => Ok(PrivateMsg::RpcOk {
                    id,
                    result: classify_result(span)?,
                }),
                None => Err(DecodeError::new(
                    "frame has neither method nor result nor error",
                    c.pos(),
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(parse_label("mmf-0"), Some(0));
        assert_eq!(parse_label("mmf-18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_label("mmf-18446744073709551616"), None);
        assert_eq!(parse_label("mmf-"), None);
        assert_eq!(parse_label("mmf-+1"), None);
        assert_eq!(parse_label("mmf-12x"), None);
        assert_eq!(parse_label("9upvib33"), None);
        assert_eq!(parse_label(""), None);
    }

    #[test]
    fn results_by_shape() {
        let f = br#"{"jsonrpc":"2.0","id":5,"result":37}"#;
        assert_eq!(
            decode_private(f).unwrap(),
            PrivateMsg::RpcOk {
                id: 5,
                result: RpcResult::Count(37)
            }
        );
        let f = br#"{"jsonrpc":"2.0","id":6,"result":"ok"}"#;
        assert_eq!(
            decode_private(f).unwrap(),
            PrivateMsg::RpcOk {
                id: 6,
                result: RpcResult::Ok
            }
        );
        let f = br#"{"jsonrpc":"2.0","id":7,"result":[]}"#;
        assert_eq!(
            decode_private(f).unwrap(),
            PrivateMsg::RpcOk {
                id: 7,
                result: RpcResult::Raw(b"[]")
            }
        );
        let f = br#"{"jsonrpc":"2.0","id":8,"result":{"access_token":"a.b","expires_in":31536000,"refresh_token":"r.t","scope":"connection","token_type":"bearer"}}"#;
        assert_eq!(
            decode_private(f).unwrap(),
            PrivateMsg::RpcOk {
                id: 8,
                result: RpcResult::Auth {
                    access_token: "a.b",
                    expires_in: 31536000,
                    refresh_token: "r.t"
                }
            }
        );
        assert!(decode_private(br#"{"id":1}"#).is_err());
        assert!(decode_private(br#"{"id":1,"result":1} x"#).is_err());
    }

    use crate::deribit::{for_each_damaged_copy, test_user_frames as user_frames};

    /// `(offset in frame, length)` of every lazy list of a message.
    fn list_spans(frame: &[u8], m: &PrivateMsg<'_>) -> Vec<(usize, usize)> {
        let at = |s: &[u8]| (s.as_ptr() as usize - frame.as_ptr() as usize, s.len());
        match m {
            PrivateMsg::OrderList(o) => vec![at(o.raw())],
            PrivateMsg::Trades(t) => vec![at(t.raw())],
            PrivateMsg::Changes { orders, trades } => vec![at(orders.raw()), at(trades.raw())],
            PrivateMsg::RpcOk {
                result: RpcResult::Order { trades, .. },
                ..
            } => vec![at(trades.raw())],
            PrivateMsg::RpcOk {
                result: RpcResult::Raw(r),
                ..
            } => vec![at(r)],
            _ => vec![],
        }
    }

    /// Orders and trades of every list of a message, as iterated.
    type Elements<'a> = (
        Vec<Result<OrderView<'a>, DecodeError>>,
        Vec<Result<TradeView<'a>, DecodeError>>,
    );

    fn elements<'a>(m: &PrivateMsg<'a>) -> Elements<'a> {
        let (o, t) = match m {
            PrivateMsg::OrderList(o) => (Some(o), None),
            PrivateMsg::Trades(t) => (None, Some(t)),
            PrivateMsg::Changes { orders, trades } => (Some(orders), Some(trades)),
            PrivateMsg::RpcOk {
                result: RpcResult::Order { trades, .. },
                ..
            } => (None, Some(trades)),
            PrivateMsg::RpcOk {
                result: RpcResult::MassQuote { orders, trades, .. },
                ..
            } => (Some(orders), Some(trades)),
            _ => (None, None),
        };
        (
            o.map(|o| o.iter().collect()).unwrap_or_default(),
            t.map(|t| t.iter().collect()).unwrap_or_default(),
        )
    }

    /// Decodes `f` with the fast paths and with the general paths only; both must accept or
    /// both reject, and accepted frames must give the same message with the same spans and
    /// the same list elements.
    fn same_both_ways(f: &[u8]) -> Option<PrivateMsg<'_>> {
        let fast = decode_private(f);
        GENERAL_ONLY.with(|g| g.set(true));
        let general = decode_private(f);
        GENERAL_ONLY.with(|g| g.set(false));
        match (fast, general) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b, "{}", String::from_utf8_lossy(f));
                assert_eq!(list_spans(f, &a), list_spans(f, &b));
                assert_eq!(elements(&a), elements(&b));
                Some(a)
            }
            (Err(_), Err(_)) => None,
            (a, b) => panic!(
                "fast {a:?} vs general {b:?} on {}",
                String::from_utf8_lossy(f)
            ),
        }
    }

    #[test]
    fn fast_paths_agree_with_general_paths_on_real_frames() {
        let frames = user_frames();
        let (mut orders, mut trades, mut changes) = (0, 0, 0);
        for f in &frames {
            match same_both_ways(f).expect("every recorded frame decodes") {
                PrivateMsg::Orders(o) => {
                    orders += 1;
                    assert_eq!(o.order_id, "74365704227");
                    assert_eq!(o.state, OrderState::Filled);
                    assert_eq!(
                        o.price,
                        Some(Dec {
                            mant: 92100,
                            scale: 0
                        })
                    );
                }
                PrivateMsg::Trades(t) => {
                    trades += 1;
                    let t: Vec<_> = t.iter().map(|t| t.unwrap()).collect();
                    assert_eq!(t.len(), 1);
                    assert_eq!(t[0].trade_id, "208465104");
                    assert_eq!(t[0].fee, Dec { mant: 5, scale: 8 });
                    assert!(!t[0].maker);
                }
                PrivateMsg::Changes {
                    orders: o,
                    trades: t,
                } => {
                    changes += 1;
                    let o: Vec<_> = o.iter().map(|o| o.unwrap()).collect();
                    assert_eq!(o.len(), 1);
                    assert_eq!(o[0].instrument_name, "BTC-PERPETUAL");
                    for t in t.iter() {
                        assert_eq!(t.unwrap().order_id, o[0].order_id);
                    }
                }
                _ => {}
            }
        }
        assert_eq!((orders, trades, changes), (1, 1, 3));
        // The recorded lists hold one element each: a user.trades frame with the recorded
        // trade three times (distinct ids), and one whose second element lacks its id.
        let f = String::from_utf8(frames[1].clone()).unwrap();
        let (head, rest) = f.split_once("data\":[").unwrap();
        let (trade, tail) = rest.rsplit_once(']').unwrap();
        let three = format!(
            "{head}data\":[{trade}, {},{}]{tail}",
            trade.replace("208465104", "208465105"),
            trade.replace("208465104", "208465106")
        );
        let Some(PrivateMsg::Trades(t)) = same_both_ways(three.as_bytes()) else {
            panic!("not a trades frame");
        };
        let ids: Vec<_> = t.iter().map(|t| t.unwrap().trade_id).collect();
        assert_eq!(ids, ["208465104", "208465105", "208465106"]);
        let broken = format!(
            "{head}data\":[{trade},{}]{tail}",
            trade.replace("\"trade_id\":\"208465104\",", "")
        );
        let Some(PrivateMsg::Trades(t)) = same_both_ways(broken.as_bytes()) else {
            panic!("not a trades frame");
        };
        let r: Vec<_> = t.iter().collect();
        assert_eq!(r.len(), 2);
        assert!(r[0].is_ok() && r[1].is_err());
    }

    #[test]
    fn fast_paths_agree_with_general_paths_on_damaged_frames() {
        let mut rejected = 0;
        for f in user_frames() {
            // Every strict prefix of an object is incomplete: both paths reject it.
            for n in (0..f.len()).step_by(5) {
                assert!(same_both_ways(&f[..n]).is_none());
                rejected += 1;
            }
            // Every bracket, quote and comma changed into each of the others.
            for_each_damaged_copy(&f, |g| {
                same_both_ways(g);
            });
        }
        assert!(rejected > 1000);
    }

    #[test]
    fn mass_quote_reply_and_mmp_trigger() {
        // The dossier §5.6 docs example (trimmed order objects).
        let f = br#"{"jsonrpc":"2.0","id":7859,"result":{"errors":[{"instrument_name":"BTC-PERPETUAL","side":"bid","error":{"message":"price_too_high 43666.4288","code":10007}}],"orders":[{"order_state":"open","quote":true,"quote_set_id":"futures","quote_id":"1","mmp_group":"default","mmp":true,"instrument_name":"BTC-PERPETUAL","order_id":"6653855","price":43800,"direction":"sell","amount":10,"label":""}],"trades":[]}}"#;
        let PrivateMsg::RpcOk {
            id: 7859,
            result:
                RpcResult::MassQuote {
                    orders,
                    trades,
                    errors,
                },
        } = decode_private(f).unwrap()
        else {
            panic!("not a mass-quote reply");
        };
        assert!(trades.is_empty());
        let o: Vec<_> = orders.iter().map(|o| o.unwrap()).collect();
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].order_id, "6653855");
        assert_eq!(o[0].side, Side::Ask);
        assert_eq!(o[0].quote_id, "1");
        assert_eq!(o[0].label, "");
        let e: Vec<_> = errors.iter().map(|e| e.unwrap()).collect();
        assert_eq!(
            e,
            vec![QuoteError {
                instrument_name: "BTC-PERPETUAL",
                side: Side::Bid,
                code: 10007,
                message: "price_too_high 43666.4288"
            }]
        );
        let f = br#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"user.mmp_trigger.btc_usd","data":{"index_name":"btc_usd","frozen_until":1703162551180,"mmp_group":"mmf"}}}"#;
        assert_eq!(
            decode_private(f).unwrap(),
            PrivateMsg::MmpTrigger {
                index_name: "btc_usd",
                mmp_group: "mmf",
                frozen_until_ms: 1703162551180
            }
        );
        let f = br#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"user.mmp_trigger.btc_usd","data":{"index_name":"btc_usd","frozen_until":0}}}"#;
        assert!(matches!(
            decode_private(f).unwrap(),
            PrivateMsg::MmpTrigger {
                mmp_group: "",
                frozen_until_ms: 0,
                ..
            }
        ));
        let bad = br#"{"jsonrpc":"2.0","id":1,"result":{"errors":[{"instrument_name":"X","error":{"code":1,"message":"m"}}],"orders":[]}}"#;
        let PrivateMsg::RpcOk {
            result: RpcResult::MassQuote { errors, .. },
            ..
        } = decode_private(bad).unwrap()
        else {
            panic!("not a mass-quote reply");
        };
        assert!(errors.iter().next().unwrap().is_err(), "side is required");
    }
}
