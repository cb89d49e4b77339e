//! End-of-run report: the JSON written by `--report-json` and the human summary.
//!
//! PnL accounting (off the hot path, floats allowed): average-cost per instrument in the
//! settlement currency. Options and linear instruments: value = amount × price. Inverse
//! futures (amount in USD, price in USD per coin): the coin PnL of a long `A` USD from `P0` to
//! `P1` is `A·(1/P0 − 1/P1)`, which is linear accounting on the transformed price `−1/P`.
//! Unrealized PnL marks at the engine's own mid at exit (mark price if one side is empty).
//! Coin amounts are converted to USD with the last underlying index seen on the tickers (or,
//! for a currency without option tickers, the mid of its inverse perpetual/future).

use mm_core::event::STAGES;
use mm_core::instrument::{InstrumentTable, Kind};
use mm_core::types::{Lots, Side, Ticks};
use mm_io::LatencyRecorder;
use serde::Serialize;
use std::collections::BTreeMap;

/// A fill as the engine booked it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FillRec {
    /// Instrument id.
    pub instrument: u32,
    /// Our side.
    pub side: Side,
    /// Price (ticks).
    pub price: Ticks,
    /// Size (lots).
    pub lots: Lots,
    /// Fee in nano-units of the settlement currency.
    pub fee_nano: i64,
    /// Our order id.
    pub client_id: u64,
}

/// Percentiles in ns.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LatencyOut {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// 99.99th percentile.
    pub p9999: u64,
    /// Maximum.
    pub max: u64,
    /// Samples.
    pub count: u64,
}

/// PnL figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Pnl {
    /// Realized PnL.
    pub realized: f64,
    /// Unrealized PnL at the exit marks.
    pub unrealized: f64,
    /// Fees paid (positive = paid, negative = rebate).
    pub fees: f64,
    /// Currency of the figures: in the total, the stablecoin when every instrument settles in
    /// the same one (`USDT` for the re-hosted Binance USD-M perpetuals, `USDC`), else `USD`
    /// when every currency could be converted (stablecoins 1:1, coins at the index), else the
    /// only currency, unconverted; per currency, that currency.
    pub currency: String,
}

/// The engine's best bid/ask at exit, in price units.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct BookOut {
    /// Best bid price.
    pub best_bid: Option<f64>,
    /// Best ask price.
    pub best_ask: Option<f64>,
}

/// The simulator ledger summary embedded in the report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SimLedgerOut {
    /// Fills in the simulator's ledger.
    pub fills: usize,
    /// Positions in the amount unit.
    pub positions: BTreeMap<String, f64>,
    /// Orders the simulator still holds open.
    pub open_orders: usize,
}

/// The `--report-json` document.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// `sim` or `deribit`.
    pub venue: String,
    /// Tape path (sim).
    pub tape: Option<String>,
    /// Endpoint connected to.
    pub endpoint: String,
    /// Dry run?
    pub dry_run: bool,
    /// Instruments quoted.
    pub instruments: usize,
    /// Instruments re-hosted from another venue's recording, with their source.
    pub rehosted: BTreeMap<String, String>,
    /// Market-data events processed by the hot thread.
    pub md_events: u64,
    /// Market-data frames received.
    pub md_frames: u64,
    /// Book gaps detected.
    pub book_gaps: u64,
    /// Frames that failed to decode.
    pub decode_errors: u64,
    /// New orders sent.
    pub orders_sent: u64,
    /// Amends sent.
    pub amends: u64,
    /// Cancels sent (single orders + cancel-all requests).
    pub cancels: u64,
    /// Venue rejects.
    pub rejects: u64,
    /// Reject codes with counts.
    pub reject_codes: BTreeMap<String, u64>,
    /// Fills the engine booked, including those of previous runs restored at start with
    /// `--journal` (`journal_fills_restored` + `journal_fills_recovered`; each trade once).
    pub fills: u64,
    /// Risk events (limits engaged, quotes pulled, flattens, halts), in order: `{t_s,
    /// instrument, code, action, detail}` (the first
    /// [`crate::metrics::MAX_LISTED_RISK_EVENTS`]).
    pub risk_events: Vec<crate::metrics::RiskEventOut>,
    /// Number of risk events.
    pub risk_event_count: u64,
    /// Orders sent beyond a configured limit by the engine's own accounting (must be 0).
    pub limit_violations: u64,
    /// Moments at which the simulator's ledger shows a configured limit exceeded (max
    /// position, max position USD, max inventory USD, hard max, max exposure; see
    /// [`crate::breaches`]); must be 0. `null` without a simulator.
    pub limit_breaches: Option<u64>,
    /// The first breaches, described.
    pub limit_breach_details: Vec<String>,
    /// Per-run metrics (fill rate, spread captured, PnL, inventory, time at limit, Sharpe,
    /// drawdown; see [`crate::metrics`]).
    pub metrics: crate::metrics::RunMetrics,
    /// Positions at exit in the amount unit (coin for options, USD for inverse futures).
    pub positions: BTreeMap<String, f64>,
    /// PnL, in USD where convertible.
    pub pnl: Pnl,
    /// PnL per settlement currency.
    pub pnl_by_currency: BTreeMap<String, Pnl>,
    /// The engine's books at exit.
    pub books: BTreeMap<String, BookOut>,
    /// Latency per stage (ns).
    pub latency_ns: BTreeMap<String, LatencyOut>,
    /// The simulator's own ledger (sim only).
    pub sim_ledger: Option<SimLedgerOut>,
    /// Engine fills and positions equal the simulator's ledger (sim only; `null` live).
    pub ledger_match: Option<bool>,
    /// Why the ledgers differ, when they do.
    pub ledger_mismatches: Vec<String>,
    /// Orders open at exit (engine's view; the simulator's count is in `sim_ledger`).
    pub open_orders_at_exit: usize,
    /// Wall-clock seconds the run took.
    pub elapsed_s: f64,
    /// Run name (`--name`, or the USD maker JSON's `name`).
    pub name: Option<String>,
    /// The kill switch, if it fired: trigger, when, and trigger → last cancel written /
    /// every order gone (ns).
    pub kill: Option<crate::kill::KillOut>,
    /// Net delta of the positions at exit per underlying, coin of that underlying (options ×
    /// ticker or computed delta, futures' USD / index; see `mm_core::options::greeks`).
    pub net_delta: BTreeMap<String, f64>,
    /// Net vega of the positions at exit per underlying, USD per vol point.
    pub net_vega: BTreeMap<String, f64>,
    /// Largest |net delta| of the positions over the run per underlying, coin.
    pub max_abs_net_delta: BTreeMap<String, f64>,
    /// Largest |net vega| of the positions over the run per underlying, USD per vol point.
    pub max_abs_net_vega: BTreeMap<String, f64>,

    // --- Session and faults (README "Fault injection").
    /// Why the run stopped: `end of tape`, `duration`, `signal`, `order connection lost`,
    /// `market-data connection lost`, … (`mm-fast` exits 4 on a lost connection).
    pub stop_reason: String,
    /// Faults the simulator injected, per kind (`disconnect`, `gap`, `malformed`,
    /// `rate-limit`, `restart`; `reject-rate` = requests rejected, `ack-delay-ms` = replies
    /// delayed). Empty live.
    pub faults_injected: BTreeMap<String, u64>,
    /// Book gaps the engine detected (`prev_change_id` chain breaks, engine counter).
    pub gaps_detected: u64,
    /// Replies with error `10028 too_many_requests`.
    pub rate_limit_errors: u64,
    /// Requests the simulator's credit model refused with `10028` (its connection then
    /// closed; sim only). Can exceed `rate_limit_errors`: replies still in flight when the
    /// socket closes are lost.
    pub sim_rate_limited: Option<u64>,
    /// The client's credit budget (`--rate-tier`, `--me-rate`, `--me-burst`), or `off`
    /// (`--rate-budget off`).
    pub rate_limits: String,
    /// Order intents that waited in the gateway's send queue because the budget was short.
    pub rate_deferred: u64,
    /// Longest wait of an intent in that queue before it was written, ns.
    pub rate_max_wait_ns: u64,
    /// Queued intents dropped (superseded amends; News cancelled before they were sent,
    /// answered `13666` to the engine).
    pub rate_dropped: u64,
    /// Venue errors with a code outside the reactions table (README "Error codes").
    pub unknown_errors: u64,
    /// Re-authentications on the order connection after `13009`/`10000`.
    pub reauths: u64,
    /// Successful reconnects, both connections (`reconnects_md + reconnects_order`): lost,
    /// backed off, reconnected, logged in, resubscribed (and, for the order connection,
    /// reconciled).
    pub reconnects: u64,
    /// Reconnects of the market-data connection.
    pub reconnects_md: u64,
    /// Reconnects of the order connection (each followed by a reconciliation).
    pub reconnects_order: u64,
    /// Orders of ours the venue still held after a reconnect (orphans), cancelled by
    /// reconciliation.
    pub orphans_cancelled: u64,
    /// Fills recovered by reconciliation (`private/get_user_trades_by_currency`) that had not
    /// arrived on `user.trades` (missed while disconnected).
    pub missed_fills_recovered: u64,
    /// Intents answered locally with reject code 90001 (`NOT_CONNECTED`) while the order
    /// connection was down.
    pub rejected_while_down: u64,
    /// Reconciliation positions that differed from the engine's (the venue's was adopted;
    /// must be 0 when no fill was lost).
    pub position_mismatches: u64,
    /// Quotes sent while untrusted: new/amend intents the engine emitted while a book was
    /// untrusted or the order connection down (engine count, checked at the emission point),
    /// plus (sim) the new/amend requests the simulator received for an instrument between a
    /// dropped book change (gap fault) and the snapshot that repaired that book. Must be 0.
    pub quotes_while_untrusted: Option<u64>,
    /// Orders the simulator holds open for us at the end beyond those the engine still
    /// considers live (sim only; 0 = every open venue order is known to the engine).
    pub orphan_orders: Option<usize>,
    /// Access-token refreshes done (both connections).
    pub token_refreshes: u64,
    /// Heartbeat `test_request`s answered (both connections).
    pub test_requests_answered: u64,
    /// `--quote-mode`: `orders` or `mass-quote`.
    pub quote_mode: String,
    /// `private/mass_quote` requests sent.
    pub mass_quotes_sent: u64,
    /// Quote sides the venue refused (mass-quote mode: `errors[]` entries and every side
    /// of a refused request).
    pub quote_errors: u64,
    /// MMP triggers of our group received (`user.mmp_trigger`).
    pub mmp_triggers: u64,
    /// MMP resets done (`private/reset_mmp` acknowledged): quoting resumed.
    pub mmp_resets: u64,
    /// New/amend quotes the engine sent while MMP froze the instrument: must be 0.
    pub quotes_while_mmp_frozen: u64,

    // --- Fill journal (`--journal`; README "Fill journal and restarts"); `null` without it.
    /// Fills of previous runs read from the journal and booked at start.
    pub journal_fills_restored: Option<u64>,
    /// Fills the journal lacked, recovered at start from the venue's trade history (made
    /// while the engine was down, or lost with a torn last line).
    pub journal_fills_recovered: Option<u64>,
    /// Fills of this run written to the journal by the gateway.
    pub journal_fills_written: Option<u64>,
    /// Instruments whose venue position differed at start from the journal + recovered fills
    /// (the venue's was adopted; 0 expected).
    pub journal_mismatches: Option<u64>,
    /// Orders of ours a previous run left open on the venue, cancelled at start.
    pub journal_orphans_cancelled: Option<u64>,
    /// Journal writes that failed (the run stops at the first: `fill journal write failed`).
    pub journal_write_errors: Option<u64>,
}

/// Counts the simulator's `OrderNew`/`OrderEdit` log entries for an instrument that fall
/// between a `ChangeDropped` for it and the next `SnapshotSent` for it (log order): orders
/// placed while the book they were priced from missed a change.
pub fn quotes_while_untrusted(l: &mm_venues::sim::LedgerSnapshot) -> u64 {
    use mm_venues::sim::SimLogKind;
    let mut gapped: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut n = 0;
    for e in &l.log {
        let Some(inst) = e.instrument.as_deref() else {
            continue;
        };
        match e.what {
            SimLogKind::ChangeDropped => {
                gapped.insert(inst);
            }
            SimLogKind::SnapshotSent => {
                gapped.remove(inst);
            }
            SimLogKind::OrderNew { .. } | SimLogKind::OrderEdit { .. } if gapped.contains(inst) => {
                n += 1
            }
            _ => {}
        }
    }
    n
}

/// Latency table from the recorder.
pub fn latency(rec: &LatencyRecorder) -> BTreeMap<String, LatencyOut> {
    let mut out = BTreeMap::new();
    for s in 0..STAGES {
        let stage = stage_from(s);
        let p = rec.percentiles(stage);
        out.insert(
            mm_io::telemetry::stage_name(stage).to_string(),
            LatencyOut {
                p50: p.p50,
                p90: p.p90,
                p99: p.p99,
                p999: p.p999,
                p9999: p.p9999,
                max: p.max,
                count: p.count,
            },
        );
    }
    out
}

/// The stage with index `s`.
pub fn stage_from(s: usize) -> mm_core::event::Stage {
    use mm_core::event::Stage::*;
    [Decode, Ring, Decide, EncodeWrite, TickToQuote, TickToWire][s.min(STAGES - 1)]
}

#[derive(Default, Clone, Copy)]
struct Acct {
    pos: f64,
    avg: f64,
    realized: f64,
}

fn transformed(px: f64, inverse_future: bool) -> f64 {
    if inverse_future {
        if px > 0.0 {
            -1.0 / px
        } else {
            0.0
        }
    } else {
        px
    }
}

/// Fills the end-of-run part of `rep` every run mode shares: per instrument the book's best
/// bid/ask, the position and the re-hosting source, then the PnL (`pnl`, `pnl_by_currency`)
/// marked at each book's final mid (else its last venue mark, `last_marks`, ticks), with index
/// prices from `index_by_currency` (else an inverse instrument's own mark). Returns those
/// index prices (USD per coin, by currency) for the USD limits' checks.
pub fn close_positions(
    rep: &mut Report,
    table: &InstrumentTable,
    engine: &mm_core::engine::Engine,
    last_marks: &[Option<Ticks>],
    fills: &[FillRec],
    index_by_currency: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    use mm_core::book::BookView;
    let mut marks = vec![None; table.len()];
    let mut index_usd: BTreeMap<String, f64> = BTreeMap::new();
    for inst in table.iter() {
        let id = inst.id;
        let b = engine.book(id);
        if let Some(src) = &inst.rehosted_from {
            rep.rehosted.insert(inst.name.clone(), src.clone());
        }
        rep.books.insert(
            inst.name.clone(),
            BookOut {
                best_bid: BookView::best_bid(b).map(|p| inst.price_f64(p)),
                best_ask: BookView::best_ask(b).map(|p| inst.price_f64(p)),
            },
        );
        rep.positions
            .insert(inst.name.clone(), inst.amount_f64(engine.position(id)));
        marks[id as usize] = match b.mid_x2() {
            Some(m2) => Some(inst.price_f64(m2) / 2.0),
            None => last_marks
                .get(id as usize)
                .copied()
                .flatten()
                .map(|m| inst.price_f64(m)),
        };
        if inst.kind != Kind::Option && inst.inverse {
            if let Some(m) = marks[id as usize] {
                index_usd.entry(inst.base_currency.clone()).or_insert(m);
            }
        }
    }
    for (cur, v) in index_by_currency {
        index_usd.insert(cur.clone(), *v);
    }
    let (total, by) = pnl(table, fills, &marks, &index_usd);
    rep.pnl = total;
    rep.pnl_by_currency = by;
    index_usd
}

/// Computes PnL per currency and in USD.
///
/// `marks[i]` is the exit mark price of instrument `i` (price units), `index_usd` the USD
/// value of one coin per currency.
pub fn pnl(
    table: &InstrumentTable,
    fills: &[FillRec],
    marks: &[Option<f64>],
    index_usd: &BTreeMap<String, f64>,
) -> (Pnl, BTreeMap<String, Pnl>) {
    let mut accts = vec![Acct::default(); table.len()];
    let mut fees: BTreeMap<String, f64> = BTreeMap::new();
    for f in fills {
        let inst = table.get(f.instrument);
        let inv_fut = inst.inverse && inst.kind != Kind::Option;
        let x = transformed(inst.price_f64(f.price), inv_fut);
        let q = inst.amount_f64(f.lots) * f.side.sign() as f64;
        let a = &mut accts[f.instrument as usize];
        if a.pos == 0.0 || a.pos.signum() == q.signum() {
            a.avg = (a.avg * a.pos.abs() + x * q.abs()) / (a.pos.abs() + q.abs());
            a.pos += q;
        } else {
            let c = q.abs().min(a.pos.abs());
            a.realized += c * (x - a.avg) * a.pos.signum();
            let new = a.pos + q;
            if new != 0.0 && new.signum() != a.pos.signum() {
                a.avg = x;
            }
            a.pos = new;
            if a.pos.abs() < 1e-12 {
                a.pos = 0.0;
            }
        }
        *fees.entry(inst.settlement_currency.clone()).or_default() += f.fee_nano as f64 / 1e9;
    }
    let mut by: BTreeMap<String, Pnl> = BTreeMap::new();
    for (i, a) in accts.iter().enumerate() {
        let inst = table.get(i as u32);
        let e = by
            .entry(inst.settlement_currency.clone())
            .or_insert_with(|| Pnl {
                currency: inst.settlement_currency.clone(),
                ..Default::default()
            });
        e.realized += a.realized;
        if a.pos != 0.0 {
            if let Some(m) = marks[i] {
                let inv_fut = inst.inverse && inst.kind != Kind::Option;
                e.unrealized += a.pos * (transformed(m, inv_fut) - a.avg);
            }
        }
    }
    for (c, f) in fees {
        by.entry(c.clone())
            .or_insert_with(|| Pnl {
                currency: c.clone(),
                ..Default::default()
            })
            .fees += f;
    }
    let mut total = Pnl {
        currency: "USD".into(),
        ..Default::default()
    };
    let mut all_converted = true;
    for (c, p) in &by {
        let rate = if c == "USD" || c == "USDC" || c == "USDT" {
            Some(1.0)
        } else {
            index_usd.get(c).copied()
        };
        match rate {
            Some(r) => {
                total.realized += p.realized * r;
                total.unrealized += p.unrealized * r;
                total.fees += p.fees * r;
            }
            None => all_converted = false,
        }
    }
    if !all_converted {
        if by.len() == 1 {
            total = by.values().next().cloned().unwrap_or_default();
        } else {
            total.currency = "USD (partial: some currencies had no index)".into();
        }
    } else if let [only] = by.keys().collect::<Vec<_>>()[..] {
        // One USD stablecoin settles everything (re-hosted Binance USD-M: USDT): the figures
        // are in it, unconverted; label them so.
        if only == "USDT" || only == "USDC" {
            total.currency = only.clone();
        }
    }
    (total, by)
}

/// Prints the human summary to stdout.
pub fn print_summary(r: &Report) {
    println!(
        "mm-fast run summary{}",
        r.name
            .as_ref()
            .map(|n| format!(": {n}"))
            .unwrap_or_default()
    );
    println!(
        "  venue {}{}  endpoint {}{}",
        r.venue,
        r.tape
            .as_ref()
            .map(|t| format!("  tape {t}"))
            .unwrap_or_default(),
        r.endpoint,
        if r.dry_run { "  (dry run)" } else { "" }
    );
    println!(
        "  instruments {}  md frames {}  md events {}  book gaps {}  decode errors {}",
        r.instruments, r.md_frames, r.md_events, r.book_gaps, r.decode_errors
    );
    println!(
        "  orders {}  amends {}  cancels {}  rejects {}  fills {}  risk events {}",
        r.orders_sent, r.amends, r.cancels, r.rejects, r.fills, r.risk_event_count
    );
    if !r.stop_reason.is_empty() {
        // A venue session ran (the backtest has none).
        println!(
            "  stopped: {}  faults injected {:?}  rate-limit errors {}  token refreshes {}  \
             test_requests answered {}",
            r.stop_reason,
            r.faults_injected,
            r.rate_limit_errors,
            r.token_refreshes,
            r.test_requests_answered
        );
        println!(
            "  reconnects {} (md {}, orders {})  orphans cancelled {}  missed fills recovered {}  \
             position mismatches {}  quotes while untrusted {}",
            r.reconnects,
            r.reconnects_md,
            r.reconnects_order,
            r.orphans_cancelled,
            r.missed_fills_recovered,
            r.position_mismatches,
            r.quotes_while_untrusted.unwrap_or(0)
        );
        println!(
            "  rate budget: {}  deferred {}  max queue wait {:.1} ms  dropped {}  unknown errors {}",
            r.rate_limits,
            r.rate_deferred,
            r.rate_max_wait_ns as f64 / 1e6,
            r.rate_dropped,
            r.unknown_errors
        );
    }
    if r.quote_mode == "mass-quote" || r.mmp_triggers > 0 || r.mmp_resets > 0 {
        println!(
            "  quoting: {}  mass quotes {}  quote errors {}  MMP triggers {}  resets {}  \
             quotes while frozen {}",
            r.quote_mode,
            r.mass_quotes_sent,
            r.quote_errors,
            r.mmp_triggers,
            r.mmp_resets,
            r.quotes_while_mmp_frozen
        );
    }
    if let (Some(restored), Some(recovered)) = (r.journal_fills_restored, r.journal_fills_recovered)
    {
        println!(
            "  fill journal: {restored} fills restored, {recovered} recovered from the venue \
             (both in fills and pnl), {} written, {} position mismatches, {} orphans cancelled, \
             {} write errors",
            r.journal_fills_written.unwrap_or(0),
            r.journal_mismatches.unwrap_or(0),
            r.journal_orphans_cancelled.unwrap_or(0),
            r.journal_write_errors.unwrap_or(0)
        );
    }
    let m = &r.metrics;
    // The USD figures of the metrics are in the stablecoin when it settles everything.
    let ccy = match r.pnl.currency.as_str() {
        c @ ("USDT" | "USDC") => c,
        _ => "USD",
    };
    println!(
        "  fill rate {:.4}  spread captured {:.4} {ccy} ({:.4}/fill, {:.2} bps avg)  max |inventory| {:.2} {ccy}  time at limit {:.1} s",
        m.fill_rate,
        m.spread_captured_usd,
        m.spread_captured_per_fill_usd,
        m.spread_captured_avg_bps,
        m.max_abs_inventory_usd,
        m.time_at_limit_s
    );
    println!(
        "  pnl series: {} samples  sharpe/s {}  max drawdown {:.4} {ccy}  limit breaches (sim ledger) {}",
        m.pnl_samples,
        m.sharpe_per_second
            .map_or("-".to_string(), |v| format!("{v:.3}")),
        m.max_drawdown_usd,
        r.limit_breaches.map_or("-".to_string(), |v| v.to_string())
    );
    for e in r
        .risk_events
        .iter()
        .filter(|e| e.action != "limit_side")
        .take(10)
    {
        println!(
            "  risk {:>8.3}s {} {} [{}] {}",
            e.t_s,
            e.instrument.as_deref().unwrap_or("*"),
            e.code,
            e.action,
            e.detail
        );
    }
    println!(
        "  pnl {:.6} {} (realized {:.6}, unrealized {:.6}, fees {:.6})",
        r.pnl.realized + r.pnl.unrealized - r.pnl.fees,
        r.pnl.currency,
        r.pnl.realized,
        r.pnl.unrealized,
        r.pnl.fees
    );
    let nonzero: Vec<String> = r
        .positions
        .iter()
        .filter(|(_, v)| **v != 0.0)
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!(
        "  positions: {}",
        if nonzero.is_empty() {
            "flat".to_string()
        } else {
            nonzero.join(", ")
        }
    );
    for (cur, max_d) in &r.max_abs_net_delta {
        let max_v = r.max_abs_net_vega.get(cur).copied().unwrap_or(0.0);
        if *max_d != 0.0 || max_v != 0.0 {
            println!(
                "  greeks {cur}: net delta {:.6} coin (max |.| {max_d:.6}), net vega {:.4} USD/vol pt (max |.| {max_v:.4})",
                r.net_delta.get(cur).copied().unwrap_or(0.0),
                r.net_vega.get(cur).copied().unwrap_or(0.0),
            );
        }
    }
    println!("  latency (ns)        p50       p90       p99     p99.9       max     count");
    for (k, l) in &r.latency_ns {
        if l.count > 0 {
            println!(
                "  {:<14} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                k, l.p50, l.p90, l.p99, l.p999, l.max, l.count
            );
        }
    }
    if let Some(m) = r.ledger_match {
        println!(
            "  simulator ledger: {} fills, match {}  open orders at exit {}",
            r.sim_ledger.as_ref().map_or(0, |l| l.fills),
            m,
            r.open_orders_at_exit
        );
        for x in &r.ledger_mismatches {
            println!("    mismatch: {x}");
        }
    }
    if let Some(k) = &r.kill {
        let us = |v: Option<u64>| v.map_or("-".into(), |n| format!("{:.1} µs", n as f64 / 1e3));
        println!(
            "  KILL SWITCH ({}) at {:.3} s: last cancel written +{}, all cancels acknowledged +{}",
            k.trigger,
            k.t_trigger_s,
            us(k.cancel_written_ns),
            us(k.all_acked_ns)
        );
    }
    println!("  elapsed {:.2} s", r.elapsed_s);
}
