//! Heartbeat loss on the market-data connection: a venue that logs us in, acknowledges the
//! heartbeat request and subscriptions, and then sends nothing. After 3 heartbeat intervals
//! of silence `run_feed` reports `Disconnected`, reconnects (a second connection, logged in
//! and subscribed again) and keeps going until stopped.

use mm_core::decimal::Dec;
use mm_core::event::{MdEvent, MdKind, Telemetry};
use mm_core::instrument::{Instrument, InstrumentTable, Kind};
use mm_venues::deribit::backoff::{BackoffPolicy, ReconnectOpts};
use mm_venues::deribit::feed::{run_feed, SessionOpts};
use mm_venues::deribit::session::{AuthMethod, Credentials};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::Message;

/// A venue that answers every request once (auth with a token, anything else with `[]`) and
/// never sends anything unprompted. Returns its URL and the connection count.
fn silent_venue() -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/ws/api/v2", l.local_addr().unwrap());
    let conns = Arc::new(AtomicUsize::new(0));
    let subs = Arc::new(AtomicUsize::new(0));
    let (c, s) = (conns.clone(), subs.clone());
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(stream) = stream else { continue };
            c.fetch_add(1, Ordering::SeqCst);
            let s = s.clone();
            std::thread::spawn(move || {
                let Ok(mut ws) = tungstenite::accept(stream) else {
                    return;
                };
                while let Ok(m) = ws.read() {
                    let Message::Text(t) = m else { continue };
                    let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                    let id = v["id"].clone();
                    let method = v["method"].as_str().unwrap_or("");
                    if method == "public/subscribe" {
                        s.fetch_add(1, Ordering::SeqCst);
                    }
                    let result = if method == "public/auth" {
                        serde_json::json!({"access_token":"a","expires_in":3600,
                            "refresh_token":"r","scope":"connection","token_type":"bearer"})
                    } else {
                        serde_json::json!([])
                    };
                    let reply = serde_json::json!({"jsonrpc":"2.0","id":id,"result":result});
                    if ws.send(Message::text(reply.to_string())).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, conns, subs)
}

#[test]
fn silence_past_three_heartbeats_is_a_loss_and_the_feed_reconnects() {
    let (url, conns, subs) = silent_venue();
    let mut table = InstrumentTable::new();
    table
        .push(Instrument::new(
            "BTC-PERPETUAL",
            Kind::Perpetual,
            Dec::new(5, 1),
            Dec::new(10, 0),
        ))
        .unwrap();
    let table = Arc::new(table);
    let rc = ReconnectOpts {
        endpoint: url.clone(),
        ws: Default::default(),
        policy: BackoffPolicy {
            base: Duration::from_millis(10),
            ..Default::default()
        },
    };
    let opts = SessionOpts {
        creds: Credentials {
            client_id: "x".into(),
            client_secret: "y".into(),
            method: AuthMethod::Credentials,
        },
        heartbeat_s: 1,
    };
    let (mut md_tx, mut md_rx) = mm_io::ring::ring::<MdEvent>(1024);
    let (mut tel_tx, _tel_rx) = mm_io::ring::ring::<Telemetry>(1024);
    let stop = Arc::new(AtomicBool::new(false));
    let ws = mm_io::WsClient::connect(&url, &Default::default()).unwrap();
    let h = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            run_feed(
                ws,
                &rc,
                table,
                &opts,
                &mut md_tx,
                &mut tel_tx,
                &stop,
                mm_io::Idle::Yield,
                &mm_io::Doorbell::disabled(),
                mm_io::clock::now,
            )
        })
    };
    // Wait (bounded) for the loss to be reported and the second connection to subscribe.
    let bound = Instant::now() + Duration::from_secs(30);
    let mut disconnected = 0;
    while Instant::now() < bound && !(disconnected == 1 && subs.load(Ordering::SeqCst) >= 2) {
        while let Some(ev) = md_rx.pop() {
            if ev.kind == MdKind::Disconnected {
                disconnected += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::SeqCst);
    let stats = h.join().unwrap().expect("first login works");
    assert_eq!(
        disconnected, 1,
        "one Disconnected for the silent connection"
    );
    assert!(stats.disconnected);
    assert!(stats.reconnects >= 1, "{stats:?}");
    assert!(conns.load(Ordering::SeqCst) >= 2);
    assert!(
        subs.load(Ordering::SeqCst) >= 2,
        "re-subscribed after the reconnect"
    );
}
