//! Peer decoders for the decode comparison: serde_json, simd-json and sonic-rs, all three
//! driving the *same* typed serde visitors, so the only difference is the JSON parser.
//!
//! # What every decoder extracts (the fairness contract)
//!
//! | frame | our decoder (`MdDecoder` / `decode_private`) | peers ([`FrameSeed`]) |
//! |---|---|---|
//! | all | whole frame validated; `method`; `params.channel` split and the instrument name resolved to its id (hash lookup) | whole frame parsed; `method`; `params.channel` split (instrument name length kept, **not** resolved) |
//! | `book.*` | `type`, `timestamp`, `prev_change_id`, `change_id`; per row action, price → exact integer ticks (rejects off-grid), amount → lots; `change_id` chain checked | same fields; per row action `&str`, price and amount as `f64` (no tick conversion, no chain check) |
//! | `ticker.*` | `timestamp`, `mark_price` → ticks, `index_price` → 1e-4 USD | `timestamp`, `mark_price`, `index_price` as `Option<f64>` |
//! | `trades.*` | per trade `price` → ticks, `amount` → lots, `direction`, `trade_seq`, `timestamp` | same fields, numbers as `f64`/`u64` |
//! | `user.*` | per order `order_id`, `label`, `instrument_name`, `direction`, `price`, `amount`, `filled_amount`, `average_price`, `order_state`, `cancel_reason`, `post_only`, `reduce_only`, `last_update_timestamp` (decimals exact); per user trade `trade_id`, `order_id`, `label`, `instrument_name`, `direction`, `price`, `amount`, `fee`, `fee_currency`, `liquidity`, `timestamp`, `trade_seq` | same fields; strings borrowed (`&str`), numbers `f64` |
//!
//! Rows go to a reused scratch vector ([`Extracted::rows`], like our decoder's scratch), so
//! after warm-up no peer allocates per frame except where its parser does internally. Peers
//! therefore do *less* than ours (no exact decimals, no name lookup, no sequence check): the
//! comparison favours them.
//!
//! Parser specifics:
//! - serde_json: `Deserializer::from_slice` on the frame (borrowed strings, zero copy).
//! - simd-json: parses in place and needs `&mut [u8]`, so each decode first copies the frame
//!   into a reused buffer (included in its time: a real feed handler would hand it the
//!   receive buffer, which it may then overwrite); `Deserializer::from_slice_with_buffers`
//!   with reused `Buffers` (no per-call scratch allocations). Runtime CPU detection (AVX2).
//! - sonic-rs: `Deserializer::from_slice` (borrowed). Its SIMD paths are chosen at compile time
//!   (`target_feature`), so without `-C target-cpu=native` it runs its SSE2/scalar paths; the
//!   README reports both builds.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// One extracted row: a book level, a trade, a ticker, an order or a user trade.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Row {
    /// 0 = bid/buy, 1 = ask/sell.
    pub side: u8,
    /// Book action (1 new, 2 change, 3 delete) or order state code; 0 otherwise.
    pub code: u8,
    /// Price (mark price for a ticker).
    pub price: f64,
    /// Amount (index price for a ticker).
    pub amount: f64,
    /// Trade sequence / timestamp, where the frame has one.
    pub seq: u64,
}

/// Everything a peer extracts from one frame (reused across frames).
#[derive(Clone, Debug, Default)]
pub struct Extracted {
    /// True for a book snapshot.
    pub snapshot: bool,
    /// Book `change_id`.
    pub change_id: u64,
    /// Book `prev_change_id` (0 if absent or null).
    pub prev_change_id: u64,
    /// Exchange timestamp (ms).
    pub timestamp: u64,
    /// Sum of the lengths of the strings extracted (instrument name, ids, labels…), so the
    /// optimiser cannot drop them.
    pub str_bytes: u64,
    /// Rows in frame order.
    pub rows: Vec<Row>,
}

impl Extracted {
    /// A scratch with room for `cap` rows.
    pub fn with_capacity(cap: usize) -> Self {
        Extracted {
            rows: Vec::with_capacity(cap),
            ..Default::default()
        }
    }

    fn reset(&mut self) {
        self.snapshot = false;
        self.change_id = 0;
        self.prev_change_id = 0;
        self.timestamp = 0;
        self.str_bytes = 0;
        self.rows.clear();
    }

    /// A cheap fold over everything extracted (fed to `black_box` by the benches).
    #[inline]
    pub fn fold(&self) -> u64 {
        let mut acc = self.change_id ^ self.prev_change_id ^ self.timestamp ^ self.str_bytes;
        for r in &self.rows {
            acc = acc.wrapping_mul(31).wrapping_add(
                r.price.to_bits() ^ r.amount.to_bits() ^ r.seq ^ r.code as u64 ^ r.side as u64,
            );
        }
        acc
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chan {
    Book,
    Ticker,
    Trades { multi: bool },
    UserOrders,
    UserChanges,
    UserTrades,
    Other,
}

fn chan_of(ch: &str, out: &mut Extracted) -> Chan {
    let mut parts = ch.split('.');
    let head = parts.next().unwrap_or("");
    let second = parts.next().unwrap_or("");
    let n = 2 + parts.count();
    match head {
        "book" | "ticker" | "trades" => {
            out.str_bytes += second.len() as u64;
            match (head, n) {
                ("book", _) => Chan::Book,
                ("ticker", _) => Chan::Ticker,
                (_, 4) => Chan::Trades { multi: true },
                _ => Chan::Trades { multi: false },
            }
        }
        "user" => match second {
            "orders" => Chan::UserOrders,
            "changes" => Chan::UserChanges,
            "trades" => Chan::UserTrades,
            _ => Chan::Other,
        },
        _ => Chan::Other,
    }
}

/// Decodes a whole Deribit frame into an [`Extracted`] (cleared first).
pub struct FrameSeed<'a>(pub &'a mut Extracted);

impl<'de> DeserializeSeed<'de> for FrameSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.0.reset();
        d.deserialize_map(FrameV(self.0))
    }
}

struct FrameV<'a>(&'a mut Extracted);

impl<'de> Visitor<'de> for FrameV<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Deribit notification")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        let mut subscription = false;
        while let Some(k) = m.next_key::<&'de str>()? {
            match k {
                "method" => subscription = m.next_value::<&'de str>()? == "subscription",
                "params" if subscription => m.next_value_seed(ParamsSeed(&mut *self.0))?,
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct ParamsSeed<'a>(&'a mut Extracted);

impl<'de> DeserializeSeed<'de> for ParamsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(ParamsV(self.0))
    }
}

struct ParamsV<'a>(&'a mut Extracted);

impl<'de> Visitor<'de> for ParamsV<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("notification params")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        let out = self.0;
        let mut chan: Option<Chan> = None;
        while let Some(k) = m.next_key::<&'de str>()? {
            match k {
                "channel" => {
                    let ch = m.next_value::<&'de str>()?;
                    chan = Some(chan_of(ch, out));
                }
                "data" => match chan {
                    // Deribit always sends `channel` before `data`.
                    None => return Err(de::Error::custom("data before channel")),
                    Some(Chan::Book) => m.next_value_seed(Seed(out, MapKind::Book))?,
                    Some(Chan::Ticker) => m.next_value_seed(Seed(out, MapKind::Ticker))?,
                    Some(Chan::Trades { multi }) => {
                        m.next_value_seed(ListSeed(out, MapKind::Trade { multi }))?
                    }
                    Some(Chan::UserOrders) => m.next_value_seed(OneOrMany(out, MapKind::Order))?,
                    Some(Chan::UserTrades) => {
                        m.next_value_seed(ListSeed(out, MapKind::UserTrade))?
                    }
                    Some(Chan::UserChanges) => m.next_value_seed(Seed(out, MapKind::Changes))?,
                    Some(Chan::Other) => {
                        m.next_value::<IgnoredAny>()?;
                    }
                },
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Which object a [`Seed`] decodes.
#[derive(Clone, Copy, Debug)]
enum MapKind {
    Book,
    Ticker,
    Trade { multi: bool },
    Order,
    UserTrade,
    Changes,
}

/// Decodes one object of kind `.1`.
struct Seed<'a>(&'a mut Extracted, MapKind);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(ObjV(self.0, self.1))
    }
}

/// Decodes an array of objects of kind `.1`.
struct ListSeed<'a>(&'a mut Extracted, MapKind);

impl<'de> DeserializeSeed<'de> for ListSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(ListV(self.0, self.1))
    }
}

struct ListV<'a>(&'a mut Extracted, MapKind);

impl<'de> Visitor<'de> for ListV<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
        while s.next_element_seed(Seed(&mut *self.0, self.1))?.is_some() {}
        Ok(())
    }
}

/// An object or an array of objects (`user.orders.*.raw` vs `.100ms`).
struct OneOrMany<'a>(&'a mut Extracted, MapKind);

impl<'de> DeserializeSeed<'de> for OneOrMany<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(OneOrManyV(self.0, self.1))
    }
}

struct OneOrManyV<'a>(&'a mut Extracted, MapKind);

impl<'de> Visitor<'de> for OneOrManyV<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object or an array of objects")
    }
    fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<(), A::Error> {
        ObjV(self.0, self.1).visit_map(m)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, s: A) -> Result<(), A::Error> {
        ListV(self.0, self.1).visit_seq(s)
    }
}

/// Book rows `[[action, price, amount], …]` of one side.
struct RowsSeed<'a>(&'a mut Extracted, u8);

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(RowsV(self.0, self.1))
    }
}

struct RowsV<'a>(&'a mut Extracted, u8);

impl<'de> Visitor<'de> for RowsV<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("book rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
        while let Some((action, price, amount)) = s.next_element::<(&'de str, f64, f64)>()? {
            let code = match action {
                "new" => 1,
                "change" => 2,
                "delete" => 3,
                _ => return Err(de::Error::custom("unknown book action")),
            };
            self.0.rows.push(Row {
                side: self.1,
                code,
                price,
                amount,
                seq: 0,
            });
        }
        Ok(())
    }
}

/// A price that may be the string `"market_price"` (orders).
struct Price(f64);

impl<'de> de::Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Price, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Price;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a price")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Price, E> {
                Ok(Price(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Price, E> {
                Ok(Price(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Price, E> {
                Ok(Price(v as f64))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Price, E> {
                Ok(Price(f64::NAN))
            }
        }
        d.deserialize_any(V)
    }
}

fn side_code<E: de::Error>(dir: &str) -> Result<u8, E> {
    match dir {
        "buy" => Ok(0),
        "sell" => Ok(1),
        _ => Err(E::custom("direction is neither buy nor sell")),
    }
}

fn state_code(s: &str) -> u8 {
    match s {
        "open" => 1,
        "filled" => 2,
        "rejected" => 3,
        "cancelled" => 4,
        "untriggered" => 5,
        "triggered" => 6,
        _ => 0,
    }
}

struct ObjV<'a>(&'a mut Extracted, MapKind);

impl<'de> Visitor<'de> for ObjV<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Deribit data object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        let out = self.0;
        macro_rules! ignore {
            () => {{
                m.next_value::<IgnoredAny>()?;
            }};
        }
        macro_rules! string {
            () => {{
                let s = m.next_value::<&'de str>()?;
                out.str_bytes += s.len() as u64;
                s
            }};
        }
        match self.1 {
            MapKind::Book => {
                while let Some(k) = m.next_key::<&'de str>()? {
                    match k {
                        "type" => out.snapshot = m.next_value::<&'de str>()? == "snapshot",
                        "timestamp" => out.timestamp = m.next_value()?,
                        "prev_change_id" => {
                            out.prev_change_id = m.next_value::<Option<u64>>()?.unwrap_or(0)
                        }
                        "change_id" => out.change_id = m.next_value()?,
                        "bids" => m.next_value_seed(RowsSeed(&mut *out, 0))?,
                        "asks" => m.next_value_seed(RowsSeed(&mut *out, 1))?,
                        _ => ignore!(),
                    }
                }
                if out.prev_change_id == 0 {
                    out.snapshot = true;
                }
            }
            MapKind::Ticker => {
                let mut mark: Option<f64> = None;
                let mut index: Option<f64> = None;
                while let Some(k) = m.next_key::<&'de str>()? {
                    match k {
                        "timestamp" => out.timestamp = m.next_value()?,
                        "mark_price" => mark = m.next_value()?,
                        "index_price" => index = m.next_value()?,
                        _ => ignore!(),
                    }
                }
                if let Some(p) = mark {
                    out.rows.push(Row {
                        price: p,
                        amount: index.unwrap_or(0.0),
                        ..Default::default()
                    });
                }
            }
            MapKind::Trade { multi } => {
                let mut r = Row::default();
                while let Some(k) = m.next_key::<&'de str>()? {
                    match k {
                        "price" => r.price = m.next_value()?,
                        "amount" => r.amount = m.next_value()?,
                        "direction" => r.side = side_code(m.next_value::<&'de str>()?)?,
                        "trade_seq" => r.seq = m.next_value()?,
                        "timestamp" => out.timestamp = m.next_value()?,
                        "instrument_name" if multi => {
                            string!();
                        }
                        _ => ignore!(),
                    }
                }
                out.rows.push(r);
            }
            MapKind::Order => {
                let mut r = Row::default();
                while let Some(k) = m.next_key::<&'de str>()? {
                    match k {
                        "order_id" | "label" | "instrument_name" | "cancel_reason" => {
                            string!();
                        }
                        "direction" => r.side = side_code(m.next_value::<&'de str>()?)?,
                        "price" => r.price = m.next_value::<Price>()?.0,
                        "amount" => r.amount = m.next_value()?,
                        "filled_amount" | "average_price" => {
                            let v: f64 = m.next_value()?;
                            r.seq ^= v.to_bits();
                        }
                        "order_state" => r.code = state_code(m.next_value::<&'de str>()?),
                        "post_only" | "reduce_only" => {
                            let b: bool = m.next_value()?;
                            r.code ^= (b as u8) << 4;
                        }
                        "last_update_timestamp" => out.timestamp = m.next_value()?,
                        _ => ignore!(),
                    }
                }
                out.rows.push(r);
            }
            MapKind::UserTrade => {
                let mut r = Row::default();
                while let Some(k) = m.next_key::<&'de str>()? {
                    match k {
                        "trade_id" | "order_id" | "label" | "instrument_name" | "fee_currency" => {
                            string!();
                        }
                        "direction" => r.side = side_code(m.next_value::<&'de str>()?)?,
                        "price" => r.price = m.next_value()?,
                        "amount" => r.amount = m.next_value()?,
                        "fee" => {
                            let v: f64 = m.next_value()?;
                            r.seq ^= v.to_bits();
                        }
                        "liquidity" => r.code = (m.next_value::<&'de str>()? == "M") as u8,
                        "timestamp" => out.timestamp = m.next_value()?,
                        "trade_seq" => r.seq ^= m.next_value::<u64>()?,
                        _ => ignore!(),
                    }
                }
                out.rows.push(r);
            }
            MapKind::Changes => {
                while let Some(k) = m.next_key::<&'de str>()? {
                    match k {
                        "orders" => m.next_value_seed(ListSeed(&mut *out, MapKind::Order))?,
                        "trades" => m.next_value_seed(ListSeed(&mut *out, MapKind::UserTrade))?,
                        _ => ignore!(),
                    }
                }
            }
        }
        Ok(())
    }
}

/// serde_json on the frame as is (borrowed).
#[derive(Debug, Default)]
pub struct SerdeJson {
    /// What the last frame held.
    pub out: Extracted,
}

impl SerdeJson {
    /// A decoder with room for `rows` rows per frame.
    pub fn new(rows: usize) -> Self {
        SerdeJson {
            out: Extracted::with_capacity(rows),
        }
    }

    /// Decodes one frame.
    ///
    /// # Errors
    /// Malformed JSON or a field of the wrong type.
    #[inline]
    pub fn decode(&mut self, frame: &[u8]) -> Result<&Extracted, String> {
        let mut de = serde_json::Deserializer::from_slice(frame);
        FrameSeed(&mut self.out)
            .deserialize(&mut de)
            .map_err(|e| e.to_string())?;
        de.end().map_err(|e| e.to_string())?;
        Ok(&self.out)
    }
}

/// simd-json with a reused input copy and reused parser buffers.
pub struct SimdJson {
    buf: Vec<u8>,
    buffers: simd_json::Buffers,
    /// What the last frame held.
    pub out: Extracted,
}

impl SimdJson {
    /// A decoder for frames up to `max_len` bytes (grows if needed) and `rows` rows.
    pub fn new(max_len: usize, rows: usize) -> Self {
        SimdJson {
            buf: Vec::with_capacity(max_len),
            buffers: simd_json::Buffers::new(max_len),
            out: Extracted::with_capacity(rows),
        }
    }

    /// Copies the frame into the reused buffer (simd-json parses in place) and decodes it.
    ///
    /// # Errors
    /// Malformed JSON or a field of the wrong type.
    #[inline]
    pub fn decode(&mut self, frame: &[u8]) -> Result<&Extracted, String> {
        self.buf.clear();
        self.buf.extend_from_slice(frame);
        let mut de =
            simd_json::Deserializer::from_slice_with_buffers(&mut self.buf, &mut self.buffers)
                .map_err(|e| e.to_string())?;
        FrameSeed(&mut self.out)
            .deserialize(&mut de)
            .map_err(|e| e.to_string())?;
        Ok(&self.out)
    }
}

/// sonic-rs on the frame as is (borrowed).
#[derive(Debug, Default)]
pub struct SonicRs {
    /// What the last frame held.
    pub out: Extracted,
}

impl SonicRs {
    /// A decoder with room for `rows` rows per frame.
    pub fn new(rows: usize) -> Self {
        SonicRs {
            out: Extracted::with_capacity(rows),
        }
    }

    /// Decodes one frame.
    ///
    /// # Errors
    /// Malformed JSON or a field of the wrong type.
    #[inline]
    pub fn decode(&mut self, frame: &[u8]) -> Result<&Extracted, String> {
        let mut de = sonic_rs::Deserializer::from_slice(frame);
        FrameSeed(&mut self.out)
            .deserialize(&mut de)
            .map_err(|e| e.to_string())?;
        de.end().map_err(|e| e.to_string())?;
        Ok(&self.out)
    }
}
