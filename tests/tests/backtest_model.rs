//! `mm-fast backtest` on the real Binance BTCUSDT tape (2024-07-18 day-1 file, re-hosted as
//! `BTC_USDT-PERPETUAL`): determinism, the queue models, latency, the report, and the
//! zero-latency cross-check against the lockstep replay (the simulator's own code).

use mm_tests::data;
use mm_tools::backtest::{self, args, feed::Feed, BacktestOutput, NoModel, Settings};
use std::ffi::OsString;
use std::sync::OnceLock;

const TAPE: &str = "binance/usdm/btcusdt_20240718.gz";
/// Join the touch with 0.002 BTC a side, at most 0.02 BTC of position.
const STRATEGY: &str = "--improve-ticks 0 --size 0.002 --max-position 0.02";

fn argv(extra: &str) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec!["mm-fast".into(), "backtest".into()];
    v.push("--tape".into());
    v.push(data(TAPE).into());
    v.extend(STRATEGY.split_whitespace().map(OsString::from));
    v.extend(extra.split_whitespace().map(OsString::from));
    v
}

fn feed() -> &'static Feed {
    static FEED: OnceLock<Feed> = OnceLock::new();
    FEED.get_or_init(|| {
        let inv = args::parse(&argv("")).expect("flags");
        Feed::load(&inv.loaded.args).expect("tape loads")
    })
}

fn run(extra: &str) -> BacktestOutput {
    let inv = args::parse(&argv(extra)).expect("flags");
    let settings = Settings::from_args(&inv.bt).expect("settings");
    backtest::run(feed(), &inv.loaded.args, &settings, &mut NoModel).expect("backtest runs")
}

/// The report as JSON without its wall-clock fields.
fn stable_json(o: &BacktestOutput) -> serde_json::Value {
    let mut v = serde_json::to_value(&o.report).expect("serializes");
    let m = v.as_object_mut().expect("object");
    for k in ["events_per_sec", "replay_s", "load_s", "elapsed_s"] {
        assert!(m.remove(k).is_some(), "report has {k}");
    }
    v
}

fn fills(o: &BacktestOutput) -> Vec<(u32, i64, i64, i64)> {
    o.fills
        .iter()
        .map(|f| (f.instrument, f.side.sign(), f.price, f.lots))
        .collect()
}

#[test]
fn same_inputs_same_fills_pnl_and_report() {
    let extra = "--order-latency-us 300 --feed-latency-us 50 --queue prob";
    let a = run(extra);
    let b = run(extra);
    assert!(
        a.report.run.fills > 10,
        "the strategy trades: {}",
        a.report.run.fills
    );
    assert_eq!(fills(&a), fills(&b));
    assert_eq!(stable_json(&a), stable_json(&b));
    // (NaN marks "no quote": compare the printed series, NaN == NaN there.)
    assert_eq!(format!("{:?}", a.samples), format!("{:?}", b.samples));
    // With draws from a recorded histogram too (same seed → same draws).
    let dir = std::env::temp_dir().join(format!("mm-bt-det-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hgrm = dir.join("rt.hgrm");
    let mut h = mm_venues::sim::probe::new_histogram();
    for v in [80_000u64, 120_000, 150_000, 400_000, 2_000_000] {
        h.record(v).unwrap();
    }
    let mut f = std::fs::File::create(&hgrm).unwrap();
    mm_io::telemetry::write_hgrm(&h, &mut f).unwrap();
    let extra = format!("--latency-hgrm {} --seed 9", hgrm.display());
    let (c, d) = (run(&extra), run(&extra));
    assert_eq!(fills(&c), fills(&d));
    assert_eq!(stable_json(&c), stable_json(&d));
    let e = run(&format!("--latency-hgrm {} --seed 10", hgrm.display()));
    assert_ne!(
        stable_json(&c),
        stable_json(&e),
        "another seed, other draws"
    );
}

#[test]
fn probabilistic_queue_fills_at_least_as_often_as_risk_averse() {
    let ra = run("--queue risk-averse");
    let p3 = run("--queue prob --queue-power 3");
    let lg = run("--queue prob-log");
    let n = |o: &BacktestOutput| o.report.run.fills;
    eprintln!(
        "fills: risk-averse {}, prob x^3 {}, prob log {}",
        n(&ra),
        n(&p3),
        n(&lg)
    );
    assert!(n(&ra) > 0);
    assert!(n(&p3) >= n(&ra), "prob {} < risk-averse {}", n(&p3), n(&ra));
    assert!(
        n(&lg) >= n(&ra),
        "prob-log {} < risk-averse {}",
        n(&lg),
        n(&ra)
    );
    assert_ne!(fills(&p3), fills(&ra), "the models differ on this tape");
}

#[test]
fn order_latency_changes_the_fills() {
    let fast = run("--order-latency-us 0");
    let slow = run("--order-latency-us 50000");
    assert_ne!(fills(&fast), fills(&slow));
    // Every fill the venue made reached the engine, whatever the latency.
    for o in [&fast, &slow] {
        assert_eq!(o.report.backtest.venue_fills, o.report.run.fills);
        assert_eq!(o.report.run.open_orders_at_exit, 0);
    }
}

#[test]
fn report_has_throughput_and_the_run_metrics() {
    let o = run("--order-latency-us 100");
    let r = &o.report;
    assert!(r.events_per_sec > 0.0);
    assert!(r.load_s > 0.0 && r.replay_s > 0.0);
    assert_eq!(r.run.venue, "backtest");
    assert!(r.run.md_events > 10_000, "{}", r.run.md_events);
    assert_eq!(r.run.book_gaps, 0);
    assert!(r.run.orders_sent > 0);
    assert_eq!(r.run.metrics.fills, r.run.fills);
    assert!(r.run.metrics.pnl_samples > 10);
    assert!(
        (r.run.metrics.marked_pnl - (r.run.pnl.realized + r.run.pnl.unrealized - r.run.pnl.fees))
            .abs()
            < 1e-9
    );
    let v = serde_json::to_value(r).unwrap();
    for k in [
        "events_per_sec",
        "fills",
        "pnl",
        "metrics",
        "positions",
        "backtest",
    ] {
        assert!(v.get(k).is_some(), "report key {k}");
    }
    for k in [
        "fill_rate",
        "spread_captured_usd",
        "max_abs_inventory_usd",
        "time_at_limit_s",
        "sharpe_per_second",
        "max_drawdown_usd",
    ] {
        assert!(v["metrics"].get(k).is_some(), "metrics key {k}");
    }
    // The series: one sample per 250 ms of tape time at most, time increasing.
    assert!(o.samples.len() > 100);
    assert!(o.samples.windows(2).all(|w| w[0].t_s <= w[1].t_s));
    assert!(o.samples.iter().any(|s| s.position != 0.0));
}
