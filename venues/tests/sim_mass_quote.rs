//! Mass quotes and market-maker protection in the simulator over real loopback sockets
//! (dossier §5.6, §5.7, checklist §10 items 17–18), on the tardis BTC-PERPETUAL tape
//! (index `btc_usd`).

mod sim_util;

use mm_venues::sim::{Sim, SimConfig, SimHandle, Speed};
use serde_json::{json, Value};
use sim_util::*;
use std::time::Duration;

const PERP: &str = "BTC-PERPETUAL";

fn start() -> SimHandle {
    let mut cfg = SimConfig::new(tape_tardis());
    cfg.speed = Speed::Max;
    Sim::start(cfg).unwrap()
}

fn err_code(r: &Value) -> i64 {
    r["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("expected error: {r}"))
}

fn quote(c: &mut Client, quotes: Value) -> Value {
    c.call(
        "private/mass_quote",
        json!({"quote_id":"1","mmp_group":"g","detailed":true,"quotes":quotes}),
    )
}

fn set_mmp(c: &mut Client, frozen: u64, qty: f64) {
    let r = c.result(
        "private/set_mmp_config",
        json!({"index_name":"btc_usd","mmp_group":"g","interval":60,"frozen_time":frozen,"quantity_limit":qty}),
    );
    assert_eq!(r[0]["index_name"], "btc_usd", "{r}");
}

#[test]
fn sim_mass_quote_session_and_group_requirements() {
    let sim = start();
    let mut c = Client::connect(&sim.url());
    c.auth("mq");
    let q = json!([{"instrument_name":PERP,"quote_set_id":"s","bid":{"price":4000,"amount":10}}]);
    assert_eq!(err_code(&quote(&mut c, q.clone())), 13042, "COD required");
    assert_eq!(
        err_code(&c.call("private/cancel_quotes", json!({"cancel_type":"all"}))),
        13042
    );
    c.result(
        "private/enable_cancel_on_disconnect",
        json!({"scope":"connection"}),
    );
    assert_eq!(
        err_code(&quote(&mut c, q.clone())),
        13040,
        "MMP group required"
    );
    // A plain mmp order needs the plain-order MMP of the index too.
    let r = c.call(
        "private/buy",
        json!({"instrument_name":PERP,"amount":10,"price":4000,"mmp":true}),
    );
    assert_eq!(err_code(&r), 13040);
    // delta_limit must be below quantity_limit.
    let r = c.call(
        "private/set_mmp_config",
        json!({"index_name":"btc_usd","mmp_group":"g","interval":1,"frozen_time":0,"quantity_limit":1,"delta_limit":1}),
    );
    assert_eq!(err_code(&r), -32602);
    set_mmp(&mut c, 0, 1.0);
    let r = c.result(
        "private/get_mmp_config",
        json!({"index_name":"btc_usd","mmp_group":"g"}),
    );
    assert_eq!(
        r,
        json!([{"index_name":"btc_usd","mmp_group":"g","interval":60,"frozen_time":0,"quantity_limit":1.0}])
    );
    // valid_until already passed: not placed.
    let r = c.call(
        "private/mass_quote",
        json!({"quote_id":"1","mmp_group":"g","valid_until":1000,"quotes":q}),
    );
    assert_eq!(err_code(&r), 13888);
    // More than 100 bids: the whole request is refused.
    let many: Vec<Value> = (0..101)
        .map(
            |_| json!({"instrument_name":PERP,"quote_set_id":"s","bid":{"price":4000,"amount":10}}),
        )
        .collect();
    assert_eq!(err_code(&quote(&mut c, Value::Array(many))), -32602);
    assert!(sim.stop().open_orders.is_empty());
}

#[test]
fn sim_mass_quote_replaces_validates_per_side_and_cancels() {
    let sim = start();
    let mut c = Client::connect(&sim.url());
    c.auth("mq");
    c.result(
        "private/enable_cancel_on_disconnect",
        json!({"scope":"connection"}),
    );
    set_mmp(&mut c, 0, 10.0);
    let r = quote(
        &mut c,
        json!([{"instrument_name":PERP,"quote_set_id":"s","bid":{"price":4000,"amount":10},"ask":{"price":4001,"amount":20}}]),
    );
    let res = &r["result"];
    assert_eq!(res["errors"], json!([]), "{r}");
    let orders = res["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2);
    for o in orders {
        assert_eq!(o["quote"], true);
        assert_eq!(o["mmp"], true);
        assert_eq!(o["quote_id"], "1");
        assert_eq!(o["quote_set_id"], "s");
        assert_eq!(o["mmp_group"], "g");
        assert_eq!(o["label"], "");
        assert_eq!(o["order_state"], "open");
    }
    let bid_id = orders.iter().find(|o| o["direction"] == "buy").unwrap()["order_id"].clone();
    // A new bid replaces the resting one: same order id, new price.
    let r = quote(
        &mut c,
        json!([{"instrument_name":PERP,"quote_set_id":"t","bid":{"price":3999.5,"amount":10}}]),
    );
    let o = &r["result"]["orders"][0];
    assert_eq!(o["order_id"], bid_id, "{r}");
    assert_eq!(o["price"].as_f64(), Some(3999.5));
    assert_eq!(o["replaced"], true);
    assert_eq!(o["quote_set_id"], "t");
    let open = c.result(
        "private/get_open_orders_by_currency",
        json!({"currency":"BTC"}),
    );
    assert_eq!(open.as_array().unwrap().len(), 2, "one quote per side");
    // Per side: a bid off the tick grid fails (and cancels the resting bid), the ask moves.
    let r = quote(
        &mut c,
        json!([{"instrument_name":PERP,"quote_set_id":"s","bid":{"price":3999.3,"amount":10},"ask":{"price":4002,"amount":20}}]),
    );
    let res = &r["result"];
    assert_eq!(res["errors"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(res["errors"][0]["side"], "bid");
    assert_eq!(res["errors"][0]["instrument_name"], PERP);
    assert_eq!(res["errors"][0]["error"]["code"], 10043);
    assert_eq!(res["orders"].as_array().unwrap().len(), 1);
    assert_eq!(res["orders"][0]["direction"], "sell");
    let open = c.result(
        "private/get_open_orders_by_currency",
        json!({"currency":"BTC"}),
    );
    assert_eq!(
        open.as_array().unwrap().len(),
        1,
        "errored side cancelled: {open}"
    );
    // A bid crossing our own ask is refused.
    let r = quote(
        &mut c,
        json!([{"instrument_name":PERP,"quote_set_id":"s","bid":{"price":4002,"amount":10}}]),
    );
    assert_eq!(r["result"]["errors"][0]["error"]["code"], 11029, "{r}");
    // An amount at or above the group's quantity limit (10 BTC ≈ 40 020 USD at 4002).
    let r = quote(
        &mut c,
        json!([{"instrument_name":PERP,"quote_set_id":"s","bid":{"price":4000,"amount":50000}}]),
    );
    assert_eq!(r["result"]["errors"][0]["error"]["code"], 11029, "{r}");
    // amount 0 cancels the ask.
    let r = quote(
        &mut c,
        json!([{"instrument_name":PERP,"quote_set_id":"s","ask":{"amount":0}}]),
    );
    assert_eq!(r["result"]["orders"][0]["order_state"], "cancelled", "{r}");
    let open = c.result(
        "private/get_open_orders_by_currency",
        json!({"currency":"BTC"}),
    );
    assert_eq!(open, json!([]));
    // Plain orders are not quotes: cancel_quotes leaves them; freeze_quotes blocks quotes 1 s.
    c.result(
        "private/buy",
        json!({"instrument_name":PERP,"amount":10,"price":3000,"label":"mmf-1"}),
    );
    quote(
        &mut c,
        json!([{"instrument_name":PERP,"quote_set_id":"s","bid":{"price":4000,"amount":10}}]),
    );
    let n = c.result(
        "private/cancel_quotes",
        json!({"cancel_type":"all","freeze_quotes":true}),
    );
    assert_eq!(n, json!(1));
    let r = quote(
        &mut c,
        json!([{"instrument_name":PERP,"quote_set_id":"s","bid":{"price":4000,"amount":10}}]),
    );
    assert_eq!(err_code(&r), 13043);
    std::thread::sleep(Duration::from_millis(1100));
    let r = quote(
        &mut c,
        json!([{"instrument_name":PERP,"quote_set_id":"s","bid":{"price":4000,"amount":10}}]),
    );
    assert_eq!(r["result"]["orders"][0]["order_state"], "open", "{r}");
    let l = sim.stop();
    assert_eq!(l.open_orders.len(), 2);
    assert_eq!(l.stats.mass_quotes, 8, "the 13043 one is not counted");
}

#[test]
fn sim_mmp_trigger_cancels_freezes_and_resets() {
    let sim = start();
    let mut c = Client::connect(&sim.url());
    c.auth("mq");
    c.result(
        "private/enable_cancel_on_disconnect",
        json!({"scope":"connection"}),
    );
    let ch = c.result(
        "private/subscribe",
        json!({"channels":["user.orders.any.any.raw","user.trades.any.any.raw","user.mmp_trigger.btc_usd"]}),
    );
    assert_eq!(ch.as_array().unwrap().len(), 3, "{ch}");
    // Net delta 0.002 BTC per minute: the first fill of 10 USD at 4150 (0.0024 BTC) trips it
    // (a quote's amount must stay below the quantity limit, 0.01 BTC).
    c.result(
        "private/set_mmp_config",
        json!({"index_name":"btc_usd","mmp_group":"g","interval":60,"frozen_time":0,"quantity_limit":0.01,"delta_limit":0.002}),
    );
    // The bid is far above the tape's ~4092 market: the first book fills it (as maker).
    let r = quote(
        &mut c,
        json!([{"instrument_name":PERP,"quote_set_id":"s","bid":{"price":4150,"amount":10},"ask":{"price":9000,"amount":10}}]),
    );
    assert_eq!(r["result"]["orders"].as_array().unwrap().len(), 2, "{r}");
    c.result(
        "public/subscribe",
        json!({"channels":[format!("book.{PERP}.raw")]}),
    );
    // Wait for the trigger.
    let mut notes = Vec::new();
    let t0 = std::time::Instant::now();
    while !notes
        .iter()
        .any(|n: &Value| n["params"]["channel"] == "user.mmp_trigger.btc_usd")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no trigger: {notes:?}"
        );
        if let Some(n) = c.note(Duration::from_millis(200)) {
            if n["params"]["channel"]
                .as_str()
                .is_some_and(|s| s.starts_with("user."))
            {
                notes.push(n);
            }
        }
    }
    let trig = notes.last().unwrap();
    assert_eq!(
        trig["params"]["data"],
        json!({"index_name":"btc_usd","frozen_until":0,"mmp_group":"g"})
    );
    let fill = notes
        .iter()
        .find(|n| n["params"]["channel"] == "user.trades.any.any.raw")
        .expect("the fill that tripped it");
    assert_eq!(fill["params"]["data"][0]["quote_id"], "1");
    let cancelled = notes
        .iter()
        .find(|n| n["params"]["data"]["cancel_reason"] == "mmp_trigger")
        .expect("the ask cancelled by MMP");
    assert_eq!(cancelled["params"]["data"]["direction"], "sell");
    assert_eq!(cancelled["params"]["data"]["mmp_cancelled"], true);
    // Frozen: quotes refused with 13030 until the reset (frozen_time 0 = manual).
    let q = json!([{"instrument_name":PERP,"quote_set_id":"s","ask":{"price":9000,"amount":10}}]);
    assert_eq!(err_code(&quote(&mut c, q.clone())), 13030);
    let st = c.result("private/get_mmp_status", json!({"index_name":"btc_usd"}));
    assert_eq!(st[0]["frozen_until"], 0, "{st}");
    assert_eq!(
        c.result(
            "private/reset_mmp",
            json!({"index_name":"btc_usd","mmp_group":"g"})
        ),
        json!("ok")
    );
    let r = quote(&mut c, q);
    assert_eq!(r["result"]["orders"][0]["order_state"], "open", "{r}");
    let l = sim.stop();
    assert_eq!(l.stats.mmp_triggers, 1);
    assert_eq!(l.stats.mmp_resets, 1);
}
