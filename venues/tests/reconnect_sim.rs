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
use mm_venues::sim::{Sim, SimConfig, Speed};
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

#[test]
fn resume_cancels_orphans_recovers_missed_fills_and_reports_positions() {
    let mut cfg = SimConfig::new(tape_0405());
    cfg.speed = Speed::Max;
    let sim = Sim::start(cfg).unwrap();
    // "Before the loss": a connection of the same account (no cancel-on-disconnect) places a
    // bid the tape fills (mmf-1), an ask that stays open (mmf-2) and a foreign order.
    let mut c = Client::connect(&sim.url());
    c.auth("mm");
    c.result(
        "private/buy",
        json!({"instrument_name":OPT,"amount":5,"price":0.0975,"label":"mmf-1","post_only":true}),
    );
    c.result(
        "private/sell",
        json!({"instrument_name":OPT,"amount":3,"price":0.5,"label":"mmf-2","post_only":true}),
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
    let all = sim.instruments();
    let mut table = InstrumentTable::new();
    table
        .push(all.get(all.id(OPT).unwrap()).clone())
        .unwrap();
    let table = Arc::new(table);
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
    assert_eq!((fill.client_id, fill.side, fill.instrument), (1, Side::Bid, 0));
    assert_eq!(fill.qty, lots_of(5.0));
    assert_eq!(out[1].qty, lots_of(5.0), "venue position = the missed fill");
    assert_eq!(session.stats.missed_fills, 1);
    assert_eq!(session.stats.orphans_cancelled, 1);
    let l = sim.ledger();
    let open: Vec<&str> = l.open_orders.iter().map(|o| o.label.as_str()).collect();
    assert_eq!(open, ["someone-else"], "our orphan cancelled, foreign order kept");

    // A second reconnect: nothing new (the fill is deduplicated by trade id).
    ws.close();
    session.forget_connection();
    let mut ws = mm_io::WsClient::connect(&sim.url(), &Default::default()).unwrap();
    out.clear();
    let rs = session.resume(&mut ws, &opts(), || 8, &mut out).unwrap();
    assert_eq!((rs.orphans_cancelled, rs.missed_fills, rs.positions), (0, 0, 1));
    assert_eq!(out.len(), 2);
    assert_eq!((out[0].kind, out[0].qty), (ExecKind::Position, lots_of(5.0)));
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
