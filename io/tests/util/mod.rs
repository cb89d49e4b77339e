//! Loopback WebSocket test servers (plain and TLS) and certificate helpers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mm_io::{WsClient, WsError};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use tungstenite::{Message, WebSocket};

/// A test CA: its certificate (PEM, for `WsOptions::extra_root_pem`) and signing material.
pub struct TestCa {
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        TestCa { cert, key }
    }

    pub fn pem(&self) -> Vec<u8> {
        self.cert.pem().into_bytes()
    }

    /// A server config presenting a leaf for `names` (DNS names or IPs) signed by this CA.
    pub fn server_config(&self, names: &[&str]) -> Arc<ServerConfig> {
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name.push(DnType::CommonName, names[0]);
        p.is_ca = IsCa::NoCa;
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let leaf = p.signed_by(&key, &self.cert, &self.key).unwrap();
        let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone()];
        let key: PrivateKeyDer<'static> = PrivatePkcs8KeyDer::from(key.serialize_der()).into();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        Arc::new(cfg)
    }
}

/// What the server thread saw.
#[derive(Debug, Default)]
pub struct ServerLog {
    pub handshake_ok: bool,
    pub frames: usize,
    pub got_close: bool,
}

/// Spawns a one-connection WebSocket server on 127.0.0.1 (TLS when `tls` is given).
/// Behaviour per received text frame:
/// - `ping-me`: sends a ping, waits for the pong, then replies `pong-ok`;
/// - `close-me`: starts the close handshake;
/// - `burst:N:LEN`: sends N text frames of LEN bytes (`b'x'`), numbered in the first 8 bytes;
/// - anything else (text or binary): echoed back.
pub fn spawn_server(tls: Option<Arc<ServerConfig>>) -> (SocketAddr, JoinHandle<ServerLog>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        let mut log = ServerLog::default();
        let Ok((tcp, _)) = listener.accept() else {
            return log;
        };
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        tcp.set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        tcp.set_nodelay(true).unwrap();
        match tls {
            Some(cfg) => {
                let conn = ServerConnection::new(cfg).unwrap();
                let stream = StreamOwned::new(conn, tcp);
                if let Ok(ws) = tungstenite::accept(stream) {
                    log.handshake_ok = true;
                    serve(ws, &mut log);
                }
            }
            None => {
                if let Ok(ws) = tungstenite::accept(tcp) {
                    log.handshake_ok = true;
                    serve(ws, &mut log);
                }
            }
        }
        log
    });
    (addr, h)
}

fn serve<S: Read + Write>(mut ws: WebSocket<S>, log: &mut ServerLog) {
    loop {
        let msg = match ws.read() {
            Ok(m) => m,
            Err(_) => return,
        };
        match msg {
            Message::Text(t) if t.as_str() == "ping-me" => {
                log.frames += 1;
                if ws.send(Message::Ping(b"hb"[..].into())).is_err() {
                    return;
                }
                loop {
                    match ws.read() {
                        Ok(Message::Pong(p)) if &p[..] == b"hb" => break,
                        Ok(_) => {}
                        Err(_) => return,
                    }
                }
                if ws.send(Message::text("pong-ok")).is_err() {
                    return;
                }
            }
            Message::Text(t) if t.as_str() == "close-me" => {
                log.frames += 1;
                let _ = ws.close(None);
                // Drive the close handshake until the client answers or goes away.
                while ws.read().is_ok() {}
                return;
            }
            Message::Text(t) if t.as_str().starts_with("burst:") => {
                log.frames += 1;
                let mut it = t.as_str()[6..].split(':');
                let n: usize = it.next().unwrap().parse().unwrap();
                let len: usize = it.next().unwrap().parse().unwrap();
                for i in 0..n {
                    let mut s = format!("{i:08}");
                    s.push_str(&"x".repeat(len.saturating_sub(8)));
                    if ws.write(Message::text(s)).is_err() {
                        return;
                    }
                }
                if ws.flush().is_err() {
                    return;
                }
            }
            Message::Text(_) | Message::Binary(_) => {
                log.frames += 1;
                if ws.send(msg).is_err() {
                    return;
                }
            }
            Message::Close(_) => {
                log.got_close = true;
                let _ = ws.flush();
                return;
            }
            _ => {}
        }
    }
}

/// A listener that completes TCP connects (kernel backlog) but never speaks.
pub fn silent_listener() -> (SocketAddr, TcpListener) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    (l.local_addr().unwrap(), l)
}

/// A server that answers the upgrade request with an HTTP error.
pub fn spawn_http_404() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        let (mut tcp, _): (TcpStream, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 4096];
        let mut req = Vec::new();
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            match tcp.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        let _ = tcp.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    });
    (addr, h)
}

/// Reads until `n` frames arrived (or 10 s passed), using `wait` between polls.
pub fn recv_n(c: &mut WsClient, n: usize) -> Result<Vec<Vec<u8>>, WsError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    while out.len() < n {
        assert!(
            Instant::now() < deadline,
            "timed out: got {} of {n} frames",
            out.len()
        );
        c.flush()?;
        c.read_frames(|f| out.push(f.to_vec()))?;
        if out.len() < n {
            c.wait(Some(Duration::from_millis(50)))?;
        }
    }
    Ok(out)
}

/// Reads until the connection reports an error (expected: `Closed`), at most 10 s.
pub fn read_until_err(c: &mut WsClient) -> WsError {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "connection never closed");
        if let Err(e) = c.read_frames(|_| {}) {
            return e;
        }
        if let Err(e) = c.wait(Some(Duration::from_millis(50))) {
            return e;
        }
    }
}
