//! The local Deribit-protocol venue simulator.
