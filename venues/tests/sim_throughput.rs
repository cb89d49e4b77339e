//! `Speed::Max` keeps up with a ~60k-line tape while still answering requests mid-replay.
//! The tape is synthesized into a temporary directory (tardis normalized format).

mod sim_util;

use mm_venues::sim::{Sim, SimConfig, Speed};
use serde_json::json;
use sim_util::*;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

fn synth_tape(lines: usize) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mm-sim-throughput-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("SYN.jsonl");
    let mut s = String::new();
    let ts = |i: usize| {
        let ms = i; // 1 ms apart
        format!(
            "2019-04-01T00:{:02}:{:02}.{:03}000Z",
            ms / 60_000,
            (ms / 1000) % 60,
            ms % 1000
        )
    };
    let mut bids = String::new();
    let mut asks = String::new();
    for k in 0..50 {
        let _ = write!(
            bids,
            "{}{{\"amount\":{},\"price\":{}}}",
            if k > 0 { "," } else { "" },
            1000 + k * 10,
            4000.0 - k as f64 * 0.5
        );
        let _ = write!(
            asks,
            "{}{{\"amount\":{},\"price\":{}}}",
            if k > 0 { "," } else { "" },
            1000 + k * 10,
            4000.5 + k as f64 * 0.5
        );
    }
    let _ = writeln!(s, "{{\"asks\":[{asks}],\"bids\":[{bids}],\"exchange\":\"deribit\",\"isSnapshot\":true,\"localTimestamp\":\"{}\",\"symbol\":\"BTC-PERPETUAL\",\"timestamp\":\"{}\",\"type\":\"book_change\"}}", ts(0), ts(0));
    let mut x: u64 = 12345;
    for i in 1..lines {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let lvl = (x >> 33) % 40;
        let amt = ((x >> 13) % 50) * 10;
        let (side, px) = if x & 1 == 0 {
            ("bids", 3999.0 - lvl as f64 * 0.5)
        } else {
            ("asks", 4001.5 + lvl as f64 * 0.5)
        };
        let other = if side == "bids" { "asks" } else { "bids" };
        let _ = writeln!(s, "{{\"{side}\":[{{\"amount\":{amt},\"price\":{px}}}],\"{other}\":[],\"exchange\":\"deribit\",\"isSnapshot\":false,\"localTimestamp\":\"{}\",\"symbol\":\"BTC-PERPETUAL\",\"timestamp\":\"{}\",\"type\":\"book_change\"}}", ts(i), ts(i));
    }
    std::fs::write(&path, s).unwrap();
    path
}

#[test]
fn sim_max_speed_keeps_up_with_60k_lines() {
    let path = synth_tape(60_000);
    let mut cfg = SimConfig::new(&path);
    cfg.speed = Speed::Max;
    let sim = Sim::start(cfg).unwrap();
    let mut c = Client::connect(&sim.url());
    c.auth("perf");
    let t0 = Instant::now();
    c.result(
        "public/subscribe",
        json!({"channels":["book.BTC-PERPETUAL.raw"]}),
    );
    // a request in the middle of the replay is answered promptly
    let mut frames = 0usize;
    while frames < 20_000 {
        if c.note(Duration::from_secs(10)).is_some() {
            frames += 1;
        }
    }
    let t = Instant::now();
    let id = c.send("public/test", json!({}));
    let r = c.reply(id);
    assert_eq!(r["result"]["version"], "1.2.26");
    let rtt = t.elapsed();
    frames += c
        .drain(|| sim.tape_finished(), Duration::from_millis(300))
        .len();
    assert_eq!(frames, 60_000, "every frame received");
    let elapsed = t0.elapsed();
    let l = sim.stop();
    eprintln!(
        "60k-line replay: {elapsed:?}, mid-replay request round trip {rtt:?}, frames sent {}",
        l.stats.md_frames_sent
    );
    assert_eq!(l.stats.md_frames_sent, 60_000);
    assert!(elapsed < Duration::from_secs(60), "too slow: {elapsed:?}");
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
