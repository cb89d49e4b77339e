//! # mm-core
//!
//! The hot path of mm-fast: integer tick/lot types, the instrument table, the book mirror,
//! order state, quoting, risk and the step functions the pinned hot thread runs
//! (`../shared/docs/design.md` §1–§2).
//!
//! Contract: nothing in this crate does IO. The hot-thread types ([`engine::Engine`] and what
//! it owns) allocate on construction, never after; their step functions take events and write
//! intents into caller-provided sinks.

pub mod decimal;
pub mod event;
pub mod instrument;
pub mod types;

pub use book::{Book, BookView};
pub use decimal::Dec;
pub use event::*;
pub use instrument::{Instrument, InstrumentTable, Kind};
pub use types::*;
pub mod book;
pub mod engine;
pub mod model;
pub mod options;
pub mod orders;
pub mod quote;
pub mod reject;
pub mod risk;
