//! The decode workload: every real Deribit frame by kind, and our decoders behind one call.
//!
//! Inputs ([`Corpus`]): the notification frames (book, ticker) of every cryptofeed capture,
//! the real `trades.*` messages ([`deribit::message_trades`]; the captures hold no trades),
//! and the private `user.*` notifications. JSON-RPC replies and other channels are
//! left out so every decoder (ours and the peers) gets exactly the same frames.

use crate::deribit::{self, FrameKind, Tape};
use mm_core::event::{MdEvent, MdKind};
use mm_venues::deribit::md::MdDecoder;
use mm_venues::deribit::private::{decode_private, OrderView, PrivateMsg, TradeView};
use std::sync::Arc;

/// Tape index used for private frames (they need no instrument table).
pub const USER: usize = usize::MAX;

/// The kinds compared, in report order.
pub const KINDS: [FrameKind; 4] = [
    FrameKind::Book,
    FrameKind::Ticker,
    FrameKind::Trades,
    FrameKind::User,
];

/// All frames of the decode comparison.
#[derive(Clone, Debug)]
pub struct Corpus {
    /// The cryptofeed tapes, then the real trades messages.
    pub tapes: Vec<Tape>,
    /// Private notifications.
    pub user: Vec<Vec<u8>>,
}

impl Corpus {
    /// Loads every cryptofeed capture and the private notifications.
    ///
    /// # Panics
    /// If the data is missing.
    pub fn load() -> Corpus {
        Corpus {
            tapes: {
                let mut t = deribit::cryptofeed_tapes();
                t.push(deribit::message_trades());
                t
            },
            user: deribit::user_frames(),
        }
    }

    /// `(tape index, frame)` of one kind, in tape order ([`USER`] for private frames).
    pub fn frames(&self, k: FrameKind) -> Vec<(usize, &[u8])> {
        if k == FrameKind::User {
            return self.user.iter().map(|f| (USER, &f[..])).collect();
        }
        self.tapes
            .iter()
            .enumerate()
            .flat_map(|(i, t)| t.of_kind(k).map(move |f| (i, &f.bytes[..])))
            .collect()
    }

    /// Every frame of [`KINDS`], tape by tape in file order, then the private ones.
    pub fn all(&self) -> Vec<(usize, &[u8])> {
        let mut v: Vec<(usize, &[u8])> = self
            .tapes
            .iter()
            .enumerate()
            .flat_map(|(i, t)| {
                t.frames
                    .iter()
                    .filter(|f| KINDS.contains(&f.kind))
                    .map(move |f| (i, &f.bytes[..]))
            })
            .collect();
        v.extend(self.frames(FrameKind::User));
        v
    }
}

#[inline]
fn fold_ev(acc: u64, e: &MdEvent) -> u64 {
    acc.wrapping_mul(31)
        .wrapping_add((e.price ^ e.qty) as u64 ^ e.seq ^ e.kind as u64 ^ e.side as u64)
}

#[inline]
fn fold_order(acc: u64, o: &OrderView<'_>) -> u64 {
    acc.wrapping_mul(31).wrapping_add(
        (o.price.map_or(0, |p| p.mant)
            ^ o.amount.mant
            ^ o.filled_amount.mant
            ^ o.average_price.mant) as u64
            ^ o.last_update_ms
            ^ (o.order_id.len() + o.label.len() + o.instrument_name.len() + o.cancel_reason.len())
                as u64
            ^ o.state as u64
            ^ o.side as u64
            ^ o.post_only as u64
            ^ o.reduce_only as u64,
    )
}

#[inline]
fn fold_trade(acc: u64, t: &TradeView<'_>) -> u64 {
    acc.wrapping_mul(31).wrapping_add(
        (t.price.mant ^ t.amount.mant ^ t.fee.mant) as u64
            ^ t.timestamp_ms
            ^ t.trade_seq
            ^ (t.trade_id.len()
                + t.order_id.len()
                + t.label.len()
                + t.instrument_name.len()
                + t.fee_currency.len()) as u64
            ^ t.side as u64
            ^ t.maker as u64,
    )
}

/// Our decoders: one [`MdDecoder`] per tape, [`decode_private`] for private frames.
#[derive(Debug)]
pub struct Ours {
    decs: Vec<MdDecoder>,
    /// Per tape: a frame was decoded since the last [`Ours::reset`].
    used: Vec<bool>,
    /// Rows (levels, trades, marks, orders, user trades) of the last frame.
    pub rows: usize,
}

impl Ours {
    /// Decoders for the tapes of `c`.
    pub fn new(c: &Corpus) -> Ours {
        Ours {
            decs: c
                .tapes
                .iter()
                .map(|t| MdDecoder::new(Arc::clone(&t.table)))
                .collect(),
            used: vec![false; c.tapes.len()],
            rows: 0,
        }
    }

    /// Forgets the sequence state of every book of the tapes decoded since the last reset
    /// (call before replaying the frames again: the snapshots at the start of each tape then
    /// re-establish every chain). Tapes not decoded since are left alone, so a reset between
    /// batches of private frames (the criterion bench resets inside its timed loop) costs
    /// nothing the peers do not pay.
    pub fn reset(&mut self) {
        for (d, used) in self.decs.iter_mut().zip(&mut self.used) {
            if std::mem::take(used) {
                d.on_disconnect();
            }
        }
    }

    /// Gaps and errors seen so far, over all tapes (both must stay 0 on these tapes).
    pub fn gaps_and_errors(&self) -> (u64, u64) {
        self.decs
            .iter()
            .map(|d| d.stats())
            .fold((0, 0), |(g, e), s| (g + s.gaps, e + s.errors))
    }

    /// Decodes one frame; returns a fold of everything extracted.
    #[inline]
    pub fn decode(&mut self, tape: usize, frame: &[u8]) -> u64 {
        let mut acc = 0u64;
        let mut rows = 0usize;
        if tape == USER {
            match decode_private(frame) {
                Ok(PrivateMsg::Orders(o)) => {
                    acc = fold_order(acc, &o);
                    rows = 1;
                }
                Ok(PrivateMsg::OrderList(l)) => {
                    for o in l.iter().flatten() {
                        acc = fold_order(acc, &o);
                        rows += 1;
                    }
                }
                Ok(PrivateMsg::Trades(t)) => {
                    for t in t.iter().flatten() {
                        acc = fold_trade(acc, &t);
                        rows += 1;
                    }
                }
                Ok(PrivateMsg::Changes { orders, trades }) => {
                    for o in orders.iter().flatten() {
                        acc = fold_order(acc, &o);
                        rows += 1;
                    }
                    for t in trades.iter().flatten() {
                        acc = fold_trade(acc, &t);
                        rows += 1;
                    }
                }
                Ok(_) => {}
                Err(_) => acc = u64::MAX,
            }
        } else {
            if let Some(u) = self.used.get_mut(tape) {
                *u = true;
            }
            let _ = self.decs[tape].decode(frame, 1, &mut |e| {
                acc = fold_ev(acc, &e);
                rows += matches!(e.kind, MdKind::Level | MdKind::Trade | MdKind::Mark) as usize;
            });
        }
        self.rows = rows;
        acc
    }
}
