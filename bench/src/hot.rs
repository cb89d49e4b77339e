//! The hot step on real frames: decode (md thread) and engine `on_md` (hot thread), driven on
//! one thread with null sinks.
//!
//! [`mmb_decode_frame`] and [`mmb_hot_step`] are `#[inline(never)]` with unique names so that
//! `valgrind --tool=callgrind --toggle-collect='*mmb_hot_step*'` (see `bench/callgrind.sh`)
//! counts exactly one decoded frame or one engine step, callees included.
//!
//! Venue replies: after each step, [`Rig::ack`] answers the intents as the venue would
//! (accepted / amended / cancelled, never filled), outside the counted function, so the engine
//! keeps quoting both sides and amends on every move, as in production (without acks every
//! order would stay in flight and later steps would do less work than real ones).

use mm_core::engine::{Engine, EngineConfig, TelemetrySink};
use mm_core::event::{ExecEvent, MdEvent, OrderIntent, Telemetry};
use mm_core::instrument::InstrumentTable;
use mm_core::quote::{QuoteParams, SpreadMode};
use mm_core::types::Nanos;
use mm_venues::deribit::md::{MdDecoder, DEFAULT_MAX_LEVELS};
use std::sync::Arc;

/// Telemetry sink that drops every record (the hot step without the telemetry ring).
#[derive(Clone, Copy, Debug, Default)]
pub struct NullTelemetry;

impl TelemetrySink for NullTelemetry {
    #[inline]
    fn push(&mut self, t: Telemetry) {
        std::hint::black_box(t);
    }
}

/// The engine clock used by the benches: a constant (deterministic instruction counts; a real
/// TSC read costs ≈ 10–20 ns more per stamp).
pub fn bench_clock() -> Nanos {
    1_000
}

/// Engine settings for the benches (as in `tests/tests/hot_alloc.rs`): improve the touch by
/// one tick, 1 % minimum spread, skew on, size 1 lot, generous limits so the engine quotes
/// throughout.
pub fn engine_config(table: &InstrumentTable) -> EngineConfig {
    let q = QuoteParams {
        spread: SpreadMode::Improve(1),
        min_spread_bps_e2: 100,
        skew_per_100_usd_bps_e2: 50,
    };
    let mut cfg = EngineConfig::uniform(table, q, 1, 1_000);
    cfg.max_exposure_usd_e4 = 1_000_000_000 * 10_000;
    cfg
}

/// Decodes one frame into `events` (cleared first). Counted by callgrind as the decode cost.
/// Returns the number of events.
#[inline(never)]
pub fn mmb_decode_frame(
    dec: &mut MdDecoder,
    frame: &[u8],
    t_recv: Nanos,
    events: &mut Vec<MdEvent>,
) -> usize {
    events.clear();
    let _ = dec.decode(frame, t_recv, &mut |e| events.push(e));
    events.len()
}

/// One engine step: one market-data event through the book, the quote decision and the
/// intents. Counted by callgrind as the hot-step cost.
#[inline(never)]
pub fn mmb_hot_step(
    engine: &mut Engine,
    ev: &MdEvent,
    t_pop: Nanos,
    out: &mut Vec<OrderIntent>,
    tel: &mut NullTelemetry,
) {
    engine.on_md(ev, t_pop, out, tel);
}

/// Decoder + engine for one tape, with pre-sized buffers (nothing allocates per frame).
pub struct Rig {
    /// The md thread's decoder.
    pub dec: MdDecoder,
    /// The hot thread's engine.
    pub engine: Engine,
    /// Events of the current frame.
    pub events: Vec<MdEvent>,
    /// Intents of the current step.
    pub out: Vec<OrderIntent>,
    /// Telemetry sink.
    pub tel: NullTelemetry,
    acks: Vec<ExecEvent>,
    /// Intents produced so far.
    pub intents: u64,
}

impl Rig {
    /// A fresh decoder and engine for `table`.
    pub fn new(table: &Arc<InstrumentTable>) -> Rig {
        Rig {
            dec: MdDecoder::new(Arc::clone(table)),
            engine: Engine::new(table, engine_config(table), bench_clock),
            events: Vec::with_capacity(DEFAULT_MAX_LEVELS + 16),
            out: Vec::with_capacity(4096),
            tel: NullTelemetry,
            acks: Vec::with_capacity(4096),
            intents: 0,
        }
    }

    /// Answers the intents of the last step as the venue would (not counted).
    #[inline]
    pub fn ack(&mut self, t: Nanos) {
        if self.out.is_empty() {
            return;
        }
        self.intents += self.out.len() as u64;
        self.acks
            .extend(self.out.drain(..).map(|it| ExecEvent::ack_of(&it)));
        for a in self.acks.drain(..) {
            self.engine.on_exec(&a, t, &mut self.out, &mut self.tel);
        }
        self.out.clear();
    }

    /// Steps every event of `events` through the engine, answering intents after each.
    #[inline]
    pub fn step_all(&mut self, events: &[MdEvent], t: Nanos) {
        for ev in events {
            mmb_hot_step(&mut self.engine, ev, t, &mut self.out, &mut self.tel);
            self.ack(t);
        }
    }

    /// Decodes one frame and steps its events (the whole md → hot path on one thread).
    /// Returns the number of events.
    #[inline]
    pub fn frame(&mut self, frame: &[u8], t: Nanos) -> usize {
        let mut events = std::mem::take(&mut self.events);
        let n = mmb_decode_frame(&mut self.dec, frame, t, &mut events);
        self.step_all(&events, t);
        self.events = events;
        n
    }
}

/// Decodes every frame of a tape up front (a fresh decoder), for benches that step the engine
/// alone.
pub fn decode_all(table: &Arc<InstrumentTable>, frames: &[&[u8]]) -> Vec<MdEvent> {
    let mut dec = MdDecoder::new(Arc::clone(table));
    let mut all = Vec::new();
    for f in frames {
        let _ = dec.decode(f, 1, &mut |e| all.push(e));
    }
    all
}
