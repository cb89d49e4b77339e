//! JSON-RPC request encoder (dossier §1.2 framing, §2.1 auth, §3 heartbeat/COD, §4.0
//! subscribe, §5 trading).
//!
//! An [`Encoder`] owns one text buffer, preallocated at construction ([`DEFAULT_CAPACITY`]);
//! every method clears it, writes one complete request frame and returns it as `&str`, valid
//! until the next call. Nothing allocates after construction unless a frame is longer than the
//! buffer (only a subscribe with thousands of channels can be; Deribit refuses frames above
//! [`MAX_FRAME`] anyway, so batch channels below that).
//!
//! Prices and amounts are written as exact decimal text from ticks and lots
//! ([`Instrument::write_price`] / [`Instrument::write_amount`]): 159 ticks of 0.0005 is
//! `0.0795`, never `0.07950000000000001`. Request ids are `u64`. Orders carry
//! `label: "mmf-<client id>"` (see [`super::private::parse_label`]).
//!
//! The auth frame contains the API secret: never log it.

use super::private::LABEL_PREFIX;
use mm_core::decimal::Dec;
use mm_core::event::intent_flags;
use mm_core::instrument::Instrument;
use mm_core::types::{ClientId, Lots, Side, Ticks};

/// Buffer capacity an [`Encoder::new`] preallocates (bytes).
pub const DEFAULT_CAPACITY: usize = 64 * 1024;

/// Largest frame Deribit accepts (dossier §1.1: above it, error -32600).
pub const MAX_FRAME: usize = 32 * 1024;

/// Writes Deribit JSON-RPC request frames into a reused buffer. See the module docs.
#[derive(Debug, Clone)]
pub struct Encoder {
    buf: String,
    first: bool,
    mmp_orders: bool,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    /// An encoder with a [`DEFAULT_CAPACITY`] buffer.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// An encoder with a buffer of `cap` bytes.
    pub fn with_capacity(cap: usize) -> Self {
        Encoder {
            buf: String::with_capacity(cap),
            first: true,
            mmp_orders: false,
        }
    }

    /// With `on`, every [`Self::order`] carries `mmp: true` (the order counts towards, and is
    /// cancelled by, the index's plain-order MMP; dossier §5.7).
    pub fn set_mmp_orders(&mut self, on: bool) {
        self.mmp_orders = on;
    }

    /// The frame the last call wrote.
    pub fn last_frame(&self) -> &str {
        &self.buf
    }

    /// Capacity of the buffer (for checking that nothing grew).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    #[inline]
    fn begin(&mut self, id: u64, method: &str) {
        self.buf.clear();
        self.buf.push_str(r#"{"jsonrpc":"2.0","id":"#);
        self.push_u64(id);
        self.buf.push_str(r#","method":""#);
        self.buf.push_str(method);
        self.buf.push_str(r#"","params":{"#);
        self.first = true;
    }

    #[inline]
    fn end(&mut self) -> &str {
        self.buf.push_str("}}");
        &self.buf
    }

    #[inline]
    fn key(&mut self, k: &str) {
        if !self.first {
            self.buf.push(',');
        }
        self.first = false;
        self.buf.push('"');
        self.buf.push_str(k);
        self.buf.push_str("\":");
    }

    #[inline]
    fn push_u64(&mut self, mut v: u64) {
        let mut d = [0u8; 20];
        let mut n = 0;
        loop {
            d[n] = b'0' + (v % 10) as u8;
            n += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        for i in (0..n).rev() {
            self.buf.push(d[i] as char);
        }
    }

    #[inline]
    fn push_ascii(&mut self, b: &[u8]) {
        for &c in b {
            self.buf.push(c as char);
        }
    }

    /// Writes `s` as a JSON string (quotes, escapes for `"`, `\` and control characters).
    fn push_json_str(&mut self, s: &str) {
        self.buf.push('"');
        if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
            self.buf.push_str(s);
        } else {
            for ch in s.chars() {
                match ch {
                    '"' => self.buf.push_str("\\\""),
                    '\\' => self.buf.push_str("\\\\"),
                    '\n' => self.buf.push_str("\\n"),
                    '\r' => self.buf.push_str("\\r"),
                    '\t' => self.buf.push_str("\\t"),
                    c if (c as u32) < 0x20 => {
                        const HEX: &[u8; 16] = b"0123456789abcdef";
                        self.buf.push_str("\\u00");
                        self.buf.push(HEX[(c as usize >> 4) & 0xf] as char);
                        self.buf.push(HEX[c as usize & 0xf] as char);
                    }
                    c => self.buf.push(c),
                }
            }
        }
        self.buf.push('"');
    }

    #[inline]
    fn kv_str(&mut self, k: &str, v: &str) {
        self.key(k);
        self.push_json_str(v);
    }

    #[inline]
    fn kv_bool(&mut self, k: &str, v: bool) {
        self.key(k);
        self.buf.push_str(if v { "true" } else { "false" });
    }

    #[inline]
    fn kv_u64(&mut self, k: &str, v: u64) {
        self.key(k);
        self.push_u64(v);
    }

    #[inline]
    fn kv_price(&mut self, inst: &Instrument, px: Ticks) {
        let mut t = [0u8; 48];
        let n = inst.write_price(px, &mut t);
        self.key("price");
        self.push_ascii(t.get(..n).unwrap_or(b"0"));
    }

    #[inline]
    fn kv_amount(&mut self, inst: &Instrument, qty: Lots) {
        let mut t = [0u8; 48];
        let n = inst.write_amount(qty, &mut t);
        self.key("amount");
        self.push_ascii(t.get(..n).unwrap_or(b"0"));
    }

    fn kv_channels(&mut self, channels: &[&str]) {
        self.key("channels");
        self.buf.push('[');
        for (i, c) in channels.iter().enumerate() {
            if i > 0 {
                self.buf.push(',');
            }
            self.push_json_str(c);
        }
        self.buf.push(']');
    }

    /// `public/auth` with `grant_type: "client_credentials"` (dossier §2.1). Contains the
    /// secret: never log the frame.
    pub fn auth_client_credentials(&mut self, id: u64, client_id: &str, secret: &str) -> &str {
        self.begin(id, "public/auth");
        self.kv_str("grant_type", "client_credentials");
        self.kv_str("client_id", client_id);
        self.kv_str("client_secret", secret);
        self.end()
    }

    /// `public/auth` with `grant_type: "client_signature"` (dossier §2.2): `timestamp` (ms),
    /// `nonce`, `data` and the hex `signature` of `timestamp\nnonce\ndata`
    /// ([`super::session::client_signature`]). The secret itself is not in the frame.
    pub fn auth_client_signature(
        &mut self,
        id: u64,
        client_id: &str,
        timestamp_ms: u64,
        nonce: &str,
        data: &str,
        signature: &str,
    ) -> &str {
        self.begin(id, "public/auth");
        self.kv_str("grant_type", "client_signature");
        self.kv_str("client_id", client_id);
        self.kv_u64("timestamp", timestamp_ms);
        self.kv_str("nonce", nonce);
        self.kv_str("data", data);
        self.kv_str("signature", signature);
        self.end()
    }

    /// `public/auth` with `grant_type: "refresh_token"` (dossier §2.3). Contains the refresh
    /// token: never log the frame.
    pub fn auth_refresh_token(&mut self, id: u64, refresh_token: &str) -> &str {
        self.begin(id, "public/auth");
        self.kv_str("grant_type", "refresh_token");
        self.kv_str("refresh_token", refresh_token);
        self.end()
    }

    /// `public/subscribe` (or `private/subscribe` when `private`) `{channels}` (dossier §4.0).
    pub fn subscribe(&mut self, id: u64, channels: &[&str], private: bool) -> &str {
        self.begin(
            id,
            if private {
                "private/subscribe"
            } else {
                "public/subscribe"
            },
        );
        self.kv_channels(channels);
        self.end()
    }

    /// `public/unsubscribe` (or `private/unsubscribe`) `{channels}`.
    pub fn unsubscribe(&mut self, id: u64, channels: &[&str], private: bool) -> &str {
        self.begin(
            id,
            if private {
                "private/unsubscribe"
            } else {
                "public/unsubscribe"
            },
        );
        self.kv_channels(channels);
        self.end()
    }

    /// `public/get_instruments {currency, kind?, expired}` (dossier §6).
    pub fn get_instruments(
        &mut self,
        id: u64,
        currency: &str,
        kind: Option<&str>,
        expired: bool,
    ) -> &str {
        self.begin(id, "public/get_instruments");
        self.kv_str("currency", currency);
        if let Some(k) = kind {
            self.kv_str("kind", k);
        }
        self.kv_bool("expired", expired);
        self.end()
    }

    /// A limit order: `private/buy` (Bid) or `private/sell` (Ask) with exact `price` and
    /// `amount` text, `type: "limit"`, `label: "mmf-<client_id>"`, and per `flags`
    /// ([`intent_flags`]): `post_only: true, reject_post_only: true` (a crossing order is
    /// rejected with 11054, never repriced), `reduce_only: true`,
    /// `time_in_force: "immediate_or_cancel"` (dossier §5.1). Flags are written as given:
    /// POST_ONLY with IOC is refused by the venue (11055).
    #[allow(clippy::too_many_arguments)]
    pub fn order(
        &mut self,
        id: u64,
        inst: &Instrument,
        side: Side,
        price: Ticks,
        qty: Lots,
        flags: u8,
        client_id: ClientId,
    ) -> &str {
        self.begin(
            id,
            match side {
                Side::Bid => "private/buy",
                Side::Ask => "private/sell",
            },
        );
        self.kv_str("instrument_name", &inst.name);
        self.kv_amount(inst, qty);
        self.kv_str("type", "limit");
        self.kv_price(inst, price);
        self.key("label");
        self.buf.push('"');
        self.buf.push_str(LABEL_PREFIX);
        self.push_u64(client_id);
        self.buf.push('"');
        if flags & intent_flags::POST_ONLY != 0 {
            self.kv_bool("post_only", true);
            self.kv_bool("reject_post_only", true);
        }
        if flags & intent_flags::REDUCE_ONLY != 0 {
            self.kv_bool("reduce_only", true);
        }
        if flags & intent_flags::IOC != 0 {
            self.kv_str("time_in_force", "immediate_or_cancel");
        }
        if self.mmp_orders && flags & intent_flags::IOC == 0 {
            self.kv_bool("mmp", true);
        }
        self.end()
    }

    /// `private/edit {order_id, amount, price, post_only[, reject_post_only: true]}`
    /// (dossier §5.3). With `post_only`, a crossing edit cancels the order
    /// (`cancel_reason: "edit_post_only_reject"`).
    pub fn edit(
        &mut self,
        id: u64,
        inst: &Instrument,
        order_id: &str,
        price: Ticks,
        qty: Lots,
        post_only: bool,
    ) -> &str {
        self.begin(id, "private/edit");
        self.kv_str("order_id", order_id);
        self.kv_amount(inst, qty);
        self.kv_price(inst, price);
        self.kv_bool("post_only", post_only);
        if post_only {
            self.kv_bool("reject_post_only", true);
        }
        self.end()
    }

    /// `private/cancel {order_id}` (dossier §5.4).
    pub fn cancel(&mut self, id: u64, order_id: &str) -> &str {
        self.begin(id, "private/cancel");
        self.kv_str("order_id", order_id);
        self.end()
    }

    /// `private/cancel_all {}` (reply: number of orders cancelled).
    pub fn cancel_all(&mut self, id: u64) -> &str {
        self.begin(id, "private/cancel_all");
        self.end()
    }

    /// `private/cancel_all_by_instrument {instrument_name}`.
    pub fn cancel_all_by_instrument(&mut self, id: u64, instrument_name: &str) -> &str {
        self.begin(id, "private/cancel_all_by_instrument");
        self.kv_str("instrument_name", instrument_name);
        self.end()
    }

    /// `private/enable_cancel_on_disconnect {scope: "connection"}` (dossier §3.2).
    pub fn enable_cancel_on_disconnect(&mut self, id: u64) -> &str {
        self.begin(id, "private/enable_cancel_on_disconnect");
        self.kv_str("scope", "connection");
        self.end()
    }

    /// `public/set_heartbeat {interval}` in seconds (the venue's minimum is 10, dossier §3.1).
    pub fn set_heartbeat(&mut self, id: u64, interval_s: u32) -> &str {
        self.begin(id, "public/set_heartbeat");
        self.kv_u64("interval", interval_s as u64);
        self.end()
    }

    /// `public/test {}` (the answer to a heartbeat `test_request`).
    pub fn test(&mut self, id: u64) -> &str {
        self.begin(id, "public/test");
        self.end()
    }

    /// `private/get_open_orders_by_currency {currency}` (reconciliation).
    pub fn get_open_orders_by_currency(&mut self, id: u64, currency: &str) -> &str {
        self.begin(id, "private/get_open_orders_by_currency");
        self.kv_str("currency", currency);
        self.end()
    }

    /// `private/get_user_trades_by_currency {currency, start_id?, count, sorting: "asc"}`
    /// (reconciliation: the fills from trade id `start_id` on, inclusive, oldest first;
    /// `count` 1–1000). Trade ids are strings on the venue (`"123"` for BTC, `"ETH-15"`).
    pub fn get_user_trades_by_currency(
        &mut self,
        id: u64,
        currency: &str,
        start_id: Option<&str>,
        count: u32,
    ) -> &str {
        self.begin(id, "private/get_user_trades_by_currency");
        self.kv_str("currency", currency);
        if let Some(s) = start_id {
            self.kv_str("start_id", s);
        }
        self.kv_u64("count", count as u64);
        self.kv_str("sorting", "asc");
        self.end()
    }

    /// `private/get_account_summary {currency}` (startup: the account's rate `limits`,
    /// dossier §8.1).
    pub fn get_account_summary(&mut self, id: u64, currency: &str) -> &str {
        self.begin(id, "private/get_account_summary");
        self.kv_str("currency", currency);
        self.end()
    }

    /// `private/get_positions {currency}` (reconciliation).
    pub fn get_positions(&mut self, id: u64, currency: &str) -> &str {
        self.begin(id, "private/get_positions");
        self.kv_str("currency", currency);
        self.end()
    }

    #[inline]
    fn kv_dec(&mut self, k: &str, v: Dec) {
        let mut t = [0u8; 48];
        let n = v.write_times(1, &mut t);
        self.key(k);
        self.push_ascii(t.get(..n).unwrap_or(b"0"));
    }

    /// `private/mass_quote` (dossier §5.6, approval required): `quote_id` (our counter, as a
    /// string), `mmp_group`, `detailed: true`, `valid_until` (ms since the epoch; the venue
    /// answers `13888 timed_out` and places nothing if its matching engine cannot start
    /// before it) and one `quotes[]` entry per [`QuoteEntry`] with nested `bid`/`ask`
    /// objects (`price` and `amount` as exact text; `amount: 0` cancels that side and
    /// carries no price). With `post_only`, every side gets `post_only: true,
    /// reject_post_only: true` (a crossing side is rejected with 11054, never repriced).
    /// The caller keeps a request within ≤ 100 bids + ≤ 100 asks of one index.
    #[allow(clippy::too_many_arguments)]
    pub fn mass_quote(
        &mut self,
        id: u64,
        quote_id: u64,
        mmp_group: &str,
        valid_until_ms: Option<u64>,
        post_only: bool,
        quotes: &[QuoteEntry<'_>],
    ) -> &str {
        self.begin(id, "private/mass_quote");
        self.kv_bool("detailed", true);
        self.key("quote_id");
        self.buf.push('"');
        self.push_u64(quote_id);
        self.buf.push('"');
        self.kv_str("mmp_group", mmp_group);
        if let Some(v) = valid_until_ms {
            self.kv_u64("valid_until", v);
        }
        self.key("quotes");
        self.buf.push('[');
        for (n, q) in quotes.iter().enumerate() {
            if n > 0 {
                self.buf.push(',');
            }
            self.buf.push('{');
            self.first = true;
            self.kv_str("instrument_name", &q.inst.name);
            self.kv_str("quote_set_id", q.quote_set_id);
            for (name, leg) in [("bid", q.bid), ("ask", q.ask)] {
                let Some(leg) = leg else { continue };
                self.key(name);
                self.buf.push('{');
                self.first = true;
                if leg.qty > 0 {
                    self.kv_price(q.inst, leg.price);
                    self.kv_amount(q.inst, leg.qty);
                    if post_only {
                        self.kv_bool("post_only", true);
                        self.kv_bool("reject_post_only", true);
                    }
                } else {
                    self.key("amount");
                    self.buf.push('0');
                }
                self.buf.push('}');
                self.first = false;
            }
            self.buf.push('}');
            self.first = false;
        }
        self.buf.push(']');
        self.first = false;
        self.end()
    }

    /// `private/cancel_quotes {cancel_type, <by>?, freeze_quotes}` (dossier §5.6, OpenAPI
    /// `private/cancel_quotes`): `cancel_type` is one of `all`, `instrument`,
    /// `quote_set_id`, `currency_pair`, …; `by` is the matching parameter for the type
    /// (`("instrument_name", "BTC-PERPETUAL")`, `("quote_set_id", "mmf")`, …). With
    /// `freeze_quotes` the venue rejects new quotes for 1 s (`13043 quotes_frozen`). The reply
    /// is the number of quotes cancelled.
    pub fn cancel_quotes(
        &mut self,
        id: u64,
        cancel_type: &str,
        by: Option<(&str, &str)>,
        freeze_quotes: bool,
    ) -> &str {
        self.begin(id, "private/cancel_quotes");
        self.kv_str("cancel_type", cancel_type);
        if let Some((k, v)) = by {
            self.kv_str(k, v);
        }
        if freeze_quotes {
            self.kv_bool("freeze_quotes", true);
        }
        self.end()
    }

    /// `private/set_mmp_config {index_name, mmp_group?, interval, frozen_time,
    /// quantity_limit?, delta_limit?}` (dossier §5.7). Omitted limits are *disabled* on the
    /// venue, not kept; `interval == 0` removes the configuration; `frozen_time == 0` means
    /// a trigger needs `private/reset_mmp`. Setting a configuration also resets MMP.
    pub fn set_mmp_config(&mut self, id: u64, cfg: &MmpConfig<'_>) -> &str {
        self.begin(id, "private/set_mmp_config");
        self.kv_str("index_name", cfg.index_name);
        if let Some(g) = cfg.mmp_group {
            self.kv_str("mmp_group", g);
        }
        self.kv_u64("interval", cfg.interval_s as u64);
        self.kv_u64("frozen_time", cfg.frozen_time_s as u64);
        if let Some(q) = cfg.quantity_limit {
            self.kv_dec("quantity_limit", q);
        }
        if let Some(d) = cfg.delta_limit {
            self.kv_dec("delta_limit", d);
        }
        self.end()
    }

    /// `private/get_mmp_config {index_name, mmp_group?}` (dossier §5.7).
    pub fn get_mmp_config(&mut self, id: u64, index_name: &str, mmp_group: Option<&str>) -> &str {
        self.begin(id, "private/get_mmp_config");
        self.kv_str("index_name", index_name);
        if let Some(g) = mmp_group {
            self.kv_str("mmp_group", g);
        }
        self.end()
    }

    /// `private/reset_mmp {index_name, mmp_group?}` (dossier §5.7): unfreezes the index's
    /// group (without a group: the plain-order MMP). Reply `"ok"`.
    pub fn reset_mmp(&mut self, id: u64, index_name: &str, mmp_group: Option<&str>) -> &str {
        self.begin(id, "private/reset_mmp");
        self.kv_str("index_name", index_name);
        if let Some(g) = mmp_group {
            self.kv_str("mmp_group", g);
        }
        self.end()
    }
}

/// One side of a mass quote: `price` in ticks, `qty` in lots (0 = cancel this side).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuoteLeg {
    /// Limit price, ticks (ignored when `qty == 0`).
    pub price: Ticks,
    /// Size, lots; 0 cancels the side's resting quote.
    pub qty: Lots,
}

/// One `quotes[]` entry of [`Encoder::mass_quote`]: an instrument and at least one side.
#[derive(Clone, Copy, Debug)]
pub struct QuoteEntry<'a> {
    /// The instrument.
    pub inst: &'a Instrument,
    /// `quote_set_id` (our tag for targeted `cancel_quotes`).
    pub quote_set_id: &'a str,
    /// The bid side, if quoted in this request.
    pub bid: Option<QuoteLeg>,
    /// The ask side, if quoted in this request.
    pub ask: Option<QuoteLeg>,
}

/// Parameters of [`Encoder::set_mmp_config`] (dossier §5.7). Limits are in the index's base
/// currency (BTC for `btc_usd`): `quantity_limit` = filled amount per `interval`,
/// `delta_limit` = |net delta| per `interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmpConfig<'a> {
    /// Index, e.g. `btc_usd` (see [`super::mass_quote::index_name`]).
    pub index_name: &'a str,
    /// MMP group (mass quotes); `None` = the plain-order MMP of the index.
    pub mmp_group: Option<&'a str>,
    /// Window, seconds (0 removes the configuration).
    pub interval_s: u32,
    /// Freeze after a trigger, seconds (0 = until `private/reset_mmp`).
    pub frozen_time_s: u32,
    /// Filled quantity limit per window, base currency (`None` = disabled).
    pub quantity_limit: Option<Dec>,
    /// Net delta limit per window, base currency (`None` = disabled); must be below
    /// `quantity_limit`.
    pub delta_limit: Option<Dec>,
}
