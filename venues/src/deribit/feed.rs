//! The market-data connection loop (the md thread of design.md §1).
//!
//! Connects, authenticates ([`login`]: Deribit `raw` channels need an authorised connection,
//! dossier §4.0; then `public/set_heartbeat`), subscribes `book.{i}.raw`, `ticker.{i}.raw` and `trades.{i}.raw` for every
//! instrument in batches, then reads frames, stamps their receive time, decodes them into
//! [`MdEvent`]s and pushes them to the md ring.
//!
//! Failure handling:
//! - a book gap (`prev_change_id` chain broken) → the decoder has already emitted `Gap` for the
//!   hot thread; this loop re-subscribes that instrument's book channel (unsubscribe +
//!   subscribe, dossier §4.1 "resync = resubscribe") so the venue sends a new snapshot;
//! - a malformed frame → counted and logged, nothing emitted for it;
//! - a full md ring → the loop waits for room (lossless back-pressure onto TCP), counted;
//! - heartbeats: every `test_request` is answered with `public/test`; the token is refreshed
//!   before it expires ([`AuthState::refresh_due`]);
//! - a disconnect (read error, close, or silence past 3 heartbeat intervals) → a
//!   `Disconnected` event, then reconnect with full-jitter exponential backoff
//!   ([`crate::deribit::backoff`]): connect, log in, re-subscribe everything; the books are
//!   rebuilt from the new snapshots. The loop ends only on `stop` or when reconnecting has
//!   been given up.

pub use crate::deribit::backoff::LinkPoll;
use crate::deribit::backoff::{silence_limit, Backoff, BackoffPolicy, LinkState, ReconnectOpts};
use crate::deribit::encode::Encoder;
use crate::deribit::md::{Frame, MdDecoder};
use crate::deribit::session::AuthState;
use mm_core::event::{MdEvent, MdKind, Stage, TelKind, Telemetry};
use mm_core::instrument::InstrumentTable;
use mm_io::ring::Producer;
use mm_io::{Doorbell, Idle, IdleWaiter, WsClient};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the md loop counted (returned when it ends).
#[derive(Clone, Debug, Default)]
pub struct FeedStats {
    /// Frames received.
    pub frames: u64,
    /// Frames that failed to decode (logged).
    pub decode_errors: u64,
    /// Book gaps detected.
    pub gaps: u64,
    /// Re-subscriptions sent after gaps.
    pub resubscribes: u64,
    /// Times the md ring was full and the loop waited.
    pub ring_full_waits: u64,
    /// Events pushed to the md ring.
    pub events: u64,
    /// Frames for channels or instruments we do not track.
    pub ignored: u64,
    /// Whether the connection dropped (as opposed to a requested stop).
    pub disconnected: bool,
    /// Heartbeat `test_request`s answered with `public/test`.
    pub test_answers: u64,
    /// Token refreshes completed (and refused).
    pub refreshes: u64,
    /// Token refreshes the venue refused.
    pub refresh_errors: u64,
    /// Successful reconnects after a lost connection.
    pub reconnects: u64,
    /// Time spent disconnected (lost → reconnected and subscribed), ns.
    pub down_ns: u64,
}

pub use crate::deribit::session::Credentials;

/// How a connection logs in and keeps alive (dossier §2, §3.1).
#[derive(Clone, Debug)]
pub struct SessionOpts {
    /// The API key and login method.
    pub creds: Credentials,
    /// `public/set_heartbeat` interval, seconds; 0 = do not ask for heartbeats.
    pub heartbeat_s: u32,
}

/// Channels of one instrument that the feed subscribes.
pub fn channels_for(name: &str) -> [String; 3] {
    [
        format!("book.{name}.raw"),
        format!("ticker.{name}.raw"),
        format!("trades.{name}.raw"),
    ]
}

/// Sends a request and blocks until the reply with `id` arrives (startup only); other frames
/// received meanwhile are passed to `other`.
///
/// # Errors
/// Socket errors, a JSON-RPC error reply (`code`, `message`), or no reply within `timeout`.
pub fn rpc_blocking(
    ws: &mut WsClient,
    frame: &str,
    id: u64,
    timeout: Duration,
    mut other: impl FnMut(&[u8]),
) -> Result<Vec<u8>, String> {
    ws.send_text(frame).map_err(|e| format!("send: {e}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        let _ = ws.flush();
        let mut reply: Option<Vec<u8>> = None;
        ws.read_frames(|f| {
            if reply.is_none() && reply_id(f) == Some(id) {
                reply = Some(f.to_vec());
            } else {
                other(f)
            }
        })
        .map_err(|e| format!("read: {e}"))?;
        if let Some(r) = reply {
            if let Some((code, msg)) = reply_error(&r) {
                return Err(format!("venue error {code}: {msg}"));
            }
            return Ok(r);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(format!("no reply to request {id} within {timeout:?}"));
        }
        let _ = ws.wait(Some((deadline - now).min(Duration::from_millis(50))));
    }
}

/// The `id` of a JSON-RPC reply frame, if it is one with an integer id (startup helper;
/// uses serde_json, off the hot path).
fn reply_id(frame: &[u8]) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_slice(frame).ok()?;
    v.get("id")?.as_u64()
}

fn reply_error(frame: &[u8]) -> Option<(i64, String)> {
    let v: serde_json::Value = serde_json::from_slice(frame).ok()?;
    let e = v.get("error")?;
    Some((
        e.get("code")?.as_i64().unwrap_or(0),
        e.get("message")
            .and_then(|m| m.as_str())
            .unwrap_or("")
            .to_string(),
    ))
}

/// Logs a connection in (`public/auth` per [`Credentials::method`]) and, with
/// `opts.heartbeat_s > 0`, asks for heartbeats (`public/set_heartbeat`). Uses request ids `id`
/// and `id + 1`. Returns the login state (tokens, refresh schedule).
///
/// # Errors
/// As [`rpc_blocking`]; a refused login names the venue's error code (e.g. `13004
/// invalid_credentials`).
pub fn login(
    ws: &mut WsClient,
    enc: &mut Encoder,
    id: u64,
    opts: &SessionOpts,
    clock: fn() -> u64,
) -> Result<AuthState, String> {
    let mut auth = AuthState::new(opts.creds.clone());
    let f = auth.login_frame(enc, id).to_string();
    let reply = rpc_blocking(ws, &f, id, Duration::from_secs(10), |_| {})
        .map_err(|e| format!("public/auth: {e}"))?;
    auth.on_auth_reply(&reply, clock())
        .map_err(|e| format!("public/auth: {e}"))?;
    if opts.heartbeat_s > 0 {
        let f = enc.set_heartbeat(id + 1, opts.heartbeat_s).to_string();
        rpc_blocking(ws, &f, id + 1, Duration::from_secs(10), |_| {})
            .map_err(|e| format!("public/set_heartbeat: {e}"))?;
    }
    Ok(auth)
}

/// Subscribes the book, ticker and trades channels of every instrument of `table`, in
/// batches of 100 instruments (subscribe calls are rate-limited separately: batch channels);
/// request ids from `*next_id` (incremented). Replies are not awaited (the read loop ignores
/// them).
///
/// # Errors
/// A failed write.
pub fn subscribe_all(
    ws: &mut WsClient,
    enc: &mut Encoder,
    next_id: &mut u64,
    table: &InstrumentTable,
) -> Result<(), String> {
    let names: Vec<String> = table.iter().map(|i| i.name.clone()).collect();
    for chunk in names.chunks(100) {
        let chans: Vec<String> = chunk.iter().flat_map(|n| channels_for(n)).collect();
        let refs: Vec<&str> = chans.iter().map(|s| s.as_str()).collect();
        let f = enc.subscribe(*next_id, &refs, false).to_string();
        ws.send_text(&f).map_err(|e| format!("subscribe: {e}"))?;
        *next_id += 1;
    }
    let _ = ws.flush();
    Ok(())
}

/// Where the md loop delivers decoded events: the md ring in the threaded topology
/// ([`RingMd`]), or straight into the engine when one thread reads, decides and writes
/// (`--topology inline`, `mm-tools`' `inline` module).
pub trait MdSink {
    /// Delivers one event (its `t_decoded` stamped). Must not drop it: a lost book change
    /// would corrupt the book mirror.
    fn push(&mut self, ev: MdEvent, stats: &mut FeedStats);
    /// The events of one frame were all pushed (the ring's consumer may be woken).
    fn frame_done(&mut self);
    /// Checked after each frame: true = stop reading and hand the turn back (a decision is
    /// waiting to be written by the same thread). The ring sink never does.
    #[inline]
    fn hand_back(&self) -> bool {
        false
    }
}

/// [`MdSink`] over the md ring: waits for room when it is full (lossless back-pressure onto
/// TCP, counted in [`FeedStats::ring_full_waits`]) and rings the hot thread's [`Doorbell`]
/// after each frame's events (one `bool` load unless `--idle wake`).
pub struct RingMd<'a> {
    /// The md ring.
    pub tx: &'a mut Producer<MdEvent>,
    /// The hot thread's doorbell.
    pub bell: &'a Doorbell,
}

impl MdSink for RingMd<'_> {
    #[inline]
    fn push(&mut self, ev: MdEvent, stats: &mut FeedStats) {
        push_md(self.tx, ev, stats);
    }
    #[inline]
    fn frame_done(&mut self) {
        self.bell.ring();
    }
}

/// What one frame handler needs besides the frame (one md connection's state).
struct FrameCtx<'a, S: MdSink> {
    dec: &'a mut MdDecoder,
    scratch: &'a mut Vec<MdEvent>,
    stats: &'a mut FeedStats,
    resub: &'a mut Vec<u32>,
    answer_test: &'a mut bool,
    refresh_id: Option<u64>,
    refresh_reply: &'a mut Option<Vec<u8>>,
    sink: &'a mut S,
    tel_tx: &'a mut Producer<Telemetry>,
    clock: fn() -> u64,
}

/// Pushes an event, waiting for room (lossless back-pressure onto TCP).
fn push_md(md_tx: &mut Producer<MdEvent>, ev: MdEvent, stats: &mut FeedStats) {
    let mut e = ev;
    loop {
        match md_tx.push(e) {
            Ok(()) => return,
            Err(back) => {
                e = back;
                stats.ring_full_waits += 1;
                std::thread::yield_now();
            }
        }
    }
}

fn on_frame<S: MdSink>(frame: &[u8], c: &mut FrameCtx<'_, S>) {
    let t_recv = (c.clock)();
    c.stats.frames += 1;
    c.scratch.clear();
    let scratch = &mut *c.scratch;
    let res = c.dec.decode(frame, t_recv, &mut |ev| {
        if scratch.len() < scratch.capacity() {
            scratch.push(ev)
        }
    });
    let t_dec = (c.clock)();
    match res {
        Ok(Frame::Gap { instrument }) => {
            c.stats.gaps += 1;
            c.resub.push(instrument);
        }
        Ok(Frame::Heartbeat { test_request: true }) => *c.answer_test = true,
        Ok(Frame::Rpc { id } | Frame::RpcError { id, .. }) if Some(id) == c.refresh_id => {
            *c.refresh_reply = Some(frame.to_vec());
        }
        Ok(Frame::Ignored) => c.stats.ignored += 1,
        Ok(_) => {}
        Err(e) => {
            c.stats.decode_errors += 1;
            log::warn!(
                "md: malformed frame dropped ({e}): {}",
                String::from_utf8_lossy(&frame[..frame.len().min(200)])
            );
            return;
        }
    }
    if !c.scratch.is_empty() {
        let _ = c.tel_tx.push(Telemetry {
            t: t_dec,
            kind: TelKind::Latency,
            stage: Stage::Decode,
            a: t_dec.saturating_sub(t_recv) as i64,
            ..Default::default()
        });
    }
    for ev in c.scratch.iter_mut() {
        ev.t_decoded = t_dec;
        c.sink.push(*ev, c.stats);
        c.stats.events += 1;
    }
    if !c.scratch.is_empty() {
        c.sink.frame_done();
    }
}

/// The md connection as a pollable state machine: connected (read, decode, answer
/// heartbeats, refresh the token, re-subscribe gapped books) or down (waiting for the next
/// full-jitter backoff attempt, [`crate::deribit::backoff`]). [`run_feed`] polls it on the
/// md thread; the `--topology inline` engine thread polls it between its other work. A
/// reconnect attempt (connect, [`login`], [`subscribe_all`]) blocks the polling thread for
/// its duration (a few round trips; [`WsOptions::connect_timeout`](mm_io::WsOptions) at most
/// per step).
///
/// Allocates on construction (decoder, scratch buffers) and when a reconnect or a token
/// refresh happens; not per frame.
pub struct FeedLink {
    ws: WsClient,
    rc: ReconnectOpts,
    table: Arc<InstrumentTable>,
    opts: SessionOpts,
    auth: AuthState,
    enc: Encoder,
    next_id: u64,
    dec: MdDecoder,
    stats: FeedStats,
    backoff: Backoff,
    state: LinkState,
    // Per-connection state.
    refresh_reply: Option<Vec<u8>>,
    scratch: Vec<MdEvent>,
    resub: Vec<u32>,
    answer_test: bool,
    silence: Option<u64>,
    last_frame: u64,
    clock: fn() -> u64,
}

impl FeedLink {
    /// Logs `ws` in and subscribes every instrument of `table` ([`login`],
    /// [`subscribe_all`]).
    ///
    /// # Errors
    /// The login or the subscription failing (a startup error).
    pub fn open(
        mut ws: WsClient,
        rc: &ReconnectOpts,
        table: Arc<InstrumentTable>,
        opts: &SessionOpts,
        clock: fn() -> u64,
    ) -> Result<FeedLink, String> {
        let mut enc = Encoder::new();
        let mut next_id: u64 = 1;
        let auth = login(&mut ws, &mut enc, next_id, opts, clock)?;
        next_id += 2;
        subscribe_all(&mut ws, &mut enc, &mut next_id, &table)?;
        Ok(FeedLink {
            ws,
            rc: rc.clone(),
            dec: MdDecoder::new(table.clone()),
            resub: Vec::with_capacity(table.len()),
            table,
            opts: opts.clone(),
            auth,
            enc,
            next_id,
            stats: FeedStats::default(),
            backoff: Backoff::new(BackoffPolicy {
                seed: rc.policy.seed ^ 0x6d64,
                ..rc.policy.clone()
            }),
            state: LinkState::default(),
            refresh_reply: None,
            scratch: Vec::with_capacity(8192),
            answer_test: false,
            silence: silence_limit(opts.heartbeat_s).map(|d| d.as_nanos() as u64),
            last_frame: clock(),
            clock,
        })
    }

    /// One turn: while connected, read and decode every frame available now into `sink`
    /// and do the connection's chores; while down, attempt a reconnect when it is due. When
    /// the connection is lost (read error or close, or no frame for [`silence_limit`] of the
    /// heartbeat interval) one `Disconnected` event goes to `sink` (the engine clears every
    /// book, stops trusting them and pulls its quotes); after a reconnect every book decoder
    /// is reset, so each book is trusted again only from its new snapshot.
    pub fn poll<S: MdSink>(
        &mut self,
        sink: &mut S,
        tel_tx: &mut Producer<Telemetry>,
        stop: &AtomicBool,
    ) -> LinkPoll {
        if self.state.is_ended() {
            return LinkPoll::Ended;
        }
        if stop.load(Ordering::Relaxed) {
            self.end();
            return LinkPoll::Ended;
        }
        if self.state.is_down() {
            return self.try_reconnect();
        }
        match self.serve(sink, tel_tx) {
            Ok(n) if n > 0 => LinkPoll::Work,
            Ok(_) => LinkPoll::Idle,
            Err(why) => {
                log::warn!("md: connection lost: {why}");
                self.close_connection();
                self.stats.disconnected = true;
                sink.push(
                    MdEvent {
                        t_recv: (self.clock)(),
                        kind: MdKind::Disconnected,
                        instrument: u32::MAX,
                        ..Default::default()
                    },
                    &mut self.stats,
                );
                sink.frame_done();
                self.state.lose(&mut self.backoff, "md")
            }
        }
    }

    /// Blocks in the socket's `epoll` until it is readable or `timeout` passed (idle
    /// policies that sleep); while down, sleeps until the next attempt is due (at most
    /// `timeout`, and at most 5 ms so `stop` is seen).
    pub fn wait(&mut self, timeout: Duration) {
        self.state
            .wait(&mut self.ws, timeout.min(Duration::from_millis(5)));
    }

    /// The connection, while connected (for [`mm_io::wait_any`]).
    pub fn connection(&self) -> Option<&WsClient> {
        self.state.is_up().then_some(&self.ws)
    }

    /// True once the link ended ([`LinkPoll::Ended`]).
    pub fn is_ended(&self) -> bool {
        self.state.is_ended()
    }

    /// What the link counted.
    pub fn stats(&self) -> &FeedStats {
        &self.stats
    }

    /// Closes the link (if not yet) and returns its counters.
    pub fn finish(mut self) -> FeedStats {
        self.end();
        self.stats
    }

    fn end(&mut self) {
        if self.state.is_up() {
            self.close_connection();
        }
        self.state.end();
    }

    /// Closes the socket and books the login's refresh counts.
    fn close_connection(&mut self) {
        self.stats.refreshes += self.auth.refreshes;
        self.stats.refresh_errors += self.auth.refresh_errors;
        self.auth.refreshes = 0;
        self.auth.refresh_errors = 0;
        self.ws.close();
    }

    /// While down: makes the reconnect attempt when due (connect, [`login`],
    /// [`subscribe_all`]); on success every book decoder is reset.
    fn try_reconnect(&mut self) -> LinkPoll {
        let (enc, opts, table, clock) = (&mut self.enc, &self.opts, &self.table, self.clock);
        let first_id = self.next_id;
        let mut setup = |w: &mut WsClient| {
            let mut id = first_id;
            let a = login(w, enc, id, opts, clock)?;
            id += 2;
            subscribe_all(w, enc, &mut id, table)?;
            Ok((a, id))
        };
        let (w, (a, id), since) =
            match self
                .state
                .reconnect(&self.rc, &mut self.backoff, "md", &mut setup)
            {
                Ok(up) => up,
                Err(p) => return p,
            };
        self.ws = w;
        self.auth = a;
        self.next_id = id;
        for inst in self.table.iter() {
            self.dec.reset_instrument(inst.id);
        }
        self.refresh_reply = None;
        self.resub.clear();
        self.answer_test = false;
        self.last_frame = (self.clock)();
        self.stats.reconnects += 1;
        self.stats.down_ns += since.elapsed().as_nanos() as u64;
        LinkPoll::Work
    }

    /// One read turn on the live connection; `Err` = lost (why).
    fn serve<S: MdSink>(
        &mut self,
        sink: &mut S,
        tel_tx: &mut Producer<Telemetry>,
    ) -> Result<usize, String> {
        let clock = self.clock;
        let mut ctx = FrameCtx {
            dec: &mut self.dec,
            scratch: &mut self.scratch,
            stats: &mut self.stats,
            resub: &mut self.resub,
            answer_test: &mut self.answer_test,
            refresh_id: self.auth.pending_refresh(),
            refresh_reply: &mut self.refresh_reply,
            sink,
            tel_tx,
            clock,
        };
        let n = self
            .ws
            .read_frames_while(|f| {
                on_frame(f, &mut ctx);
                !ctx.sink.hand_back()
            })
            .map_err(|e| format!("{e}"))?;
        if n > 0 {
            self.last_frame = clock();
        } else if self
            .silence
            .is_some_and(|s| clock().saturating_sub(self.last_frame) > s)
        {
            return Err(format!(
                "no frame for {:.1} s (heartbeat interval {} s)",
                clock().saturating_sub(self.last_frame) as f64 / 1e9,
                self.opts.heartbeat_s
            ));
        }
        if self.answer_test {
            self.answer_test = false;
            let f = self.enc.test(self.next_id).to_string();
            self.next_id += 1;
            let _ = self.ws.send_text(&f);
            self.stats.test_answers += 1;
        }
        if let Some(r) = self.refresh_reply.take() {
            self.auth.on_refresh_reply(&r, clock());
        }
        if self.auth.refresh_due(clock()) {
            let f = self
                .auth
                .refresh_frame(&mut self.enc, self.next_id)
                .to_string();
            self.next_id += 1;
            let _ = self.ws.send_text(&f);
        }
        for i in 0..self.resub.len() {
            let inst = self.resub[i];
            let chan = format!("book.{}.raw", self.table.get(inst).name);
            let f = self
                .enc
                .unsubscribe(self.next_id, &[chan.as_str()], false)
                .to_string();
            self.next_id += 1;
            let _ = self.ws.send_text(&f);
            let f = self
                .enc
                .subscribe(self.next_id, &[chan.as_str()], false)
                .to_string();
            self.next_id += 1;
            let _ = self.ws.send_text(&f);
            self.dec.reset_instrument(inst);
            self.stats.resubscribes += 1;
        }
        self.resub.clear();
        let _ = self.ws.flush();
        Ok(n)
    }
}

/// The md loop. Runs until `stop` is set, or the connection is lost and reconnecting has
/// been given up (`rc.policy.give_up_after`, `--reconnect-max-secs`).
///
/// `ws` must be connected; this function authenticates and subscribes ([`FeedLink::open`])
/// and polls the [`FeedLink`] into the md ring, idling per `idle` when nothing arrived.
/// When the connection is lost it pushes one `Disconnected` event, then reconnects with
/// full-jitter backoff: connect, [`login`], [`subscribe_all`]; each book is trusted again
/// only from its new snapshot. Successful reconnects are counted in
/// `FeedStats::reconnects`.
///
/// # Errors
/// The first login failing (a startup error).
#[allow(clippy::too_many_arguments)]
pub fn run_feed(
    ws: WsClient,
    rc: &ReconnectOpts,
    table: Arc<InstrumentTable>,
    opts: &SessionOpts,
    md_tx: &mut Producer<MdEvent>,
    tel_tx: &mut Producer<Telemetry>,
    stop: &AtomicBool,
    idle: Idle,
    hot_bell: &Doorbell,
    clock: fn() -> u64,
) -> Result<FeedStats, String> {
    let mut link = FeedLink::open(ws, rc, table, opts, clock)?;
    let mut sink = RingMd {
        tx: md_tx,
        bell: hot_bell,
    };
    let mut waiter = IdleWaiter::new(idle);
    loop {
        match link.poll(&mut sink, tel_tx, stop) {
            LinkPoll::Ended => break,
            LinkPoll::Work => waiter.reset(),
            LinkPoll::Down => link.wait(Duration::from_millis(5)),
            LinkPoll::Idle => {
                if idle == Idle::Park {
                    link.wait(Duration::from_millis(2));
                } else if waiter.should_sleep_after(mm_io::thread::WAKE_SOCKET_SPINS) {
                    // `--idle wake`: block in epoll until the socket is readable; the timeout
                    // bounds how late the stop flag, the heartbeat silence check and the token
                    // refresh are looked at.
                    link.wait(mm_io::thread::WAKE_MAX_SLEEP);
                } else {
                    waiter.idle();
                }
            }
        }
    }
    Ok(link.finish())
}
