//! The simulator's session layer against raw JSON-RPC: `client_signature` is verified for real
//! (dossier §2.2), refresh tokens expire and are single-use (§2.3), a connection's login ends
//! with its token, and `set_heartbeat` sends `test_request`s and drops a connection that does
//! not answer (§3.1). Runs on the tardis BTC-PERPETUAL tape.

mod sim_util;

use mm_venues::deribit::session::client_signature;
use mm_venues::sim::{Sim, SimConfig, SimHandle, SIM_CLIENT_ID, SIM_CLIENT_SECRET};
use serde_json::{json, Value};
use sim_util::{tape_tardis, Client};
use std::time::{Duration, Instant};

fn strict_sim(lifetime_s: f64, min_hb_s: f64) -> SimHandle {
    let mut cfg = SimConfig::new(tape_tardis());
    cfg.open_accounts = false;
    cfg.token_lifetime_s = lifetime_s;
    cfg.min_heartbeat_s = min_hb_s;
    Sim::start(cfg).expect("sim")
}

fn now_ms() -> u64 {
    mm_venues::deribit::session::wall_ms()
}

fn sig_params(id: &str, secret: &str, ts: u64, nonce: &str) -> Value {
    json!({"grant_type":"client_signature","client_id":id,"timestamp":ts,"nonce":nonce,
           "data":"","signature":client_signature(secret, ts, nonce, "")})
}

fn code(r: &Value) -> i64 {
    r["error"]["code"].as_i64().unwrap_or(0)
}

#[test]
fn signature_is_verified() {
    let sim = strict_sim(3600.0, 10.0);
    let mut c = Client::connect(&sim.url());
    let ts = now_ms();
    // Wrong secret → 13004 invalid_credentials (dossier §7.2).
    let r = c.call("public/auth", sig_params(SIM_CLIENT_ID, "wrong", ts, "n1"));
    assert_eq!(code(&r), 13004, "{r}");
    assert_eq!(r["error"]["message"], "invalid_credentials");
    // Stale timestamp (> 60 s) → refused even with the right secret.
    let r = c.call(
        "public/auth",
        sig_params(SIM_CLIENT_ID, SIM_CLIENT_SECRET, ts - 120_000, "n2"),
    );
    assert_eq!(code(&r), 13004, "{r}");
    // Not logged in: private methods refused.
    let r = c.call("private/get_positions", json!({"currency":"BTC"}));
    assert_eq!(code(&r), 13009, "{r}");
    // Right signature → tokens.
    let ok = c.result(
        "public/auth",
        sig_params(SIM_CLIENT_ID, SIM_CLIENT_SECRET, ts, "n3"),
    );
    assert!(ok["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(ok["expires_in"], 3600);
    c.result("private/get_positions", json!({"currency":"BTC"}));
    // The same nonce again → refused (single-use).
    let r = c.call(
        "public/auth",
        sig_params(SIM_CLIENT_ID, SIM_CLIENT_SECRET, ts, "n3"),
    );
    assert_eq!(code(&r), 13004, "{r}");
    // client_credentials: the secret must match; unknown ids are refused (strict sim).
    let r = c.call(
        "public/auth",
        json!({"grant_type":"client_credentials","client_id":SIM_CLIENT_ID,"client_secret":"x"}),
    );
    assert_eq!(code(&r), 13004, "{r}");
    let r = c.call(
        "public/auth",
        json!({"grant_type":"client_credentials","client_id":"someone","client_secret":"x"}),
    );
    assert_eq!(code(&r), 13004, "{r}");
    c.result(
        "public/auth",
        json!({"grant_type":"client_credentials","client_id":SIM_CLIENT_ID,
               "client_secret":SIM_CLIENT_SECRET}),
    );
    let st = sim.stop().stats;
    assert_eq!((st.logins, st.auth_failures), (2, 5));
}

#[test]
fn refresh_tokens_expire_and_are_single_use() {
    let sim = strict_sim(1.0, 10.0);
    let mut c = Client::connect(&sim.url());
    let ok = c.result(
        "public/auth",
        sig_params(SIM_CLIENT_ID, SIM_CLIENT_SECRET, now_ms(), "r1"),
    );
    let refresh = ok["refresh_token"].as_str().unwrap().to_string();
    // A token the venue never issued.
    let r = c.call(
        "public/auth",
        json!({"grant_type":"refresh_token","refresh_token":"1.2.3"}),
    );
    assert_eq!(code(&r), 13009, "{r}");
    // A good refresh: new pair; the old refresh token is consumed.
    let ok2 = c.result(
        "public/auth",
        json!({"grant_type":"refresh_token","refresh_token":refresh}),
    );
    let refresh2 = ok2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(refresh2, refresh);
    let r = c.call(
        "public/auth",
        json!({"grant_type":"refresh_token","refresh_token":refresh}),
    );
    assert_eq!(code(&r), 13009, "a refresh token works once: {r}");
    c.result("private/get_positions", json!({"currency":"BTC"}));
    // After the lifetime: the connection's login and the refresh token are dead.
    std::thread::sleep(Duration::from_millis(1200));
    let r = c.call("private/get_positions", json!({"currency":"BTC"}));
    assert_eq!(code(&r), 13009, "expired login: {r}");
    let r = c.call(
        "public/auth",
        json!({"grant_type":"refresh_token","refresh_token":refresh2}),
    );
    assert_eq!(code(&r), 13009, "expired refresh token: {r}");
    let st = sim.stop().stats;
    assert_eq!(st.refreshes, 1);
    assert_eq!(st.expired_token_requests, 1);
}

/// Reads until the connection is closed by the server; returns the texts seen and whether it
/// closed within `limit`.
fn read_until_closed(c: &mut Client, limit: Duration) -> (Vec<String>, bool) {
    let end = Instant::now() + limit;
    let mut seen = Vec::new();
    while Instant::now() < end {
        match c.ws.read() {
            Ok(tungstenite::Message::Text(t)) => seen.push(t.as_str().to_string()),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return (seen, true),
        }
    }
    (seen, false)
}

#[test]
fn heartbeat_test_requests_and_drop() {
    let sim = strict_sim(3600.0, 1.0);
    // Below the minimum → -32602.
    let mut quiet = Client::connect(&sim.url());
    let r = quiet.call("public/set_heartbeat", json!({"interval": 0.5}));
    assert_eq!(code(&r), -32602, "{r}");
    quiet.result("public/set_heartbeat", json!({"interval": 1}));
    // An answering client stays up over several intervals.
    let mut good = Client::connect(&sim.url());
    good.result("public/set_heartbeat", json!({"interval": 1}));
    let end = Instant::now() + Duration::from_millis(3500);
    let mut tests = 0;
    while Instant::now() < end {
        if let Some(v) = good.recv(Duration::from_millis(100)) {
            if v["method"] == "heartbeat" && v["params"]["type"] == "test_request" {
                tests += 1;
                good.send("public/test", json!({}));
            }
        }
    }
    assert!(tests >= 2, "test_requests seen: {tests}");
    // The silent client was dropped (it never answered).
    let (seen, closed) = read_until_closed(&mut quiet, Duration::from_secs(3));
    assert!(closed, "the silent connection is dropped");
    assert!(
        seen.iter().any(|t| t.contains("test_request")),
        "it was asked first: {seen:?}"
    );
    // The good one still works.
    good.result("public/test", json!({}));
    let st = sim.stop().stats;
    assert_eq!(st.heartbeat_drops, 1);
    assert!(st.test_answers >= 2, "{st:?}");
}
