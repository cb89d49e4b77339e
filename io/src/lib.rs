//! # mm-io
//!
//! The IO layer of mm-fast (`../shared/docs/design.md` §1, §5): SPSC rings between threads,
//! thread spawning with CPU pinning and idle policies, the monotonic clock, latency
//! histograms, and the non-blocking WebSocket client (mio + tungstenite + rustls).
//!
//! ## Contract
//!
//! - **Allocates on construction, never after** — on the paths the hot thread uses.
//!   [`ring()`] allocates its slot array once; [`Producer::push`] and [`Consumer::pop`] never
//!   allocate, never block, never make a system call and are wait-free. [`clock::now`] reads
//!   the TSC (after [`clock::calibrate`] ran at startup). [`IdleWaiter::idle`] allocates
//!   nothing (its `Yield`/`Park` policies do make system calls, by design).
//! - **Cold paths say so.** [`LatencyRecorder`] allocates its histograms in `new` and
//!   `record` never allocates (fixed bounds, values clamped and counted), but its reports
//!   allocate and do IO. [`WsClient`] allocates buffers on connect; its read path reuses them
//!   except where tungstenite does not allow it (listed in [`ws`]); it runs on md and
//!   gateway threads, never on the hot thread.
//! - **Thread affinity.** Each ring half is `Send` but not `Sync`: one thread at a time.
//!   A [`WsClient`] belongs to one thread.
//! - **No panics on bad input.** Network and configuration errors are returned as values
//!   ([`WsError`], [`thread::CpuError`]); a full ring hands the value back to the caller.

pub mod clock;
pub mod ring;
pub mod telemetry;
pub mod thread;
pub mod wake;
pub mod ws;

pub use ring::{ring, Consumer, Producer};
pub use telemetry::{LatencyRecorder, Percentiles};
pub use thread::{spawn_pinned, Idle, IdleWaiter};
pub use wake::Doorbell;
#[cfg(unix)]
pub use ws::wait_any;
pub use ws::{WsClient, WsError, WsOptions};
