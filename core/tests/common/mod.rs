//! Setup shared by the engine integration tests.

use mm_core::decimal::Dec;
use mm_core::instrument::{Instrument, InstrumentTable, Kind};

/// The engine clock of the tests: a constant 42 ns (decisions use the times passed in).
pub fn clock() -> u64 {
    42
}

/// One instrument: `BTC-PERPETUAL`, tick 0.5 USD, lot 10 USD (inverse perpetual, as on
/// Deribit).
pub fn table() -> InstrumentTable {
    let mut t = InstrumentTable::new();
    t.push(Instrument::new(
        "BTC-PERPETUAL",
        Kind::Perpetual,
        Dec::new(5, 1),
        Dec::new(10, 0),
    ))
    .unwrap();
    t
}
