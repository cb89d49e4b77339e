//! Limit breaches by the simulator's own ledger: the independent check that the engine's
//! in-flight-aware limits held (design.md §4: the simulator's ledger is the truth).
//!
//! The ledger's fills are replayed in order, per instrument, and after every fill that
//! **increases** `|position|` (only our own trading can break a limit; a price move alone
//! cannot be prevented) each configured limit is checked:
//! - max position and hard max position (lots, exact);
//! - max position in USD: `|position| × USD per lot`;
//! - max total exposure: `Σ |position| × USD per lot` over instruments;
//! - max inventory in USD: `|Σ position × USD per lot|` over instruments.
//!
//! USD per lot: inverse futures — the lot is USD (exact); linear instruments — lot × the
//! instrument's latest fill price (the engine values the limits at the highest price it may
//! trade at, so a fill never values higher than the engine assumed); options — lot × the
//! underlying index at exit (the ledger carries no index history). Because the last two are
//! approximations, USD limits on non-inverse instruments are compared with a relative
//! tolerance of [`USD_TOLERANCE`]; lot limits and inverse futures are exact.

use mm_core::engine::EngineConfig;
use mm_core::instrument::{InstrumentTable, Kind};
use mm_core::risk::NO_LIMIT;
use mm_venues::sim::LedgerSnapshot;
use std::collections::BTreeMap;

/// Relative tolerance of USD limits whose lot value the ledger cannot give exactly.
pub const USD_TOLERANCE: f64 = 0.01;

/// The configured limits the ledger is checked against (from the engine configuration).
#[derive(Clone, Debug, Default)]
pub struct Limits {
    /// Max position per instrument id (lots).
    pub max_position: Vec<Option<i64>>,
    /// Hard max position per instrument id (lots).
    pub hard_max: Vec<Option<i64>>,
    /// Max position per instrument, USD.
    pub max_position_usd: Option<f64>,
    /// Max net inventory across instruments, USD.
    pub max_inventory_usd: Option<f64>,
    /// Max total exposure across instruments, USD.
    pub max_exposure_usd: Option<f64>,
}

impl Limits {
    /// The limits of an engine configuration.
    pub fn from_config(cfg: &EngineConfig) -> Limits {
        let lots = |v: &[i64]| {
            v.iter()
                .map(|&x| (x != NO_LIMIT).then_some(x))
                .collect::<Vec<_>>()
        };
        let usd = |e4: i64| (e4 != NO_LIMIT).then(|| e4 as f64 / 1e4);
        Limits {
            max_position: lots(&cfg.max_position),
            hard_max: lots(&cfg.hard_max_position),
            max_position_usd: usd(cfg.max_position_usd_e4),
            max_inventory_usd: usd(cfg.max_inventory_usd_e4),
            max_exposure_usd: usd(cfg.max_exposure_usd_e4),
        }
    }
}

/// Counts breaches (one per limit per fill) and describes the first few.
///
/// `index_usd` = USD per coin by currency at exit (for options).
pub fn count(
    table: &InstrumentTable,
    ledger: &LedgerSnapshot,
    limits: &Limits,
    index_usd: &BTreeMap<String, f64>,
) -> (u64, Vec<String>) {
    let n = table.len();
    let mut pos = vec![0i64; n];
    let mut value = vec![0f64; n]; // USD per lot
    let mut exact = vec![true; n];
    for inst in table.iter() {
        let i = inst.id as usize;
        if inst.inverse && inst.kind != Kind::Option {
            value[i] = inst.amount_f64(1);
        } else {
            exact[i] = false;
            if inst.kind == Kind::Option {
                value[i] =
                    inst.amount_f64(1) * index_usd.get(&inst.base_currency).copied().unwrap_or(0.0);
            }
        }
    }
    let mut breaches = 0u64;
    let mut details = Vec::new();
    let mut note = |what: String, breaches: &mut u64| {
        *breaches += 1;
        if details.len() < 20 {
            details.push(what);
        }
    };
    for f in &ledger.fills {
        let Some(id) = table.id(&f.instrument) else {
            continue;
        };
        let i = id as usize;
        let inst = table.get(id);
        let before = pos[i];
        pos[i] += f.lots * f.side.sign();
        if inst.kind != Kind::Option && !inst.inverse {
            value[i] = inst.amount_f64(1) * inst.price_f64(f.price_ticks);
        }
        if pos[i].abs() <= before.abs() {
            continue;
        }
        let p = pos[i];
        let tol = |exact: bool| {
            if exact {
                1.0 + 1e-12
            } else {
                1.0 + USD_TOLERANCE
            }
        };
        if let Some(Some(m)) = limits.max_position.get(i) {
            if p.abs() > *m {
                note(
                    format!(
                        "{}: position {p} lots > max position {m} lots (trade {})",
                        f.instrument, f.trade_id
                    ),
                    &mut breaches,
                );
            }
        }
        if let Some(Some(m)) = limits.hard_max.get(i) {
            if p.abs() > *m {
                note(
                    format!(
                        "{}: position {p} lots > hard max {m} lots (trade {})",
                        f.instrument, f.trade_id
                    ),
                    &mut breaches,
                );
            }
        }
        if let Some(m) = limits.max_position_usd {
            let v = p.abs() as f64 * value[i];
            if v > m * tol(exact[i]) {
                note(
                    format!(
                        "{}: position {v:.2} USD > max position {m} USD (trade {})",
                        f.instrument, f.trade_id
                    ),
                    &mut breaches,
                );
            }
        }
        let all_exact = exact.iter().zip(&pos).all(|(e, p)| *e || *p == 0);
        if let Some(m) = limits.max_exposure_usd {
            let v: f64 = (0..n).map(|k| pos[k].abs() as f64 * value[k]).sum();
            if v > m * tol(all_exact) {
                note(
                    format!(
                        "exposure {v:.2} USD > max exposure {m} USD (trade {})",
                        f.trade_id
                    ),
                    &mut breaches,
                );
            }
        }
        if let Some(m) = limits.max_inventory_usd {
            let v: f64 = (0..n).map(|k| pos[k] as f64 * value[k]).sum::<f64>().abs();
            if v > m * tol(all_exact) {
                note(
                    format!(
                        "inventory {v:.2} USD > max inventory {m} USD (trade {})",
                        f.trade_id
                    ),
                    &mut breaches,
                );
            }
        }
    }
    (breaches, details)
}
