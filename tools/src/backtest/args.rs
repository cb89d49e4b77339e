//! `mm-fast backtest` command line: the backtest's own flags ([`BacktestArgs`]) plus every
//! `mm-fast` flag (strategy, limits, `--tape`, `--config`, `--report-json`, …), and the
//! `--sweep key=v1,v2,…` grid expansion.
//!
//! The backtest flags are taken out of the command line first; what is left is parsed exactly
//! as `mm-fast [FLAGS]` (so `--config FILE` merges the same way). A sweep point is the same
//! command line with the swept flags replaced (`--key=value`), parsed again: a swept key may
//! be any `mm-fast` flag or backtest flag.

use crate::config::{parse_args, CliError, Loaded};
use clap::{CommandFactory, Parser, ValueEnum};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

/// Queue-position model (`--queue`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum QueueArg {
    /// hftbacktest `RiskAdverseQueueModel` (the simulator's rule).
    RiskAverse,
    /// hftbacktest `ProbQueueModel` with `f(x) = x^n` (`--queue-power n`).
    Prob,
    /// hftbacktest `ProbQueueModel` with `f(x) = ln(1 + x)`.
    ProbLog,
}

/// Flags of `mm-fast backtest` besides the `mm-fast` flags.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "mm-fast backtest",
    about = "Deterministic in-process backtest: the engine's step functions over a tape, with \
             feed/order latency and a queue-position model.",
    after_help = "Every mm-fast flag is accepted as well (--tape, --config, --report-json, \
                  --spread-bps, --size, --max-position, …; see mm-fast --help)."
)]
pub struct BacktestArgs {
    /// Feed latency, µs: the engine sees a market-data event this long after its tape time.
    #[arg(long, value_name = "US", default_value_t = 0.0)]
    pub feed_latency_us: f64,
    /// Order-entry latency, µs: an intent reaches the matching model this long after the
    /// engine decided.
    #[arg(long, value_name = "US", default_value_t = 0.0)]
    pub order_latency_us: f64,
    /// Response latency, µs: acks, rejects and fills reach the engine this long after the
    /// matching model produced them (default: the order latency, or a draw from
    /// `--latency-hgrm`).
    #[arg(long, value_name = "US")]
    pub response_latency_us: Option<f64>,
    /// Draw the order-entry (and, without `--response-latency-us`, the response) latency of
    /// each message from this recorded histogram (`.hgrm`, as `mm-fast --hgrm` and
    /// `mm-latency` write), with a generator seeded by `--seed`.
    #[arg(long, value_name = "FILE")]
    pub latency_hgrm: Option<PathBuf>,
    /// Seed of the latency draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Queue-position model: `risk-averse`, `prob` (power function), `prob-log`.
    #[arg(long, value_enum, default_value = "risk-averse")]
    pub queue: QueueArg,
    /// Exponent n of the `prob` queue model's `f(x) = x^n`.
    #[arg(long, value_name = "N", default_value_t = 3.0)]
    pub queue_power: f64,
    /// Directory of the plots (`equity.png`, `position.png`, `quotes.png`) and `pnl.csv`.
    #[arg(long, value_name = "DIR", default_value = "backtest-out")]
    pub out_dir: PathBuf,
    /// Write no plots and no CSV.
    #[arg(long)]
    pub no_plots: bool,
    /// Interval of the PnL/position/quote series, ms of tape time.
    #[arg(long, value_name = "MS", default_value_t = 250)]
    pub sample_ms: u64,
    /// Parameter grid: `key=v1,v2,…` (repeatable; key = any mm-fast or backtest flag, e.g.
    /// `spread-bps=2,5,10`). The cartesian grid runs in parallel on all cores and a ranked
    /// table is printed; `--report-json` holds every run.
    #[arg(long, value_name = "KEY=V1,V2,..")]
    pub sweep: Vec<String>,
}

/// A parsed `mm-fast backtest` command line.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// The `mm-fast` flags (config merged).
    pub loaded: Loaded,
    /// The backtest flags.
    pub bt: BacktestArgs,
    /// The grid points (`[]` without `--sweep`): per run, the swept `(flag, value)` pairs.
    pub grid: Vec<Vec<(String, String)>>,
    /// The command line after `backtest`, `--sweep` items removed (re-parsed per grid point).
    pub rest: Vec<OsString>,
}

/// `long name → takes a value` for the flags of `cmd`.
fn flag_table(cmd: &clap::Command) -> BTreeMap<String, bool> {
    cmd.get_arguments()
        .filter_map(|a| {
            a.get_long()
                .map(|l| (l.to_string(), a.get_action().takes_values()))
        })
        .collect()
}

/// One command-line item: `--name[=value]` with its value, or a bare token.
#[derive(Clone, Debug)]
struct Item {
    name: Option<String>,
    tokens: Vec<OsString>,
}

/// Groups `argv` (after the subcommand) into items, using `flags` to know which flags take a
/// value from the next token.
fn items(argv: &[OsString], flags: &BTreeMap<String, bool>) -> Vec<Item> {
    let mut out = Vec::new();
    let mut k = 0;
    while k < argv.len() {
        let s = argv[k].to_string_lossy().into_owned();
        if let Some(body) = s.strip_prefix("--") {
            let (name, has_eq) = match body.split_once('=') {
                Some((n, _)) => (n.to_string(), true),
                None => (body.to_string(), false),
            };
            let mut tokens = vec![argv[k].clone()];
            if !has_eq && flags.get(&name).copied().unwrap_or(false) && k + 1 < argv.len() {
                tokens.push(argv[k + 1].clone());
                k += 1;
            }
            out.push(Item {
                name: Some(name),
                tokens,
            });
        } else {
            out.push(Item {
                name: None,
                tokens: vec![argv[k].clone()],
            });
        }
        k += 1;
    }
    out
}

/// Splits `rest` into (backtest flags, mm-fast flags) and parses both.
fn parse_split(argv0: &OsString, rest: &[OsString]) -> Result<(Loaded, BacktestArgs), CliError> {
    let bt_cmd = BacktestArgs::command();
    let bt_flags = flag_table(&bt_cmd);
    let mut all = flag_table(&crate::config::command());
    all.extend(bt_flags.clone());
    let mut bt_argv = vec![OsString::from("mm-fast backtest")];
    let mut mm_argv = vec![argv0.clone()];
    for it in items(rest, &all) {
        let is_bt = it
            .name
            .as_deref()
            .is_some_and(|n| bt_flags.contains_key(n) || n == "help")
            || it.tokens[0] == "-h";
        if is_bt {
            bt_argv.extend(it.tokens);
        } else {
            mm_argv.extend(it.tokens);
        }
    }
    let bt = BacktestArgs::try_parse_from(bt_argv)?;
    let loaded = parse_args(mm_argv)?;
    Ok((loaded, bt))
}

/// Parses `mm-fast backtest …` (`argv[0]` = the binary, `argv[1]` = `backtest`).
///
/// # Errors
/// clap errors (usage, `--help`), configuration errors, and sweep errors (malformed item,
/// unknown key, empty value list) as [`CliError::Config`].
pub fn parse(argv: &[OsString]) -> Result<Invocation, CliError> {
    let argv0 = argv.first().cloned().unwrap_or_else(|| "mm-fast".into());
    let rest_all: Vec<OsString> = argv.iter().skip(2).cloned().collect();
    let (loaded, bt) = parse_split(&argv0, &rest_all)?;
    // The command line without the --sweep items.
    let mut all = flag_table(&crate::config::command());
    all.extend(flag_table(&BacktestArgs::command()));
    let rest: Vec<OsString> = items(&rest_all, &all)
        .into_iter()
        .filter(|i| i.name.as_deref() != Some("sweep"))
        .flat_map(|i| i.tokens)
        .collect();
    let mut axes: Vec<(String, Vec<String>)> = Vec::new();
    for s in &bt.sweep {
        let Some((k, vs)) = s.split_once('=') else {
            return Err(CliError::Config(format!(
                "--sweep {s}: expected KEY=V1,V2,… (e.g. spread-bps=2,5,10)"
            )));
        };
        let key = k.trim().trim_start_matches("--").replace('_', "-");
        if !all.contains_key(&key) || matches!(key.as_str(), "sweep" | "config" | "help") {
            return Err(CliError::Config(format!(
                "--sweep {s}: unknown key {key:?} (keys are mm-fast or backtest flag names, \
                 e.g. spread-bps)"
            )));
        }
        let values: Vec<String> = vs
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if values.is_empty() {
            return Err(CliError::Config(format!("--sweep {s}: no values")));
        }
        if axes.iter().any(|a| a.0 == key) {
            return Err(CliError::Config(format!("--sweep: key {key} given twice")));
        }
        axes.push((key, values));
    }
    let mut grid: Vec<Vec<(String, String)>> = if axes.is_empty() {
        Vec::new()
    } else {
        vec![Vec::new()]
    };
    for (k, vs) in &axes {
        grid = grid
            .into_iter()
            .flat_map(|p| {
                vs.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push((k.clone(), v.clone()));
                    q
                })
            })
            .collect();
    }
    let inv = Invocation {
        loaded,
        bt,
        grid,
        rest,
    };
    // Every grid point must parse (bad values are reported before anything runs).
    for p in &inv.grid {
        inv.point(&argv0, p)?;
    }
    Ok(inv)
}

impl Invocation {
    /// The flags of one grid point: the command line with the swept flags replaced.
    ///
    /// # Errors
    /// As [`parse`] (a value the flag refuses).
    pub fn point(
        &self,
        argv0: &OsString,
        point: &[(String, String)],
    ) -> Result<(Loaded, BacktestArgs), CliError> {
        let mut all = flag_table(&crate::config::command());
        all.extend(flag_table(&BacktestArgs::command()));
        let mut argv: Vec<OsString> = items(&self.rest, &all)
            .into_iter()
            .filter(|i| {
                i.name
                    .as_deref()
                    .is_none_or(|n| !point.iter().any(|(k, _)| k == n))
            })
            .flat_map(|i| i.tokens)
            .collect();
        for (k, v) in point {
            if all.get(k).copied().unwrap_or(true) {
                argv.push(format!("--{k}={v}").into());
            } else if matches!(v.as_str(), "true" | "1" | "on" | "yes") {
                argv.push(format!("--{k}").into());
            }
        }
        parse_split(argv0, &argv).map_err(|e| match e {
            CliError::Clap(c) => CliError::Config(format!(
                "--sweep point {}: {}",
                point
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                c.to_string().lines().next().unwrap_or("")
            )),
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn splits_backtest_and_engine_flags_and_expands_the_grid() {
        let inv = parse(&argv(
            "mm-fast backtest --tape x.gz --queue prob --spread-bps 5 --order-latency-us 100 \
             --sweep spread-bps=2,5 --sweep queue=risk-averse,prob",
        ))
        .unwrap();
        assert_eq!(inv.bt.queue, QueueArg::Prob);
        assert_eq!(inv.bt.order_latency_us, 100.0);
        assert_eq!(inv.loaded.args.spread_bps, Some(5.0));
        assert_eq!(inv.grid.len(), 4);
        let (l, b) = inv.point(&"mm-fast".into(), &inv.grid[2]).unwrap();
        assert_eq!(l.args.spread_bps, Some(5.0));
        assert_eq!(b.queue, QueueArg::RiskAverse);
        assert_eq!(b.order_latency_us, 100.0);
    }

    #[test]
    fn bad_sweeps_are_errors() {
        for bad in [
            "mm-fast backtest --tape x --sweep nonsense=1,2",
            "mm-fast backtest --tape x --sweep spread-bps",
            "mm-fast backtest --tape x --sweep spread-bps=",
            "mm-fast backtest --tape x --sweep spread-bps=a,b",
        ] {
            assert!(
                matches!(parse(&argv(bad)), Err(CliError::Config(_))),
                "{bad}"
            );
        }
    }
}
