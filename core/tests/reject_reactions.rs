//! The engine's reaction to each venue error code a market maker meets (protocol.md §7.2,
//! `mm_core::reject`), fed as the `ExecEvent`s the gateway produces: funds cool-off of one
//! side, settlement pause, price band clamp, configuration bug stop, transient back-off,
//! request-cancelled, rate limit + disconnect, and the unknown-code burst halt.

use mm_core::engine::Engine;
use mm_core::event::*;
use mm_core::reject::{
    BAND_TTL_NS, FUNDS_COOL_OFF_NS, SETTLEMENT_PAUSE_NS, TRANSIENT_BACKOFF_NS, UNKNOWN_BURST,
};
use mm_core::risk::{HaltCause, RiskCode};
use mm_core::types::Side;

mod common;

const S: u64 = 1_000_000_000;

struct Run {
    e: Engine,
    out: Vec<OrderIntent>,
    tel: Vec<Telemetry>,
}

impl Run {
    fn new() -> Run {
        Run {
            e: common::engine(4, 1, 50, |_| {}),
            out: Vec::with_capacity(64),
            tel: Vec::with_capacity(4096),
        }
    }

    /// A full book frame `bid × ask` (ticks) at `t`.
    fn book(&mut self, bid: i64, ask: i64, t: u64) {
        let md = |kind, side, price, qty| MdEvent {
            t_recv: t,
            kind,
            side,
            price,
            qty,
            instrument: 0,
            ..Default::default()
        };
        for ev in [
            md(MdKind::BookClear, Side::Bid, 0, 0),
            md(MdKind::Level, Side::Bid, bid, 5),
            md(MdKind::Level, Side::Ask, ask, 5),
            md(MdKind::BookDone, Side::Bid, 0, 0),
        ] {
            self.e.on_md(&ev, t, &mut self.out, &mut self.tel);
        }
    }

    fn take(&mut self) -> Vec<OrderIntent> {
        self.out.split_off(0)
    }

    fn ack_all(&mut self, sent: &[OrderIntent], t: u64) {
        for it in sent {
            self.e
                .on_exec(&ExecEvent::ack_of(it), t, &mut self.out, &mut self.tel);
        }
    }

    /// The venue refuses `it` with `code` (`price` = a band limit in ticks, as the gateway
    /// parses it from `price_too_high <limit>`).
    fn reject(&mut self, it: &OrderIntent, code: i32, price: i64, t: u64) {
        let ev = ExecEvent {
            client_id: it.client_id,
            instrument: it.instrument,
            kind: ExecKind::Rejected,
            code,
            price,
            qty: if code == 11044 { -1 } else { 0 },
            side: it.side,
            ..Default::default()
        };
        self.e.on_exec(&ev, t, &mut self.out, &mut self.tel);
    }

    fn risk(&self) -> Vec<RiskCode> {
        self.tel
            .iter()
            .filter(|t| t.kind == TelKind::Risk)
            .filter_map(|t| RiskCode::from_i64(t.a))
            .collect()
    }

    /// Quoted at start (100 × 110 → New bid 103, New ask 107), both acknowledged at t = 1 s.
    fn quoting() -> (Run, OrderIntent, OrderIntent) {
        let mut r = Run::new();
        r.book(100, 110, S);
        let sent = r.take();
        assert_eq!(sent.len(), 2);
        let (bid, ask) = (sent[0], sent[1]);
        assert_eq!((bid.side, bid.price, ask.price), (Side::Bid, 103, 107));
        r.ack_all(&sent, S);
        (r, bid, ask)
    }
}

fn kinds(v: &[OrderIntent], side: Side) -> Vec<(IntentKind, i64)> {
    v.iter()
        .filter(|i| i.side == side)
        .map(|i| (i.kind, i.price))
        .collect()
}

/// 10009 not_enough_funds on a bid amend: the bid is cancelled at once and not quoted again
/// for the cool-off; the ask keeps quoting; after the cool-off the bid comes back.
#[test]
fn not_enough_funds_stops_that_side_for_the_cool_off() {
    let (mut r, bid, _ask) = Run::quoting();
    r.book(102, 112, 2 * S);
    let amends = r.take();
    assert_eq!(amends.len(), 2, "{amends:?}");
    let bid_amend = amends.iter().find(|i| i.side == Side::Bid).unwrap();
    let ask_amend = *amends.iter().find(|i| i.side == Side::Ask).unwrap();
    r.ack_all(&[ask_amend], 2 * S);
    r.reject(bid_amend, 10009, 0, 2 * S);
    let now = r.take();
    assert_eq!(kinds(&now, Side::Bid), vec![(IntentKind::Cancel, 103)]);
    assert!(kinds(&now, Side::Ask).is_empty());
    assert!(r.risk().contains(&RiskCode::FundsCoolOff));
    assert_eq!(r.e.reject_state(0, Side::Bid, 2 * S), (false, true, false));
    r.ack_all(&now, 2 * S);
    assert_eq!(r.e.open_orders(), 1);
    // During the cool-off: the ask follows the market, the bid stays out.
    r.book(104, 114, 3 * S);
    let mid = r.take();
    assert!(kinds(&mid, Side::Bid).is_empty(), "{mid:?}");
    assert_eq!(kinds(&mid, Side::Ask), vec![(IntentKind::Amend, 111)]);
    r.ack_all(&mid, 3 * S);
    // After it: the bid is quoted again.
    r.book(104, 114, 2 * S + FUNDS_COOL_OFF_NS + 1);
    let after = r.take();
    assert_eq!(kinds(&after, Side::Bid), vec![(IntentKind::New, 107)]);
    assert_ne!(bid.client_id, after[0].client_id);
}

/// 10041 settlement_in_progress: nothing is sent on any instrument for the pause (orders
/// stay), then quoting resumes by itself.
#[test]
fn settlement_in_progress_pauses_all_quoting_then_resumes() {
    let (mut r, _bid, _ask) = Run::quoting();
    r.book(102, 112, 2 * S);
    let amends = r.take();
    r.reject(&amends[0], 10041, 0, 2 * S);
    r.reject(&amends[1], 10041, 0, 2 * S);
    assert!(r.risk().contains(&RiskCode::Settlement));
    r.book(106, 116, 3 * S);
    assert!(r.take().is_empty(), "nothing sent during the pause");
    r.e.on_idle(4 * S, &mut r.out, &mut r.tel);
    assert!(r.out.is_empty());
    assert_eq!(r.e.open_orders(), 2, "resting orders stay");
    // After the pause, the next idle call re-quotes (the instrument was left dirty).
    r.e.on_idle(2 * S + SETTLEMENT_PAUSE_NS + 1, &mut r.out, &mut r.tel);
    let after = r.take();
    assert_eq!(
        after.iter().map(|i| (i.kind, i.price)).collect::<Vec<_>>(),
        vec![(IntentKind::Amend, 109), (IntentKind::Amend, 113)]
    );
}

/// 10007 price_too_high with the limit parsed by the gateway: that instrument's quotes are
/// clamped to the limit (re-sent at once on the next frame), until the band expires.
#[test]
fn price_band_reject_clamps_quotes_to_the_limit() {
    let mut r = Run::new();
    r.book(100, 110, S);
    let sent = r.take();
    r.ack_all(&sent[..1], S);
    // The ask at 107 is above the band's max 105.
    r.reject(&sent[1], 10007, 105, S);
    assert!(r.risk().contains(&RiskCode::PriceBand));
    r.book(100, 110, S + 1);
    let again = r.take();
    assert_eq!(kinds(&again, Side::Ask), vec![(IntentKind::New, 105)]);
    assert!(kinds(&again, Side::Bid).is_empty());
    r.ack_all(&again, S + 1);
    // The band expires: back to the unclamped 107.
    r.book(100, 110, S + BAND_TTL_NS + 2);
    let later = r.take();
    assert_eq!(kinds(&later, Side::Ask), vec![(IntentKind::Amend, 107)]);
}

/// 10043 price_wrong_tick (and the other tick/amount codes) is a configuration bug: the
/// instrument's orders are cancelled and it is not quoted again; one risk event only.
#[test]
fn tick_or_amount_errors_stop_the_instrument_once() {
    let (mut r, _bid, _ask) = Run::quoting();
    r.book(102, 112, 2 * S);
    let amends = r.take();
    r.reject(&amends[0], 10043, 0, 2 * S);
    r.reject(&amends[1], 10002, 0, 2 * S);
    let pulls = r.take();
    assert!(!pulls.is_empty());
    assert!(
        pulls.iter().all(|i| i.kind == IntentKind::Cancel),
        "{pulls:?}"
    );
    assert_eq!(
        r.risk()
            .iter()
            .filter(|&&c| c == RiskCode::ConfigReject)
            .count(),
        1
    );
    r.ack_all(&pulls, 2 * S);
    // A cancel deferred while the other amend was in flight goes out now; nothing else.
    r.book(90, 120, 3 * S);
    let rest = r.take();
    assert!(
        rest.iter().all(|i| i.kind == IntentKind::Cancel),
        "{rest:?}"
    );
    r.ack_all(&rest, 3 * S);
    r.book(90, 120, 100 * S);
    assert!(r.take().is_empty());
    assert!(r.e.reject_state(0, Side::Ask, 100 * S).0);
    assert_eq!(r.e.open_orders(), 0);
}

/// 13666 request_cancelled_by_user: the order was not placed; a fresh one is sent on the next
/// frame (no back-off).
#[test]
fn request_cancelled_by_user_means_not_placed() {
    let mut r = Run::new();
    r.book(100, 110, S);
    let sent = r.take();
    r.ack_all(&sent[1..], S);
    r.reject(&sent[0], 13666, 0, S);
    assert_eq!(r.e.open_orders(), 1);
    assert!(r.take().is_empty(), "no immediate retry");
    r.book(100, 110, S + 1);
    let again = r.take();
    assert_eq!(kinds(&again, Side::Bid), vec![(IntentKind::New, 103)]);
}

/// 10047 matching_engine_queue_full (transient): the instrument sends nothing new for the
/// back-off, then retries.
#[test]
fn transient_errors_back_off_then_retry() {
    let mut r = Run::new();
    r.book(100, 110, S);
    let sent = r.take();
    r.ack_all(&sent[1..], S);
    r.reject(&sent[0], 10047, 0, S);
    r.book(100, 110, S + TRANSIENT_BACKOFF_NS / 2);
    assert!(r.take().is_empty(), "within the back-off");
    r.book(100, 110, S + TRANSIENT_BACKOFF_NS + 1);
    assert_eq!(kinds(&r.take(), Side::Bid), vec![(IntentKind::New, 103)]);
}

/// 13009 unauthorized: not retried blindly (back-off while the gateway re-authenticates).
#[test]
fn unauthorized_is_not_retried_blindly() {
    let mut r = Run::new();
    r.book(100, 110, S);
    let sent = r.take();
    r.reject(&sent[0], 13009, 0, S);
    r.reject(&sent[1], 13009, 0, S);
    assert_eq!(r.e.open_orders(), 0);
    r.book(100, 110, S + 1);
    assert!(r.take().is_empty());
    r.book(100, 110, S + TRANSIENT_BACKOFF_NS + 1);
    assert_eq!(r.take().len(), 2);
}

/// 10028 too_many_requests: the order is not placed; the disconnect that follows forgets every
/// order (cancel-on-disconnect) and nothing is sent until the gateway is up again.
#[test]
fn rate_limit_then_disconnect_forgets_orders() {
    let (mut r, _bid, _ask) = Run::quoting();
    r.book(102, 112, 2 * S);
    let amends = r.take();
    r.reject(&amends[0], 10028, 0, 2 * S);
    let down = ExecEvent {
        kind: ExecKind::Disconnected,
        instrument: u32::MAX,
        ..Default::default()
    };
    r.e.on_exec(&down, 2 * S, &mut r.out, &mut r.tel);
    assert_eq!(r.e.open_orders(), 0);
    r.book(104, 114, 3 * S);
    assert!(r.take().is_empty());
}

/// Unknown codes: a New is not placed; fewer than the burst threshold keep quoting, the
/// threshold within the window halts with a cancel-all.
#[test]
fn unknown_codes_burst_halts() {
    let mut r = Run::new();
    r.book(100, 110, S);
    let mut t = S;
    for k in 0..UNKNOWN_BURST {
        let sent = r.take();
        assert!(!sent.is_empty(), "round {k}: still quoting");
        for it in &sent {
            if it.kind == IntentKind::New {
                r.reject(it, 99_001, 0, t);
            } else {
                r.ack_all(&[*it], t);
            }
        }
        if r.e.halted() {
            break;
        }
        assert_eq!(r.e.open_orders(), 0);
        t += 1;
        r.book(100, 110, t);
    }
    assert!(r.e.halted());
    assert!(r.e.unknown_rejects() >= UNKNOWN_BURST as u64);
    let halt = r
        .tel
        .iter()
        .find(|x| x.kind == TelKind::Risk && x.a == RiskCode::Halt as i64)
        .expect("halt event");
    assert_eq!(halt.b, HaltCause::RejectBurst as i64);
}

/// The gateway's local "not connected" answers (many at once while it reconnects) are
/// `NotPlaced`, not unknown codes: as many as the unknown-code burst do not halt.
#[test]
fn not_connected_answers_do_not_count_as_unknown_codes() {
    let mut r = Run::new();
    r.book(100, 110, S);
    let mut t = S;
    for k in 0..2 * UNKNOWN_BURST {
        let sent = r.take();
        assert!(!sent.is_empty(), "round {k}: still quoting");
        for it in &sent {
            r.reject(it, mm_core::reject::NOT_CONNECTED, 0, t);
        }
        assert!(!r.e.halted(), "round {k}");
        assert_eq!(r.e.open_orders(), 0);
        t += 1;
        r.book(100, 110, t);
    }
    assert_eq!(r.e.unknown_rejects(), 0);
}
