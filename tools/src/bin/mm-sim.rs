//! `mm-sim`: the standalone local Deribit-protocol venue simulator.
//!
//! Replays a recorded tape over `ws://ADDR/ws/api/v2` (replay starts with the first
//! market-data subscription), matches the orders it receives against the recorded market and
//! prints its ledger at exit. Runs until Ctrl+C / SIGTERM, or until the tape has ended and
//! `--linger` seconds have passed.
//!
//! ```text
//! mm-sim --tape ../shared/data/deribit/tardis-2019-04-01/BTC-PERPETUAL.book_change_trades.jsonl --speed max --linger 5
//! ```

use clap::Parser;
use mm_venues::sim::tls::TlsFiles;
use mm_venues::sim::{
    Fault, LedgerSnapshot, Sim, SimConfig, Speed, SIM_CLIENT_ID, SIM_CLIENT_SECRET,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Local Deribit-protocol venue simulator: replays a tape, matches orders, keeps a ledger.
#[derive(Parser, Debug)]
#[command(name = "mm-sim", version)]
struct Args {
    /// Tape file (cryptofeed Deribit capture, tardis normalized JSONL, or Binance USD-M
    /// collector file; `.gz` allowed). Repeat or separate with commas to replay consecutive
    /// Binance files (day 1, day 2) as one tape.
    #[arg(long, required = true, value_delimiter = ',')]
    tape: Vec<PathBuf>,
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:8765")]
    listen: SocketAddr,
    /// Replay speed: `1` = recorded pace, `10` = ten times faster, `0.5`, or `max`.
    #[arg(long, default_value = "1")]
    speed: Speed,
    /// Recorded `public/get_instruments` replies (cryptofeed `rest.capture`); default: a
    /// `rest.capture` beside the tape, else instruments derived from the tape.
    #[arg(long)]
    rest_capture: Option<PathBuf>,
    /// Seconds to keep serving after the tape has ended (orders, cancels, queries).
    #[arg(long, default_value_t = 0.0)]
    linger: f64,
    /// Fault: drop the first book change at or after this tape time (seconds from the tape
    /// start). Repeatable. Same as `--sim-fault gap@SECONDS`.
    #[arg(long = "gap-at")]
    gap_at: Vec<f64>,
    /// Fault (repeatable): `KIND@SECONDS` with KIND = `disconnect`, `gap`, `malformed`,
    /// `rate-limit`, `restart` and SECONDS of tape time from the start, or `reject-rate=P`, or
    /// `reject-code=CODE[:P]`, or `ack-delay-ms=N` (README "Fault injection").
    #[arg(long = "sim-fault", value_name = "FAULT")]
    sim_fault: Vec<Fault>,
    /// Seed of the `reject-rate` draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// API key the venue accepts, `CLIENT_ID:CLIENT_SECRET` (repeatable; default: the
    /// documented test key `mm-fast-sim:mm-fast-sim-secret`).
    #[arg(long, value_name = "ID:SECRET")]
    account: Vec<String>,
    /// Accept any other client id with any non-empty secret (as its own account).
    #[arg(long)]
    open_accounts: bool,
    /// Lifetime of access/refresh tokens, seconds (Deribit: 31536000).
    #[arg(long, value_name = "SECS", default_value_t = mm_venues::sim::DEFAULT_TOKEN_LIFETIME_S)]
    token_lifetime: f64,
    /// Smallest `public/set_heartbeat` interval accepted, seconds (Deribit: 10).
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    min_heartbeat: f64,
    /// Serve `wss://` with this PEM certificate chain (leaf first); needs `--tls-key`.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Deribit matching-engine rate tier enforced per account (1: 30 req/s burst 100, 2:
    /// 20/50, 3: 10/30, 4: 5/20; protocol.md §8): `10028 too_many_requests` and the
    /// connection closed when a bucket is empty.
    #[arg(long, value_name = "TIER", default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=4))]
    rate_tier: u8,
    /// Override of the tier's sustained matching-engine rate, requests per second.
    #[arg(long, value_name = "REQ_PER_S")]
    me_rate: Option<u64>,
    /// Override of the tier's matching-engine burst, requests.
    #[arg(long, value_name = "REQUESTS")]
    me_burst: Option<u64>,
    /// Do not enforce rate limits.
    #[arg(long)]
    no_rate_limits: bool,
    /// Emit user.orders/user.trades notifications before the RPC reply.
    #[arg(long)]
    notify_before_response: bool,
    /// Write the final ledger as JSON to this file.
    #[arg(long)]
    ledger_json: Option<PathBuf>,
    /// Log filter (env_logger syntax).
    #[arg(long, default_value = "info")]
    log: String,
}

fn main() {
    let args = Args::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(args.log.as_str()))
        .init();
    let mut accounts = Vec::new();
    for a in &args.account {
        match a.split_once(':') {
            Some((id, secret)) if !id.is_empty() && !secret.is_empty() => {
                accounts.push((id.to_string(), secret.to_string()))
            }
            _ => {
                eprintln!("error: --account needs CLIENT_ID:CLIENT_SECRET");
                std::process::exit(2);
            }
        }
    }
    if accounts.is_empty() {
        accounts.push((SIM_CLIENT_ID.to_string(), SIM_CLIENT_SECRET.to_string()));
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => match TlsFiles::read(c, k) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        },
        _ => None,
    };
    let mut faults: Vec<Fault> = args
        .gap_at
        .iter()
        .map(|&at_secs| Fault::Gap { at_secs })
        .collect();
    faults.extend(args.sim_fault.iter().cloned());
    let rate_limits = if args.no_rate_limits {
        None
    } else {
        match mm_venues::deribit::credits::RateLimits::for_tier(args.rate_tier)
            .and_then(|l| l.with_me(args.me_rate, args.me_burst))
        {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        }
    };
    let cfg = SimConfig {
        rate_limits,
        more_tapes: args.tape[1..].to_vec(),
        listen: args.listen,
        speed: args.speed,
        rest_capture: args.rest_capture.clone(),
        faults,
        notify_before_response: args.notify_before_response,
        accounts,
        open_accounts: args.open_accounts,
        token_lifetime_s: args.token_lifetime,
        min_heartbeat_s: args.min_heartbeat,
        seed: args.seed,
        tls,
        ..SimConfig::new(args.tape[0].clone())
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            eprintln!("warning: cannot install signal handler: {e}");
        }
    }
    let sim = match Sim::start(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    println!("mm-sim listening on {}", sim.url());
    println!(
        "  tape {} ({} instruments), speed {:?}; replay starts at the first market-data subscription",
        args.tape
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" + "),
        sim.instruments().len(),
        args.speed
    );
    let linger = Duration::from_secs_f64(args.linger.max(0.0));
    let mut finished_at: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        if finished_at.is_none() && sim.tape_finished() {
            println!(
                "tape finished; serving for {:.1} s more",
                linger.as_secs_f64()
            );
            finished_at = Some(Instant::now());
        }
        if finished_at.is_some_and(|t| t.elapsed() >= linger) {
            break;
        }
    }
    let ledger = sim.stop();
    print_summary(&ledger);
    if let Some(p) = &args.ledger_json {
        match serde_json::to_string_pretty(&ledger) {
            Ok(s) => {
                if let Err(e) = std::fs::write(p, s) {
                    eprintln!("error: writing {}: {e}", p.display());
                }
            }
            Err(e) => eprintln!("error: serialising ledger: {e}"),
        }
    }
}

fn print_summary(l: &LedgerSnapshot) {
    let s = &l.stats;
    println!("== mm-sim ledger ==");
    println!(
        "connections {}  requests {}  md frames {}  orders {}  edits {}  cancels {}  rejects {}  fills {}",
        s.connections, s.requests, s.md_frames_sent, s.orders, s.edits, s.cancels, s.rejects, s.fills
    );
    println!(
        "logins {}  auth failures {}  refreshes {}  test_requests {} (answered {}, dropped {})  faults {:?}",
        s.logins, s.auth_failures, s.refreshes, s.test_requests, s.test_answers, s.heartbeat_drops,
        s.faults_injected
    );
    for (name, amount) in &l.positions {
        println!(
            "position {name:<28} {amount:>16} ({} lots)",
            l.position_lots.get(name).copied().unwrap_or(0)
        );
    }
    for (cur, fee) in &l.fees {
        println!("fees {cur:<6} {fee:.10}");
    }
    println!("open orders {}", l.open_orders.len());
    for f in l.fills.iter().rev().take(10).rev() {
        println!(
            "fill {} {} {} {} @ {} {} fee {:.10} {}",
            f.trade_id,
            f.instrument,
            f.side.direction(),
            f.amount,
            f.price,
            if f.maker { "M" } else { "T" },
            f.fee,
            f.label
        );
    }
    if l.fills.len() > 10 {
        println!("… {} fills in total", l.fills.len());
    }
}
