//! `--sweep key=v1,v2,…`: the cartesian grid of backtests, in parallel on all cores (rayon),
//! over one preloaded tape, and a ranked table.
//!
//! Ranking: by marked PnL divided by (1 + max |inventory| in USD/100), i.e. PnL per 100 USD
//! of peak inventory risk (so a run that earns the same with less inventory ranks higher);
//! ties by PnL. The table shows the swept values, fills, PnL, max |inventory|, Sharpe (per
//! second, not annualised) and max drawdown.

use super::args::Invocation;
use super::feed::Feed;
use super::{run, BacktestReport, Settings};
use rayon::prelude::*;
use serde::Serialize;
use std::time::Instant;

/// The JSON of a sweep (`--report-json`).
#[derive(Clone, Debug, Serialize)]
pub struct SweepReport {
    /// Grid points.
    pub runs_total: usize,
    /// Wall seconds of the whole grid (after the load).
    pub wall_s: f64,
    /// Tape load, seconds (once for all runs).
    pub load_s: f64,
    /// Market-data events per second over all runs (Σ events / wall time).
    pub events_per_sec: f64,
    /// Threads used.
    pub threads: usize,
    /// Every run, best first.
    pub runs: Vec<BacktestReport>,
}

/// The ranking score (see the module docs).
pub fn score(r: &BacktestReport) -> f64 {
    r.run.metrics.marked_pnl / (1.0 + r.run.metrics.max_abs_inventory_usd / 100.0)
}

/// Runs every grid point of `inv` on `feed`, prints the ranked table, writes
/// `--report-json`.
///
/// # Errors
/// A grid point whose flags the engine refuses (named), an unwritable report.
pub fn run_grid(inv: &Invocation, feed: &Feed) -> Result<(), String> {
    let argv0: std::ffi::OsString = "mm-fast".into();
    let start = Instant::now();
    let results: Vec<Result<BacktestReport, String>> = inv
        .grid
        .par_iter()
        .map(|point| {
            let label = point
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            let (loaded, bt) = inv.point(&argv0, point).map_err(|e| e.to_string())?;
            if loaded.args.tape != inv.loaded.args.tape
                || loaded.args.instruments != inv.loaded.args.instruments
            {
                return Err(format!(
                    "{label}: --tape and --instruments cannot be swept (one preloaded tape)"
                ));
            }
            let settings = Settings::from_args(&bt).map_err(|e| format!("{label}: {e}"))?;
            let mut model = super::model::Calibrated::from_args(&loaded.args, &feed.table)
                .map_err(|e| format!("{label}: {e}"))?;
            let mut out = run(feed, &loaded.args, &settings, &mut model)
                .map_err(|e| format!("{label}: {e}"))?;
            out.report.backtest.params = point.iter().cloned().collect();
            Ok(out.report)
        })
        .collect();
    let wall_s = start.elapsed().as_secs_f64();
    let mut runs = Vec::with_capacity(results.len());
    for r in results {
        runs.push(r?);
    }
    runs.sort_by(|a, b| {
        score(b).total_cmp(&score(a)).then(
            b.run
                .metrics
                .marked_pnl
                .total_cmp(&a.run.metrics.marked_pnl),
        )
    });
    let events = feed.events.len() as f64 * runs.len() as f64;
    let rep = SweepReport {
        runs_total: runs.len(),
        wall_s,
        load_s: feed.load_s,
        events_per_sec: if wall_s > 0.0 { events / wall_s } else { 0.0 },
        threads: rayon::current_num_threads(),
        runs,
    };
    print_table(&rep);
    if let Some(p) = &inv.loaded.args.report_json {
        let text = serde_json::to_string_pretty(&rep).map_err(|e| e.to_string())?;
        std::fs::write(p, text).map_err(|e| format!("write {}: {e}", p.display()))?;
    }
    Ok(())
}

/// Prints the ranked table.
pub fn print_table(rep: &SweepReport) {
    let ccy = rep
        .runs
        .first()
        .map_or("USD", |r| match r.run.pnl.currency.as_str() {
            c @ ("USDT" | "USDC") => c,
            _ => "USD",
        });
    println!(
        "mm-fast backtest sweep: {} runs on {} threads in {:.2} s (load {:.2} s once), {:.0} md events/s overall",
        rep.runs_total, rep.threads, rep.wall_s, rep.load_s, rep.events_per_sec
    );
    println!(
        "{:>4}  {:<40} {:>7} {:>12} {:>12} {:>14} {:>9} {:>12} {:>12}",
        "rank",
        "params",
        "fills",
        format!("pnl {ccy}"),
        "pnl/risk",
        format!("max|inv| {ccy}"),
        "sharpe/s",
        "max dd",
        "events/s"
    );
    for (k, r) in rep.runs.iter().enumerate() {
        let params = r
            .backtest
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let m = &r.run.metrics;
        println!(
            "{:>4}  {:<40} {:>7} {:>12.4} {:>12.4} {:>14.2} {:>9} {:>12.4} {:>12.0}",
            k + 1,
            params,
            r.run.fills,
            m.marked_pnl,
            score(r),
            m.max_abs_inventory_usd,
            m.sharpe_per_second
                .map_or("-".to_string(), |v| format!("{v:.3}")),
            m.max_drawdown_usd,
            r.events_per_sec
        );
    }
}
