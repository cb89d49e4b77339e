//! # mm-tools
//!
//! The binaries' code: `mm-fast` (the engine: [`run::run`]), `mm-sim` (the standalone
//! simulator) and `mm-latency` (the wire-to-wire latency harness: [`latency`]). The library
//! form lets end-to-end tests drive exactly what the binary runs.

pub mod backtest;
pub mod breaches;
pub mod cli;
pub mod config;
pub mod frame_work;
pub mod hot;
pub mod inline;
pub mod journal;
pub mod kill;
pub mod latency;
pub mod metrics;
pub mod quotelog;
pub mod quoting;
pub mod report;
pub mod run;
pub mod select;
pub mod status;
pub mod workers;
