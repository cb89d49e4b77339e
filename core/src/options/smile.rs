//! Volatility smile of one expiry: implied volatility as a quadratic in log-moneyness.
//!
//! Model: `σ(k) = a + b·(k − k̄) + c·(k − k̄)²` with `k = ln(K/F)` (strike over the expiry's
//! forward, the ticker's `underlying_price`) and `k̄` the mean `k` of the points — the
//! "quadratic in log-moneyness" smile (e.g. Gatheral, *The Volatility Surface*, ch. 3: the
//! smile at one expiry is well approximated by a low-order polynomial in `k` near the money;
//! SVI is the wing-consistent refinement we do not need for near-money quoting).
//! Fitted by ordinary least squares to the mark IVs of the expiry's strikes (one point per
//! strike: its latest ticker, or every ticker of a window when fitting off line).
//!
//! Degree adapts to the data: a quadratic needs ≥ 3 points spanning at least
//! [`MIN_K_SPAN`] in `k`; otherwise a line (≥ 2 points spanning it), otherwise the mean IV.
//! A normal-equation system that is numerically singular drops one degree. The fit is
//! bounded, allocation-free work over the points (two passes of a cloneable iterator), so it
//! may run when a ticker arrives; it never returns non-finite coefficients.

/// Smallest spread of `k` (max − min) that supports a slope or a curvature.
pub const MIN_K_SPAN: f64 = 1e-3;

/// A fitted smile. IVs are fractions (0.48 = 48 vol points).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Smile {
    /// Level at `k = k_mean`.
    pub a: f64,
    /// Slope (skew) per unit of `k`.
    pub b: f64,
    /// Curvature per unit of `k²`.
    pub c: f64,
    /// Mean log-moneyness of the fitted points.
    pub k_mean: f64,
    /// Degree used (0 = flat, 1 = line, 2 = quadratic).
    pub degree: u8,
    /// Points fitted.
    pub n: usize,
    /// Root-mean-square residual over the fitted points (fraction of vol).
    pub rmse: f64,
}

impl Smile {
    /// The fitted IV at log-moneyness `k` (fraction); `None` when non-finite or `≤ 0`.
    pub fn iv(&self, k: f64) -> Option<f64> {
        let x = k - self.k_mean;
        let v = self.a + self.b * x + self.c * x * x;
        (v.is_finite() && v > 0.0).then_some(v)
    }
}

/// Solves the `d×d` system `m·x = r` (`d ≤ 3`) by Gaussian elimination with partial
/// pivoting; `None` when a pivot is below `1e-12` of the largest diagonal entry.
fn solve(mut m: [[f64; 3]; 3], mut r: [f64; 3], d: usize) -> Option<[f64; 3]> {
    let scale = (0..d).map(|i| m[i][i].abs()).fold(0.0, f64::max);
    if scale.is_nan() || scale <= 0.0 {
        return None;
    }
    for col in 0..d {
        let p = (col..d).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        if m[p][col].abs() < 1e-12 * scale {
            return None;
        }
        m.swap(col, p);
        r.swap(col, p);
        for row in col + 1..d {
            let f = m[row][col] / m[col][col];
            let pivot = m[col];
            for (e, p) in m[row].iter_mut().zip(pivot).take(d).skip(col) {
                *e -= f * p;
            }
            r[row] -= f * r[col];
        }
    }
    let mut x = [0.0; 3];
    for i in (0..d).rev() {
        let s: f64 = (i + 1..d).map(|j| m[i][j] * x[j]).sum();
        x[i] = (r[i] - s) / m[i][i];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Fits the smile to `(k, iv)` points (iv as a fraction); points with a non-finite value or
/// `iv ≤ 0` are skipped. `None` without any valid point.
pub fn fit<I>(points: I) -> Option<Smile>
where
    I: Iterator<Item = (f64, f64)> + Clone,
{
    let valid = |&(k, v): &(f64, f64)| k.is_finite() && v.is_finite() && v > 0.0;
    let (mut n, mut sk) = (0usize, 0.0f64);
    let (mut kmin, mut kmax) = (f64::INFINITY, f64::NEG_INFINITY);
    for (k, _) in points.clone().filter(valid) {
        n += 1;
        sk += k;
        kmin = kmin.min(k);
        kmax = kmax.max(k);
    }
    if n == 0 {
        return None;
    }
    let k_mean = sk / n as f64;
    // Moments of x = k − k̄: S[j] = Σ x^j (j ≤ 4), T[j] = Σ iv·x^j (j ≤ 2).
    let (mut s, mut t) = ([0.0f64; 5], [0.0f64; 3]);
    for (k, v) in points.clone().filter(valid) {
        let x = k - k_mean;
        let mut p = 1.0;
        for (j, sj) in s.iter_mut().enumerate() {
            *sj += p;
            if j < 3 {
                t[j] += v * p;
            }
            p *= x;
        }
    }
    let span = kmax - kmin;
    let mut degree: usize = if n >= 3 && span >= MIN_K_SPAN {
        2
    } else if n >= 2 && span >= MIN_K_SPAN {
        1
    } else {
        0
    };
    let coef = loop {
        let d = degree + 1;
        let mut m = [[0.0; 3]; 3];
        for (i, row) in m.iter_mut().enumerate().take(d) {
            for (j, e) in row.iter_mut().enumerate().take(d) {
                *e = s[i + j];
            }
        }
        if let Some(x) = solve(m, t, d) {
            break x;
        }
        if degree == 0 {
            return None;
        }
        degree -= 1;
    };
    let smile = Smile {
        a: coef[0],
        b: coef[1],
        c: coef[2],
        k_mean,
        degree: degree as u8,
        n,
        rmse: 0.0,
    };
    let mut sse = 0.0;
    for (k, v) in points.filter(valid) {
        let x = k - k_mean;
        let e = smile.a + smile.b * x + smile.c * x * x - v;
        sse += e * e;
    }
    let rmse = (sse / n as f64).sqrt();
    rmse.is_finite().then_some(Smile { rmse, ..smile })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_known_quadratic() {
        let pts: Vec<(f64, f64)> = (-5..=5)
            .map(|i| {
                let k = i as f64 * 0.05;
                (k, 0.6 - 0.2 * k + 0.9 * k * k)
            })
            .collect();
        let s = fit(pts.iter().copied()).unwrap();
        assert_eq!((s.degree, s.n), (2, 11));
        assert!(s.rmse < 1e-12, "{s:?}");
        assert!((s.iv(0.1).unwrap() - (0.6 - 0.02 + 0.009)).abs() < 1e-12);
    }

    #[test]
    fn degree_follows_the_data() {
        let one = fit([(0.1, 0.5)].into_iter()).unwrap();
        assert_eq!((one.degree, one.iv(0.3)), (0, Some(0.5)));
        let two = fit([(0.0, 0.5), (0.1, 0.6)].into_iter()).unwrap();
        assert_eq!(two.degree, 1);
        assert!((two.iv(0.2).unwrap() - 0.7).abs() < 1e-12);
        // Same k twice: no slope.
        let flat = fit([(0.1, 0.5), (0.1, 0.7)].into_iter()).unwrap();
        assert_eq!(flat.degree, 0);
        assert!(fit([(f64::NAN, 0.5), (0.1, -1.0)].into_iter()).is_none());
    }
}
