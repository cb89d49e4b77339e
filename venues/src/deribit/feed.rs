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

use crate::deribit::backoff::{
    reconnect, silence_limit, Backoff, BackoffPolicy, Ended, ReconnectOpts,
};
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

/// What one frame handler needs besides the frame (one md connection's state).
struct FrameCtx<'a> {
    dec: &'a mut MdDecoder,
    scratch: &'a mut Vec<MdEvent>,
    stats: &'a mut FeedStats,
    resub: &'a mut Vec<u32>,
    answer_test: &'a mut bool,
    refresh_id: Option<u64>,
    refresh_reply: &'a mut Option<Vec<u8>>,
    md_tx: &'a mut Producer<MdEvent>,
    tel_tx: &'a mut Producer<Telemetry>,
    hot_bell: &'a Doorbell,
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

fn on_frame(frame: &[u8], c: &mut FrameCtx<'_>) {
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
        push_md(c.md_tx, *ev, c.stats);
        c.stats.events += 1;
    }
    if !c.scratch.is_empty() {
        c.hot_bell.ring();
    }
}

/// The md loop. Runs until `stop` is set, or the connection is lost and reconnecting has
/// been given up (`rc.policy.give_up_after`, `--reconnect-max-secs`).
///
/// `ws` must be connected; this function authenticates and subscribes. When the connection
/// is lost (read error or close, or no frame for [`silence_limit`] of the heartbeat
/// interval) it pushes one `Disconnected` event (the engine clears every book, stops trusting
/// them and pulls its quotes), then reconnects with [`reconnect`]'s full-jitter backoff:
/// connect, [`login`], [`subscribe_all`]. Every book decoder is reset, so each book is
/// trusted again only from its new snapshot (`BookClear … BookDone`). Successful reconnects
/// are counted in `FeedStats::reconnects`.
///
/// # Errors
/// The first login failing (a startup error).
#[allow(clippy::too_many_arguments)]
pub fn run_feed(
    mut ws: WsClient,
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
    let mut enc = Encoder::new();
    let mut next_id: u64 = 1;
    let mut auth = login(&mut ws, &mut enc, next_id, opts, clock)?;
    next_id += 2;
    let mut dec = MdDecoder::new(table.clone());
    let mut stats = FeedStats::default();
    subscribe_all(&mut ws, &mut enc, &mut next_id, &table)?;
    let mut backoff = Backoff::new(BackoffPolicy {
        seed: rc.policy.seed ^ 0x6d64,
        ..rc.policy.clone()
    });
    loop {
        let ended = serve_feed(
            &mut ws,
            &mut auth,
            &mut enc,
            &mut next_id,
            &mut dec,
            &table,
            opts,
            &mut stats,
            md_tx,
            tel_tx,
            stop,
            idle,
            hot_bell,
            clock,
        );
        stats.refreshes += auth.refreshes;
        stats.refresh_errors += auth.refresh_errors;
        ws.close();
        let Ended::Lost(why) = ended else { break };
        log::warn!("md: connection lost: {why}");
        stats.disconnected = true;
        push_md(
            md_tx,
            MdEvent {
                t_recv: clock(),
                kind: MdKind::Disconnected,
                instrument: u32::MAX,
                ..Default::default()
            },
            &mut stats,
        );
        hot_bell.ring();
        let down_since = Instant::now();
        let setup = |w: &mut WsClient| {
            let mut id = next_id;
            let a = login(w, &mut enc, id, opts, clock)?;
            id += 2;
            subscribe_all(w, &mut enc, &mut id, &table)?;
            Ok((a, id))
        };
        let Some((w, (a, id))) =
            reconnect(rc, &mut backoff, down_since, stop, "md", setup, &mut || {})
        else {
            break;
        };
        ws = w;
        auth = a;
        next_id = id;
        for inst in table.iter() {
            dec.reset_instrument(inst.id);
        }
        stats.reconnects += 1;
        stats.down_ns += down_since.elapsed().as_nanos() as u64;
    }
    Ok(stats)
}

/// One md connection's read loop (see [`run_feed`]): until `stop` or the connection is lost.
#[allow(clippy::too_many_arguments)]
fn serve_feed(
    ws: &mut WsClient,
    auth: &mut AuthState,
    enc: &mut Encoder,
    next_id: &mut u64,
    dec: &mut MdDecoder,
    table: &InstrumentTable,
    opts: &SessionOpts,
    stats: &mut FeedStats,
    md_tx: &mut Producer<MdEvent>,
    tel_tx: &mut Producer<Telemetry>,
    stop: &AtomicBool,
    idle: Idle,
    hot_bell: &Doorbell,
    clock: fn() -> u64,
) -> Ended {
    // A refresh reply received by the frame handler, taken after the read.
    let mut refresh_reply: Option<Vec<u8>> = None;
    let mut scratch: Vec<MdEvent> = Vec::with_capacity(8192);
    let mut resub: Vec<u32> = Vec::with_capacity(table.len());
    let mut answer_test = false;
    // Silence limit in ns of `clock` (the connection's monotonic clock, no syscall).
    let silence = silence_limit(opts.heartbeat_s).map(|d| d.as_nanos() as u64);
    let mut last_frame = clock();
    let mut waiter = IdleWaiter::new(idle);
    while !stop.load(Ordering::Relaxed) {
        let mut ctx = FrameCtx {
            dec,
            scratch: &mut scratch,
            stats,
            resub: &mut resub,
            answer_test: &mut answer_test,
            refresh_id: auth.pending_refresh(),
            refresh_reply: &mut refresh_reply,
            md_tx,
            tel_tx,
            hot_bell,
            clock,
        };
        let n = match ws.read_frames(|f| on_frame(f, &mut ctx)) {
            Ok(n) => n,
            Err(e) => return Ended::Lost(format!("{e}")),
        };
        if n > 0 {
            last_frame = clock();
        } else if silence.is_some_and(|s| clock().saturating_sub(last_frame) > s) {
            return Ended::Lost(format!(
                "no frame for {:.1} s (heartbeat interval {} s)",
                clock().saturating_sub(last_frame) as f64 / 1e9,
                opts.heartbeat_s
            ));
        }
        if answer_test {
            answer_test = false;
            let f = enc.test(*next_id).to_string();
            *next_id += 1;
            let _ = ws.send_text(&f);
            stats.test_answers += 1;
        }
        if let Some(r) = refresh_reply.take() {
            auth.on_refresh_reply(&r, clock());
        }
        if auth.refresh_due(clock()) {
            let f = auth.refresh_frame(enc, *next_id).to_string();
            *next_id += 1;
            let _ = ws.send_text(&f);
        }
        for inst in resub.drain(..) {
            let name = &table.get(inst).name;
            let chan = format!("book.{name}.raw");
            let f = enc
                .unsubscribe(*next_id, &[chan.as_str()], false)
                .to_string();
            *next_id += 1;
            let _ = ws.send_text(&f);
            let f = enc.subscribe(*next_id, &[chan.as_str()], false).to_string();
            *next_id += 1;
            let _ = ws.send_text(&f);
            dec.reset_instrument(inst);
            stats.resubscribes += 1;
        }
        let _ = ws.flush();
        if n == 0 {
            if idle == Idle::Park {
                let _ = ws.wait(Some(Duration::from_millis(2)));
            } else if waiter.should_sleep_after(mm_io::thread::WAKE_SOCKET_SPINS) {
                // `--idle wake`: block in epoll until the socket is readable; the timeout
                // bounds how late the stop flag, the heartbeat silence check and the token
                // refresh are looked at.
                let _ = ws.wait(Some(mm_io::thread::WAKE_MAX_SLEEP));
            } else {
                waiter.idle();
            }
        } else {
            waiter.reset();
        }
    }
    Ended::Stopped
}
