//! Reconnect and reconciliation against the simulator over real loopback sockets:
//! [`OrderSession::resume`] (login, cancel-on-disconnect, private subscribe, reconcile) on a
//! new connection after another connection of the account left an order open and got a fill
//! the session never saw.

mod sim_util;

use mm_core::event::{ExecEvent, ExecKind};
use mm_core::instrument::InstrumentTable;
use mm_core::types::Side;
use mm_venues::deribit::feed::SessionOpts;
use mm_venues::deribit::gateway::{OrderSession, ReconcileStats};
use mm_venues::deribit::session::{AuthMethod, Credentials};
use mm_venues::sim::{Sim, SimConfig, SimHandle, Speed};
use serde_json::json;
use sim_util::*;
use std::sync::Arc;
use std::time::Duration;

const OPT: &str = "ETH-30APR21-2240-P";

fn opts() -> SessionOpts {
    SessionOpts {
        creds: Credentials {
            client_id: "mm".into(),
            client_secret: "s".into(),
            method: AuthMethod::Credentials,
        },
        heartbeat_s: 0,
    }
}

/// The 2021-04-05 capture at full speed, with a connection of account `mm` (no
/// cancel-on-disconnect) that has placed an ask on [`OPT`] that stays open (`mmf-2`).
fn sim_with_open_ask() -> (SimHandle, Client) {
    let mut cfg = SimConfig::new(tape_0405());
    cfg.speed = Speed::Max;
    let sim = Sim::start(cfg).unwrap();
    let mut c = Client::connect(&sim.url());
    c.auth("mm");
    c.result(
        "private/sell",
        json!({"instrument_name":OPT,"amount":3,"price":0.5,"label":"mmf-2","post_only":true}),
    );
    (sim, c)
}

/// The order thread's table: [`OPT`] only, as the simulator lists it.
fn opt_table(sim: &SimHandle) -> Arc<InstrumentTable> {
    let all = sim.instruments();
    let mut table = InstrumentTable::new();
    table.push(all.get(all.id(OPT).unwrap()).clone()).unwrap();
    Arc::new(table)
}

#[test]
fn resume_cancels_orphans_recovers_missed_fills_and_reports_positions() {
    // "Before the loss": a connection of the same account (no cancel-on-disconnect) places an
    // ask that stays open (mmf-2), a bid the tape fills (mmf-1) and a foreign order.
    let (sim, mut c) = sim_with_open_ask();
    c.result(
        "private/buy",
        json!({"instrument_name":OPT,"amount":5,"price":0.0975,"label":"mmf-1","post_only":true}),
    );
    c.result(
        "private/sell",
        json!({"instrument_name":OPT,"amount":2,"price":0.6,"label":"someone-else","post_only":true}),
    );
    c.result(
        "public/subscribe",
        json!({"channels":[format!("book.{OPT}.raw")]}),
    );
    c.drain(|| sim.tape_finished(), Duration::from_millis(300));
    assert_eq!(sim.ledger().fills.len(), 1, "the tape filled mmf-1");

    // The session of the order thread, as after a reconnect: it never saw that fill.
    let table = opt_table(&sim);
    let inst = table.get(0);
    let lots_of = |amount: f64| {
        inst.lots_round(mm_core::decimal::Dec::from_f64(amount, 12).unwrap())
            .unwrap()
    };
    let mut session = OrderSession::new(table.clone());
    let mut ws = mm_io::WsClient::connect(&sim.url(), &Default::default()).unwrap();
    let mut out: Vec<ExecEvent> = Vec::new();
    let rs = session.resume(&mut ws, &opts(), || 7, &mut out).unwrap();
    assert_eq!(
        rs,
        ReconcileStats {
            orphans_cancelled: 1,
            orphans_gone: 0,
            missed_fills: 1,
            positions: 1
        }
    );
    let kinds: Vec<ExecKind> = out.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [ExecKind::Fill, ExecKind::Position, ExecKind::Connected],
        "fills, then positions, then connected"
    );
    let fill = &out[0];
    assert_eq!(
        (fill.client_id, fill.side, fill.instrument),
        (1, Side::Bid, 0)
    );
    assert_eq!(fill.qty, lots_of(5.0));
    assert_eq!(out[1].qty, lots_of(5.0), "venue position = the missed fill");
    assert_eq!(session.stats.missed_fills, 1);
    assert_eq!(session.stats.orphans_cancelled, 1);
    let l = sim.ledger();
    let open: Vec<&str> = l.open_orders.iter().map(|o| o.label.as_str()).collect();
    assert_eq!(
        open,
        ["someone-else"],
        "our orphan cancelled, foreign order kept"
    );

    // A second reconnect: nothing new (the fill is deduplicated by trade id).
    ws.close();
    session.forget_connection();
    let mut ws = mm_io::WsClient::connect(&sim.url(), &Default::default()).unwrap();
    out.clear();
    let rs = session.resume(&mut ws, &opts(), || 8, &mut out).unwrap();
    assert_eq!(
        (rs.orphans_cancelled, rs.missed_fills, rs.positions),
        (0, 0, 1)
    );
    assert_eq!(out.len(), 2);
    assert_eq!(
        (out[0].kind, out[0].qty),
        (ExecKind::Position, lots_of(5.0))
    );
    assert_eq!(out[1].kind, ExecKind::Connected);
    assert!(session.stats.duplicate_trades >= 1);
    ws.close();
    sim.stop();
}

#[test]
fn resume_fails_cleanly_on_a_refused_login() {
    let mut cfg = SimConfig::new(tape_tardis());
    cfg.speed = Speed::Max;
    cfg.open_accounts = false;
    let sim = Sim::start(cfg).unwrap();
    let table = Arc::new(sim.instruments().as_ref().clone());
    let mut session = OrderSession::new(table);
    let mut ws = mm_io::WsClient::connect(&sim.url(), &Default::default()).unwrap();
    let mut out = Vec::new();
    let e = session
        .resume(&mut ws, &opts(), || 0, &mut out)
        .unwrap_err();
    assert!(e.contains("13004"), "{e}");
    assert!(out.is_empty(), "no Connected after a failed step");
    sim.stop();
}

mod backoff_loop {
    use super::*;
    use mm_venues::deribit::backoff::{reconnect, Backoff, BackoffPolicy, ReconnectOpts};
    use std::sync::atomic::AtomicBool;
    use std::time::Instant;

    fn rc(endpoint: String, give_up_ms: u64) -> ReconnectOpts {
        ReconnectOpts {
            endpoint,
            ws: Default::default(),
            policy: BackoffPolicy {
                base: Duration::from_millis(5),
                cap: Duration::from_millis(20),
                give_up_after: Duration::from_millis(give_up_ms),
                seed: 1,
            },
        }
    }

    #[test]
    fn retries_until_the_setup_succeeds_then_resets() {
        let sim = Sim::start(SimConfig::new(tape_tardis())).unwrap();
        let rc = rc(sim.url(), 60_000);
        let mut b = Backoff::new(rc.policy.clone());
        let stop = AtomicBool::new(false);
        let mut tries = 0;
        let mut waits = 0;
        let got = reconnect(
            &rc,
            &mut b,
            Instant::now(),
            &stop,
            "test",
            |ws| {
                tries += 1;
                if tries < 3 {
                    return Err(format!("refused {tries}"));
                }
                // The socket is connected: a real request goes through.
                let mut enc = mm_venues::deribit::encode::Encoder::new();
                let f = enc.test(5).to_string();
                mm_venues::deribit::feed::rpc_blocking(ws, &f, 5, Duration::from_secs(5), |_| {})
                    .map(|_| tries)
            },
            &mut || waits += 1,
        );
        let (_ws, n) = got.expect("reconnected");
        assert_eq!(n, 3);
        assert_eq!(b.attempts(), 0, "reset after success");
        assert!(
            waits >= 3,
            "on_wait runs at least once per attempt: {waits}"
        );
        assert_eq!(sim.stop().stats.connections, 3);
    }

    #[test]
    fn gives_up_when_the_venue_stays_away() {
        // A port nobody listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let rc = rc(format!("ws://127.0.0.1:{port}/ws/api/v2"), 200);
        let mut b = Backoff::new(rc.policy.clone());
        let stop = AtomicBool::new(false);
        let got = reconnect(
            &rc,
            &mut b,
            Instant::now(),
            &stop,
            "test",
            |_| Ok(()),
            &mut || {},
        );
        assert!(got.is_none());
        assert!(b.attempts() >= 1);
        // A stop request ends the loop before any attempt.
        let mut b = Backoff::new(rc.policy.clone());
        let stop = AtomicBool::new(true);
        let got = reconnect(
            &rc,
            &mut b,
            Instant::now(),
            &stop,
            "test",
            |_| Ok(()),
            &mut || {},
        );
        assert!(got.is_none());
        assert_eq!(b.attempts(), 0);
    }

    #[test]
    fn intents_are_answered_while_down() {
        use mm_core::event::{IntentKind, OrderIntent};
        use mm_venues::deribit::gateway::{reject_while_down, NOT_CONNECTED};
        let (mut itx, mut irx) = mm_io::ring::ring::<OrderIntent>(16);
        let (mut etx, mut erx) = mm_io::ring::ring::<ExecEvent>(16);
        for (k, kind) in [IntentKind::New, IntentKind::Amend, IntentKind::CancelAll]
            .into_iter()
            .enumerate()
        {
            itx.push(OrderIntent {
                client_id: k as u64 + 1,
                kind,
                instrument: 0,
                ..Default::default()
            })
            .unwrap();
        }
        assert_eq!(reject_while_down(&mut irx, &mut etx, || 9), 3);
        let evs: Vec<ExecEvent> = std::iter::from_fn(|| erx.pop()).collect();
        assert_eq!(evs.len(), 3);
        assert!(evs
            .iter()
            .all(|e| e.kind == ExecKind::Rejected && e.code == NOT_CONNECTED && e.qty == -1));
        assert_eq!(
            evs.iter().map(|e| e.client_id).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(evs[2].instrument, u32::MAX, "cancel-all: no instrument");
    }
}

#[test]
fn dry_run_reconcile_touches_nothing_at_the_venue() {
    let (sim, _c) = sim_with_open_ask();
    let mut session = OrderSession::new(opt_table(&sim));
    session.dry_run = true;
    let mut ws = mm_io::WsClient::connect(&sim.url(), &Default::default()).unwrap();
    let mut out = Vec::new();
    let rs = session.resume(&mut ws, &opts(), || 1, &mut out).unwrap();
    assert_eq!(rs, ReconcileStats::default());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, ExecKind::Connected);
    let l = sim.stop();
    assert_eq!(l.open_orders.len(), 1, "the dry run cancelled nothing");
}

#[test]
fn order_currencies_cover_linear_settlement() {
    let mut t = InstrumentTable::new();
    let mut lin = mm_core::instrument::Instrument::new(
        "BTC_USDC-PERPETUAL",
        mm_core::instrument::Kind::Perpetual,
        mm_core::decimal::Dec::new(5, 1),
        mm_core::decimal::Dec::new(1, 4),
    );
    lin.settlement_currency = "USDC".into();
    t.push(lin).unwrap();
    t.push(mm_core::instrument::Instrument::new(
        "BTC-PERPETUAL",
        mm_core::instrument::Kind::Perpetual,
        mm_core::decimal::Dec::new(5, 1),
        mm_core::decimal::Dec::new(10, 0),
    ))
    .unwrap();
    let s = OrderSession::new(Arc::new(t));
    assert_eq!(s.currencies(), ["BTC"]);
    assert_eq!(s.order_currencies(), ["BTC", "USDC"]);
}
