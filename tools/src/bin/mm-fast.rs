//! `mm-fast`: the market-making engine. See `mm-fast --help`.

use clap::Parser;
use mm_tools::cli::Args;
use mm_tools::run::{run, RunExtras};

fn main() {
    let args = Args::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(args.log.as_str()))
        .init();
    match run(&args, RunExtras::default()) {
        Ok(out) => {
            mm_tools::report::print_summary(&out.report);
            if out.report.ledger_match == Some(false) {
                eprintln!("error: the engine's fills/positions differ from the simulator's ledger");
                std::process::exit(3);
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
