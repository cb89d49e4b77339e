//! The simulator's server thread: one `mio` event loop over the listener, every connection
//! (tungstenite server handshake, then text frames) and the tape clock.
//!
//! Output per connection goes through an explicit queue. Frames are handed to tungstenite in
//! batches and flushed; when the socket would block the connection waits for a writable event.
//! The replay never runs ahead while any connection has more than [`MAX_BACKLOG`] bytes
//! unsent, so `Speed::Max` is paced by the slowest subscriber instead of buffering the tape
//! in memory; incoming requests are processed between every two tape events.
//!
//! With a [`WireProbe`] configured, queued frames carry a tag (the instrument of a book
//! frame), the flush that completes them stamps them written, and every frame read is stamped
//! before it is handled (see [`super::probe`]). Without one nothing is stamped.

use super::exchange::{wall_us, ConnId, Out};
use super::pacer::TimerPacer;
use super::probe::{self, WireProbe, SPIN_WINDOW};
use super::tape::{Tape, TapeBody};
use super::tls::SimStream;
use super::{Shared, SimConfig, Speed};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use mm_core::instrument::InstrumentTable;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};
use tungstenite::handshake::server::{NoCallback, ServerHandshake};
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::{Message, WebSocket};

/// Unsent bytes per connection above which the replay pauses.
pub const MAX_BACKLOG: usize = 1 << 20;
const BATCH: usize = 256 * 1024;
const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
/// The [`TimerPacer`]'s token (connection ids count up from 2).
const TIMER: Token = Token(usize::MAX);
/// Tag of a queued frame that is not a book frame.
const NO_TAG: u32 = u32::MAX;

type Mid = MidHandshake<ServerHandshake<SimStream, NoCallback>>;

enum Io {
    Handshaking(Option<Box<Mid>>),
    Open(Box<WebSocket<SimStream>>),
}

struct Conn {
    io: Io,
    /// Frames to send, each with its probe tag (the instrument of a book frame, else
    /// [`NO_TAG`]; always [`NO_TAG`] without a probe).
    queue: VecDeque<(String, u32)>,
    queue_bytes: usize,
    inflight: usize,
    blocked: bool,
    dead: bool,
    probe: Option<Arc<WireProbe>>,
    /// Tags of book frames handed to tungstenite but not yet completely flushed.
    unflushed: Vec<u32>,
    /// Close the connection (close frame) once everything queued is written (the venue
    /// terminating a session after `10028`).
    closing: bool,
}

impl Conn {
    fn backlog(&self) -> usize {
        self.queue_bytes + self.inflight
    }

    /// Moves queued frames into tungstenite and flushes until empty or the socket blocks.
    fn pump(&mut self) {
        let Io::Open(ws) = &mut self.io else { return };
        loop {
            if self.blocked || self.inflight > 0 {
                match ws.flush() {
                    Ok(()) => {
                        self.blocked = false;
                        self.inflight = 0;
                        if let (Some(p), false) = (&self.probe, self.unflushed.is_empty()) {
                            p.books_written(&self.unflushed, mm_io::clock::now());
                            self.unflushed.clear();
                        }
                    }
                    Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.blocked = true;
                        return;
                    }
                    Err(_) => {
                        self.dead = true;
                        return;
                    }
                }
            }
            if self.queue.is_empty() {
                return;
            }
            let mut batch = 0;
            while let Some((m, tag)) = self.queue.pop_front() {
                self.queue_bytes -= m.len();
                batch += m.len();
                if tag != NO_TAG {
                    self.unflushed.push(tag);
                }
                match ws.write(Message::text(m)) {
                    Ok(()) => {}
                    Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        self.dead = true;
                        return;
                    }
                }
                if batch >= BATCH {
                    break;
                }
            }
            self.inflight = batch.max(1);
        }
    }

    /// Reads every available text frame, each with the time it was read (monotonic ns, only
    /// with a probe; else 0).
    fn read_texts(&mut self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let Io::Open(ws) = &mut self.io else {
            return out;
        };
        let stamp = self.probe.is_some();
        loop {
            match ws.read() {
                Ok(Message::Text(t)) => {
                    let t_read = if stamp { mm_io::clock::now() } else { 0 };
                    out.push((t.as_str().to_string(), t_read));
                }
                Ok(Message::Binary(b)) => {
                    let t_read = if stamp { mm_io::clock::now() } else { 0 };
                    out.push((String::from_utf8_lossy(&b).into_owned(), t_read));
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.dead = true;
                    break;
                }
            }
        }
        // a queued pong/close may need flushing
        self.inflight = self.inflight.max(1);
        out
    }
}

struct Server {
    poll: Poll,
    listener: TcpListener,
    conns: HashMap<ConnId, Conn>,
    next_id: ConnId,
    shared: Arc<Shared>,
    tape: Tape,
    idx: usize,
    speed: Speed,
    started: Option<Instant>,
    ws_config: tungstenite::protocol::WebSocketConfig,
    probe: Option<Arc<WireProbe>>,
    /// Instruments, to tag book frames for the probe.
    insts: Arc<InstrumentTable>,
    /// Book events replayed so far (the [`Speed::Rate`] schedule counts them).
    book_events: u64,
    /// TLS server configuration (`wss://`), if any.
    tls: Option<Arc<rustls::ServerConfig>>,
    /// Order replies held back by an `ack-delay-ms` fault, in due order.
    delayed: VecDeque<(Instant, Vec<Out>)>,
    /// `SimConfig::timer_pacing`: the paced replay waits on this timer instead of spinning.
    pacer: Option<TimerPacer>,
}

/// Binds, spawns the server thread; returns the address, the waker and the thread.
pub(crate) fn spawn(
    cfg: SimConfig,
    tape: Tape,
    shared: Arc<Shared>,
) -> io::Result<(SocketAddr, Arc<Waker>, std::thread::JoinHandle<()>)> {
    let tls = match &cfg.tls {
        None => None,
        Some(files) => Some(files.server_config().map_err(io::Error::other)?),
    };
    let std_listener = std::net::TcpListener::bind(cfg.listen)?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let mut listener = TcpListener::from_std(std_listener);
    let poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let insts = match shared.exchange.lock() {
        Ok(ex) => ex.instrument_table(),
        Err(p) => p.into_inner().instrument_table(),
    };
    let server = Server {
        poll,
        listener,
        conns: HashMap::new(),
        next_id: 2,
        shared,
        tape,
        idx: 0,
        speed: cfg.speed,
        started: None,
        ws_config: tungstenite::protocol::WebSocketConfig::default(),
        probe: cfg.probe.clone(),
        insts,
        book_events: 0,
        tls,
        delayed: VecDeque::new(),
        pacer: None,
    };
    let timer_pacing = cfg.timer_pacing;
    let mut server = server;
    let thread = std::thread::Builder::new()
        .name("mm-sim".into())
        .spawn(move || {
            if timer_pacing {
                // Created on the server thread: the timer slack is per thread.
                match TimerPacer::new(server.poll.registry(), TIMER) {
                    Ok(p) => server.pacer = Some(p),
                    Err(e) => log::warn!("mm-sim: no timerfd ({e}): pacing by polling"),
                }
            }
            server.run()
        })?;
    Ok((addr, waker, thread))
}

impl Server {
    fn ex(&self) -> MutexGuard<'_, super::exchange::Exchange> {
        match self.shared.exchange.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(256);
        while !self.shared.stop.load(Ordering::Acquire) {
            let (timeout, spinning) = self.timeout();
            let (timeout, spinning) = self.timer_paced(timeout, spinning);
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("mm-sim: poll failed: {e}");
                break;
            }
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept_all(),
                    WAKER => {}
                    TIMER => {
                        if let Some(p) = self.pacer.as_mut() {
                            p.clear();
                        }
                    }
                    Token(t) => self.conn_event(t as ConnId),
                }
            }
            self.timers();
            self.replay_step();
            self.pump_all();
            self.reap();
            if spinning && events.is_empty() {
                std::thread::yield_now();
            }
        }
        for c in self.conns.values_mut() {
            if let Io::Open(ws) = &mut c.io {
                let _ = ws.close(None);
                let _ = ws.flush();
            }
        }
    }

    /// Heartbeats, delayed replies, connections the venue drops or closes.
    fn timers(&mut self) {
        let now = Instant::now();
        let outs = self.ex().on_timer(now);
        self.route(outs);
        while self.delayed.front().is_some_and(|(due, _)| *due <= now) {
            if let Some((_, outs)) = self.delayed.pop_front() {
                self.route(outs);
            }
        }
        self.apply_drops();
    }

    /// Applies the exchange's requests to drop (at once) or close (after flushing) connections.
    fn apply_drops(&mut self) {
        let (drops, closes) = self.ex().take_drops();
        for id in drops {
            if let Some(c) = self.conns.get_mut(&id) {
                c.dead = true;
            }
        }
        for id in closes {
            if let Some(c) = self.conns.get_mut(&id) {
                c.closing = true;
            }
        }
    }

    fn backpressured(&self) -> bool {
        self.conns.values().any(|c| c.backlog() > MAX_BACKLOG)
    }

    /// With a [`TimerPacer`], replaces the spin window's zero timeout: the timer is armed for
    /// the next frame's due time and the poll blocks (the timer, a socket or the waker ends
    /// it; [`SPIN_WINDOW`] is a backstop). Without one, returns its arguments.
    fn timer_paced(&mut self, timeout: Duration, spinning: bool) -> (Duration, bool) {
        let Some(start) = self.started else {
            return (timeout, spinning);
        };
        if !spinning || self.pacer.is_none() {
            return (timeout, spinning);
        }
        let due = self.due(start, self.idx);
        let Some(p) = self.pacer.as_mut() else {
            return (timeout, spinning);
        };
        match p.arm(due, Instant::now()) {
            Ok(rem) if rem.is_zero() => (Duration::ZERO, false),
            Ok(_) => (SPIN_WINDOW, false),
            Err(e) => {
                log::warn!("mm-sim: timerfd: {e}: pacing by polling");
                self.pacer = None;
                (timeout, spinning)
            }
        }
    }

    /// The poll timeout, and whether the loop is spinning (polling without blocking, then
    /// yielding) to send a [`Speed::Rate`] event on time.
    fn timeout(&self) -> (Duration, bool) {
        let mut idle = Duration::from_millis(100);
        if let Some((due, _)) = self.delayed.front() {
            idle = idle.min(due.saturating_duration_since(Instant::now()));
        }
        let Some(start) = self.started else {
            return (idle, false);
        };
        if self.idx >= self.tape.events.len() || self.backpressured() {
            return (idle, false);
        }
        match self.speed {
            Speed::Max => (Duration::ZERO, false),
            Speed::Rate(_) => {
                probe::pacing_timeout(self.due(start, self.idx), Instant::now(), idle)
            }
            _ => (
                self.due(start, self.idx)
                    .saturating_duration_since(Instant::now())
                    .min(idle),
                false,
            ),
        }
    }

    fn due(&self, start: Instant, idx: usize) -> Instant {
        if let Speed::Rate(r) = self.speed {
            // Book event n at n / r; any other event with the book event before it.
            let slot = match self.tape.events[idx].body {
                TapeBody::Book(_) => self.book_events,
                _ => self.book_events.saturating_sub(1),
            };
            return start + Duration::from_secs_f64(slot as f64 / r);
        }
        let k = match self.speed {
            Speed::Multiple(k) => k,
            _ => 1.0,
        };
        let dt = self.tape.events[idx]
            .ts_ns
            .saturating_sub(self.tape.start_ns());
        start + Duration::from_nanos((dt as f64 / k) as u64)
    }

    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let id = self.next_id;
                    self.next_id += 1;
                    if self
                        .poll
                        .registry()
                        .register(
                            &mut stream,
                            Token(id as usize),
                            Interest::READABLE | Interest::WRITABLE,
                        )
                        .is_err()
                    {
                        continue;
                    }
                    let stream = match &self.tls {
                        None => SimStream::Plain(stream),
                        Some(cfg) => match rustls::ServerConnection::new(cfg.clone()) {
                            Ok(conn) => {
                                SimStream::Tls(Box::new(rustls::StreamOwned::new(conn, stream)))
                            }
                            Err(e) => {
                                log::warn!("mm-sim: TLS session: {e}");
                                continue;
                            }
                        },
                    };
                    let mut c = Conn {
                        closing: false,
                        io: Io::Handshaking(None),
                        queue: VecDeque::new(),
                        queue_bytes: 0,
                        inflight: 0,
                        blocked: false,
                        dead: false,
                        probe: self.probe.clone(),
                        unflushed: Vec::with_capacity(64),
                    };
                    match tungstenite::accept_with_config(stream, Some(self.ws_config)) {
                        Ok(ws) => {
                            c.io = Io::Open(Box::new(ws));
                            self.ex().on_connect(id);
                        }
                        Err(HandshakeError::Interrupted(m)) => {
                            c.io = Io::Handshaking(Some(Box::new(m)))
                        }
                        Err(HandshakeError::Failure(_)) => c.dead = true,
                    }
                    self.conns.insert(id, c);
                    if matches!(self.conns.get(&id).map(|c| &c.io), Some(Io::Open(_))) {
                        self.conn_event(id);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("mm-sim: accept: {e}");
                    break;
                }
            }
        }
    }

    fn conn_event(&mut self, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if let Io::Handshaking(mid) = &mut c.io {
            let Some(m) = mid.take() else { return };
            match (*m).handshake() {
                Ok(ws) => {
                    c.io = Io::Open(Box::new(ws));
                    self.ex().on_connect(id);
                }
                Err(HandshakeError::Interrupted(m)) => {
                    *mid = Some(Box::new(m));
                    return;
                }
                Err(HandshakeError::Failure(_)) => {
                    c.dead = true;
                    return;
                }
            }
        }
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let texts = c.read_texts();
        c.pump();
        for (t, t_read) in texts {
            let (outs, requested, delay_ms) = {
                let mut ex = self.ex();
                ex.probe_read_ns = t_read;
                let outs = ex.on_text(id, &t, wall_us());
                (outs, ex.replay_requested, ex.take_reply_delay_ms())
            };
            if self.started.is_none() && requested {
                self.started = Some(Instant::now());
            }
            if delay_ms > 0 {
                let due = Instant::now() + Duration::from_millis(delay_ms);
                self.delayed.push_back((due, outs));
            } else {
                self.route(outs);
            }
        }
        self.apply_drops();
    }

    fn route(&mut self, outs: Vec<Out>) {
        for o in outs {
            if let Some(c) = self.conns.get_mut(&o.conn) {
                if matches!(c.io, Io::Open(_)) && !c.dead {
                    let tag = match &self.probe {
                        None => NO_TAG,
                        Some(_) => probe::book_frame_instrument(&o.text)
                            .and_then(|name| self.insts.id(name))
                            .unwrap_or(NO_TAG),
                    };
                    c.queue_bytes += o.text.len();
                    c.queue.push_back((o.text, tag));
                }
            }
        }
    }

    fn replay_step(&mut self) {
        let Some(start) = self.started else { return };
        let n_ev = self.tape.events.len();
        let now = Instant::now();
        let mut n = 0;
        while self.idx < n_ev && !self.backpressured() {
            if self.speed != Speed::Max && self.due(start, self.idx) > now {
                break;
            }
            let outs = {
                let ev = &self.tape.events[self.idx];
                if matches!(ev.body, TapeBody::Book(_)) {
                    self.book_events += 1;
                }
                match self.shared.exchange.lock() {
                    Ok(mut g) => g.on_tape_event(ev),
                    Err(p) => p.into_inner().on_tape_event(ev),
                }
            };
            self.idx += 1;
            self.route(outs);
            self.apply_drops();
            n += 1;
            // Max: one event per loop turn, so requests are served between events.
            if self.speed == Speed::Max || n >= 512 {
                break;
            }
            if self.conns.values().any(|c| !c.queue.is_empty()) {
                self.pump_all();
            }
        }
        if self.idx >= n_ev && !self.shared.finished.load(Ordering::Relaxed) {
            // make sure the last frames are on their way before announcing the end
            self.pump_all();
            self.shared.finished.store(true, Ordering::Release);
        }
    }

    fn pump_all(&mut self) {
        for c in self.conns.values_mut() {
            if !c.queue.is_empty() || c.inflight > 0 {
                c.pump();
            }
            if c.closing && c.queue.is_empty() && !c.blocked && !c.dead {
                if let Io::Open(ws) = &mut c.io {
                    let _ = ws.close(None);
                    let _ = ws.flush();
                }
                c.dead = true;
            }
        }
    }

    fn reap(&mut self) {
        let dead: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.dead)
            .map(|(id, _)| *id)
            .collect();
        for id in dead {
            if let Some(mut c) = self.conns.remove(&id) {
                if let Io::Open(ws) = &mut c.io {
                    let _ = self.poll.registry().deregister(ws.get_mut().tcp_mut());
                }
            }
            let outs = self.ex().on_disconnect(id);
            self.route(outs);
        }
    }
}
