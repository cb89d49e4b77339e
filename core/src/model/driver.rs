//! Single-threaded wiring of the model loop (backtests, lockstep replays): engine samples →
//! [`Calibrator`] → coefficients back into the engine. The live run does the same across two
//! SPSC rings and a calibration thread (`tools/src/run.rs`, `tools/src/hot.rs`).

use super::{Calibrator, ModelCoeffs, ModelConfig};
use crate::engine::{Engine, IntentSink, TelemetrySink};
use crate::instrument::InstrumentTable;
use crate::types::Nanos;

/// Drives a [`Calibrator`] from an [`Engine`] in the caller's thread. Not for the hot thread
/// of a live run: [`ModelDriver::step`] runs the calibrator (floats, window bookkeeping).
pub struct ModelDriver {
    /// The calibrator (its counters and [`Calibrator::fit`] are readable).
    pub calib: Calibrator,
    /// Latest sample time seen (exchange ns): the calibrator's clock.
    last_t: Nanos,
    buf: Vec<ModelCoeffs>,
}

impl ModelDriver {
    /// A driver for `cfg`, or `None` when nothing needs calibrating (`--model fixed` without
    /// the volatility-adaptive spread).
    pub fn new(table: &InstrumentTable, cfg: &ModelConfig) -> Option<ModelDriver> {
        cfg.needs_calibration().then(|| ModelDriver {
            calib: Calibrator::new(table, cfg),
            last_t: 0,
            buf: Vec::with_capacity(table.len()),
        })
    }

    /// Call after each `Engine::on_md` (or each batch): feeds the engine's calibration
    /// samples to the calibrator, recalibrates when due (on the samples' exchange clock) and
    /// applies fresh coefficients with [`Engine::on_model`] at `t_pop`.
    pub fn step(
        &mut self,
        engine: &mut Engine,
        t_pop: Nanos,
        out: &mut impl IntentSink,
        tel: &mut impl TelemetrySink,
    ) {
        let (calib, last_t) = (&mut self.calib, &mut self.last_t);
        engine.drain_calib(&mut |s| {
            calib.observe(s);
            *last_t = (*last_t).max(s.t);
        });
        if self.last_t == 0 {
            return;
        }
        let buf = &mut self.buf;
        self.calib.poll(self.last_t, &mut |c| buf.push(c));
        for c in self.buf.drain(..) {
            engine.on_model(&c, t_pop, out, tel);
        }
    }
}
