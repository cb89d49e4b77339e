//! The quoting model (`--model as|glft`, the volatility-adaptive spread) in a backtest: the
//! same single-threaded loop as the lockstep replay ([`mm_core::model::driver::ModelDriver`]:
//! engine calibration samples → [`mm_core::model::Calibrator`] → `Engine::on_model`), run
//! after each market-data group on tape time, so a backtest with a model stays deterministic.
//! The live run does the same work on a calibration thread across two SPSC rings
//! (`tools/src/run.rs`).

use super::{ModelDriver, TelSink};
use mm_core::engine::Engine;
use mm_core::event::{MdEvent, OrderIntent};
use mm_core::instrument::InstrumentTable;
use mm_core::model::driver::ModelDriver as Driver;
use mm_core::model::from_e6;
use mm_core::types::Nanos;
use serde::Serialize;
use std::collections::BTreeMap;

/// The calibrated model of one instrument at the end of a backtest (report field
/// `backtest.model_fit`); `null` = not estimated (too little data in the window).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct FitOut {
    /// σ over the calibration window, ticks per √s.
    pub sigma_ticks_per_sqrt_s: Option<f64>,
    /// A of `λ(δ) = A·e^(−κδ)`, trade arrivals per second.
    pub a_per_s: Option<f64>,
    /// κ of `λ(δ)`, per tick.
    pub kappa_per_tick: Option<f64>,
    /// Half-spread of the coefficients in force, ticks (0 = fixed spread in force).
    pub half_spread_ticks: f64,
    /// Skew per unit of inventory (order sizes) in force, ticks.
    pub skew_ticks: f64,
}

/// The model of a backtest: `None` when nothing needs calibrating (`--model fixed` without
/// `--vol-spread-max`), which costs nothing per event.
pub struct Calibrated(pub Option<Driver>);

impl Calibrated {
    /// The model the flags of `args` configure for `table`.
    ///
    /// # Errors
    /// A model flag out of range, naming it ([`crate::run::model_config`]).
    pub fn from_args(args: &crate::cli::Args, table: &InstrumentTable) -> Result<Self, String> {
        let cfg = crate::run::model_config(args, table)?;
        Ok(Calibrated(Driver::new(table, &cfg)))
    }
}

impl ModelDriver for Calibrated {
    #[inline]
    fn observe(&mut self, _ev: &MdEvent) {
        // The engine writes its own calibration samples (mid changes, trades) as it applies
        // market data; `poll` drains them.
    }

    #[inline]
    fn poll(
        &mut self,
        now: Nanos,
        engine: &mut Engine,
        out: &mut Vec<OrderIntent>,
        tel: &mut TelSink,
    ) {
        if let Some(d) = &mut self.0 {
            d.step(engine, now, out, tel);
        }
    }

    fn describe(
        &self,
        engine: &Engine,
        table: &InstrumentTable,
    ) -> Option<BTreeMap<String, FitOut>> {
        let d = self.0.as_ref()?;
        Some(
            table
                .iter()
                .map(|i| {
                    let f = d.calib.fit(i.id as usize);
                    let c = engine.model_coeffs(i.id);
                    let out = FitOut {
                        sigma_ticks_per_sqrt_s: f.sigma,
                        a_per_s: f.a,
                        kappa_per_tick: f.kappa,
                        half_spread_ticks: from_e6(c.half_spread_e6),
                        skew_ticks: from_e6(c.skew_e6),
                    };
                    (i.name.clone(), out)
                })
                .collect(),
        )
    }
}
