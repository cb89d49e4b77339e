//! The hot thread's state and step functions.
//!
//! [`Engine`] owns every piece of mutable trading state (book mirrors, live orders, positions,
//! risk counters, PnL accounting). The hot loop calls [`Engine::on_md`] for each market-data
//! event, [`Engine::on_exec`] for each execution report and [`Engine::on_idle`] when both
//! rings are empty; each writes order intents into an [`IntentSink`] and measurements into a
//! [`TelemetrySink`]. No step function allocates, locks, makes a system call or formats text;
//! the clock is a function pointer given at construction (a TSC read in production).
//! Everything that can be precomputed is, in [`Engine::new`]: the per-instrument
//! [`QuoteSpec`] (bps as hundredths of a bp, absolute amounts as ticks), USD per lot of
//! inverse futures, PnL conversion factors.
//!
//! Decision flow per instrument after each complete book frame (`BookDone`): trusted? →
//! PnL limits (stop-loss, daily loss: cancel all + halt) → hard-max flatten →
//! [`crate::quote::ladder`] (reference, spread, skews, levels) → per side: sizes (levels, size
//! skew) → risk caps ([`crate::risk`], in-flight aware) → the diff against the live orders.
//!
//! **The diff** (strategies.md §5). Orders are keyed by price: a live order already at a
//! target price keeps it (queue position is worth money); the remaining orders are paired
//! with the remaining target prices best-first and **amended** (`private/edit`) — only when
//! the target moved by at least the re-quote threshold (or the order would cross the book),
//! or its open size differs; targets left over get new orders, orders left over are
//! cancelled. Amends and new orders go out before cancels, so a side is never left unquoted
//! while it moves; an amend's new price is never the price of another live order of the
//! side, so there is at most one order per price level per side at the venue (requests on
//! one connection are processed in order). At most one request per order is in flight; the
//! answer triggers a re-evaluation.
//!
//! **Re-quote policy**: threshold = the largest of `requote_ticks`, `requote_bps` of the
//! reference and `requote_abs`; **refresh** (`refresh_ns`): once per interval per instrument
//! the threshold drops to one tick, i.e. every order that is not exactly at its target is
//! amended to it (sizes are always kept at target) — nothing is cancelled and re-sent, so
//! queue position is kept where the target did not move; **re-quote on fill**
//! (`requote_on_fill`, default on): a fill re-evaluates the instrument at once; off, the
//! next book frame does (limits and the flatten are evaluated on the fill either way).
//!
//! **Quote log** (`log_quotes`): every intent also goes out as a `TelKind::Quote` telemetry
//! record with its [`QuoteReason`] and ladder level; the control thread renders and logs it.
//! **Halts**: [`Engine::halt_for`] records why quoting stopped (end of run, kill switch, PnL
//! limit).

use crate::book::{Book, BookView};
use crate::decimal::Dec;
use crate::event::{
    intent_flags, quote_word, ExecEvent, ExecKind, IntentKind, MdEvent, MdKind, OrderIntent,
    QuoteReason, Stage, TelKind, Telemetry,
};
use crate::instrument::{Instrument, InstrumentTable, Kind};
use crate::model::{
    signals, CalibSample, CooldownAction, ModelCoeffs, ModelConfig, ModelKind, SampleKind,
};
use crate::options::{self, greeks, GreeksSource, TheoIv, TickerData};
use crate::orders::{InFlight, Orders, Status};
use crate::quote::{
    self, level_size, skewed_size, Adjust, Inventory, Ladder, Market, QuoteParams, QuoteSpec,
    Reference, MAX_LEVELS,
};
use crate::reject::{Outcome as RejectOutcome, RejectGuard};
use crate::risk::{self, HaltCause, RiskCode, FLATTEN_COLLAR_BPS_E2, NO_LIMIT};
use crate::types::{ClientId, InstrumentId, Lots, Nanos, Side, Ticks};

/// Where the engine writes order intents (the intent ring's producer, or a test vector).
pub trait IntentSink {
    /// Free slots. The engine never pushes more intents than this reports.
    fn free(&self) -> usize;
    /// Pushes one intent; only called when `free() > 0`.
    fn push(&mut self, intent: OrderIntent);
}

/// Where the engine writes telemetry (the telemetry ring's producer). Implementations may drop
/// records when full, counting them: telemetry never back-pressures trading.
pub trait TelemetrySink {
    /// Pushes one record.
    fn push(&mut self, t: Telemetry);
}

impl IntentSink for Vec<OrderIntent> {
    fn free(&self) -> usize {
        self.capacity() - self.len()
    }
    fn push(&mut self, intent: OrderIntent) {
        Vec::push(self, intent)
    }
}

impl TelemetrySink for Vec<Telemetry> {
    fn push(&mut self, t: Telemetry) {
        if self.len() < self.capacity() {
            Vec::push(self, t)
        }
    }
}

/// Engine settings, in integer units per instrument (built by the control thread from user
/// settings in amounts, bps and USD). Optional limits use [`NO_LIMIT`] for "none".
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Spread, minimum spread and skew per 100 USD (strategies.md §1–§3).
    pub quote: QuoteParams,
    /// Order size per side (first level), per instrument (lots, ≥ 1). Ignored when
    /// `size_usd_e4 > 0`.
    pub size: Vec<Lots>,
    /// Max absolute position per instrument (lots), in-flight aware.
    pub max_position: Vec<Lots>,
    /// Max total worst-case exposure across instruments, 1e-4 USD (`NO_LIMIT` = none).
    pub max_exposure_usd_e4: i64,
    /// Minimum move of the target, in ticks, before a resting order is amended (≥ 1).
    pub requote_ticks: Ticks,
    /// Pull every quote when no market data arrived for this long (ns; 0 = off).
    pub stale_ns: Nanos,
    /// Capacity of the live-order pool.
    pub order_capacity: usize,
    /// Book mirror window (ticks) of each option (small books around a small price in ticks).
    pub book_window: usize,
    /// Book mirror window (ticks) of each perpetual, future and spot instrument: wide, so that
    /// deep books (a Binance-style 1,000+ level depth stream) stay in the O(1) dense window.
    /// Costs `16 × W` bytes of address space per instrument (16 MiB at the default 2^20), of
    /// which only the pages around live levels become resident (the arrays are zero-allocated
    /// and never swept: clearing and re-centring walk the occupancy bits); see [`Book::new`].
    pub book_window_linear: usize,

    /// Reference price (§1): mid, micro-price or the venue mark.
    pub reference: Reference,
    /// Minimum edge of each quote versus the reference, hundredths of a bp (0 = none).
    pub min_edge_bps_e2: i64,
    /// Levels per side (1..=[`MAX_LEVELS`]).
    pub levels: usize,
    /// Extra distance per level, hundredths of a bp of the reference.
    pub level_spread_bps_e2: i64,
    /// Extra size per level, per instrument (lots).
    pub level_amount: Vec<Lots>,
    /// First-level size as USD notional, 1e-4 USD (0 = use `size`); converted to lots with
    /// the current USD value of a lot (linear: follows the price; inverse: the lot is USD;
    /// options: lot × index), nearest, at least one.
    pub size_usd_e4: i64,
    /// Skew factor of position (§3), ppm (0 = none); normalised by `max_inventory_usd_e4`
    /// when set, else by `max_position`.
    pub skew_factor_ppm: i64,
    /// Inventory skew as a fraction of the half-spread (§3), ppm (0 = none).
    pub inventory_skew_ppm: i64,
    /// Size-skew range per instrument (lots; 0 = no size skew).
    pub size_skew_range: Vec<Lots>,
    /// Target position per instrument (lots), for the fraction and size skews and the band.
    pub target_position: Vec<Lots>,

    /// Re-quote threshold in hundredths of a bp of the reference (0 = none).
    pub requote_bps_e2: i64,
    /// Re-quote threshold as an absolute price amount (`None` = none), ticks per instrument.
    pub requote_abs: Option<Dec>,
    /// Refresh interval (ns; 0 = off): see the module docs.
    pub refresh_ns: Nanos,
    /// Re-evaluate an instrument as soon as it fills (default true).
    pub requote_on_fill: bool,

    /// Threshold band around `target_position` per instrument (lots; `NO_LIMIT` = none).
    pub threshold: Vec<Lots>,
    /// Max position per instrument in USD, 1e-4 USD (`NO_LIMIT` = none).
    pub max_position_usd_e4: i64,
    /// Hard max position per instrument (lots; `NO_LIMIT` = none): quoting limit, and a
    /// reduce-only IOC flatten when `|position|` reaches it.
    pub hard_max_position: Vec<Lots>,
    /// Max net inventory value across instruments, 1e-4 USD (`NO_LIMIT` = none).
    pub max_inventory_usd_e4: i64,
    /// Stop-loss on a position: loss versus entry value, ppm (0 = off).
    pub stop_loss_ppm: i64,
    /// Daily loss limit: realized + marked PnL since start, 1e-4 USD (0 = off).
    pub daily_loss_usd_e4: i64,
    /// Interval of exchange time between `TelKind::Mark` records per instrument (ns; 0 =
    /// only at fills).
    pub mark_every_ns: Nanos,
    /// Publish every quote intent (new, amend, cancel, flatten, cancel-all, with its reason
    /// and level) as a `TelKind::Quote` telemetry record, for the control thread to log
    /// (`--log-quotes`). Off by default: the records cost ring slots, not formatting.
    pub log_quotes: bool,
    /// Model-based quoting, imbalance and cooldown (strategies.md §4, [`crate::model`]);
    /// default: all off (fixed quoting).
    pub model: ModelConfig,

    /// Reference of option instruments (`--quote-around mark|theo|mid`); `None` = the
    /// general `reference`.
    pub option_reference: Option<Reference>,
    /// IV of the option theo (`--theo-iv mark|smile`).
    pub theo_iv: TheoIv,
    /// Source of the option greeks (`--greeks ticker|computed`).
    pub greeks: GreeksSource,
    /// Max |net delta| per underlying (base currency) across the book, 1e-8 coin of that
    /// underlying (`NO_LIMIT` = none), in-flight aware ([`crate::options::greeks`]).
    pub max_delta_e8: i64,
    /// Max |net vega| per underlying across the book, 1e-6 USD per vol point (`NO_LIMIT` =
    /// none).
    pub max_vega_e6: i64,
}

impl EngineConfig {
    /// The same settings for every instrument of `table`: `size` and `max_position` in lots;
    /// every newer control off (one level, mid reference, no extra limits).
    pub fn uniform(
        table: &InstrumentTable,
        quote: QuoteParams,
        size: Lots,
        max_position: Lots,
    ) -> Self {
        let n = table.len();
        EngineConfig {
            quote,
            size: vec![size.max(1); n],
            max_position: vec![max_position; n],
            max_exposure_usd_e4: NO_LIMIT,
            requote_ticks: 1,
            stale_ns: 0,
            order_capacity: (n * 8).max(64),
            book_window: 4096,
            book_window_linear: 1 << 20,
            reference: Reference::Mid,
            min_edge_bps_e2: 0,
            levels: 1,
            level_spread_bps_e2: 0,
            level_amount: vec![0; n],
            size_usd_e4: 0,
            skew_factor_ppm: 0,
            inventory_skew_ppm: 0,
            size_skew_range: vec![0; n],
            target_position: vec![0; n],
            requote_bps_e2: 0,
            requote_abs: None,
            refresh_ns: 0,
            requote_on_fill: true,
            threshold: vec![NO_LIMIT; n],
            max_position_usd_e4: NO_LIMIT,
            hard_max_position: vec![NO_LIMIT; n],
            max_inventory_usd_e4: NO_LIMIT,
            stop_loss_ppm: 0,
            daily_loss_usd_e4: 0,
            mark_every_ns: 1_000_000_000,
            log_quotes: false,
            model: ModelConfig::default(),
            option_reference: None,
            theo_iv: TheoIv::Mark,
            greeks: GreeksSource::Ticker,
            max_delta_e8: NO_LIMIT,
            max_vega_e6: NO_LIMIT,
        }
    }
}

/// Running counts of what the engine did (read by the control thread at the end of a run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Market-data events processed.
    pub md_events: u64,
    /// Complete book frames applied.
    pub book_frames: u64,
    /// Book gaps reported by the decoder.
    pub gaps: u64,
    /// New orders sent (quotes and flattens).
    pub orders_sent: u64,
    /// Amends sent.
    pub amends: u64,
    /// Single-order cancels sent.
    pub cancels: u64,
    /// Cancel-all requests sent.
    pub cancel_alls: u64,
    /// Venue rejects received.
    pub rejects: u64,
    /// Fills received.
    pub fills: u64,
    /// Fills for orders the engine no longer tracked (position still updated).
    pub unknown_fills: u64,
    /// Fills of previous runs booked at start ([`Engine::restore_fill`]; included in
    /// `fills`).
    pub restored_fills: u64,
    /// Times a decision was deferred because the intent ring was full.
    pub back_pressure: u64,
    /// Risk events emitted.
    pub risk_events: u64,
    /// Orders the engine sent that were (worst case) beyond a limit: must stay 0.
    pub limit_violations: u64,
    /// Reduce-only IOC flatten orders sent (hard max position reached).
    pub flattens: u64,
    /// Model coefficient sets applied ([`Engine::on_model`]).
    pub model_updates: u64,
    /// Calibration samples dropped because the buffer was full (the caller did not drain).
    pub calib_dropped: u64,
    /// Adverse-selection cooldowns started (large trade or fast move).
    pub cooldowns: u64,
    /// New/amend intents emitted for an instrument whose book was not trusted, or while the
    /// order connection was not up (must stay 0: every quoting path checks first; counted at
    /// the emission point, `emit_new`/`send_amend`).
    pub quotes_while_untrusted: u64,
    /// Reconciliation `Position` reports that differed from the engine's position (the
    /// venue's was adopted; a `PositionMismatch` risk event each).
    pub position_mismatches: u64,
    /// New/amend quotes sent while the venue's MMP froze the instrument: must stay 0.
    pub quotes_while_mmp_frozen: u64,
}

/// Scale of the inverse-future coin accumulator (`Σ side·lots·Q / price_ticks`).
const INV_Q: i128 = 1_000_000_000_000;

#[derive(Clone, Debug)]
struct InstState {
    book: Book,
    trusted: bool,
    /// The venue's MMP froze this instrument's index (`ExecKind::MmpTriggered` until
    /// `ExecKind::MmpReset`): no quotes.
    mmp_frozen: bool,
    in_snapshot: bool,
    dirty: bool,
    mark: Option<Ticks>,
    index_e4: i64,
    /// USD value of one lot used by the limits (1e-4 USD; 0 = unknown).
    usd_e4_per_lot: i64,
    /// Linear instruments: the price (ticks) `usd_e4_per_lot` was valued at.
    value_px: Ticks,
    position: Lots,
    pending: [Lots; 2],
    /// Live quote orders per side, by slot (0 = empty); at most `levels` used.
    working: [[ClientId; MAX_LEVELS]; 2],
    /// The flatten order in flight (0 = none).
    flatten: ClientId,
    exposure_e4: i64,
    /// `(pos + pending buys) × USD per lot` (signed, 1e-4 USD).
    long_e4: i64,
    /// `(pos − pending sells) × USD per lot` (signed, 1e-4 USD).
    short_e4: i64,
    /// Binding limit code per side (0 = not limited).
    limited: [i64; 2],
    /// First-level size in lots (from `size` or `size_usd`).
    base_size: Lots,
    /// Max position in USD as lots (`NO_LIMIT` = none).
    usd_cap: Lots,
    /// Average entry price × |position| (ticks × lots).
    entry_cost: i64,
    /// Cash flow `−Σ side·lots·price` (ticks × lots).
    cash: i128,
    /// Inverse futures: `Σ side·lots·INV_Q / price_ticks`.
    inv_sq: i128,
    /// Fees paid, nano-units of the settlement currency.
    fee_nano: i64,
    /// Last PnL computed for the daily-loss limit (1e-4 USD).
    pnl_e4: i64,
    /// Exchange time of the last book frame (ns).
    exch_ts: Nanos,
    /// Exchange time of the next `Mark` record.
    next_mark: Nanos,
    /// Local time of the next refresh.
    refresh_due: Nanos,
    /// Options: the latest ticker and the theo computed from it.
    opt: OptState,
    /// Delta per lot, 1e-8 coin (`None` = unknown: no option ticker or index yet).
    delta_lot: Option<i64>,
    /// Vega per lot, 1e-6 USD per vol point (`None` = unknown).
    vega_lot: Option<i64>,
    /// Worst-case contributions `(up, down)` to the net delta (1e-8 coin) and vega (1e-6 USD).
    dl: (i64, i64),
    vg: (i64, i64),
    /// Position-only contributions to the net delta and vega.
    dl_pos: i64,
    vg_pos: i64,
}

/// An option's latest ticker (floats: inputs of the theo and the smile, never compared on
/// the hot path) and its theo.
#[derive(Clone, Copy, Debug, Default)]
struct OptState {
    /// Underlying (forward) price, USD (0 = no ticker yet).
    forward: f64,
    /// Mark IV, fraction.
    iv: f64,
    /// Log-moneyness `ln(K/F)`.
    k: f64,
    /// Theoretical value, ticks (`None` = none: no quote around theo).
    theo: Option<Ticks>,
}

/// Net greeks of one underlying at the time of the call (see [`Engine::net_greeks`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetGreeksOut {
    /// Underlying (base currency), e.g. `BTC`.
    pub currency: String,
    /// Net delta of the positions, 1e-8 coin of the underlying.
    pub delta_e8: i64,
    /// Net vega of the positions, 1e-6 USD per vol point.
    pub vega_e6: i64,
    /// Largest |net delta| of the positions over the run, 1e-8 coin.
    pub max_abs_delta_e8: i64,
    /// Largest |net vega| of the positions over the run, 1e-6 USD per vol point.
    pub max_abs_vega_e6: i64,
}

/// Net greeks of one underlying across the book (see [`crate::options::greeks`]).
#[derive(Clone, Copy, Debug, Default)]
struct NetGreeks {
    /// Σ worst-case up / down delta (1e-8 coin), in-flight included.
    dl_up: i64,
    dl_dn: i64,
    /// Σ worst-case up / down vega (1e-6 USD per vol point).
    vg_up: i64,
    vg_dn: i64,
    /// Net delta and vega of the positions alone.
    delta: i64,
    vega: i64,
    /// Largest |net| of the positions seen so far.
    max_abs_delta: i64,
    max_abs_vega: i64,
}

/// How an instrument's PnL converts to 1e-4 USD (precomputed factors).
#[derive(Clone, Copy, Debug)]
enum PnlKind {
    /// Quote currency USD(-like): `usd_e4 = X2 · num / den` with
    /// `X2 = 2·cash + position·ref2` (ticks × lots).
    Linear { num: i128, den: i128 },
    /// Quote currency coin (Deribit options): `usd_e4 = X2 · num · index_e4 / den`.
    Coin { num: i128, den: i128 },
    /// Inverse futures: `usd_e4 = lot_usd_e4 · (ref2·S − 2Q·position) / (2Q)`; fees at
    /// `P_e4 = ref2 · tick_num / tick_den`.
    Inverse {
        lot_usd_e4: i128,
        tick_num: i128,
        tick_den: i128,
    },
}

/// The hot thread's state. See the module docs.
pub struct Engine {
    insts: Vec<InstState>,
    meta: Vec<InstMeta>,
    /// Any USD limit set (max position USD, exposure, inventory).
    usd_limits: bool,
    orders: Orders,
    cfg: EngineConfig,
    levels: usize,
    clock: fn() -> Nanos,
    total_exposure_e4: i64,
    total_long_e4: i64,
    total_short_e4: i64,
    total_pnl_e4: i64,
    last_md: Nanos,
    stale: bool,
    halted: bool,
    cancel_all_due: bool,
    gateway_up: bool,
    any_dirty: bool,
    refresh_scan_at: Nanos,
    counters: Counters,
    /// Any model feature on (else the model code never runs).
    model_on: bool,
    /// Calibration samples are produced.
    calib_on: bool,
    /// Per-instrument model state.
    mstate: Vec<ModelInst>,
    /// Calibration samples not yet drained (capacity [`CALIB_CAP`], never grows).
    calib_buf: Vec<CalibSample>,
    /// A delta or vega limit is set.
    greek_limits: bool,
    /// Net greeks per underlying (base currency), indexed by `InstMeta::cur`.
    net: Vec<NetGreeks>,
    /// The base currency of each entry of `net`.
    net_currency: Vec<String>,
    /// Options of one expiry (same base currency and expiry), by group (the smile's points).
    groups: Vec<Vec<u32>>,
    /// What venue rejects left in force ([`crate::reject`]).
    reject: RejectGuard,
}

/// Capacity of the engine's calibration-sample buffer (drained after every `on_md`).
pub const CALIB_CAP: usize = 1024;

/// Model state of one instrument.
#[derive(Clone, Copy, Debug, Default)]
struct ModelInst {
    /// Last coefficients applied (all 0 = none: fixed spread).
    coeffs: ModelCoeffs,
    /// Twice-mid after the last book frame (ticks; 0 = none).
    last_mid2: Ticks,
    /// Cooldown end, exchange ns (0 = none).
    cooldown_until: Nanos,
    /// Trade size starting a cooldown (lots; 0 = off).
    cooldown_trade_lots: Lots,
}

/// What the engine needs to know of an instrument (copied from the table at construction).
#[derive(Clone, Debug)]
struct InstMeta {
    inst: Instrument,
    /// 1e-4 USD per lot for instruments whose lot is USD (inverse futures), else 0.
    fixed_usd_e4_per_lot: i64,
    /// Linear instrument: USD per lot follows the price.
    linear: bool,
    spec: QuoteSpec,
    requote_abs_ticks: Ticks,
    pnl: PnlKind,
    /// Per side, the smallest of the lot limits that do not move (max position, hard max,
    /// threshold band) and its code.
    static_cap: [(Lots, RiskCode); 2],
    target: Lots,
    level_amount: Lots,
    size_skew_range: Lots,
    hard_max: Lots,
    /// Max position normalising the skews: min(max position, hard max).
    skew_max: Lots,
    /// Options: index of the expiry group in `Engine::groups` (`usize::MAX` = none).
    group: usize,
    /// Index of the instrument's underlying (base currency) in `Engine::net`.
    cur: usize,
}

/// Re-quote thresholds of one evaluation (ticks): `now` applies (one tick during a
/// refresh), `normal` is the configured one (tells a refresh amend from a re-quote).
#[derive(Clone, Copy)]
struct Thresholds {
    now: Ticks,
    normal: Ticks,
}

/// A live order of a side, as [`Engine::quote_side`] needs it.
#[derive(Clone, Copy, Default)]
struct Slot {
    id: ClientId,
    price: Ticks,
    /// Price it is at or moving to (in-flight amend).
    eff: Ticks,
    leaves: Lots,
    filled: Lots,
    /// No request in flight.
    idle: bool,
}

fn pow10_i128(k: u32) -> i128 {
    let mut v: i128 = 1;
    for _ in 0..k {
        v *= 10;
    }
    v
}

impl Engine {
    /// Builds the engine for the instruments of `table`. Allocates everything here.
    ///
    /// # Panics
    /// If a per-instrument vector of `cfg` does not have one entry per instrument.
    pub fn new(table: &InstrumentTable, mut cfg: EngineConfig, clock: fn() -> Nanos) -> Engine {
        let n = table.len();
        assert_eq!(cfg.size.len(), n, "one size per instrument");
        assert_eq!(cfg.max_position.len(), n, "one max position per instrument");
        for (v, what) in [
            (&cfg.level_amount, "level amount"),
            (&cfg.size_skew_range, "size skew range"),
            (&cfg.target_position, "target position"),
            (&cfg.threshold, "threshold"),
            (&cfg.hard_max_position, "hard max position"),
        ] {
            assert_eq!(v.len(), n, "one {what} per instrument");
        }
        cfg.levels = cfg.levels.clamp(1, MAX_LEVELS);
        let base_spec = QuoteSpec {
            reference: cfg.reference,
            min_edge_bps_e2: cfg.min_edge_bps_e2,
            skew_factor_ppm: cfg.skew_factor_ppm,
            inventory_skew_ppm: cfg.inventory_skew_ppm,
            levels: cfg.levels,
            level_spread_bps_e2: cfg.level_spread_bps_e2,
            ..QuoteSpec::from_params(&cfg.quote)
        };
        let meta: Vec<InstMeta> = table
            .iter()
            .enumerate()
            .map(|(k, i)| {
                let inverse_future = i.inverse && i.kind != Kind::Option;
                let fixed = if inverse_future {
                    // lot amount is USD
                    (i.lot.to_f64() * 1e4).round() as i64
                } else {
                    0
                };
                let tl_num = i.tick.mant as i128 * i.lot.mant as i128;
                let tl_den = 2 * pow10_i128(i.tick.scale + i.lot.scale);
                let pnl = if i.kind == Kind::Option {
                    PnlKind::Coin {
                        num: tl_num,
                        den: tl_den,
                    }
                } else if inverse_future {
                    PnlKind::Inverse {
                        lot_usd_e4: fixed as i128,
                        tick_num: i.tick.mant as i128 * 10_000,
                        tick_den: 2 * pow10_i128(i.tick.scale),
                    }
                } else {
                    PnlKind::Linear {
                        num: tl_num * 10_000,
                        den: tl_den,
                    }
                };
                let spec = match (i.kind, cfg.option_reference) {
                    (Kind::Option, Some(r)) => QuoteSpec {
                        reference: r,
                        ..base_spec
                    },
                    _ => base_spec,
                };
                InstMeta {
                    inst: i.clone(),
                    fixed_usd_e4_per_lot: fixed,
                    linear: i.kind != Kind::Option && !i.inverse,
                    spec: spec.resolve(i),
                    requote_abs_ticks: cfg
                        .requote_abs
                        .map_or(0, |d| d.div_round(i.tick).unwrap_or(1).max(1)),
                    pnl,
                    static_cap: [Side::Bid, Side::Ask].map(|side| {
                        let mut cap = (cfg.max_position[k], RiskCode::MaxPosition);
                        if cfg.hard_max_position[k] < cap.0 {
                            cap = (cfg.hard_max_position[k], RiskCode::HardMax);
                        }
                        let thr = cfg.threshold[k];
                        if thr != NO_LIMIT {
                            let t = cfg.target_position[k];
                            let band = if side == Side::Bid { t + thr } else { thr - t };
                            if band < cap.0 {
                                cap = (band, RiskCode::ThresholdBand);
                            }
                        }
                        cap
                    }),
                    target: cfg.target_position[k],
                    level_amount: cfg.level_amount[k],
                    size_skew_range: cfg.size_skew_range[k],
                    hard_max: cfg.hard_max_position[k],
                    skew_max: cfg.max_position[k].min(cfg.hard_max_position[k]),
                    group: usize::MAX,
                    cur: 0,
                }
            })
            .collect();
        let mut meta = meta;
        let mut group_keys: Vec<(String, u64)> = Vec::new();
        let mut groups: Vec<Vec<u32>> = Vec::new();
        let mut net_currency: Vec<String> = Vec::new();
        for (k, m) in meta.iter_mut().enumerate() {
            let base = &m.inst.base_currency;
            m.cur = match net_currency.iter().position(|c| c == base) {
                Some(c) => c,
                None => {
                    net_currency.push(base.clone());
                    net_currency.len() - 1
                }
            };
            let inst = &m.inst;
            if let (Kind::Option, Some(exp)) = (inst.kind, inst.expiry_ms) {
                let key = (inst.base_currency.clone(), exp);
                let g = match group_keys.iter().position(|x| *x == key) {
                    Some(g) => g,
                    None => {
                        group_keys.push(key);
                        groups.push(Vec::new());
                        groups.len() - 1
                    }
                };
                groups[g].push(k as u32);
                m.group = g;
            }
        }
        let insts = meta
            .iter()
            .zip(table.iter())
            .enumerate()
            .map(|(k, (m, inst))| InstState {
                mmp_frozen: false,
                book: Book::new(
                    if inst.kind == Kind::Option {
                        cfg.book_window
                    } else {
                        cfg.book_window_linear
                    },
                    2048,
                ),
                trusted: false,
                in_snapshot: false,
                dirty: false,
                mark: None,
                index_e4: 0,
                usd_e4_per_lot: m.fixed_usd_e4_per_lot,
                value_px: 0,
                position: 0,
                pending: [0, 0],
                working: [[0; MAX_LEVELS]; 2],
                flatten: 0,
                exposure_e4: 0,
                long_e4: 0,
                short_e4: 0,
                limited: [0, 0],
                base_size: cfg.size[k].max(1),
                usd_cap: NO_LIMIT,
                entry_cost: 0,
                cash: 0,
                inv_sq: 0,
                fee_nano: 0,
                pnl_e4: 0,
                exch_ts: 0,
                next_mark: 0,
                refresh_due: 0,
                opt: OptState::default(),
                delta_lot: match inst.kind {
                    Kind::Option => None,
                    _ if !inst.inverse => {
                        greeks::per_lot(1.0, inst.lot.to_f64(), greeks::DELTA_SCALE)
                    }
                    _ => None,
                },
                vega_lot: (inst.kind != Kind::Option).then_some(0),
                dl: (0, 0),
                vg: (0, 0),
                dl_pos: 0,
                vg_pos: 0,
            })
            .collect();
        let usd_limits = cfg.max_position_usd_e4 != NO_LIMIT
            || cfg.max_exposure_usd_e4 != NO_LIMIT
            || cfg.max_inventory_usd_e4 != NO_LIMIT;
        let model_on = cfg.model.any();
        let calib_on = cfg.model.needs_calibration();
        let mstate = (0..n)
            .map(|k| ModelInst {
                cooldown_trade_lots: cfg.model.cooldown_trade_lots.get(k).copied().unwrap_or(0),
                ..Default::default()
            })
            .collect();
        let mut e = Engine {
            model_on,
            calib_on,
            mstate,
            calib_buf: Vec::with_capacity(if calib_on { CALIB_CAP } else { 0 }),
            insts,
            meta,
            usd_limits,
            orders: Orders::new(cfg.order_capacity),
            levels: cfg.levels,
            cfg,
            clock,
            total_exposure_e4: 0,
            total_long_e4: 0,
            total_short_e4: 0,
            total_pnl_e4: 0,
            last_md: 0,
            stale: false,
            halted: false,
            cancel_all_due: false,
            gateway_up: true,
            any_dirty: false,
            refresh_scan_at: 0,
            counters: Counters::default(),
            greek_limits: false,
            net: vec![NetGreeks::default(); net_currency.len().max(1)],
            net_currency,
            groups,
            reject: RejectGuard::new(table.len()),
        };
        e.greek_limits = e.cfg.max_delta_e8 != NO_LIMIT || e.cfg.max_vega_e6 != NO_LIMIT;
        for i in 0..e.insts.len() {
            e.refresh_usd(i);
        }
        e
    }

    /// What the engine did so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The book mirror of an instrument.
    pub fn book(&self, id: InstrumentId) -> &Book {
        &self.insts[id as usize].book
    }

    /// Whether an instrument's book is trusted (snapshot applied, no gap since).
    pub fn trusted(&self, id: InstrumentId) -> bool {
        self.insts[id as usize].trusted
    }

    /// Position of an instrument in lots (signed; long > 0).
    pub fn position(&self, id: InstrumentId) -> Lots {
        self.insts[id as usize].position
    }

    /// Live (pending or open) orders.
    pub fn open_orders(&self) -> usize {
        self.orders.live()
    }

    /// True once [`Engine::halt`] ran (shutdown, kill switch, or a PnL limit).
    pub fn halted(&self) -> bool {
        self.halted
    }

    /// Current worst-case total exposure (1e-4 USD).
    pub fn total_exposure_usd_e4(&self) -> i64 {
        self.total_exposure_e4
    }

    /// The limit currently binding a side of an instrument, if any.
    pub fn limited(&self, id: InstrumentId, side: Side) -> Option<RiskCode> {
        RiskCode::from_i64(self.insts[id as usize].limited[side.idx()])
    }

    /// Net greeks of the positions per underlying (base currency): options × their delta
    /// and vega per lot, futures' delta in coin; instruments whose greeks are unknown count 0.
    /// Allocates (a report accessor, not for the hot loop).
    pub fn net_greeks(&self) -> Vec<NetGreeksOut> {
        self.net_currency
            .iter()
            .zip(&self.net)
            .map(|(c, n)| NetGreeksOut {
                currency: c.clone(),
                delta_e8: n.delta,
                vega_e6: n.vega,
                max_abs_delta_e8: n.max_abs_delta,
                max_abs_vega_e6: n.max_abs_vega,
            })
            .collect()
    }

    /// An option's theoretical value (ticks), when its ticker gave one.
    pub fn theo(&self, id: InstrumentId) -> Option<Ticks> {
        self.insts[id as usize].opt.theo
    }

    /// Delta per lot (1e-8 coin) and vega per lot (1e-6 USD per vol point) of an instrument,
    /// when known.
    pub fn greeks_per_lot(&self, id: InstrumentId) -> (Option<i64>, Option<i64>) {
        let st = &self.insts[id as usize];
        (st.delta_lot, st.vega_lot)
    }

    /// Realized + marked PnL in 1e-4 USD as last evaluated for the daily-loss limit (only
    /// maintained when that limit is set).
    pub fn pnl_usd_e4(&self) -> i64 {
        self.total_pnl_e4
    }

    /// Applies one market-data event; re-quotes the instrument after a complete book frame.
    pub fn on_md(
        &mut self,
        ev: &MdEvent,
        t_pop: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        self.counters.md_events += 1;
        self.last_md = t_pop;
        if self.stale {
            self.stale = false;
        }
        if ev.kind == MdKind::Disconnected {
            for i in 0..self.insts.len() {
                self.insts[i].trusted = false;
                self.insts[i].book.clear();
                self.pull(i, ev.t_recv, t_pop, out, tel);
            }
            return;
        }
        let i = ev.instrument as usize;
        if i >= self.insts.len() {
            return;
        }
        match ev.kind {
            MdKind::BookClear => {
                let st = &mut self.insts[i];
                st.book.clear();
                st.trusted = false;
                st.in_snapshot = true;
            }
            MdKind::Level => self.insts[i].book.set(ev.side, ev.price, ev.qty),
            MdKind::BookDone => {
                self.counters.book_frames += 1;
                let st = &mut self.insts[i];
                st.book.finish_frame();
                if st.in_snapshot {
                    st.in_snapshot = false;
                    st.trusted = true;
                }
                if st.trusted {
                    let ts = if ev.exch_ts != 0 { ev.exch_ts } else { t_pop };
                    st.exch_ts = ts;
                    if self.model_on {
                        self.model_frame(i, ts);
                    }
                    let st = &mut self.insts[i];
                    let every = self.cfg.mark_every_ns;
                    if every > 0 && ts >= st.next_mark {
                        st.next_mark = ts - ts % every + every;
                        self.push_mark(i, t_pop, tel);
                    }
                    if self.pnl_checks(i, t_pop, out, tel) {
                        return;
                    }
                    self.requote(i, ev.t_recv, t_pop, out, tel);
                }
            }
            MdKind::Gap => {
                self.counters.gaps += 1;
                let st = &mut self.insts[i];
                st.book.clear();
                st.trusted = false;
                st.in_snapshot = false;
                tel.push(Telemetry {
                    t: t_pop,
                    kind: TelKind::Gap,
                    instrument: ev.instrument,
                    ..Default::default()
                });
                self.risk_event(RiskCode::GapPulled, i, 0, 0, 0, t_pop, tel);
                self.pull(i, ev.t_recv, t_pop, out, tel);
            }
            MdKind::Mark => {
                let st = &mut self.insts[i];
                st.mark = (ev.price > 0).then_some(ev.price);
                if ev.qty > 0 && ev.qty != st.index_e4 {
                    st.index_e4 = ev.qty;
                    tel.push(Telemetry {
                        t: t_pop,
                        kind: TelKind::Index,
                        instrument: ev.instrument,
                        a: ev.price,
                        b: ev.qty,
                        ..Default::default()
                    });
                }
                if ev.qty > 0 && self.meta[i].fixed_usd_e4_per_lot > 0 {
                    // Inverse future: delta per lot = lot USD / index (coin).
                    let d = greeks::inverse_delta_e8(self.meta[i].fixed_usd_e4_per_lot, ev.qty);
                    if d != self.insts[i].delta_lot {
                        self.insts[i].delta_lot = d;
                        self.recount_greeks(i);
                    }
                }
                let st = &mut self.insts[i];
                if self.meta[i].inst.kind == Kind::Option && ev.qty > 0 {
                    // qty carries the underlying index in 1e-4 USD: lot (coin) × index
                    let lot = self.meta[i].inst.lot;
                    let v = ev.qty as i128 * lot.mant as i128
                        / crate::decimal::POW10[lot.scale as usize] as i128;
                    if v as i64 != st.usd_e4_per_lot {
                        st.usd_e4_per_lot = v as i64;
                        self.recount_exposure(i);
                        self.refresh_usd(i);
                    }
                }
            }
            MdKind::OptionTicker => self.on_option_ticker(i, ev, t_pop, out, tel),
            MdKind::Trade => {
                if self.model_on {
                    self.model_trade(i, ev, t_pop, out, tel);
                }
            }
            MdKind::Disconnected => {}
        }
    }

    /// Applies new model coefficients of `c.instrument` (O(1), no allocation) and re-quotes
    /// that instrument (strategies.md §4). Coefficients with `half_spread_e6 == 0` leave the
    /// fixed spread in force; out-of-range instruments are ignored.
    pub fn on_model(
        &mut self,
        c: &ModelCoeffs,
        t_pop: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        let i = c.instrument as usize;
        if i >= self.insts.len() {
            return;
        }
        self.mstate[i].coeffs = *c;
        self.counters.model_updates += 1;
        if self.insts[i].trusted && !self.pnl_checks(i, t_pop, out, tel) {
            self.requote(i, 0, t_pop, out, tel);
        }
    }

    /// Hands every calibration sample written since the last call to `f` (mid changes per
    /// book frame and public trades, see [`crate::model`]) and empties the buffer. Call after
    /// each `on_md` when a calibrator runs; the buffer holds [`CALIB_CAP`] samples, beyond
    /// which samples are dropped and counted ([`Counters::calib_dropped`]).
    #[inline]
    pub fn drain_calib(&mut self, f: &mut impl FnMut(&CalibSample)) {
        for s in self.calib_buf.drain(..) {
            f(&s);
        }
    }

    /// The model coefficients in force for an instrument (all 0 = none).
    pub fn model_coeffs(&self, id: InstrumentId) -> ModelCoeffs {
        self.mstate[id as usize].coeffs
    }

    /// True while the adverse-selection cooldown of an instrument lasts (exchange time of its
    /// last book frame before the cooldown's end).
    pub fn in_cooldown(&self, id: InstrumentId) -> bool {
        let i = id as usize;
        self.insts[i].exch_ts < self.mstate[i].cooldown_until
    }

    #[inline]
    fn push_calib(&mut self, s: CalibSample) {
        if self.calib_buf.len() < self.calib_buf.capacity() {
            self.calib_buf.push(s);
        } else {
            self.counters.calib_dropped += 1;
        }
    }

    fn start_cooldown(&mut self, i: usize, ts: Nanos) {
        let until = ts.saturating_add(self.cfg.model.cooldown_ns);
        if until > self.mstate[i].cooldown_until {
            if ts >= self.mstate[i].cooldown_until {
                self.counters.cooldowns += 1;
            }
            self.mstate[i].cooldown_until = until;
        }
    }

    /// After a trusted book frame at exchange time `ts`: the mid-change sample and the
    /// fast-move cooldown trigger.
    fn model_frame(&mut self, i: usize, ts: Nanos) {
        let mid2 = self.insts[i].book.mid_x2().unwrap_or(0);
        let prev = self.mstate[i].last_mid2;
        if mid2 == prev {
            return;
        }
        self.mstate[i].last_mid2 = mid2;
        if self.calib_on && mid2 > 0 {
            self.push_calib(CalibSample {
                t: ts,
                mid2,
                instrument: i as u32,
                kind: SampleKind::Mid,
                ..Default::default()
            });
        }
        if self.cfg.model.cooldown_ns > 0
            && signals::fast_move(prev, mid2, self.cfg.model.cooldown_move_bps_e2)
        {
            self.start_cooldown(i, ts);
        }
    }

    /// A public trade: the calibration sample and the large-trade cooldown trigger (which
    /// re-quotes at once, so a pull does not wait for the next book frame).
    fn model_trade(
        &mut self,
        i: usize,
        ev: &MdEvent,
        t_pop: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        let ts = if ev.exch_ts != 0 { ev.exch_ts } else { t_pop };
        if self.calib_on {
            let mid2 = if self.insts[i].trusted {
                self.insts[i].book.mid_x2().unwrap_or(0)
            } else {
                0
            };
            self.push_calib(CalibSample {
                t: ts,
                mid2,
                price: ev.price,
                qty: ev.qty,
                instrument: i as u32,
                kind: SampleKind::Trade,
                side: ev.side,
            });
        }
        let lots = self.mstate[i].cooldown_trade_lots;
        if self.cfg.model.cooldown_ns > 0 && lots > 0 && ev.qty >= lots {
            self.start_cooldown(i, ts);
            // The cooldown is measured against the instrument's exchange clock.
            if self.insts[i].exch_ts < ts {
                self.insts[i].exch_ts = ts;
            }
            if self.insts[i].trusted {
                self.requote(i, ev.t_recv, t_pop, out, tel);
            }
        }
    }

    /// The model adjustments of instrument `i` (see [`Adjust`]), or `None` to pull its
    /// quotes (cooldown with [`CooldownAction::Pull`]).
    fn model_adjust(&self, i: usize) -> Option<Adjust> {
        let st = &self.insts[i];
        let ms = &self.mstate[i];
        let mc = &self.cfg.model;
        let mut adj = Adjust::NONE;
        if st.exch_ts < ms.cooldown_until {
            match mc.cooldown_action {
                CooldownAction::Pull => return None,
                CooldownAction::Widen => adj.widen_bps_e2 = mc.cooldown_widen_bps_e2,
            }
        }
        let c = &ms.coeffs;
        let mut shift_e6: i128 = 0;
        if mc.kind != ModelKind::Fixed && c.half_spread_e6 > 0 {
            adj.spread_ticks = ((2 * c.half_spread_e6 + 500_000) / 1_000_000).max(1);
            adj.behind_touch = true;
            // q in units of the order size, relative to the target position.
            let q_lots = (st.position - self.meta[i].target) as i128;
            if st.base_size > 0 {
                shift_e6 += c.skew_e6 as i128 * q_lots / st.base_size as i128;
            }
        }
        if mc.vol_adaptive() {
            adj.vol_ratio_ppm = c.vol_ratio_ppm;
        }
        if mc.imbalance_levels > 0 {
            let imb = signals::imbalance_ppm(&st.book, mc.imbalance_levels);
            shift_e6 -= signals::imbalance_shift_e6(imb, mc.imbalance_shift_e6) as i128;
        }
        adj.shift = (shift_e6 / 1_000_000).clamp(i64::MIN as i128 / 4, i64::MAX as i128 / 4) as i64;
        Some(adj)
    }

    /// An option ticker: new theo (Black-76 at the mark IV or the expiry's smile IV), greeks
    /// per lot; re-quotes the option when it is quoted around theo and the theo moved, or
    /// when a greek limit is set. Bounded `f64` work, no allocation (see
    /// [`crate::options`]).
    fn on_option_ticker(
        &mut self,
        i: usize,
        ev: &MdEvent,
        t_pop: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        let Some(td) = TickerData::from_event(ev) else {
            return;
        };
        let inst = &self.meta[i].inst;
        if inst.kind != Kind::Option {
            return;
        }
        let now = if td.exch_ts != 0 {
            td.exch_ts
        } else {
            self.insts[i].exch_ts
        };
        let k = options::log_moneyness(inst, td.forward).unwrap_or(f64::NAN);
        self.insts[i].opt.forward = td.forward;
        self.insts[i].opt.iv = td.iv;
        self.insts[i].opt.k = k;
        let iv = match self.cfg.theo_iv {
            TheoIv::Mark => Some(td.iv),
            TheoIv::Smile => self.smile_iv(i, k),
        };
        let inst = &self.meta[i].inst;
        let theo = iv.and_then(|v| options::theo_of(inst, td.forward, v, now));
        let (delta, vega) = match (self.cfg.greeks, td.delta, td.vega) {
            (GreeksSource::Ticker, Some(d), Some(v)) => (Some(d), Some(v)),
            _ => (theo.map(|t| t.1.delta), theo.map(|t| t.1.vega)),
        };
        let lot = inst.lot.to_f64();
        let dl = delta.and_then(|d| greeks::per_lot(d, lot, greeks::DELTA_SCALE));
        let vg = vega.and_then(|v| greeks::per_lot(v, lot, greeks::VEGA_SCALE));
        let theo = theo.map(|t| t.0);
        let st = &mut self.insts[i];
        let moved = st.opt.theo != theo;
        st.opt.theo = theo;
        let regreek = st.delta_lot != dl || st.vega_lot != vg;
        st.delta_lot = dl;
        st.vega_lot = vg;
        if regreek {
            self.recount_greeks(i);
        }
        if regreek || moved {
            tel.push(Telemetry {
                t: t_pop,
                kind: TelKind::Theo,
                instrument: i as u32,
                a: theo.unwrap_or(0),
                b: dl.unwrap_or(i64::MIN),
                c: vg.unwrap_or(i64::MIN),
                d: now as i64,
                ..Default::default()
            });
        }
        let by_theo = self.meta[i].spec.reference == Reference::Theo;
        if self.insts[i].trusted && ((by_theo && moved) || (self.greek_limits && regreek)) {
            if self.pnl_checks(i, t_pop, out, tel) {
                return;
            }
            self.requote(i, ev.t_recv, t_pop, out, tel);
        }
    }

    /// The IV (fraction) of option `i`'s expiry smile at log-moneyness `k`: a least-squares
    /// fit over the latest mark IVs of the expiry's options ([`crate::options::smile`]).
    fn smile_iv(&self, i: usize, k: f64) -> Option<f64> {
        let g = self.meta[i].group;
        let members = self.groups.get(g)?;
        let pts = members.iter().filter_map(|&j| {
            let o = &self.insts[j as usize].opt;
            (o.forward > 0.0).then_some((o.k, o.iv))
        });
        options::smile::fit(pts)?.iv(k)
    }

    /// Applies one execution report and re-evaluates the instrument.
    pub fn on_exec(
        &mut self,
        ev: &ExecEvent,
        t_pop: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        let i = ev.instrument as usize;
        match ev.kind {
            ExecKind::Connected => {
                // Reconciled with the venue: quote again (each instrument once its book is
                // trusted; `on_idle` re-quotes the dirty ones).
                self.gateway_up = true;
                for k in 0..self.insts.len() {
                    self.mark_dirty(k);
                }
                return;
            }
            ExecKind::Disconnected => {
                // Cancel-on-disconnect is enabled on the order session: the venue cancels our
                // resting orders. Forget them; positions stay (fills are the truth).
                self.gateway_up = false;
                for k in 0..self.insts.len() {
                    self.insts[k].working = [[0; MAX_LEVELS]; 2];
                    self.insts[k].flatten = 0;
                    self.insts[k].pending = [0, 0];
                }
                self.orders.clear();
                for k in 0..self.insts.len() {
                    self.recount_exposure(k);
                }
                return;
            }
            ExecKind::CancelAllDone => return,
            ExecKind::Rejected if i >= self.insts.len() => {
                // An account-wide request (cancel-all) was refused.
                self.counters.rejects += 1;
                self.react(ev, usize::MAX, t_pop, out, tel);
                return;
            }
            _ => {}
        }
        if i >= self.insts.len() {
            return;
        }
        match ev.kind {
            ExecKind::MmpTriggered | ExecKind::MmpReset if self.on_mmp(i, ev, t_pop, out, tel) => {
                return;
            }
            ExecKind::Accepted => {
                if let Some(o) = self.orders.get_mut(ev.client_id) {
                    if o.status == Status::PendingNew {
                        o.status = Status::Open;
                    }
                    if o.inflight == InFlight::New {
                        o.inflight = InFlight::None;
                    }
                    // A reduce-only order may be accepted for less than asked.
                    if ev.qty > 0 && ev.qty < o.qty {
                        o.qty = ev.qty.max(o.filled);
                        if o.leaves() == 0 {
                            self.drop_order(ev.client_id);
                        } else {
                            self.recount_order(ev.client_id);
                        }
                    }
                }
            }
            ExecKind::Amended => {
                if let Some(o) = self.orders.get_mut(ev.client_id) {
                    o.price = ev.price;
                    o.qty = ev.qty.max(o.filled);
                    if matches!(o.inflight, InFlight::Amend { .. }) {
                        o.inflight = InFlight::None;
                    }
                }
                self.recount_order(ev.client_id);
            }
            ExecKind::Cancelled => self.drop_order(ev.client_id),
            ExecKind::Position => {
                self.reconcile_position(i, ev.qty, t_pop, tel);
                return;
            }
            ExecKind::Fill => {
                self.counters.fills += 1;
                self.book_fill(i, ev);
                self.push_mark(i, t_pop, tel);
                tel.push(Telemetry {
                    t: t_pop,
                    kind: TelKind::Fill,
                    instrument: ev.instrument,
                    side: ev.side,
                    a: ev.price,
                    b: ev.qty,
                    c: ev.fee_nano,
                    d: ev.client_id as i64,
                    ..Default::default()
                });
                match self.orders.get_mut(ev.client_id) {
                    Some(o) => {
                        o.filled += ev.qty;
                        if o.status == Status::PendingNew {
                            o.status = Status::Open;
                        }
                        if o.leaves() == 0 {
                            self.drop_order(ev.client_id);
                        } else {
                            self.recount_order(ev.client_id);
                        }
                    }
                    None => {
                        self.counters.unknown_fills += 1;
                        self.recount_exposure(i);
                    }
                }
            }
            ExecKind::Rejected => {
                self.counters.rejects += 1;
                tel.push(Telemetry {
                    t: t_pop,
                    kind: TelKind::Reject,
                    instrument: ev.instrument,
                    a: ev.code as i64,
                    d: ev.client_id as i64,
                    ..Default::default()
                });
                let gone = match self.orders.get_mut(ev.client_id) {
                    None => false,
                    Some(o) => match o.inflight {
                        InFlight::New => true,
                        // The new order itself was refused after a halt replaced its
                        // in-flight marker with the cancel-all: it never existed.
                        _ if o.status == Status::PendingNew => true,
                        _ if ev.qty == -1 => true,
                        _ => {
                            o.inflight = InFlight::None;
                            false
                        }
                    },
                };
                if gone {
                    self.drop_order(ev.client_id);
                } else {
                    self.recount_order(ev.client_id);
                }
                self.react(ev, i, t_pop, out, tel);
                // Re-quote on the next book frame, not now: no reject storms.
                return;
            }
            _ => {}
        }
        if self.insts[i].trusted {
            if ev.kind == ExecKind::Fill {
                if self.pnl_checks(i, t_pop, out, tel) {
                    return;
                }
                if !self.cfg.requote_on_fill {
                    self.maybe_flatten(i, 0, t_pop, out, tel);
                    return;
                }
            }
            self.requote(i, 0, t_pop, out, tel);
        } else {
            // A cancel deferred while a request was in flight (gap, stale) goes out now.
            self.pull(i, 0, t_pop, out, tel);
        }
    }

    /// Housekeeping when both rings are empty: stale-feed check, a cancel-all that did not
    /// fit the ring, periodic refresh and deferred re-quotes.
    pub fn on_idle(&mut self, now: Nanos, out: &mut impl IntentSink, tel: &mut impl TelemetrySink) {
        if self.cfg.stale_ns > 0
            && !self.stale
            && self.last_md > 0
            && now.saturating_sub(self.last_md) > self.cfg.stale_ns
        {
            self.stale = true;
            self.risk_event(RiskCode::Stale, usize::MAX, 0, 0, 0, now, tel);
            for i in 0..self.insts.len() {
                self.pull(i, 0, now, out, tel);
            }
        }
        if self.cancel_all_due && out.free() > 0 {
            self.cancel_all_due = false;
            let _ = self.halt(now, out, tel);
        }
        if self.cfg.refresh_ns > 0 && now >= self.refresh_scan_at && !self.halted {
            self.refresh_scan_at = now + (self.cfg.refresh_ns / 8).max(1);
            for i in 0..self.insts.len() {
                if self.insts[i].trusted && now >= self.insts[i].refresh_due {
                    self.requote(i, 0, now, out, tel);
                }
            }
        }
        if self.any_dirty && out.free() >= 4 * self.levels + 2 {
            self.any_dirty = false;
            for i in 0..self.insts.len() {
                if self.insts[i].dirty && self.insts[i].trusted {
                    self.insts[i].dirty = false;
                    self.requote(i, 0, now, out, tel);
                }
            }
        }
    }

    /// Stops quoting for good at the end of a run and cancels every live order with one
    /// cancel-all: [`Engine::halt_for`] with [`HaltCause::Shutdown`].
    /// Returns true when no order is live any more (call until it does, bounded by the
    /// caller's timeout).
    pub fn halt(
        &mut self,
        now: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) -> bool {
        self.halt_for(HaltCause::Shutdown, now, out, tel)
    }

    /// Stops quoting for good and cancels every live order with one cancel-all. The first
    /// call emits one risk event: `Shutdown` for [`HaltCause::Shutdown`], else `Halt` with the
    /// cause in `b`. Returns true when no order is live any more (call until it does, bounded
    /// by the caller's timeout; later calls keep the first cause).
    pub fn halt_for(
        &mut self,
        cause: HaltCause,
        now: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) -> bool {
        if !self.halted {
            self.halted = true;
            let code = if cause == HaltCause::Shutdown {
                RiskCode::Shutdown
            } else {
                RiskCode::Halt
            };
            self.risk_event(code, usize::MAX, cause as i64, 0, 0, now, tel);
        }
        let mut need = false;
        self.orders.for_each_live(|o| {
            if o.inflight != InFlight::Cancel {
                need = true;
            }
        });
        if need {
            if out.free() > 0 {
                let it = OrderIntent {
                    t_recv: 0,
                    t_decide: now,
                    kind: IntentKind::CancelAll,
                    instrument: u32::MAX,
                    ..Default::default()
                };
                self.log_quote(tel, &it, QuoteReason::Halt, 0, 0);
                out.push(it);
                self.counters.cancel_alls += 1;
                self.orders.for_each_live(|o| o.inflight = InFlight::Cancel);
                for st in &mut self.insts {
                    st.working = [[0; MAX_LEVELS]; 2];
                }
            } else {
                self.cancel_all_due = true;
            }
        }
        self.orders.live() == 0
    }

    #[allow(clippy::too_many_arguments)]
    fn risk_event(
        &mut self,
        code: RiskCode,
        i: usize,
        b: i64,
        c: i64,
        d: i64,
        t: Nanos,
        tel: &mut impl TelemetrySink,
    ) {
        self.counters.risk_events += 1;
        tel.push(Telemetry {
            t,
            kind: TelKind::Risk,
            instrument: if i == usize::MAX { u32::MAX } else { i as u32 },
            a: code as i64,
            b,
            c,
            d,
            ..Default::default()
        });
    }

    /// Publishes a quote intent as a `TelKind::Quote` record when `log_quotes` is on (no
    /// formatting here: the control thread renders it).
    #[inline]
    fn log_quote(
        &self,
        tel: &mut impl TelemetrySink,
        it: &OrderIntent,
        reason: QuoteReason,
        level: usize,
        open: Lots,
    ) {
        if self.cfg.log_quotes {
            tel.push(Telemetry {
                t: it.t_decide,
                kind: TelKind::Quote,
                instrument: it.instrument,
                side: it.side,
                a: it.price,
                b: it.qty,
                c: quote_word(it.kind, reason, level, open),
                d: it.client_id as i64,
                ..Default::default()
            });
        }
    }

    /// Records the binding limit of a side; a change emits a `Limit` record, and engaging
    /// (or switching) a limit a risk event (`b` = side, `c` = cap lots, `d` = room lots).
    #[allow(clippy::too_many_arguments)]
    fn set_limited(
        &mut self,
        i: usize,
        s: usize,
        code: i64,
        cap: Lots,
        room: Lots,
        t: Nanos,
        tel: &mut impl TelemetrySink,
    ) {
        if self.insts[i].limited[s] == code {
            return;
        }
        self.insts[i].limited[s] = code;
        tel.push(Telemetry {
            t,
            kind: TelKind::Limit,
            instrument: i as u32,
            side: if s == 0 { Side::Bid } else { Side::Ask },
            a: code,
            b: self.insts[i].exch_ts as i64,
            ..Default::default()
        });
        if let Some(rc) = RiskCode::from_i64(code) {
            self.risk_event(rc, i, s as i64, cap, room, t, tel);
        }
    }

    /// Twice the price positions are marked at: the mid, or twice the mark on a one-sided
    /// book (0 if neither).
    #[inline]
    fn mark_ref2(&self, i: usize) -> Ticks {
        let st = &self.insts[i];
        match st.book.mid_x2() {
            Some(m2) => m2,
            None => st.mark.map_or(0, |m| 2 * m),
        }
    }

    fn push_mark(&self, i: usize, t: Nanos, tel: &mut impl TelemetrySink) {
        let st = &self.insts[i];
        tel.push(Telemetry {
            t,
            kind: TelKind::Mark,
            instrument: i as u32,
            a: self.mark_ref2(i),
            b: st.exch_ts as i64,
            c: st.index_e4,
            ..Default::default()
        });
    }

    /// Reconciliation (`ExecKind::Position`): the venue says instrument `i`'s position is
    /// `venue` lots. When it differs from ours, counts a mismatch, raises a
    /// `PositionMismatch` risk event (`b` = venue lots, `c` = engine lots) and adopts the
    /// venue's position, booking the difference at the current reference price (mid, else
    /// mark; position only when neither is known) so the PnL accounting stays consistent.
    fn reconcile_position(
        &mut self,
        i: usize,
        venue: Lots,
        t_pop: Nanos,
        tel: &mut impl TelemetrySink,
    ) {
        let have = self.insts[i].position;
        if venue == have {
            return;
        }
        self.counters.position_mismatches += 1;
        self.risk_event(RiskCode::PositionMismatch, i, venue, have, 0, t_pop, tel);
        let ref2 = self.mark_ref2(i);
        if ref2 > 0 {
            let d = venue - have;
            let ev = ExecEvent {
                price: ref2 / 2,
                qty: d.abs(),
                side: if d > 0 { Side::Bid } else { Side::Ask },
                ..Default::default()
            };
            self.book_fill(i, &ev);
        } else {
            self.insts[i].position = venue;
        }
        self.recount_exposure(i);
        self.recount_greeks(i);
        self.mark_dirty(i);
    }

    /// Books a fill into the position and the PnL accounting (entry cost, cash, fees).
    fn book_fill(&mut self, i: usize, ev: &ExecEvent) {
        let inverse = matches!(self.meta[i].pnl, PnlKind::Inverse { .. });
        let st = &mut self.insts[i];
        let dq = ev.side.sign() * ev.qty;
        let p0 = st.position;
        st.position += dq;
        // Average entry cost of |position| (ticks × lots).
        let (a0, q) = (p0.abs(), dq.abs());
        if p0 == 0 || (p0 > 0) == (dq > 0) {
            st.entry_cost = st.entry_cost.saturating_add(q.saturating_mul(ev.price));
        } else if q < a0 {
            st.entry_cost -= (st.entry_cost as i128 * q as i128 / a0 as i128) as i64;
        } else {
            st.entry_cost = (q - a0).saturating_mul(ev.price);
        }
        st.cash -= dq as i128 * ev.price as i128;
        if inverse && ev.price > 0 {
            st.inv_sq += dq as i128 * INV_Q / ev.price as i128;
        }
        st.fee_nano = st.fee_nano.saturating_add(ev.fee_nano);
    }

    /// Realized + marked PnL of instrument `i` in 1e-4 USD at twice-price `ref2`, fees
    /// included (`None` when a USD conversion is unknown).
    fn inst_pnl_e4(&self, i: usize, ref2: Ticks) -> Option<i64> {
        let st = &self.insts[i];
        let x2 = 2 * st.cash + st.position as i128 * ref2 as i128;
        let v = match self.meta[i].pnl {
            PnlKind::Linear { num, den } => x2 * num / den - st.fee_nano as i128 / 100_000,
            PnlKind::Coin { num, den } => {
                if st.index_e4 <= 0 {
                    return None;
                }
                let ix = st.index_e4 as i128;
                x2 * num * ix / den - st.fee_nano as i128 * ix / 1_000_000_000
            }
            PnlKind::Inverse {
                lot_usd_e4,
                tick_num,
                tick_den,
            } => {
                let g = lot_usd_e4 * (ref2 as i128 * st.inv_sq - 2 * INV_Q * st.position as i128)
                    / (2 * INV_Q);
                let p_e4 = ref2 as i128 * tick_num / tick_den;
                g - st.fee_nano as i128 * p_e4 / 1_000_000_000
            }
        };
        Some(v.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
    }

    /// Stop-loss and daily-loss limits; on a breach cancel all and halt. Returns true when
    /// halted.
    fn pnl_checks(
        &mut self,
        i: usize,
        t: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) -> bool {
        if self.halted {
            return true;
        }
        let stop = self.cfg.stop_loss_ppm;
        let daily = self.cfg.daily_loss_usd_e4;
        if stop <= 0 && daily <= 0 {
            return false;
        }
        let ref2 = self.mark_ref2(i);
        if ref2 <= 0 {
            return false;
        }
        let st = &self.insts[i];
        if stop > 0 && st.position != 0 {
            let loss = risk::loss_ppm(st.position, st.entry_cost, ref2);
            if loss >= stop {
                let pos = st.position;
                self.risk_halt(RiskCode::StopLoss, i, loss, pos, t, out, tel);
                return true;
            }
        }
        if daily > 0 {
            if let Some(p) = self.inst_pnl_e4(i, ref2) {
                self.total_pnl_e4 += p - self.insts[i].pnl_e4;
                self.insts[i].pnl_e4 = p;
                if self.total_pnl_e4 <= -daily {
                    let total = self.total_pnl_e4;
                    self.risk_halt(RiskCode::DailyLoss, i, total, -daily, t, out, tel);
                    return true;
                }
            }
        }
        false
    }

    #[allow(clippy::too_many_arguments)]
    fn risk_halt(
        &mut self,
        code: RiskCode,
        i: usize,
        b: i64,
        c: i64,
        t: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        self.risk_event(code, i, b, c, 0, t, tel);
        let _ = self.halt_for(HaltCause::PnlLimit, t, out, tel);
    }

    /// Recomputes the lot figures that depend on the USD value of a lot.
    fn refresh_usd(&mut self, i: usize) {
        let v = self.insts[i].usd_e4_per_lot;
        let st = &mut self.insts[i];
        if self.cfg.size_usd_e4 > 0 {
            st.base_size = if v > 0 {
                ((self.cfg.size_usd_e4 + v / 2) / v).max(1)
            } else {
                0
            };
        }
        if self.cfg.max_position_usd_e4 != NO_LIMIT {
            st.usd_cap = if v > 0 {
                self.cfg.max_position_usd_e4 / v
            } else {
                0
            };
        }
    }

    /// The reaction to a venue reject beyond the order bookkeeping ([`crate::reject`]):
    /// records what it leaves in force and emits its risk event; a burst of unknown codes
    /// halts ([`HaltCause::RejectBurst`]). `i` = `usize::MAX` for an account-wide request.
    fn react(
        &mut self,
        ev: &ExecEvent,
        i: usize,
        t: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        match self.reject.on_reject(ev.code, i, ev.side, ev.price, t) {
            RejectOutcome::None => {}
            RejectOutcome::SideStopped(side) => {
                let until = t + crate::reject::FUNDS_COOL_OFF_NS;
                self.risk_event(
                    RiskCode::FundsCoolOff,
                    i,
                    side.idx() as i64,
                    until as i64,
                    0,
                    t,
                    tel,
                );
                // Cancel the side now (frees margin) when nothing else holds the instrument.
                if self.insts[i].trusted {
                    self.requote(i, 0, t, out, tel);
                }
            }
            RejectOutcome::Paused(until) => {
                self.risk_event(RiskCode::Settlement, usize::MAX, 0, until as i64, 0, t, tel);
            }
            RejectOutcome::Band(lo, hi) => {
                self.risk_event(RiskCode::PriceBand, i, lo, hi, 0, t, tel);
            }
            RejectOutcome::Disabled => {
                self.risk_event(RiskCode::ConfigReject, i, ev.code as i64, 0, 0, t, tel);
                self.pull(i, 0, t, out, tel);
            }
            RejectOutcome::Halt => {
                let _ = self.halt_for(HaltCause::RejectBurst, t, out, tel);
            }
        }
    }

    /// Whether rejects stopped quoting of instrument `id` for the run (configuration bug)
    /// or stopped `side` of it at `now` (funds cool-off, ns), or hold everything at `now`
    /// (settlement pause, transient back-off): `(disabled, side stopped, held)`.
    pub fn reject_state(&self, id: InstrumentId, side: Side, now: Nanos) -> (bool, bool, bool) {
        let i = id as usize;
        (
            self.reject.disabled(i),
            self.reject.side_stopped(i, side, now),
            self.reject.hold(i, now),
        )
    }

    /// Unknown venue error codes received over the run.
    pub fn unknown_rejects(&self) -> u64 {
        self.reject.unknown
    }

    fn mark_dirty(&mut self, i: usize) {
        self.insts[i].dirty = true;
        self.any_dirty = true;
    }

    /// Market-maker protection (`ExecKind::MmpTriggered` / `MmpReset` for instrument `i`,
    /// Deribit dossier §5.7): a trigger freezes the instrument — risk event `mmp_triggered`,
    /// its working orders pulled (the venue has cancelled them already; the cancels only make
    /// sure), no quote until the reset; a reset unfreezes it (risk event `mmp_reset`) and the
    /// caller re-quotes. Returns true when the caller must stop (a trigger, or a repeat).
    fn on_mmp(
        &mut self,
        i: usize,
        ev: &ExecEvent,
        t_pop: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) -> bool {
        let trigger = ev.kind == ExecKind::MmpTriggered;
        if self.insts[i].mmp_frozen == trigger {
            return true;
        }
        self.insts[i].mmp_frozen = trigger;
        if trigger {
            self.risk_event(RiskCode::MmpTriggered, i, ev.price, 0, 0, t_pop, tel);
            self.pull(i, 0, t_pop, out, tel);
            true
        } else {
            self.risk_event(RiskCode::MmpReset, i, 0, 0, 0, t_pop, tel);
            false
        }
    }

    /// True while the venue's MMP freezes instrument `i`'s index.
    pub fn mmp_frozen(&self, i: InstrumentId) -> bool {
        self.insts.get(i as usize).is_some_and(|s| s.mmp_frozen)
    }

    /// Cancels every working order of instrument `i`.
    fn pull(
        &mut self,
        i: usize,
        t_recv: Nanos,
        now: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        for side in [Side::Bid, Side::Ask] {
            for k in 0..self.levels {
                let id = self.insts[i].working[side.idx()][k];
                if id != 0 {
                    let why = (QuoteReason::Pull, 0);
                    self.cancel(i, side, id, why, t_recv, now, out, tel);
                }
            }
        }
    }

    fn clear_working(&mut self, i: usize, s: usize, id: ClientId) {
        for w in self.insts[i].working[s].iter_mut() {
            if *w == id {
                *w = 0;
            }
        }
    }

    /// Cancels one order; `why` = reason and ladder level for the quote log.
    #[allow(clippy::too_many_arguments)]
    fn cancel(
        &mut self,
        i: usize,
        side: Side,
        id: ClientId,
        why: (QuoteReason, usize),
        t_recv: Nanos,
        now: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        let Some(o) = self.orders.get_mut(id) else {
            self.clear_working(i, side.idx(), id);
            return;
        };
        if o.inflight == InFlight::Cancel {
            return;
        }
        if o.inflight != InFlight::None {
            // Wait for the outstanding answer; re-evaluated when it arrives.
            self.mark_dirty(i);
            return;
        }
        if out.free() == 0 {
            self.counters.back_pressure += 1;
            self.mark_dirty(i);
            return;
        }
        o.inflight = InFlight::Cancel;
        let open = o.leaves();
        let intent = OrderIntent {
            t_recv,
            t_decide: now,
            client_id: id,
            price: o.price,
            qty: o.qty,
            instrument: i as u32,
            kind: IntentKind::Cancel,
            side,
            flags: 0,
        };
        self.log_quote(tel, &intent, why.0, why.1, open);
        out.push(intent);
        self.counters.cancels += 1;
        self.clear_working(i, side.idx(), id);
    }

    fn drop_order(&mut self, id: ClientId) {
        if let Some(o) = self.orders.remove(id) {
            let i = o.instrument as usize;
            let s = o.side.idx();
            self.insts[i].pending[s] -= o.counted;
            self.clear_working(i, s, id);
            if self.insts[i].flatten == id {
                self.insts[i].flatten = 0;
            }
            self.recount_exposure(i);
        }
    }

    fn recount_order(&mut self, id: ClientId) {
        if let Some(o) = self.orders.get_mut(id) {
            let new = o.worst_leaves();
            let delta = new - o.counted;
            o.counted = new;
            let (i, s) = (o.instrument as usize, o.side.idx());
            self.insts[i].pending[s] += delta;
            self.recount_exposure(i);
        }
    }

    fn recount_exposure(&mut self, i: usize) {
        let st = &mut self.insts[i];
        let v = st.usd_e4_per_lot as i128;
        let sat = |x: i128| x.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        let worst = risk::worst_position(st.position, st.pending[0], st.pending[1]);
        let e = sat(worst as i128 * v);
        let long = sat((st.position + st.pending[0]) as i128 * v);
        let short = sat((st.position - st.pending[1]) as i128 * v);
        self.total_exposure_e4 = self.total_exposure_e4 - st.exposure_e4 + e;
        self.total_long_e4 = self.total_long_e4 - st.long_e4 + long;
        self.total_short_e4 = self.total_short_e4 - st.short_e4 + short;
        st.exposure_e4 = e;
        st.long_e4 = long;
        st.short_e4 = short;
        self.recount_greeks(i);
    }

    /// Updates instrument `i`'s contributions to the net delta and vega (worst cases and
    /// positions) and the run's largest |net|.
    fn recount_greeks(&mut self, i: usize) {
        let st = &mut self.insts[i];
        let (pos, buys, sells) = (st.position, st.pending[0], st.pending[1]);
        let sat = |x: i128| x.clamp(i64::MIN as i128 / 4, i64::MAX as i128 / 4) as i64;
        let dl = st
            .delta_lot
            .map_or((0, 0), |g| greeks::contribution(pos, buys, sells, g));
        let vg = st
            .vega_lot
            .map_or((0, 0), |g| greeks::contribution(pos, buys, sells, g));
        let dp = st.delta_lot.map_or(0, |g| sat(pos as i128 * g as i128));
        let vp = st.vega_lot.map_or(0, |g| sat(pos as i128 * g as i128));
        let n = &mut self.net[self.meta[i].cur];
        n.dl_up += dl.0 - st.dl.0;
        n.dl_dn += dl.1 - st.dl.1;
        n.vg_up += vg.0 - st.vg.0;
        n.vg_dn += vg.1 - st.vg.1;
        n.delta += dp - st.dl_pos;
        n.vega += vp - st.vg_pos;
        n.max_abs_delta = n.max_abs_delta.max(n.delta.abs());
        n.max_abs_vega = n.max_abs_vega.max(n.vega.abs());
        (st.dl, st.vg, st.dl_pos, st.vg_pos) = (dl, vg, dp, vp);
    }

    /// The binding cap of a side: the largest `signed position + pending same side` (lots)
    /// every limit allows, with the code of the limit that binds (strategies.md §6).
    fn side_cap(&self, i: usize, side: Side) -> (Lots, RiskCode) {
        let s = side.idx();
        let (mut cap, mut code) = self.meta[i].static_cap[s];
        if self.usd_limits {
            let st = &self.insts[i];
            let cfg = &self.cfg;
            let sg = side.sign();
            let usd_pos = cfg.max_position_usd_e4 != NO_LIMIT;
            let exp = cfg.max_exposure_usd_e4 != NO_LIMIT;
            let inv = cfg.max_inventory_usd_e4 != NO_LIMIT;
            let v = st.usd_e4_per_lot;
            if v <= 0 {
                return (i64::MIN / 4, RiskCode::NoUsdValue);
            }
            if usd_pos && st.usd_cap < cap {
                cap = st.usd_cap;
                code = RiskCode::MaxPositionUsd;
            }
            if exp {
                let budget = cfg.max_exposure_usd_e4 - (self.total_exposure_e4 - st.exposure_e4);
                let other = (sg * st.position - st.pending[1 - s]).abs();
                let a = risk::exposure_level(budget, v, other);
                if a < cap {
                    cap = a;
                    code = RiskCode::MaxExposure;
                }
            }
            if inv {
                let l = cfg.max_inventory_usd_e4;
                let a = if s == 0 {
                    l.saturating_sub(self.total_long_e4 - st.long_e4)
                        .div_euclid(v)
                } else {
                    l.saturating_add(self.total_short_e4 - st.short_e4)
                        .div_euclid(v)
                };
                if a < cap {
                    cap = a;
                    code = RiskCode::MaxInventoryUsd;
                }
            }
        }
        if self.greek_limits {
            let st = &self.insts[i];
            let n = &self.net[self.meta[i].cur];
            for (limit, per_lot, own, up, dn, c) in [
                (
                    self.cfg.max_delta_e8,
                    st.delta_lot,
                    st.dl,
                    n.dl_up,
                    n.dl_dn,
                    RiskCode::MaxDelta,
                ),
                (
                    self.cfg.max_vega_e6,
                    st.vega_lot,
                    st.vg,
                    n.vg_up,
                    n.vg_dn,
                    RiskCode::MaxVega,
                ),
            ] {
                if limit == NO_LIMIT {
                    continue;
                }
                let Some(g) = per_lot else {
                    return (i64::MIN / 4, RiskCode::NoGreeks);
                };
                if let Some(a) = greeks::side_level(side, limit, up - own.0, dn - own.1, g) {
                    if a < cap {
                        cap = a;
                        code = c;
                    }
                }
            }
        }
        (cap, code)
    }

    /// Sends a reduce-only IOC flatten when `|position|` has reached the hard max.
    fn maybe_flatten(
        &mut self,
        i: usize,
        t_recv: Nanos,
        t_pop: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        let hard = self.meta[i].hard_max;
        let st = &self.insts[i];
        let pos = st.position;
        if hard == NO_LIMIT || st.flatten != 0 || pos == 0 || pos.abs() < hard || self.halted {
            return;
        }
        // No order while the book is untrusted or the order connection is down.
        if !st.trusted || !self.gateway_up || self.stale {
            return;
        }
        if out.free() == 0 {
            self.mark_dirty(i);
            return;
        }
        let ref2 = self.mark_ref2(i);
        let (bb, ba) = (st.book.best_bid(), st.book.best_ask());
        let inst = &self.meta[i].inst;
        let collar = if ref2 > 0 {
            quote::mul_div_ceil(ref2, FLATTEN_COLLAR_BPS_E2, 2_000_000).max(1)
        } else {
            1
        };
        let (side, px) = if pos > 0 {
            let Some(base) = bb.or((ref2 > 0).then_some(ref2 / 2)) else {
                return;
            };
            (Side::Ask, inst.round_to_grid(base - collar, false).max(1))
        } else {
            let Some(base) = ba.or((ref2 > 0).then_some((ref2 + 1) / 2)) else {
                return;
            };
            (Side::Bid, inst.round_to_grid(base + collar, true))
        };
        let qty = pos.abs();
        let flags = intent_flags::REDUCE_ONLY | intent_flags::IOC;
        let why = (QuoteReason::Flatten, 0);
        let Some(id) = self.emit_new(i, side, px, qty, flags, why, t_recv, t_pop, out, tel) else {
            return;
        };
        self.counters.flattens += 1;
        self.insts[i].flatten = id;
        self.risk_event(RiskCode::Flatten, i, pos, hard, id as i64, t_pop, tel);
    }

    fn requote(
        &mut self,
        i: usize,
        t_recv: Nanos,
        t_pop: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        if self.halted
            || self.stale
            || !self.gateway_up
            || !self.insts[i].trusted
            || self.insts[i].mmp_frozen
        {
            return;
        }
        if self.reject.hold(i, t_pop) {
            // Settlement pause or transient back-off: send nothing, re-quote afterwards.
            self.mark_dirty(i);
            return;
        }
        if out.free() < 4 * self.levels + 2 {
            self.counters.back_pressure += 1;
            self.mark_dirty(i);
            return;
        }
        self.maybe_flatten(i, t_recv, t_pop, out, tel);
        let force = self.cfg.refresh_ns > 0 && t_pop >= self.insts[i].refresh_due;
        if force {
            self.insts[i].refresh_due = t_pop + self.cfg.refresh_ns;
        }
        let st = &self.insts[i];
        let meta = &self.meta[i];
        let (bb, ba) = (st.book.best_bid(), st.book.best_ask());
        let market = Market {
            best_bid: bb,
            best_ask: ba,
            mark: if meta.spec.reference == Reference::Theo {
                st.opt.theo
            } else {
                st.mark
            },
            bid_qty: match (meta.spec.reference, bb) {
                (Reference::Micro, Some(b)) => st.book.qty_at(Side::Bid, b),
                _ => 0,
            },
            ask_qty: match (meta.spec.reference, ba) {
                (Reference::Micro, Some(a)) => st.book.qty_at(Side::Ask, a),
                _ => 0,
            },
        };
        let inv = Inventory {
            usd_e4: (st.position as i128 * st.usd_e4_per_lot as i128)
                .clamp(i64::MIN as i128, i64::MAX as i128) as i64,
            position: st.position,
            target: meta.target,
            // The max position normalising the skews: in lots, else the USD one in lots.
            max_position: if meta.skew_max != NO_LIMIT {
                meta.skew_max
            } else if st.usd_cap != NO_LIMIT {
                st.usd_cap
            } else {
                0
            },
            max_usd_e4: if self.cfg.max_inventory_usd_e4 != NO_LIMIT {
                self.cfg.max_inventory_usd_e4
            } else {
                0
            },
        };
        let mut lad = if self.model_on {
            match self.model_adjust(i) {
                Some(adj) => quote::ladder_adj(&meta.inst, &meta.spec, &market, &inv, &adj),
                None => Ladder::default(),
            }
        } else {
            quote::ladder(&meta.inst, &meta.spec, &market, &inv)
        };
        self.reject.shape(i, &mut lad, t_pop);
        if meta.linear && lad.ref2 > 0 {
            // USD per lot for the limits, valued at the highest price we may trade at, so a
            // fill never values the position above what the limits assumed.
            let top = if lad.n_ask > 0 {
                lad.ask[lad.n_ask - 1]
            } else {
                0
            };
            let px = ((lad.ref2 + 1) / 2).max(ba.unwrap_or(0)).max(top);
            let v = if px == self.insts[i].value_px {
                self.insts[i].usd_e4_per_lot
            } else {
                self.insts[i].value_px = px;
                lot_value_e4(&meta.inst, 2 * px)
            };
            if v != self.insts[i].usd_e4_per_lot {
                self.insts[i].usd_e4_per_lot = v;
                self.recount_exposure(i);
                self.refresh_usd(i);
            }
        }
        // The re-quote threshold; a refresh lowers it to one tick.
        let mut thr_norm = self
            .cfg
            .requote_ticks
            .max(1)
            .max(self.meta[i].requote_abs_ticks);
        if self.cfg.requote_bps_e2 > 0 && lad.ref2 > 0 {
            thr_norm = thr_norm.max(quote::mul_div_ceil(
                lad.ref2,
                self.cfg.requote_bps_e2,
                2_000_000,
            ));
        }
        let thr = Thresholds {
            now: if force { 1 } else { thr_norm },
            normal: thr_norm,
        };
        self.quote_side(i, Side::Bid, &lad, thr, t_recv, t_pop, out, tel);
        self.quote_side(i, Side::Ask, &lad, thr, t_recv, t_pop, out, tel);
    }

    /// The diff of one side against its targets (see the module docs).
    #[allow(clippy::too_many_arguments)]
    fn quote_side(
        &mut self,
        i: usize,
        side: Side,
        lad: &Ladder,
        thr: Thresholds,
        t_recv: Nanos,
        t_pop: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        const NONE: usize = usize::MAX;
        let s = side.idx();
        let sg = side.sign();
        let levels = self.levels;
        let (prices, n_tgt) = if s == 0 {
            (&lad.bid, lad.n_bid.min(levels))
        } else {
            (&lad.ask, lad.n_ask.min(levels))
        };
        // Wanted sizes per level.
        let mut want = [0 as Lots; MAX_LEVELS];
        {
            let st = &self.insts[i];
            let m = &self.meta[i];
            let (la, range) = (m.level_amount, m.size_skew_range);
            let dev = st.position - m.target;
            for (k, w) in want.iter_mut().enumerate().take(n_tgt) {
                let z = level_size(st.base_size, la, k);
                *w = if range > 0 {
                    skewed_size(z, side, dev, range)
                } else {
                    z
                };
            }
        }
        // Live orders of the side.
        let mut ord = [Slot::default(); MAX_LEVELS];
        let mut live = [false; MAX_LEVELS];
        for j in 0..levels {
            let id = self.insts[i].working[s][j];
            if id == 0 {
                continue;
            }
            match self.orders.get(id) {
                Some(o) => {
                    ord[j] = Slot {
                        id,
                        price: o.price,
                        eff: match o.inflight {
                            InFlight::Amend { price, .. } => price,
                            _ => o.price,
                        },
                        leaves: o.leaves(),
                        filled: o.filled,
                        idle: o.inflight == InFlight::None,
                    };
                    live[j] = true;
                }
                None => self.insts[i].working[s][j] = 0,
            }
        }
        // Caps, in-flight aware: every live order of the side counts with its worst case
        // until the venue confirms it smaller (a cancel or a shrinking amend frees room only
        // when acknowledged).
        let (cap, code) = self.side_cap(i, side);
        let x = sg * self.insts[i].position + self.insts[i].pending[s];
        let room0 = cap.saturating_sub(x);
        // Assignment: exact price matches first, then rank order.
        let mut tgt_of = [NONE; MAX_LEVELS];
        let mut ord_of = [NONE; MAX_LEVELS];
        for j in 0..levels {
            if !live[j] {
                continue;
            }
            let p = ord[j].eff;
            for k in 0..n_tgt {
                if ord_of[k] == NONE && prices[k] == p {
                    ord_of[k] = j;
                    tgt_of[j] = k;
                    break;
                }
            }
        }
        let mut rank = [0usize; MAX_LEVELS];
        let mut nr = 0;
        for j in 0..levels {
            if live[j] && tgt_of[j] == NONE {
                // insertion sort, best first (bids: high to low; asks: low to high)
                let pj = sg * ord[j].eff;
                let mut q = nr;
                while q > 0 && sg * ord[rank[q - 1]].eff < pj {
                    rank[q] = rank[q - 1];
                    q -= 1;
                }
                rank[q] = j;
                nr += 1;
            }
        }
        let mut r = 0;
        for (k, slot) in ord_of.iter_mut().enumerate().take(n_tgt) {
            if *slot == NONE && r < nr {
                *slot = rank[r];
                tgt_of[rank[r]] = k;
                r += 1;
            }
        }
        // Allocate the room best level first (an order keeps its open size and may grow by the
        // room left), and act.
        let mut room = room0.max(0);
        let mut shrunk = false;
        let (bb, ba) = (self.insts[i].book.best_bid(), self.insts[i].book.best_ask());
        for k in 0..n_tgt {
            let j = ord_of[k];
            if j != NONE && !ord[j].idle {
                self.mark_dirty(i); // frozen until its answer arrives
                continue;
            }
            let held = if j != NONE { ord[j].leaves } else { 0 };
            let size = want[k].min(held + room);
            if size < want[k] {
                shrunk = true;
            }
            if size < 1 {
                if j != NONE {
                    let why = (QuoteReason::Limit, k);
                    self.cancel(i, side, ord[j].id, why, t_recv, t_pop, out, tel);
                }
                continue;
            }
            room -= (size - held).max(0);
            if j == NONE {
                if let Some(slot) = (0..levels).find(|&q| self.insts[i].working[s][q] == 0) {
                    let at = (slot, k);
                    self.send_new(i, side, at, prices[k], size, t_recv, t_pop, out, tel);
                }
            } else {
                let o = ord[j];
                let crosses = match side {
                    Side::Bid => ba.is_some_and(|a| o.price >= a),
                    Side::Ask => bb.is_some_and(|b| o.price <= b),
                };
                let dist = (o.price - prices[k]).abs();
                let moved = o.price != prices[k] && (dist >= thr.now || crosses);
                let px = if moved { prices[k] } else { o.price };
                if moved || o.leaves != size {
                    let reason = if !moved {
                        QuoteReason::Resize
                    } else if dist >= thr.normal {
                        QuoteReason::Requote
                    } else if crosses {
                        QuoteReason::Cross
                    } else {
                        QuoteReason::Refresh
                    };
                    self.send_amend(
                        i,
                        side,
                        o.id,
                        px,
                        o.filled + size,
                        size > o.leaves,
                        (reason, k),
                        t_recv,
                        t_pop,
                        out,
                        tel,
                    );
                }
            }
        }
        for j in 0..levels {
            if live[j] && tgt_of[j] == NONE {
                if ord[j].idle {
                    let why = (QuoteReason::Surplus, 0);
                    self.cancel(i, side, ord[j].id, why, t_recv, t_pop, out, tel);
                } else {
                    self.mark_dirty(i);
                }
            }
        }
        let new_code = if shrunk { code as i64 } else { 0 };
        self.set_limited(i, s, new_code, cap, room0, t_pop, tel);
    }

    fn stamp(&mut self, t_recv: Nanos, t_pop: Nanos, tel: &mut impl TelemetrySink) -> Nanos {
        let now = (self.clock)();
        if t_recv != 0 {
            tel.push(Telemetry {
                t: now,
                kind: TelKind::Latency,
                stage: Stage::Decide,
                a: now.saturating_sub(t_pop) as i64,
                ..Default::default()
            });
            tel.push(Telemetry {
                t: now,
                kind: TelKind::Latency,
                stage: Stage::TickToQuote,
                a: now.saturating_sub(t_recv) as i64,
                ..Default::default()
            });
        }
        now
    }

    /// Counts a violation if, after an order that added to `side`, the side's worst case is
    /// beyond its cap (unless the position alone already is).
    fn check_limits(&mut self, i: usize, side: Side) {
        let (cap, _) = self.side_cap(i, side);
        let st = &self.insts[i];
        let signed = side.sign() * st.position;
        if signed + st.pending[side.idx()] > cap.max(signed) {
            self.counters.limit_violations += 1;
        }
    }

    /// Creates a live order and sends its `New` intent (`qty` lots at `px` ticks, `flags` from
    /// [`intent_flags`]), logs it with `why` (reason, ladder level), counts it and adds it to
    /// the pending exposure. `None`, with an `OrderPoolFull` risk event, when the live-order
    /// pool is full.
    #[allow(clippy::too_many_arguments)]
    fn emit_new(
        &mut self,
        i: usize,
        side: Side,
        px: Ticks,
        qty: Lots,
        flags: u8,
        why: (QuoteReason, usize),
        t_recv: Nanos,
        t_pop: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) -> Option<ClientId> {
        let Some(id) = self.orders.create(i as u32, side, px, qty) else {
            self.risk_event(RiskCode::OrderPoolFull, i, 0, 0, 0, t_pop, tel);
            return None;
        };
        let now = self.stamp(t_recv, t_pop, tel);
        let it = OrderIntent {
            t_recv,
            t_decide: now,
            client_id: id,
            price: px,
            qty,
            instrument: i as u32,
            kind: IntentKind::New,
            side,
            flags,
        };
        self.log_quote(tel, &it, why.0, why.1, qty);
        self.count_untrusted(i);
        out.push(it);
        self.counters.orders_sent += 1;
        // Flattens (reduce-only IOC) reduce risk: allowed while frozen.
        self.counters.quotes_while_mmp_frozen +=
            (self.insts[i].mmp_frozen && flags & intent_flags::IOC == 0) as u64;
        self.recount_order(id);
        Some(id)
    }

    /// Counts a new/amend about to be emitted for instrument `i` while its book is untrusted
    /// or the order connection is down (`Counters::quotes_while_untrusted`; a bug if ever
    /// non-zero, logged by the run).
    #[inline]
    fn count_untrusted(&mut self, i: usize) {
        if !self.gateway_up || !self.insts[i].trusted {
            self.counters.quotes_while_untrusted += 1;
        }
    }

    /// Sends a new post-only quote into working slot `at.0` for ladder level `at.1`.
    #[allow(clippy::too_many_arguments)]
    fn send_new(
        &mut self,
        i: usize,
        side: Side,
        at: (usize, usize),
        px: Ticks,
        size: Lots,
        t_recv: Nanos,
        t_pop: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        let flags = intent_flags::POST_ONLY;
        let why = (QuoteReason::Place, at.1);
        let Some(id) = self.emit_new(i, side, px, size, flags, why, t_recv, t_pop, out, tel) else {
            return;
        };
        self.insts[i].working[side.idx()][at.0] = id;
        self.check_limits(i, side);
    }

    /// Amends a post-only quote; `why` = reason and ladder level for the quote log.
    #[allow(clippy::too_many_arguments)]
    fn send_amend(
        &mut self,
        i: usize,
        side: Side,
        id: ClientId,
        px: Ticks,
        total: Lots,
        grows: bool,
        why: (QuoteReason, usize),
        t_recv: Nanos,
        t_pop: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        let now = self.stamp(t_recv, t_pop, tel);
        let mut open = total;
        if let Some(o) = self.orders.get_mut(id) {
            o.inflight = InFlight::Amend {
                price: px,
                qty: total,
            };
            open = total - o.filled;
        }
        let it = OrderIntent {
            t_recv,
            t_decide: now,
            client_id: id,
            price: px,
            qty: total,
            instrument: i as u32,
            kind: IntentKind::Amend,
            side,
            flags: intent_flags::POST_ONLY,
        };
        self.log_quote(tel, &it, why.0, why.1, open);
        self.count_untrusted(i);
        out.push(it);
        self.counters.amends += 1;
        self.counters.quotes_while_mmp_frozen += self.insts[i].mmp_frozen as u64;
        self.recount_order(id);
        if grows {
            self.check_limits(i, side);
        }
    }

    /// Our best working bid and ask prices (ticks) on an instrument, if any (status display).
    pub fn quotes(&self, id: InstrumentId) -> (Option<Ticks>, Option<Ticks>) {
        let st = &self.insts[id as usize];
        let prices = |s: usize| {
            st.working[s]
                .iter()
                .filter(|&&c| c != 0)
                .filter_map(|&c| self.orders.get(c))
                .map(|o| o.price)
        };
        (prices(0).max(), prices(1).min())
    }
}

/// Restart restoration (cold path: called on the control thread before the hot thread starts,
/// never per event). A restarted engine replays the fills of its fill journal and those the
/// venue reports it missed, so it holds the position, cash/PnL and fill count it would hold had
/// it seen them live, and starts its client ids above every id the previous runs used.
impl Engine {
    /// Books a fill of a previous run (from the fill journal, or recovered from the venue's
    /// trade history) without an order: position (lots), cash (ticks × lots), the inverse
    /// accumulator, fees (nano-units of the settlement currency) and `counters.fills` (also
    /// `counters.restored_fills`) change exactly as for a live `ExecKind::Fill`; no order is
    /// looked up (`unknown_fills` is not counted), no intent and no telemetry is produced,
    /// and no risk check runs (the hot thread re-evaluates everything on its first book
    /// frame). Events that are not fills, or of an instrument outside the table, are ignored
    /// and `false` is returned.
    pub fn restore_fill(&mut self, ev: &ExecEvent) -> bool {
        let i = ev.instrument as usize;
        if ev.kind != ExecKind::Fill || i >= self.insts.len() || ev.qty <= 0 {
            return false;
        }
        self.counters.fills += 1;
        self.counters.restored_fills += 1;
        self.book_fill(i, ev);
        self.recount_exposure(i);
        true
    }

    /// Sets an instrument's position to `lots` (signed; long > 0) as the venue reports it
    /// (`private/get_positions`), when it disagrees with the position the fills gave: the
    /// difference is booked as a synthetic fill at `price` ticks (the instrument's last known
    /// fill price; it sets the entry price of the adopted lots), without a fee and without
    /// counting a fill. Returns the difference in lots (0 = nothing to adopt).
    pub fn adopt_position(&mut self, id: InstrumentId, lots: Lots, price: Ticks) -> Lots {
        let i = id as usize;
        if i >= self.insts.len() {
            return 0;
        }
        let d = lots - self.insts[i].position;
        if d == 0 {
            return 0;
        }
        let ev = ExecEvent {
            instrument: id,
            kind: ExecKind::Fill,
            side: if d > 0 { Side::Bid } else { Side::Ask },
            qty: d.abs(),
            price,
            ..Default::default()
        };
        self.book_fill(i, &ev);
        self.recount_exposure(i);
        d
    }

    /// Starts the client-id counter at `next` (when above the current one): the labels
    /// `mmf-<id>` of this run then never collide with a previous run's.
    pub fn reserve_client_ids(&mut self, next: ClientId) {
        self.orders.reserve_ids(next);
    }

    /// The next client id the engine will assign.
    pub fn next_client_id(&self) -> ClientId {
        self.orders.next_id()
    }
}

/// 1e-4 USD value of one lot of a linear instrument at twice-price `mid2` ticks.
fn lot_value_e4(inst: &Instrument, mid2: Ticks) -> i64 {
    // lot × price = lot.mant·10^-ls × mid2/2 · tick.mant·10^-ts
    let v = inst.lot.mant as i128 * inst.tick.mant as i128 * mid2 as i128 * 10_000
        / (2 * crate::decimal::POW10[(inst.lot.scale) as usize] as i128
            * crate::decimal::POW10[inst.tick.scale as usize] as i128);
    v.clamp(0, i64::MAX as i128) as i64
}

#[cfg(test)]
mod quotes_while_untrusted_tests {
    //! The `quotes_while_untrusted` counter counts at the emission point: forced emissions
    //! (private paths called directly, which no public path reaches untrusted) show it can
    //! be non-zero; the public paths are covered in `core/tests/engine_reconnect.rs`.
    use super::*;
    use crate::decimal::Dec;
    use crate::instrument::{Instrument, InstrumentTable, Kind};
    use crate::quote::{QuoteParams, SpreadMode};

    fn engine() -> Engine {
        let mut t = InstrumentTable::new();
        t.push(Instrument::new(
            "BTC-PERPETUAL",
            Kind::Perpetual,
            Dec::new(5, 1),
            Dec::new(10, 0),
        ))
        .unwrap();
        let q = QuoteParams {
            spread: SpreadMode::Ticks(4),
            min_spread_bps_e2: 0,
            skew_per_100_usd_bps_e2: 0,
        };
        let mut cfg = EngineConfig::uniform(&t, q, 1, 5);
        cfg.order_capacity = 16;
        Engine::new(&t, cfg, || 42)
    }

    #[test]
    fn emissions_while_untrusted_or_disconnected_are_counted() {
        let mut e = engine();
        let mut out: Vec<OrderIntent> = Vec::with_capacity(16);
        let mut tel: Vec<Telemetry> = Vec::with_capacity(256);
        let why = (QuoteReason::Place, 0);
        // No snapshot yet: the book is untrusted.
        assert!(!e.trusted(0));
        let id = e
            .emit_new(0, Side::Bid, 100, 1, 0, why, 1, 2, &mut out, &mut tel)
            .unwrap();
        assert_eq!(e.counters().quotes_while_untrusted, 1);
        // Trusted book, gateway up: not counted.
        e.insts[0].trusted = true;
        e.emit_new(0, Side::Ask, 110, 1, 0, why, 1, 2, &mut out, &mut tel);
        e.send_amend(
            0,
            Side::Bid,
            id,
            101,
            1,
            false,
            why,
            1,
            2,
            &mut out,
            &mut tel,
        );
        assert_eq!(e.counters().quotes_while_untrusted, 1);
        // Order connection down: counted again, for amends too.
        e.on_exec(
            &ExecEvent {
                kind: ExecKind::Disconnected,
                instrument: u32::MAX,
                ..Default::default()
            },
            3,
            &mut out,
            &mut tel,
        );
        e.send_amend(
            0,
            Side::Bid,
            id,
            102,
            1,
            false,
            why,
            1,
            4,
            &mut out,
            &mut tel,
        );
        e.emit_new(0, Side::Bid, 99, 1, 0, why, 1, 4, &mut out, &mut tel);
        assert_eq!(e.counters().quotes_while_untrusted, 3);
    }
}
