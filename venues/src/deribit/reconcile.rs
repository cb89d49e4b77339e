//! Reconciliation queries (dossier §5.5): what the venue holds for this account — open
//! orders, fills since a trade id, positions — fetched over a connected, authenticated order
//! socket with blocking JSON-RPC calls ([`rpc_blocking`]).
//!
//! Used after a reconnect (the session layer) and on start with a fill journal, never on the
//! hot path: replies are parsed with serde_json. Fills come back as the venue's raw
//! `user_trade` JSON array so that the caller turns them into fills with exactly the code that
//! handles `user.trades` notifications ([`crate::deribit::gateway::OrderSession::on_trades`]),
//! deduplicated by `trade_id`.

use crate::deribit::encode::Encoder;
use crate::deribit::feed::rpc_blocking;
use mm_core::types::Side;
use mm_io::WsClient;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::time::Duration;

/// How long one reconciliation request may take before the step fails.
pub const RECONCILE_TIMEOUT: Duration = Duration::from_secs(10);

/// Trades fetched per `private/get_user_trades_by_currency` page (the venue's maximum).
pub const TRADES_PAGE: u32 = 1000;

/// One open order as the venue reports it (`private/get_open_orders_by_currency`).
#[derive(Clone, Debug, PartialEq)]
pub struct VenueOrder {
    /// Venue order id.
    pub order_id: String,
    /// Order label (`mmf-<client id>` for ours, anything else for foreign orders).
    pub label: String,
    /// Instrument name.
    pub instrument: String,
    /// Bid (`buy`) or ask (`sell`).
    pub side: Side,
    /// Limit price, quote currency.
    pub price: f64,
    /// Order size, venue amount unit (USD for inverse futures, coin otherwise; dossier §6.2).
    pub amount: f64,
    /// Filled size, same unit.
    pub filled: f64,
}

/// One position as the venue reports it (`private/get_positions`).
#[derive(Clone, Debug, PartialEq)]
pub struct VenuePosition {
    /// Instrument name.
    pub instrument: String,
    /// Signed size in the venue amount unit: + long, − short (`direction` applied).
    pub size: f64,
}

#[derive(Deserialize)]
struct Reply<T> {
    result: T,
}

#[derive(Deserialize)]
struct OrderRow {
    order_id: String,
    #[serde(default)]
    label: String,
    instrument_name: String,
    direction: String,
    #[serde(default)]
    price: Option<f64>,
    amount: f64,
    #[serde(default)]
    filled_amount: f64,
}

#[derive(Deserialize)]
struct PositionRow {
    instrument_name: String,
    #[serde(default)]
    direction: String,
    size: f64,
}

#[derive(Deserialize)]
struct TradesPage<'a> {
    #[serde(borrow)]
    trades: &'a RawValue,
    #[serde(default)]
    has_more: bool,
}

#[derive(Deserialize)]
struct TradeId {
    trade_id: String,
}

fn side_of(direction: &str) -> Result<Side, String> {
    match direction {
        "buy" => Ok(Side::Bid),
        "sell" => Ok(Side::Ask),
        d => Err(format!("unknown direction {d:?}")),
    }
}

/// The account's open orders in `currency` (`private/get_open_orders_by_currency`), request
/// id `*next_id` (incremented).
///
/// # Errors
/// Socket errors, a venue error reply, no reply within [`RECONCILE_TIMEOUT`], or a reply that
/// does not parse (the message says which).
pub fn fetch_open_orders(
    ws: &mut WsClient,
    enc: &mut Encoder,
    next_id: &mut u64,
    currency: &str,
) -> Result<Vec<VenueOrder>, String> {
    let id = bump(next_id);
    let f = enc.get_open_orders_by_currency(id, currency).to_string();
    let raw = call(ws, &f, id, "private/get_open_orders_by_currency", currency)?;
    let r: Reply<Vec<OrderRow>> = parse(&raw, "get_open_orders_by_currency reply")?;
    r.result
        .into_iter()
        .map(|o| {
            Ok(VenueOrder {
                side: side_of(&o.direction)?,
                order_id: o.order_id,
                label: o.label,
                instrument: o.instrument_name,
                price: o.price.unwrap_or(0.0),
                amount: o.amount,
                filled: o.filled_amount,
            })
        })
        .collect()
}

/// The account's positions in `currency` (`private/get_positions`), request id `*next_id`
/// (incremented). Flat positions may be listed with size 0.
///
/// # Errors
/// As [`fetch_open_orders`].
pub fn fetch_positions(
    ws: &mut WsClient,
    enc: &mut Encoder,
    next_id: &mut u64,
    currency: &str,
) -> Result<Vec<VenuePosition>, String> {
    let id = bump(next_id);
    let f = enc.get_positions(id, currency).to_string();
    let raw = call(ws, &f, id, "private/get_positions", currency)?;
    let r: Reply<Vec<PositionRow>> = parse(&raw, "get_positions reply")?;
    Ok(r.result
        .into_iter()
        .map(|p| VenuePosition {
            // `size` is signed on the venue; `direction` confirms it (zero → 0).
            size: if p.direction == "sell" {
                -p.size.abs()
            } else if p.direction == "buy" {
                p.size.abs()
            } else {
                p.size
            },
            instrument: p.instrument_name,
        })
        .collect())
}

/// The account's fills in `currency` from trade id `start_id` on (inclusive; `None` = from
/// the first), oldest first, page by page (`private/get_user_trades_by_currency`, sorting
/// `asc`, [`TRADES_PAGE`] per page). Each page's `trades` array (raw `user_trade` JSON, as on
/// `user.trades`) is passed to `each`. Request ids from `*next_id` (incremented per page).
/// Returns the last trade id seen (`None` if there was no trade).
///
/// # Errors
/// As [`fetch_open_orders`]; also a page that ends on the trade id it started from (no
/// progress) while the venue says `has_more`.
pub fn fetch_trades_since(
    ws: &mut WsClient,
    enc: &mut Encoder,
    next_id: &mut u64,
    currency: &str,
    start_id: Option<&str>,
    mut each: impl FnMut(&[u8]),
) -> Result<Option<String>, String> {
    let mut from: Option<String> = start_id.map(str::to_string);
    let mut last: Option<String> = None;
    loop {
        let id = bump(next_id);
        let f = enc
            .get_user_trades_by_currency(id, currency, from.as_deref(), TRADES_PAGE)
            .to_string();
        let raw = call(ws, &f, id, "private/get_user_trades_by_currency", currency)?;
        let (r, ids) = trades_page(&raw)?;
        each(r.trades.get().as_bytes());
        let page_last = ids.last().map(|t| t.trade_id.clone());
        if page_last.is_some() {
            last = page_last.clone();
        }
        if !r.has_more {
            return Ok(last);
        }
        // Inclusive start: the next page starts at this page's last id (deduplicated by the
        // caller); it must move on.
        if page_last.is_none() || page_last == from {
            return Err(format!(
                "get_user_trades_by_currency {currency}: has_more without progress at {from:?}"
            ));
        }
        from = page_last;
    }
}

/// The account's newest trade id in `currency` (`private/get_user_trades_by_currency`,
/// `sorting: desc`, `count: 1`), `None` without trades: where a session without a fill journal
/// starts reading fills, so that older history (a previous run's fills) is never replayed.
///
/// # Errors
/// As [`fetch_open_orders`].
pub fn fetch_newest_trade_id(
    ws: &mut WsClient,
    next_id: &mut u64,
    currency: &str,
) -> Result<Option<String>, String> {
    let id = bump(next_id);
    let f = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "private/get_user_trades_by_currency",
        "params": {"currency": currency, "sorting": "desc", "count": 1},
    })
    .to_string();
    let raw = call(ws, &f, id, "private/get_user_trades_by_currency", currency)?;
    let (_, ids) = trades_page(&raw)?;
    Ok(ids
        .into_iter()
        .map(|t| t.trade_id)
        .max_by_key(|id| trade_num(id)))
}

/// The number in a venue trade id (`"123"`, `"ETH-15"` → 15; 0 if none), for ordering.
pub fn trade_num(id: &str) -> u64 {
    id.rsplit('-')
        .next()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0)
}

/// One blocking request `frame` (id `id`) of `method` for `currency`; errors name both.
fn call(
    ws: &mut WsClient,
    frame: &str,
    id: u64,
    method: &str,
    currency: &str,
) -> Result<Vec<u8>, String> {
    rpc_blocking(ws, frame, id, RECONCILE_TIMEOUT, |_| {})
        .map_err(|e| format!("{method} {currency}: {e}"))
}

/// A reply parsed as `T`; errors name `what`.
fn parse<'a, T: Deserialize<'a>>(raw: &'a [u8], what: &str) -> Result<T, String> {
    serde_json::from_slice(raw).map_err(|e| format!("{what}: {e}"))
}

/// A `get_user_trades_by_currency` reply and the ids of its trades, in page order.
fn trades_page(raw: &[u8]) -> Result<(TradesPage<'_>, Vec<TradeId>), String> {
    let r: Reply<TradesPage<'_>> = parse(raw, "get_user_trades_by_currency reply")?;
    let ids: Vec<TradeId> = serde_json::from_str(r.result.trades.get())
        .map_err(|e| format!("get_user_trades_by_currency trades: {e}"))?;
    Ok((r.result, ids))
}

fn bump(next_id: &mut u64) -> u64 {
    let id = *next_id;
    *next_id += 1;
    id
}
