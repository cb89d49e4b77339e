//! Setup shared by the engine integration tests.

use mm_core::decimal::Dec;
use mm_core::engine::{Engine, EngineConfig};
use mm_core::instrument::{Instrument, InstrumentTable, Kind};
use mm_core::quote::{QuoteParams, SpreadMode};

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

/// An engine on [`table`] quoting a fixed spread of `spread_ticks` ticks (no minimum, no
/// skew), `size` lots a quote, at most `max_position` lots, room for 64 orders; `f` adjusts
/// the configuration before the engine is built.
#[allow(dead_code)] // not every test binary builds one this way
pub fn engine(
    spread_ticks: i64,
    size: i64,
    max_position: i64,
    f: impl FnOnce(&mut EngineConfig),
) -> Engine {
    let t = table();
    let q = QuoteParams {
        spread: SpreadMode::Ticks(spread_ticks),
        min_spread_bps_e2: 0,
        skew_per_100_usd_bps_e2: 0,
    };
    let mut cfg = EngineConfig::uniform(&t, q, size, max_position);
    cfg.order_capacity = 64;
    f(&mut cfg);
    Engine::new(&t, cfg, clock)
}
