//! Wire-to-wire measurement at the simulator, and the bare echo that is its floor.
//!
//! # What is timed, and where
//!
//! Both timestamps are taken **on the simulator's server thread** with the process-wide
//! monotonic clock ([`mm_io::clock::now`]; the engine's own stage stamps use the same clock):
//!
//! - **W** (book frame written): when a `book.<instrument>.<interval>` notification has been
//!   handed completely to the kernel, i.e. right after the `flush` that wrote its last byte to
//!   the client's TCP socket returned. Frames written by the same flush share one stamp.
//! - **R** (order frame read): right after the WebSocket read that returned an order-entry
//!   frame (`private/buy`, `private/sell`, `private/edit`, `private/cancel`) came back, before
//!   the JSON-RPC request is parsed or handled. (The instrument of the request is resolved
//!   after parsing, but R was taken before it.)
//!
//! So a sample R − W spans: kernel loopback delivery to the engine, the engine's md read,
//! WebSocket unframing and decode, the md → hot ring hop, the decision, the hot → gateway ring
//! hop, order encoding and the socket write, loopback delivery back, and the simulator
//! noticing the frame and reading it. That is *wire-to-wire* in Databento's vocabulary, seen
//! from the venue's side of both sockets.
//!
//! # Attribution
//!
//! Book frames and order frames carry nothing that ties one to the other, so the probe
//! attributes by time, per instrument (the engine quotes an instrument only from that
//! instrument's book). Three rules, chosen by the stimulus ([`Attribution`]):
//!
//! **[`Attribution::EveryFrame`]** — for a tape in which *every* book frame changes what the
//! engine must quote (the harness's touch walk). Every book frame of instrument *i* is a
//! stimulus that is *pending* until an order frame for *i* is read; that order frame (read at
//! R) answers every pending frame *j*, and each records R − W(*j*). So when the engine
//! stalls across several frames, each of them records its full wait, as an open-loop load
//! generator records every request that waited: the stall is in the tail, not omitted
//! (coordinated omission). Order frames read while nothing is pending are **follow-ups**
//! (the second side of a two-sided requote, a deferred amend released by an ack); orders for
//! an instrument without a book frame yet are **unattributed**. Frames answered together
//! (more than one pending) are counted in [`ProbeCounts::coalesced`].
//!
//! **[`Attribution::Latest`]** — for recorded tapes, where most frames need no reaction (a
//! frame that does not move the engine's quotes must not wait for the next one that does).
//! Only the most recent book frame *k* of *i* is a stimulus: the first order frame for *i*
//! after it records R − W(*k*); later ones are follow-ups. The sample is discarded as
//! **ambiguous** when frame *k* was written less than the **guard** after frame *k − 1* of
//! *i* (the engine may have reacted to *k − 1*, or to both). Frames superseded without any
//! order are counted in [`ProbeCounts::unanswered`] (normal on a recorded tape; on a tape
//! where every frame needs a reaction they would be stalls this rule cannot time).
//!
//! **[`Attribution::Marked`]** — for a recorded tape whose stimuli are known in advance
//! ([`WireProbe::with_stimuli`]): the harness replays the tape's books through the engine's own
//! quoting function and marks the book frames after which the engine's target quote moves
//! (by at least the requote threshold). The probe numbers the book frames it sees in the order
//! they are written (the tape's order: one subscriber, one market-data connection), and only
//! the marked ones are stimuli, each pending until the next order frame of its instrument —
//! [`Attribution::EveryFrame`] restricted to the marked frames, with its stall accounting.
//! Unmarked frames are counted ([`ProbeCounts::unmarked`]), never timed; an order frame with no
//! marked frame pending is a follow-up. This removes the error below for every order that
//! answers a marked frame; what remains is an engine that skips a marked frame (its target
//! moved and moved back inside one batch): that frame then waits for the next order, counted
//! in [`ProbeCounts::coalesced`] and in the tail.
//!
//! The first two rules share one error: an order the engine emitted *before* it read frame *k* (a late
//! reaction to *k − 1*) but read by the simulator after W(*k*) is taken as *k*'s reaction,
//! with too small a latency. It needs a reaction slower than the frame gap, so drive the
//! replay at a fixed open-loop rate ([`super::Speed::Rate`]) whose gap is far above the
//! reaction time: [`ProbeCounts::slow`] counts samples of at least the guard (set it to a good
//! part of the gap; the harness uses half), which bounds how often it can happen.
//!
//! The rules assume one market-data subscriber per book (a second subscriber's copy of the
//! same tape event counts as another frame written right after the first).
//!
//! # The floor: [`EchoServer`]
//!
//! The same kind of server (one `mio` event loop, tungstenite server side, `TCP_NODELAY`,
//! write then flush, the same pacing wait) sends frames of a chosen size at a fixed rate,
//! open loop, to one client; the client (in the harness: an `mm_io::WsClient` on a thread
//! with the engine's idle policy) sends each frame straight back. The round trip is stamped
//! exactly like wire-to-wire: W after the flush of frame *n*, R after the read of its echo;
//! frames carry their sequence number, so attribution is exact. Both measurements are one
//! request → response across the same loopback stack with the same endpoints' IO code; the
//! difference is what the engine does between reading the book frame and writing the order.
//!
//! # Cost
//!
//! [`WireProbe`] and the echo record into `hdrhistogram`s with fixed bounds (auto-resize
//! off) allocated up front: no allocation per sample. The per-instrument state grows once
//! per new instrument id. One uncontended mutex lock per flush that wrote book frames and
//! per order frame; with no probe configured the server's send path is unchanged.

use hdrhistogram::Histogram;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use mm_core::types::InstrumentId;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tungstenite::handshake::server::{NoCallback, ServerHandshake};
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::{Message, WebSocket};

/// Lowest value the histograms resolve, ns.
pub const HIST_LOWEST_NS: u64 = 1;
/// Highest value the histograms track, ns (60 s); larger samples are clamped and counted.
pub const HIST_HIGHEST_NS: u64 = 60_000_000_000;
/// Significant digits of the histograms (relative error ≤ 0.1 %).
pub const HIST_SIGFIG: u8 = 3;

/// Within this much of the next scheduled frame, a paced server loop ([`super::Speed::Rate`]
/// and [`EchoServer`]) stops blocking in `epoll_wait` (whose timeout has millisecond
/// granularity) and instead polls without blocking, yielding the CPU between polls.
pub const SPIN_WINDOW: Duration = Duration::from_micros(1500);

/// A fixed-bound histogram (auto-resize off), as every histogram of this module.
pub fn new_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(HIST_LOWEST_NS, HIST_HIGHEST_NS, HIST_SIGFIG)
        .expect("constant histogram bounds are valid");
    h.auto(false);
    h
}

/// How long a paced loop may block before its next scheduled frame at `due`, and whether it
/// is inside the [`SPIN_WINDOW`] (then the timeout is zero and the caller yields after an
/// empty poll). `idle` caps the timeout.
pub fn pacing_timeout(due: Instant, now: Instant, idle: Duration) -> (Duration, bool) {
    let rem = due.saturating_duration_since(now);
    if rem <= SPIN_WINDOW {
        (Duration::ZERO, true)
    } else {
        ((rem - SPIN_WINDOW).min(idle), false)
    }
}

/// The instrument name of a `book.<instrument>.<interval>` subscription notification as the
/// simulator writes it (`exchange::frame`), or `None` for any other frame.
pub fn book_frame_instrument(text: &str) -> Option<&str> {
    const PREFIX: &str = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book."#;
    let rest = text.strip_prefix(PREFIX)?;
    let chan = &rest[..rest.find('"')?];
    let dot = chan.rfind('.')?;
    (dot > 0).then(|| &chan[..dot])
}

/// How a [`WireProbe`] attributes order frames to book frames (module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Attribution {
    /// Every book frame is a stimulus; the next order frame answers all pending ones.
    EveryFrame,
    /// Only the latest book frame is a stimulus, and only if it came at least the guard after
    /// the previous one.
    Latest,
    /// Only the book frames marked in advance are stimuli ([`WireProbe::with_stimuli`]); each
    /// is pending until the next order frame of its instrument.
    Marked,
}

/// Counters of a [`WireProbe`] (see the module docs for the attribution rules).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProbeCounts {
    /// Book frames written (stimuli).
    pub book_frames: u64,
    /// Order-entry frames read (`private/buy|sell|edit|cancel`).
    pub order_frames: u64,
    /// Samples recorded.
    pub samples: u64,
    /// [`Attribution::Latest`]: first orders after a book frame that followed the previous
    /// one of its instrument by less than the guard (discarded).
    pub ambiguous: u64,
    /// Order frames read while no book frame was waiting for a reaction.
    pub follow_ups: u64,
    /// Orders for an instrument no book frame had been written for.
    pub unattributed: u64,
    /// [`Attribution::Latest`]: book frames superseded by the next frame of their instrument
    /// before any order for it was read (no sample).
    pub unanswered: u64,
    /// [`Attribution::EveryFrame`], [`Attribution::Marked`]: samples beyond the first one
    /// recorded for one order frame (book frames answered together, e.g. after a stall).
    pub coalesced: u64,
    /// [`Attribution::EveryFrame`], [`Attribution::Marked`]: book frames dropped because
    /// [`MAX_PENDING`] were already waiting (no sample).
    pub overflow: u64,
    /// [`Attribution::Marked`]: book frames not marked as stimuli (counted, not timed).
    pub unmarked: u64,
    /// Samples ≥ the guard (recorded; see the module docs).
    pub slow: u64,
    /// Samples above [`HIST_HIGHEST_NS`], recorded as that bound.
    pub clamped: u64,
}

/// A copy of a probe's (or the echo's) results.
#[derive(Clone, Debug)]
pub struct ProbeSnapshot {
    /// The samples, ns.
    pub hist: Histogram<u64>,
    /// Counters.
    pub counts: ProbeCounts,
    /// The guard, ns.
    pub guard_ns: u64,
}

/// Book frames of one instrument that can wait for a reaction at once
/// ([`Attribution::EveryFrame`]; 2 s of frames at 2000/s).
pub const MAX_PENDING: usize = 4096;

#[derive(Clone, Default)]
struct Window {
    /// W of the last book frame (0 = none yet).
    last_book: u64,
    /// [`Attribution::Latest`]: the last book frame came at least the guard after the one
    /// before.
    clean: bool,
    /// An order frame was read since the last book frame.
    reacted: bool,
    /// [`Attribution::EveryFrame`]: W of the frames waiting for a reaction (capacity
    /// [`MAX_PENDING`], allocated with the window).
    pending: Vec<u64>,
}

struct ProbeState {
    windows: Vec<Window>,
    hist: Histogram<u64>,
    counts: ProbeCounts,
    /// Book frames seen since the probe was made (not cleared by [`WireProbe::reset`]): the
    /// index of the next one in [`WireProbe::marks`].
    seq: u64,
}

impl ProbeState {
    fn record(&mut self, d: u64, guard_ns: u64) {
        if d >= guard_ns {
            self.counts.slow += 1;
        }
        if d > self.hist.high() {
            self.counts.clamped += 1;
        }
        self.hist.saturating_record(d);
        self.counts.samples += 1;
    }
}

/// Wire-to-wire recorder: set [`super::SimConfig::probe`] and the simulator's server thread
/// feeds it (see the module docs). Shareable; read it from any thread.
pub struct WireProbe {
    mode: Attribution,
    guard_ns: u64,
    /// [`Attribution::Marked`]: stimulus flag of every book frame, in the order written.
    marks: Vec<bool>,
    state: Mutex<ProbeState>,
}

impl std::fmt::Debug for WireProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireProbe")
            .field("mode", &self.mode)
            .field("guard_ns", &self.guard_ns)
            .field("counts", &self.lock().counts)
            .finish()
    }
}

impl WireProbe {
    /// A probe with attribution rule `mode` and guard `guard` (samples ≥ the guard are
    /// counted as slow; with [`Attribution::Latest`] a book frame written less than `guard`
    /// after the previous one of its instrument yields no sample). Allocates its histogram.
    /// `mode` [`Attribution::Marked`] without marks makes no frame a stimulus: use
    /// [`WireProbe::with_stimuli`].
    pub fn new(mode: Attribution, guard: Duration) -> WireProbe {
        WireProbe {
            mode,
            guard_ns: u64::try_from(guard.as_nanos()).unwrap_or(u64::MAX),
            marks: Vec::new(),
            state: Mutex::new(ProbeState {
                windows: Vec::with_capacity(64),
                hist: new_histogram(),
                counts: ProbeCounts::default(),
                seq: 0,
            }),
        }
    }

    /// A probe with [`Attribution::Marked`]: `marks[n]` says whether the `n`-th book frame
    /// written (counting from the first, over all instruments, in the order written) is a
    /// stimulus; frames beyond the end of `marks` are not.
    pub fn with_stimuli(marks: Vec<bool>, guard: Duration) -> WireProbe {
        let mut p = WireProbe::new(Attribution::Marked, guard);
        p.marks = marks;
        p
    }

    /// Book frames seen since the probe was made (not cleared by [`WireProbe::reset`]).
    pub fn frames_seen(&self) -> u64 {
        self.lock().seq
    }

    /// The attribution rule.
    pub fn mode(&self) -> Attribution {
        self.mode
    }

    /// The guard, ns.
    pub fn guard_ns(&self) -> u64 {
        self.guard_ns
    }

    fn lock(&self) -> MutexGuard<'_, ProbeState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Book frames of these instruments were completely written at `t_ns`. Allocates only
    /// the first time an instrument id is seen.
    pub fn books_written(&self, instruments: &[InstrumentId], t_ns: u64) {
        let mut st = self.lock();
        let st = &mut *st;
        for &i in instruments {
            let i = i as usize;
            if i >= st.windows.len() {
                st.windows.resize(i + 1, Window::default());
            }
            let w = &mut st.windows[i];
            st.counts.book_frames += 1;
            let n = st.seq;
            st.seq += 1;
            let marked = match self.mode {
                Attribution::Marked => usize::try_from(n)
                    .ok()
                    .and_then(|n| self.marks.get(n))
                    .copied()
                    .unwrap_or(false),
                _ => true,
            };
            if !marked {
                st.counts.unmarked += 1;
                w.last_book = t_ns.max(1);
                continue;
            }
            match self.mode {
                Attribution::EveryFrame | Attribution::Marked => {
                    if w.pending.capacity() == 0 {
                        w.pending.reserve_exact(MAX_PENDING);
                    }
                    if w.pending.len() < MAX_PENDING {
                        w.pending.push(t_ns);
                    } else {
                        st.counts.overflow += 1;
                    }
                }
                Attribution::Latest => {
                    if w.last_book != 0 && !w.reacted {
                        st.counts.unanswered += 1;
                    }
                    w.clean = w.last_book == 0 || t_ns.saturating_sub(w.last_book) >= self.guard_ns;
                }
            }
            w.last_book = t_ns.max(1);
            w.reacted = false;
        }
    }

    /// A book frame of `instrument` was completely written at `t_ns`.
    pub fn book_written(&self, instrument: InstrumentId, t_ns: u64) {
        self.books_written(&[instrument], t_ns);
    }

    /// An order-entry frame for `instrument` was read at `t_ns`.
    pub fn order_read(&self, instrument: InstrumentId, t_ns: u64) {
        let mut st = self.lock();
        let st = &mut *st;
        st.counts.order_frames += 1;
        let Some(w) = st
            .windows
            .get_mut(instrument as usize)
            .filter(|w| w.last_book != 0)
        else {
            st.counts.unattributed += 1;
            return;
        };
        if w.reacted {
            st.counts.follow_ups += 1;
            return;
        }
        w.reacted = true;
        match self.mode {
            Attribution::EveryFrame | Attribution::Marked => {
                if w.pending.is_empty() {
                    // no stimulus since the last order (an unmarked frame came first)
                    st.counts.follow_ups += 1;
                    return;
                }
                let mut pending = std::mem::take(&mut w.pending);
                st.counts.coalesced += pending.len().saturating_sub(1) as u64;
                for &wt in &pending {
                    st.record(t_ns.saturating_sub(wt), self.guard_ns);
                }
                pending.clear();
                st.windows[instrument as usize].pending = pending;
            }
            Attribution::Latest => {
                if !w.clean {
                    st.counts.ambiguous += 1;
                    return;
                }
                let d = t_ns.saturating_sub(w.last_book);
                st.record(d, self.guard_ns);
            }
        }
    }

    /// Clears the histogram and the counters (e.g. after a warm-up); the per-instrument
    /// windows stay, so the next order is attributed as before.
    pub fn reset(&self) {
        let mut st = self.lock();
        st.hist.reset();
        st.counts = ProbeCounts::default();
    }

    /// Counters now.
    pub fn counts(&self) -> ProbeCounts {
        self.lock().counts
    }

    /// A copy of the histogram and counters (allocates).
    pub fn snapshot(&self) -> ProbeSnapshot {
        let st = self.lock();
        ProbeSnapshot {
            hist: st.hist.clone(),
            counts: st.counts,
            guard_ns: self.guard_ns,
        }
    }
}

// ------------------------------------------------------------------------------- echo

/// Configuration of an [`EchoServer`].
#[derive(Clone, Debug)]
pub struct EchoConfig {
    /// Listen address (`127.0.0.1:0` = any free port).
    pub listen: SocketAddr,
    /// Frames per second, evenly spaced, open loop (never waits for echoes).
    pub rate: f64,
    /// Size of each frame, bytes (at least the header, ~90 bytes).
    pub frame_bytes: usize,
    /// Wait for each frame's due time on a `timerfd` ([`super::pacer::TimerPacer`]) instead
    /// of polling in the last [`SPIN_WINDOW`] (`mm-latency --idle wake`).
    pub timer_pacing: bool,
}

impl EchoConfig {
    /// `rate` frames/s of `frame_bytes` bytes on `127.0.0.1:0`.
    pub fn new(rate: f64, frame_bytes: usize) -> EchoConfig {
        EchoConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            rate,
            frame_bytes,
            timer_pacing: false,
        }
    }
}

/// Echo frames remembered for matching replies (a power of two).
const ECHO_SLOTS: usize = 1 << 16;

struct EchoState {
    /// W per sequence number modulo [`ECHO_SLOTS`]: (seq, W).
    sent: Vec<(u64, u64)>,
    hist: Histogram<u64>,
    counts: ProbeCounts,
}

struct EchoShared {
    stop: AtomicBool,
    state: Mutex<EchoState>,
}

impl EchoShared {
    fn lock(&self) -> MutexGuard<'_, EchoState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// The bare-echo floor: a loopback WebSocket server built like the simulator's that sends
/// frames at a fixed rate to its first client and times each frame's echo (module docs).
pub struct EchoServer;

impl EchoServer {
    /// Binds and spawns the server thread. Sending starts when the first client has
    /// completed the WebSocket handshake; later clients are refused.
    ///
    /// # Errors
    /// A socket or thread error, or a rate that is not a positive finite number.
    pub fn start(cfg: EchoConfig) -> io::Result<EchoHandle> {
        if !(cfg.rate.is_finite() && cfg.rate > 0.0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "echo rate must be > 0",
            ));
        }
        let std_listener = std::net::TcpListener::bind(cfg.listen)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let mut listener = TcpListener::from_std(std_listener);
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let shared = Arc::new(EchoShared {
            stop: AtomicBool::new(false),
            state: Mutex::new(EchoState {
                sent: vec![(u64::MAX, 0); ECHO_SLOTS],
                hist: new_histogram(),
                counts: ProbeCounts::default(),
            }),
        });
        let mut lp = EchoLoop {
            poll,
            listener,
            shared: shared.clone(),
            conn: None,
            gap: Duration::from_secs_f64(1.0 / cfg.rate),
            frame_bytes: cfg.frame_bytes,
            start: None,
            seq: 0,
            text: String::with_capacity(cfg.frame_bytes + 64),
            timer_pacing: cfg.timer_pacing,
            pacer: None,
        };
        let thread = std::thread::Builder::new()
            .name("mm-echo".into())
            .spawn(move || lp.run())?;
        Ok(EchoHandle {
            addr,
            shared,
            waker,
            thread: Some(thread),
        })
    }
}

/// A running [`EchoServer`]. Dropping it stops the server thread.
pub struct EchoHandle {
    addr: SocketAddr,
    shared: Arc<EchoShared>,
    waker: Arc<Waker>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EchoHandle {
    /// `ws://127.0.0.1:PORT/echo`.
    pub fn url(&self) -> String {
        format!("ws://{}/echo", self.addr)
    }

    /// Clears the histogram and counters (e.g. after a warm-up).
    pub fn reset(&self) {
        let mut st = self.shared.lock();
        st.hist.reset();
        st.counts = ProbeCounts::default();
    }

    /// Counters now: `book_frames` = frames sent, `order_frames` = echoes read, `samples` =
    /// echoes matched to a frame, `unattributed` = echoes matching no remembered frame.
    pub fn counts(&self) -> ProbeCounts {
        self.shared.lock().counts
    }

    /// A copy of the round-trip histogram and counters (allocates).
    pub fn snapshot(&self) -> ProbeSnapshot {
        let st = self.shared.lock();
        ProbeSnapshot {
            hist: st.hist.clone(),
            counts: st.counts,
            guard_ns: 0,
        }
    }

    /// Stops the server thread and returns the final snapshot.
    pub fn stop(mut self) -> ProbeSnapshot {
        self.shutdown();
        self.snapshot()
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EchoHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const CONN: Token = Token(2);
const TIMER: Token = Token(3);

type Mid = MidHandshake<ServerHandshake<TcpStream, NoCallback>>;

enum EchoIo {
    Handshaking(Option<Box<Mid>>),
    Open(Box<WebSocket<TcpStream>>),
}

struct EchoLoop {
    poll: Poll,
    listener: TcpListener,
    shared: Arc<EchoShared>,
    conn: Option<(EchoIo, bool)>,
    gap: Duration,
    frame_bytes: usize,
    start: Option<Instant>,
    seq: u64,
    text: String,
    timer_pacing: bool,
    pacer: Option<super::pacer::TimerPacer>,
}

impl EchoLoop {
    fn run(&mut self) {
        let mut events = Events::with_capacity(64);
        let idle = Duration::from_millis(100);
        if self.timer_pacing {
            // Created on this thread: the timer slack is per thread.
            match super::pacer::TimerPacer::new(self.poll.registry(), TIMER) {
                Ok(p) => self.pacer = Some(p),
                Err(e) => log::warn!("mm-echo: no timerfd ({e}): pacing by polling"),
            }
        }
        while !self.shared.stop.load(Ordering::Acquire) {
            let (mut timeout, mut spinning) = match self.start {
                Some(start) => pacing_timeout(
                    start + self.gap.mul_f64(self.seq as f64),
                    Instant::now(),
                    idle,
                ),
                None => (idle, false),
            };
            if let (true, Some(start), Some(p)) = (spinning, self.start, self.pacer.as_mut()) {
                let due = start + self.gap.mul_f64(self.seq as f64);
                if let Ok(rem) = p.arm(due, Instant::now()) {
                    // The timer (or the client's echo) ends the wait; SPIN_WINDOW backstops.
                    timeout = if rem.is_zero() {
                        Duration::ZERO
                    } else {
                        SPIN_WINDOW
                    };
                    spinning = false;
                }
            }
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("mm-echo: poll failed: {e}");
                break;
            }
            let mut any = false;
            for ev in events.iter() {
                any = true;
                match ev.token() {
                    LISTENER => self.accept(),
                    CONN => self.conn_event(),
                    TIMER => {
                        if let Some(p) = self.pacer.as_mut() {
                            p.clear();
                        }
                    }
                    _ => {}
                }
            }
            self.send_due();
            if self.conn.as_ref().is_some_and(|c| c.1) {
                break; // the client went away
            }
            if spinning && !any {
                std::thread::yield_now();
            }
        }
        if let Some((EchoIo::Open(ws), _)) = &mut self.conn {
            let _ = ws.close(None);
            let _ = ws.flush();
        }
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    if self.conn.is_some() {
                        continue; // one client only: dropping the stream refuses it
                    }
                    let _ = stream.set_nodelay(true);
                    if self
                        .poll
                        .registry()
                        .register(&mut stream, CONN, Interest::READABLE | Interest::WRITABLE)
                        .is_err()
                    {
                        continue;
                    }
                    let io = match tungstenite::accept(stream) {
                        Ok(ws) => EchoIo::Open(Box::new(ws)),
                        Err(HandshakeError::Interrupted(m)) => {
                            EchoIo::Handshaking(Some(Box::new(m)))
                        }
                        Err(HandshakeError::Failure(_)) => continue,
                    };
                    self.conn = Some((io, false));
                    self.conn_event();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("mm-echo: accept: {e}");
                    break;
                }
            }
        }
    }

    fn conn_event(&mut self) {
        let Some((io, dead)) = &mut self.conn else {
            return;
        };
        if let EchoIo::Handshaking(mid) = io {
            let Some(m) = mid.take() else { return };
            match (*m).handshake() {
                Ok(ws) => *io = EchoIo::Open(Box::new(ws)),
                Err(HandshakeError::Interrupted(m)) => {
                    *mid = Some(Box::new(m));
                    return;
                }
                Err(HandshakeError::Failure(_)) => {
                    *dead = true;
                    return;
                }
            }
        }
        let EchoIo::Open(ws) = io else { return };
        if self.start.is_none() {
            self.start = Some(Instant::now());
        }
        loop {
            match ws.read() {
                Ok(Message::Text(t)) => {
                    let t_read = mm_io::clock::now();
                    echo_received(&self.shared, t.as_str(), t_read);
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    *dead = true;
                    break;
                }
            }
        }
        // a queued pong or a frame a WouldBlock left behind
        match ws.flush() {
            Ok(()) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => *dead = true,
        }
    }

    /// Sends every frame that is due (a burst if the loop fell behind: open loop).
    fn send_due(&mut self) {
        let Some(start) = self.start else { return };
        let Some((EchoIo::Open(ws), dead)) = &mut self.conn else {
            return;
        };
        let now = Instant::now();
        while start + self.gap.mul_f64(self.seq as f64) <= now {
            let seq = self.seq;
            self.seq += 1;
            write_echo_frame(&mut self.text, seq, self.frame_bytes);
            match ws.write(Message::text(self.text.as_str())) {
                Ok(()) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => {
                    *dead = true;
                    return;
                }
            }
            match ws.flush() {
                Ok(()) => {
                    let t = mm_io::clock::now();
                    let mut st = self.shared.lock();
                    st.sent[seq as usize & (ECHO_SLOTS - 1)] = (seq, t);
                    st.counts.book_frames += 1;
                }
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Not completely written: no stamp, so its echo will not be a sample.
                    self.shared.lock().counts.ambiguous += 1;
                }
                Err(_) => {
                    *dead = true;
                    return;
                }
            }
        }
    }
}

/// Builds the echo frame `seq` of `bytes` bytes (or just the header when `bytes` is smaller)
/// into `out`, without allocating once `out` has the capacity: a subscription notification
/// shaped like a book frame, `{"jsonrpc":"2.0","method":"subscription","params":{"channel":
/// "echo","data":{"seq":N,"pad":"xxx…"}}}`.
pub fn write_echo_frame(out: &mut String, seq: u64, bytes: usize) {
    use std::fmt::Write as _;
    const TAIL: &str = "\"}}}";
    out.clear();
    let _ = write!(
        out,
        r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"echo","data":{{"seq":{seq},"pad":""#
    );
    let pad = bytes.saturating_sub(out.len() + TAIL.len());
    out.extend(std::iter::repeat_n('x', pad));
    out.push_str(TAIL);
}

/// The sequence number in an echo frame, if it is one.
pub fn echo_frame_seq(text: &str) -> Option<u64> {
    let at = text.find(r#""seq":"#)? + 6;
    let digits = text[at..].bytes().take_while(u8::is_ascii_digit).count();
    text[at..at + digits].parse().ok()
}

fn echo_received(shared: &EchoShared, text: &str, t_read: u64) {
    let seq = echo_frame_seq(text);
    let mut st = shared.lock();
    let st = &mut *st;
    st.counts.order_frames += 1;
    let Some(seq) = seq else {
        st.counts.unattributed += 1;
        return;
    };
    let slot = &mut st.sent[seq as usize & (ECHO_SLOTS - 1)];
    if slot.0 != seq {
        st.counts.unattributed += 1;
        return;
    }
    let w = slot.1;
    slot.0 = u64::MAX; // a second echo of the same frame is not a sample
    let d = t_read.saturating_sub(w);
    if d > st.hist.high() {
        st.counts.clamped += 1;
    }
    st.hist.saturating_record(d);
    st.counts.samples += 1;
}

#[cfg(test)]
mod tests {
    use super::super::exchange::frame;
    use super::*;

    const G: u64 = 100_000; // 100 µs guard

    fn probe(mode: Attribution) -> WireProbe {
        WireProbe::new(mode, Duration::from_nanos(G))
    }

    #[test]
    fn first_order_after_a_frame_is_its_reaction() {
        for mode in [Attribution::EveryFrame, Attribution::Latest] {
            let p = probe(mode);
            p.book_written(0, 1_000_000);
            p.order_read(0, 1_030_000); // reaction: 30 µs
            p.order_read(0, 1_035_000); // second side: follow-up
            p.book_written(0, 2_000_000);
            p.order_read(0, 2_012_000); // 12 µs
            let s = p.snapshot();
            assert_eq!(s.counts.samples, 2, "{mode:?}");
            assert_eq!(s.counts.follow_ups, 1);
            assert_eq!(s.counts.book_frames, 2);
            assert_eq!(s.counts.order_frames, 3);
            assert_eq!(s.counts.unanswered + s.counts.coalesced, 0);
            assert!(s.hist.equivalent(s.hist.min(), 12_000));
            assert!(s.hist.equivalent(s.hist.max(), 30_000));
        }
    }

    #[test]
    fn latest_discards_a_reaction_to_a_frame_too_close_to_the_previous_one() {
        let p = probe(Attribution::Latest);
        p.book_written(0, 1_000_000);
        p.book_written(0, 1_050_000); // 50 µs after the previous one < guard
        p.order_read(0, 1_080_000); // reaction to which? discarded
        p.order_read(0, 1_090_000); // follow-up of that reaction
        let s = p.snapshot();
        assert_eq!(s.counts.samples, 0);
        assert_eq!(s.counts.ambiguous, 1);
        assert_eq!(s.counts.follow_ups, 1);
        assert_eq!(s.counts.unanswered, 1); // the first frame got no order before the second
                                            // the next well-separated frame is clean again
        p.book_written(0, 1_200_000);
        p.order_read(0, 1_220_000);
        assert_eq!(p.counts().samples, 1);
        assert!(p
            .snapshot()
            .hist
            .equivalent(p.snapshot().hist.max(), 20_000));
    }

    #[test]
    fn every_frame_records_the_whole_wait_of_every_frame_of_a_stall() {
        let p = probe(Attribution::EveryFrame);
        // three frames 500 µs apart, the engine silent until 1.6 ms after the first
        p.book_written(0, 1_000_000);
        p.book_written(0, 1_500_000);
        p.book_written(0, 2_000_000);
        p.order_read(0, 2_600_000);
        p.order_read(0, 2_610_000); // follow-up
        let s = p.snapshot();
        assert_eq!(s.counts.samples, 3);
        assert_eq!(s.counts.coalesced, 2);
        assert_eq!(s.counts.follow_ups, 1);
        assert_eq!(s.counts.slow, 3); // 1.6 ms, 1.1 ms, 600 µs ≥ 100 µs
        assert!(s.hist.equivalent(s.hist.max(), 1_600_000));
        assert!(s.hist.equivalent(s.hist.min(), 600_000));
        // the Latest rule would have kept only the last frame's 600 µs
        let l = probe(Attribution::Latest);
        for t in [1_000_000, 1_500_000, 2_000_000] {
            l.book_written(0, t);
        }
        l.order_read(0, 2_600_000);
        assert_eq!(l.counts().samples, 1);
        assert_eq!(l.counts().unanswered, 2);
    }

    #[test]
    fn attribution_is_per_instrument() {
        for mode in [Attribution::EveryFrame, Attribution::Latest] {
            let p = probe(mode);
            p.book_written(0, 1_000_000);
            p.order_read(0, 1_010_000); // 10 µs
            p.book_written(1, 1_300_000);
            p.book_written(0, 1_500_000);
            p.order_read(0, 1_510_000); // 10 µs after instrument 0's latest frame
            p.order_read(1, 1_520_000); // 220 µs after instrument 1's frame: slow (≥ guard)
            p.order_read(2, 1_530_000); // no frame of instrument 2 yet
            let s = p.snapshot();
            assert_eq!(s.counts.samples, 3, "{mode:?}");
            assert_eq!(s.counts.slow, 1);
            assert_eq!(s.counts.unattributed, 1);
            assert!(s.hist.equivalent(s.hist.min(), 10_000));
            assert!(s.hist.equivalent(s.hist.max(), 220_000));
        }
    }

    #[test]
    fn frames_of_one_flush_share_a_stamp_and_reset_keeps_windows() {
        let p = probe(Attribution::Latest);
        p.books_written(&[3, 3], 5_000_000); // two frames, one flush: the second is ambiguous
        p.order_read(3, 5_010_000);
        assert_eq!(p.counts().ambiguous, 1);
        p.reset();
        assert_eq!(p.counts(), ProbeCounts::default());
        p.order_read(3, 5_020_000); // still the same window: a follow-up
        assert_eq!(p.counts().follow_ups, 1);
    }

    #[test]
    fn marked_times_only_marked_frames_each_until_the_next_order() {
        // frames 0..6 of instrument 0; 1, 3 and 4 are stimuli
        let marks = vec![false, true, false, true, true, false];
        let p = WireProbe::with_stimuli(marks, Duration::from_nanos(G));
        p.book_written(0, 1_000_000); // unmarked
        p.order_read(0, 1_010_000); // nothing pending: follow-up
        p.book_written(0, 2_000_000); // stimulus
        p.book_written(0, 2_500_000); // unmarked: does not move the window
        p.order_read(0, 2_040_000 + 500_000); // 540 µs after frame 1 (not 40 after frame 2)
        p.order_read(0, 2_600_000); // second side: follow-up
        p.books_written(&[0, 0], 3_000_000); // two stimuli in one flush
        p.book_written(0, 3_200_000); // unmarked
        p.order_read(0, 3_300_000); // answers both: 300 µs each, one coalesced
        p.book_written(0, 4_000_000); // past the marks: unmarked
        p.order_read(0, 4_010_000); // follow-up
        let s = p.snapshot();
        assert_eq!(p.mode(), Attribution::Marked);
        assert_eq!(p.frames_seen(), 7);
        assert_eq!(s.counts.book_frames, 7);
        assert_eq!(s.counts.unmarked, 4);
        assert_eq!(s.counts.samples, 3);
        assert_eq!(s.counts.coalesced, 1);
        assert_eq!(s.counts.follow_ups, 3);
        assert_eq!(s.counts.unanswered + s.counts.ambiguous, 0);
        assert!(s.hist.equivalent(s.hist.min(), 300_000));
        assert!(s.hist.equivalent(s.hist.max(), 540_000));
        p.reset();
        assert_eq!(p.frames_seen(), 7); // the numbering survives a reset
    }

    #[test]
    fn every_frame_caps_pending_frames() {
        let p = probe(Attribution::EveryFrame);
        for k in 0..(MAX_PENDING as u64 + 5) {
            p.book_written(0, 1_000 + k * 1_000);
        }
        assert_eq!(p.counts().overflow, 5);
        p.order_read(0, 100_000_000);
        assert_eq!(p.counts().samples, MAX_PENDING as u64);
    }

    #[test]
    fn book_frames_are_recognised_by_channel() {
        let f = frame("book.BTC-PERPETUAL.raw", "{}", None);
        assert_eq!(book_frame_instrument(&f), Some("BTC-PERPETUAL"));
        let f = frame("book.ETH-26MAR21-1800-C.100ms", "{}", None);
        assert_eq!(book_frame_instrument(&f), Some("ETH-26MAR21-1800-C"));
        let f = frame("ticker.BTC-PERPETUAL.raw", "{}", None);
        assert_eq!(book_frame_instrument(&f), None);
        assert_eq!(book_frame_instrument(r#"{"jsonrpc":"2.0","id":1}"#), None);
    }

    #[test]
    fn echo_frames_have_the_requested_size_and_carry_their_sequence() {
        let mut s = String::new();
        write_echo_frame(&mut s, 12345, 300);
        assert_eq!(s.len(), 300);
        assert_eq!(echo_frame_seq(&s), Some(12345));
        assert!(serde_json::from_str::<serde_json::Value>(&s).is_ok());
        write_echo_frame(&mut s, 7, 10); // below the header size: header only
        assert_eq!(echo_frame_seq(&s), Some(7));
    }

    #[test]
    fn pacing_spins_only_near_the_due_time() {
        let now = Instant::now();
        let (t, spin) =
            pacing_timeout(now + Duration::from_millis(10), now, Duration::from_secs(1));
        assert!(!spin);
        assert_eq!(t, Duration::from_millis(10) - SPIN_WINDOW);
        let (t, spin) = pacing_timeout(
            now + Duration::from_micros(500),
            now,
            Duration::from_secs(1),
        );
        assert!(spin);
        assert_eq!(t, Duration::ZERO);
    }
}
