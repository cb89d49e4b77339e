//! The simulator's server thread: one `mio` event loop over the listener, every connection
//! (tungstenite server handshake, then text frames) and the tape clock.
//!
//! Output per connection goes through an explicit queue. Frames are handed to tungstenite in
//! batches and flushed; when the socket would block the connection waits for a writable event.
//! The replay never runs ahead while any connection has more than [`MAX_BACKLOG`] bytes
//! unsent, so `Speed::Max` is paced by the slowest subscriber instead of buffering the tape
//! in memory; incoming requests are processed between every two tape events.

use super::exchange::{wall_us, ConnId, Out};
use super::tape::Tape;
use super::{Shared, SimConfig, Speed};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
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

type Mid = MidHandshake<ServerHandshake<TcpStream, NoCallback>>;

enum Io {
    Handshaking(Option<Box<Mid>>),
    Open(Box<WebSocket<TcpStream>>),
}

struct Conn {
    io: Io,
    queue: VecDeque<String>,
    queue_bytes: usize,
    inflight: usize,
    blocked: bool,
    dead: bool,
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
            while let Some(m) = self.queue.pop_front() {
                self.queue_bytes -= m.len();
                batch += m.len();
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

    /// Reads every available text frame.
    fn read_texts(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let Io::Open(ws) = &mut self.io else {
            return out;
        };
        loop {
            match ws.read() {
                Ok(Message::Text(t)) => out.push(t.as_str().to_string()),
                Ok(Message::Binary(b)) => out.push(String::from_utf8_lossy(&b).into_owned()),
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
}

/// Binds, spawns the server thread; returns the address, the waker and the thread.
pub(crate) fn spawn(
    cfg: SimConfig,
    tape: Tape,
    shared: Arc<Shared>,
) -> io::Result<(SocketAddr, Arc<Waker>, std::thread::JoinHandle<()>)> {
    let std_listener = std::net::TcpListener::bind(cfg.listen)?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let mut listener = TcpListener::from_std(std_listener);
    let poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
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
    };
    let thread = std::thread::Builder::new()
        .name("mm-sim".into())
        .spawn(move || server.run())?;
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
            let timeout = self.timeout();
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
                    Token(t) => self.conn_event(t as ConnId),
                }
            }
            self.replay_step();
            self.pump_all();
            self.reap();
        }
        for c in self.conns.values_mut() {
            if let Io::Open(ws) = &mut c.io {
                let _ = ws.close(None);
                let _ = ws.flush();
            }
        }
    }

    fn backpressured(&self) -> bool {
        self.conns.values().any(|c| c.backlog() > MAX_BACKLOG)
    }

    fn timeout(&self) -> Duration {
        let idle = Duration::from_millis(100);
        let Some(start) = self.started else {
            return idle;
        };
        if self.idx >= self.tape.events.len() || self.backpressured() {
            return idle;
        }
        match self.speed {
            Speed::Max => Duration::ZERO,
            _ => self
                .due(start, self.idx)
                .saturating_duration_since(Instant::now())
                .min(idle),
        }
    }

    fn due(&self, start: Instant, idx: usize) -> Instant {
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
                    let mut c = Conn {
                        io: Io::Handshaking(None),
                        queue: VecDeque::new(),
                        queue_bytes: 0,
                        inflight: 0,
                        blocked: false,
                        dead: false,
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
        for t in texts {
            let (outs, requested) = {
                let mut ex = self.ex();
                let outs = ex.on_text(id, &t, wall_us());
                (outs, ex.replay_requested)
            };
            if self.started.is_none() && requested {
                self.started = Some(Instant::now());
            }
            self.route(outs);
        }
    }

    fn route(&mut self, outs: Vec<Out>) {
        for o in outs {
            if let Some(c) = self.conns.get_mut(&o.conn) {
                if matches!(c.io, Io::Open(_)) && !c.dead {
                    c.queue_bytes += o.text.len();
                    c.queue.push_back(o.text);
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
                match self.shared.exchange.lock() {
                    Ok(mut g) => g.on_tape_event(ev),
                    Err(p) => p.into_inner().on_tape_event(ev),
                }
            };
            self.idx += 1;
            self.route(outs);
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
                    let _ = self.poll.registry().deregister(ws.get_mut());
                }
            }
            let outs = self.ex().on_disconnect(id);
            self.route(outs);
        }
    }
}
