//! The Avellaneda–Stoikov and GLFT formulas (strategies.md §4), in floats, off the hot path.
//!
//! Units: see the [module docs](super): depths and σ in ticks (σ per √s), κ per tick, A per
//! second, q in order sizes, γ per (tick × order size).
//!
//! - **Avellaneda & Stoikov (2008)**, eq. (29)–(30) with the rolling horizon `τ = T − t`:
//!   reservation `r = s − q·γ·σ²·τ`, total spread `γ·σ²·τ + (2/γ)·ln(1 + γ/κ)`, quotes
//!   `r ± spread/2`. Half-spread `= (γσ²τ + (2/γ)ln(1 + γ/κ))/2`; skew per unit q `= γσ²τ`.
//! - **Guéant, Lehalle & Fernandez-Tapia (2013)**, closed-form asymptotic approximation
//!   (as in hftbacktest's GLFT tutorial) with `ξ = γ`, `Δ = 1`:
//!   `c1 = ln(1 + ξΔ/κ)/(ξΔ)`, `c2 = sqrt(γ/(2AΔκ) · (1 + ξΔ/κ)^(κ/(ξΔ) + 1))`;
//!   half-spread `= c1 + (Δ/2)·σ·c2`, skew per unit q `= σ·c2`, so `bid = r − half`,
//!   `ask = r + half`, `r = mid − skew·q`.

use super::{to_e6, ModelCoeffs, ModelConfig, ModelKind};
use crate::types::{InstrumentId, Nanos};

/// Half-spread and skew per unit of q, ticks (floats).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HalfSkew {
    /// Distance of each quote from the reservation price, ticks.
    pub half_spread: f64,
    /// Reservation shift per unit of q, ticks (down when long).
    pub skew: f64,
}

/// Avellaneda–Stoikov half-spread and skew (see the module docs). `None` unless every input
/// is finite and positive and the result is finite.
pub fn avellaneda_stoikov(gamma: f64, sigma: f64, kappa: f64, tau_secs: f64) -> Option<HalfSkew> {
    if !(all_pos(&[gamma, sigma, kappa, tau_secs])) {
        return None;
    }
    let risk = gamma * sigma * sigma * tau_secs;
    let spread = risk + (2.0 / gamma) * (gamma / kappa).ln_1p();
    finite(HalfSkew {
        half_spread: spread / 2.0,
        skew: risk,
    })
}

/// GLFT half-spread and skew (see the module docs). `None` unless every input is finite and
/// positive and the result is finite.
pub fn glft(gamma: f64, sigma: f64, a: f64, kappa: f64) -> Option<HalfSkew> {
    if !(all_pos(&[gamma, sigma, a, kappa])) {
        return None;
    }
    let xi_delta = gamma; // ξ = γ, Δ = 1
    let c1 = (xi_delta / kappa).ln_1p() / xi_delta;
    let base = 1.0 + xi_delta / kappa;
    let c2 = (gamma / (2.0 * a * kappa) * base.powf(kappa / xi_delta + 1.0)).sqrt();
    finite(HalfSkew {
        half_spread: c1 + 0.5 * sigma * c2,
        skew: sigma * c2,
    })
}

fn all_pos(v: &[f64]) -> bool {
    v.iter().all(|x| x.is_finite() && *x > 0.0)
}

fn finite(h: HalfSkew) -> Option<HalfSkew> {
    (h.half_spread.is_finite() && h.skew.is_finite() && h.half_spread > 0.0 && h.skew >= 0.0)
        .then_some(h)
}

/// An instrument's calibrated parameters (floats; `None` = not estimated yet).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Fit {
    /// σ, ticks per √s (calibration window).
    pub sigma: Option<f64>,
    /// σ over the recent vol window, ticks per √s.
    pub sigma_now: Option<f64>,
    /// A, arrivals per second.
    pub a: Option<f64>,
    /// κ, per tick.
    pub kappa: Option<f64>,
}

/// The fixed-point coefficients of `fit` under `cfg` for instrument `id` at `t`.
///
/// `half_spread_e6 = 0` (quote with the fixed spread) until the model's inputs exist (AS: σ
/// and κ; GLFT: σ, A and κ); `vol_ratio_ppm = 0` (no scaling) unless the volatility-adaptive
/// spread is on and both σ are known, else `σ_now/σ` clamped to the configured bounds.
pub fn coeffs(cfg: &ModelConfig, id: InstrumentId, t: Nanos, fit: &Fit) -> ModelCoeffs {
    let mut c = ModelCoeffs {
        instrument: id,
        t,
        ..Default::default()
    };
    let hs = match (cfg.kind, fit.sigma, fit.a, fit.kappa) {
        (ModelKind::As, Some(s), _, Some(k)) => {
            avellaneda_stoikov(cfg.gamma, s, k, cfg.horizon_secs)
        }
        (ModelKind::Glft, Some(s), Some(a), Some(k)) => glft(cfg.gamma, s, a, k),
        _ => None,
    };
    if let Some(h) = hs {
        if let (Some(hs), Some(sk)) = (to_e6(h.half_spread), to_e6(h.skew)) {
            c.half_spread_e6 = hs;
            c.skew_e6 = sk;
        }
    }
    if cfg.vol_adaptive() {
        if let (Some(now), Some(avg)) = (fit.sigma_now, fit.sigma) {
            if avg > 0.0 {
                if let Some(r) = to_e6(now / avg) {
                    c.vol_ratio_ppm = r.clamp(cfg.vol_ratio_min_ppm.max(1), cfg.vol_ratio_max_ppm);
                }
            }
        }
    }
    c.sigma_e6 = fit.sigma.and_then(to_e6).unwrap_or(0);
    c.kappa_e6 = fit.kappa.and_then(to_e6).unwrap_or(0);
    c.a_e6 = fit.a.and_then(to_e6).unwrap_or(0);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn avellaneda_stoikov_by_hand() {
        // γ = 0.1, σ = 2 ticks/√s, κ = 1.5 /tick, τ = 1 s:
        // γσ²τ = 0.1·4·1 = 0.4 (skew per unit q);
        // (2/γ)·ln(1 + γ/κ) = 20·ln(1.066 667) = 20·0.064 538 521 = 1.290 770 42;
        // half-spread = (0.4 + 1.290 770 42)/2 = 0.845 385 21 ticks.
        let h = avellaneda_stoikov(0.1, 2.0, 1.5, 1.0).unwrap();
        assert!(close(h.half_spread, 0.845_385_211_375_711_7), "{h:?}");
        assert!(close(h.skew, 0.4), "{h:?}");
        // Longer horizon widens and skews more: τ = 2 s → skew 0.8, half (0.8 + 1.29077)/2.
        let h2 = avellaneda_stoikov(0.1, 2.0, 1.5, 2.0).unwrap();
        assert!(
            close(h2.skew, 0.8) && close(h2.half_spread, (0.8 + 1.290_770_422_751_423_3) / 2.0)
        );
        assert!(avellaneda_stoikov(0.1, f64::NAN, 1.5, 1.0).is_none());
        assert!(avellaneda_stoikov(0.1, 2.0, 0.0, 1.0).is_none());
    }

    #[test]
    fn glft_by_hand() {
        // γ = ξ = 0.1, Δ = 1, σ = 2, A = 5, κ = 1.5:
        // c1 = ln(1 + 0.1/1.5)/0.1 = 0.645 385 211;
        // c2 = sqrt(0.1/(2·5·1.5) · (1.066 667)^(15 + 1)) = sqrt(0.006 666 67 · 2.808 40)
        //    = 0.136 830 892;
        // half = c1 + σ·c2/2 = 0.782 216 104; skew = σ·c2 = 0.273 661 785.
        let h = glft(0.1, 2.0, 5.0, 1.5).unwrap();
        assert!(close(h.half_spread, 0.782_216_103_735_013_9), "{h:?}");
        assert!(close(h.skew, 0.273_661_784_718_604_64), "{h:?}");
        assert!(glft(0.1, 2.0, -5.0, 1.5).is_none());
        assert!(glft(0.1, 2.0, 5.0, f64::INFINITY).is_none());
    }

    #[test]
    fn coefficients_in_fixed_point() {
        let cfg = ModelConfig {
            kind: ModelKind::Glft,
            gamma: 0.1,
            vol_ratio_min_ppm: 500_000,
            vol_ratio_max_ppm: 2_000_000,
            ..Default::default()
        };
        let fit = Fit {
            sigma: Some(2.0),
            sigma_now: Some(8.0),
            a: Some(5.0),
            kappa: Some(1.5),
        };
        let c = coeffs(&cfg, 3, 42, &fit);
        assert_eq!((c.instrument, c.t), (3, 42));
        assert_eq!(c.half_spread_e6, 782_216);
        assert_eq!(c.skew_e6, 273_662);
        // σ_now/σ = 4, clamped to the max 2.0.
        assert_eq!(c.vol_ratio_ppm, 2_000_000);
        assert_eq!(
            (c.sigma_e6, c.a_e6, c.kappa_e6),
            (2_000_000, 5_000_000, 1_500_000)
        );
        // Not calibrated: no model spread (fixed spread applies).
        let c = coeffs(&cfg, 3, 42, &Fit { a: None, ..fit });
        assert_eq!((c.half_spread_e6, c.skew_e6), (0, 0));
        // AS needs only σ and κ.
        let cfg = ModelConfig {
            kind: ModelKind::As,
            ..cfg
        };
        let c = coeffs(&cfg, 3, 42, &Fit { a: None, ..fit });
        assert_eq!((c.half_spread_e6, c.skew_e6), (845_385, 400_000));
    }
}
