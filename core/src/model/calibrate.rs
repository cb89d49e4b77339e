//! Online calibration of σ, A and κ from the market-data stream (off the hot path; floats).
//!
//! Method (after hftbacktest's GLFT tutorial, "Market making with alpha — order book
//! imbalance / GLFT", which fits `λ(δ) = A·e^(−κδ)` from trade arrival depths):
//!
//! 1. Exchange time is cut into steps of [`ModelConfig::step_ns`] (100 ms by default). Per
//!    step and instrument we keep the mid at the end of the step (twice-mid, ticks) and the
//!    **arrival depth**: the largest distance from the mid (before the trade) of a public
//!    trade in the step, in half ticks — `2·price − mid2` for buy takers, `mid2 − 2·price` for
//!    sell takers (trades through the other side of the mid are ignored).
//! 2. The last [`ModelConfig::calib_window_ns`] of steps are kept.
//! 3. **σ** (ticks per √s) = the standard deviation of the step-to-step mid changes (ticks)
//!    divided by √(step in s); **σ_now** the same over the last
//!    [`ModelConfig::vol_window_ns`].
//! 4. **λ(δ)** on the half-tick grid `δ_k = (k + 1)/2` ticks: with `n_k` the number of steps
//!    whose arrival depth reached `δ_k` and `N` the number of steps, the Poisson estimate
//!    `λ_k = −ln(1 − n_k/N)/Δt` (hftbacktest uses `n_k/window`, the first-order term of the
//!    same estimate; the log form removes the bias when several arrivals share a step).
//!    Bins with at least [`MIN_COUNT`] arrivals (and `n_k < N`), from the touch outward, are
//!    fitted by least squares `ln λ_k = ln A − κ·δ_k`: `κ = −slope`, `A = e^intercept`.
//! 5. A fit is used only when σ, A and κ are finite and positive, with at least
//!    [`MIN_STEPS`] mid changes and [`MIN_BINS`] bins; otherwise the instrument keeps
//!    quoting with its fixed spread (no coefficients are pushed for it).
//! 6. **Fees** (`--model-fees`, off by default): the model half-spread is widened by the instrument's maker fee in ticks
//!    (`maker_fee × mid`, when the fee is positive). With `λ(δ) = A·e^(−κδ)`, the depth that
//!    maximises the expected edge per unit time `λ(δ)·(δ − f)` is `δ* = f + 1/κ`: a per-fill
//!    cost `f` shifts the optimal quote out by `f` (Guéant 2017, "Optimal market making",
//!    §3 with transaction costs; hftbacktest's GLFT example quotes net of fees the same way).
//!    Without it, a calibrated half-spread below the fee loses on every round trip.

use super::as_glft::{coeffs, Fit};
use super::{CalibSample, ModelCoeffs, ModelConfig, SampleKind};
use crate::instrument::InstrumentTable;
use crate::types::{Nanos, Side, Ticks};
use std::collections::VecDeque;

/// Fewest step-to-step mid changes for a σ estimate.
pub const MIN_STEPS: usize = 100;
/// Fewest depth bins for an A, κ fit.
pub const MIN_BINS: usize = 3;
/// Fewest arrivals in a depth bin for it to enter the fit.
pub const MIN_COUNT: usize = 10;
/// Deepest bin considered (half ticks): 200 = 100 ticks from the mid.
pub const MAX_BINS: usize = 200;

#[derive(Clone, Copy, Debug)]
struct Step {
    /// Twice-mid at the end of the step (0 = none yet).
    mid2: Ticks,
    /// Deepest arrival in the step, half ticks (0 = none).
    depth2: i64,
}

#[derive(Clone, Debug)]
struct InstCalib {
    /// Index of the step in progress (`t / step_ns`); `u64::MAX` = nothing seen yet.
    step: u64,
    cur: Step,
    last_mid2: Ticks,
    steps: VecDeque<Step>,
    /// Maker fee, fraction of notional (only a positive fee widens the quotes).
    maker_fee: f64,
}

/// Online calibrator of every instrument of a table (see the module docs). Floats and
/// allocation are allowed here: it runs on a calibration thread, or between a backtest's
/// steps, never inside the engine's step functions.
pub struct Calibrator {
    cfg: ModelConfig,
    insts: Vec<InstCalib>,
    max_steps: usize,
    next_due: Nanos,
    /// Samples observed.
    pub samples: u64,
    /// Coefficient sets pushed.
    pub pushed: u64,
    /// Fits rejected (non-finite or non-positive σ, A or κ, or too few data).
    pub rejected: u64,
}

impl Calibrator {
    /// A calibrator for the instruments of `table` (ids `0..table.len()`). Allocates the
    /// windows here.
    pub fn new(table: &InstrumentTable, cfg: &ModelConfig) -> Calibrator {
        let max_steps =
            (cfg.calib_window_ns.div_ceil(cfg.step_ns.max(1))).clamp(2, 1 << 22) as usize;
        let insts = (0..table.len())
            .map(|i| InstCalib {
                maker_fee: table.get(i as u32).maker_fee,
                step: u64::MAX,
                cur: Step { mid2: 0, depth2: 0 },
                last_mid2: 0,
                steps: VecDeque::with_capacity(max_steps + 1),
            })
            .collect();
        Calibrator {
            cfg: cfg.clone(),
            insts,
            max_steps,
            next_due: 0,
            samples: 0,
            pushed: 0,
            rejected: 0,
        }
    }

    /// Takes one sample (a mid change or a trade). Samples of instruments outside the table
    /// are ignored; a sample older than the step in progress counts toward that step.
    pub fn observe(&mut self, s: &CalibSample) {
        let i = s.instrument as usize;
        if i >= self.insts.len() {
            return;
        }
        self.samples += 1;
        let step = s.t / self.cfg.step_ns;
        self.advance(i, step);
        let st = &mut self.insts[i];
        match s.kind {
            SampleKind::Mid => {
                if s.mid2 > 0 {
                    st.last_mid2 = s.mid2;
                    st.cur.mid2 = s.mid2;
                }
            }
            SampleKind::Trade => {
                if s.mid2 > 0 && s.price > 0 {
                    let d2 = match s.side {
                        Side::Bid => 2 * s.price - s.mid2,
                        Side::Ask => s.mid2 - 2 * s.price,
                    };
                    if d2 > st.cur.depth2 {
                        st.cur.depth2 = d2;
                    }
                }
            }
        }
    }

    /// Closes every step of instrument `i` before `step`.
    fn advance(&mut self, i: usize, step: u64) {
        let max = self.max_steps;
        let st = &mut self.insts[i];
        if st.step == u64::MAX {
            st.step = step;
            st.cur = Step {
                mid2: st.last_mid2,
                depth2: 0,
            };
            return;
        }
        if step <= st.step {
            return;
        }
        // The step in progress, then the empty steps in between (at most a window's worth).
        st.cur.mid2 = st.last_mid2;
        st.steps.push_back(st.cur);
        let gap = (step - st.step - 1).min(max as u64);
        for _ in 0..gap {
            st.steps.push_back(Step {
                mid2: st.last_mid2,
                depth2: 0,
            });
        }
        while st.steps.len() > max {
            st.steps.pop_front();
        }
        st.step = step;
        st.cur = Step {
            mid2: st.last_mid2,
            depth2: 0,
        };
    }

    /// If a recalibration is due at `now` (ns, on the samples' clock: exchange time — the
    /// live calibration thread passes the last sample's time), computes the fit of every
    /// instrument and pushes its coefficients to `out` when it has enough data (see the
    /// module docs). The first call is due at once; the next one `recalib_ns` later. An
    /// instrument without a usable fit gets nothing (the engine keeps what it has: the fixed
    /// spread, or the last coefficients).
    pub fn poll(&mut self, now: Nanos, out: &mut impl FnMut(ModelCoeffs)) {
        if now < self.next_due {
            return;
        }
        self.next_due = now.saturating_add(self.cfg.recalib_ns);
        let step = now / self.cfg.step_ns;
        for i in 0..self.insts.len() {
            if self.insts[i].step != u64::MAX {
                self.advance(i, step);
            }
            let fit = self.fit(i);
            let mut c = coeffs(&self.cfg, i as u32, now, &fit);
            let st = &self.insts[i];
            if self.cfg.fee_aware && c.half_spread_e6 > 0 && st.maker_fee > 0.0 && st.last_mid2 > 0
            {
                let fee_ticks = st.maker_fee * st.last_mid2 as f64 / 2.0;
                if let Some(f) = super::to_e6(fee_ticks) {
                    c.half_spread_e6 = c.half_spread_e6.saturating_add(f);
                }
            }
            if c.half_spread_e6 > 0 || c.vol_ratio_ppm > 0 {
                self.pushed += 1;
                out(c);
            } else {
                self.rejected += 1;
            }
        }
    }

    /// The current estimates of instrument `id` (σ, σ_now, A, κ; `None` where there is not
    /// enough data or the fit is not finite and positive).
    pub fn fit(&self, id: usize) -> Fit {
        let Some(st) = self.insts.get(id) else {
            return Fit::default();
        };
        let dt = self.cfg.step_ns as f64 * 1e-9;
        let vol_steps = (self.cfg.vol_window_ns / self.cfg.step_ns).max(2) as usize;
        let n = st.steps.len();
        let sigma = sigma_of(st.steps.iter(), dt);
        let sigma_now = sigma_of(st.steps.iter().skip(n.saturating_sub(vol_steps)), dt);
        let (a, kappa) = match fit_intensity(st.steps.iter().map(|s| s.depth2), n, dt) {
            Some((a, k)) => (Some(a), Some(k)),
            None => (None, None),
        };
        Fit {
            sigma,
            sigma_now,
            a,
            kappa,
        }
    }
}

/// σ in ticks per √s from step-end twice-mids (`None` with fewer than [`MIN_STEPS`] changes
/// or a non-positive result).
fn sigma_of<'a>(steps: impl Iterator<Item = &'a Step>, dt: f64) -> Option<f64> {
    let (mut n, mut sum, mut sq) = (0usize, 0.0f64, 0.0f64);
    let mut prev: Ticks = 0;
    for s in steps {
        if s.mid2 > 0 && prev > 0 {
            let d = (s.mid2 - prev) as f64 / 2.0;
            n += 1;
            sum += d;
            sq += d * d;
        }
        if s.mid2 > 0 {
            prev = s.mid2;
        }
    }
    if n < MIN_STEPS {
        return None;
    }
    let mean = sum / n as f64;
    let var = (sq / n as f64 - mean * mean).max(0.0) * n as f64 / (n - 1) as f64;
    let sigma = (var / dt).sqrt();
    (sigma.is_finite() && sigma > 0.0).then_some(sigma)
}

/// `(A, κ)` fitted from per-step arrival depths in half ticks over `n` steps of `dt` seconds
/// (see the module docs), or `None`.
pub fn fit_intensity(depths2: impl Iterator<Item = i64>, n: usize, dt: f64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    // counts[k] = steps whose depth reached δ_k = (k+1)/2 ticks, i.e. depth2 ≥ k + 1.
    let mut counts = [0usize; MAX_BINS];
    for d in depths2 {
        let top = (d.max(0) as usize).min(MAX_BINS);
        for c in counts.iter_mut().take(top) {
            *c += 1;
        }
    }
    let (mut sx, mut sy, mut sxx, mut sxy, mut m) = (0.0, 0.0, 0.0, 0.0, 0usize);
    for (k, &c) in counts.iter().enumerate() {
        if c < MIN_COUNT {
            break;
        }
        if c >= n {
            continue; // every step reached it: λ not identifiable at this depth
        }
        let lambda = -(1.0 - c as f64 / n as f64).ln() / dt;
        let x = (k + 1) as f64 / 2.0;
        let y = lambda.ln();
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
        m += 1;
    }
    if m < MIN_BINS {
        return None;
    }
    let mf = m as f64;
    let den = mf * sxx - sx * sx;
    if den.abs() < 1e-12 {
        return None;
    }
    let slope = (mf * sxy - sx * sy) / den;
    let intercept = (sy - slope * sx) / mf;
    let kappa = -slope;
    let a = intercept.exp();
    (kappa.is_finite() && kappa > 0.0 && a.is_finite() && a > 0.0).then_some((a, kappa))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::Dec;
    use crate::instrument::{Instrument, Kind};
    use crate::model::ModelKind;

    /// xorshift64*: a deterministic uniform in (0, 1).
    struct Rng(u64);
    impl Rng {
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
            ((v >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
    }

    fn table() -> InstrumentTable {
        let mut t = InstrumentTable::new();
        t.push(Instrument::new(
            "BTC-PERPETUAL",
            Kind::Perpetual,
            Dec::new(5, 1),
            Dec::new(10, 0),
        ))
        .unwrap();
        t
    }

    fn cfg() -> ModelConfig {
        ModelConfig {
            kind: ModelKind::Glft,
            calib_window_ns: 3_600_000_000_000,
            recalib_ns: 1_000_000_000,
            ..Default::default()
        }
    }

    #[test]
    fn recovers_a_and_kappa_from_poisson_arrivals() {
        // Arrivals reaching depth δ (ticks) form a Poisson process of rate λ(δ) = A·e^(−κδ):
        // the deepest arrival D of a step of Δt has P(D < δ) = exp(−A·e^(−κδ)·Δt), sampled by
        // inversion: D = −ln(−ln(u)/(A·Δt))/κ. Each step's D (floored to half ticks) is sent
        // as a buy trade at that depth above a mid of the matching parity.
        let (a, kappa) = (2.0, 0.8);
        let mut c = Calibrator::new(&table(), &cfg());
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let dt = 0.1;
        let steps = 36_000u64; // one hour
        for k in 0..steps {
            let t = k * 100_000_000 + 1;
            let u = rng.uniform();
            let d = -(-(u.ln()) / (a * dt)).ln() / kappa;
            let d2 = (2.0 * d).floor() as i64;
            let mid2 = 200_000 + (d2.rem_euclid(2));
            c.observe(&CalibSample {
                t,
                mid2,
                kind: SampleKind::Mid,
                ..Default::default()
            });
            if d2 >= 1 {
                c.observe(&CalibSample {
                    t: t + 1,
                    mid2,
                    price: (mid2 + d2) / 2,
                    qty: 1,
                    kind: SampleKind::Trade,
                    side: Side::Bid,
                    ..Default::default()
                });
            }
        }
        c.advance(0, steps + 1);
        let fit = c.fit(0);
        let (fa, fk) = (fit.a.unwrap(), fit.kappa.unwrap());
        assert!((fk - kappa).abs() / kappa < 0.1, "κ {fk} vs {kappa}");
        assert!((fa - a).abs() / a < 0.15, "A {fa} vs {a}");
    }

    #[test]
    fn sigma_of_a_random_walk() {
        // The mid moves ±1 tick per 100 ms step with probability ½ each: σ_step = 1 tick,
        // σ = 1/√0.1 = 3.162 ticks/√s.
        let mut c = Calibrator::new(&table(), &cfg());
        let mut rng = Rng(42);
        let mut mid2: i64 = 200_000;
        for k in 0..20_000u64 {
            mid2 += if rng.uniform() < 0.5 { 2 } else { -2 };
            c.observe(&CalibSample {
                t: k * 100_000_000 + 5,
                mid2,
                kind: SampleKind::Mid,
                ..Default::default()
            });
        }
        c.advance(0, 20_001);
        let fit = c.fit(0);
        let s = fit.sigma.unwrap();
        assert!((s - 10f64.sqrt()).abs() < 0.1, "σ {s}");
        let s_now = fit.sigma_now.unwrap();
        assert!((s_now - 10f64.sqrt()).abs() < 0.4, "σ_now {s_now}");
        // No trades: no A, κ; GLFT is not calibrated, nothing pushed (fixed spread).
        assert!(fit.a.is_none() && fit.kappa.is_none());
        let mut got = Vec::new();
        c.poll(2_000_000_000_000, &mut |x| got.push(x));
        assert!(got.is_empty());
        assert_eq!(c.rejected, 1);
    }

    #[test]
    fn flat_mid_gives_no_sigma_and_no_fit() {
        let mut c = Calibrator::new(&table(), &cfg());
        for k in 0..1000u64 {
            c.observe(&CalibSample {
                t: k * 100_000_000,
                mid2: 1000,
                kind: SampleKind::Mid,
                ..Default::default()
            });
        }
        c.advance(0, 2000);
        assert_eq!(c.fit(0), Fit::default());
    }
}
