//! Model-based quoting (strategies.md §4): Avellaneda–Stoikov and GLFT spreads and inventory
//! skews with online calibration, the volatility-adaptive spread, the order-book imbalance
//! shift and the adverse-selection cooldown.
//!
//! # Data flow
//!
//! ```text
//!  hot thread (Engine)                                calibration (Calibrator, floats)
//!  on_md: mid change per book frame ─┐  CalibSample   observe() ─ per-step mid and the
//!         each public trade          ├──────────────▶            deepest trade from mid
//!                                    │  (SPSC ring)   poll(now): every recalibration
//!  on_model ◀────────────────────────┴──────────────── interval: σ, A, κ → ModelCoeffs
//!     O(1): stores the fixed-point      ModelCoeffs    (fixed point)
//!     coefficients, re-quotes
//! ```
//!
//! The engine writes [`CalibSample`]s into a fixed buffer it allocated at construction; the
//! caller drains it with [`crate::engine::Engine::drain_calib`] after each `on_md` (live: into
//! an SPSC ring to a calibration thread, dropping and counting when full; backtest: straight
//! into [`Calibrator::observe`]). [`Calibrator::poll`] hands back [`ModelCoeffs`] that the caller
//! gives to [`crate::engine::Engine::on_model`]. With [`ModelKind::Fixed`] and the
//! volatility-adaptive spread off nothing is sampled and no calibrator is needed.
//!
//! # Units (everywhere in this module)
//!
//! - prices and depths in **ticks** of the instrument; time in **seconds** for the model
//!   (σ, A) and ns for stamps;
//! - σ: standard deviation of the mid in **ticks per √second**;
//! - κ: per tick (`λ(δ) = A·e^(−κ·δ)`, δ in ticks from the mid); A: arrivals per second;
//! - inventory `q` in **units of the order size** (`--size`): `q = position_lots / size_lots`;
//! - γ (`--gamma`): risk aversion per (tick × unit of q), i.e. per tick of price risk on one
//!   order size of position.
//!
//! The hot path only sees integers: half-spread and skew in ticks × 10⁶ ([`ModelCoeffs`]).

pub mod as_glft;
pub mod calibrate;
pub mod driver;
pub mod signals;

pub use calibrate::Calibrator;
pub use driver::ModelDriver;

use crate::types::{InstrumentId, Lots, Nanos, Side, Ticks};

/// Which quoting model (`--model fixed|as|glft`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ModelKind {
    /// Today's quoting: the configured spread and skews (strategies.md §1–§3).
    #[default]
    Fixed,
    /// Avellaneda & Stoikov (2008), "High-frequency trading in a limit order book",
    /// Quantitative Finance 8(3); strategies.md §4. Rolling horizon for perpetuals
    /// ([`ModelConfig::horizon_secs`]).
    As,
    /// Guéant, Lehalle & Fernandez-Tapia (2013), "Dealing with the inventory risk: a solution
    /// to the market making problem", Math. Financ. Econ. 7(4); infinite-horizon closed-form
    /// approximation, strategies.md §4.
    Glft,
}

/// What the adverse-selection cooldown does while it lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CooldownAction {
    /// Cancel every quote of the instrument until the cooldown ends.
    #[default]
    Pull,
    /// Keep quoting, each side [`ModelConfig::cooldown_widen_bps_e2`] further from the
    /// reference.
    Widen,
}

/// Settings of model-based quoting. Calibration fields are floats (used off the hot path);
/// the hot-path fields are integers.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// The model (`--model`).
    pub kind: ModelKind,
    /// Widen the model half-spread by the instrument's maker fee (`--model-fees`; see
    /// [`crate::model::calibrate`], step 6).
    pub fee_aware: bool,
    /// Risk aversion γ, per (tick × unit of q) (`--gamma`, > 0).
    pub gamma: f64,
    /// Avellaneda–Stoikov `T − t` in seconds (`--horizon-secs`, > 0). A perpetual has no
    /// terminal time: we use a **rolling horizon**, `T − t` constant, i.e. at every instant
    /// the quote is the AS quote for a horizon this far ahead.
    pub horizon_secs: f64,
    /// Calibration window of exchange time (ns): σ, A and κ are estimated over the last
    /// window (`--calib-window-secs`).
    pub calib_window_ns: Nanos,
    /// Recalibration interval (ns, `--recalib-secs`).
    pub recalib_ns: Nanos,
    /// Sampling step of the calibration (ns): mid changes and the deepest trade from mid are
    /// taken per step (hftbacktest's GLFT tutorial uses 100 ms).
    pub step_ns: Nanos,
    /// Window of the "current" σ of the volatility-adaptive spread (ns,
    /// `--vol-window-secs`); the average σ is that of the calibration window.
    pub vol_window_ns: Nanos,
    /// Volatility-adaptive spread: bounds of the ratio σ_now/σ_avg in ppm
    /// (`--vol-spread-min/max`; both 0 = off).
    pub vol_ratio_min_ppm: i64,
    /// Upper bound of the ratio (ppm).
    pub vol_ratio_max_ppm: i64,
    /// Order-book imbalance: levels per side summed (`--imbalance-levels`, 0 = off).
    pub imbalance_levels: usize,
    /// Imbalance shift of the reference at `imb = ±1`, in ticks ×10⁶
    /// (`--imbalance-shift-ticks`).
    pub imbalance_shift_e6: i64,
    /// Cooldown trigger: a public trade of at least this many lots, per instrument
    /// (`--cooldown-trade-size` in the amount unit; 0 = off).
    pub cooldown_trade_lots: Vec<Lots>,
    /// Cooldown trigger: the mid moving at least this much within one book frame, hundredths
    /// of a bp (`--cooldown-move-bps`; 0 = off).
    pub cooldown_move_bps_e2: i64,
    /// Cooldown length in exchange time (ns, `--cooldown-ms`).
    pub cooldown_ns: Nanos,
    /// Pull or widen during the cooldown (`--cooldown-action`).
    pub cooldown_action: CooldownAction,
    /// Extra distance of each side while widening, hundredths of a bp
    /// (`--cooldown-widen-bps`).
    pub cooldown_widen_bps_e2: i64,
}

impl Default for ModelConfig {
    /// Everything off: fixed quoting, no signals.
    fn default() -> Self {
        ModelConfig {
            kind: ModelKind::Fixed,
            fee_aware: false,
            gamma: 0.05,
            horizon_secs: 1.0,
            calib_window_ns: 600_000_000_000,
            recalib_ns: 5_000_000_000,
            step_ns: 100_000_000,
            vol_window_ns: 60_000_000_000,
            vol_ratio_min_ppm: 0,
            vol_ratio_max_ppm: 0,
            imbalance_levels: 0,
            imbalance_shift_e6: 0,
            cooldown_trade_lots: Vec::new(),
            cooldown_move_bps_e2: 0,
            cooldown_ns: 0,
            cooldown_action: CooldownAction::Pull,
            cooldown_widen_bps_e2: 0,
        }
    }
}

impl ModelConfig {
    /// True when the volatility-adaptive spread is on.
    pub fn vol_adaptive(&self) -> bool {
        self.vol_ratio_max_ppm > 0
    }

    /// True when a calibrator must run (a model, or the volatility-adaptive spread).
    pub fn needs_calibration(&self) -> bool {
        self.kind != ModelKind::Fixed || self.vol_adaptive()
    }

    /// True when the cooldown has a trigger.
    pub fn cooldown_on(&self) -> bool {
        self.cooldown_ns > 0
            && (self.cooldown_move_bps_e2 > 0 || self.cooldown_trade_lots.iter().any(|&l| l > 0))
    }

    /// True when anything of this module runs on the hot path.
    pub fn any(&self) -> bool {
        self.needs_calibration() || self.imbalance_levels > 0 || self.cooldown_on()
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// A non-finite or non-positive γ or horizon, a zero window/interval/step, or vol bounds
    /// with `min > max`, naming the flag.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.gamma.is_finite() && self.gamma > 0.0) {
            return Err("--gamma must be > 0".into());
        }
        if !(self.horizon_secs.is_finite() && self.horizon_secs > 0.0) {
            return Err("--horizon-secs must be > 0".into());
        }
        if self.calib_window_ns == 0 || self.recalib_ns == 0 || self.step_ns == 0 {
            return Err("--calib-window-secs and --recalib-secs must be > 0".into());
        }
        if self.vol_window_ns == 0 {
            return Err("--vol-window-secs must be > 0".into());
        }
        if self.vol_ratio_min_ppm < 0 || self.vol_ratio_min_ppm > self.vol_ratio_max_ppm {
            return Err("--vol-spread-min must be ≥ 0 and ≤ --vol-spread-max".into());
        }
        if self.cooldown_move_bps_e2 < 0 || self.cooldown_widen_bps_e2 < 0 {
            return Err("--cooldown-move-bps and --cooldown-widen-bps must be ≥ 0".into());
        }
        Ok(())
    }
}

/// What a [`CalibSample`] carries.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SampleKind {
    /// The mid changed with a book frame: `mid2` = new twice-mid (ticks).
    #[default]
    Mid = 0,
    /// A public trade: `price` (ticks), `qty` (lots), `side` = taker side, `mid2` = twice the
    /// mid of the book before it (ticks; 0 = no two-sided book).
    Trade = 1,
}

/// One calibration input written by the hot thread (32 bytes, `Copy`, crosses a ring).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CalibSample {
    /// Exchange time (ns since the epoch; the local pop time when the venue gave none).
    pub t: Nanos,
    /// Twice the mid, ticks.
    pub mid2: Ticks,
    /// Trade price, ticks (trades only).
    pub price: Ticks,
    /// Trade size, lots (trades only).
    pub qty: Lots,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Mid change or trade.
    pub kind: SampleKind,
    /// Taker side (trades only).
    pub side: Side,
}

/// Fixed-point model coefficients of one instrument, computed off the hot path and applied
/// by [`crate::engine::Engine::on_model`] in O(1). `Copy`, crosses a ring.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelCoeffs {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Time of the calibration (exchange ns).
    pub t: Nanos,
    /// Model half-spread (distance of each quote from the reservation price), ticks × 10⁶;
    /// 0 = not calibrated: the configured (fixed) spread applies.
    pub half_spread_e6: i64,
    /// Reservation shift per unit of q (one order size of position), ticks × 10⁶: the
    /// reference moves down by `skew · q` when long (AS: `γσ²(T−t)`; GLFT: `σ·c2`).
    pub skew_e6: i64,
    /// σ_now/σ_avg in ppm, already clamped to the vol-spread bounds (0 = unknown: no
    /// scaling).
    pub vol_ratio_ppm: i64,
    /// σ, ticks per √s × 10⁶ (informational).
    pub sigma_e6: i64,
    /// κ, per tick × 10⁶ (informational; 0 = not fitted).
    pub kappa_e6: i64,
    /// A, arrivals per second × 10⁶ (informational; 0 = not fitted).
    pub a_e6: i64,
}

/// Scale of the fixed-point coefficients (10⁶).
pub const E6: f64 = 1e6;

/// `x` as a fixed-point integer × 10⁶, or `None` when `x` is not finite, negative or beyond
/// ±9.2·10¹² (fits i64 × 10⁶).
pub fn to_e6(x: f64) -> Option<i64> {
    if !x.is_finite() || !(0.0..=9.2e12).contains(&x) {
        return None;
    }
    Some((x * E6).round() as i64)
}

/// A fixed-point × 10⁶ integer as a float.
pub fn from_e6(v: i64) -> f64 {
    v as f64 / E6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_round_trip() {
        for x in [0.0, 1e-6, 0.5, 3.349_512, 57.25, 12_345.678_901, 9.1e12] {
            let v = to_e6(x).expect("representable");
            assert!((from_e6(v) - x).abs() <= 0.5e-6 * x.max(1.0), "{x} → {v}");
        }
        assert_eq!(to_e6(3.349_512_4), Some(3_349_512));
        assert_eq!(to_e6(f64::NAN), None);
        assert_eq!(to_e6(f64::INFINITY), None);
        assert_eq!(to_e6(-1.0), None);
        assert_eq!(to_e6(1e13), None);
    }

    #[test]
    fn config_validation_names_the_flag() {
        let ok = ModelConfig::default();
        assert!(ok.validate().is_ok());
        assert!(!ok.any());
        let bad = ModelConfig {
            gamma: 0.0,
            ..ok.clone()
        };
        assert!(bad.validate().unwrap_err().contains("--gamma"));
        let bad = ModelConfig {
            vol_ratio_min_ppm: 2_000_000,
            vol_ratio_max_ppm: 1_000_000,
            ..ok.clone()
        };
        assert!(bad.validate().unwrap_err().contains("--vol-spread-min"));
        let glft = ModelConfig {
            kind: ModelKind::Glft,
            ..ok
        };
        assert!(glft.needs_calibration() && glft.any());
    }
}
