//! `mm-fast`: the market-making engine. See `mm-fast --help`.
//!
//! `mm-fast [FLAGS]` runs the engine (flags may come from `--config FILE`, the command line
//! wins); `mm-fast check-config FILE [FLAGS]` validates a configuration and prints what it
//! means; `mm-fast backtest --tape T [FLAGS]` backtests the engine over a tape in process
//! (`mm_tools::backtest`); `mm-fast kill` trips the kill switch of a running engine.
//!
//! Exit codes: 0 = the run ended normally (end of tape, `--duration`, signal); 2 = bad flags,
//! configuration or startup failure (connection, TLS, login, instruments); 3 = the engine's
//! fills/positions differ from the simulator's ledger; 4 = a venue connection was lost during
//! the run (quoting stopped; no reconnect yet).

use mm_tools::config::{self, CliError, Command};
use mm_tools::run::{run, RunExtras};

/// Logging: `--log LEVEL` (or `RUST_LOG`); `--log-quotes` also enables the quote log's
/// target at `info`.
fn init_log(level: &str, log_quotes: bool) {
    let mut b = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level));
    if log_quotes {
        b.filter_module(mm_tools::quotelog::TARGET, log::LevelFilter::Info);
    }
    b.init();
}

fn main() {
    let cmd = match config::parse_command_line(std::env::args_os()) {
        Ok(c) => c,
        Err(CliError::Clap(e)) => e.exit(),
        Err(CliError::Config(e)) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    match cmd {
        Command::Kill(k) => match mm_tools::kill::kill_command(&k) {
            Ok(msg) => println!("{}", msg.trim_end()),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        },
        Command::Backtest(inv) => {
            init_log(&inv.loaded.args.log, false);
            if let Err(e) = mm_tools::backtest::command(&inv) {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        }
        Command::CheckConfig(l) => {
            init_log(&l.args.log, l.args.log_quotes);
            match config::check_config(&l) {
                Ok(text) => print!("{text}"),
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(2);
                }
            }
        }
        Command::Run(l) => {
            init_log(&l.args.log, l.args.log_quotes);
            for w in &l.warnings {
                log::warn!("{w}");
            }
            match run(&l.args, RunExtras::default()) {
                Ok(out) => {
                    mm_tools::report::print_summary(&out.report);
                    let r = &out.report.stop_reason;
                    if r == mm_tools::run::STOP_ORDER_CONN_LOST
                        || r == mm_tools::run::STOP_MD_CONN_LOST
                    {
                        eprintln!(
                            "error: {r}: reconnecting gave up (--reconnect-max-secs) or is off; \
                             the venue's cancel-on-disconnect cancels the orders of the order \
                             connection"
                        );
                        std::process::exit(4);
                    }
                    if r == mm_tools::run::STOP_JOURNAL_FAILED {
                        eprintln!(
                            "error: {r}: a fill could not be made durable in the journal, \
                             quoting stopped (see the log for the OS error)"
                        );
                        std::process::exit(5);
                    }
                    if out.report.ledger_match == Some(false) {
                        eprintln!(
                            "error: the engine's fills/positions differ from the simulator's ledger"
                        );
                        std::process::exit(3);
                    }
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(2);
                }
            }
        }
    }
}
