//! Command-line interface of `mm-fast` (clap).

use clap::{Parser, ValueEnum};
use std::path::PathBuf;

/// Which venue to trade on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VenueArg {
    /// Deribit production (or testnet with `--test`, or any `--endpoint`).
    Deribit,
    /// The embedded simulator replaying `--tape` on loopback.
    Sim,
}

/// mm-fast: a low-latency market-making engine. Keeps two-sided post-only quotes on
/// perpetuals, futures and options strikes, with inventory skew and position/exposure limits,
/// and reports tick-to-quote latency.
///
/// Prices are computed in integer ticks; sizes and position limits are given in the
/// instrument's amount unit (coin for options, USD for inverse futures) and rounded to lots.
#[derive(Clone, Debug, Parser)]
#[command(name = "mm-fast", version, about, long_about = None)]
pub struct Args {
    /// Venue: `deribit` (live) or `sim` (embedded simulator replaying `--tape`).
    #[arg(long, value_enum, default_value = "deribit")]
    pub venue: VenueArg,
    /// WebSocket endpoint (default: Deribit production; `--test` for testnet).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Use Deribit testnet (`wss://test.deribit.com/ws/api/v2`).
    #[arg(long)]
    pub test: bool,
    /// Recorded tape to replay (with `--venue sim`): a cryptofeed Deribit capture or a tardis
    /// normalized JSONL.
    #[arg(long)]
    pub tape: Option<PathBuf>,
    /// Replay pace with `--venue sim`: `1` = recorded pace, `N` = N times faster, `max`.
    #[arg(long, default_value = "1")]
    pub speed: String,
    /// Instruments to quote, comma-separated (e.g. `BTC-PERPETUAL,ETH-PERPETUAL`).
    #[arg(long, value_delimiter = ',')]
    pub instruments: Vec<String>,
    /// Underlying for option selection (`BTC` or `ETH`).
    #[arg(long)]
    pub underlying: Option<String>,
    /// Option expiry to quote, `YYYYMMDD`.
    #[arg(long)]
    pub expiry: Option<String>,
    /// Strikes of `--expiry` to quote, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub strikes: Vec<f64>,
    /// Quote every strike of `--expiry`.
    #[arg(long)]
    pub all_strikes: bool,
    /// Total spread in basis points of the mid (default 20 unless another spread is given).
    #[arg(long)]
    pub spread_bps: Option<f64>,
    /// Total spread in ticks (overrides `--spread-bps`).
    #[arg(long)]
    pub spread_ticks: Option<i64>,
    /// Minimum total spread in bps; narrower quotes are widened symmetrically around the mid.
    #[arg(long, default_value_t = 0.0)]
    pub min_spread_bps: f64,
    /// Improve the touch: bid = best bid + K ticks, ask = best ask − K ticks (overrides the
    /// spread settings).
    #[arg(long)]
    pub improve_ticks: Option<i64>,
    /// Order size per side, in the instrument's amount unit (default: one lot).
    #[arg(long)]
    pub size: Option<f64>,
    /// Inventory skew in bps per 100 USD of inventory (quotes move down when long).
    #[arg(long, default_value_t = 0.0)]
    pub skew_per_100_usd: f64,
    /// Amend a resting order only when its target moved by at least this many ticks.
    #[arg(long, default_value_t = 1)]
    pub requote_ticks: i64,
    /// Max absolute position per instrument, in the amount unit (default: 5 × size).
    #[arg(long)]
    pub max_position: Option<f64>,
    /// Max total worst-case exposure across instruments, USD.
    #[arg(long)]
    pub max_exposure: Option<f64>,
    /// Pull all quotes when no market data arrived for this many milliseconds (0 = off).
    #[arg(long, default_value_t = 5000)]
    pub stale_ms: u64,
    /// Decide and log, send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Stop after this many seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Pin the hot thread to this CPU.
    #[arg(long)]
    pub cpu: Option<usize>,
    /// Idle policy of the engine's threads: `spin` (production, pinned cores), `yield`, `park`.
    #[arg(long, default_value = "yield")]
    pub idle: String,
    /// Write the end-of-run report as JSON to this path.
    #[arg(long)]
    pub report_json: Option<PathBuf>,
    /// Write hdrhistogram percentile files (`<stage>.hgrm`) into this directory.
    #[arg(long)]
    pub hgrm: Option<PathBuf>,
    /// Print a live stats line (rates, counters, tick-to-quote/tick-to-wire p50/p99 of the
    /// interval) to stderr every SECS seconds; 0 = off.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub stats_interval: f64,
    /// Log level (`error`, `warn`, `info`, `debug`); also `RUST_LOG`.
    #[arg(long, default_value = "warn")]
    pub log: String,
}
