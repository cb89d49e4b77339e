//! Command-line interface of `mm-fast` (clap).

use clap::{Parser, ValueEnum};
use std::path::PathBuf;

/// How quotes go to the venue (`--quote-mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum QuoteModeArg {
    /// One order per quote: `private/buy|sell`, `private/edit`, `private/cancel`.
    Orders,
    /// `private/mass_quote` (Deribit approval needed): one quote per side per instrument in
    /// the MMP group `--mmp-group`; needs `--levels 1` and an MMP quantity limit.
    MassQuote,
}

/// How the engine's work is spread over threads (`--topology`; README "Thread topology").
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TopologyArg {
    /// design.md §1: an md thread, the hot thread and a gateway thread, joined by SPSC rings;
    /// one CPU each (pinned, `--idle spin`) is what it is built for.
    Split,
    /// One engine thread reads market data, decides and writes orders (`mm_tools::inline`):
    /// no ring hop on the tick-to-wire path. For machines with fewer free CPUs than polling
    /// threads.
    Inline,
}

/// Which venue to trade on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VenueArg {
    /// Deribit production (or testnet with `--test`, or any `--endpoint`).
    Deribit,
    /// The embedded simulator replaying `--tape` on loopback.
    Sim,
}

/// Reference price of the quotes (strategies.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReferenceArg {
    /// (best bid + best ask) / 2.
    Mid,
    /// Size-weighted mid of the touch.
    Micro,
    /// The venue's mark price.
    Mark,
}

/// Quoting model (strategies.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    /// The configured spread and skews (strategies.md §1–§3).
    Fixed,
    /// Avellaneda–Stoikov (2008) with a rolling horizon `--horizon-secs`.
    As,
    /// Guéant–Lehalle–Fernandez-Tapia (2013), infinite horizon.
    Glft,
}

/// What the adverse-selection cooldown does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CooldownArg {
    /// Cancel the instrument's quotes until the cooldown ends.
    Pull,
    /// Keep quoting, each side `--cooldown-widen-bps` further out.
    Widen,
}

/// Reference price of option quotes (`--quote-around`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum QuoteAroundArg {
    /// The venue's mark price (ticker `mark_price`).
    Mark,
    /// The theoretical value: Black-76 on the ticker's underlying at `--theo-iv`, in coin.
    Theo,
    /// (best bid + best ask) / 2.
    Mid,
}

/// IV of the option theo (`--theo-iv`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TheoIvArg {
    /// The option's own `mark_iv`.
    Mark,
    /// The expiry's smile (quadratic in ln(K/F), least squares over the strikes' mark IVs).
    Smile,
}

/// Source of the option greeks (`--greeks`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GreeksArg {
    /// The ticker's `greeks` when present, else computed.
    Ticker,
    /// Always computed (Black-76 at the theo's IV).
    Computed,
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
    /// Recorded tape to replay (with `--venue sim`): a cryptofeed Deribit capture, a tardis
    /// normalized JSONL, or Binance USD-M collector files (re-hosted as `BTC_USDT-PERPETUAL`
    /// etc.). Repeat the flag or separate with commas to replay several consecutive files as
    /// one tape (Binance only, e.g. day 1 then day 2 of a symbol).
    #[arg(long, value_delimiter = ',')]
    pub tape: Vec<PathBuf>,
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
    /// Max absolute position per instrument, in the amount unit, in-flight aware (default:
    /// 5 × size; with `--size-usd` and no `--max-position-usd`: 5 × size-usd in USD).
    #[arg(long)]
    pub max_position: Option<f64>,
    /// Max total worst-case exposure across instruments, USD.
    #[arg(long)]
    pub max_exposure: Option<f64>,
    /// Pull all quotes when no market data arrived for this many milliseconds (0 = off).
    #[arg(long, default_value_t = 5000)]
    pub stale_ms: u64,

    // --- Quoting and risk controls (strategies.md §1–§3, §5, §6). Amounts are in the
    // instrument's amount unit (contracts: USD for inverse futures, coin for options and
    // linear instruments) and rounded to lots; USD figures are converted with the current
    // USD value of a lot (linear: follows the price; inverse: the lot is USD; options:
    // lot × underlying index).
    /// Reference price the quotes are built around: `mid`, `micro` (size-weighted mid of the
    /// touch) or `mark` (the venue's mark price; no quote until one is known).
    #[arg(long, value_enum, default_value = "mid")]
    pub reference: ReferenceArg,
    /// Total spread as an absolute price amount (e.g. `0.04` = 2 cents a side on a 0–1
    /// market), rounded to ticks; overrides `--spread-bps` (not `--spread-ticks`).
    #[arg(long, value_name = "AMOUNT")]
    pub spread_abs: Option<f64>,
    /// Minimum edge of each quote versus the reference, bps: a quote with less edge (e.g.
    /// after skew) is moved back to this distance.
    #[arg(long, value_name = "BPS", default_value_t = 0.0)]
    pub min_edge_bps: f64,
    /// Quote levels per side (1–8); level i lies i × `--level-spread-bps` beyond the first.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub levels: usize,
    /// Extra distance per level, bps of the reference (each level at least one tick further).
    #[arg(long, value_name = "BPS", default_value_t = 0.0)]
    pub level_spread_bps: f64,
    /// Extra size per level, in the amount unit (level i: size + i × this).
    #[arg(long, value_name = "AMOUNT")]
    pub level_amount: Option<f64>,
    /// First-level order size as USD notional (overrides `--size`), converted with the USD
    /// value of a lot and rounded to the nearest lot (at least one).
    #[arg(long, value_name = "USD")]
    pub size_usd: Option<f64>,
    /// Inventory skew as a factor of position: both quotes move by
    /// skew_factor × inventory / max (max = `--max-inventory-usd` if set, else the max
    /// position), down when long.
    #[arg(long, value_name = "FACTOR", default_value_t = 0.0)]
    pub skew_factor: f64,
    /// Inventory skew as a fraction (0–1) of the half-spread: both quotes move by
    /// inventory_skew × half spread × (position − target) / max position.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    pub inventory_skew: f64,
    /// Target position per instrument, in the amount unit (inventory and size skews, and the
    /// `--threshold` band, are relative to it).
    #[arg(long, value_name = "AMOUNT", default_value_t = 0.0)]
    pub target_position: f64,
    /// Size skew range, in the amount unit: bid sizes × (1 − x), ask sizes × (1 + x),
    /// x = clip((position − target) / range, −1, 1).
    #[arg(long, value_name = "AMOUNT")]
    pub size_skew_range: Option<f64>,
    /// Re-quote threshold in bps of the reference (the largest of the thresholds applies).
    #[arg(long, value_name = "BPS")]
    pub requote_bps: Option<f64>,
    /// Re-quote threshold as an absolute price amount (e.g. `0.02`), rounded to ticks.
    #[arg(long, value_name = "AMOUNT")]
    pub requote_abs: Option<f64>,
    /// Refresh interval, seconds: once per interval every resting order that is not exactly
    /// at its target is amended to it, even under the re-quote threshold (orders at target
    /// are left alone: nothing is cancelled and re-sent).
    #[arg(long, value_name = "SECS")]
    pub refresh_interval: Option<f64>,
    /// Re-evaluate an instrument as soon as it fills (`false`: on the next book update).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub requote_on_fill: bool,
    /// Threshold band around `--target-position`, in the amount unit: bids stop at
    /// target + threshold, asks at target − threshold (in-flight aware).
    #[arg(long, value_name = "AMOUNT")]
    pub threshold: Option<f64>,
    /// Max absolute position per instrument in USD (in-flight aware).
    #[arg(long, value_name = "USD")]
    pub max_position_usd: Option<f64>,
    /// Hard max position per instrument, in the amount unit: never quoted beyond, and when
    /// the position reaches it a reduce-only IOC order flattens it.
    #[arg(long, value_name = "AMOUNT")]
    pub hard_max_position: Option<f64>,
    /// Max net inventory value across instruments, USD: the side that would increase the
    /// inventory beyond it stops (in-flight aware).
    #[arg(long, value_name = "USD")]
    pub max_inventory_usd: Option<f64>,
    /// Stop-loss on a position, percent of its entry value (unrealized loss): cancel all and
    /// halt quoting.
    #[arg(long, value_name = "PCT")]
    pub stop_loss_pct: Option<f64>,
    /// Daily loss limit, USD (realized + marked PnL since start, fees included): cancel all
    /// and halt quoting.
    #[arg(long, value_name = "USD")]
    pub daily_loss_usd: Option<f64>,
    /// Decide and log, send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Log every quote decision sent to the venue (new, amend, cancel, flatten, cancel-all:
    /// instrument, side, level, price, size, order, reason) at `info` on the log target
    /// `mm_fast::quotes` (enabled by this switch whatever `--log` says). The hot thread only
    /// publishes a telemetry record per intent; the control thread formats and writes the
    /// line.
    #[arg(long)]
    pub log_quotes: bool,
    /// Quotes are post-only (Deribit `post_only` + `reject_post_only`: a quote that would
    /// cross is rejected by the venue, never repriced or executed as taker). Always on:
    /// `false` is refused at startup (the USD maker JSON's `execution.post_only: false` too).
    /// The only non-post-only order mm-fast sends is the reduce-only IOC flatten of
    /// `--hard-max-position`.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub post_only: bool,
    /// Stop after this many seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Pin the hot thread (`--topology inline`: the engine thread) to this CPU.
    #[arg(long)]
    pub cpu: Option<usize>,
    /// Idle policy of the engine's threads: `spin` (production, pinned cores), `yield`, `park`,
    /// `wake` (block until a producer rings or the socket is readable).
    #[arg(long, default_value = "yield")]
    pub idle: String,
    /// Thread topology: `split` (md, hot and gateway threads joined by rings, design.md §1)
    /// or `inline` (one thread reads, decides and writes: for fewer CPUs than threads).
    #[arg(long, value_enum, value_name = "TOPOLOGY", default_value = "split")]
    pub topology: TopologyArg,
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
    /// Read every flag from this file (TOML with the flags' long names as keys, or the USD
    /// maker's JSON); flags on the command line override it. See `mm-fast check-config`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Run name, shown in the status and the report.
    #[arg(long)]
    pub name: Option<String>,
    /// Kill switch file: when it appears, cancel everything and halt quoting until restart
    /// (checked on every control-loop pass; the engine refuses to start while it exists).
    /// SIGUSR1 and `mm-fast kill` do the same.
    #[arg(long, value_name = "PATH")]
    pub kill_file: Option<PathBuf>,
    /// Serve `GET /status` (JSON), `GET /metrics` (Prometheus) and `POST /kill` on this
    /// address (e.g. `127.0.0.1:9100`; port 0 = any free port, printed at startup).
    #[arg(long, value_name = "HOST:PORT")]
    pub status_addr: Option<String>,

    // --- Model-based quoting (strategies.md §4; README "Model-based quoting"). Units: prices
    // in ticks, σ in ticks per √second, κ per tick, A per second, inventory q in order sizes
    // (position / --size).
    /// Quoting model: `fixed` (the spread flags), `as` (Avellaneda–Stoikov) or `glft`
    /// (Guéant–Lehalle–Fernandez-Tapia). `as`/`glft` calibrate σ, A, κ online from the
    /// market-data stream on a calibration thread; until an instrument is calibrated it
    /// quotes with the fixed spread.
    #[arg(long, value_enum, default_value = "fixed")]
    pub model: ModelArg,
    /// Risk aversion γ of `as`/`glft`, per (tick × order size of inventory).
    #[arg(long, value_name = "GAMMA", default_value_t = 0.05)]
    pub gamma: f64,
    /// Avellaneda–Stoikov horizon T − t, seconds: a perpetual has no end, so the horizon
    /// rolls (constant T − t).
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    pub horizon_secs: f64,
    /// Calibration window of exchange time, seconds (σ, A, κ are fitted over it).
    #[arg(long, value_name = "SECS", default_value_t = 600.0)]
    pub calib_window_secs: f64,
    /// Recalibration interval, seconds of exchange time.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub recalib_secs: f64,
    /// Window of the current σ of the volatility-adaptive spread, seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub vol_window_secs: f64,
    /// Volatility-adaptive spread, lower bound of σ_now/σ_avg (spread × ratio; default 0.5
    /// when `--vol-spread-max` is set).
    #[arg(long, value_name = "RATIO")]
    pub vol_spread_min: Option<f64>,
    /// Volatility-adaptive spread, upper bound of σ_now/σ_avg; setting it turns the
    /// volatility-adaptive spread on (with any `--model`).
    #[arg(long, value_name = "RATIO")]
    pub vol_spread_max: Option<f64>,
    /// Order-book imbalance over the top N levels per side (0 = off).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub imbalance_levels: usize,
    /// Reference shift at full imbalance, ticks: the reference moves by K × imb (up when
    /// the bids are heavier), imb = (bid − ask)/(bid + ask) depth.
    #[arg(long, value_name = "K", default_value_t = 0.0)]
    pub imbalance_shift_ticks: f64,
    /// Adverse-selection cooldown after a public trade at least this large (amount unit).
    #[arg(long, value_name = "AMOUNT")]
    pub cooldown_trade_size: Option<f64>,
    /// Adverse-selection cooldown after the mid moves at least this many bps within one book
    /// frame.
    #[arg(long, value_name = "BPS")]
    pub cooldown_move_bps: Option<f64>,
    /// Cooldown length, milliseconds of exchange time.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub cooldown_ms: u64,
    /// During a cooldown: `pull` the instrument's quotes or `widen` them.
    #[arg(long, value_enum, default_value = "pull")]
    pub cooldown_action: CooldownArg,
    /// Extra distance of each side during a `widen` cooldown, bps of the reference.
    #[arg(long, value_name = "BPS", default_value_t = 10.0)]
    pub cooldown_widen_bps: f64,
    /// Widen the `as`/`glft` half-spread by the instrument's maker fee (maker fee × mid): the
    /// optimal depth under `λ(δ) = A·e^(−κδ)` with a per-fill cost f is f + 1/κ.
    #[arg(long)]
    pub model_fees: bool,
    // --- Options (README "Options").
    /// Reference price of option quotes: `mark` (ticker mark price), `theo` (Black-76 theo in
    /// coin; no quote on an option until its ticker gave one) or `mid`. Default: `--reference`.
    #[arg(long, value_enum)]
    pub quote_around: Option<QuoteAroundArg>,
    /// IV of the option theo: `mark` (the option's `mark_iv`) or `smile` (the expiry's fitted
    /// smile at the option's log-moneyness).
    #[arg(long, value_enum, default_value = "mark")]
    pub theo_iv: TheoIvArg,
    /// Option greeks: `ticker` (the ticker's `greeks` when present, else computed) or
    /// `computed` (Black-76 at the theo's IV).
    #[arg(long, value_enum, default_value = "ticker")]
    pub greeks: GreeksArg,
    /// Max |net delta| per underlying across the book, coin of that underlying (options ×
    /// delta, futures' USD / index), in-flight aware: a side that would push it beyond is not
    /// quoted.
    #[arg(long, value_name = "COIN")]
    pub max_delta: Option<f64>,
    /// Max |net vega| per underlying across the book, USD per vol point, in-flight aware.
    #[arg(long, value_name = "USD")]
    pub max_vega: Option<f64>,
    // --- Production session (README "Production setup"): credentials, TLS, keep-alive, and
    // the simulator's fault injection.
    /// API key id (default: env `DERIBIT_CLIENT_ID`; with `--venue sim`: the simulator's
    /// documented test key `mm-fast-sim`).
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// API key secret (default: env `DERIBIT_CLIENT_SECRET`, preferred: a flag is visible in
    /// the process list). Never logged, never in reports (`check-config` prints `<redacted>`).
    #[arg(long, value_name = "SECRET")]
    pub client_secret: Option<String>,
    /// Login method: `signature` (`client_signature`, HMAC-SHA256; the secret never goes on
    /// the wire) or `credentials` (`client_credentials`).
    #[arg(long, value_name = "METHOD", default_value = "signature")]
    pub auth: String,
    /// `public/set_heartbeat` interval on both connections, seconds (Deribit's minimum is
    /// 10; the embedded simulator accepts 1 and more); 0 = no heartbeats.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub heartbeat_secs: u32,
    /// After a lost connection (market data or orders), keep reconnecting for at most this
    /// many seconds (full-jitter exponential backoff 100 ms … 5 s); then the run ends with
    /// exit code 4. 0 = never reconnect (a lost connection ends the run at once).
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub reconnect_max_secs: f64,
    /// Fill journal: append every fill to this file before the engine books it, and on start
    /// restore the fills it holds and reconcile them with the venue (README "Fill journal and
    /// restarts"). Off when not given.
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// `fdatasync` the fill journal after every fill (survives power loss, not only a killed
    /// process; costs a disk flush per fill).
    #[arg(long)]
    pub journal_fsync: bool,
    /// PEM file of CA certificates trusted for `wss://` in addition to the public web PKI
    /// roots (e.g. a test CA, or a TLS-terminating proxy's CA).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Simulator fault (`--venue sim`; repeatable): `KIND@SECONDS` with KIND = `disconnect`,
    /// `gap`, `malformed`, `rate-limit`, `restart` and SECONDS of tape time from the start, or
    /// `reject-rate=P`, or `reject-code=CODE[:P]`, or `ack-delay-ms=N` (README "Fault
    /// injection").
    #[arg(long, value_name = "FAULT", value_parser = parse_fault)]
    pub sim_fault: Vec<mm_venues::sim::Fault>,
    /// How quotes go to the venue: `orders` (one order each) or `mass-quote`
    /// (`private/mass_quote`, Deribit approval needed; implies MMP; README "Mass quotes and
    /// MMP").
    #[arg(long, value_enum, value_name = "MODE", default_value = "orders")]
    pub quote_mode: QuoteModeArg,
    /// Market-maker protection in orders mode: `private/set_mmp_config` per index at startup
    /// and `mmp: true` on every quote (always on with `--quote-mode mass-quote`).
    #[arg(long)]
    pub mmp: bool,
    /// MMP group of the mass quotes (≤ 64 characters).
    #[arg(long, value_name = "NAME", default_value = "mmf")]
    pub mmp_group: String,
    /// MMP window, seconds: the limits count the fills of the last this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 1)]
    pub mmp_interval_secs: u32,
    /// MMP freeze after a trigger, seconds (0 = until `private/reset_mmp`: see
    /// `--mmp-auto-reset-secs`).
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub mmp_frozen_secs: u32,
    /// MMP quantity limit: filled amount per window, in the index's base currency (BTC for
    /// `btc_usd`). Required with MMP; a quote's size must stay below it.
    #[arg(long, value_name = "COIN")]
    pub mmp_qty_limit: Option<f64>,
    /// MMP delta limit: |net delta| filled per window, base currency (below
    /// `--mmp-qty-limit`).
    #[arg(long, value_name = "COIN")]
    pub mmp_delta_limit: Option<f64>,
    /// After an MMP trigger, call `private/reset_mmp` and resume this many seconds later,
    /// instead of waiting out `--mmp-frozen-secs` (needed to resume at all with
    /// `--mmp-frozen-secs 0`).
    #[arg(long, value_name = "SECS")]
    pub mmp_auto_reset_secs: Option<u64>,
    /// Mass quotes carry `valid_until` = now + this many ms: a request the venue cannot start
    /// matching before then is refused (`13888 timed_out`), never placed late. 0 = none.
    /// Needs a clock in sync with the venue's.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub quote_valid_ms: u64,
    // --- Rate limits (README "Rate limits"; protocol.md §8).
    /// Deribit matching-engine rate tier of the account (1: 30 req/s burst 100, 2: 20/50,
    /// 3: 10/30, 4: 5/20): the client's credit budget, and the limits `--venue sim` enforces.
    #[arg(long, value_name = "TIER", default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=4))]
    pub rate_tier: u8,
    /// Override of the tier's sustained matching-engine rate, requests per second.
    #[arg(long, value_name = "REQ_PER_S")]
    pub me_rate: Option<u64>,
    /// Override of the tier's matching-engine burst, requests.
    #[arg(long, value_name = "REQUESTS")]
    pub me_burst: Option<u64>,
    /// Pay every order request from the client-side credit budget (`on`), or not (`off`: only
    /// to show that the venue's limit is then hit — error 10028 ends the session).
    #[arg(long, value_enum, default_value = "on")]
    pub rate_budget: OnOffArg,
}

/// `on` / `off` switches with a default of `on`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnOffArg {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

impl Args {
    /// The rate limits of `--rate-tier` with the `--me-rate`/`--me-burst` overrides
    /// (protocol.md §8).
    ///
    /// # Errors
    /// A zero override.
    pub fn rate_limits(&self) -> Result<mm_venues::deribit::credits::RateLimits, String> {
        mm_venues::deribit::credits::RateLimits::for_tier(self.rate_tier)?
            .with_me(self.me_rate, self.me_burst)
    }

    /// The client's budget: [`Self::rate_limits`], or `None` with `--rate-budget off`.
    ///
    /// # Errors
    /// As [`Self::rate_limits`].
    pub fn client_rate_limits(
        &self,
    ) -> Result<Option<mm_venues::deribit::credits::RateLimits>, String> {
        let l = self.rate_limits()?;
        Ok((self.rate_budget == OnOffArg::On).then_some(l))
    }
}

/// `--sim-fault` values (clap value parser; errors exit 2 with the accepted syntax).
fn parse_fault(s: &str) -> Result<mm_venues::sim::Fault, String> {
    s.parse()
}
