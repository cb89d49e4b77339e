//! The simulated venue's market-maker protection (Deribit dossier §5.7, checklist §10 item
//! 18): configurations per (account, index, MMP group), counters of filled quantity and
//! net delta over `interval` seconds, the freeze after a breach.
//!
//! Choices where the dossier leaves room:
//! - Quantities are in the index's base currency: an inverse future's USD amount counts as
//!   `amount / price` coin, a linear or option amount as is. Delta: a future's signed
//!   quantity (buy +, sell −); options count their signed amount as delta (the simulator has
//!   no greeks). A breach is `Σ quantity > quantity_limit` or `|Σ delta| > delta_limit` over
//!   the fills of the last `interval` seconds (tape clock).
//! - `frozen_until` = fill time + `frozen_time` s (tape clock, ms); `frozen_time == 0` ⇒
//!   `frozen_until: 0`, frozen until `private/reset_mmp`.
//! - `set_mmp_config` replaces the configuration (omitted limits are disabled) and resets
//!   the group; `interval == 0` removes it. `delta_limit ≥ quantity_limit` ⇒ `-32602`.
//!   More than 16 groups per account ⇒ `-32602` on `mmp_group`.

use mm_core::decimal::Dec;
use std::collections::{BTreeMap, VecDeque};

/// Key of one MMP configuration: (account, index, group; `""` = the plain-order MMP).
pub type MmpKey = (String, String, String);

/// One MMP configuration (`private/set_mmp_config` params).
#[derive(Clone, Debug, PartialEq)]
pub struct MmpConfig {
    /// Window, seconds (> 0).
    pub interval_s: u64,
    /// Freeze, seconds (0 = manual reset).
    pub frozen_time_s: u64,
    /// Filled quantity limit per window, base currency.
    pub quantity_limit: Option<Dec>,
    /// Net delta limit per window, base currency.
    pub delta_limit: Option<Dec>,
}

#[derive(Clone, Debug)]
struct Group {
    cfg: MmpConfig,
    /// (tape ms, quantity, signed delta) of the fills in the window.
    fills: VecDeque<(u64, f64, f64)>,
    /// `Some(frozen_until)` while frozen (`Some(0)` = until reset).
    frozen: Option<u64>,
}

/// Errors of [`Mmp::set_config`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MmpConfigError {
    /// `delta_limit` not below `quantity_limit`.
    DeltaNotBelowQuantity,
    /// More than [`MAX_GROUPS`] groups on the account.
    TooManyGroups,
}

/// Most MMP groups per account (dossier §5.7).
pub const MAX_GROUPS: usize = 16;

/// All MMP state of the simulated venue.
#[derive(Clone, Debug, Default)]
pub struct Mmp {
    groups: BTreeMap<MmpKey, Group>,
}

impl Mmp {
    /// `private/set_mmp_config`: sets (or with `interval_s == 0` removes) a configuration and
    /// unfreezes the group.
    ///
    /// # Errors
    /// See [`MmpConfigError`].
    pub fn set_config(&mut self, key: MmpKey, cfg: MmpConfig) -> Result<(), MmpConfigError> {
        if cfg.interval_s == 0 {
            self.groups.remove(&key);
            return Ok(());
        }
        if let (Some(q), Some(d)) = (cfg.quantity_limit, cfg.delta_limit) {
            if d.to_f64() >= q.to_f64() {
                return Err(MmpConfigError::DeltaNotBelowQuantity);
            }
        }
        let n = self
            .groups
            .keys()
            .filter(|k| k.0 == key.0 && !k.2.is_empty())
            .count();
        if !key.2.is_empty() && !self.groups.contains_key(&key) && n >= MAX_GROUPS {
            return Err(MmpConfigError::TooManyGroups);
        }
        self.groups.insert(
            key,
            Group {
                cfg,
                fills: VecDeque::new(),
                frozen: None,
            },
        );
        Ok(())
    }

    /// The configuration of `key`, if any.
    pub fn config(&self, key: &MmpKey) -> Option<&MmpConfig> {
        self.groups.get(key).map(|g| &g.cfg)
    }

    /// The configurations of an account (optionally of one index / group), in key order.
    pub fn configs<'a>(
        &'a self,
        account: &'a str,
        index: Option<&'a str>,
        group: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a MmpKey, &'a MmpConfig)> + 'a {
        self.groups
            .iter()
            .filter(move |(k, _)| {
                k.0 == account && index.is_none_or(|i| k.1 == i) && group.is_none_or(|g| k.2 == g)
            })
            .map(|(k, g)| (k, &g.cfg))
    }

    /// `private/reset_mmp`: unfreezes the group and clears its window. False if not
    /// configured.
    pub fn reset(&mut self, key: &MmpKey) -> bool {
        match self.groups.get_mut(key) {
            Some(g) => {
                g.frozen = None;
                g.fills.clear();
                true
            }
            None => false,
        }
    }

    /// `Some(frozen_until)` while `key` is frozen at tape time `now_ms` (a timed freeze ends
    /// by itself once `now_ms ≥ frozen_until`).
    pub fn frozen(&mut self, key: &MmpKey, now_ms: u64) -> Option<u64> {
        let g = self.groups.get_mut(key)?;
        match g.frozen {
            Some(t) if t != 0 && now_ms >= t => {
                g.frozen = None;
                g.fills.clear();
                None
            }
            f => f,
        }
    }

    /// A fill of an MMP order of `key` at tape time `now_ms`: `qty` (base currency, > 0) and
    /// signed `delta`. Returns `Some(frozen_until)` when this fill breaches a limit (the
    /// group is frozen from now on), `None` otherwise (also when not configured or already
    /// frozen).
    pub fn on_fill(&mut self, key: &MmpKey, qty: f64, delta: f64, now_ms: u64) -> Option<u64> {
        self.frozen(key, now_ms);
        let g = self.groups.get_mut(key)?;
        if g.frozen.is_some() {
            return None;
        }
        let from = now_ms.saturating_sub(g.cfg.interval_s * 1000);
        while g.fills.front().is_some_and(|f| f.0 < from) {
            g.fills.pop_front();
        }
        g.fills.push_back((now_ms, qty, delta));
        let q: f64 = g.fills.iter().map(|f| f.1).sum();
        let d: f64 = g.fills.iter().map(|f| f.2).sum();
        let breach = g.cfg.quantity_limit.is_some_and(|l| q > l.to_f64() + 1e-12)
            || g.cfg
                .delta_limit
                .is_some_and(|l| d.abs() > l.to_f64() + 1e-12);
        if !breach {
            return None;
        }
        let until = if g.cfg.frozen_time_s == 0 {
            0
        } else {
            now_ms + g.cfg.frozen_time_s * 1000
        };
        g.frozen = Some(until);
        g.fills.clear();
        Some(until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MmpKey {
        ("acct".into(), "btc_usd".into(), "g".into())
    }

    #[test]
    fn window_breach_freeze_and_expiry() {
        let mut m = Mmp::default();
        assert_eq!(m.on_fill(&key(), 1.0, 1.0, 0), None, "not configured");
        m.set_config(
            key(),
            MmpConfig {
                interval_s: 10,
                frozen_time_s: 2,
                quantity_limit: Some(Dec::new(15, 1)),
                delta_limit: None,
            },
        )
        .unwrap();
        assert_eq!(m.on_fill(&key(), 1.0, 1.0, 1_000), None);
        // The first fill left the 10 s window: 1.0 + 1.0 is not counted.
        assert_eq!(m.on_fill(&key(), 1.0, -1.0, 12_000), None);
        assert_eq!(m.on_fill(&key(), 1.0, 1.0, 13_000), Some(15_000));
        assert_eq!(m.frozen(&key(), 14_999), Some(15_000));
        assert_eq!(m.on_fill(&key(), 5.0, 5.0, 14_000), None, "already frozen");
        assert_eq!(m.frozen(&key(), 15_000), None);
        m.on_fill(&key(), 2.0, 2.0, 16_000);
        assert!(m.frozen(&key(), 16_000).is_some());
        assert!(m.reset(&key()));
        assert_eq!(m.frozen(&key(), 16_000), None);
        assert_eq!(
            m.set_config(
                key(),
                MmpConfig {
                    interval_s: 1,
                    frozen_time_s: 0,
                    quantity_limit: Some(Dec::new(1, 0)),
                    delta_limit: Some(Dec::new(1, 0)),
                }
            ),
            Err(MmpConfigError::DeltaNotBelowQuantity)
        );
    }

    #[test]
    fn delta_limit_and_manual_reset() {
        let mut m = Mmp::default();
        m.set_config(
            key(),
            MmpConfig {
                interval_s: 60,
                frozen_time_s: 0,
                quantity_limit: None,
                delta_limit: Some(Dec::new(1, 0)),
            },
        )
        .unwrap();
        // Buys and sells offset in delta.
        assert_eq!(m.on_fill(&key(), 0.8, 0.8, 0), None);
        assert_eq!(m.on_fill(&key(), 0.8, -0.8, 1), None);
        assert_eq!(m.on_fill(&key(), 0.8, 0.8, 2), None);
        assert_eq!(m.on_fill(&key(), 0.3, 0.3, 3), Some(0));
        assert_eq!(m.frozen(&key(), u64::MAX), Some(0), "until reset");
        m.reset(&key());
        assert_eq!(m.frozen(&key(), 4), None);
    }
}
