//! `public/get_instruments` shapes: from a recorded rest.capture and derived from a tape.

mod sim_util;

use mm_venues::sim::{Sim, SimConfig};
use serde_json::{json, Value};
use sim_util::*;

const FIELDS: [&str; 16] = [
    "instrument_name",
    "kind",
    "tick_size",
    "min_trade_amount",
    "contract_size",
    "base_currency",
    "quote_currency",
    "settlement_currency",
    "settlement_period",
    "expiration_timestamp",
    "maker_commission",
    "taker_commission",
    "instrument_type",
    "is_active",
    "creation_timestamp",
    "price_index",
];

fn instruments(path: std::path::PathBuf, params: Value) -> (Vec<Value>, usize) {
    let sim = Sim::start(SimConfig::new(path)).unwrap();
    let n = sim.instruments().len();
    let mut c = Client::connect(&sim.url());
    let r = c.call("public/get_instruments", params);
    assert_eq!(r["jsonrpc"], "2.0");
    assert_eq!(r["testnet"], false);
    (r["result"].as_array().unwrap().clone(), n)
}

#[test]
fn sim_from_rest_capture() {
    let (v, n) = instruments(tape_0417(), json!({"currency":"any"}));
    assert_eq!(v.len(), 10);
    assert_eq!(n, 10);
    for i in &v {
        for f in FIELDS {
            assert!(i.get(f).is_some(), "{f} missing in {i}");
        }
        assert_eq!(i["kind"], "option");
        assert_eq!(i["instrument_type"], "reversed");
        assert!(i["strike"].is_number() && i["option_type"].is_string());
    }
    let btc = v
        .iter()
        .find(|i| i["instrument_name"] == "BTC-30APR21-54000-C")
        .unwrap();
    // recorded element (rest.capture): tick 0.0005, min 0.1, contract 1, fees 0.0003
    assert_eq!(btc["tick_size"].as_f64(), Some(0.0005));
    assert_eq!(btc["min_trade_amount"].as_f64(), Some(0.1));
    assert_eq!(btc["contract_size"].as_f64(), Some(1.0));
    assert_eq!(btc["maker_commission"].as_f64(), Some(0.0003));
    assert_eq!(
        btc["expiration_timestamp"].as_u64(),
        Some(1_619_769_600_000)
    );
    assert_eq!(btc["settlement_period"], "month");
    assert_eq!(btc["option_type"], "call");
    assert_eq!(btc["strike"].as_f64(), Some(54000.0));
    let (eth, _) = instruments(tape_0417(), json!({"currency":"ETH","kind":"option"}));
    assert_eq!(eth.len(), 4);
    assert!(eth
        .iter()
        .all(|i| i["base_currency"] == "ETH" && i["min_trade_amount"].as_f64() == Some(1.0)));
    let (fut, _) = instruments(tape_0417(), json!({"currency":"BTC","kind":"future"}));
    assert!(fut.is_empty());
}

#[test]
fn sim_derived_from_tapes() {
    // 2021-04-05 has no rest.capture: options derived from their names
    let (v, _) = instruments(tape_0405(), json!({"currency":"ETH"}));
    assert_eq!(v.len(), 7);
    let o = v
        .iter()
        .find(|i| i["instrument_name"] == "ETH-9APR21-1950-C")
        .unwrap();
    assert_eq!(o["tick_size"].as_f64(), Some(0.0005));
    assert_eq!(o["min_trade_amount"].as_f64(), Some(1.0));
    assert_eq!(o["expiration_timestamp"].as_u64(), Some(1_617_955_200_000));
    assert_eq!(o["settlement_period"], "week");
    assert_eq!(o["strike"].as_f64(), Some(1950.0));
    let (b, _) = instruments(tape_0405(), json!({"currency":"BTC"}));
    let b = b
        .iter()
        .find(|i| i["instrument_name"] == "BTC-30APR21-20000-C")
        .unwrap();
    assert_eq!(b["min_trade_amount"].as_f64(), Some(0.1));
    assert_eq!(b["settlement_period"], "month");
    // tardis 2019 perpetual: tick derived from the recorded 0.25 grid
    let (p, _) = instruments(tape_tardis(), json!({"currency":"BTC","kind":"future"}));
    assert_eq!(p.len(), 1);
    let p = &p[0];
    assert_eq!(p["instrument_name"], "BTC-PERPETUAL");
    assert_eq!(p["tick_size"].as_f64(), Some(0.25));
    assert_eq!(p["min_trade_amount"].as_f64(), Some(10.0));
    assert_eq!(p["contract_size"].as_f64(), Some(10.0));
    assert_eq!(p["settlement_period"], "perpetual");
    assert_eq!(p["expiration_timestamp"].as_u64(), Some(32_503_708_800_000));
    assert_eq!(p["taker_commission"].as_f64(), Some(0.0005));
    assert_eq!(p["maker_commission"].as_f64(), Some(0.0));
    assert_eq!(p["quote_currency"], "USD");
    assert_eq!(p["settlement_currency"], "BTC");
    let (o, _) = instruments(tape_tardis(), json!({"currency":"BTC","kind":"option"}));
    assert!(o.is_empty());
}

#[test]
fn sim_handle_table_matches_served() {
    let sim = Sim::start(SimConfig::new(tape_tardis())).unwrap();
    let t = sim.instruments();
    let i = t.by_name("BTC-PERPETUAL").unwrap();
    assert_eq!(i.tick, mm_core::Dec::new(25, 2));
    assert_eq!(i.lot, mm_core::Dec::new(10, 0));
    assert!(sim.url().starts_with("ws://127.0.0.1:") && sim.url().ends_with("/ws/api/v2"));
}
