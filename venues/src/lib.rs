//! # mm-venues
//!
//! One module per venue behind the engine's event vocabulary (`mm_core::event`):
//! - [`deribit`]: the Deribit JSON-RPC v2 codec (market-data and private-channel decoding,
//!   request encoding, instrument metadata) and the md/gateway connection loops;
//! - [`sim`]: the local venue simulator, a Deribit-protocol WebSocket server on loopback that
//!   replays recorded tapes and matches our orders, with a ledger of its own.

pub mod deribit;
pub mod sim;
