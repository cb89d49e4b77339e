//! Deribit JSON-RPC v2: codec, instruments, connection loops.
