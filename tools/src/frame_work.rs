//! The engine's own work per book frame, measured warm: the part of wire-to-wire that no
//! transport or scheduler can remove.
//!
//! [`measure`] renders the tape's book frames exactly as the simulator sends them (a
//! `book.<instrument>.raw` notification per recorded update), then, on the calling thread
//! with no socket, ring or sleep in between, runs each one through the md decoder and the
//! engine (`Engine::on_md`, built from the run's own flags by [`crate::run::engine_config`])
//! back to back, the way a profiler would see the engine if it never left the CPU. Per frame
//! it stamps the clock three times: before decoding, after decoding, and after the last
//! event reached the engine (the decision: the quote is decided on the frame's last event,
//! `BookDone`), so **work** = decode + book + quote decision, as `tick_to_quote` measures in
//! a run but without the wait for a CPU. Intents are acknowledged as a venue that accepts
//! everything would (`ExecEvent::ack_of`), outside the stamps. The tape is replayed
//! [`ROUNDS`] times with a fresh decoder and engine; each figure is the median of the
//! rounds' percentiles.
//!
//! Why it matters: wire-to-wire is one round trip plus the engine's work, and the echo floor
//! is the round trip alone, so `1 + work / echo_rtt` is the lowest `ratio_p50` this engine
//! can reach on this tape on this machine, even if the engine never waited for a CPU. On the
//! recorded Binance tape the frames that move the quote are the large ones (hundreds of rows:
//! a moving touch sweeps many levels), so that bound, not the transport, decides whether the
//! ratio goal is reachable (`bench/latency-figures.md`).

use crate::cli::Args;
use mm_core::engine::Engine;
use mm_core::event::{ExecEvent, MdEvent, OrderIntent, Telemetry};
use mm_venues::deribit::md::MdDecoder;
use mm_venues::sim::tape::TapeBody;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

/// Replays of the tape (fresh decoder and engine each); figures are medians over them.
pub const ROUNDS: usize = 3;

/// Work per frame of one class of frames (stimuli, or the others), ns unless named.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct ClassWork {
    /// Book frames in the class.
    pub frames: usize,
    /// Book rows per frame (bids + asks), p50.
    pub rows_p50: usize,
    /// Book rows per frame, p90.
    pub rows_p90: usize,
    /// Frame size, bytes, p50.
    pub bytes_p50: usize,
    /// Decoding alone, p50.
    pub decode_p50: u64,
    /// Decoding + book + quote decision, p50.
    pub work_p50: u64,
    /// Decoding + book + quote decision, p90.
    pub work_p90: u64,
}

/// What [`measure`] found.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct FrameWork {
    /// The frames marked as stimuli (all frames when the tape has no marks).
    pub stimuli: ClassWork,
    /// The other book frames.
    pub others: ClassWork,
    /// Stimulus frames after which the engine sent at least one intent (all rounds): checks
    /// that the marks and the measured engine agree.
    pub stimuli_with_intents: usize,
    /// Replays of the tape.
    pub rounds: usize,
}

/// Per-frame samples of one round.
#[derive(Default)]
struct Samples {
    rows: Vec<usize>,
    bytes: Vec<usize>,
    decode: Vec<u64>,
    work: Vec<u64>,
}

impl Samples {
    fn push(&mut self, rows: usize, bytes: usize, decode: u64, work: u64) {
        self.rows.push(rows);
        self.bytes.push(bytes);
        self.decode.push(decode);
        self.work.push(work);
    }
}

/// `q`-quantile (nearest rank below) of `v`, sorted in place; 0 when empty.
fn quantile<T: Copy + Ord + Default>(v: &mut [T], q: f64) -> T {
    if v.is_empty() {
        return T::default();
    }
    v.sort_unstable();
    v[((v.len() - 1) as f64 * q) as usize]
}

fn class_of(rounds: &mut [Samples]) -> ClassWork {
    let mut med = |f: &mut dyn FnMut(&mut Samples) -> u64| {
        let mut per: Vec<u64> = rounds.iter_mut().map(&mut *f).collect();
        quantile(&mut per, 0.5)
    };
    let decode_p50 = med(&mut |s| quantile(&mut s.decode, 0.5));
    let work_p50 = med(&mut |s| quantile(&mut s.work, 0.5));
    let work_p90 = med(&mut |s| quantile(&mut s.work, 0.9));
    let first = &mut rounds[0];
    ClassWork {
        frames: first.rows.len(),
        rows_p50: quantile(&mut first.rows, 0.5),
        rows_p90: quantile(&mut first.rows, 0.9),
        bytes_p50: quantile(&mut first.bytes, 0.5),
        decode_p50,
        work_p50,
        work_p90,
    }
}

/// Measures the engine's warm work per book frame of the tape `files` (module docs), with
/// the engine built from `args` (the run's flags). `marks` flags the stimulus frames in tape
/// order (as [`crate::latency::stimulus_marks`] gives them); `None` makes every book frame a
/// stimulus (the synthetic touch walk).
///
/// # Errors
/// The tape or its instruments cannot be read, the flags give no engine configuration, or
/// `marks` does not have one flag per book frame.
pub fn measure(
    files: &[PathBuf],
    marks: Option<&[bool]>,
    args: &Args,
) -> Result<FrameWork, String> {
    let tape = mm_venues::sim::tape::load_many(files)?;
    let table = Arc::new(mm_venues::sim::instruments::build(&tape, None)?.table);
    let mut frames: Vec<(bool, usize, String)> = Vec::with_capacity(tape.book_events());
    let mut data = String::new();
    for ev in &tape.events {
        let TapeBody::Book(u) = &ev.body else {
            continue;
        };
        data.clear();
        mm_venues::sim::book::write_update_data(&ev.instrument, u, &mut data);
        let chan = format!("book.{}.raw", ev.instrument);
        let marked = marks.is_none_or(|m| m.get(frames.len()).copied().unwrap_or(false));
        let text = mm_venues::sim::exchange::frame(&chan, &data, None);
        frames.push((marked, u.bids.len() + u.asks.len(), text));
    }
    if let Some(m) = marks.filter(|m| m.len() != frames.len()) {
        return Err(format!(
            "{} stimulus marks for {} book frames",
            m.len(),
            frames.len()
        ));
    }
    let cfg = crate::run::engine_config(args, &table)?;
    mm_io::clock::calibrate();
    let clock = mm_io::clock::now;
    let mut stim: Vec<Samples> = Vec::with_capacity(ROUNDS);
    let mut other: Vec<Samples> = Vec::with_capacity(ROUNDS);
    let mut with_intents = usize::MAX;
    for _ in 0..ROUNDS {
        let mut dec = MdDecoder::new(Arc::clone(&table));
        let mut engine = Engine::new(&table, cfg.clone(), clock);
        let mut events: Vec<MdEvent> = Vec::with_capacity(1 << 14);
        let mut out: Vec<OrderIntent> = Vec::with_capacity(1 << 12);
        let mut tel: Vec<Telemetry> = Vec::with_capacity(1 << 12);
        let mut acks: Vec<ExecEvent> = Vec::with_capacity(1 << 12);
        let (mut s, mut o) = (Samples::default(), Samples::default());
        let mut reacted = 0;
        for (marked, rows, text) in &frames {
            events.clear();
            let t0 = clock();
            let _ = dec.decode(text.as_bytes(), t0, &mut |e| {
                if events.len() < events.capacity() {
                    events.push(e);
                }
            });
            let t1 = clock();
            for ev in &events {
                engine.on_md(ev, t1, &mut out, &mut tel);
            }
            let t2 = clock();
            let class = if *marked { &mut s } else { &mut o };
            class.push(*rows, text.len(), t1 - t0, t2 - t0);
            if *marked && !out.is_empty() {
                reacted += 1;
            }
            // The venue's acknowledgements, outside the stamps (as the simulator's would
            // come back later over the order connection); an ack may release a held-back
            // intent, whose ack is answered in turn.
            for _ in 0..4 {
                if out.is_empty() {
                    break;
                }
                acks.extend(out.drain(..).map(|it| ExecEvent::ack_of(&it)));
                for a in acks.drain(..) {
                    engine.on_exec(&a, t2, &mut out, &mut tel);
                }
            }
            out.clear();
            tel.clear();
        }
        with_intents = with_intents.min(reacted);
        stim.push(s);
        other.push(o);
    }
    Ok(FrameWork {
        stimuli: class_of(&mut stim),
        others: class_of(&mut other),
        stimuli_with_intents: with_intents,
        rounds: ROUNDS,
    })
}
