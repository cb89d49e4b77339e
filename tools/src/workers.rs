//! The engine's worker threads as the control thread sees them, for either topology
//! (`--topology`, [`crate::cli::TopologyArg`]): "has the md side ended", "end the order side",
//! "join and hand back the results", whether three threads or one do the work.

use crate::inline::InlineOutput;
use mm_core::engine::Engine;
use mm_venues::deribit::feed::FeedStats;
use mm_venues::deribit::gateway::GatewayStats;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long [`Workers::end_md`] / [`Workers::end_gateway`] wait for the inline thread to
/// close a connection after its stop flag was set (it looks every turn, ≤ 1 ms apart).
const INLINE_STOP_WAIT: Duration = Duration::from_secs(5);

/// The running worker threads.
// One per run, held by the control thread: the size difference is harmless.
#[allow(clippy::large_enum_variant)]
pub enum Workers {
    /// md, gateway and hot threads (design.md §1). A handle is taken when joined.
    Split {
        /// The md thread.
        md: Option<JoinHandle<Result<FeedStats, String>>>,
        /// Its result, once joined.
        md_out: Option<Result<FeedStats, String>>,
        /// The gateway thread.
        gw: Option<JoinHandle<GatewayStats>>,
        /// Its result, once joined.
        gw_out: Option<GatewayStats>,
        /// The hot thread.
        hot: JoinHandle<(Engine, u64, u64)>,
    },
    /// One engine thread ([`crate::inline`]).
    Inline {
        /// The engine thread.
        engine: JoinHandle<InlineOutput>,
        /// Set by it when the md connection ended.
        md_ended: Arc<AtomicBool>,
        /// Set by it when the order connection ended.
        gw_ended: Arc<AtomicBool>,
    },
}

/// What the workers hand back: md counters (or the md startup error), order-connection
/// counters, and the engine with the telemetry and calibration samples dropped.
pub type WorkerResults = (Result<FeedStats, String>, GatewayStats, (Engine, u64, u64));

impl Workers {
    /// The md side ended (stopped, startup failed, or reconnecting given up).
    pub fn md_finished(&self) -> bool {
        match self {
            Workers::Split { md, .. } => md.as_ref().is_none_or(|h| h.is_finished()),
            Workers::Inline {
                engine, md_ended, ..
            } => md_ended.load(Ordering::Acquire) || engine.is_finished(),
        }
    }

    /// The order side ended.
    pub fn gw_finished(&self) -> bool {
        match self {
            Workers::Split { gw, .. } => gw.as_ref().is_none_or(|h| h.is_finished()),
            Workers::Inline {
                engine, gw_ended, ..
            } => gw_ended.load(Ordering::Acquire) || engine.is_finished(),
        }
    }

    /// The engine's thread ended (it only does after `exit`, or by panicking).
    pub fn hot_finished(&self) -> bool {
        match self {
            Workers::Split { hot, .. } => hot.is_finished(),
            Workers::Inline { engine, .. } => engine.is_finished(),
        }
    }

    /// After the md stop flag was set: waits until the md side has closed (split: joins
    /// the md thread).
    ///
    /// # Errors
    /// The md thread panicked.
    pub fn end_md(&mut self) -> Result<(), String> {
        match self {
            Workers::Split { md, md_out, .. } => {
                if let Some(h) = md.take() {
                    *md_out = Some(h.join().map_err(|_| "md thread panicked")?);
                }
                Ok(())
            }
            Workers::Inline { .. } => {
                self.wait_inline(Self::md_finished);
                Ok(())
            }
        }
    }

    /// After the gateway stop flag was set: waits until the order side has closed (split:
    /// joins the gateway thread).
    ///
    /// # Errors
    /// The gateway thread panicked.
    pub fn end_gateway(&mut self) -> Result<(), String> {
        match self {
            Workers::Split { gw, gw_out, .. } => {
                if let Some(h) = gw.take() {
                    *gw_out = Some(h.join().map_err(|_| "gateway thread panicked")?);
                }
                Ok(())
            }
            Workers::Inline { .. } => {
                self.wait_inline(Self::gw_finished);
                Ok(())
            }
        }
    }

    /// After `exit` was set: joins what is left and returns the results.
    ///
    /// # Errors
    /// A worker thread panicked.
    pub fn join(mut self) -> Result<WorkerResults, String> {
        self.end_md()?;
        self.end_gateway()?;
        match self {
            Workers::Split {
                md_out,
                gw_out,
                hot,
                ..
            } => {
                let hot = hot.join().map_err(|_| "hot thread panicked")?;
                Ok((
                    md_out.unwrap_or_else(|| Ok(FeedStats::default())),
                    gw_out.unwrap_or_default(),
                    hot,
                ))
            }
            Workers::Inline { engine, .. } => engine
                .join()
                .map_err(|_| "engine thread panicked".to_string()),
        }
    }

    fn wait_inline(&self, done: fn(&Workers) -> bool) {
        let until = Instant::now() + INLINE_STOP_WAIT;
        while !done(self) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
