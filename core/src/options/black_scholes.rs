//! Black–Scholes / Black-76 prices, greeks and implied volatility (`f64`).
//!
//! Deribit prices its options with Black-76 on the underlying (forward) price the ticker
//! gives (`underlying_price`: the expiry's future, or a synthetic one), with the ticker's
//! `interest_rate` = 0 (protocol.md, ticker schema: `interest_rate`, `underlying_price`,
//! `mark_iv`, `greeks`). With `r = 0` the discount factor is 1 and Black-76 is Black–Scholes
//! on the forward:
//!
//! - `d1 = (ln(F/K) + σ²T/2) / (σ√T)`, `d2 = d1 − σ√T`;
//! - call `= DF·(F·N(d1) − K·N(d2))`, put `= DF·(K·N(−d2) − F·N(−d1))`, `DF = e^(−rT)`
//!   (Black 1976; Hull, *Options, Futures and Other Derivatives*, ch. 18);
//! - with a spot `S` and rate `r` (Hull ch. 15): `F = S·e^(rT)`, the same formula.
//!
//! Greeks (forward measure, per unit of the underlying, `r = 0` unless a discount factor is
//! given): delta `∂V/∂F` = `DF·N(d1)` (call), `DF·(N(d1) − 1)` (put); gamma
//! `DF·φ(d1)/(F σ √T)`; vega `DF·F·φ(d1)·√T` per 1.00 of volatility (we return it **per
//! volatility point**, i.e. ÷100, Deribit's unit); theta `−DF·F·φ(d1)·σ/(2√T)` per year
//! (returned **per day**, ÷365, Deribit's unit; the `r·V` term is 0 at `r = 0`).
//!
//! Deribit inverse options are quoted in coin: the coin price is the USD price divided by
//! the underlying (forward) price `F` — checked against the recorded tickers' `mark_price`
//! in `core/tests/options_tape.rs`.
//!
//! `N` is evaluated with Marsaglia's Taylor series (G. Marsaglia, "Evaluating the Normal
//! Distribution", J. Stat. Software 11(4), 2004): absolute error ≈ 1e-15, bounded work
//! (at most [`MAX_SERIES_TERMS`] terms, `|x| > 9` saturates to 0 or 1).
//!
//! Inputs are validated: every function returns `None` for non-finite or non-positive
//! `F`, `K`, `σ`, `T` — no NaN ever leaves this module.

/// Most terms of the normal-CDF series (reached only near `|x| = 9`).
pub const MAX_SERIES_TERMS: usize = 400;

/// Days per year of Deribit's time to expiry (calendar time, ACT/365).
pub const DAYS_PER_YEAR: f64 = 365.0;

/// Nanoseconds per year (365 days).
pub const NS_PER_YEAR: f64 = DAYS_PER_YEAR * 86_400.0 * 1e9;

/// Call or put.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Right {
    /// Call.
    Call,
    /// Put.
    Put,
}

/// Standard normal density `φ(x)`.
#[inline]
pub fn norm_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() * 0.398_942_280_401_432_7
}

/// Standard normal distribution `N(x)` (Marsaglia 2004, see the module docs).
pub fn norm_cdf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x > 9.0 {
        return 1.0;
    }
    if x < -9.0 {
        return 0.0;
    }
    let q = x * x;
    let (mut s, mut t, mut b, mut i) = (x, 0.0f64, x, 1.0f64);
    let mut n = 0;
    while s != t && n < MAX_SERIES_TERMS {
        t = s;
        i += 2.0;
        b *= q / i;
        s = t + b;
        n += 1;
    }
    (0.5 + s * norm_pdf(x)).clamp(0.0, 1.0)
}

/// Inputs of one Black-76 evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Inputs {
    /// Forward (underlying) price, USD.
    pub forward: f64,
    /// Strike, USD.
    pub strike: f64,
    /// Time to expiry, years (ACT/365).
    pub t_years: f64,
    /// Volatility, fraction per √year (0.48 = 48 vol points).
    pub sigma: f64,
    /// Discount factor `e^(−rT)` (1 at Deribit's `r = 0`).
    pub df: f64,
    /// Call or put.
    pub right: Right,
}

impl Inputs {
    /// Black-76 inputs at `r = 0` (Deribit's convention).
    pub fn new(forward: f64, strike: f64, t_years: f64, sigma: f64, right: Right) -> Inputs {
        Inputs {
            forward,
            strike,
            t_years,
            sigma,
            df: 1.0,
            right,
        }
    }

    /// Black–Scholes inputs from a spot `s` and a continuous rate `r` (Hull ch. 15):
    /// `F = s·e^(rT)`, `DF = e^(−rT)`.
    pub fn from_spot(s: f64, strike: f64, r: f64, t_years: f64, sigma: f64, right: Right) -> Self {
        Inputs {
            forward: s * (r * t_years).exp(),
            strike,
            t_years,
            sigma,
            df: (-r * t_years).exp(),
            right,
        }
    }

    fn valid(&self) -> bool {
        let pos = |v: f64| v.is_finite() && v > 0.0;
        pos(self.forward)
            && pos(self.strike)
            && pos(self.t_years)
            && pos(self.sigma)
            && pos(self.df)
    }

    fn d1_d2(&self) -> (f64, f64) {
        let sd = self.sigma * self.t_years.sqrt();
        let d1 = ((self.forward / self.strike).ln() + 0.5 * sd * sd) / sd;
        (d1, d1 - sd)
    }
}

/// Price and greeks of one option (USD, per one unit of the underlying).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Valuation {
    /// Price, USD.
    pub price: f64,
    /// `∂price/∂F` (coin of underlying per option on one coin).
    pub delta: f64,
    /// `∂²price/∂F²`, per USD.
    pub gamma: f64,
    /// `∂price/∂σ` per volatility point (USD per 1 vol point).
    pub vega: f64,
    /// Time decay, USD per calendar day (negative for a long option).
    pub theta: f64,
}

/// Black-76 price and greeks; `None` for invalid inputs (non-finite, `≤ 0`) or a non-finite
/// result.
pub fn value(x: &Inputs) -> Option<Valuation> {
    if !x.valid() {
        return None;
    }
    let (f, k, t, df) = (x.forward, x.strike, x.t_years, x.df);
    let (d1, d2) = x.d1_d2();
    let (nd1, nd2) = (norm_cdf(d1), norm_cdf(d2));
    let pdf = norm_pdf(d1);
    let sqrt_t = t.sqrt();
    let (price, delta) = match x.right {
        Right::Call => (df * (f * nd1 - k * nd2), df * nd1),
        // N(−x) = 1 − N(x) loses precision deep OTM; evaluate it directly.
        Right::Put => (
            df * (k * norm_cdf(-d2) - f * norm_cdf(-d1)),
            df * (nd1 - 1.0),
        ),
    };
    let v = Valuation {
        price: price.max(0.0),
        delta,
        gamma: df * pdf / (f * x.sigma * sqrt_t),
        vega: df * f * pdf * sqrt_t / 100.0,
        theta: -df * f * pdf * x.sigma / (2.0 * sqrt_t) / DAYS_PER_YEAR,
    };
    let ok = [v.price, v.delta, v.gamma, v.vega, v.theta]
        .iter()
        .all(|z| z.is_finite());
    ok.then_some(v)
}

/// Black-76 price only (USD); `None` for invalid inputs.
pub fn price(x: &Inputs) -> Option<f64> {
    value(x).map(|v| v.price)
}

/// Most iterations of [`implied_vol`].
pub const IV_MAX_ITER: usize = 100;

/// The volatility (fraction) at which the Black-76 price equals `target` (USD), by
/// safeguarded Newton steps (bisection when a step leaves the bracket) on `σ ∈ [1e-4, 20]`,
/// to `|price − target| ≤ 1e-10·F`. `None` when the inputs are invalid or `target` is outside
/// the no-arbitrage range (below intrinsic or above the bracket's price).
pub fn implied_vol(x: &Inputs, target: f64) -> Option<f64> {
    if !target.is_finite() || target < 0.0 {
        return None;
    }
    let at = |s: f64| value(&Inputs { sigma: s, ..*x });
    let (mut lo, mut hi) = (1e-4, 20.0);
    let p_lo = at(lo)?.price;
    let p_hi = at(hi)?.price;
    if target < p_lo - 1e-12 * x.forward || target > p_hi {
        return None;
    }
    let tol = 1e-10 * x.forward.max(1e-300);
    let mut s = 0.5;
    for _ in 0..IV_MAX_ITER {
        let v = at(s)?;
        let diff = v.price - target;
        if diff.abs() <= tol {
            return Some(s);
        }
        if diff > 0.0 {
            hi = s;
        } else {
            lo = s;
        }
        let vega = v.vega * 100.0;
        let next = if vega > 1e-300 {
            s - diff / vega
        } else {
            f64::NAN
        };
        s = if next.is_finite() && next > lo && next < hi {
            next
        } else {
            0.5 * (lo + hi)
        };
    }
    Some(s)
}

/// Time to expiry in years (ACT/365) from an expiry in ms since the epoch and an exchange
/// time in ns since the epoch; `None` when expired or unknown (`now_ns == 0`).
pub fn years_to_expiry(expiry_ms: u64, now_ns: u64) -> Option<f64> {
    let exp_ns = expiry_ms.checked_mul(1_000_000)?;
    if now_ns == 0 || exp_ns <= now_ns {
        return None;
    }
    Some((exp_ns - now_ns) as f64 / NS_PER_YEAR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norm_cdf_known_values() {
        assert!((norm_cdf(0.0) - 0.5).abs() < 1e-15);
        assert!((norm_cdf(1.959_963_984_540_054) - 0.975).abs() < 1e-13);
        assert!((norm_cdf(-1.0) - 0.158_655_253_931_457_05).abs() < 1e-14);
        assert_eq!(norm_cdf(12.0), 1.0);
        assert_eq!(norm_cdf(-12.0), 0.0);
    }

    #[test]
    fn invalid_inputs_are_refused() {
        let bad = Inputs::new(f64::NAN, 100.0, 1.0, 0.5, Right::Call);
        assert!(value(&bad).is_none());
        assert!(value(&Inputs::new(100.0, 100.0, 0.0, 0.5, Right::Call)).is_none());
        assert!(value(&Inputs::new(100.0, 100.0, 1.0, -0.5, Right::Put)).is_none());
        assert!(years_to_expiry(1_000, 2_000_000_000).is_none());
    }
}
