//! Non-blocking WebSocket client for the md and gateway threads: `mio` + `tungstenite`,
//! optionally over `rustls`.
//!
//! # Life cycle
//! 1. [`WsClient::connect`] resolves the host, connects TCP, runs the TLS handshake (for
//!    `wss://`) and the WebSocket upgrade. It blocks the calling thread for at most
//!    [`WsOptions::connect_timeout`] (DNS resolution excepted), driving a non-blocking socket
//!    with the client's own `mio::Poll`.
//! 2. The thread then polls: [`WsClient::read_frames`] delivers every complete frame available
//!    now and returns at once; [`WsClient::send_text`] queues a frame and writes what the
//!    socket takes without blocking; [`WsClient::flush`] retries the rest.
//! 3. With an idle policy that sleeps, [`WsClient::wait`] blocks in `epoll` until the socket
//!    is readable (or writable, or the timeout passes).
//!
//! # Allocation
//! Construction allocates the read buffer ([`READ_BUFFER_BYTES`]), the TLS buffers and the
//! `mio::Events` storage. On the read path tungstenite keeps one read buffer and hands out
//! each frame's payload as a `Bytes` view split off it; the view is dropped right after the
//! callback, so the buffer's space is reclaimed in place rather than reallocated. What still
//! allocates (a later issue replaces tungstenite's framing to remove it):
//! - a frame larger than the free space of the read buffer grows it (once per new maximum);
//! - fragmented messages (continuation frames) are reassembled into a fresh buffer;
//! - a ping keeps its payload alive until the pong is written;
//! - over TLS, rustls' buffered `StreamOwned` API copies every decrypted record into a fresh
//!   `Vec` (one allocation per TLS record: per frame for live traffic that sends one frame per
//!   record, far fewer in bursts). Plain `ws://` measured 0 allocations per frame in steady
//!   state, `wss://` one per record (`tests/ws_alloc.rs`). rustls' unbuffered API would remove
//!   it;
//! - every send copies the text into a new `Bytes` (tungstenite's `Message` owns its
//!   payload) and then again, masked, into the write buffer (amortised `Vec`).
//!
//! Text frames are UTF-8 validated by tungstenite (O(n), no allocation).

mod error;
mod tls;

pub use error::WsError;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rustls::{ClientConnection, StreamOwned};
use tungstenite::handshake::HandshakeError;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

/// Capacity of tungstenite's read buffer, bytes. Frames up to this size never grow it.
pub const READ_BUFFER_BYTES: usize = 256 * 1024;

/// Cap on queued outgoing bytes when the peer stops reading; past it
/// [`WsClient::send_text`] fails with [`WsError::WriteBufferFull`].
pub const MAX_WRITE_BUFFER_BYTES: usize = 16 * 1024 * 1024;

/// Largest accepted incoming message, bytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// How long [`WsClient::close`] keeps trying to write the close frame, at most.
pub const CLOSE_LINGER: Duration = Duration::from_millis(100);

const SOCKET: Token = Token(0);

/// Connection options.
#[derive(Clone, Debug)]
pub struct WsOptions {
    /// PEM with one or more CA certificates trusted **in addition to** the `webpki-roots`
    /// Mozilla set (e.g. the CA of the local venue simulator in tests). `None`: public roots
    /// only.
    pub extra_root_pem: Option<Vec<u8>>,
    /// Upper bound on TCP connect + TLS handshake + WebSocket upgrade (DNS resolution is
    /// not covered: it uses the blocking system resolver).
    pub connect_timeout: Duration,
    /// Set `TCP_NODELAY` (disable Nagle). Keep `true` for latency.
    pub tcp_nodelay: bool,
}

impl Default for WsOptions {
    /// Public roots only, 10 s connect timeout, `TCP_NODELAY` on.
    fn default() -> Self {
        WsOptions {
            extra_root_pem: None,
            connect_timeout: Duration::from_secs(10),
            tcp_nodelay: true,
        }
    }
}

/// The byte stream under tungstenite: plain TCP or TLS over TCP.
enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// A connected WebSocket client on a non-blocking socket. Owned by one thread (`Send`).
pub struct WsClient {
    ws: WebSocket<Stream>,
    poll: Poll,
    events: Events,
    peer: SocketAddr,
    tls: bool,
    closed: bool,
    /// The last write or flush left bytes queued.
    write_pending: bool,
}

impl std::fmt::Debug for WsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsClient")
            .field("peer", &self.peer)
            .field("tls", &self.tls)
            .field("closed", &self.closed)
            .field("write_pending", &self.write_pending)
            .finish()
    }
}

/// Parsed `ws://` / `wss://` URL.
struct Target {
    tls: bool,
    host: url::Host<String>,
    port: u16,
}

impl Target {
    fn parse(url: &str) -> Result<Target, WsError> {
        let u = url::Url::parse(url).map_err(|e| WsError::InvalidUrl(format!("{url:?}: {e}")))?;
        let tls = match u.scheme() {
            "ws" => false,
            "wss" => true,
            s => {
                return Err(WsError::InvalidUrl(format!(
                    "{url:?}: scheme {s:?} is not ws or wss"
                )))
            }
        };
        let host = u
            .host()
            .ok_or_else(|| WsError::InvalidUrl(format!("{url:?}: no host")))?
            .to_owned();
        let port = u
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 });
        Ok(Target { tls, host, port })
    }

    fn addrs(&self) -> Result<Vec<SocketAddr>, WsError> {
        match &self.host {
            url::Host::Ipv4(ip) => Ok(vec![SocketAddr::from((*ip, self.port))]),
            url::Host::Ipv6(ip) => Ok(vec![SocketAddr::from((*ip, self.port))]),
            url::Host::Domain(d) => {
                let addrs: Vec<SocketAddr> = (d.as_str(), self.port)
                    .to_socket_addrs()
                    .map_err(WsError::Resolve)?
                    .collect();
                if addrs.is_empty() {
                    Err(WsError::Resolve(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("{d} has no address"),
                    )))
                } else {
                    Ok(addrs)
                }
            }
        }
    }
}

/// Waits for any socket event until `deadline`.
fn poll_until(poll: &mut Poll, events: &mut Events, deadline: Instant) -> Result<(), WsError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(WsError::Timeout);
    }
    match poll.poll(events, Some(left)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
        Err(e) => Err(WsError::Io(e)),
    }
}

/// Non-blocking TCP connect to the first address that answers before `deadline`. The
/// returned socket is registered with `poll` (readable + writable, edge-triggered).
fn tcp_connect(
    poll: &mut Poll,
    events: &mut Events,
    addrs: &[SocketAddr],
    deadline: Instant,
) -> Result<(TcpStream, SocketAddr), WsError> {
    let mut last_err = io::Error::new(io::ErrorKind::NotFound, "no address to connect to");
    for &addr in addrs {
        let mut sock = match TcpStream::connect(addr) {
            Ok(s) => s,
            Err(e) => {
                last_err = e;
                continue;
            }
        };
        poll.registry()
            .register(&mut sock, SOCKET, Interest::READABLE | Interest::WRITABLE)
            .map_err(WsError::Io)?;
        let outcome = loop {
            if let Err(e) = poll_until(poll, events, deadline) {
                break Err(e);
            }
            match sock.take_error() {
                Ok(Some(e)) | Err(e) => break Ok(Err(e)),
                Ok(None) => {}
            }
            match sock.peer_addr() {
                Ok(_) => break Ok(Ok(())),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => continue,
                Err(e) => break Ok(Err(e)),
            }
        };
        match outcome {
            Ok(Ok(())) => return Ok((sock, addr)),
            Ok(Err(e)) => {
                let _ = poll.registry().deregister(&mut sock);
                last_err = e;
            }
            Err(e) => {
                let _ = poll.registry().deregister(&mut sock);
                return Err(e);
            }
        }
    }
    Err(WsError::Connect(last_err))
}

impl WsClient {
    /// Connects to `url` (`ws://host[:port][/path]` or `wss://…`) and completes the
    /// WebSocket upgrade. Blocks for at most `opts.connect_timeout` plus DNS resolution.
    /// After it returns the socket is non-blocking and registered with the client's
    /// `mio::Poll`.
    ///
    /// # Errors
    /// [`WsError::InvalidUrl`], [`WsError::Resolve`], [`WsError::Connect`],
    /// [`WsError::Timeout`], [`WsError::InvalidRootPem`], [`WsError::Tls`] (including
    /// certificate rejection), [`WsError::Handshake`], [`WsError::Io`].
    pub fn connect(url: &str, opts: &WsOptions) -> Result<WsClient, WsError> {
        let start = Instant::now();
        let deadline = start
            .checked_add(opts.connect_timeout)
            .unwrap_or_else(|| start + Duration::from_secs(86_400 * 365));
        let target = Target::parse(url)?;
        let tls = if target.tls {
            Some((
                tls::client_config(opts.extra_root_pem.as_deref())?,
                tls::server_name(&target.host)?,
            ))
        } else {
            None
        };
        let addrs = target.addrs()?;

        let mut poll = Poll::new().map_err(WsError::Io)?;
        let mut events = Events::with_capacity(8);
        let (sock, peer) = tcp_connect(&mut poll, &mut events, &addrs, deadline)?;
        sock.set_nodelay(opts.tcp_nodelay).map_err(WsError::Io)?;

        let is_tls = tls.is_some();
        let stream = match tls {
            Some((config, name)) => {
                let conn =
                    ClientConnection::new(Arc::clone(&config), name).map_err(WsError::Tls)?;
                Stream::Tls(Box::new(StreamOwned::new(conn, sock)))
            }
            None => Stream::Plain(sock),
        };

        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_BYTES)
            .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
            .max_message_size(Some(MAX_MESSAGE_BYTES));
        let mut attempt = tungstenite::client::client_with_config(url, stream, Some(config));
        let ws = loop {
            match attempt {
                Ok((ws, _response)) => break ws,
                Err(HandshakeError::Interrupted(mid)) => {
                    poll_until(&mut poll, &mut events, deadline)?;
                    attempt = mid.handshake();
                }
                Err(HandshakeError::Failure(e)) => return Err(WsError::from_handshake(e)),
            }
        };
        log::debug!(
            "ws connected to {peer} ({}) in {:?}",
            if is_tls { "tls" } else { "plain" },
            start.elapsed()
        );
        Ok(WsClient {
            ws,
            poll,
            events,
            peer,
            tls: is_tls,
            closed: false,
            write_pending: false,
        })
    }

    /// Delivers every complete text or binary frame available now to `on_frame` (payload
    /// bytes, valid only during the call) and returns how many were delivered; `Ok(0)` means
    /// nothing was available. Never blocks. Pings are answered automatically (the pong is
    /// written during this call or the next read/send/flush); pongs are ignored.
    ///
    /// Reads until the socket would block, so after `Ok(_)` it is safe to [`Self::wait`].
    ///
    /// # Errors
    /// [`WsError::Closed`] on a close frame, EOF or after [`Self::close`]; frames delivered
    /// earlier in the same call have been passed to `on_frame`. [`WsError::Protocol`],
    /// [`WsError::Capacity`], [`WsError::Tls`], [`WsError::Io`] on a broken connection.
    #[inline]
    pub fn read_frames(&mut self, on_frame: impl FnMut(&[u8])) -> Result<usize, WsError> {
        self.read_frames_max(usize::MAX, on_frame)
    }

    /// Like [`Self::read_frames`] but stops after `max` frames, so a busy feed cannot starve
    /// other work on the thread. When it returns `Ok(max)` more data may be buffered: call
    /// it again before [`Self::wait`].
    ///
    /// # Errors
    /// As [`Self::read_frames`].
    pub fn read_frames_max(
        &mut self,
        max: usize,
        mut on_frame: impl FnMut(&[u8]),
    ) -> Result<usize, WsError> {
        if max == 0 {
            return if self.closed {
                Err(WsError::Closed)
            } else {
                Ok(0)
            };
        }
        let mut n = 0;
        self.read_frames_while(|f| {
            on_frame(f);
            n += 1;
            n < max
        })
    }

    /// Like [`Self::read_frames`] but stops after a frame for which `on_frame` returns
    /// `false` (e.g. "a decision is waiting to be written": the thread that reads also
    /// writes). When it stopped that way more data may be buffered: call it again before
    /// [`Self::wait`] or [`wait_any`].
    ///
    /// # Errors
    /// As [`Self::read_frames`].
    pub fn read_frames_while(
        &mut self,
        mut on_frame: impl FnMut(&[u8]) -> bool,
    ) -> Result<usize, WsError> {
        if self.closed {
            return Err(WsError::Closed);
        }
        let mut n = 0;
        let mut go_on = true;
        while go_on {
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    go_on = on_frame(t.as_bytes());
                    n += 1;
                }
                Ok(Message::Binary(b)) => {
                    go_on = on_frame(&b);
                    n += 1;
                }
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                Ok(Message::Close(_)) => {
                    // Best effort: send the queued close reply, then report the close.
                    let _ = self.ws.flush();
                    self.closed = true;
                    return Err(WsError::Closed);
                }
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let err = WsError::from_ws(e);
                    if err.is_disconnect() {
                        self.closed = true;
                    }
                    return Err(err);
                }
            }
        }
        Ok(n)
    }

    /// Queues one text frame and writes as much as the socket accepts now. Never blocks; a
    /// remainder stays queued for [`Self::flush`] (or the next send/read).
    ///
    /// # Errors
    /// [`WsError::WriteBufferFull`] (the frame was not queued) when more than
    /// [`MAX_WRITE_BUFFER_BYTES`] are already waiting; [`WsError::Closed`] after a close;
    /// [`WsError::Tls`] / [`WsError::Io`] when the connection broke.
    pub fn send_text(&mut self, text: &str) -> Result<(), WsError> {
        self.queue_text(text)?;
        self.flush().map(|_| ())
    }

    /// Queues one text frame without writing it: the bytes reach the socket with the next
    /// [`Self::flush`] (or send), so that several frames leave in one `write` system call
    /// instead of one each. Never blocks. (tungstenite writes on its own only once its
    /// buffer passes 128 KiB.)
    ///
    /// # Errors
    /// As [`Self::send_text`].
    pub fn queue_text(&mut self, text: &str) -> Result<(), WsError> {
        if self.closed {
            return Err(WsError::Closed);
        }
        match self.ws.write(Message::text(text)) {
            Ok(()) => {}
            // The frame is in tungstenite's write buffer; the socket is just full.
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(self.fail(e)),
        }
        self.write_pending = true;
        Ok(())
    }

    /// Writes queued bytes without blocking. Returns `Ok(true)` when everything queued has
    /// reached the socket, `Ok(false)` when some remains (socket buffer full: call again,
    /// e.g. after [`Self::wait`]).
    ///
    /// # Errors
    /// [`WsError::Closed`], [`WsError::Tls`], [`WsError::Io`] when the connection broke.
    pub fn flush(&mut self) -> Result<bool, WsError> {
        if self.closed {
            return Err(WsError::Closed);
        }
        match self.ws.flush() {
            Ok(()) => {
                self.write_pending = false;
                Ok(true)
            }
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                self.write_pending = true;
                Ok(false)
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// True when bytes are queued: the last send/flush left some, or frames were queued since.
    pub fn has_pending_writes(&self) -> bool {
        self.write_pending
    }

    /// Blocks until the socket becomes readable or writable, or `timeout` passes (`None`:
    /// no limit). Wake-ups may be spurious; callers re-poll with [`Self::read_frames`].
    /// Events are edge-triggered: call it only after `read_frames` returned without hitting
    /// its `max`, or data already buffered will not wake it.
    ///
    /// # Errors
    /// [`WsError::Closed`] after a close; [`WsError::Io`] if `epoll_wait` fails.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<(), WsError> {
        if self.closed {
            return Err(WsError::Closed);
        }
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(WsError::Io(e)),
        }
    }

    /// The TCP socket's file descriptor (for [`wait_any`]; do not read or write it directly:
    /// the stream's framing and TLS state live in this client).
    #[cfg(unix)]
    pub fn socket_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.ws.get_ref().tcp().as_raw_fd()
    }

    /// A [`mio::Waker`] registered in this connection's `Poll` (token 1): waking it makes a
    /// [`Self::wait`] in progress (or the next one) return. Used by [`crate::Doorbell`] for
    /// threads that wait on this socket and on rings (`--idle wake`). One per connection.
    ///
    /// # Errors
    /// The `eventfd`/`epoll_ctl` error if it cannot be created.
    pub fn waker(&self) -> io::Result<mio::Waker> {
        mio::Waker::new(self.poll.registry(), Token(1))
    }

    /// Closes the connection: queues a close frame (and a TLS `close_notify`), tries for at
    /// most [`CLOSE_LINGER`] to write them, then shuts the socket down. Does not wait for the
    /// server's close reply. Idempotent; later calls to other methods return
    /// [`WsError::Closed`].
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let deadline = Instant::now() + CLOSE_LINGER;
        let mut res = self.ws.close(None);
        loop {
            match res {
                Err(tungstenite::Error::Io(ref e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    if poll_until(&mut self.poll, &mut self.events, deadline).is_err() {
                        break;
                    }
                    res = self.ws.flush();
                }
                _ => break,
            }
        }
        if let Stream::Tls(s) = self.ws.get_mut() {
            s.conn.send_close_notify();
            let _ = s.conn.write_tls(&mut s.sock);
        }
        let _ = self.ws.get_ref().tcp().shutdown(Shutdown::Both);
    }

    /// True after a close frame, EOF, a fatal error or [`Self::close`].
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The server's socket address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// True for a `wss://` connection.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    fn fail(&mut self, e: tungstenite::Error) -> WsError {
        let err = WsError::from_ws(e);
        if err.is_disconnect() {
            self.closed = true;
        }
        err
    }
}

/// Blocks until one of `clients` is readable (or writable, for one with
/// [`WsClient::has_pending_writes`]), or `timeout` passes: one `poll(2)` over their TCP
/// sockets, for a thread that serves several connections (the `--topology inline` engine
/// thread serves the market-data and the order connection). Wake-ups may be spurious; callers
/// re-poll with [`WsClient::read_frames`].
///
/// Implementation notes: `poll(2)` is level-triggered, so unlike [`WsClient::wait`] it may be
/// called with data still unread (it returns at once). It looks at the kernel socket only:
/// call it after `read_frames` returned `Ok(_)` (which drains TLS plaintext buffered in
/// rustls too). Closed clients are skipped; with none left it sleeps for `timeout`.
/// Linux/unix only (like the rest of the deployment target).
///
/// # Errors
/// [`WsError::Io`] if `poll` fails (`EINTR` is not an error).
#[cfg(unix)]
pub fn wait_any(clients: &[&WsClient], timeout: Duration) -> Result<(), WsError> {
    let mut fds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; 4];
    let mut n = 0;
    for c in clients.iter().filter(|c| !c.is_closed()).take(fds.len()) {
        fds[n].fd = c.socket_fd();
        fds[n].events = libc::POLLIN
            | if c.has_pending_writes() {
                libc::POLLOUT
            } else {
                0
            };
        n += 1;
    }
    if n == 0 {
        std::thread::sleep(timeout);
        return Ok(());
    }
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `fds[..n]` is a valid, initialised array of `n` pollfd structs that lives for
    // the whole call; poll(2) only writes their `revents` fields.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), n as libc::nfds_t, ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(WsError::Io(e));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parsing() {
        let t = Target::parse("ws://127.0.0.1:9000/ws/api/v2").unwrap();
        assert!(!t.tls);
        assert_eq!(t.port, 9000);
        let t = Target::parse("wss://www.deribit.com/ws/api/v2").unwrap();
        assert!(t.tls);
        assert_eq!(t.port, 443);
        assert_eq!(t.host, url::Host::Domain("www.deribit.com".to_owned()));
        let t = Target::parse("ws://[::1]/x").unwrap();
        assert_eq!(t.port, 80);
        assert_eq!(t.addrs().unwrap()[0].to_string(), "[::1]:80");
        for bad in ["http://example.com/", "ws://", "not a url", "wss://:443/x"] {
            let e = Target::parse(bad).err().expect(bad);
            assert!(matches!(e, WsError::InvalidUrl(_)), "{bad}: {e}");
        }
    }

    #[test]
    fn client_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<WsClient>();
    }
}
