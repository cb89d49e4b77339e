//! Fuzz target: the Deribit order-connection decoder (`decode_private`,
//! venues/src/deribit/private.rs) on arbitrary frames, walking every lazy list it exposes.
//! Invariant: no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mm_venues::deribit::private::{decode_private, parse_label, PrivateMsg, RpcResult};

fuzz_target!(|data: &[u8]| {
    let Ok(m) = decode_private(data) else { return };
    match m {
        PrivateMsg::RpcOk {
            result: RpcResult::Order { order, trades },
            ..
        } => {
            let _ = parse_label(order.label);
            for t in trades.iter() {
                let _ = t.map(|t| (t.price.to_f64(), t.fee.to_f64(), parse_label(t.label)));
            }
        }
        PrivateMsg::Trades(trades) => {
            for t in trades.iter() {
                let _ = t.map(|t| (t.price.to_f64(), t.amount.to_f64(), parse_label(t.label)));
            }
        }
        PrivateMsg::RpcOk {
            result: RpcResult::Channels(c),
            ..
        } => c.iter().for_each(drop),
        PrivateMsg::OrderList(o) => o.iter().for_each(drop),
        PrivateMsg::Changes { orders, trades } => {
            orders.iter().for_each(drop);
            trades.iter().for_each(drop);
        }
        PrivateMsg::Orders(o) => {
            let _ = parse_label(o.label);
        }
        _ => {}
    }
});
