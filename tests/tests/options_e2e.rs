//! Options end to end on the cryptofeed option tapes through the simulator, in lockstep
//! (`mm_tests::lockstep`: the production decoder, engine, order session and simulator in one
//! thread, deterministic): quoting around the Black-76 theo (`--quote-around theo`) and the
//! net delta limit (`--max-delta`), checked against the simulator's ledger and the tape's own
//! ticker greeks.

use clap::Parser;
use mm_core::event::{split_quote_word, IntentKind, TelKind, Telemetry};
use mm_core::options::greeks::{DELTA_SCALE, VEGA_SCALE};
use mm_core::risk::RiskCode;
use mm_core::types::Side;
use mm_tests::{data, lockstep};
use mm_tools::cli::Args;
use std::collections::{BTreeMap, HashMap};

const TAPE_0405: &str = "deribit/cryptofeed-2021-04-05/ws.capture";
const TAPE_0417: &str = "deribit/cryptofeed-2021-04-17/ws.capture";

fn args(tape: &str, extra: &[&str]) -> Args {
    let t = data(tape);
    let mut v = vec![
        "mm-fast",
        "--venue",
        "sim",
        "--tape",
        t.as_str(),
        "--stale-ms",
        "0",
    ];
    v.extend_from_slice(extra);
    Args::parse_from(v)
}

/// Walks the telemetry in order: every new/amended quote lies on its side of the theo the
/// engine held for the instrument at that moment (the latest `Theo` record); no quote before
/// the first theo. Returns (quotes checked, instruments quoted, theo records).
fn check_bracketing(tel: &[Telemetry]) -> (usize, usize, usize) {
    let mut theo: HashMap<u32, i64> = HashMap::new();
    let (mut checked, mut theos) = (0, 0);
    let mut quoted: BTreeMap<u32, usize> = BTreeMap::new();
    for t in tel {
        match t.kind {
            TelKind::Theo => {
                theos += 1;
                if t.a > 0 {
                    theo.insert(t.instrument, t.a);
                } else {
                    theo.remove(&t.instrument);
                }
            }
            TelKind::Quote => {
                let q = split_quote_word(t.c);
                if !matches!(q.kind, Some(IntentKind::New | IntentKind::Amend)) {
                    continue;
                }
                let th = *theo
                    .get(&t.instrument)
                    .unwrap_or_else(|| panic!("quote on {} without a theo", t.instrument));
                match t.side {
                    Side::Bid => assert!(t.a < th, "bid {} not below theo {th}", t.a),
                    Side::Ask => assert!(t.a > th, "ask {} not above theo {th}", t.a),
                }
                checked += 1;
                *quoted.entry(t.instrument).or_default() += 1;
            }
            _ => {}
        }
    }
    (checked, quoted.len(), theos)
}

#[test]
fn quotes_bracket_theo_on_every_strike() {
    for tape in [TAPE_0405, TAPE_0417] {
        let a = args(
            tape,
            &[
                "--all-strikes",
                "--quote-around",
                "theo",
                "--spread-bps",
                "400",
                "--log-quotes",
            ],
        );
        let run = lockstep::replay(&a);
        let (checked, quoted, theos) = check_bracketing(&run.telemetry);
        eprintln!("{tape}: {checked} quotes around theo on {quoted} options, {theos} theo updates");
        assert!(quoted >= 8, "{tape}: {quoted} options quoted");
        assert!(checked >= 20, "{tape}: {checked} quotes");
        assert_eq!(run.engine.counters().limit_violations, 0);
        // Theo is not the mid: on some option the final theo lies off the book's mid.
        let off_mid = run.table.iter().any(|i| {
            let (th, mid2) = (run.engine.theo(i.id), run.engine.book(i.id).mid_x2());
            matches!((th, mid2), (Some(t), Some(m)) if 2 * t != m)
        });
        assert!(off_mid, "{tape}: theo equals the mid everywhere");
    }
}

#[test]
fn smile_theo_also_brackets() {
    let a = args(
        TAPE_0405,
        &[
            "--all-strikes",
            "--quote-around",
            "theo",
            "--theo-iv",
            "smile",
            "--log-quotes",
            "--spread-bps",
            "400",
        ],
    );
    let run = lockstep::replay(&a);
    let (checked, quoted, _) = check_bracketing(&run.telemetry);
    assert!(
        checked >= 20 && quoted >= 8,
        "{checked} quotes on {quoted} options"
    );
}

/// Max |net delta| on the simulator's ledger: positions after every fill in coin (inverse
/// perpetual: USD position / fill price; linear: coin) must stay within `--max-delta`.
fn ledger_delta_run(tape: &str, extra: &[&str], limit: f64, inverse: bool) {
    let run = lockstep::replay(&args(tape, extra));
    let mut pos = 0.0f64;
    let mut worst: f64 = 0.0;
    for f in &run.ledger.fills {
        pos += f.side.sign() as f64 * f.amount;
        let coin = if inverse { pos / f.price } else { pos };
        worst = worst.max(coin.abs());
    }
    let events = run
        .telemetry
        .iter()
        .filter(|t| t.kind == TelKind::Risk && t.a == RiskCode::MaxDelta as i64)
        .count();
    let engine_max = run.engine.net_greeks()[0].max_abs_delta_e8 as f64 / DELTA_SCALE;
    eprintln!(
        "{tape}: {} fills, ledger max |delta| {worst:.6} coin (engine {engine_max:.6}), limit \
         {limit}, {events} max_delta events",
        run.ledger.fills.len()
    );
    assert!(!run.ledger.fills.is_empty(), "{tape}: the quotes traded");
    assert!(events > 0, "{tape}: the limit engaged (risk event)");
    // The index the engine divides by is the mid, the ledger's is the fill price: 0.1 %.
    assert!(
        worst <= limit * 1.001,
        "{tape}: ledger delta {worst} > {limit}"
    );
    assert!(
        worst >= 0.75 * limit,
        "{tape}: the limit was reached ({worst})"
    );
    assert!(engine_max <= limit + 1e-9);
    assert_eq!(run.engine.counters().limit_violations, 0);
}

#[test]
fn max_delta_holds_on_the_ledger_for_futures() {
    // Inverse BTC-PERPETUAL (lot 10 USD ≈ 0.0024 BTC at 4 100 USD): 100 USD orders shrink to
    // 8 lots under 0.02 BTC.
    ledger_delta_run(
        "deribit/tardis-2019-04-01/BTC-PERPETUAL.book_change_trades.jsonl",
        &[
            "--spread-ticks",
            "2",
            "--size",
            "100",
            "--max-position",
            "100000",
            "--max-delta",
            "0.02",
        ],
        0.02,
        true,
    );
    // Linear BTC_USDT-PERPETUAL re-hosted from Binance (lot 0.001 BTC): 0.005 BTC = 5 lots.
    ledger_delta_run(
        "binance/usdm/btcusdt_20240718.gz",
        &[
            "--spread-ticks",
            "2",
            "--size",
            "0.002",
            "--max-position",
            "1",
            "--max-delta",
            "0.005",
        ],
        0.005,
        false,
    );
}

/// Worst-case net greek of our resting option quotes, rebuilt from the quote log (every
/// new/amend/cancel with its open size) × the greek per lot of the latest `Theo` record (the
/// tape's ticker greek × lot); must stay within `limit` (fixed point) after every order that
/// adds to a side, per underlying, and the limit must bind (a `code` risk event). `vega`
/// picks the greek.
/// Returns (adding quotes checked, worst case seen, risk events).
fn check_resting_greek(
    run: &lockstep::Lockstep,
    vega: bool,
    limit: i64,
    code: RiskCode,
) -> (usize, i64, usize) {
    let mut greek: HashMap<u32, i64> = HashMap::new();
    let mut open: HashMap<i64, (u32, Side, i64)> = HashMap::new();
    let (mut checked, mut worst) = (0, 0i64);
    for t in &run.telemetry {
        match t.kind {
            TelKind::Theo => {
                let g = if vega { t.c } else { t.b };
                if g != i64::MIN {
                    greek.insert(t.instrument, g);
                }
            }
            TelKind::Quote => {
                let q = split_quote_word(t.c);
                let adds = match q.kind {
                    Some(IntentKind::New) => {
                        open.insert(t.d, (t.instrument, t.side, q.open));
                        true
                    }
                    Some(IntentKind::Amend) => {
                        let prev = open.insert(t.d, (t.instrument, t.side, q.open));
                        prev.is_none_or(|p| q.open > p.2)
                    }
                    Some(IntentKind::Cancel) => {
                        open.remove(&t.d);
                        false
                    }
                    Some(IntentKind::CancelAll) => {
                        open.clear();
                        false
                    }
                    None => false,
                };
                if !adds {
                    continue;
                }
                // Worst case per instrument: all its bids fill, or all its asks fill.
                let mut per: HashMap<u32, (i64, i64)> = HashMap::new();
                for (inst, side, lots) in open.values() {
                    let e = per.entry(*inst).or_default();
                    match side {
                        Side::Bid => e.0 += lots,
                        Side::Ask => e.1 += lots,
                    }
                }
                // Σ per underlying of the worst cases (up, down).
                let mut by_cur: HashMap<&str, (i64, i64)> = HashMap::new();
                for (inst, (buys, sells)) in per {
                    let g = greek[&inst];
                    let (a, b) = (buys * g, -sells * g);
                    let e = by_cur
                        .entry(run.table.get(inst).base_currency.as_str())
                        .or_default();
                    e.0 += a.max(b).max(0);
                    e.1 += a.min(b).min(0);
                }
                for (cur, (up, dn)) in by_cur {
                    assert!(
                        up <= limit && dn >= -limit,
                        "{cur}: worst case {up} / {dn} beyond {limit}"
                    );
                    worst = worst.max(up).max(-dn);
                }
                checked += 1;
            }
            _ => {}
        }
    }
    let events = run
        .telemetry
        .iter()
        .filter(|t| t.kind == TelKind::Risk && t.a == code as i64)
        .count();
    assert_eq!(run.engine.counters().limit_violations, 0);
    (checked, worst, events)
}

#[test]
fn max_delta_bounds_the_resting_option_quotes() {
    // The option tapes carry no trades (nothing fills), so the limit is checked where it
    // acts: the worst-case net delta of the resting quotes.
    let limit = 0.5;
    let lim = format!("{limit}");
    let a = args(
        TAPE_0405,
        &[
            "--all-strikes",
            "--quote-around",
            "theo",
            "--spread-bps",
            "400",
            "--size",
            "1",
            "--max-position",
            "100",
            "--max-delta",
            &lim,
            "--log-quotes",
        ],
    );
    let run = lockstep::replay(&a);
    let lim_e8 = (limit * DELTA_SCALE) as i64;
    let (checked, worst, events) = check_resting_greek(&run, false, lim_e8, RiskCode::MaxDelta);
    eprintln!(
        "{checked} adding quotes, worst-case resting delta {:.4} coin, limit {limit}, {events} \
         max_delta events",
        worst as f64 / DELTA_SCALE
    );
    assert!(
        checked >= 5 && events > 0,
        "{checked} adding quotes, {events} events"
    );
    assert!(
        worst as f64 >= 0.5 * lim_e8 as f64,
        "the limit was approached"
    );
}

#[test]
fn max_vega_bounds_the_resting_option_quotes() {
    // ETH options' vega ≈ 0.3–6 USD per vol point per coin; 5 USD binds with 1-coin quotes.
    let limit = 5.0;
    let lim = format!("{limit}");
    let a = args(
        TAPE_0405,
        &[
            "--all-strikes",
            "--quote-around",
            "mark",
            "--spread-bps",
            "400",
            "--size",
            "1",
            "--max-position",
            "100",
            "--max-vega",
            &lim,
            "--log-quotes",
        ],
    );
    let run = lockstep::replay(&a);
    let lim_e6 = (limit * VEGA_SCALE) as i64;
    let (checked, worst, events) = check_resting_greek(&run, true, lim_e6, RiskCode::MaxVega);
    eprintln!(
        "{checked} adding quotes, worst-case resting vega {:.3} USD/vol pt, limit {limit}, \
         {events} max_vega events",
        worst as f64 / VEGA_SCALE
    );
    assert!(
        checked >= 5 && events > 0,
        "{checked} adding quotes, {events} events"
    );
    assert!(
        worst as f64 >= 0.5 * lim_e6 as f64,
        "the limit was approached"
    );
}
