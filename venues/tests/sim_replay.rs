//! Full replays over real loopback sockets at `Speed::Max`.

mod sim_util;

use mm_venues::sim::{Sim, SimConfig, Speed};
use serde_json::{json, Value};
use sim_util::*;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

/// Recorded notifications of a cryptofeed capture (payload texts), in order.
fn recorded_notifications(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.contains(" <- ") && !l.starts_with("configuration"))
        .filter_map(|l| l.split_once(": ").map(|(_, p)| p.to_string()))
        .filter(|p| p.contains("\"method\":\"subscription\""))
        .collect()
}

/// Replays a tape to one authenticated client subscribed to every md channel; returns the
/// raw notification texts and the final ledger.
fn replay(path: &Path) -> (Vec<String>, mm_venues::sim::LedgerSnapshot, Vec<String>) {
    let mut cfg = SimConfig::new(path);
    cfg.speed = Speed::Max;
    let sim = Sim::start(cfg).unwrap();
    let names: Vec<String> = sim.instruments().iter().map(|i| i.name.clone()).collect();
    let mut c = Client::connect(&sim.url());
    c.keep_raw = true;
    c.auth("replay");
    let chans = md_channels(&names);
    let r = c.result("public/subscribe", json!({ "channels": chans }));
    assert_eq!(
        r.as_array().unwrap().len(),
        chans.len(),
        "all channels accepted: {r}"
    );
    c.drain(|| sim.tape_finished(), Duration::from_millis(300));
    let raw = std::mem::take(&mut c.raw_notes);
    (raw, sim.stop(), names)
}

fn check_chains(raw: &[String]) -> usize {
    let mut last: HashMap<String, u64> = HashMap::new();
    let mut books = 0;
    for t in raw {
        let v: Value = serde_json::from_str(t).unwrap();
        let ch = v["params"]["channel"].as_str().unwrap();
        if !ch.starts_with("book.") {
            continue;
        }
        books += 1;
        let d = &v["params"]["data"];
        let id = d["change_id"].as_u64().unwrap();
        if d["type"] == "change" {
            assert_eq!(
                d["prev_change_id"].as_u64(),
                last.get(ch).copied(),
                "chain broken on {ch}"
            );
        }
        last.insert(ch.to_string(), id);
    }
    books
}

#[test]
fn sim_cryptofeed_0405_replays_byte_for_byte() {
    let path = tape_0405();
    let recorded = recorded_notifications(&path);
    let (raw, ledger, names) = replay(&path);
    assert_eq!(names.len(), 10);
    // Every recorded book/ticker notification, in order, byte for byte.
    assert_eq!(raw.len(), recorded.len());
    for (a, b) in raw.iter().zip(&recorded) {
        assert_eq!(a, b);
    }
    let books = check_chains(&raw);
    assert_eq!(
        books,
        recorded
            .iter()
            .filter(|p| p.contains("\"channel\":\"book."))
            .count()
    );
    assert_eq!(books, 187);
    assert_eq!(ledger.stats.md_frames_sent as usize, recorded.len());
    // final books as recorded (see the independent walk in the dossier analysis)
    assert_eq!(
        ledger.books["ETH-9APR21-1950-C"],
        (Some(0.079), Some(0.0945))
    );
    assert_eq!(ledger.books["ETH-6APR21-2400-P"], (None, None));
}

#[test]
fn sim_cryptofeed_0417_replays_all_book_frames() {
    let path = tape_0417();
    let recorded = recorded_notifications(&path);
    let (raw, ledger, _) = replay(&path);
    assert_eq!(raw, recorded);
    assert_eq!(check_chains(&raw), 56);
    assert_eq!(
        ledger.books["BTC-30APR21-54000-C"],
        (Some(0.128), Some(0.135))
    );
}

/// Independent walk of the tardis JSONL: final best bid / ask.
fn tardis_final_bbo(path: &Path) -> (f64, f64, usize, usize) {
    let mut bids: BTreeMap<i64, f64> = BTreeMap::new();
    let mut asks: BTreeMap<i64, f64> = BTreeMap::new();
    let (mut changes, mut trades) = (0, 0);
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        match v["type"].as_str().unwrap() {
            "book_change" => {
                changes += 1;
                if v["isSnapshot"] == true {
                    bids.clear();
                    asks.clear();
                }
                for (side, book) in [("bids", &mut bids), ("asks", &mut asks)] {
                    for l in v[side].as_array().unwrap() {
                        let p = (l["price"].as_f64().unwrap() * 100.0).round() as i64;
                        let a = l["amount"].as_f64().unwrap();
                        if a == 0.0 {
                            book.remove(&p);
                        } else {
                            book.insert(p, a);
                        }
                    }
                }
            }
            _ => trades += 1,
        }
    }
    let bb = *bids.keys().next_back().unwrap() as f64 / 100.0;
    let ba = *asks.keys().next().unwrap() as f64 / 100.0;
    (bb, ba, changes, trades)
}

#[test]
fn sim_tardis_replay_chain_and_final_bbo() {
    let path = tape_tardis();
    let (bb, ba, changes, trades) = tardis_final_bbo(&path);
    let (raw, ledger, names) = replay(&path);
    assert_eq!(names, vec!["BTC-PERPETUAL".to_string()]);
    assert_eq!(check_chains(&raw), changes);
    assert_eq!(changes, 3770);
    let n_trades: usize = raw
        .iter()
        .filter(|t| t.contains("\"channel\":\"trades."))
        .map(|t| {
            let v: Value = serde_json::from_str(t).unwrap();
            v["params"]["data"].as_array().unwrap().len()
        })
        .sum();
    assert_eq!(n_trades, trades);
    assert_eq!(ledger.books["BTC-PERPETUAL"], (Some(bb), Some(ba)));
    // no tickers on this tape: synthetic ones (mark = mid) follow each delivered book change
    let tickers: Vec<Value> = raw
        .iter()
        .filter(|t| t.contains("\"channel\":\"ticker."))
        .map(|t| serde_json::from_str(t).unwrap())
        .collect();
    assert_eq!(tickers.len(), changes);
    let last = &tickers.last().unwrap()["params"]["data"];
    assert_eq!(last["best_bid_price"].as_f64(), Some(bb));
    assert_eq!(last["best_ask_price"].as_f64(), Some(ba));
    assert_eq!(last["mark_price"].as_f64(), Some((bb + ba) / 2.0));
    // change ids are global-counter-like: not contiguous
    let ids: Vec<u64> = raw
        .iter()
        .filter(|t| t.contains("\"channel\":\"book."))
        .take(20)
        .map(|t| {
            serde_json::from_str::<Value>(t).unwrap()["params"]["data"]["change_id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(ids.windows(2).any(|w| w[1] - w[0] > 1));
}

#[test]
fn sim_raw_channels_need_auth_and_unknown_are_omitted() {
    let sim = Sim::start(SimConfig::new(tape_tardis())).unwrap();
    let mut c = Client::connect(&sim.url());
    let r = c.result(
        "public/subscribe",
        json!({"channels":["book.BTC-PERPETUAL.raw","book.BTC-PERPETUAL.100ms","book.NOPE.100ms","user.orders.any.any.raw"]}),
    );
    assert_eq!(r, json!(["book.BTC-PERPETUAL.100ms"]));
    // 100ms subscribers get the raw stream too
    let first = c.note(Duration::from_secs(5)).unwrap();
    assert_eq!(first["params"]["channel"], "book.BTC-PERPETUAL.100ms");
    assert_eq!(first["params"]["data"]["type"], "snapshot");
}
