//! Operations end to end (issue 5 points 5–7): the status endpoint and metrics while a run
//! replays a real tape, the three kill-switch triggers (SIGUSR1, kill file, `mm-fast kill` =
//! `POST /kill`) checked against the simulator's own ledger and log, and `check-config`.

use mm_tests::{data, DERIBIT_TAPES};
use mm_tools::config::{check_config, parse_args};
use mm_tools::kill::{kill_command, KillArgs};
use mm_tools::run::{run, RunExtras, RunOutput};
use mm_tools::status::http_request;
use mm_venues::sim::SimLogKind;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Runs are serialized: SIGUSR1 goes to the whole test process, and the machine is small.
static RUNS: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    RUNS.lock().unwrap_or_else(|e| e.into_inner())
}

struct Bg {
    handle: JoinHandle<Result<RunOutput, String>>,
    addr: String,
    stop: Arc<AtomicBool>,
}

/// Starts `mm-fast ARGV --status-addr 127.0.0.1:0` on a thread; waits for the bound address.
fn start(argv: &[&str]) -> Bg {
    let mut v: Vec<String> = vec!["mm-fast".into()];
    v.extend(argv.iter().map(|s| s.to_string()));
    v.extend(["--status-addr".into(), "127.0.0.1:0".into()]);
    let l = parse_args(v).expect("flags");
    let bound: Arc<OnceLock<SocketAddr>> = Arc::new(OnceLock::new());
    let stop = Arc::new(AtomicBool::new(false));
    let extras = RunExtras {
        status_bound: Some(bound.clone()),
        stop: Some(stop.clone()),
        ..Default::default()
    };
    let handle = std::thread::spawn(move || run(&l.args, extras));
    let t = Instant::now();
    let addr = loop {
        if let Some(a) = bound.get() {
            break a.to_string();
        }
        assert!(
            !handle.is_finished(),
            "run ended before binding the status address"
        );
        assert!(t.elapsed() < Duration::from_secs(30), "no status address");
        std::thread::sleep(Duration::from_millis(5));
    };
    Bg { handle, addr, stop }
}

fn get(addr: &str, path: &str) -> (u16, String) {
    http_request(addr, "GET", path, Duration::from_secs(5)).expect("http")
}

fn status(addr: &str) -> Value {
    let (code, body) = get(addr, "/status");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("status is JSON")
}

/// Polls `/status` until `pred` holds (or panics after `secs`).
fn wait_status(bg: &Bg, secs: u64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let t = Instant::now();
    loop {
        let s = status(&bg.addr);
        if pred(&s) {
            return s;
        }
        assert!(
            !bg.handle.is_finished(),
            "run ended while waiting for {what}"
        );
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}: {s}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn temp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("mm-fast-ops-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn status_json_and_metrics_while_running() {
    let _g = lock();
    let tape = data(DERIBIT_TAPES[0]);
    let bg = start(&[
        "--venue",
        "sim",
        "--tape",
        &tape,
        "--speed",
        "15",
        "--improve-ticks",
        "1",
        "--min-spread-bps",
        "200",
        "--name",
        "status-test",
        "--stats-interval",
        "1",
    ]);
    let s = wait_status(&bg, 60, "quotes", |s| {
        s["open_orders"].as_u64().unwrap_or(0) > 0
            && s["instruments"].as_array().is_some_and(|v| {
                v.iter().any(|i| {
                    i["mid"].is_number() && (i["our_bid"].is_number() || i["our_ask"].is_number())
                })
            })
    });
    assert_eq!(s["name"], "status-test");
    assert_eq!(s["mode"], "live");
    assert_eq!(s["venue"], "sim");
    assert!(s["endpoint"]
        .as_str()
        .unwrap()
        .starts_with("ws://127.0.0.1:"));
    assert!(s["uptime_s"].as_f64().unwrap() > 0.0);
    assert_eq!(s["halted"], false);
    assert!(s["kill"].is_null());
    assert!(s["counters"]["md_events"].as_u64().unwrap() > 0);
    assert!(s["counters"]["orders_sent"].as_u64().unwrap() > 0);
    assert!(s["pnl"]["currency"].is_string());
    assert!(s["latency_ns"]["tick_to_quote"]["count"].as_u64().is_some());
    let insts = s["instruments"].as_array().unwrap();
    assert_eq!(insts.len(), 10, "every instrument on the tape");
    for i in insts {
        for k in [
            "name",
            "best_bid",
            "best_ask",
            "mid",
            "spread",
            "spread_bps",
            "our_bid",
            "our_ask",
            "position",
            "pnl",
            "pnl_currency",
        ] {
            assert!(i.get(k).is_some(), "{k} missing in {i}");
        }
        if let (Some(b), Some(a), Some(m)) = (
            i["best_bid"].as_f64(),
            i["best_ask"].as_f64(),
            i["mid"].as_f64(),
        ) {
            assert!(b <= m && m <= a, "{i}");
            assert!((i["spread"].as_f64().unwrap() - (a - b)).abs() < 1e-9);
        }
        // Improve-the-touch quotes sit inside or at the market.
        if let (Some(ob), Some(ba)) = (i["our_bid"].as_f64(), i["best_ask"].as_f64()) {
            assert!(ob < ba, "our bid {ob} crosses the ask {ba}");
        }
    }

    let (code, m) = get(&bg.addr, "/metrics");
    assert_eq!(code, 200);
    for needle in [
        "# TYPE mm_md_events_total counter",
        "# TYPE mm_open_orders gauge",
        "# TYPE mm_latency_seconds summary",
        "mm_latency_seconds{stage=\"tick_to_quote\",quantile=\"0.99\"}",
        "mm_latency_seconds_count{stage=\"tick_to_quote\"}",
        "mm_latency_seconds_sum{stage=\"tick_to_wire\"}",
        "mm_mid{instrument=\"",
        "mm_position{instrument=\"",
        "mm_info{name=\"status-test\",mode=\"live\",venue=\"sim\"} 1",
        "mm_halted 0",
    ] {
        assert!(m.contains(needle), "{needle} missing in\n{m}");
    }
    for line in m.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (name, value) = line.rsplit_once(' ').expect("sample line");
        assert!(name.starts_with("mm_"), "{line}");
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
    }
    assert_eq!(get(&bg.addr, "/kill").0, 405, "GET /kill is refused");
    assert_eq!(get(&bg.addr, "/nope").0, 404);

    bg.stop.store(true, std::sync::atomic::Ordering::Release);
    let out = bg.handle.join().unwrap().expect("run");
    assert!(out.report.kill.is_none());
    assert_eq!(out.report.name.as_deref(), Some("status-test"));
    assert_eq!(out.report.ledger_match, Some(true));
}

/// One kill-switch case: quote on the perpetual tape, trip `trigger` while orders rest, then
/// check that everything was cancelled and nothing new was sent after the cancel-all.
fn kill_case(trigger: &str) {
    let _g = lock();
    let tape = data(DERIBIT_TAPES[2]);
    let kill_file = temp(&format!("kill-{trigger}"));
    let kf = kill_file.display().to_string();
    let bg = start(&[
        "--venue",
        "sim",
        "--tape",
        &tape,
        "--speed",
        "8",
        "--spread-ticks",
        "4",
        "--size",
        "100",
        "--max-position",
        "300",
        "--kill-file",
        &kf,
        "--stats-interval",
        "0",
    ]);
    wait_status(&bg, 60, "resting orders", |s| {
        s["open_orders"].as_u64().unwrap_or(0) > 0
    });
    match trigger {
        "signal" => {
            let ok = std::process::Command::new("kill")
                .args(["-USR1", &std::process::id().to_string()])
                .status()
                .expect("kill(1)");
            assert!(ok.success());
        }
        "file" => std::fs::write(&kill_file, "stop\n").unwrap(),
        "command" => {
            let body = kill_command(&KillArgs {
                status_addr: Some(bg.addr.clone()),
                kill_file: None,
                config: None,
            })
            .expect("POST /kill");
            let v: Value = serde_json::from_str(&body).expect("JSON answer");
            assert_eq!(v["killed"], true);
            assert_eq!(v["kill"]["trigger"], "command");
            assert_eq!(
                v["flat"], true,
                "answered once everything was cancelled: {v}"
            );
            assert!(v["kill"]["cancel_written_ns"].as_u64().is_some(), "{v}");
        }
        _ => unreachable!(),
    }
    let s = wait_status(&bg, 10, "the kill", |s| {
        !s["kill"].is_null() && s["kill"]["all_acked_ns"].is_number()
    });
    assert_eq!(s["halted"], true);
    assert_eq!(s["kill"]["trigger"], trigger);
    assert_eq!(s["open_orders"], 0);
    let (_, m) = get(&bg.addr, "/metrics");
    assert!(m.contains("mm_killed 1") && m.contains("mm_halted 1"));
    // Keeps running (status serving) until the normal stop: here the end of the tape.
    let out = bg.handle.join().unwrap().expect("run");
    let _ = std::fs::remove_file(&kill_file);
    let r = &out.report;
    let k = r.kill.as_ref().expect("kill in the report");
    assert_eq!(k.trigger, trigger);
    assert!(k.t_trigger_s > 0.0);
    let written = k.cancel_written_ns.expect("cancel-all written");
    let acked = k.all_acked_ns.expect("all cancels acknowledged");
    // Bounds: the trigger-to-wire path is a few hops of polling loops (µs–ms); these are
    // generous for a shared 2-core CI machine running debug builds.
    assert!(
        written < 500_000_000,
        "trigger → cancel written {written} ns"
    );
    assert!(
        acked < 2_000_000_000,
        "trigger → all acknowledged {acked} ns"
    );
    assert_eq!(r.ledger_match, Some(true), "{:?}", r.ledger_mismatches);
    assert_eq!(r.open_orders_at_exit, 0);
    let l = out.sim_ledger.as_ref().unwrap();
    assert!(l.open_orders.is_empty(), "{:?}", l.open_orders);
    let ca = l
        .log
        .iter()
        .position(|e| e.what == SimLogKind::CancelAll)
        .expect("the simulator received the cancel-all");
    assert!(
        l.log[..ca]
            .iter()
            .any(|e| matches!(e.what, SimLogKind::OrderNew { .. })),
        "orders rested before the kill"
    );
    let after: Vec<_> = l.log[ca..]
        .iter()
        .filter(|e| {
            matches!(
                e.what,
                SimLogKind::OrderNew { .. } | SimLogKind::OrderEdit { .. }
            )
        })
        .collect();
    assert!(after.is_empty(), "orders after the kill: {after:?}");
    assert_eq!(
        l.log
            .iter()
            .filter(|e| e.what == SimLogKind::CancelAll)
            .count(),
        1,
        "one cancel-all (the kill's); the shutdown found everything flat"
    );
}

#[test]
fn kill_by_signal() {
    kill_case("signal");
}

#[test]
fn kill_by_file() {
    kill_case("file");
}

#[test]
fn kill_by_command() {
    kill_case("command");
}

#[test]
fn refuses_to_start_while_the_kill_file_exists() {
    let _g = lock();
    let kf = temp("present");
    std::fs::write(&kf, "x").unwrap();
    let tape = data(DERIBIT_TAPES[2]);
    let l = parse_args([
        "mm-fast",
        "--venue",
        "sim",
        "--tape",
        tape.as_str(),
        "--kill-file",
        kf.to_str().unwrap(),
    ])
    .unwrap();
    let e = run(&l.args, RunExtras::default()).err().expect("refused");
    assert!(
        e.contains("kill file") && e.contains(kf.to_str().unwrap()),
        "{e}"
    );
    let _ = std::fs::remove_file(kf);
}

#[test]
fn check_config_prints_settings_and_instruments() {
    let cfg = temp("check.toml");
    std::fs::write(
        &cfg,
        "# options, improve the touch\nvenue = \"sim\"\nimprove_ticks = 1\nmin-spread-bps = 200\ndry_run = true\n",
    )
    .unwrap();
    let tape = data(DERIBIT_TAPES[0]);
    let l = parse_args([
        "mm-fast",
        "--config",
        cfg.to_str().unwrap(),
        "--tape",
        tape.as_str(),
        "--min-spread-bps",
        "300",
    ])
    .unwrap();
    let text = check_config(&l).expect("valid");
    println!("{text}");
    let line = |flag: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("--{flag} ")))
            .unwrap_or_else(|| panic!("no line for --{flag}:\n{text}"))
            .to_string()
    };
    assert!(line("improve-ticks").contains(" 1 ") && line("improve-ticks").ends_with("[config]"));
    assert!(
        line("min-spread-bps").contains("300")
            && line("min-spread-bps").ends_with("[command line]")
    );
    assert!(line("dry-run").contains("true") && line("dry-run").ends_with("[config]"));
    assert!(line("idle").contains("yield") && line("idle").ends_with("[default]"));
    assert!(line("tape").ends_with("[command line]"));
    assert!(text.contains("engine settings: accepted"), "{text}");
    assert!(
        text.contains("instruments a dry run would quote on ws://127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("(10):"), "the tape's 10 options:\n{text}");
    assert!(text.contains("BTC-") && text.contains("ETH-"), "{text}");

    // A selection the venue does not list fails.
    let l = parse_args([
        "mm-fast",
        "--config",
        cfg.to_str().unwrap(),
        "--tape",
        tape.as_str(),
        "--instruments",
        "NOPE-PERPETUAL",
    ])
    .unwrap();
    let e = check_config(&l).expect_err("unknown instrument");
    assert!(e.contains("NOPE-PERPETUAL"), "{e}");
    // Settings the engine refuses fail too.
    let l = parse_args([
        "mm-fast",
        "--config",
        cfg.to_str().unwrap(),
        "--tape",
        tape.as_str(),
        "--improve-ticks=-1",
    ])
    .unwrap();
    let e = check_config(&l).expect_err("bad setting");
    assert!(e.contains("improve-ticks"), "{e}");
    let _ = std::fs::remove_file(cfg);
}

#[test]
fn kill_in_dry_run_is_acknowledged_locally() {
    let _g = lock();
    let tape = data(DERIBIT_TAPES[2]);
    let bg = start(&[
        "--venue",
        "sim",
        "--tape",
        &tape,
        "--speed",
        "8",
        "--spread-ticks",
        "4",
        "--size",
        "100",
        "--dry-run",
        "--stats-interval",
        "0",
    ]);
    let s = wait_status(&bg, 60, "resting (dry-run) orders", |s| {
        s["open_orders"].as_u64().unwrap_or(0) > 0
    });
    assert_eq!(s["mode"], "dry-run");
    let body = kill_command(&KillArgs {
        status_addr: Some(bg.addr.clone()),
        kill_file: None,
        config: None,
    })
    .expect("POST /kill");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["flat"], true, "{v}");
    bg.stop.store(true, std::sync::atomic::Ordering::Release);
    let t = Instant::now();
    let out = bg.handle.join().unwrap().expect("run");
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "no wait for acknowledgements that never come"
    );
    let k = out.report.kill.as_ref().expect("kill");
    assert!(
        k.cancel_written_ns.is_some() && k.all_acked_ns.is_some(),
        "{k:?}"
    );
    assert_eq!(out.report.open_orders_at_exit, 0);
    let l = out.sim_ledger.as_ref().unwrap();
    assert!(
        !l.log
            .iter()
            .any(|e| matches!(e.what, SimLogKind::OrderNew { .. })),
        "a dry run sends no order"
    );
}
