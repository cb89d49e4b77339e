//! Black-76 / Black–Scholes: textbook values, put–call parity, greeks against central finite
//! differences, implied-vol round trips, and the smile fit (`mm_core::options`).

use mm_core::options::black_scholes::{self as bs, Inputs, Right};
use mm_core::options::smile;

#[test]
fn hull_example_with_a_rate() {
    // Hull, Options, Futures and Other Derivatives, Example 15.6: S = 42, K = 40, r = 10 %,
    // σ = 20 %, T = 0.5 → c = 4.76, p = 0.81.
    let c = bs::price(&Inputs::from_spot(42.0, 40.0, 0.1, 0.5, 0.2, Right::Call)).unwrap();
    let p = bs::price(&Inputs::from_spot(42.0, 40.0, 0.1, 0.5, 0.2, Right::Put)).unwrap();
    assert!((c - 4.7594).abs() < 5e-4, "call {c}");
    assert!((p - 0.8086).abs() < 5e-4, "put {p}");
}

#[test]
fn at_the_money_forward_with_r_zero() {
    // r = 0, F = K = 100, σ = 0.2, T = 1: d1 = 0.1, d2 = −0.1, so
    // c = p = F·(2·N(0.1) − 1) = 100 · 0.0796557 = 7.96557 (N(0.1) = 0.5398278373).
    let c = bs::price(&Inputs::new(100.0, 100.0, 1.0, 0.2, Right::Call)).unwrap();
    let p = bs::price(&Inputs::new(100.0, 100.0, 1.0, 0.2, Right::Put)).unwrap();
    assert!((c - 7.965_567_5).abs() < 1e-6, "call {c}");
    assert!((p - c).abs() < 1e-12);
}

#[test]
fn put_call_parity() {
    // r = 0: c − p = F − K; with a rate: c − p = S − K·e^(−rT).
    for &(f, k, t, v) in &[
        (60_000.0, 62_000.0, 0.003, 0.48),
        (2_143.93, 1_600.0, 0.029, 0.9978),
        (100.0, 150.0, 2.0, 1.2),
    ] {
        let c = bs::price(&Inputs::new(f, k, t, v, Right::Call)).unwrap();
        let p = bs::price(&Inputs::new(f, k, t, v, Right::Put)).unwrap();
        assert!(((c - p) - (f - k)).abs() < 1e-9 * f, "{f} {k}: {c} {p}");
    }
    let c = bs::price(&Inputs::from_spot(42.0, 40.0, 0.1, 0.5, 0.2, Right::Call)).unwrap();
    let p = bs::price(&Inputs::from_spot(42.0, 40.0, 0.1, 0.5, 0.2, Right::Put)).unwrap();
    assert!(((c - p) - (42.0 - 40.0 * (-0.05f64).exp())).abs() < 1e-12);
}

#[test]
fn greeks_match_central_differences() {
    for right in [Right::Call, Right::Put] {
        for &(f, k, t, s) in &[
            (60_656.04, 62_000.0, 0.0037, 0.4818),
            (2_143.93, 1_600.0, 0.029, 0.9978),
        ] {
            let x = Inputs::new(f, k, t, s, right);
            let v = bs::value(&x).unwrap();
            let p = |x: Inputs| bs::price(&x).unwrap();
            let h = f * 1e-4;
            let d_fd = (p(Inputs {
                forward: f + h,
                ..x
            }) - p(Inputs {
                forward: f - h,
                ..x
            })) / (2.0 * h);
            let g_fd = (p(Inputs {
                forward: f + h,
                ..x
            }) - 2.0 * v.price
                + p(Inputs {
                    forward: f - h,
                    ..x
                }))
                / (h * h);
            let hs = 1e-5;
            let vega_fd = (p(Inputs { sigma: s + hs, ..x }) - p(Inputs { sigma: s - hs, ..x }))
                / (2.0 * hs)
                / 100.0;
            let ht = 1e-7;
            // theta per day = −∂V/∂T / 365
            let theta_fd = -(p(Inputs {
                t_years: t + ht,
                ..x
            }) - p(Inputs {
                t_years: t - ht,
                ..x
            })) / (2.0 * ht)
                / 365.0;
            assert!(
                (v.delta - d_fd).abs() < 1e-6,
                "{right:?} delta {} vs {d_fd}",
                v.delta
            );
            assert!(
                (v.gamma - g_fd).abs() < 1e-3 * v.gamma.abs() + 1e-9,
                "gamma {} vs {g_fd}",
                v.gamma
            );
            assert!(
                (v.vega - vega_fd).abs() < 1e-6 * f,
                "vega {} vs {vega_fd}",
                v.vega
            );
            assert!(
                (v.theta - theta_fd).abs() < 1e-4 * v.theta.abs(),
                "theta {} vs {theta_fd}",
                v.theta
            );
        }
    }
}

#[test]
fn implied_vol_round_trip() {
    for right in [Right::Call, Right::Put] {
        for &(f, k, t) in &[
            (60_000.0, 50_000.0, 0.1),
            (60_000.0, 68_000.0, 0.005),
            (2_000.0, 2_000.0, 1.0),
        ] {
            for &s in &[0.05, 0.3, 0.8, 2.5] {
                let x = Inputs::new(f, k, t, s, right);
                let p = bs::price(&x).unwrap();
                let iv = bs::implied_vol(&x, p).expect("solvable");
                let back = bs::price(&Inputs { sigma: iv, ..x }).unwrap();
                assert!((back - p).abs() <= 1e-9 * f, "{right:?} {k} {s}: {iv}");
                // Where the price is sensitive to σ, the IV itself comes back.
                if bs::value(&x).unwrap().vega > 1e-4 * f / 100.0 {
                    assert!((iv - s).abs() < 1e-6, "{right:?} {k} {t} {s}: {iv}");
                }
            }
        }
    }
    // Below intrinsic: no IV.
    let x = Inputs::new(100.0, 80.0, 1.0, 0.2, Right::Call);
    assert!(bs::implied_vol(&x, 10.0).is_none());
}

#[test]
fn smile_recovers_a_noisy_quadratic() {
    // σ(k) = 0.55 − 0.3k + 1.2k² plus ±0.002 alternating noise: RMSE ≈ 0.002.
    let pts: Vec<(f64, f64)> = (0..21)
        .map(|i| {
            let k = -0.4 + 0.04 * i as f64;
            let noise = if i % 2 == 0 { 0.002 } else { -0.002 };
            (k, 0.55 - 0.3 * k + 1.2 * k * k + noise)
        })
        .collect();
    let s = smile::fit(pts.iter().copied()).unwrap();
    assert_eq!(s.degree, 2);
    assert!(s.rmse < 0.0021, "{s:?}");
    let iv0 = s.iv(0.0).unwrap();
    assert!((iv0 - 0.55).abs() < 0.002, "{iv0}");
}
