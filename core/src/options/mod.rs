//! Options awareness: theoretical value, smile, greeks and net delta/vega limits.
//!
//! - [`black_scholes`]: Black-76 price (USD → coin → ticks), greeks, implied vol (`f64`).
//! - [`smile`]: per-expiry quadratic smile in log-moneyness fitted to the strikes' mark IVs.
//! - [`greeks`]: fixed-point per-lot delta/vega and the in-flight-aware net limits.
//!
//! **Where the float math runs (design choice).** The md thread decodes a Deribit option
//! ticker into an [`crate::event::MdKind::OptionTicker`] event: mark IV, underlying
//! (forward) price and the ticker's delta/vega, all fixed point. The hot thread then runs,
//! once per option ticker (Deribit sends them about once a second per option, against
//! thousands of book events), a bounded, allocation-free `f64` routine ([`theo_of`]): one
//! Black-76 evaluation (a ≤ 400-term series for `N`, no loops otherwise) and, with
//! `--theo-iv smile`, one least-squares fit over the strikes of the option's expiry (two
//! passes over the expiry's members, a 3×3 solve). Every input is validated and every result
//! is checked finite before it is rounded into integer state (theo in ticks, delta in 1e-8
//! coin per lot, vega in 1e-6 USD per vol point per lot); a failed check leaves the
//! instrument without theo (no quote around theo) and, for the greeks, unknown (a side under
//! a delta/vega limit is not quoted). This keeps the theo exactly in step with the ticker
//! that produced it (no cross-thread hand-off, deterministic in the lockstep replay) at a
//! cost of a few hundred ns per ticker, off the book-event path.
//!
//! With `--theo-iv smile` an option's theo is recomputed when *its own* ticker arrives,
//! from the smile fitted over the latest tickers of every option of its expiry; the other
//! strikes' theos follow at their next tickers (≈ 1 s).
//!
//! Known simplifications: the delta is Deribit's (Black-76 `∂V_usd/∂F`), not the
//! premium-adjusted delta of a coin-settled option (`δ − price in coin`); time to expiry is
//! calendar ACT/365 like Deribit's; the smile is a quadratic in `k` (no SVI wings).
//!
//! Units at a glance: IV fraction (0.48 = 48 vol points) in the event as ppm; underlying in
//! 1e-4 USD; theo in ticks of the option (coin per coin of underlying); delta in coin of
//! underlying per option contract of one coin; vega in USD per vol point per contract of one
//! coin.

pub mod black_scholes;
pub mod greeks;
pub mod smile;

use crate::event::{unpack_greeks, MdEvent, MdKind};
use crate::instrument::{Instrument, OptionType};
use crate::types::{Nanos, Ticks};
use black_scholes::{Inputs, Right, Valuation};

/// Which IV the theoretical value uses (`--theo-iv`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TheoIv {
    /// The venue's `mark_iv` of the option itself.
    #[default]
    Mark,
    /// The IV of the expiry's fitted smile at the option's log-moneyness ([`smile`]).
    Smile,
}

/// Where the greeks come from (`--greeks`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GreeksSource {
    /// The ticker's `greeks` when present, else computed.
    #[default]
    Ticker,
    /// Always computed with Black-76 at the theo's IV.
    Computed,
}

/// An option ticker's data as `f64`, decoded from an `OptionTicker` event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TickerData {
    /// Mark IV, fraction.
    pub iv: f64,
    /// Underlying (forward) price, USD.
    pub forward: f64,
    /// Ticker delta (coin per coin), if the ticker had greeks.
    pub delta: Option<f64>,
    /// Ticker vega (USD per vol point per coin), if the ticker had greeks.
    pub vega: Option<f64>,
    /// Exchange time, ns since the epoch.
    pub exch_ts: Nanos,
}

impl TickerData {
    /// Reads an `OptionTicker` event; `None` for another kind or a non-positive IV or
    /// underlying.
    pub fn from_event(ev: &MdEvent) -> Option<TickerData> {
        if ev.kind != MdKind::OptionTicker || ev.price <= 0 || ev.qty <= 0 {
            return None;
        }
        let g = unpack_greeks(ev);
        Some(TickerData {
            iv: ev.price as f64 / 1e6,
            forward: ev.qty as f64 / 1e4,
            delta: g.map(|(d, _)| d as f64 / 1e6),
            vega: g.map(|(_, v)| v as f64 / 1e4),
            exch_ts: ev.exch_ts,
        })
    }
}

/// Black-76 inputs of `inst` (an option with expiry and terms) at forward `forward` (USD),
/// IV `iv` (fraction) and exchange time `now_ns`; `None` when something is missing, expired
/// or invalid.
pub fn inputs_of(inst: &Instrument, forward: f64, iv: f64, now_ns: Nanos) -> Option<Inputs> {
    let terms = inst.option?;
    let t = black_scholes::years_to_expiry(inst.expiry_ms?, now_ns)?;
    let right = match terms.option_type {
        OptionType::Call => Right::Call,
        OptionType::Put => Right::Put,
    };
    Some(Inputs::new(forward, terms.strike, t, iv, right))
}

/// Log-moneyness `ln(K/F)` of `inst` at forward `forward`; `None` when not finite.
pub fn log_moneyness(inst: &Instrument, forward: f64) -> Option<f64> {
    let k = (inst.option?.strike / forward).ln();
    k.is_finite().then_some(k)
}

/// Theoretical value in ticks of the option (coin price = USD price / forward, nearest
/// tick) and the Black-76 valuation (USD) behind it; `None` when the inputs are invalid, the
/// result is not finite or does not fit the tick range.
pub fn theo_of(
    inst: &Instrument,
    forward: f64,
    iv: f64,
    now_ns: Nanos,
) -> Option<(Ticks, Valuation)> {
    let x = inputs_of(inst, forward, iv, now_ns)?;
    let v = black_scholes::value(&x)?;
    let ticks = (v.price / forward / inst.tick.to_f64()).round();
    (ticks.is_finite() && ticks >= 0.0 && ticks < (1u64 << 52) as f64)
        .then_some((ticks as Ticks, v))
}
