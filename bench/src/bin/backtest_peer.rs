//! Peer bench: `mm-fast backtest` vs hftbacktest (crates.io, `peers` feature) on the same
//! Binance BTCUSDT tape, the same quoting, the same latency and queue model; prints both
//! throughputs (market-data events per second) and both PnLs.
//!
//! ```text
//! cargo run --release -p mm-bench --features peers --bin backtest_peer -- \
//!     [--tape PATH] [--reps N] [--spread-bps B] [--latency-us L]
//! ```
//!
//! # The workload (both sides)
//!
//! - Tape: `binance/usdm/btcusdt_20240719.gz` (re-hosted `BTC_USDT-PERPETUAL`; the day-1 file
//!   warms the book up, see `mm_tools::backtest::feed`), preloaded once by mm-fast's loader;
//!   hftbacktest gets the same events converted to its `Event` array (not timed, like our
//!   preload): each book level update → `DEPTH_EVENT` (buy/sell), each trade →
//!   `TRADE_EVENT` (taker side), `exch_ts` = tape time, `local_ts` = tape time + feed latency.
//! - Strategy: one post-only quote a side at mid ± spread/2 (bid rounded down, ask up to the
//!   tick, never through the touch), 0.002 BTC, no quote on the side that would exceed
//!   ±0.02 BTC; re-evaluated on every market-data event; a resting order whose price moved is
//!   modified (mm-fast: `private/edit` = amend; hftbacktest: `modify`).
//! - Venue: constant order-entry and response latency; risk-averse queue model
//!   (`RiskAdverseQueueModel`); partial fills (`PartialFillExchange`); maker 0.02 % / taker
//!   0.05 % of traded value (`TradingValueFeeModel`).
//!
//! Throughput: wall time of the replay loop only (mm-fast: `replay_s` of the report;
//! hftbacktest: the `wait_next_feed` loop), divided by the **common** event count (book
//! level updates + trades, what both consume); each side's own count is printed too.
//! Repetitions are interleaved (`mm_bench::timing::interleaved`) so both see the same load.

use hftbacktest::backtest::assettype::LinearAsset;
use hftbacktest::backtest::data::{Data, DataSource};
use hftbacktest::backtest::models::{
    CommonFees, ConstantLatency, RiskAdverseQueueModel, TradingValueFeeModel,
};
use hftbacktest::backtest::{Backtest, ExchangeKind, L2AssetBuilder};
use hftbacktest::prelude::*;
use mm_core::event::{MdEvent, MdKind};
use mm_core::types::Side as MmSide;
use mm_tools::backtest::{self, args, feed::Feed, NoModel, Settings};
use std::ffi::OsString;
use std::time::Instant;

struct Opts {
    tape: String,
    reps: usize,
    spread_bps: f64,
    latency_us: f64,
}

fn opts() -> Result<Opts, String> {
    let mut o = Opts {
        tape: format!(
            "{}/binance/usdm/btcusdt_20240719.gz",
            mm_bench::data_dir().display()
        ),
        reps: 5,
        spread_bps: 2.0,
        latency_us: 100.0,
    };
    let a: Vec<String> = std::env::args().skip(1).collect();
    let mut k = 0;
    while k < a.len() {
        let v = a.get(k + 1).ok_or(format!("{} needs a value", a[k]))?;
        match a[k].as_str() {
            "--tape" => o.tape = v.clone(),
            "--reps" => o.reps = v.parse().map_err(|_| "--reps: integer")?,
            "--spread-bps" => o.spread_bps = v.parse().map_err(|_| "--spread-bps: number")?,
            "--latency-us" => o.latency_us = v.parse().map_err(|_| "--latency-us: number")?,
            x => return Err(format!("unknown flag {x}")),
        }
        k += 2;
    }
    Ok(o)
}

/// The mm-fast command line of the workload.
fn mm_argv(o: &Opts) -> Vec<OsString> {
    format!(
        "mm-fast backtest --tape {} --spread-bps {} --size 0.002 --max-position 0.02 \
         --order-latency-us {} --feed-latency-us {} --queue risk-averse --no-plots \
         --stale-ms 0 --stats-interval 0",
        o.tape, o.spread_bps, o.latency_us, o.latency_us
    )
    .split_whitespace()
    .map(OsString::from)
    .collect()
}

/// Our preloaded feed as hftbacktest events (level updates and trades).
fn to_hft(feed: &Feed, tick: f64, lot: f64, feed_lat_ns: i64) -> Vec<Event> {
    let mut out = Vec::with_capacity(feed.events.len());
    for g in 0..feed.groups() {
        let t = feed.group_t[g] as i64;
        for e in feed.group(g) {
            let side = |s: MmSide| {
                if s == MmSide::Bid {
                    BUY_EVENT
                } else {
                    SELL_EVENT
                }
            };
            let ev = match e.kind {
                MdKind::Level => DEPTH_EVENT | side(e.side),
                MdKind::Trade => TRADE_EVENT | side(e.side),
                _ => continue,
            };
            out.push(Event {
                ev: ev | EXCH_EVENT | LOCAL_EVENT,
                exch_ts: t,
                local_ts: t + feed_lat_ns,
                px: e.price as f64 * tick,
                qty: e.qty as f64 * lot,
                order_id: 0,
                ival: 0,
                fval: 0.0,
            });
        }
    }
    out
}

fn common_events(events: &[MdEvent]) -> u64 {
    events
        .iter()
        .filter(|e| matches!(e.kind, MdKind::Level | MdKind::Trade))
        .count() as u64
}

/// One hftbacktest run; returns (loop seconds, PnL USDT, fills).
fn run_hft(data: &[Event], o: &Opts, tick: f64, lot: f64) -> Result<(f64, f64, i64), String> {
    let lat = (o.latency_us * 1e3) as i64;
    let mut hbt: Backtest<HashMapMarketDepth> = Backtest::builder()
        .add_asset(
            L2AssetBuilder::new()
                .data(vec![DataSource::Data(Data::from_data(data))])
                .latency_model(ConstantLatency::new(lat, lat))
                .asset_type(LinearAsset::new(1.0))
                .fee_model(TradingValueFeeModel::new(CommonFees::new(0.0002, 0.0005)))
                .exchange(ExchangeKind::PartialFillExchange)
                .queue_model(RiskAdverseQueueModel::new())
                .depth(move || HashMapMarketDepth::new(tick, lot))
                .build()
                .map_err(|e| format!("hftbacktest build: {e:?}"))?,
        )
        .build()
        .map_err(|e| format!("hftbacktest build: {e:?}"))?;
    let half = o.spread_bps / 2.0 / 1e4;
    let (size, max_pos) = (0.002, 0.02);
    const BID_ID: u64 = 1;
    const ASK_ID: u64 = 2;
    let t0 = Instant::now();
    loop {
        match hbt.wait_next_feed(true, 60_000_000_000) {
            Ok(ElapseResult::EndOfData) | Err(_) => break,
            Ok(_) => {}
        }
        let depth = hbt.depth(0);
        let (bb, ba) = (depth.best_bid_tick(), depth.best_ask_tick());
        if bb == INVALID_MIN || ba == INVALID_MAX {
            continue;
        }
        let mid = (bb + ba) as f64 / 2.0 * tick;
        let bid_t = ((mid * (1.0 - half) / tick).floor() as i64).min(bb);
        let ask_t = ((mid * (1.0 + half) / tick).ceil() as i64).max(ba);
        let pos = hbt.position(0);
        hbt.clear_inactive_orders(Some(0));
        for (id, want, px_t, is_buy) in [
            (BID_ID, pos + size <= max_pos + 1e-12, bid_t, true),
            (ASK_ID, pos - size >= -max_pos - 1e-12, ask_t, false),
        ] {
            let existing = hbt
                .orders(0)
                .get(&id)
                .map(|x| (x.price_tick, x.status, x.req));
            let px = px_t as f64 * tick;
            match existing {
                Some((_, _, req)) if req != Status::None => {} // a request in flight
                Some((cur, Status::New | Status::PartiallyFilled, _)) => {
                    if !want {
                        let _ = hbt.cancel(0, id, false);
                    } else if cur != px_t {
                        let _ = hbt.modify(0, id, px, size, false);
                    }
                }
                _ if want => {
                    let _ = if is_buy {
                        hbt.submit_buy_order(
                            0,
                            id,
                            px,
                            size,
                            TimeInForce::GTX,
                            OrdType::Limit,
                            false,
                        )
                    } else {
                        hbt.submit_sell_order(
                            0,
                            id,
                            px,
                            size,
                            TimeInForce::GTX,
                            OrdType::Limit,
                            false,
                        )
                    };
                }
                _ => {}
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let sv = hbt.state_values(0).clone();
    let depth = hbt.depth(0);
    let mid = (depth.best_bid_tick() + depth.best_ask_tick()) as f64 / 2.0 * tick;
    let pnl = sv.balance + sv.position * mid - sv.fee;
    let _ = hbt.close();
    Ok((secs, pnl, sv.num_trades))
}

fn main() {
    let o = match opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let inv = match args::parse(&mm_argv(&o)) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let t = Instant::now();
    let feed = Feed::load(&inv.loaded.args).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    let load_s = t.elapsed().as_secs_f64();
    let inst = feed.table.get(0);
    let (tick, lot) = (inst.tick.to_f64(), inst.lot.to_f64());
    let t = Instant::now();
    let hft_data = to_hft(&feed, tick, lot, (o.latency_us * 1e3) as i64);
    let convert_s = t.elapsed().as_secs_f64();
    let common = common_events(&feed.events);
    let settings = Settings::from_args(&inv.bt).expect("settings");
    println!(
        "tape {}: {} md events (ours), {} hftbacktest events, {} common (levels + trades); load {:.2} s, convert {:.2} s",
        o.tape,
        feed.events.len(),
        hft_data.len(),
        common,
        load_s,
        convert_s
    );
    let mut mm_last = (0.0, 0u64);
    let mut hft_last = (0.0, 0i64);
    let mut mm = || {
        let out = backtest::run(&feed, &inv.loaded.args, &settings, &mut NoModel).expect("run");
        mm_last = (out.report.run.metrics.marked_pnl, out.report.run.fills);
        out.report.replay_s * 1e9 / common as f64
    };
    let mut hft = || match run_hft(&hft_data, &o, tick, lot) {
        Ok((s, pnl, n)) => {
            hft_last = (pnl, n);
            s * 1e9 / common as f64
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let med = mm_bench::timing::interleaved(o.reps, &mut [&mut mm, &mut hft]);
    let (mm_eps, hft_eps) = (1e9 / med[0], 1e9 / med[1]);
    println!(
        "spread {} bps, size 0.002 BTC, max position 0.02 BTC, latency {} µs each way, risk-averse queue, {} interleaved reps (median)",
        o.spread_bps, o.latency_us, o.reps
    );
    println!(
        "  mm-fast backtest : {:>12.0} events/s  ({:>7.1} ns/event)  pnl {:>10.4} USDT  fills {}",
        mm_eps, med[0], mm_last.0, mm_last.1
    );
    println!(
        "  hftbacktest 0.9.4: {:>12.0} events/s  ({:>7.1} ns/event)  pnl {:>10.4} USDT  fills {}",
        hft_eps, med[1], hft_last.0, hft_last.1
    );
    println!("  ratio mm-fast / hftbacktest: {:.1}×", mm_eps / hft_eps);
}
