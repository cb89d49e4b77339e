//! Per-run metrics (strategies.md §7 "what users read") and the risk-event list, built on the
//! control thread from the hot thread's telemetry (floats allowed: off the hot path).
//!
//! Inputs, in ring order (so every record sees the state the hot thread had when it wrote it):
//! `Fill` (preceded by a `Mark` carrying the mid at the fill), `Mark` (once per second of
//! exchange time per instrument), `Limit` (a side's binding limit changed) and `Risk`.
//!
//! Definitions:
//! - **fill rate** = fills / new orders sent (quotes and flattens; amends are not orders);
//! - **spread captured** = Σ over fills of `|fill price − mid at the fill| × amount`, in USD
//!   (inverse futures: `amount_usd·|1/px − 1/mid|` coin × mid; options: coin × index), also
//!   per fill and as an average in bps of the mid;
//! - **max |inventory|** per instrument in the amount unit, and the largest summed
//!   `|position value|` in USD over fills;
//! - **time at a limit**: seconds of exchange time a side of an instrument had a binding limit
//!   (its quoted size below the configured size, or not quoted, because of a limit), summed
//!   over sides and instruments;
//! - **PnL series**: realized + marked − fees in USD (average-cost accounting, as
//!   [`crate::report::pnl`]), sampled at each new second of exchange time and at exit;
//!   **Sharpe** = mean / standard deviation of the per-second PnL changes (not annualised;
//!   `null` with fewer than two changes or zero deviation); **max drawdown** = the largest
//!   fall of the series from a previous peak, USD.

use mm_core::event::{TelKind, Telemetry};
use mm_core::instrument::{InstrumentTable, Kind};
use mm_core::risk::{HaltCause, RiskCode};
use serde::Serialize;
use std::collections::BTreeMap;

/// Most risk events listed in the report (the count covers all).
pub const MAX_LISTED_RISK_EVENTS: usize = 10_000;

/// One risk event in the report.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RiskEventOut {
    /// Seconds since the start of the run (local clock).
    pub t_s: f64,
    /// Instrument, or `null` for account-wide events.
    pub instrument: Option<String>,
    /// [`RiskCode::name`].
    pub code: String,
    /// [`RiskCode::action`]: `limit_side`, `pull_instrument`, `pull_all`, `reduce_only_ioc`,
    /// `cancel_all+halt`, …
    pub action: String,
    /// Human detail (side, cap, position, loss, …).
    pub detail: String,
}

/// Per-run metrics (see the module docs for definitions).
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunMetrics {
    /// Fills booked by the engine.
    pub fills: u64,
    /// New orders sent.
    pub orders_sent: u64,
    /// fills / orders sent.
    pub fill_rate: f64,
    /// Σ |fill price − mid at fill| × amount, USD.
    pub spread_captured_usd: f64,
    /// `spread_captured_usd` / fills.
    pub spread_captured_per_fill_usd: f64,
    /// Average |fill price − mid| / mid over fills, bps.
    pub spread_captured_avg_bps: f64,
    /// Realized PnL (report currency, USD when convertible).
    pub realized_pnl: f64,
    /// Realized + unrealized − fees at exit.
    pub marked_pnl: f64,
    /// Fees paid (negative = rebates).
    pub fees: f64,
    /// Largest |position| per instrument over the run, amount unit.
    pub max_abs_inventory: BTreeMap<String, f64>,
    /// Largest Σ |position value| over the run, USD.
    pub max_abs_inventory_usd: f64,
    /// Seconds (exchange time) sides were limited, summed over sides and instruments.
    pub time_at_limit_s: f64,
    /// The same per `"<instrument> bid|ask"`.
    pub time_at_limit_by_side: BTreeMap<String, f64>,
    /// PnL samples (one per second of exchange time, plus exit).
    pub pnl_samples: usize,
    /// Sharpe of the per-second PnL changes (mean / std, not annualised).
    pub sharpe_per_second: Option<f64>,
    /// Largest fall of the PnL series from a previous peak, USD.
    pub max_drawdown_usd: f64,
}

#[derive(Clone, Copy, Default)]
struct Acct {
    pos: f64,
    avg: f64,
    realized: f64,
    fees: f64,
    lots: i64,
}

/// Accumulates metrics and risk events from telemetry (one per run, on the control thread).
pub struct MetricsTel {
    table: InstrumentTable,
    t0: u64,
    names: Vec<String>,
    kinds: Vec<(Kind, bool)>,
    settle_usd: Vec<bool>,
    acct: Vec<Acct>,
    mid2: Vec<i64>,
    index_e4: Vec<i64>,
    exch_ns: u64,
    last_sec: u64,
    /// Risk events (first [`MAX_LISTED_RISK_EVENTS`]).
    pub risk_events: Vec<RiskEventOut>,
    /// All risk events.
    pub risk_event_count: u64,
    limit_since: Vec<[Option<u64>; 2]>,
    limit_s: Vec<[f64; 2]>,
    spread_usd: f64,
    spread_bps_sum: f64,
    fills: u64,
    max_abs: Vec<f64>,
    max_abs_usd: f64,
    series: Vec<f64>,
}

fn usd_like(c: &str) -> bool {
    matches!(c, "USD" | "USDT" | "USDC")
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

impl MetricsTel {
    /// For the run's instruments; `t0` = the local monotonic clock (ns) at the run's start.
    pub fn new(table: &InstrumentTable, t0: u64) -> Self {
        let n = table.len();
        MetricsTel {
            table: table.clone(),
            t0,
            names: table.iter().map(|i| i.name.clone()).collect(),
            kinds: table.iter().map(|i| (i.kind, i.inverse)).collect(),
            settle_usd: table
                .iter()
                .map(|i| usd_like(&i.settlement_currency))
                .collect(),
            acct: vec![Acct::default(); n],
            mid2: vec![0; n],
            index_e4: vec![0; n],
            exch_ns: 0,
            last_sec: 0,
            risk_events: Vec::new(),
            risk_event_count: 0,
            limit_since: vec![[None, None]; n],
            limit_s: vec![[0.0; 2]; n],
            spread_usd: 0.0,
            spread_bps_sum: 0.0,
            fills: 0,
            max_abs: vec![0.0; n],
            max_abs_usd: 0.0,
            series: Vec::new(),
        }
    }

    fn inverse_future(&self, i: usize) -> bool {
        let (k, inv) = self.kinds[i];
        inv && k != Kind::Option
    }

    /// USD per unit of settlement currency of instrument `i` (None if unknown).
    fn rate(&self, i: usize) -> Option<f64> {
        let table = &self.table;
        if self.settle_usd[i] {
            return Some(1.0);
        }
        if self.index_e4[i] > 0 {
            return Some(self.index_e4[i] as f64 / 1e4);
        }
        if self.inverse_future(i) && self.mid2[i] > 0 {
            return Some(table.get(i as u32).price_f64(self.mid2[i]) / 2.0);
        }
        match self.kinds[i].0 {
            Kind::Option => None,
            _ => Some(1.0),
        }
    }

    /// USD value of `amount` of instrument `i` at price `px` (price units).
    fn value_usd(&self, i: usize, amount: f64, px: f64) -> f64 {
        let a = amount.abs();
        if self.inverse_future(i) {
            a
        } else if self.kinds[i].0 == Kind::Option {
            a * self.index_e4[i] as f64 / 1e4
        } else {
            a * px
        }
    }

    /// Feeds one telemetry record.
    pub fn on_tel(&mut self, t: &Telemetry) {
        let i = t.instrument as usize;
        match t.kind {
            TelKind::Mark if i < self.mid2.len() => {
                if t.a > 0 {
                    self.mid2[i] = t.a;
                }
                if t.c > 0 {
                    self.index_e4[i] = t.c;
                }
                let ts = t.b.max(0) as u64;
                self.exch_ns = self.exch_ns.max(ts);
                let sec = ts / 1_000_000_000;
                if sec > self.last_sec {
                    if self.last_sec > 0 {
                        let p = self.pnl_usd();
                        self.series.push(p);
                    }
                    self.last_sec = sec;
                }
            }
            TelKind::Fill if i < self.mid2.len() => self.on_fill(i, t),
            TelKind::Limit if i < self.mid2.len() => {
                let s = t.side.idx();
                let ts = t.b.max(0) as u64;
                match (t.a != 0, self.limit_since[i][s]) {
                    (true, None) => self.limit_since[i][s] = Some(ts),
                    (false, Some(since)) => {
                        self.limit_s[i][s] += ts.saturating_sub(since) as f64 / 1e9;
                        self.limit_since[i][s] = None;
                    }
                    _ => {}
                }
            }
            TelKind::Risk => {
                self.risk_event_count += 1;
                if self.risk_events.len() < MAX_LISTED_RISK_EVENTS {
                    let e = self.risk_out(t);
                    self.risk_events.push(e);
                }
            }
            _ => {}
        }
    }

    fn on_fill(&mut self, i: usize, t: &Telemetry) {
        let inst = self.table.get(i as u32);
        self.fills += 1;
        let px = inst.price_f64(t.a);
        let amount = inst.amount_f64(t.b);
        let inv_fut = self.inverse_future(i);
        // Spread captured at the mid of the fill.
        if self.mid2[i] > 0 {
            let mid = inst.price_f64(self.mid2[i]) / 2.0;
            let d = (px - mid).abs();
            self.spread_bps_sum += d / mid * 1e4;
            self.spread_usd += if inv_fut {
                amount * (1.0 / px.min(mid) - 1.0 / px.max(mid)) * mid
            } else if inst.kind == Kind::Option {
                d * amount * self.index_e4[i] as f64 / 1e4
            } else {
                d * amount
            };
        }
        // Average-cost accounting (as report::pnl).
        let x = transformed(px, inv_fut);
        let q = amount * t.side.sign() as f64;
        let a = &mut self.acct[i];
        a.lots += t.side.sign() * t.b;
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
            if a.lots == 0 {
                a.pos = 0.0;
            }
        }
        a.fees += t.c as f64 / 1e9;
        let pos = a.pos;
        self.max_abs[i] = self.max_abs[i].max(pos.abs());
        let mut total = 0.0;
        for k in 0..self.acct.len() {
            let ak = self.acct[k];
            if ak.lots != 0 {
                let pk = if k == i {
                    px
                } else {
                    self.table.get(k as u32).price_f64(self.mid2[k]) / 2.0
                };
                total += self.value_usd(k, ak.pos, pk);
            }
        }
        self.max_abs_usd = self.max_abs_usd.max(total);
    }

    /// Realized + marked − fees over instruments, USD (instruments without a known USD rate
    /// are left out).
    fn pnl_usd(&self) -> f64 {
        let table = &self.table;
        let mut total = 0.0;
        for (i, a) in self.acct.iter().enumerate() {
            if a.lots == 0 && a.realized == 0.0 && a.fees == 0.0 {
                continue;
            }
            let inst = table.get(i as u32);
            let inv_fut = self.inverse_future(i);
            let mid = inst.price_f64(self.mid2[i]) / 2.0;
            let unreal = if a.pos != 0.0 && mid > 0.0 {
                a.pos * (transformed(mid, inv_fut) - a.avg)
            } else {
                0.0
            };
            let Some(rate) = self.rate(i) else {
                continue;
            };
            total += (a.realized + unreal - a.fees) * rate;
        }
        total
    }

    /// The PnL so far split as `(realized, unrealized at the last mark, fees)`, each in USD
    /// (the settlement stablecoin for re-hosted USDT instruments); their combination
    /// `realized + unrealized − fees` is the series the Sharpe and drawdown are computed on.
    /// For PnL time series (the backtest's `pnl.csv`).
    pub fn pnl_parts_usd(&self) -> (f64, f64, f64) {
        let mut parts = (0.0, 0.0, 0.0);
        for (i, a) in self.acct.iter().enumerate() {
            if a.lots == 0 && a.realized == 0.0 && a.fees == 0.0 {
                continue;
            }
            let inst = self.table.get(i as u32);
            let mid = inst.price_f64(self.mid2[i]) / 2.0;
            let unreal = if a.pos != 0.0 && mid > 0.0 {
                a.pos * (transformed(mid, self.inverse_future(i)) - a.avg)
            } else {
                0.0
            };
            let Some(rate) = self.rate(i) else {
                continue;
            };
            parts.0 += a.realized * rate;
            parts.1 += unreal * rate;
            parts.2 += a.fees * rate;
        }
        parts
    }

    fn risk_out(&self, t: &Telemetry) -> RiskEventOut {
        let table = &self.table;
        let code = RiskCode::from_i64(t.a);
        let inst = (t.instrument != u32::MAX && (t.instrument as usize) < table.len())
            .then(|| table.get(t.instrument));
        let side = |b: i64| if b == 0 { "bid" } else { "ask" };
        let amt = |lots: i64| inst.map_or(lots as f64, |i| i.amount_f64(lots));
        let detail = match code {
            Some(c) if c.is_side_limit() => {
                if c == RiskCode::NoUsdValue {
                    format!("{} side: USD value of a lot unknown", side(t.b))
                } else {
                    format!(
                        "{} side limited: cap {} (amount), room {}",
                        side(t.b),
                        amt(t.c.max(-1_000_000_000_000)),
                        amt(t.d.max(-1_000_000_000_000))
                    )
                }
            }
            Some(RiskCode::Flatten) => format!(
                "position {} reached hard max {}: reduce-only IOC order mmf-{}",
                amt(t.b),
                amt(t.c),
                t.d
            ),
            Some(RiskCode::StopLoss) => format!(
                "unrealized loss {:.4}% of entry value on position {} ≥ stop-loss",
                t.b as f64 / 1e4,
                amt(t.c)
            ),
            Some(RiskCode::DailyLoss) => format!(
                "PnL {:.4} USD ≤ {:.4} USD (daily loss limit)",
                t.b as f64 / 1e4,
                t.c as f64 / 1e4
            ),
            Some(RiskCode::GapPulled) => "book gap: quotes pulled until resync".into(),
            Some(RiskCode::FundsCoolOff) => format!(
                "{} side: venue said not_enough_funds: not quoted for {} s",
                side(t.b),
                mm_core::reject::FUNDS_COOL_OFF_NS / 1_000_000_000
            ),
            Some(RiskCode::Settlement) => format!(
                "settlement_in_progress: nothing sent for {} s, then quoting resumes",
                mm_core::reject::SETTLEMENT_PAUSE_NS / 1_000_000_000
            ),
            Some(RiskCode::PriceBand) => {
                let px = |v: i64| match inst {
                    Some(i) if v != i64::MIN && v != i64::MAX => i.price_f64(v).to_string(),
                    _ => "none".into(),
                };
                format!(
                    "venue price band: quotes clamped into [{}, {}] for {} s",
                    px(t.b),
                    px(t.c),
                    mm_core::reject::BAND_TTL_NS / 1_000_000_000
                )
            }
            Some(RiskCode::ConfigReject) => format!(
                "venue refused the tick or amount (error {}): configuration bug, instrument not \
                 quoted for the rest of the run",
                t.b
            ),
            Some(RiskCode::Stale) => "no market data within --stale-ms: quotes pulled".into(),
            Some(RiskCode::PositionMismatch) => format!(
                "reconciliation after a reconnect: venue position {} ≠ engine position {}; \
                 the venue's adopted",
                amt(t.b),
                amt(t.c)
            ),
            Some(RiskCode::Halt) => match HaltCause::from_i64(t.b) {
                Some(HaltCause::KillSwitch) => {
                    "kill switch: quoting halted until restart, cancel-all sent".into()
                }
                Some(HaltCause::RejectBurst) => "burst of unknown venue error codes (reject \
                     burst, README \"Error codes\"): quoting halted until restart, cancel-all sent"
                    .into(),
                Some(HaltCause::PnlLimit) => {
                    "PnL limit (event above): quoting halted until restart, cancel-all sent".into()
                }
                _ => "quoting halted until restart, cancel-all sent".into(),
            },
            Some(RiskCode::Shutdown) => "end of run (end of tape, --duration, Ctrl+C/SIGTERM): \
                 quoting stopped, every order cancelled with one cancel-all; a normal stop, \
                 not a limit"
                .into(),
            Some(c) => format!("{} (b={}, c={}, d={})", c.name(), t.b, t.c, t.d),
            None => format!("unknown risk code {}", t.a),
        };
        RiskEventOut {
            t_s: t.t.saturating_sub(self.t0) as f64 / 1e9,
            instrument: inst.map(|i| i.name.clone()),
            code: code.map_or("unknown", |c| c.name()).into(),
            action: code.map_or("", |c| c.action()).into(),
            detail,
        }
    }

    /// Final metrics; `orders_sent` from the engine's counters, `pnl` = the report's PnL.
    pub fn finish(&self, orders_sent: u64, pnl: &crate::report::Pnl) -> RunMetrics {
        let mut series = self.series.clone();
        series.push(self.pnl_usd());
        let deltas: Vec<f64> = series.windows(2).map(|w| w[1] - w[0]).collect();
        let sharpe = if deltas.len() >= 2 {
            let n = deltas.len() as f64;
            let mean = deltas.iter().sum::<f64>() / n;
            let var = deltas.iter().map(|d| (d - mean) * (d - mean)).sum::<f64>() / n;
            (var > 0.0).then(|| mean / var.sqrt())
        } else {
            None
        };
        let mut peak = f64::NEG_INFINITY;
        let mut dd: f64 = 0.0;
        for &v in &series {
            peak = peak.max(v);
            dd = dd.max(peak - v);
        }
        let mut by_side = BTreeMap::new();
        let mut total = 0.0;
        for (i, name) in self.names.iter().enumerate() {
            for s in 0..2 {
                let mut v = self.limit_s[i][s];
                if let Some(since) = self.limit_since[i][s] {
                    v += self.exch_ns.saturating_sub(since) as f64 / 1e9;
                }
                if v > 0.0 {
                    by_side.insert(format!("{name} {}", if s == 0 { "bid" } else { "ask" }), v);
                    total += v;
                }
            }
        }
        RunMetrics {
            fills: self.fills,
            orders_sent,
            fill_rate: if orders_sent > 0 {
                self.fills as f64 / orders_sent as f64
            } else {
                0.0
            },
            spread_captured_usd: self.spread_usd,
            spread_captured_per_fill_usd: if self.fills > 0 {
                self.spread_usd / self.fills as f64
            } else {
                0.0
            },
            spread_captured_avg_bps: if self.fills > 0 {
                self.spread_bps_sum / self.fills as f64
            } else {
                0.0
            },
            realized_pnl: pnl.realized,
            marked_pnl: pnl.realized + pnl.unrealized - pnl.fees,
            fees: pnl.fees,
            max_abs_inventory: self
                .names
                .iter()
                .zip(&self.max_abs)
                .filter(|(_, v)| **v > 0.0)
                .map(|(n, v)| (n.clone(), *v))
                .collect(),
            max_abs_inventory_usd: self.max_abs_usd,
            time_at_limit_s: total,
            time_at_limit_by_side: by_side,
            pnl_samples: series.len(),
            sharpe_per_second: sharpe,
            max_drawdown_usd: dd,
        }
    }
}
