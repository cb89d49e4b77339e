//! Side-by-side comparison of mm-fast's hot-path components with peer crates, on real data,
//! in one run (≈1 minute): book updates (hftbacktest), decoding (serde_json, simd-json,
//! sonic-rs), the inter-thread hop (rtrb, crossbeam `ArrayQueue`) and the hot step.
//!
//! Timing: own loops with `std::time::Instant` around whole batches (never around a single
//! item), one warm-up batch, then the **median over repeated batches** of time per item, the
//! contenders of one comparison interleaved batch by batch (`timing::interleaved`) so that
//! they see the same background load;
//! ring hops from an hdrhistogram of ping-pong RTT/2 samples (median of each quantile over
//! three rounds). The workloads are `mm_bench`'s, shared with the criterion benches.
//!
//! ```text
//! cargo run --release -p mm-bench --features peers --bin compare -- [--json out.json] [--quick]
//! ```
//!
//! Prints one table of medians and ratios (peer time / our time: > 1 means ours is faster;
//! for the ring, our p50 / peer p50) with the issue's goals, then writes the JSON if asked.

use mm_bench::books;
use mm_bench::decode::{Corpus, Ours, KINDS};
use mm_bench::depth::{self, DepthStream};
use mm_bench::deribit::{self, Tape};
use mm_bench::hot::{decode_all, Rig};
use mm_bench::peers::{SerdeJson, SimdJson, SonicRs};
use mm_bench::ring::{self, ping_pong, throughput, HopStats, Rx, Tx};
use mm_bench::timing::{interleaved, machine, median, median_ns_per_item, timed};
use serde_json::{json, Value};
use std::hint::black_box;

struct Opts {
    json: Option<String>,
    reps: usize,
    hop_samples: usize,
    tput_n: usize,
}

fn opts() -> Opts {
    let mut o = Opts {
        json: None,
        reps: 15,
        hop_samples: 100_000,
        tput_n: 2_000_000,
    };
    let mut a = std::env::args().skip(1);
    while let Some(x) = a.next() {
        match x.as_str() {
            "--json" => o.json = a.next(),
            "--quick" => {
                o.reps = 5;
                o.hop_samples = 20_000;
                o.tput_n = 200_000;
            }
            "-h" | "--help" => {
                println!("compare [--json out.json] [--quick]");
                std::process::exit(0);
            }
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    o
}

fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// One line of the printed table.
struct Line {
    what: String,
    ours: f64,
    peers: Vec<(&'static str, f64)>,
    unit: &'static str,
    goal: String,
}

fn book_stream(s: &DepthStream, reps: usize) -> Value {
    let n = s.changes.len() as u64;
    let mut o = books::Ours::new(s);
    // Detail: the same book with the options-sized window (4096 ticks), where most levels of a
    // deep perpetual book live in the deep levels beyond the window.
    let mut w = books::Ours::with_window(books::OPTION_WINDOW, books::OUR_OVERFLOW);
    let mut h = books::HashMap::new(s);
    let mut r = books::Roi::new(s);
    // One timed batch of a book: reset to the snapshot (untimed), apply every change.
    macro_rules! batch {
        ($b:expr) => {
            &mut || {
                timed(
                    &mut $b,
                    |b| b.reset(s),
                    |b| {
                        black_box(b.apply(s));
                        n
                    },
                )
            }
        };
    }
    let t = interleaved(reps, &mut [batch!(o), batch!(w), batch!(h), batch!(r)]);
    let (ours, wide, hm, roi) = (t[0], t[1], t[2], t[3]);
    // Same final touch from the same updates.
    let ob = o.book();
    use mm_core::book::BookView;
    let ours_best = (
        ob.best_bid().unwrap_or(i64::MIN),
        ob.best_ask().unwrap_or(i64::MAX),
    );
    // Updates more than half a window (2048 ticks) from the final mid: roughly those that
    // land in our overflow array.
    let ob_lo = (ours_best.0 + ours_best.1) / 2;
    json!({
        "stream": s.name,
        "snapshot_levels": s.snapshot.len(),
        "level_updates": n,
        "frames": s.frame_ends.len(),
        "ours_ns": r2(ours),
        "updates_beyond_2048_ticks_of_final_mid": s.snapshot.iter().chain(&s.changes).filter(|l| (l.px - ob_lo).abs() > 2048).count(),
        "ours_window_4096_ns": r2(wide),
        "hftbacktest_hashmap_ns": r2(hm),
        "hftbacktest_roi_ns": r2(roi),
        "ratio_hashmap_over_ours": r2(hm / ours),
        "ratio_roi_over_ours": r2(roi / ours),
        "same_final_touch": ours_best == h.best() && ours_best == r.best(),
        "roi_ticks": s.px_range.1 - s.px_range.0 + 1,
    })
}

fn decode_set(c: &Corpus, frames: &[(usize, &[u8])], reps: usize, max_len: usize) -> Value {
    let n = frames.len() as u64;
    let bytes: usize = frames.iter().map(|f| f.1.len()).sum();
    let mut ours = Ours::new(c);
    let mut sj = SerdeJson::new(8192);
    let mut simd = SimdJson::new(max_len, 8192);
    let mut sonic = SonicRs::new(8192);
    // One timed batch of a decoder over every frame; `$d(state, tape, frame)` returns a fold
    // of what it extracted.
    macro_rules! batch {
        ($st:expr, $setup:expr, $d:expr) => {
            &mut || {
                timed(&mut $st, $setup, |st| {
                    let mut acc = 0u64;
                    for &(t, f) in frames {
                        acc ^= $d(&mut *st, t, f);
                    }
                    black_box(acc);
                    n
                })
            }
        };
    }
    let t = interleaved(
        reps,
        &mut [
            batch!(ours, |o: &mut Ours| o.reset(), |o: &mut Ours, t, f| o
                .decode(t, f)),
            batch!(sj, |_: &mut SerdeJson| {}, |d: &mut SerdeJson, _, f| d
                .decode(f)
                .map_or(u64::MAX, |x| x.fold())),
            batch!(simd, |_: &mut SimdJson| {}, |d: &mut SimdJson, _, f| d
                .decode(f)
                .map_or(u64::MAX, |x| x.fold())),
            batch!(sonic, |_: &mut SonicRs| {}, |d: &mut SonicRs, _, f| d
                .decode(f)
                .map_or(u64::MAX, |x| x.fold())),
        ],
    );
    let (t_ours, t_sj, t_simd, t_sonic) = (t[0], t[1], t[2], t[3]);
    let per_byte = |t: f64| r2(t * n as f64 / bytes as f64 * 1000.0) / 1000.0;
    json!({
        "frames": n,
        "bytes": bytes,
        "mean_frame_bytes": bytes / frames.len().max(1),
        "ours_ns": r2(t_ours),
        "serde_json_ns": r2(t_sj),
        "simd_json_ns": r2(t_simd),
        "sonic_rs_ns": r2(t_sonic),
        "ours_ns_per_byte": per_byte(t_ours),
        "serde_json_ns_per_byte": per_byte(t_sj),
        "simd_json_ns_per_byte": per_byte(t_simd),
        "sonic_rs_ns_per_byte": per_byte(t_sonic),
        "ratio_serde_json_over_ours": r2(t_sj / t_ours),
        "ratio_simd_json_over_ours": r2(t_simd / t_ours),
        "ratio_sonic_rs_over_ours": r2(t_sonic / t_ours),
    })
}

struct RingResult {
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
    tput_ns: f64,
    pinned: bool,
}

fn ring_one<T: Tx, R: Rx>(mk: fn(usize) -> (T, R), o: &Opts) -> RingResult {
    let mut q: [Vec<f64>; 4] = Default::default();
    let mut pinned = false;
    for _ in 0..3 {
        let st: HopStats =
            ping_pong(mk, 1024, 10_000, o.hop_samples).unwrap_or_else(|e| panic!("ping-pong: {e}"));
        pinned = st.pinned;
        q[0].push(st.q(0.5) as f64);
        q[1].push(st.q(0.99) as f64);
        q[2].push(st.q(0.999) as f64);
        q[3].push(st.hist.max() as f64);
    }
    let mut t: Vec<f64> = (0..3)
        .map(|_| throughput(mk, 1024, o.tput_n).unwrap_or_else(|e| panic!("throughput: {e}")))
        .collect();
    RingResult {
        p50: median(&mut q[0]),
        p99: median(&mut q[1]),
        p999: median(&mut q[2]),
        max: median(&mut q[3]),
        tput_ns: median(&mut t),
        pinned,
    }
}

fn hot(tapes: &[Tape], reps: usize) -> (Value, f64, f64) {
    let mut per = Vec::new();
    let (mut tot_step, mut tot_ev, mut tot_frame, mut tot_fr) = (0.0, 0u64, 0.0, 0u64);
    for t in tapes {
        let frames: Vec<&[u8]> = t.frames.iter().map(|f| &f.bytes[..]).collect();
        let events = decode_all(&t.table, &frames);
        let n = events.len() as u64;
        let mut rig = Rig::new(&t.table);
        let step = median_ns_per_item(
            reps,
            &mut rig,
            |rig| *rig = Rig::new(&t.table),
            |rig| {
                rig.step_all(&events, 5);
                n
            },
        );
        let intents = rig.intents;
        let nf = frames.len() as u64;
        let frame = median_ns_per_item(
            reps,
            &mut rig,
            |rig| *rig = Rig::new(&t.table),
            |rig| {
                for f in &frames {
                    rig.frame(f, 5);
                }
                nf
            },
        );
        tot_step += step * n as f64;
        tot_ev += n;
        tot_frame += frame * nf as f64;
        tot_fr += nf;
        per.push(json!({
            "tape": t.name, "frames": nf, "events": n, "intents": intents,
            "step_ns_per_event": r2(step), "decode_and_step_ns_per_frame": r2(frame),
        }));
    }
    let step = tot_step / tot_ev as f64;
    let frame = tot_frame / tot_fr as f64;
    (Value::Array(per), step, frame)
}

fn main() {
    let o = opts();
    let m = machine();
    let t0 = std::time::Instant::now();
    eprintln!("compare: loading workloads…");
    let binance = depth::binance_btcusdt();
    let tardis = depth::tardis_btc_perpetual();
    let corpus = Corpus::load();
    let mut hot_tapes = deribit::cryptofeed_tapes();
    hot_tapes.extend(deribit::binance_tapes());
    eprintln!(
        "compare: loaded in {:.1} s; book…",
        t0.elapsed().as_secs_f64()
    );

    let book_b = book_stream(&binance, o.reps);
    let book_t = book_stream(&tardis, o.reps * 4);
    eprintln!("compare: decode…");
    let max_len = corpus.all().iter().map(|f| f.1.len()).max().unwrap_or(0);
    let mut dec_kinds = serde_json::Map::new();
    for k in KINDS {
        let reps = if k == mm_bench::deribit::FrameKind::User {
            o.reps * 20
        } else {
            o.reps
        };
        dec_kinds.insert(
            k.name().into(),
            decode_set(&corpus, &corpus.frames(k), reps, max_len),
        );
    }
    let dec_all = decode_set(&corpus, &corpus.all(), o.reps, max_len);
    eprintln!("compare: ring…");
    let r_ours = ring_one(ring::ours, &o);
    let r_rtrb = ring_one(ring::rtrb, &o);
    let r_aq = ring_one(ring::arrayqueue, &o);
    eprintln!("compare: hot step…");
    let (hot_per, hot_step, hot_frame) = hot(&hot_tapes, o.reps.min(9));

    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let lines = vec![
        Line {
            what: "book update, Binance BTCUSDT (ns/level)".into(),
            ours: f(&book_b, "ours_ns"),
            peers: vec![
                ("hashmap", f(&book_b, "hftbacktest_hashmap_ns")),
                ("roi", f(&book_b, "hftbacktest_roi_ns")),
            ],
            unit: "ns",
            goal: "hashmap ≥3×, roi ≥1.5×".into(),
        },
        Line {
            what: "book update, Deribit tardis (ns/level)".into(),
            ours: f(&book_t, "ours_ns"),
            peers: vec![
                ("hashmap", f(&book_t, "hftbacktest_hashmap_ns")),
                ("roi", f(&book_t, "hftbacktest_roi_ns")),
            ],
            unit: "ns",
            goal: "(detail)".into(),
        },
        Line {
            what: "book update, Binance, ours 4096-tick window (detail)".into(),
            ours: f(&book_b, "ours_window_4096_ns"),
            peers: vec![
                ("hashmap", f(&book_b, "hftbacktest_hashmap_ns")),
                ("roi", f(&book_b, "hftbacktest_roi_ns")),
            ],
            unit: "ns",
            goal: "(detail)".into(),
        },
    ];
    let mut lines = lines;
    for (name, v) in
        std::iter::once(("all", &dec_all)).chain(dec_kinds.iter().map(|(k, v)| (k.as_str(), v)))
    {
        lines.push(Line {
            what: format!("decode {name} (ns/frame, {} B avg)", v["mean_frame_bytes"]),
            ours: f(v, "ours_ns"),
            peers: vec![
                ("serde_json", f(v, "serde_json_ns")),
                ("simd_json", f(v, "simd_json_ns")),
                ("sonic_rs", f(v, "sonic_rs_ns")),
            ],
            unit: "ns",
            goal: if name == "all" {
                "serde ≥3×, simd/sonic ≥2×".into()
            } else {
                "(detail)".into()
            },
        });
    }
    for (q, a, b, c) in [
        ("p50", r_ours.p50, r_rtrb.p50, r_aq.p50),
        ("p99", r_ours.p99, r_rtrb.p99, r_aq.p99),
        ("p99.9", r_ours.p999, r_rtrb.p999, r_aq.p999),
        (
            "throughput ns/msg",
            r_ours.tput_ns,
            r_rtrb.tput_ns,
            r_aq.tput_ns,
        ),
    ] {
        lines.push(Line {
            what: format!("ring hop {q}"),
            ours: a,
            peers: vec![("rtrb", b), ("arrayqueue", c)],
            unit: "ns",
            goal: if q == "p50" {
                "≤ rtrb, ≤ 0.6× arrayqueue".into()
            } else {
                String::new()
            },
        });
    }

    println!();
    println!(
        "machine: {} × {} ; clocksource {} ; compiled for {} ; ring threads pinned: {}",
        m.cpus, m.model, m.clocksource, m.target_features, r_ours.pinned
    );
    println!(
        "{:<44} {:>9} {:>24} {:>24} {:>24}   goal",
        "median (ratio = peer / ours)", "ours", "peer 1", "peer 2", "peer 3"
    );
    for l in &lines {
        let mut row = format!("{:<44} {:>7.1}{:<2}", l.what, l.ours, l.unit);
        for (name, v) in &l.peers {
            row.push_str(&format!(
                " {:>24}",
                format!("{name} {v:.1} ({:.2}×)", v / l.ours)
            ));
        }
        for _ in l.peers.len()..3 {
            row.push_str(&format!(" {:>24}", ""));
        }
        row.push_str(&format!("   {}", l.goal));
        println!("{row}");
    }
    println!(
        "{:<44} {:>7.1}ns   (decode + step per frame: {:.1} ns)",
        "hot step (on_md, ns/md event, all tapes)", hot_step, hot_frame
    );

    let book_ok = (
        f(&book_b, "ratio_hashmap_over_ours") >= 3.0,
        f(&book_b, "ratio_roi_over_ours") >= 1.5,
    );
    let dec_ok = (
        f(&dec_all, "ratio_serde_json_over_ours") >= 3.0,
        f(&dec_all, "ratio_simd_json_over_ours") >= 2.0,
        f(&dec_all, "ratio_sonic_rs_over_ours") >= 2.0,
    );
    let ring_ok = (r_ours.p50 <= r_rtrb.p50, r_ours.p50 <= 0.6 * r_aq.p50);
    println!(
        "goals: book vs hashmap ≥3× {} ; vs roi ≥1.5× {} ; decode vs serde_json ≥3× {} ; vs simd-json ≥2× {} ; vs sonic-rs ≥2× {} ; ring p50 ≤ rtrb {} ; ≤ 0.6× arrayqueue {}",
        ok(book_ok.0), ok(book_ok.1), ok(dec_ok.0), ok(dec_ok.1), ok(dec_ok.2), ok(ring_ok.0), ok(ring_ok.1)
    );
    eprintln!("compare: done in {:.1} s", t0.elapsed().as_secs_f64());

    let ring_json = |r: &RingResult| json!({"p50_ns": r.p50, "p99_ns": r.p99, "p999_ns": r.p999, "max_ns": r.max, "throughput_ns_per_msg": r2(r.tput_ns), "throughput_mmsg_per_s": r2(1000.0 / r.tput_ns)});
    let out = json!({
        "machine": {
            "cpus": m.cpus, "model": m.model, "clocksource": m.clocksource,
            "target_features": m.target_features, "ring_threads_pinned": r_ours.pinned,
        },
        "method": "median over repeated batches of time per item (std::time::Instant around whole batches); ring: hdrhistogram of ping-pong RTT/2, median of 3 rounds",
        "book_update": {
            "ours_ns": book_b["ours_ns"],
            "hftbacktest_hashmap_ns": book_b["hftbacktest_hashmap_ns"],
            "hftbacktest_roi_ns": book_b["hftbacktest_roi_ns"],
            "ratio_hashmap_over_ours": book_b["ratio_hashmap_over_ours"],
            "ratio_roi_over_ours": book_b["ratio_roi_over_ours"],
            "streams": {"binance_btcusdt": book_b, "tardis_btc_perpetual": book_t},
        },
        "decode": {
            "ours_ns": dec_all["ours_ns"],
            "serde_json_ns": dec_all["serde_json_ns"],
            "simd_json_ns": dec_all["simd_json_ns"],
            "sonic_rs_ns": dec_all["sonic_rs_ns"],
            "ratio_serde_json_over_ours": dec_all["ratio_serde_json_over_ours"],
            "ratio_simd_json_over_ours": dec_all["ratio_simd_json_over_ours"],
            "ratio_sonic_rs_over_ours": dec_all["ratio_sonic_rs_over_ours"],
            "all": dec_all,
            "by_kind": dec_kinds,
        },
        "ring": {
            "ours_p50_ns": r_ours.p50, "rtrb_p50_ns": r_rtrb.p50, "arrayqueue_p50_ns": r_aq.p50,
            "ratio_ours_over_rtrb_p50": r2(r_ours.p50 / r_rtrb.p50),
            "ratio_ours_over_arrayqueue_p50": r2(r_ours.p50 / r_aq.p50),
            "ours": ring_json(&r_ours), "rtrb": ring_json(&r_rtrb), "arrayqueue": ring_json(&r_aq),
            "payload": "MdEvent, 64 bytes", "capacity": 1024,
        },
        "hot_step_ns": r2(hot_step),
        "hot_decode_and_step_ns_per_frame": r2(hot_frame),
        "hot_step_tapes": hot_per,
        "goals": {
            "book_hashmap_3x": book_ok.0, "book_roi_1_5x": book_ok.1,
            "decode_serde_json_3x": dec_ok.0, "decode_simd_json_2x": dec_ok.1, "decode_sonic_rs_2x": dec_ok.2,
            "ring_p50_le_rtrb": ring_ok.0, "ring_p50_le_0_6_arrayqueue": ring_ok.1,
        },
        "runtime_s": r2(t0.elapsed().as_secs_f64()),
    });
    if let Some(p) = &o.json {
        std::fs::write(p, serde_json::to_string_pretty(&out).expect("json"))
            .unwrap_or_else(|e| panic!("{p}: {e}"));
        eprintln!("compare: wrote {p}");
    }
}

fn ok(b: bool) -> &'static str {
    if b {
        "MET"
    } else {
        "NOT MET"
    }
}
