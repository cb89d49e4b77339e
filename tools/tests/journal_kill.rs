//! The fill journal under a real crash (issue 4, item 7): `mm-fast --venue deribit --journal J`
//! against the simulator (in this process, strict accounts, the Binance BTCUSDT tape re-hosted
//! as `BTC_USDT-PERPETUAL` at 8× pace), killed with SIGKILL once the simulator's ledger shows
//! fills, restarted with the same journal, stopped with SIGTERM at the end of the tape. The
//! second run's positions must equal the simulator's ledger, the journal must hold exactly the
//! ledger's fills (by trade id), and no position mismatch may have been found at restart. A
//! second test deletes the journal's last fill before the restart: the restart must recover
//! it from the venue's trade history.
//!
//! No timed assertions: every wait polls the ledger or the process with a generous timeout.

use mm_venues::deribit::journal::read_journal;
use mm_venues::deribit::private::parse_label;
use mm_venues::sim::{Sim, SimConfig, SimHandle, Speed, SIM_CLIENT_ID, SIM_CLIENT_SECRET};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NAME: &str = "BTC_USDT-PERPETUAL";

fn data_dir() -> PathBuf {
    std::env::var_os("MM_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")))
}

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mm-journal-kill-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn start_sim() -> SimHandle {
    let tape = data_dir().join("binance/usdm/btcusdt_20240718.gz");
    assert!(tape.exists(), "recorded data missing: {}", tape.display());
    let cfg = SimConfig {
        speed: Speed::Multiple(8.0),
        // Strict, as `mm-fast --venue sim`: only the test key logs in.
        open_accounts: false,
        min_heartbeat_s: 1.0,
        ..SimConfig::new(tape)
    };
    Sim::start(cfg).expect("simulator starts")
}

fn spawn(sim: &SimHandle, journal: &Path, report: &Path, log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_mm-fast"))
        .args(["--venue", "deribit", "--endpoint"])
        .arg(sim.url())
        .args([
            "--client-id",
            SIM_CLIENT_ID,
            "--client-secret",
            SIM_CLIENT_SECRET,
        ])
        .args([
            "--instruments",
            NAME,
            "--spread-ticks",
            "2",
            "--heartbeat-secs",
            "1",
        ])
        .args(["--idle", "yield", "--stats-interval", "0", "--log", "info"])
        .arg("--journal")
        .arg(journal)
        .arg("--report-json")
        .arg(report)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("mm-fast starts")
}

/// Polls `f` every 20 ms until it holds; panics with `what` after `secs` seconds.
fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn our_fills(sim: &SimHandle) -> Vec<String> {
    let mut v: Vec<String> = sim
        .ledger()
        .fills
        .iter()
        .filter(|f| parse_label(&f.label).is_some())
        .map(|f| f.trade_id.clone())
        .collect();
    v.sort();
    v
}

fn our_open_orders(sim: &SimHandle) -> usize {
    sim.ledger()
        .open_orders
        .iter()
        .filter(|o| parse_label(&o.label).is_some())
        .count()
}

fn wait_exit(child: &mut Child, secs: u64) -> std::process::ExitStatus {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        assert!(Instant::now() < until, "mm-fast did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the crash scenario; `edit_journal` may change the journal between the kill and the
/// restart. Returns the second run's report, the journal's trade ids and the ledger's.
fn crash_and_restart(
    name: &str,
    edit_journal: impl FnOnce(&Path, &SimHandle),
) -> (serde_json::Value, Vec<String>, Vec<String>, SimHandle) {
    let dir = tmp_dir(name);
    let journal = dir.join("fills.jsonl");
    let sim = start_sim();

    // Run 1: until the venue has booked a few fills of ours, then SIGKILL.
    let mut first = spawn(&sim, &journal, &dir.join("r1.json"), &dir.join("run1.log"));
    wait_for("fills in the simulator's ledger", 240, || {
        our_fills(&sim).len() >= 3
    });
    first.kill().expect("SIGKILL");
    let st = first.wait().expect("wait");
    assert!(!st.success(), "killed, not exited: {st:?}");
    assert!(
        !dir.join("r1.json").exists(),
        "a SIGKILLed run writes no report"
    );
    // Cancel-on-disconnect: the venue removed every order of ours with the connection.
    wait_for("cancel-on-disconnect", 60, || our_open_orders(&sim) == 0);
    let before = our_fills(&sim);
    let journaled = read_journal(&journal).expect("journal readable after SIGKILL");
    assert!(
        !journaled.fills.is_empty(),
        "fills were journaled before the kill"
    );
    edit_journal(&journal, &sim);

    // Run 2: same journal, to the end of the tape, then SIGTERM.
    let report = dir.join("r2.json");
    let mut second = spawn(&sim, &journal, &report, &dir.join("run2.log"));
    wait_for("the end of the tape", 600, || sim.tape_finished());
    // Let the last market data reach the engine and its last decisions the venue.
    std::thread::sleep(Duration::from_millis(500));
    let ok = Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(ok.success());
    let st = wait_exit(&mut second, 60);
    let log2 = std::fs::read_to_string(dir.join("run2.log")).unwrap_or_default();
    assert!(st.success(), "second run failed: {st:?}\n{log2}");
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("report json");
    let after = our_fills(&sim);
    assert!(
        after.len() >= before.len(),
        "the ledger only grows: {} then {}",
        before.len(),
        after.len()
    );
    let mut ids: Vec<String> = read_journal(&journal)
        .expect("journal")
        .fills
        .iter()
        .map(|f| f.trade_id.clone())
        .collect();
    ids.sort();
    eprintln!(
        "{name}: {} fills before the kill, {} in the end; report: restored {}, recovered {}, \
         written {}, mismatches {}, orphans {}, fills {}",
        before.len(),
        after.len(),
        r["journal_fills_restored"],
        r["journal_fills_recovered"],
        r["journal_fills_written"],
        r["journal_mismatches"],
        r["journal_orphans_cancelled"],
        r["fills"]
    );
    let _ = std::fs::remove_dir_all(&dir);
    (r, ids, after, sim)
}

/// A run with a new journal against a venue that already has history (the tape is over: it
/// only reconciles), stopped with SIGTERM; returns its report.
fn fresh_journal_run(sim: &SimHandle, name: &str) -> serde_json::Value {
    let dir = tmp_dir(name);
    let report = dir.join("r.json");
    let mut child = spawn(sim, &dir.join("new.jsonl"), &report, &dir.join("run.log"));
    let log = dir.join("run.log");
    wait_for("the fresh run to reconcile", 120, || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("client ids from"))
    });
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(ok.success());
    let st = wait_exit(&mut child, 60);
    assert!(st.success(), "{st:?}");
    let r = serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("json");
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// Client id of the orphan order [`place_orphan`] leaves on the venue.
const ORPHAN_ID: u64 = 123_456_789_012;

/// Places, on a connection without cancel-on-disconnect, a post-only bid 10 % under the market
/// with our label `mmf-ORPHAN_ID`, then drops the connection: an order of ours the venue keeps
/// (what a previous run leaves when cancel-on-disconnect did not fire).
fn place_orphan(sim: &SimHandle) {
    use mm_venues::deribit::feed::rpc_blocking;
    let mut ws =
        mm_io::WsClient::connect(&sim.url(), &mm_io::WsOptions::default()).expect("connect");
    let t = Duration::from_secs(10);
    let auth = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "public/auth",
        "params": {"grant_type": "client_credentials", "client_id": SIM_CLIENT_ID,
                   "client_secret": SIM_CLIENT_SECRET}});
    rpc_blocking(&mut ws, &auth.to_string(), 1, t, |_| {}).expect("auth");
    let bid = sim.ledger().books[NAME].0.expect("a bid");
    let price = format!("{:.1}", bid * 0.9);
    let buy = format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"private/buy","params":{{"instrument_name":"{NAME}","amount":0.001,"type":"limit","price":{price},"post_only":true,"label":"mmf-{ORPHAN_ID}"}}}}"#
    );
    rpc_blocking(&mut ws, &buy, 2, t, |_| {}).expect("orphan order placed");
    ws.close();
}

fn check_positions(r: &serde_json::Value, sim: &SimHandle) {
    let ledger = sim.ledger();
    let venue = ledger.positions.get(NAME).copied().unwrap_or(0.0);
    let ours = r["positions"][NAME]
        .as_f64()
        .expect("position in the report");
    assert!(
        (ours - venue).abs() < 1e-9,
        "position: report {ours}, simulator ledger {venue}"
    );
    // Fills counted once: the report's fills (restored + recovered + live) are the ledger's.
    let n = ledger
        .fills
        .iter()
        .filter(|f| parse_label(&f.label).is_some())
        .count() as u64;
    assert_eq!(r["fills"].as_u64(), Some(n), "fills: report vs ledger");
    let part = |k: &str| r[k].as_u64().unwrap_or(u64::MAX / 4);
    assert_eq!(
        part("journal_fills_restored")
            + part("journal_fills_recovered")
            + part("journal_fills_written"),
        n,
        "restored + recovered + this run's = the ledger's fills"
    );
}

#[test]
fn sigkill_mid_run_then_restart_matches_the_venue_ledger() {
    let (r, journal_ids, ledger_ids, sim) = crash_and_restart("kill", |_, _| {});
    assert_eq!(journal_ids, ledger_ids, "journal fills vs ledger fills");
    assert_eq!(r["journal_mismatches"].as_u64(), Some(0));
    assert!(r["journal_fills_restored"].as_u64().unwrap_or(0) >= 1);
    assert_eq!(r["journal_write_errors"].as_u64(), Some(0));
    check_positions(&r, &sim);
    // A new journal does not take the account's earlier fills for missed ones; a position it
    // cannot explain is a mismatch, and the venue's is adopted.
    let r3 = fresh_journal_run(&sim, "fresh");
    assert_eq!(r3["journal_fills_restored"].as_u64(), Some(0));
    assert_eq!(r3["journal_fills_recovered"].as_u64(), Some(0));
    let venue = sim.ledger().positions.get(NAME).copied().unwrap_or(0.0);
    eprintln!(
        "fresh journal: venue position {venue}, mismatches {}, adopted {}",
        r3["journal_mismatches"], r3["positions"][NAME]
    );
    assert_eq!(
        r3["journal_mismatches"].as_u64(),
        Some(u64::from(venue != 0.0)),
        "venue position {venue}"
    );
    let ours = r3["positions"][NAME].as_f64().expect("position");
    assert!((ours - venue).abs() < 1e-9, "adopted {ours} vs {venue}");
    drop(sim.stop());
}

#[test]
fn a_fill_missing_from_the_journal_is_recovered_from_the_venue() {
    let (r, journal_ids, ledger_ids, sim) = crash_and_restart("missing", |j, sim| {
        // Drop the last fill line, as if it had been lost (page cache gone with the power).
        let text = std::fs::read_to_string(j).expect("journal");
        let mut lines: Vec<&str> = text.lines().collect();
        let last = lines
            .iter()
            .rposition(|l| l.contains("\"type\":\"fill\""))
            .expect("a fill line");
        lines.remove(last);
        std::fs::write(j, lines.join("\n") + "\n").expect("rewrite journal");
        place_orphan(sim);
        assert_eq!(our_open_orders(sim), 1, "the orphan rests on the venue");
    });
    assert!(
        r["journal_fills_recovered"].as_u64().unwrap_or(0) >= 1,
        "recovered: {}",
        r["journal_fills_recovered"]
    );
    assert_eq!(
        journal_ids, ledger_ids,
        "the recovered fill is journaled again"
    );
    // The orphan was cancelled at start, and the run's ids lie above its id.
    assert_eq!(r["journal_orphans_cancelled"].as_u64(), Some(1));
    assert_eq!(our_open_orders(&sim), 0);
    assert!(
        sim.ledger()
            .fills
            .iter()
            .filter_map(|f| parse_label(&f.label))
            .any(|id| id > ORPHAN_ID),
        "the second run's fills carry ids above the orphan's"
    );
    assert_eq!(r["journal_mismatches"].as_u64(), Some(0));
    check_positions(&r, &sim);
    drop(sim.stop());
}

#[test]
fn journal_with_the_embedded_simulator_is_refused() {
    use clap::Parser;
    let tape = data_dir().join("binance/usdm/btcusdt_20240718.gz");
    let args = mm_tools::cli::Args::parse_from([
        "mm-fast",
        "--venue",
        "sim",
        "--tape",
        &tape.display().to_string(),
        "--journal",
        "/nonexistent/journal.jsonl",
    ]);
    let e = mm_tools::run::run(&args, mm_tools::run::RunExtras::default())
        .err()
        .expect("refused");
    assert_eq!(e, mm_tools::run::JOURNAL_NEEDS_VENUE);
}
