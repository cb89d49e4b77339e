//! Binance USD-M collector files re-hosted as Deribit-protocol perpetuals
//! (`mm_venues::sim::tape::binance`), on the real files under `MM_DATA_DIR/binance/usdm/`.
//!
//! The book the simulator builds is checked against an **independent** reconstruction that
//! applies the raw Binance absolute quantities to `BTreeMap`s by Binance's documented USD-M
//! sync rule (buffer diffs, drop `u < lastUpdateId`, first diff `U ≤ L ≤ u`, then `pu` chains),
//! and against a decoder-side book built from the rendered Deribit frames, which also checks
//! every row's `new`/`change`/`delete` against the levels that exist.

mod sim_util;

use mm_core::decimal::Dec;
use mm_core::instrument::Kind;
use mm_venues::sim::book::{write_update_data, RecordedBook};
use mm_venues::sim::instruments;
use mm_venues::sim::tape::{self, binance, Tape, TapeBody, TapeFormat};
use mm_venues::sim::{Sim, SimConfig, Speed};
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;
use sim_util::*;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn usdm(name: &str) -> PathBuf {
    let p = data_dir().join("binance/usdm").join(name);
    assert!(p.exists(), "recorded data missing: {}", p.display());
    p
}

fn gunzip(p: &PathBuf) -> String {
    let bytes = std::fs::read(p).unwrap();
    let mut s = String::new();
    flate2::read::MultiGzDecoder::new(&bytes[..])
        .read_to_string(&mut s)
        .unwrap();
    s
}

/// Decimal text → integer units of 1e-8, exactly (no float, no shared parser).
fn e8(text: &str) -> i64 {
    let t = text.trim().trim_matches('"');
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    assert!(frac.len() <= 8, "{t}: more than 8 decimals");
    let mut v: i64 = int.parse::<i64>().unwrap() * 100_000_000;
    let mut scale = 10_000_000;
    for c in frac.bytes() {
        v += (c - b'0') as i64 * scale;
        scale /= 10;
    }
    v
}

fn dec_e8(d: Dec) -> i64 {
    assert!(d.scale <= 8);
    d.mant * 10i64.pow(8 - d.scale)
}

type Side = BTreeMap<i64, i64>;

/// What the independent walk of the raw files found.
#[derive(Default)]
struct Indep {
    bids: Side,
    asks: Side,
    last_u: u64,
    snapshot_id: u64,
    depth_lines: usize,
    applied: usize,
    /// Applied diffs ending exactly at the snapshot (`u == lastUpdateId`): Binance's rule
    /// processes them, the reader drops them (their content is in the snapshot).
    at_snapshot: usize,
    trades: usize,
    trade_ids: Vec<String>,
}

/// A raw Binance line, typed (faster than `Value` in debug builds).
#[derive(Deserialize)]
struct RawLine<'a> {
    #[serde(rename = "lastUpdateId")]
    last_update_id: Option<u64>,
    #[serde(borrow, default)]
    bids: Vec<[&'a str; 2]>,
    #[serde(borrow, default)]
    asks: Vec<[&'a str; 2]>,
    #[serde(borrow)]
    stream: Option<&'a str>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawDepth<'a> {
    #[serde(rename = "U")]
    first: u64,
    u: u64,
    pu: u64,
    #[serde(borrow)]
    b: Vec<[&'a str; 2]>,
    #[serde(borrow)]
    a: Vec<[&'a str; 2]>,
}

#[derive(Deserialize)]
struct RawTrade {
    t: u64,
}

/// Independent reconstruction by Binance's documented USD-M rule.
fn independent(files: &[PathBuf]) -> Indep {
    let texts: Vec<String> = files.iter().map(gunzip).collect();
    let mut r = Indep::default();
    let mut synced = false;
    let mut first_done = false;
    let mut buffer: Vec<RawDepth<'_>> = Vec::new();
    let process = |r: &mut Indep, first_done: &mut bool, d: RawDepth<'_>| {
        if !*first_done {
            let l = r.snapshot_id;
            if d.u < l {
                return;
            }
            assert!(
                d.first <= l && d.u >= l,
                "first diff U {} u {} vs lastUpdateId {l}",
                d.first,
                d.u
            );
            if d.u == l {
                r.at_snapshot += 1;
            }
            *first_done = true;
        } else {
            assert_eq!(d.pu, r.last_u, "independent walk: chain break");
        }
        for (rows, m) in [(&d.b, &mut r.bids), (&d.a, &mut r.asks)] {
            for [p, q] in rows {
                let (px, q) = (e8(p), e8(q));
                if q == 0 {
                    m.remove(&px);
                } else {
                    m.insert(px, q);
                }
            }
        }
        r.last_u = d.u;
        r.applied += 1;
    };
    for text in &texts {
        for line in text.lines() {
            let (_, js) = line.split_once(' ').unwrap();
            if js.contains("@bookTicker\"") {
                continue;
            }
            let v: RawLine<'_> = serde_json::from_str(js).unwrap();
            if let Some(l) = v.last_update_id {
                assert!(!synced, "one snapshot per symbol");
                r.snapshot_id = l;
                for (rows, m) in [(&v.bids, &mut r.bids), (&v.asks, &mut r.asks)] {
                    for [p, q] in rows {
                        m.insert(e8(p), e8(q));
                    }
                }
                synced = true;
                for d in std::mem::take(&mut buffer) {
                    process(&mut r, &mut first_done, d);
                }
                continue;
            }
            let stream = v.stream.unwrap();
            let data = v.data.unwrap().get();
            if stream.contains("@depth") {
                r.depth_lines += 1;
                let d: RawDepth<'_> = serde_json::from_str(data).unwrap();
                if synced {
                    process(&mut r, &mut first_done, d);
                } else {
                    buffer.push(d);
                }
            } else if stream.ends_with("@trade") {
                let t: RawTrade = serde_json::from_str(data).unwrap();
                r.trades += 1;
                r.trade_ids.push(t.t.to_string());
            }
        }
    }
    assert!(synced && first_done);
    r
}

/// A rendered Deribit book `data` object, typed.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    typ: &'a str,
    #[serde(borrow)]
    bids: Vec<(&'a str, &'a RawValue, &'a RawValue)>,
    #[serde(borrow)]
    asks: Vec<(&'a str, &'a RawValue, &'a RawValue)>,
}

/// Book from the tape through the simulator's own book code, and from the rendered Deribit
/// frames (strict: `new` only for absent levels, `change`/`delete` only for present ones).
struct Rebuilt {
    sim: RecordedBook,
    frames: [Side; 2],
    books: usize,
    trades: Vec<String>,
}

fn rebuild(t: &Tape, name: &str) -> Rebuilt {
    let insts = instruments::build(t, None).unwrap();
    let inst = insts.table.get(insts.table.id(name).unwrap()).clone();
    let mut sim = RecordedBook::default();
    let mut frames: [Side; 2] = [BTreeMap::new(), BTreeMap::new()];
    let mut last: Option<u64> = None;
    let mut books = 0;
    let mut trades = Vec::new();
    let mut prev_ts = 0;
    for e in t.events.iter().filter(|e| e.instrument == name) {
        assert!(e.ts_ns >= prev_ts, "time order");
        prev_ts = e.ts_ns;
        match &e.body {
            TapeBody::Book(u) => {
                books += 1;
                if u.snapshot {
                    assert_eq!(books, 1, "one snapshot, first");
                } else {
                    assert_eq!(u.prev_change_id, last, "Deribit chain unbroken");
                    assert!(u.change_id > last.unwrap(), "change_id increases");
                }
                last = Some(u.change_id);
                sim.apply(&inst, u);
                let mut s = String::new();
                write_update_data(name, u, &mut s);
                let v: Frame<'_> = serde_json::from_str(&s).unwrap();
                if v.typ == "snapshot" {
                    frames[0].clear();
                    frames[1].clear();
                }
                for (rows, side) in [(&v.bids, 0), (&v.asks, 1)] {
                    for (action, p, q) in rows {
                        let (px, q) = (e8(p.get()), e8(q.get()));
                        let m = &mut frames[side];
                        match *action {
                            "new" => assert!(m.insert(px, q).is_none(), "new on a live level"),
                            "change" => assert!(m.insert(px, q).is_some(), "change of no level"),
                            "delete" => assert!(m.remove(&px).is_some(), "delete of no level"),
                            a => panic!("action {a}"),
                        }
                    }
                }
            }
            TapeBody::Trades(ts) => trades.extend(ts.iter().map(|t| t.trade_id.clone())),
            TapeBody::Ticker(_) => {}
        }
    }
    Rebuilt {
        sim,
        frames,
        books,
        trades,
    }
}

fn sim_side(b: &RecordedBook, bid: bool) -> Side {
    let m = if bid { &b.bids } else { &b.asks };
    m.values()
        .map(|l| (dec_e8(l.price), dec_e8(l.amount)))
        .collect()
}

fn top(m: &Side, n: usize, bid: bool) -> Vec<(i64, i64)> {
    if bid {
        m.iter().rev().take(n).map(|(p, q)| (*p, *q)).collect()
    } else {
        m.iter().take(n).map(|(p, q)| (*p, *q)).collect()
    }
}

/// Every check on one tape of one symbol.
fn check(files: &[&str], name: &str) {
    let paths: Vec<PathBuf> = files.iter().map(|f| usdm(f)).collect();
    let t = if paths.len() == 1 {
        tape::load(&paths[0]).unwrap()
    } else {
        tape::load_many(&paths).unwrap()
    };
    assert_eq!(t.format, TapeFormat::Binance);
    assert_eq!(t.instruments(), vec![name.to_string()]);
    let ind = independent(&paths);
    let r = rebuild(&t, name);
    // Chain: one snapshot + one change per applied diff, last change_id = last u.
    assert_eq!(
        r.books,
        1 + ind.applied - ind.at_snapshot,
        "{name}: book events"
    );
    assert_eq!(
        r.sim.change_id, ind.last_u,
        "{name}: last change_id = last u"
    );
    assert!(ind.depth_lines >= ind.applied);
    // Trades: one per @trade line, same ids in order.
    assert_eq!(r.trades.len(), ind.trades, "{name}: trades");
    assert_eq!(r.trades, ind.trade_ids);
    // Books: simulator book == decoder-side book from the frames, whole depth.
    assert_eq!(
        sim_side(&r.sim, true),
        r.frames[0],
        "{name}: bids sim vs frames"
    );
    assert_eq!(
        sim_side(&r.sim, false),
        r.frames[1],
        "{name}: asks sim vs frames"
    );
    // == independent reconstruction: top 20 levels per side (and the whole book, see below).
    for (bid, ind_side) in [(true, &ind.bids), (false, &ind.asks)] {
        assert_eq!(
            top(&sim_side(&r.sim, bid), 20, bid),
            top(ind_side, 20, bid),
            "{name}: top 20 {} vs independent",
            if bid { "bids" } else { "asks" }
        );
    }
    assert_eq!(sim_side(&r.sim, true), ind.bids, "{name}: all bids");
    assert_eq!(sim_side(&r.sim, false), ind.asks, "{name}: all asks");
    assert_eq!(
        r.sim.off_grid, 0,
        "{name}: every price on the re-hosted tick"
    );
}

#[test]
fn btcusdt_20240718_snapshot_and_diffs_reproduce_the_book() {
    check(&["btcusdt_20240718.gz"], "BTC_USDT-PERPETUAL");
}

#[test]
fn btcusdt_18_and_19_are_one_tape() {
    check(
        &["btcusdt_20240718.gz", "btcusdt_20240719.gz"],
        "BTC_USDT-PERPETUAL",
    );
}

#[test]
fn ethusdt_18_and_19_are_one_tape() {
    check(
        &["ethusdt_20240718.gz", "ethusdt_20240719.gz"],
        "ETH_USDT-PERPETUAL",
    );
}

#[test]
fn btcusdt_2023_04_04_and_05_are_one_tape() {
    check(
        &["btcusdt_20230404.dat.gz", "btcusdt_20230405.dat.gz"],
        "BTC_USDT-PERPETUAL",
    );
}

#[test]
fn two_symbols_in_one_tape_stay_independent() {
    let t = tape::load_many(&[usdm("btcusdt_20240718.gz"), usdm("ethusdt_20240718.gz")]).unwrap();
    let mut names = t.instruments();
    names.sort();
    assert_eq!(names, ["BTC_USDT-PERPETUAL", "ETH_USDT-PERPETUAL"]);
    assert!(t.events.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
}

#[test]
fn day2_alone_and_out_of_order_days_are_refused() {
    let e = tape::load(&usdm("btcusdt_20240719.gz")).unwrap_err();
    assert!(e.contains("no REST depth snapshot"), "{e}");
    let e =
        tape::load_many(&[usdm("btcusdt_20240719.gz"), usdm("btcusdt_20240718.gz")]).unwrap_err();
    assert!(
        e.contains("btcusdt_20240719.gz: line 1") && e.contains("missing"),
        "names the file and line: {e}"
    );
    // Days of different sessions do not chain.
    let e = tape::load_many(&[usdm("btcusdt_20230404.dat.gz"), usdm("btcusdt_20240719.gz")])
        .unwrap_err();
    assert!(
        e.contains("btcusdt_20240719.gz: line 1") && e.contains("chain break"),
        "{e}"
    );
}

#[test]
fn several_files_of_other_formats_are_refused() {
    let e = tape::load_many(&[tape_tardis(), tape_tardis()]).unwrap_err();
    assert!(e.contains("Binance"), "{e}");
    // One file of any format still loads through load_many.
    assert!(tape::load_many(&[tape_tardis()]).is_ok());
}

#[test]
fn instruments_are_rehosted_as_documented() {
    let t = tape::load_many(&[usdm("btcusdt_20240718.gz"), usdm("ethusdt_20240718.gz")]).unwrap();
    let insts = instruments::build(&t, None).unwrap();
    for (name, sym, tick) in [
        ("BTC_USDT-PERPETUAL", "BTCUSDT", Dec::new(1, 1)),
        ("ETH_USDT-PERPETUAL", "ETHUSDT", Dec::new(1, 2)),
    ] {
        let p = instruments::parse_name(name).unwrap();
        assert!(p.linear && p.kind == Kind::Perpetual, "{name}: {p:?}");
        let i = insts.table.get(insts.table.id(name).unwrap());
        assert_eq!(i.kind, Kind::Perpetual);
        assert_eq!(i.tick, tick);
        assert_eq!(i.lot, Dec::new(1, 3));
        assert_eq!(i.contract_size, Dec::new(1, 3));
        assert!(!i.inverse);
        assert_eq!(i.quote_currency, "USDT");
        assert_eq!(i.settlement_currency, "USDT");
        assert_eq!((i.maker_fee, i.taker_fee), (0.0002, 0.0005));
        assert_eq!(i.expiry_ms, None);
        assert_eq!(
            i.rehosted_from.as_deref(),
            Some(format!("binance-usdm:{sym}").as_str())
        );
        // The served JSON carries the label and parses back through the Deribit decoder.
        let mut s = String::from("[");
        instruments::write_json(i, &insts.meta[i.id as usize], &mut s);
        s.push(']');
        let back = mm_venues::deribit::instruments::parse_instruments(s.as_bytes()).unwrap();
        assert_eq!(back.len(), 1);
        let b = &back[0];
        assert_eq!(
            (b.kind, b.tick, b.lot, b.inverse),
            (i.kind, i.tick, i.lot, false)
        );
        assert_eq!(b.rehosted_from, i.rehosted_from);
        assert_eq!(b.settlement_currency, "USDT");
    }
    assert!(insts
        .notes
        .iter()
        .any(|n| n.contains("re-hosted Binance USD-M BTCUSDT")));
    assert_eq!(
        binance::instrument_name("ethusdt").as_deref(),
        Some("ETH_USDT-PERPETUAL")
    );
}

/// Over a real socket: `SimConfig::more_tapes`, the rendered frames' chain, trades, the
/// instrument label and the served book against the independent reconstruction.
#[test]
fn sim_serves_two_days_as_one_tape_over_websocket() {
    let files = [usdm("btcusdt_20240718.gz"), usdm("btcusdt_20240719.gz")];
    let ind = independent(&files);
    let mut cfg = SimConfig::new(&files[0]);
    cfg.more_tapes = vec![files[1].clone()];
    cfg.speed = Speed::Max;
    let sim = Sim::start(cfg).unwrap();
    let name = "BTC_USDT-PERPETUAL";
    let mut c = Client::connect(&sim.url());
    let insts = c.result("public/get_instruments", json!({"currency": "BTC"}));
    assert_eq!(insts[0]["instrument_name"], name);
    assert_eq!(insts[0]["mmf_rehosted_from"], "binance-usdm:BTCUSDT");
    assert_eq!(insts[0]["instrument_type"], "linear");
    assert_eq!(insts[0]["settlement_period"], "perpetual");
    let chans = md_channels(&[name.to_string()]);
    c.auth("binance");
    let acc = c.result("public/subscribe", json!({ "channels": chans }));
    assert_eq!(acc.as_array().unwrap().len(), chans.len(), "{acc}");
    let t0 = Instant::now();
    let notes = c.drain(|| sim.tape_finished(), Duration::from_millis(300));
    eprintln!("{} notifications in {:?}", notes.len(), t0.elapsed());
    let mut last: Option<u64> = None;
    let (mut books, mut tickers) = (0, 0);
    let mut trade_ids = Vec::new();
    let mut bids: Side = BTreeMap::new();
    let mut asks: Side = BTreeMap::new();
    for v in &notes {
        let ch = v["params"]["channel"].as_str().unwrap();
        let d = &v["params"]["data"];
        if ch.starts_with("book.") {
            books += 1;
            if d["type"] == "change" {
                assert_eq!(d["prev_change_id"].as_u64(), last, "chain");
            } else {
                assert_eq!(books, 1);
            }
            last = d["change_id"].as_u64();
            for (key, m) in [("bids", &mut bids), ("asks", &mut asks)] {
                for row in d[key].as_array().unwrap() {
                    let px = e8(&row[1].to_string());
                    if row[0] == "delete" {
                        m.remove(&px);
                    } else {
                        m.insert(px, e8(&row[2].to_string()));
                    }
                }
            }
        } else if ch.starts_with("trades.") {
            for t in d.as_array().unwrap() {
                trade_ids.push(t["trade_id"].as_str().unwrap().to_string());
            }
        } else if ch.starts_with("ticker.") {
            tickers += 1;
        }
    }
    assert_eq!(books, 1 + ind.applied - ind.at_snapshot);
    assert_eq!(last, Some(ind.last_u));
    assert_eq!(tickers, books, "one synthetic ticker per book notification");
    assert_eq!(trade_ids, ind.trade_ids);
    assert_eq!(top(&bids, 20, true), top(&ind.bids, 20, true));
    assert_eq!(top(&asks, 20, false), top(&ind.asks, 20, false));
    let ob = c.result(
        "public/get_order_book",
        json!({"instrument_name": name, "depth": 20}),
    );
    let levels = |k: &str| -> Vec<(i64, i64)> {
        ob[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (e8(&r[0].to_string()), e8(&r[1].to_string())))
            .collect()
    };
    assert_eq!(levels("bids"), top(&ind.bids, 20, true));
    assert_eq!(levels("asks"), top(&ind.asks, 20, false));
    assert_eq!(ob["change_id"].as_u64(), Some(ind.last_u));
    let l = sim.stop();
    let (bb, ba) = l.books[name];
    let best = |m: &Side, bid: bool| top(m, 1, bid).first().map(|x| x.0 as f64 / 1e8);
    assert_eq!((bb, ba), (best(&ind.bids, true), best(&ind.asks, false)));
}
