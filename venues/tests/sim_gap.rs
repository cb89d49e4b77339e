//! Fault injection: a dropped book change, the client's resubscribe, and the chain continuing
//! from the simulator's snapshot.

mod sim_util;

use mm_venues::sim::{Fault, Sim, SimConfig, SimLogKind, Speed};
use serde_json::{json, Value};
use sim_util::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A client-side book mirror with Deribit gap detection.
#[derive(Default)]
struct Mirror {
    bids: BTreeMap<i64, f64>,
    asks: BTreeMap<i64, f64>,
    last: Option<u64>,
    synced: bool,
}

impl Mirror {
    /// Applies a book notification; returns false on a gap.
    fn apply(&mut self, d: &Value) -> bool {
        if d["type"] == "snapshot" {
            self.bids.clear();
            self.asks.clear();
            self.synced = true;
        } else if !self.synced {
            return true; // waiting for the snapshot
        } else if d["prev_change_id"].as_u64() != self.last {
            self.synced = false;
            return false;
        }
        for (side, book) in [("bids", &mut self.bids), ("asks", &mut self.asks)] {
            for r in d[side].as_array().unwrap() {
                let p = (r[1].as_f64().unwrap() * 1e6).round() as i64;
                if r[0] == "delete" {
                    book.remove(&p);
                } else {
                    book.insert(p, r[2].as_f64().unwrap());
                }
            }
        }
        self.last = d["change_id"].as_u64();
        true
    }
}

fn run(path: std::path::PathBuf, instrument: &str, at_secs: f64, speed: Speed) {
    let mut cfg = SimConfig::new(path);
    cfg.speed = speed;
    cfg.faults = vec![Fault::Gap { at_secs }];
    let sim = Sim::start(cfg).unwrap();
    let mut c = Client::connect(&sim.url());
    c.auth("gap");
    let ch = format!("book.{instrument}.raw");
    c.result("public/subscribe", json!({ "channels": [ch] }));
    let mut m = Mirror::default();
    let mut gaps = 0;
    let mut snapshots = 0;
    let mut after_resync = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let Some(n) = c.note(Duration::from_millis(300)) else {
            if sim.tape_finished() {
                break;
            }
            assert!(Instant::now() < deadline);
            continue;
        };
        if n["params"]["channel"] != ch.as_str() {
            continue;
        }
        let d = &n["params"]["data"];
        if d["type"] == "snapshot" {
            snapshots += 1;
        } else if gaps > 0 && m.synced {
            after_resync += 1;
        }
        if !m.apply(d) {
            gaps += 1;
            // resync = resubscribe (dossier §4.1)
            let id1 = c.send("public/unsubscribe", json!({ "channels": [ch] }));
            let id2 = c.send("public/subscribe", json!({ "channels": [ch] }));
            assert_eq!(c.reply(id1)["result"], json!([ch]));
            assert_eq!(c.reply(id2)["result"], json!([ch]));
        }
    }
    assert_eq!(gaps, 1, "exactly one gap detected");
    assert_eq!(snapshots, 2, "recorded snapshot + resync snapshot");
    assert!(
        after_resync > 0,
        "the recorded chain continued after the resync snapshot"
    );
    let l = sim.stop();
    let dropped: Vec<_> = l
        .log
        .iter()
        .filter(|e| e.what == SimLogKind::ChangeDropped)
        .collect();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].instrument.as_deref(), Some(instrument));
    let start = l
        .log
        .iter()
        .position(|e| e.what == SimLogKind::ChangeDropped)
        .unwrap();
    let kinds: Vec<&SimLogKind> = l.log[start..].iter().map(|e| &e.what).collect();
    assert!(kinds.contains(&&SimLogKind::Unsubscribe {
        channel: ch.clone()
    }));
    assert!(kinds.contains(&&SimLogKind::Subscribe {
        channel: ch.clone()
    }));
    assert!(kinds.contains(&&SimLogKind::SnapshotSent));
    // the client's mirror ends equal to the simulator's recorded book
    let (bb, ba) = l.books[instrument];
    assert_eq!(m.bids.keys().next_back().map(|p| *p as f64 / 1e6), bb);
    assert_eq!(m.asks.keys().next().map(|p| *p as f64 / 1e6), ba);
}

#[test]
fn sim_gap_resync_tardis_max_speed() {
    run(tape_tardis(), "BTC-PERPETUAL", 10.0, Speed::Max);
}

#[test]
fn sim_gap_resync_cryptofeed_fast() {
    // ETH-9APR21-1950-C changes often after ~30 s of the 2021-04-05 tape
    run(
        tape_0405(),
        "ETH-9APR21-1950-C",
        30.0,
        Speed::Multiple(50.0),
    );
}
