//! Shared helpers for the simulator tests: data paths and a plain blocking tungstenite client.
#![allow(dead_code, missing_docs)]

use serde_json::{json, Value};
use std::collections::VecDeque;
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

/// `MM_DATA_DIR`, else `../../shared/data` from the crate.
pub fn data_dir() -> PathBuf {
    std::env::var_os("MM_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")))
}

pub fn tape_0405() -> PathBuf {
    data_dir().join("deribit/cryptofeed-2021-04-05/ws.capture")
}
pub fn tape_0417() -> PathBuf {
    data_dir().join("deribit/cryptofeed-2021-04-17/ws.capture")
}
pub fn tape_tardis() -> PathBuf {
    data_dir().join("deribit/tardis-2019-04-01/BTC-PERPETUAL.book_change_trades.jsonl")
}

/// A blocking JSON-RPC client over a plain loopback WebSocket.
pub struct Client {
    pub ws: WebSocket<TcpStream>,
    next_id: u64,
    /// Notifications received while waiting for replies.
    pub notes: VecDeque<Value>,
    /// Raw texts of every notification (for byte-level checks), in arrival order.
    pub raw_notes: Vec<String>,
    pub keep_raw: bool,
}

impl Client {
    pub fn connect(url: &str) -> Client {
        let addr = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        let (ws, _) = tungstenite::client::client(url, stream).unwrap();
        ws.get_ref()
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        Client {
            ws,
            next_id: 1,
            notes: VecDeque::new(),
            raw_notes: Vec::new(),
            keep_raw: false,
        }
    }

    pub fn send_text(&mut self, t: &str) {
        self.ws.send(Message::text(t.to_string())).unwrap();
    }

    pub fn send(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let req = json!({"jsonrpc":"2.0","id":id,"method":method,"params":params});
        self.send_text(&req.to_string());
        id
    }

    /// One incoming message (text), or `None` after `timeout`.
    pub fn recv_text(&mut self, timeout: Duration) -> Option<String> {
        let end = Instant::now() + timeout;
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => return Some(t.as_str().to_string()),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    if Instant::now() >= end {
                        return None;
                    }
                }
                Err(e) => panic!("ws read: {e}"),
            }
        }
    }

    /// Next message as JSON; notifications are returned too.
    pub fn recv(&mut self, timeout: Duration) -> Option<Value> {
        self.recv_text(timeout)
            .map(|t| serde_json::from_str(&t).unwrap())
    }

    /// Waits for the reply with `id`, stashing notifications.
    pub fn reply(&mut self, id: u64) -> Value {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let t = self.recv_text(Duration::from_secs(20)).expect("no reply");
            let v: Value = serde_json::from_str(&t).unwrap();
            if v.get("id").and_then(Value::as_u64) == Some(id) {
                return v;
            }
            if v.get("method").is_some() {
                if self.keep_raw {
                    self.raw_notes.push(t);
                }
                self.notes.push_back(v);
            }
            assert!(Instant::now() < end, "timeout waiting for reply {id}");
        }
    }

    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params);
        self.reply(id)
    }

    pub fn result(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params);
        assert!(r.get("error").is_none(), "{method} failed: {r}");
        r["result"].clone()
    }

    pub fn auth(&mut self, client_id: &str) -> Value {
        self.result(
            "public/auth",
            json!({"grant_type":"client_credentials","client_id":client_id,"client_secret":"s"}),
        )
    }

    /// Next notification (stashed first), or `None` after `timeout`.
    pub fn note(&mut self, timeout: Duration) -> Option<Value> {
        if let Some(v) = self.notes.pop_front() {
            return Some(v);
        }
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Some(t) = self.recv_text(end.saturating_duration_since(Instant::now())) {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v.get("method").is_some() {
                    if self.keep_raw {
                        self.raw_notes.push(t);
                    }
                    return Some(v);
                }
            }
        }
        None
    }

    /// Collects notifications until `done()` holds and the socket then stays quiet for
    /// `quiet`.
    pub fn drain(&mut self, done: impl Fn() -> bool, quiet: Duration) -> Vec<Value> {
        let mut out: Vec<Value> = self.notes.drain(..).collect();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match self.note(quiet) {
                Some(v) => out.push(v),
                None if done() => return out,
                None => {}
            }
            assert!(Instant::now() < deadline, "drain timed out");
        }
    }
}

/// Channels `book.X.raw`, `ticker.X.raw`, `trades.X.raw` for every instrument.
pub fn md_channels(names: &[String]) -> Vec<String> {
    let mut v = Vec::new();
    for n in names {
        for c in ["book", "ticker", "trades"] {
            v.push(format!("{c}.{n}.raw"));
        }
    }
    v
}
