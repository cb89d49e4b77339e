//! The hot thread's loop: poll the exec and md rings, run the engine's step functions, idle.
//!
//! Nothing here allocates, locks or makes a system call in the loop (the clock is a TSC read;
//! the `park` idle policy parks only when there was no work). Exec reports are drained first
//! so the engine's order state is as fresh as possible when market data is decided on.

use mm_core::engine::{Engine, IntentSink, TelemetrySink};
use mm_core::event::{
    ExecEvent, IntentKind, MdEvent, MdKind, OrderIntent, Stage, TelKind, Telemetry,
};
use mm_core::model::{CalibSample, ModelCoeffs};
use mm_core::risk::HaltCause;
use mm_io::ring::{Consumer, Producer};
use mm_io::{Doorbell, Idle, IdleWaiter};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// [`IntentSink`] over the intent ring; rings the gateway's [`Doorbell`] after each push
/// (one bool load when it is disabled, i.e. unless `--idle wake`).
pub struct IntentOut<'a>(pub &'a mut Producer<OrderIntent>, pub &'a Doorbell);

impl IntentSink for IntentOut<'_> {
    #[inline]
    fn free(&self) -> usize {
        self.0.free_slots()
    }
    #[inline]
    fn push(&mut self, intent: OrderIntent) {
        let _ = self.0.push(intent);
        self.1.ring();
    }
}

/// [`TelemetrySink`] over the telemetry ring; counts records dropped when it is full.
pub struct TelOut<'a> {
    /// The ring.
    pub ring: &'a mut Producer<Telemetry>,
    /// Records dropped because the ring was full.
    pub dropped: u64,
}

impl TelemetrySink for TelOut<'_> {
    #[inline]
    fn push(&mut self, t: Telemetry) {
        if self.ring.push(t).is_err() {
            self.dropped += 1;
        }
    }
}

/// Flags shared between the control thread and the hot thread.
#[derive(Default)]
pub struct HotControl {
    /// Set by control: stop quoting, cancel everything.
    pub halt: AtomicBool,
    /// Set by the hot thread: halted and no order live.
    pub flat: AtomicBool,
    /// Set by control: leave the loop.
    pub exit: AtomicBool,
    /// Live orders, published by the hot thread for the control thread's status.
    pub live_orders: AtomicU64,
    /// Engine counters, published by the hot thread when it is idle (for the live stats line).
    pub counters: PublishedCounters,
    /// Set by control with `halt` when the kill switch fired: the halt's cancel-all goes out
    /// even when the engine believes nothing is live.
    pub kill: AtomicBool,
    /// Set by the hot thread with `flat`: its clock (ns) when no order was live any more.
    pub flat_at: AtomicU64,
    /// Per-instrument view (touch, our quotes, position), published by the hot thread when
    /// idle, at most every [`PUBLISH_EVERY_NS`] (status display).
    pub insts: crate::status::InstSnapshots,
}

/// Minimum interval between two publications of [`HotControl::insts`] (ns).
pub const PUBLISH_EVERY_NS: u64 = 50_000_000;

impl HotControl {
    /// Control flags for `n` instruments.
    pub fn new(n: usize) -> HotControl {
        HotControl {
            insts: crate::status::InstSnapshots::new(n),
            ..Default::default()
        }
    }
}

/// A copy of the engine's main counters that the hot thread publishes when idle (relaxed
/// stores, never on the decision path) and the control thread reads for `--stats-interval`.
#[derive(Default)]
pub struct PublishedCounters {
    /// Market-data events processed.
    pub md_events: AtomicU64,
    /// New orders sent.
    pub orders_sent: AtomicU64,
    /// Amends sent.
    pub amends: AtomicU64,
    /// Cancels sent (single and cancel-all).
    pub cancels: AtomicU64,
    /// Fills received.
    pub fills: AtomicU64,
    /// Venue rejects received.
    pub rejects: AtomicU64,
    /// Book gaps seen.
    pub gaps: AtomicU64,
}

impl PublishedCounters {
    fn publish(&self, c: &mm_core::engine::Counters) {
        let r = Ordering::Relaxed;
        self.md_events.store(c.md_events, r);
        self.orders_sent.store(c.orders_sent, r);
        self.amends.store(c.amends, r);
        self.cancels.store(c.cancels + c.cancel_alls, r);
        self.fills.store(c.fills, r);
        self.rejects.store(c.rejects, r);
        self.gaps.store(c.gaps, r);
    }

    /// `[md_events, orders_sent, amends, cancels, fills, rejects, gaps]` as last published.
    pub fn load(&self) -> [u64; 7] {
        let r = Ordering::Relaxed;
        [
            self.md_events.load(r),
            self.orders_sent.load(r),
            self.amends.load(r),
            self.cancels.load(r),
            self.fills.load(r),
            self.rejects.load(r),
            self.gaps.load(r),
        ]
    }
}

/// The hot thread's ends of the model rings (strategies.md §4, `mm_core::model`): calibration
/// samples out to the calibration thread, coefficients back.
pub struct ModelRings {
    /// Calibration samples (dropped and counted when full: never blocks).
    pub samples: Producer<CalibSample>,
    /// Fresh coefficients, applied before market data.
    pub coeffs: Consumer<ModelCoeffs>,
}

/// The hot thread's doorbells (`--idle wake`; disabled otherwise).
#[derive(Clone, Copy)]
pub struct HotBells<'a> {
    /// Its own: rung by md (market data), gateway (exec reports) and control (halt, exit);
    /// the hot thread parks on it.
    pub hot: &'a Doorbell,
    /// The gateway's, rung after each intent push.
    pub gateway: &'a Doorbell,
}

/// The hot thread's state between turns: the engine, its output ends and the halt and
/// publication bookkeeping. [`hot_loop`] drives it from the rings; the `--topology inline`
/// loop ([`crate::inline`]) feeds it market data and exec reports straight from the
/// connections. Nothing here allocates after construction.
pub struct HotState<'a> {
    /// The engine.
    pub engine: Engine,
    /// Telemetry out.
    pub tel: TelOut<'a>,
    /// Intents out.
    pub out: IntentOut<'a>,
    /// The model rings, when a calibrator runs.
    pub model: Option<ModelRings>,
    /// Calibration samples dropped (ring full).
    pub calib_dropped: u64,
    halting: bool,
    published_at: u64,
}

impl<'a> HotState<'a> {
    /// A hot state writing intents to `intent_tx` (ringing `gateway_bell` after each) and
    /// telemetry to `tel_tx`.
    pub fn new(
        engine: Engine,
        intent_tx: &'a mut Producer<OrderIntent>,
        gateway_bell: &'a Doorbell,
        tel_tx: &'a mut Producer<Telemetry>,
        model: Option<ModelRings>,
    ) -> Self {
        HotState {
            engine,
            tel: TelOut {
                ring: tel_tx,
                dropped: 0,
            },
            out: IntentOut(intent_tx, gateway_bell),
            model,
            calib_dropped: 0,
            halting: false,
            published_at: 0,
        }
    }

    /// True when intents wait in the intent ring (pushed, not yet taken by the gateway).
    #[inline]
    pub fn intents_pending(&self) -> bool {
        self.out.0.free_slots() < self.out.0.capacity()
    }

    /// One exec report, at `t` (ns).
    #[inline]
    pub fn on_exec(&mut self, ev: &ExecEvent, t: u64) {
        self.engine.on_exec(ev, t, &mut self.out, &mut self.tel);
    }

    /// Applies every coefficient set waiting in the model ring; true if there was one.
    #[inline]
    pub fn on_coeffs(&mut self, clock: fn() -> u64) -> bool {
        let Some(m) = self.model.as_mut() else {
            return false;
        };
        let mut work = false;
        while let Some(c) = m.coeffs.pop() {
            work = true;
            self.engine
                .on_model(&c, clock(), &mut self.out, &mut self.tel);
        }
        work
    }

    /// One market-data event popped at `t_pop` (ns); forwards the engine's calibration
    /// samples.
    #[inline]
    pub fn on_md(&mut self, ev: &MdEvent, t_pop: u64) {
        self.engine.on_md(ev, t_pop, &mut self.out, &mut self.tel);
        if let Some(m) = self.model.as_mut() {
            let dropped = &mut self.calib_dropped;
            self.engine.drain_calib(&mut |s| {
                if m.samples.push(*s).is_err() {
                    *dropped += 1;
                }
            });
        }
    }

    /// The control thread's halt (end of run or kill switch): cancel everything, and say
    /// `flat` once nothing is live.
    pub fn on_halt(&mut self, ctl: &HotControl, clock: fn() -> u64) {
        if !ctl.halt.load(Ordering::Relaxed) || ctl.flat.load(Ordering::Relaxed) {
            return;
        }
        let now = clock();
        if !self.halting {
            self.halting = true;
            // Kill switch: cancel everything at the venue even if nothing is live here.
            // (The acquire load of `halt` makes the `kill` stored before it visible.)
            if ctl.halt.load(Ordering::Acquire)
                && ctl.kill.load(Ordering::Relaxed)
                && self.engine.open_orders() == 0
            {
                self.out.push(OrderIntent {
                    t_decide: now,
                    kind: IntentKind::CancelAll,
                    instrument: u32::MAX,
                    ..Default::default()
                });
            }
        }
        // The kill switch halts with its own cause; otherwise this is the end of the run.
        let cause = if ctl.kill.load(Ordering::Relaxed) {
            HaltCause::KillSwitch
        } else {
            HaltCause::Shutdown
        };
        if self
            .engine
            .halt_for(cause, now, &mut self.out, &mut self.tel)
        {
            ctl.flat_at.store(clock(), Ordering::Relaxed);
            ctl.flat.store(true, Ordering::Release);
        }
    }

    /// A turn without work: publishes the counters (and, at most every
    /// [`PUBLISH_EVERY_NS`], the per-instrument view) and runs `Engine::on_idle` (stale data,
    /// quote refresh, deferred requotes).
    pub fn on_idle(&mut self, ctl: &HotControl, clock: fn() -> u64) {
        ctl.live_orders
            .store(self.engine.open_orders() as u64, Ordering::Relaxed);
        ctl.counters.publish(self.engine.counters());
        let now = clock();
        if now.wrapping_sub(self.published_at) >= PUBLISH_EVERY_NS {
            self.published_at = now;
            ctl.insts.publish(&self.engine);
        }
        self.engine.on_idle(now, &mut self.out, &mut self.tel);
    }

    /// The engine, the telemetry records dropped and the calibration samples dropped.
    pub fn finish(self) -> (Engine, u64, u64) {
        (self.engine, self.tel.dropped, self.calib_dropped)
    }
}

/// Runs the hot loop until `ctl.exit`; returns the engine (for the report), the number of
/// telemetry records dropped and the number of calibration samples dropped (ring full).
/// With `model` (a calibrator runs) the loop drains the coefficient ring after the exec ring
/// and before market data, and forwards the engine's calibration samples after each
/// market-data event.
///
/// With [`Idle::Wake`] an idle loop spins [`mm_io::thread::WAKE_SPINS`] times, then parks on
/// `bells.hot` for at most [`mm_io::thread::WAKE_MAX_SLEEP`], so `Engine::on_idle` (stale
/// data, quote refresh, deferred requotes) still runs at least every millisecond.
#[allow(clippy::too_many_arguments)]
pub fn hot_loop(
    engine: Engine,
    md_rx: &mut Consumer<MdEvent>,
    exec_rx: &mut Consumer<ExecEvent>,
    intent_tx: &mut Producer<OrderIntent>,
    tel_tx: &mut Producer<Telemetry>,
    ctl: &HotControl,
    idle: Idle,
    bells: HotBells<'_>,
    clock: fn() -> u64,
    model: Option<ModelRings>,
) -> (Engine, u64, u64) {
    bells.hot.bind_current_thread();
    let mut waiter = IdleWaiter::new(idle);
    let mut hot = HotState::new(engine, intent_tx, bells.gateway, tel_tx, model);
    loop {
        let mut work = false;
        while let Some(ev) = exec_rx.pop() {
            work = true;
            hot.on_exec(&ev, clock());
        }
        work |= hot.on_coeffs(clock);
        for _ in 0..256 {
            let Some(ev) = md_rx.pop() else { break };
            work = true;
            let t_pop = clock();
            if ev.kind == MdKind::BookDone && ev.t_decoded != 0 {
                hot.tel.push(Telemetry {
                    t: t_pop,
                    kind: TelKind::Latency,
                    stage: Stage::Ring,
                    a: t_pop.saturating_sub(ev.t_decoded) as i64,
                    ..Default::default()
                });
            }
            hot.on_md(&ev, t_pop);
        }
        hot.on_halt(ctl, clock);
        if !work {
            if ctl.exit.load(Ordering::Acquire) {
                break;
            }
            hot.on_idle(ctl, clock);
            waiter.idle();
            if waiter.should_sleep() {
                let model = &hot.model;
                bells.hot.park(mm_io::thread::WAKE_MAX_SLEEP, || {
                    !exec_rx.is_empty()
                        || !md_rx.is_empty()
                        || model.as_ref().is_some_and(|m| !m.coeffs.is_empty())
                        || ctl.exit.load(Ordering::Acquire)
                });
            }
        } else {
            waiter.reset();
        }
    }
    hot.finish()
}
