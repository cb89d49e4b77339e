//! `mm-latency`: the wire-to-wire latency harness (see `mm_tools::latency`).
//!
//! ```text
//! mm-latency --json lat.json --hgrm hgrm/          # measure (the `run` subcommand) on the
//!                                                  # recorded Binance BTCUSDT tape
//! mm-latency --tape touch-walk --rate 2000         # the synthetic tape instead
//! mm-latency plot hgrm/wire_to_wire.hgrm hgrm/echo_rtt.hgrm -o lat.png
//! ```

use clap::Parser;
use mm_tools::latency::{main_with, Cli, Command};

fn main() {
    let cli = Cli::parse();
    let log = match &cli.command {
        Some(Command::Run(r)) => r.log.clone(),
        Some(Command::Plot(_)) => "warn".into(),
        None => cli.run.log.clone(),
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(log.as_str()))
        .init();
    if let Err(e) = main_with(cli) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
