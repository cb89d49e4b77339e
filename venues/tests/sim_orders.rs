//! Order entry and matching over real loopback sockets.

mod sim_util;

use mm_venues::sim::{Sim, SimConfig, SimHandle, SimLogKind, Speed};
use serde_json::{json, Value};
use sim_util::*;
use std::time::Duration;

fn start(path: std::path::PathBuf) -> SimHandle {
    let mut cfg = SimConfig::new(path);
    cfg.speed = Speed::Max;
    Sim::start(cfg).unwrap()
}

/// Starts the tardis tape and plays it to the end; returns the sim and an authed client.
fn finished_tardis(client_id: &str) -> (SimHandle, Client) {
    let sim = start(tape_tardis());
    let mut c = Client::connect(&sim.url());
    c.auth(client_id);
    c.result(
        "public/subscribe",
        json!({"channels":["trades.BTC-PERPETUAL.100ms"]}),
    );
    assert!(sim.wait_tape_finished(Duration::from_secs(60)));
    (sim, c)
}

fn err_code(r: &Value) -> i64 {
    r["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("expected error: {r}"))
}

#[test]
fn sim_resting_bid_filled_when_recorded_ask_falls_through_it() {
    // ETH-30APR21-2240-P: recorded best ask 0.098 (snapshot) … falls to 0.0975 (137.0) at
    // 17:49:13.5 UTC (capture line 373). A bid at 0.0975 must fill there, as maker.
    let sim = start(tape_0405());
    let mut c = Client::connect(&sim.url());
    c.auth("mm");
    c.result(
        "private/subscribe",
        json!({"channels":["user.orders.any.any.raw","user.trades.any.any.raw"]}),
    );
    let r = c.result(
        "private/buy",
        json!({"instrument_name":"ETH-30APR21-2240-P","amount":5,"price":0.0975,"label":"mmf-1","post_only":true}),
    );
    assert_eq!(r["order"]["order_state"], "open");
    assert_eq!(r["order"]["price"].as_f64(), Some(0.0975));
    assert_eq!(r["trades"], json!([]));
    let oid = r["order"]["order_id"].as_str().unwrap().to_string();
    // now start the replay
    c.result(
        "public/subscribe",
        json!({"channels":["book.ETH-30APR21-2240-P.raw"]}),
    );
    let notes = c.drain(|| sim.tape_finished(), Duration::from_millis(300));
    let trades: Vec<&Value> = notes
        .iter()
        .filter(|n| n["params"]["channel"] == "user.trades.any.any.raw")
        .collect();
    assert_eq!(trades.len(), 1, "{notes:?}");
    let t = &trades[0]["params"]["data"][0];
    assert_eq!(t["order_id"], oid.as_str());
    assert_eq!(t["liquidity"], "M");
    assert_eq!(t["price"].as_f64(), Some(0.0975));
    assert_eq!(t["amount"].as_f64(), Some(5.0));
    assert_eq!(t["fee_currency"], "ETH");
    let filled = notes
        .iter()
        .find(|n| {
            n["params"]["channel"] == "user.orders.any.any.raw"
                && n["params"]["data"]["order_state"] == "filled"
        })
        .expect("filled order notification");
    assert_eq!(
        filled["params"]["data"]["average_price"].as_f64(),
        Some(0.0975)
    );
    let l = sim.stop();
    assert_eq!(l.fills.len(), 1);
    let f = &l.fills[0];
    assert!(f.maker);
    assert_eq!((f.label.as_str(), f.price, f.lots), ("mmf-1", 0.0975, 5));
    assert!((f.fee - 0.0015).abs() < 1e-12, "fee {}", f.fee);
    assert_eq!(f.tape_ns, 1_617_644_953_504_651_000);
    assert_eq!(l.positions["ETH-30APR21-2240-P"], 5.0);
    assert!(l.open_orders.is_empty());
    assert!((l.fees["ETH"] - 0.0015).abs() < 1e-12);
}

#[test]
fn sim_user_trades_history_pages_from_a_start_id() {
    // The fill of the test above, fetched again as reconciliation does after a reconnect.
    let sim = start(tape_0405());
    let mut c = Client::connect(&sim.url());
    c.auth("mm");
    c.result(
        "private/buy",
        json!({"instrument_name":"ETH-30APR21-2240-P","amount":5,"price":0.0975,"label":"mmf-7","post_only":true}),
    );
    c.result(
        "public/subscribe",
        json!({"channels":["book.ETH-30APR21-2240-P.raw"]}),
    );
    c.drain(|| sim.tape_finished(), Duration::from_millis(300));
    let r = c.result(
        "private/get_user_trades_by_currency",
        json!({"currency":"ETH","sorting":"asc","count":1000}),
    );
    let trades = r["trades"].as_array().unwrap();
    assert_eq!(trades.len(), 1, "{r}");
    assert_eq!(r["has_more"], false);
    assert_eq!(trades[0]["label"], "mmf-7");
    assert_eq!(trades[0]["amount"].as_f64(), Some(5.0));
    let id: u64 = trades[0]["trade_id"].as_str().unwrap().parse().unwrap();
    // From the next id on: nothing; another currency: nothing; another account: nothing.
    let r = c.result(
        "private/get_user_trades_by_currency",
        json!({"currency":"ETH","start_id":(id + 1).to_string(),"count":10}),
    );
    assert_eq!(r["trades"], json!([]));
    let r = c.result(
        "private/get_user_trades_by_currency",
        json!({"currency":"BTC","count":10}),
    );
    assert_eq!(r["trades"], json!([]));
    let mut other = Client::connect(&sim.url());
    other.auth("someone-else");
    let r = other.result(
        "private/get_user_trades_by_currency",
        json!({"currency":"ETH","count":10}),
    );
    assert_eq!(r["trades"], json!([]));
    let r = c.call(
        "private/get_user_trades_by_currency",
        json!({"currency":"ETH","count":0}),
    );
    assert_eq!(err_code(&r), -32602);
}

#[test]
fn reconcile_queries_read_fills_positions_and_open_orders() {
    use mm_venues::deribit::encode::Encoder;
    use mm_venues::deribit::feed::{login, SessionOpts};
    use mm_venues::deribit::reconcile::{fetch_open_orders, fetch_positions, fetch_trades_since};
    use mm_venues::deribit::session::{AuthMethod, Credentials};
    let sim = start(tape_0405());
    let mut c = Client::connect(&sim.url());
    c.auth("mm");
    c.result(
        "private/buy",
        json!({"instrument_name":"ETH-30APR21-2240-P","amount":5,"price":0.0975,"label":"mmf-1","post_only":true}),
    );
    c.result(
        "private/sell",
        json!({"instrument_name":"ETH-30APR21-2240-P","amount":3,"price":0.5,"label":"mmf-2","post_only":true}),
    );
    c.result(
        "public/subscribe",
        json!({"channels":["book.ETH-30APR21-2240-P.raw"]}),
    );
    c.drain(|| sim.tape_finished(), Duration::from_millis(300));
    // The engine's own order connection, as after a reconnect.
    let mut ws = mm_io::WsClient::connect(&sim.url(), &Default::default()).unwrap();
    let mut enc = Encoder::new();
    let opts = SessionOpts {
        creds: Credentials {
            client_id: "mm".into(),
            client_secret: "s".into(),
            method: AuthMethod::Credentials,
        },
        heartbeat_s: 0,
    };
    login(&mut ws, &mut enc, 1, &opts, || 0).unwrap();
    let mut next_id = 10;
    let mut pages = Vec::new();
    let last = fetch_trades_since(&mut ws, &mut enc, &mut next_id, "ETH", None, |p| {
        pages.push(String::from_utf8(p.to_vec()).unwrap())
    })
    .unwrap();
    let trades: Value = serde_json::from_str(&pages[0]).unwrap();
    assert_eq!(trades.as_array().unwrap().len(), 1, "{trades}");
    assert_eq!(trades[0]["label"], "mmf-1");
    assert_eq!(last.as_deref(), trades[0]["trade_id"].as_str());
    // Resuming from the last id returns it again (inclusive start) and nothing newer.
    let mut again = 0;
    let last2 = fetch_trades_since(
        &mut ws,
        &mut enc,
        &mut next_id,
        "ETH",
        last.as_deref(),
        |p| {
            again += serde_json::from_slice::<Value>(p)
                .unwrap()
                .as_array()
                .unwrap()
                .len()
        },
    )
    .unwrap();
    assert_eq!((again, last2), (1, last));
    let pos = fetch_positions(&mut ws, &mut enc, &mut next_id, "ETH").unwrap();
    let p = pos
        .iter()
        .find(|p| p.instrument == "ETH-30APR21-2240-P")
        .unwrap();
    assert_eq!(p.size, 5.0);
    let open = fetch_open_orders(&mut ws, &mut enc, &mut next_id, "ETH").unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!((open[0].label.as_str(), open[0].amount), ("mmf-2", 3.0));
    assert_eq!(open[0].side, mm_core::types::Side::Ask);
}

#[test]
fn sim_post_only_rules() {
    let (sim, mut c) = finished_tardis("po");
    let (bb, ba) = sim.ledger().books["BTC-PERPETUAL"];
    let (bb, ba) = (bb.unwrap(), ba.unwrap());
    // reject_post_only crossing ⇒ 11054, no order
    let r = c.call(
        "private/buy",
        json!({"instrument_name":"BTC-PERPETUAL","amount":10,"price":ba,"post_only":true,"reject_post_only":true,"label":"x"}),
    );
    assert_eq!(err_code(&r), 11054);
    assert_eq!(r["error"]["message"], "post_only_reject");
    assert!(sim.ledger().open_orders.is_empty());
    // post_only alone ⇒ repriced one tick (0.25) inside the spread
    let r = c.result(
        "private/sell",
        json!({"instrument_name":"BTC-PERPETUAL","amount":10,"price":bb,"post_only":true,"label":"y"}),
    );
    assert_eq!(r["order"]["order_state"], "open");
    assert_eq!(r["order"]["price"].as_f64(), Some(bb + 0.25));
    let l = sim.stop();
    assert_eq!(l.open_orders.len(), 1);
    assert!(l.fills.is_empty());
    assert!(l.log.iter().any(|e| e.what
        == SimLogKind::Reject {
            label: "x".into(),
            code: 11054
        }));
}

#[test]
fn sim_ioc_takes_recorded_liquidity_level_by_level() {
    let (sim, mut c) = finished_tardis("ioc");
    let ba = sim.ledger().books["BTC-PERPETUAL"].1.unwrap();
    // the best ask level size, from get_order_book
    let ob = c.result(
        "public/get_order_book",
        json!({"instrument_name":"BTC-PERPETUAL","depth":5}),
    );
    let asks = ob["asks"].as_array().unwrap().clone();
    assert_eq!(asks[0][0].as_f64(), Some(ba));
    let a0 = asks[0][1].as_f64().unwrap();
    let a1 = asks[1][1].as_f64().unwrap();
    let want = a0 + 10.0; // one lot into the second level
    let r = c.result(
        "private/buy",
        json!({"instrument_name":"BTC-PERPETUAL","amount":want,"price":asks[1][0],"time_in_force":"immediate_or_cancel","label":"ioc1"}),
    );
    let trades = r["trades"].as_array().unwrap();
    assert_eq!(trades.len(), 2);
    assert_eq!(trades[0]["price"], asks[0][0]);
    assert_eq!(trades[0]["amount"].as_f64(), Some(a0));
    assert_eq!(trades[1]["price"], asks[1][0]);
    assert_eq!(trades[1]["amount"].as_f64(), Some(10.0));
    assert!(trades.iter().all(|t| t["liquidity"] == "T"));
    assert_eq!(r["order"]["order_state"], "filled");
    // larger than reachable ⇒ partial fill, rest cancelled; used liquidity is not re-taken
    let r = c.result(
        "private/buy",
        json!({"instrument_name":"BTC-PERPETUAL","amount":a1 + 1000.0,"price":asks[1][0],"time_in_force":"immediate_or_cancel","label":"ioc2"}),
    );
    assert_eq!(r["order"]["order_state"], "cancelled");
    assert_eq!(r["order"]["filled_amount"].as_f64(), Some(a1 - 10.0));
    let l = sim.stop();
    let total: f64 = l.fills.iter().map(|f| f.amount).sum();
    assert_eq!(total, a0 + a1);
    assert_eq!(l.positions["BTC-PERPETUAL"], a0 + a1);
    // taker fee 0.0005 × amount / price, in BTC
    let f = &l.fills[0];
    assert!((f.fee - 0.0005 * f.amount / f.price).abs() < 1e-15);
    assert_eq!(f.fee_currency, "BTC");
    assert!(l.open_orders.is_empty());
}

#[test]
fn sim_cancel_edit_and_not_open_order() {
    let (sim, mut c) = finished_tardis("ce");
    let bb = sim.ledger().books["BTC-PERPETUAL"].0.unwrap();
    let r = c.result(
        "private/buy",
        json!({"instrument_name":"BTC-PERPETUAL","amount":20,"price":bb - 5.0,"label":"e1"}),
    );
    let oid = r["order"]["order_id"].as_str().unwrap().to_string();
    let r = c.result(
        "private/edit",
        json!({"order_id":oid,"price":bb - 2.5,"amount":30}),
    );
    assert_eq!(r["order"]["price"].as_f64(), Some(bb - 2.5));
    assert_eq!(r["order"]["amount"].as_f64(), Some(30.0));
    assert_eq!(r["order"]["replaced"], true);
    let oo = c.result(
        "private/get_open_orders_by_currency",
        json!({"currency":"BTC"}),
    );
    assert_eq!(oo.as_array().unwrap().len(), 1);
    let r = c.result("private/cancel", json!({"order_id":oid}));
    assert_eq!(r["order_state"], "cancelled");
    assert_eq!(r["cancel_reason"], "user_request");
    assert_eq!(
        err_code(&c.call("private/cancel", json!({"order_id":oid}))),
        11044
    );
    assert_eq!(
        err_code(&c.call("private/edit", json!({"order_id":oid,"price":bb - 1.0}))),
        11044
    );
    assert_eq!(
        err_code(&c.call("private/cancel", json!({"order_id":"123"}))),
        10004
    );
    // validation
    let bad_tick = c.call(
        "private/buy",
        json!({"instrument_name":"BTC-PERPETUAL","amount":10,"price":bb - 0.1}),
    );
    assert_eq!(err_code(&bad_tick), 10043);
    let prec = c.call(
        "private/buy",
        json!({"instrument_name":"BTC-PERPETUAL","amount":10,"price":bb - 0.125}),
    );
    assert_eq!(err_code(&prec), 10026);
    let low = c.call(
        "private/buy",
        json!({"instrument_name":"BTC-PERPETUAL","amount":5,"price":bb}),
    );
    assert_eq!(err_code(&low), 10002);
    let nonint = c.call(
        "private/buy",
        json!({"instrument_name":"BTC-PERPETUAL","amount":15,"price":bb}),
    );
    assert_eq!(err_code(&nonint), 10027);
    let unknown = c.call(
        "private/buy",
        json!({"instrument_name":"NOPE","amount":10,"price":1}),
    );
    assert_eq!(err_code(&unknown), -32602);
    assert_eq!(unknown["error"]["data"]["param"], "instrument_name");
    // cancel_all variants return counts
    for i in 0..3 {
        c.result("private/buy", json!({"instrument_name":"BTC-PERPETUAL","amount":10,"price":bb - 10.0 - i as f64,"label":format!("k{i}")}));
    }
    assert_eq!(
        c.result(
            "private/cancel_all_by_instrument",
            json!({"instrument_name":"BTC-PERPETUAL"})
        ),
        json!(3)
    );
    assert_eq!(c.result("private/cancel_all", json!({})), json!(0));
    // unauthenticated private call
    let mut anon = Client::connect(&sim.url());
    assert_eq!(err_code(&anon.call("private/cancel_all", json!({}))), 13009);
    let l = sim.stop();
    assert!(l.open_orders.is_empty());
    assert_eq!(l.stats.cancels, 4);
    assert_eq!(l.stats.edits, 1);
}

#[test]
fn sim_resting_bid_filled_when_tardis_market_moves_through_it() {
    // tardis: at 00:00:09.668571 (local) the recorded best ask drops to 4092 (2400 USD), below
    // a bid at 4092.25, just before the sell trades at 4092.25 are recorded. The bid fills at
    // its own price, as maker, on the book change (tardis books precede their trades).
    let sim = start(tape_tardis());
    let mut c = Client::connect(&sim.url());
    c.auth("q");
    let r = c.result(
        "private/buy",
        json!({"instrument_name":"BTC-PERPETUAL","amount":100,"price":4092.25,"label":"t1"}),
    );
    assert_eq!(r["order"]["order_state"], "open");
    c.result(
        "public/subscribe",
        json!({"channels":["trades.BTC-PERPETUAL.raw"]}),
    );
    assert!(sim.wait_tape_finished(Duration::from_secs(60)));
    let l = sim.stop();
    assert!(!l.fills.is_empty());
    assert!(l.fills.iter().all(|f| f.maker && f.price == 4092.25));
    let lots: i64 = l.fills.iter().map(|f| f.lots).sum();
    assert_eq!(lots, 10);
    assert_eq!(l.position_lots["BTC-PERPETUAL"], 10);
    assert_eq!(l.fills.len(), 1);
    assert_eq!(l.fills[0].tape_ns, 1_554_076_809_668_571_000);
}

#[test]
fn sim_cancel_on_disconnect_only_for_that_connection() {
    let (sim, mut b) = finished_tardis("shared");
    let bb = sim.ledger().books["BTC-PERPETUAL"].0.unwrap();
    b.result(
        "private/subscribe",
        json!({"channels":["user.orders.BTC-PERPETUAL.raw"]}),
    );
    let keep = b.result(
        "private/buy",
        json!({"instrument_name":"BTC-PERPETUAL","amount":10,"price":bb - 20.0,"label":"keep"}),
    );
    {
        let mut a = Client::connect(&sim.url());
        a.auth("shared");
        assert_eq!(
            a.result("private/enable_cancel_on_disconnect", json!({})),
            json!("ok")
        );
        a.result(
            "private/buy",
            json!({"instrument_name":"BTC-PERPETUAL","amount":10,"price":bb - 10.0,"label":"cod"}),
        );
        // `a` is dropped here: the TCP connection closes
    }
    let mut seen = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        match b.note(Duration::from_millis(100)) {
            Some(n) if n["params"]["data"]["cancel_reason"] == "cancel_on_disconnect" => {
                seen = Some(n);
                break;
            }
            _ => {}
        }
    }
    let n = seen.expect("COD notification on the other connection of the account");
    assert_eq!(n["params"]["data"]["label"], "cod");
    assert_eq!(n["params"]["data"]["order_state"], "cancelled");
    let l = sim.stop();
    assert_eq!(l.open_orders.len(), 1);
    assert_eq!(
        l.open_orders[0].order_id,
        keep["order"]["order_id"].as_str().unwrap()
    );
}

#[test]
fn sim_malformed_requests_get_jsonrpc_errors() {
    let sim = start(tape_tardis());
    let mut c = Client::connect(&sim.url());
    let mut raw = |t: &str| -> Value {
        c.send_text(t);
        serde_json::from_str(&c.recv_text(Duration::from_secs(5)).unwrap()).unwrap()
    };
    assert_eq!(raw("{not json")["error"]["code"], -32700);
    assert_eq!(raw("[1,2]")["error"]["code"], -32600);
    assert_eq!(
        raw(r#"{"jsonrpc":"2.0","method":"public/test"}"#)["error"]["code"],
        -32600
    );
    assert_eq!(
        raw(r#"{"jsonrpc":"2.0","id":"s1","method":"nope/x"}"#)["error"]["code"],
        -32601
    );
    let r = raw(r#"{"jsonrpc":"2.0","id":"s2","method":"public/get_instruments","params":{}}"#);
    assert_eq!(r["id"], "s2");
    assert_eq!(r["error"]["code"], -32602);
    assert_eq!(r["error"]["data"]["param"], "currency");
    let r = raw(r#"{"jsonrpc":"2.0","id":7,"method":"public/subscribe","params":[1]}"#);
    assert_eq!(r["error"]["code"], -32602);
    let r = raw(r#"{"jsonrpc":"2.0","id":8,"method":"public/test","params":{}}"#);
    assert_eq!(r["result"]["version"], "1.2.26");
    assert_eq!(r["testnet"], false);
    assert!(r["usIn"].as_u64().unwrap() <= r["usOut"].as_u64().unwrap());
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":9,"method":"public/test","params":{{"x":"{}"}}}}"#,
        "a".repeat(40_000)
    );
    assert_eq!(raw(&big)["error"]["code"], -32600);
    let r = raw(
        r#"{"jsonrpc":"2.0","id":10,"method":"private/buy","params":{"instrument_name":"BTC-PERPETUAL","amount":"x","price":null}}"#,
    );
    assert_eq!(r["error"]["code"], 13009);
    drop(c);
    sim.stop();
}

#[test]
fn sim_notifications_before_response_when_configured() {
    let mut cfg = SimConfig::new(tape_tardis());
    cfg.notify_before_response = true;
    let sim = Sim::start(cfg).unwrap();
    let mut c = Client::connect(&sim.url());
    c.auth("nb");
    c.result(
        "private/subscribe",
        json!({"channels":["user.orders.any.any.raw"]}),
    );
    let id = c.send(
        "private/buy",
        json!({"instrument_name":"BTC-PERPETUAL","amount":10,"price":1000,"label":"n"}),
    );
    let first = c.recv(Duration::from_secs(5)).unwrap();
    assert_eq!(first["params"]["channel"], "user.orders.any.any.raw");
    assert_eq!(first["params"]["data"]["label"], "n");
    let second = c.recv(Duration::from_secs(5)).unwrap();
    assert_eq!(second["id"].as_u64(), Some(id));
}

#[test]
fn sim_edit_post_only_reject_cancels_and_positions_query() {
    let (sim, mut c) = finished_tardis("epo");
    let (bb, ba) = sim.ledger().books["BTC-PERPETUAL"];
    let (bb, ba) = (bb.unwrap(), ba.unwrap());
    c.result(
        "private/subscribe",
        json!({"channels":["user.orders.future.BTC.raw"]}),
    );
    let r = c.result(
        "private/buy",
        json!({"instrument_name":"BTC-PERPETUAL","amount":10,"price":bb,"post_only":true,"reject_post_only":true,"label":"epo"}),
    );
    let oid = r["order"]["order_id"].as_str().unwrap().to_string();
    assert_eq!(r["order"]["reject_post_only"], true);
    let e = c.call("private/edit", json!({"order_id":oid,"price":ba}));
    assert_eq!(err_code(&e), 11054);
    let mut cancelled = None;
    while let Some(n) = c.note(Duration::from_millis(500)) {
        if n["params"]["data"]["order_state"] == "cancelled" {
            cancelled = Some(n);
            break;
        }
    }
    let n = cancelled.expect("cancel notification");
    assert_eq!(
        n["params"]["data"]["cancel_reason"],
        "edit_post_only_reject"
    );
    assert_eq!(
        err_code(&c.call("private/cancel", json!({"order_id":oid}))),
        11044
    );
    // a taker sell gives a short position visible in get_positions
    c.result(
        "private/sell",
        json!({"instrument_name":"BTC-PERPETUAL","amount":20,"price":bb,"time_in_force":"immediate_or_cancel"}),
    );
    let p = c.result(
        "private/get_positions",
        json!({"currency":"BTC","kind":"future"}),
    );
    assert_eq!(p[0]["instrument_name"], "BTC-PERPETUAL");
    assert_eq!(p[0]["size"].as_f64(), Some(-20.0));
    assert_eq!(p[0]["direction"], "sell");
    assert_eq!(p[0]["average_price"].as_f64(), Some(bb));
    let l = sim.stop();
    assert_eq!(l.positions["BTC-PERPETUAL"], -20.0);
}
