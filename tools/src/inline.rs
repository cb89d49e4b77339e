//! `--topology inline`: one engine thread reads, decides and writes.
//!
//! The threaded topology of design.md §1 (md thread → md ring → hot thread → intent ring →
//! gateway thread) needs one CPU per polling thread. With fewer CPUs than that (a 2-vCPU
//! box, a laptop, CI) every ring hop becomes a wait for the next thread's scheduler turn or
//! a wake-up of a sleeping thread: measured on a 2-vCPU KVM guest, the two hops cost 35–60 µs
//! of a ~150 µs wire-to-wire path whose work is ~15 µs (`bench/latency-figures.md`). Inline,
//! one thread does what the three did, in the echo's shape: read a frame → decode → decide
//! → encode and write, with no hop in between.
//!
//! One turn of [`inline_loop`]:
//! 1. fresh model coefficients (the calibration thread still runs apart, behind its rings);
//! 2. the md connection ([`FeedLink::poll`]): every frame available is decoded and each event
//!    goes straight to the engine ([`EngineMd`]); the engine's intents go to the intent ring;
//! 3. the control thread's halt;
//! 4. the order connection ([`GatewayLink::poll`]): the intents are written (credit budget
//!    first), replies and notifications are read and each report goes straight to the engine
//!    ([`EngineExec`]);
//! 5. with no work: exit check, publication, `Engine::on_idle`, then the idle policy; `wake`
//!    blocks in one `poll(2)` over both sockets ([`mm_io::wait_any`]) for at most
//!    [`mm_io::thread::WAKE_MAX_SLEEP`].
//!
//! The intent ring stays (the engine's [`mm_core::engine::IntentSink`] contract, and it
//! decouples a decision from the write within the turn); the exec and md rings are not used.
//! Telemetry still goes through the three telemetry rings to the control thread, so reports,
//! `--hgrm` and `--stats-interval` are unchanged; the `ring` stage (md → hot hop) is empty.
//!
//! Trade-offs (README "Thread topology"): the order connection's work (encoding, journal
//! writes, reconciliation after a reconnect) runs on the engine thread, so a reconnect
//! attempt blocks market data for its duration (a few round trips), and the thread is not
//! allocation-free (the gateway's bookkeeping allocates; the threaded topology's hot thread
//! is). The kill switch and the end-of-run halt are seen within one turn, or within
//! [`mm_io::thread::WAKE_MAX_SLEEP`] when the thread sleeps under `wake`.

use crate::hot::{HotControl, HotState, ModelRings};
use mm_core::engine::Engine;
use mm_core::event::{ExecEvent, MdEvent, OrderIntent, Telemetry};
use mm_io::ring::{Consumer, Producer};
use mm_io::{Doorbell, Idle, IdleWaiter};
use mm_venues::deribit::feed::{FeedLink, FeedStats, MdSink};
use mm_venues::deribit::gateway::{ExecSink, GatewayLink, GatewayStats, LinkPoll};
use std::sync::atomic::{AtomicBool, Ordering};

/// Delivers market data straight to the engine (the md ring's place, inline).
pub struct EngineMd<'h, 'a> {
    /// The engine's state.
    pub hot: &'h mut HotState<'a>,
    /// The clock (ns) that stamps the decision's start.
    pub clock: fn() -> u64,
}

impl MdSink for EngineMd<'_, '_> {
    #[inline]
    fn push(&mut self, ev: MdEvent, _stats: &mut FeedStats) {
        let t = (self.clock)();
        self.hot.on_md(&ev, t);
    }
    #[inline]
    fn frame_done(&mut self) {}
    /// An intent is waiting: stop reading so the order connection writes it this turn.
    #[inline]
    fn hand_back(&self) -> bool {
        self.hot.intents_pending()
    }
}

/// Delivers execution reports straight to the engine (the exec ring's place, inline).
pub struct EngineExec<'h, 'a> {
    /// The engine's state.
    pub hot: &'h mut HotState<'a>,
    /// The clock (ns).
    pub clock: fn() -> u64,
}

impl ExecSink for EngineExec<'_, '_> {
    #[inline]
    fn push(&mut self, ev: ExecEvent) {
        let t = (self.clock)();
        self.hot.on_exec(&ev, t);
    }
}

/// The inline thread's connections and rings.
pub struct InlineIo<'a> {
    /// The md connection (`Err`: its first login failed; logged, md counts as ended).
    pub md: Result<FeedLink, String>,
    /// The order connection.
    pub gw: GatewayLink,
    /// Intents, both ends (the engine pushes, the order connection pops).
    pub intents: (&'a mut Producer<OrderIntent>, &'a mut Consumer<OrderIntent>),
    /// Telemetry rings of the engine, the md link and the order link.
    pub tel: [&'a mut Producer<Telemetry>; 3],
    /// Model rings, when a calibrator runs.
    pub model: Option<ModelRings>,
}

/// Stop and ended flags between the control thread and the inline thread.
pub struct InlineFlags<'a> {
    /// The control thread's halt/exit flags and published state.
    pub ctl: &'a HotControl,
    /// Set by control: close the md connection.
    pub stop_md: &'a AtomicBool,
    /// Set by control: close the order connection.
    pub stop_gw: &'a AtomicBool,
    /// Set here when the md link ended (stopped, or reconnecting given up).
    pub md_ended: &'a AtomicBool,
    /// Set here when the order link ended.
    pub gw_ended: &'a AtomicBool,
}

/// What the inline thread returns: the md counters (or the md startup error), the order
/// connection's counters, and as [`crate::hot::hot_loop`]: the engine, telemetry records
/// dropped, calibration samples dropped.
pub type InlineOutput = (Result<FeedStats, String>, GatewayStats, (Engine, u64, u64));

/// Runs the engine, the md connection and the order connection on the calling thread until
/// `flags.ctl.exit` (see the module doc for one turn). The md and order links run until
/// their stop flags (or give up reconnecting: their `ended` flag tells the control thread);
/// the engine runs until `exit`.
pub fn inline_loop(
    engine: Engine,
    io: InlineIo<'_>,
    flags: InlineFlags<'_>,
    idle: Idle,
    clock: fn() -> u64,
) -> InlineOutput {
    let InlineIo {
        md,
        mut gw,
        intents: (intent_tx, intent_rx),
        tel: [tel_hot, tel_md, tel_gw],
        model,
    } = io;
    let (mut md, md_err) = match md {
        Ok(l) => (Some(l), None),
        Err(e) => {
            flags.md_ended.store(true, Ordering::Release);
            (None, Some(e))
        }
    };
    // No gateway thread to wake: the intent pushes ring a disabled doorbell.
    let no_bell = Doorbell::disabled();
    let mut hot = HotState::new(engine, intent_tx, &no_bell, tel_hot, model);
    let mut waiter = IdleWaiter::new(idle);
    let ctl = flags.ctl;
    loop {
        let mut work = hot.on_coeffs(clock);
        if let Some(link) = md.as_mut().filter(|l| !l.is_ended()) {
            let mut sink = EngineMd {
                hot: &mut hot,
                clock,
            };
            match link.poll(&mut sink, tel_md, flags.stop_md) {
                LinkPoll::Work => work = true,
                LinkPoll::Ended => flags.md_ended.store(true, Ordering::Release),
                LinkPoll::Idle | LinkPoll::Down => {}
            }
        }
        hot.on_halt(ctl, clock);
        if !gw.is_ended() {
            let mut sink = EngineExec {
                hot: &mut hot,
                clock,
            };
            match gw.poll(intent_rx, &mut sink, tel_gw, flags.stop_gw) {
                LinkPoll::Work => work = true,
                LinkPoll::Ended => flags.gw_ended.store(true, Ordering::Release),
                LinkPoll::Idle | LinkPoll::Down => {}
            }
        }
        if work {
            waiter.reset();
            continue;
        }
        if ctl.exit.load(Ordering::Acquire) {
            break;
        }
        hot.on_idle(ctl, clock);
        if !intent_rx.is_empty() && !gw.is_ended() {
            // `on_idle` decided something: write it on the next turn, no sleep.
            continue;
        }
        if waiter.should_sleep_after(mm_io::thread::WAKE_SOCKET_SPINS) && !gw.has_queued() {
            // `--idle wake`: block until either socket is readable (or the order socket
            // writable with bytes queued), at most the longest sleep (timers, stop, halt).
            let md_conn = md.as_ref().and_then(|l| l.connection());
            wait_both([md_conn, gw.connection()], mm_io::thread::WAKE_MAX_SLEEP);
        } else if waiter.should_sleep_after(mm_io::thread::WAKE_SOCKET_SPINS) {
            // Intents held back by the credit budget: poll, yielding the CPU.
            std::thread::yield_now();
        } else {
            waiter.idle();
        }
    }
    let md_stats = match (md, md_err) {
        (Some(l), _) => Ok(l.finish()),
        (None, Some(e)) => Err(e),
        (None, None) => Ok(FeedStats::default()),
    };
    let gw_stats = gw.finish();
    (md_stats, gw_stats, hot.finish())
}

/// [`mm_io::wait_any`] over the connections that are up (sleeps `timeout` when none is).
fn wait_both(conns: [Option<&mm_io::WsClient>; 2], timeout: std::time::Duration) {
    match conns {
        [Some(a), Some(b)] => {
            let _ = mm_io::wait_any(&[a, b], timeout);
        }
        [Some(a), None] | [None, Some(a)] => {
            let _ = mm_io::wait_any(&[a], timeout);
        }
        [None, None] => std::thread::sleep(timeout),
    }
}
