//! # mm-tools
//!
//! The binaries' code: `mm-fast` (the engine: [`run::run`]) and `mm-sim` (the standalone
//! simulator). The library form lets end-to-end tests drive exactly what the binary runs.

pub mod cli;
pub mod hot;
pub mod report;
pub mod run;
pub mod select;
