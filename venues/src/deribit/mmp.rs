//! Market-maker protection on the client side (dossier §5.7, §5.8): configure it at startup,
//! and turn `user.mmp_trigger.{index}` into [`ExecKind::MmpTriggered`] /
//! [`ExecKind::MmpReset`] events for the engine.
//!
//! - [`configure`] (blocking, after the order session is open): `private/set_mmp_config`
//!   per index of the quoted instruments ([`index_name`]), then `private/subscribe
//!   user.mmp_trigger.{index}`.
//! - [`MmpGuard`] (in the gateway's [`super::gateway::OrderSession`]): on a trigger, one
//!   `MmpTriggered` per instrument of the index (`price` = `frozen_until` ms); the venue's
//!   own cancels arrive as usual `user.orders` notifications. The guard then waits — the
//!   configured `frozen_time`, or `--mmp-auto-reset-secs` when given — and calls
//!   `private/reset_mmp`; on its `"ok"` it sends one `MmpReset` per instrument. Waiting out
//!   the freeze *and* confirming with `reset_mmp` means quoting never resumes while the venue
//!   still freezes the group, whatever the clock offset between us and the venue (or the
//!   simulator's tape clock). `frozen_time == 0` (manual reset) without an auto-reset
//!   policy: the index stays frozen for the rest of the run.

use super::encode::{Encoder, MmpConfig};
use super::feed::rpc_blocking;
use mm_core::decimal::Dec;
use mm_core::event::{ExecEvent, ExecKind};
use mm_core::instrument::{Instrument, InstrumentTable};
use mm_core::types::InstrumentId;
use mm_io::WsClient;
use std::collections::HashMap;
use std::time::Duration;

/// MMP settings (`--mmp-*` flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MmpOpts {
    /// MMP group (mass quotes need one); `None` = the plain-order MMP of each index (orders
    /// carry `mmp: true`).
    pub group: Option<String>,
    /// Window of the limits, seconds (≥ 1).
    pub interval_s: u32,
    /// Freeze after a trigger, seconds (0 = until `private/reset_mmp`).
    pub frozen_s: u32,
    /// Filled quantity per window, base currency (BTC for `btc_usd`); `None` = disabled.
    pub qty_limit: Option<Dec>,
    /// |Net delta| per window, base currency; `None` = disabled.
    pub delta_limit: Option<Dec>,
    /// Call `private/reset_mmp` this many seconds after a trigger instead of waiting out
    /// `frozen_s` (needed to resume at all when `frozen_s == 0`).
    pub auto_reset_s: Option<u64>,
}

/// Deribit index of an instrument (`price_index`): `<base>_<quote>` lower-case, with `usd`
/// for inverse and coin-quoted instruments (`BTC-PERPETUAL`, BTC options → `btc_usd`;
/// `BTC_USDC-PERPETUAL` → `btc_usdc`).
pub fn index_name(inst: &Instrument) -> String {
    let base = inst.base_currency.to_ascii_lowercase();
    let quote = if inst.quote_currency.is_empty()
        || inst
            .quote_currency
            .eq_ignore_ascii_case(&inst.base_currency)
    {
        "usd".to_string()
    } else {
        inst.quote_currency.to_ascii_lowercase()
    };
    format!("{base}_{quote}")
}

/// The indexes of a table, each with its instruments, sorted by name.
pub fn index_groups(table: &InstrumentTable) -> Vec<(String, Vec<InstrumentId>)> {
    let mut m: std::collections::BTreeMap<String, Vec<InstrumentId>> = Default::default();
    for i in 0..table.len() {
        let inst = table.get(i as InstrumentId);
        m.entry(index_name(inst))
            .or_default()
            .push(i as InstrumentId);
    }
    m.into_iter().collect()
}

/// Configures MMP on an open order session: `private/set_mmp_config` per index of `table`,
/// then subscribes `user.mmp_trigger.{index}` (request ids from 100). Blocking, startup only.
///
/// # Errors
/// A refused request, with the venue's error (e.g. `13040 mmp_required` for an account
/// without MMP rights).
pub fn configure(ws: &mut WsClient, opts: &MmpOpts, table: &InstrumentTable) -> Result<(), String> {
    let mut enc = Encoder::with_capacity(4096);
    let t = Duration::from_secs(10);
    let groups = index_groups(table);
    let mut channels = Vec::new();
    for (k, (index, _)) in groups.iter().enumerate() {
        let id = 100 + k as u64;
        let f = enc
            .set_mmp_config(
                id,
                &MmpConfig {
                    index_name: index,
                    mmp_group: opts.group.as_deref(),
                    interval_s: opts.interval_s,
                    frozen_time_s: opts.frozen_s,
                    quantity_limit: opts.qty_limit,
                    delta_limit: opts.delta_limit,
                },
            )
            .to_string();
        rpc_blocking(ws, &f, id, t, |_| {})
            .map_err(|e| format!("private/set_mmp_config {index}: {e}"))?;
        channels.push(format!("user.mmp_trigger.{index}"));
    }
    let refs: Vec<&str> = channels.iter().map(|s| s.as_str()).collect();
    let id = 100 + groups.len() as u64;
    let f = enc.subscribe(id, &refs, true).to_string();
    rpc_blocking(ws, &f, id, t, |_| {}).map_err(|e| format!("private/subscribe mmp: {e}"))?;
    Ok(())
}

#[derive(Clone, Debug)]
struct IndexState {
    name: String,
    insts: Vec<InstrumentId>,
    frozen: bool,
    /// Monotonic ns at which to call `reset_mmp` (None = not scheduled).
    reset_at: Option<u64>,
}

/// The gateway's MMP state: see the module docs.
#[derive(Clone, Debug)]
pub struct MmpGuard {
    opts: MmpOpts,
    indexes: Vec<IndexState>,
    /// `reset_mmp` request id → index.
    pending: HashMap<u64, usize>,
    /// Triggers received (ours).
    pub triggers: u64,
    /// Resets confirmed.
    pub resets: u64,
}

impl MmpGuard {
    /// A guard for the indexes of `table`.
    pub fn new(opts: MmpOpts, table: &InstrumentTable) -> MmpGuard {
        MmpGuard {
            opts,
            indexes: index_groups(table)
                .into_iter()
                .map(|(name, insts)| IndexState {
                    name,
                    insts,
                    frozen: false,
                    reset_at: None,
                })
                .collect(),
            pending: HashMap::new(),
            triggers: 0,
            resets: 0,
        }
    }

    /// The settings.
    pub fn opts(&self) -> &MmpOpts {
        &self.opts
    }

    /// After a reconnect's [`configure`] (which resets MMP at the venue, dossier §5.7): every
    /// frozen index is thawed — an `ExecKind::MmpReset` per instrument of it goes to `out` —
    /// and pending resets are forgotten.
    pub fn on_reconfigured(&mut self, t_recv: u64, out: &mut Vec<ExecEvent>) {
        self.pending.clear();
        for x in &mut self.indexes {
            x.reset_at = None;
            if std::mem::take(&mut x.frozen) {
                for &inst in &x.insts {
                    out.push(ExecEvent {
                        t_recv,
                        instrument: inst,
                        kind: ExecKind::MmpReset,
                        ..Default::default()
                    });
                }
            }
        }
    }

    /// True while the index of `inst` is frozen.
    pub fn frozen(&self, inst: InstrumentId) -> bool {
        self.indexes
            .iter()
            .any(|x| x.frozen && x.insts.contains(&inst))
    }

    /// A `user.mmp_trigger` notification received at `t_recv` (monotonic ns): pushes one
    /// `MmpTriggered` per instrument of the index and schedules the reset. Triggers of
    /// another group (or of an index we do not quote) are ignored.
    pub fn on_trigger(
        &mut self,
        index_name: &str,
        mmp_group: &str,
        frozen_until_ms: u64,
        t_recv: u64,
        out: &mut Vec<ExecEvent>,
    ) {
        if mmp_group != self.opts.group.as_deref().unwrap_or("") {
            return;
        }
        let Some(x) = self.indexes.iter_mut().find(|x| x.name == index_name) else {
            return;
        };
        self.triggers += 1;
        x.frozen = true;
        let wait_s = match (self.opts.auto_reset_s, frozen_until_ms, self.opts.frozen_s) {
            (Some(s), _, _) => Some(s),
            (None, 0, _) | (None, _, 0) => None,
            (None, _, f) => Some(f as u64),
        };
        // 50 ms past the venue's freeze, so that the reset is a confirmation.
        x.reset_at = wait_s.map(|s| t_recv + s * 1_000_000_000 + 50_000_000);
        log::warn!(
            "gateway: MMP triggered on {index_name} (group {mmp_group:?}, frozen_until {frozen_until_ms} ms); {}",
            match wait_s {
                Some(s) => format!("reset_mmp in {s} s"),
                None => "frozen until a manual reset (no --mmp-auto-reset-secs)".into(),
            }
        );
        for &i in &x.insts {
            out.push(ExecEvent {
                t_recv,
                instrument: i,
                kind: ExecKind::MmpTriggered,
                price: frozen_until_ms as i64,
                ..Default::default()
            });
        }
    }

    /// The `private/reset_mmp` frame due at `now` (monotonic ns), if any, with request id
    /// `id` (the caller advances its id counter when a frame is returned).
    pub fn due_reset<'e>(&mut self, now: u64, enc: &'e mut Encoder, id: u64) -> Option<&'e str> {
        let k = self
            .indexes
            .iter()
            .position(|x| x.reset_at.is_some_and(|t| now >= t))?;
        let x = &mut self.indexes[k];
        x.reset_at = None;
        self.pending.insert(id, k);
        Some(enc.reset_mmp(id, &x.name, self.opts.group.as_deref()))
    }

    /// A reply to request `id` at `t_recv`: if it answers a `reset_mmp`, consumes it and
    /// (on success) pushes one `MmpReset` per instrument of the index; a refused reset is
    /// retried 1 s later. Returns whether the reply was ours.
    pub fn on_reply(&mut self, id: u64, ok: bool, t_recv: u64, out: &mut Vec<ExecEvent>) -> bool {
        let Some(k) = self.pending.remove(&id) else {
            return false;
        };
        let x = &mut self.indexes[k];
        if !ok {
            log::warn!("gateway: reset_mmp {} refused; retrying in 1 s", x.name);
            x.reset_at = Some(t_recv + 1_000_000_000);
            return true;
        }
        x.frozen = false;
        self.resets += 1;
        log::info!("gateway: MMP reset on {}: quoting may resume", x.name);
        for &i in &x.insts {
            out.push(ExecEvent {
                t_recv,
                instrument: i,
                kind: ExecKind::MmpReset,
                ..Default::default()
            });
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mm_core::instrument::Kind;

    fn table() -> InstrumentTable {
        let mut t = InstrumentTable::new();
        for n in ["BTC-PERPETUAL", "BTC-25JUN21"] {
            t.push(Instrument::new(
                n,
                Kind::Future,
                Dec::new(5, 1),
                Dec::new(10, 0),
            ))
            .unwrap();
        }
        t.push(Instrument::new(
            "ETH-PERPETUAL",
            Kind::Future,
            Dec::new(5, 2),
            Dec::new(1, 0),
        ))
        .unwrap();
        t
    }

    fn opts(frozen_s: u32, auto: Option<u64>) -> MmpOpts {
        MmpOpts {
            group: Some("g".into()),
            interval_s: 1,
            frozen_s,
            qty_limit: Some(Dec::new(1, 0)),
            delta_limit: None,
            auto_reset_s: auto,
        }
    }

    #[test]
    fn trigger_freezes_the_index_then_reset_after_the_freeze() {
        let t = table();
        assert_eq!(index_name(t.get(0)), "btc_usd");
        assert_eq!(index_groups(&t).len(), 2);
        let mut g = MmpGuard::new(opts(2, None), &t);
        let mut enc = Encoder::new();
        let mut out = Vec::new();
        // Another group's trigger, or an index we do not quote: ignored.
        g.on_trigger("btc_usd", "other", 5, 0, &mut out);
        g.on_trigger("sol_usd", "g", 5, 0, &mut out);
        assert!(out.is_empty());
        g.on_trigger("btc_usd", "g", 1_700_000_002_000, 1_000, &mut out);
        assert_eq!(out.len(), 2, "both BTC instruments");
        assert!(out
            .iter()
            .all(|e| e.kind == ExecKind::MmpTriggered && e.price == 1_700_000_002_000));
        assert!(g.frozen(0) && g.frozen(1) && !g.frozen(2));
        // No reset before frozen_s (2 s) + 50 ms.
        assert!(g.due_reset(1_000 + 2_000_000_000, &mut enc, 9).is_none());
        let f = g
            .due_reset(1_000 + 2_050_000_000, &mut enc, 9)
            .unwrap()
            .to_string();
        assert!(
            f.contains("private/reset_mmp") && f.contains(r#""mmp_group":"g""#),
            "{f}"
        );
        assert!(g.due_reset(u64::MAX, &mut enc, 10).is_none(), "once");
        out.clear();
        // Refused: retried 1 s later; accepted: MmpReset per instrument.
        assert!(g.on_reply(9, false, 3_000_000_000, &mut out));
        assert!(out.is_empty() && g.frozen(0));
        assert!(g.due_reset(3_999_999_999, &mut enc, 11).is_none());
        assert!(g.due_reset(4_000_000_000, &mut enc, 11).is_some());
        assert!(!g.on_reply(12, true, 0, &mut out), "not ours");
        assert!(g.on_reply(11, true, 4_100_000_000, &mut out));
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|e| e.kind == ExecKind::MmpReset));
        assert!(!g.frozen(0));
        assert_eq!((g.triggers, g.resets), (1, 1));
    }

    #[test]
    fn manual_freeze_needs_the_auto_reset_policy() {
        let t = table();
        let mut enc = Encoder::new();
        let mut out = Vec::new();
        let mut g = MmpGuard::new(opts(0, None), &t);
        g.on_trigger("btc_usd", "g", 0, 0, &mut out);
        assert!(g.due_reset(u64::MAX, &mut enc, 1).is_none(), "stays frozen");
        let mut g = MmpGuard::new(opts(0, Some(3)), &t);
        g.on_trigger("btc_usd", "g", 0, 0, &mut out);
        assert!(g.due_reset(3_049_999_999, &mut enc, 1).is_none());
        assert!(g.due_reset(3_050_000_000, &mut enc, 1).is_some());
    }
}
