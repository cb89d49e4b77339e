//! [`WsError`]: everything that can go wrong with a WebSocket connection.

use std::fmt;
use std::io;

/// Error of a [`WsClient`](super::WsClient) operation.
#[derive(Debug)]
#[non_exhaustive]
pub enum WsError {
    /// The URL is malformed, has no host, or its scheme is not `ws`/`wss`.
    InvalidUrl(String),
    /// The host name did not resolve to any address.
    Resolve(io::Error),
    /// The TCP connection could not be established (refused, unreachable, …); the error of
    /// the last address tried.
    Connect(io::Error),
    /// Connecting (TCP + TLS + WebSocket upgrade) took longer than
    /// [`WsOptions::connect_timeout`](super::WsOptions::connect_timeout).
    Timeout,
    /// [`WsOptions::extra_root_pem`](super::WsOptions::extra_root_pem) holds no usable
    /// certificate.
    InvalidRootPem(String),
    /// TLS failed: certificate verification (see [`WsError::is_certificate_error`]),
    /// handshake, or a record error.
    Tls(rustls::Error),
    /// The server refused or botched the WebSocket upgrade (non-101 status, bad headers).
    Handshake(String),
    /// The peer violated the WebSocket protocol (bad frame, masked server frame, invalid
    /// UTF-8 in a text frame, …). The connection is unusable.
    Protocol(String),
    /// An incoming message or frame exceeded the configured size limit.
    Capacity(String),
    /// The outgoing buffer is at its limit because the peer is not reading; the message was
    /// **not** queued.
    WriteBufferFull,
    /// The connection is closed: a close frame was received, the peer closed the socket
    /// (EOF), or [`WsClient::close`](super::WsClient::close) was called.
    Closed,
    /// Any other socket error (reset, broken pipe, …). The connection is unusable.
    Io(io::Error),
}

impl WsError {
    /// True when the TLS peer's certificate was rejected (unknown issuer, wrong host name,
    /// expired, …).
    pub fn is_certificate_error(&self) -> bool {
        matches!(
            self,
            WsError::Tls(rustls::Error::InvalidCertificate(_))
                | WsError::Tls(rustls::Error::NoCertificatesPresented)
        )
    }

    /// True when the connection is gone and the caller should reconnect (closed, reset,
    /// protocol violation). False for [`WsError::WriteBufferFull`], which is back-pressure.
    pub fn is_disconnect(&self) -> bool {
        !matches!(self, WsError::WriteBufferFull)
    }

    /// Maps an IO error, unwrapping a `rustls::Error` carried inside it (rustls reports TLS
    /// failures as `io::ErrorKind::InvalidData` wrapping its own error).
    pub(crate) fn from_io(e: io::Error) -> WsError {
        if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
            let kind = e.kind();
            match e.into_inner().map(|b| b.downcast::<rustls::Error>()) {
                Some(Ok(tls)) => return WsError::Tls(*tls),
                // Unreachable after the `is` check; keep a sensible fallback.
                _ => return WsError::Io(io::Error::from(kind)),
            }
        }
        match e.kind() {
            io::ErrorKind::UnexpectedEof => WsError::Closed,
            _ => WsError::Io(e),
        }
    }

    /// Maps a tungstenite error (after the caller has handled `WouldBlock`).
    pub(crate) fn from_ws(e: tungstenite::Error) -> WsError {
        use tungstenite::error::ProtocolError;
        use tungstenite::Error as E;
        #[allow(unreachable_patterns)]
        match e {
            E::ConnectionClosed | E::AlreadyClosed => WsError::Closed,
            E::Io(io) => WsError::from_io(io),
            E::Protocol(ProtocolError::ResetWithoutClosingHandshake) => WsError::Closed,
            E::Protocol(p) => WsError::Protocol(p.to_string()),
            E::Capacity(c) => WsError::Capacity(c.to_string()),
            E::WriteBufferFull(_) => WsError::WriteBufferFull,
            E::Utf8(s) => WsError::Protocol(format!("invalid UTF-8 in text frame: {s}")),
            E::AttackAttempt => WsError::Protocol("attack attempt detected".into()),
            E::Url(u) => WsError::InvalidUrl(u.to_string()),
            E::Http(resp) => WsError::Handshake(format!(
                "server answered the upgrade with HTTP {}",
                resp.status()
            )),
            E::HttpFormat(h) => WsError::Handshake(h.to_string()),
            other => WsError::Protocol(other.to_string()),
        }
    }

    /// Maps an error during the opening handshake: a connection that ends mid-handshake is
    /// a handshake failure, not an orderly close.
    pub(crate) fn from_handshake(e: tungstenite::Error) -> WsError {
        match WsError::from_ws(e) {
            WsError::Closed => WsError::Handshake("connection closed during the handshake".into()),
            WsError::Protocol(p) => WsError::Handshake(p),
            other => other,
        }
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsError::InvalidUrl(s) => write!(f, "invalid WebSocket URL: {s}"),
            WsError::Resolve(e) => write!(f, "cannot resolve host: {e}"),
            WsError::Connect(e) => write!(f, "TCP connect failed: {e}"),
            WsError::Timeout => f.write_str("connect timed out"),
            WsError::InvalidRootPem(s) => write!(f, "invalid extra root certificate PEM: {s}"),
            WsError::Tls(e) if self.is_certificate_error() => {
                write!(f, "TLS certificate rejected: {e}")
            }
            WsError::Tls(e) => write!(f, "TLS error: {e}"),
            WsError::Handshake(s) => write!(f, "WebSocket handshake failed: {s}"),
            WsError::Protocol(s) => write!(f, "WebSocket protocol error: {s}"),
            WsError::Capacity(s) => write!(f, "WebSocket message too large: {s}"),
            WsError::WriteBufferFull => {
                f.write_str("WebSocket write buffer full (peer not reading)")
            }
            WsError::Closed => f.write_str("WebSocket connection closed"),
            WsError::Io(e) => write!(f, "WebSocket IO error: {e}"),
        }
    }
}

impl std::error::Error for WsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WsError::Resolve(e) | WsError::Connect(e) | WsError::Io(e) => Some(e),
            WsError::Tls(e) => Some(e),
            _ => None,
        }
    }
}
