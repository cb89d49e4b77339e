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
use mm_core::types::Nanos;

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
}
