//! The simulated venue's mass quotes and MMP requests (Deribit dossier §5.6, §5.7, §5.8,
//! checklist §10 items 17–18): `private/mass_quote`, `private/cancel_quotes`,
//! `private/set_mmp_config`, `private/get_mmp_config`, `private/reset_mmp`, the MMP counters
//! of fills and the `user.mmp_trigger.{index}` notification. A child module of
//! [`super`] (the exchange), hooked from its dispatch.
//!
//! Rules (and the simulator's choices where the dossier leaves room):
//! - `mass_quote` and `cancel_quotes` need cancel-on-disconnect on the connection (or the
//!   account) ⇒ else `13042 cod_not_enabled`. `mass_quote` needs an MMP configuration for
//!   (index, `mmp_group`) ⇒ else `13040 mmp_required`; while the group is frozen ⇒
//!   `13030 mmp_trigger`; within 1 s (wall clock) of a `cancel_quotes` with `freeze_quotes`
//!   ⇒ `13043 quotes_frozen`; `valid_until` (ms, wall clock) already passed ⇒ `13888
//!   timed_out`. Quotes on more than one index, or more than 100 bids or asks ⇒ `-32602` on
//!   `quotes` (the whole request is refused).
//! - Each side is validated on its own (price grid, amount; a side's amount must be below
//!   the group's `quantity_limit` ⇒ else `11029 invalid_arguments`) and placed like a GTC
//!   limit order (`private/buy|sell` semantics incl. `post_only`/`reject_post_only` ⇒
//!   `11054`) tagged `quote: true`, `mmp: true`, `quote_id`, `quote_set_id`, `mmp_group`,
//!   no label. One quote per side per instrument per group: a new quote *replaces* the
//!   resting one (an edit: same `order_id`, `replaced: true`; priority lost on a price
//!   change or a size increase). `amount: 0` cancels the side. A side whose price would
//!   cross our own opposite quote of the same group is refused (`11029`). An errored side
//!   cancels that side's resting quote. When both sides move up the ask is processed first,
//!   when both move down the bid first.
//! - Result with `detailed: true`: `{orders, trades, errors}` (errors `{instrument_name,
//!   side: "bid"|"ask", error: {code, message}}`); otherwise `{errors_count}`.
//! - MMP: fills of MMP orders count per (account, index, group) ([`super::super::mmp`]); on a
//!   breach the group's open MMP orders are cancelled (`cancel_reason: "mmp_trigger"`,
//!   `mmp_cancelled: true`), then `user.mmp_trigger.{index}` `{index_name, frozen_until,
//!   mmp_group?}` is published. Plain orders join the index's plain-order MMP with
//!   `mmp: true` (which needs its configuration ⇒ else `13040`).

use super::*;
use crate::deribit::mmp::index_name;
use crate::sim::mmp::{MmpConfig, MmpConfigError, MmpKey};

/// The methods handled here.
pub(super) fn handles(m: &str) -> bool {
    matches!(
        m,
        "private/mass_quote"
            | "private/cancel_quotes"
            | "private/set_mmp_config"
            | "private/get_mmp_config"
            | "private/get_mmp_status"
            | "private/reset_mmp"
    )
}

fn side_word(s: Side) -> &'static str {
    match s {
        Side::Bid => "bid",
        Side::Ask => "ask",
    }
}

struct SideReq<'a> {
    side: Side,
    params: Params<'a>,
    price: Option<Dec>,
    amount: Option<Dec>,
}

impl Exchange {
    /// Handles one of [`handles`]'s methods.
    pub(super) fn quoting_request(
        &mut self,
        conn: ConnId,
        acct: &str,
        m: &str,
        p: &Params<'_>,
    ) -> Result<Handled, RpcError> {
        match m {
            "private/mass_quote" => self.mass_quote(conn, acct, p),
            "private/cancel_quotes" => self.cancel_quotes(conn, acct, p),
            "private/set_mmp_config" => self.set_mmp_config(acct, p),
            "private/get_mmp_config" => Ok(Handled::ok(self.mmp_configs_json(acct, p, false)?)),
            "private/get_mmp_status" => Ok(Handled::ok(self.mmp_configs_json(acct, p, true)?)),
            _ => {
                let index = p.req_str("index_name")?;
                let group = p.opt_str("mmp_group")?.unwrap_or_default();
                if !self
                    .mmp
                    .reset(&(acct.to_string(), index.clone(), group.clone()))
                {
                    return Err(RpcError::new(13040, "mmp_required"));
                }
                self.stats.mmp_resets += 1;
                self.push_log(None, SimLogKind::MmpReset { index, group });
                Ok(Handled::ok("\"ok\"".into()))
            }
        }
    }

    fn cod_on(&self, conn: ConnId, acct: &str) -> bool {
        self.conns.get(&conn).is_some_and(|c| c.cod)
            || self.accounts.get(acct).is_some_and(|a| a.cod_account)
    }

    /// Refuses an MMP order of `key` when MMP is not configured (`13040`) or frozen
    /// (`13030`).
    pub(super) fn check_mmp(&mut self, key: &MmpKey) -> Result<(), RpcError> {
        if self.mmp.config(key).is_none() {
            return Err(RpcError::new(13040, "mmp_required"));
        }
        if self.mmp.frozen(key, self.now_ms()).is_some() {
            self.stats.rejects += 1;
            return Err(RpcError::new(13030, "mmp_trigger"));
        }
        Ok(())
    }

    /// The MMP key of a plain `mmp: true` order on instrument `id`.
    pub(super) fn plain_mmp_key(&self, acct: &str, id: InstrumentId) -> MmpKey {
        (acct.to_string(), index_name(self.inst(id)), String::new())
    }

    fn set_mmp_config(&mut self, acct: &str, p: &Params<'_>) -> Result<Handled, RpcError> {
        let index = p.req_str("index_name")?;
        if !self.insts.iter().any(|i| index_name(i) == index) {
            return Err(bad_param("wrong format", "index_name"));
        }
        let int = |k: &str| -> Result<Option<u64>, RpcError> {
            match p.opt_dec(k)? {
                None => Ok(None),
                Some(d) if d.scale == 0 && d.mant >= 0 => Ok(Some(d.mant as u64)),
                Some(_) => Err(bad_param("wrong format", k)),
            }
        };
        let interval_s = int("interval")?.ok_or_else(|| ParamError::required_err("interval"))?;
        let frozen_time_s =
            int("frozen_time")?.ok_or_else(|| ParamError::required_err("frozen_time"))?;
        let pos = |k: &str| -> Result<Option<Dec>, RpcError> {
            match p.opt_dec(k)? {
                Some(d) if d.mant <= 0 => Err(bad_param("wrong format", k)),
                d => Ok(d),
            }
        };
        let group = p.opt_str("mmp_group")?.unwrap_or_default();
        if group.len() > 64 {
            return Err(bad_param("wrong format", "mmp_group"));
        }
        let cfg = MmpConfig {
            interval_s,
            frozen_time_s,
            quantity_limit: pos("quantity_limit")?,
            delta_limit: pos("delta_limit")?,
        };
        let key = (acct.to_string(), index, group);
        match self.mmp.set_config(key.clone(), cfg) {
            Ok(()) => {}
            Err(MmpConfigError::DeltaNotBelowQuantity) => {
                return Err(bad_param(
                    "must be lower than quantity_limit",
                    "delta_limit",
                ))
            }
            Err(MmpConfigError::TooManyGroups) => {
                return Err(bad_param("too many groups", "mmp_group"))
            }
        }
        Ok(Handled::ok(self.mmp_configs_json(
            acct,
            &Params::default(),
            false,
        )?))
    }

    fn mmp_configs_json(
        &mut self,
        acct: &str,
        p: &Params<'_>,
        status: bool,
    ) -> Result<String, RpcError> {
        let index = p.opt_str("index_name")?;
        let group = p.opt_str("mmp_group")?;
        let now = self.now_ms();
        let keys: Vec<(MmpKey, MmpConfig)> = self
            .mmp
            .configs(acct, index.as_deref(), group.as_deref())
            .map(|(k, c)| (k.clone(), c.clone()))
            .collect();
        let mut s = String::from("[");
        let mut n = 0;
        for (k, c) in keys {
            let frozen = self.mmp.frozen(&k, now);
            if status && frozen.is_none() {
                continue;
            }
            if n > 0 {
                s.push(',');
            }
            n += 1;
            let mut j = Obj::new(&mut s);
            j.str("index_name", &k.1);
            if !k.2.is_empty() {
                j.str("mmp_group", &k.2);
            }
            if status {
                j.int("frozen_until", frozen.unwrap_or(0) as i128);
            } else {
                j.int("interval", c.interval_s as i128)
                    .int("frozen_time", c.frozen_time_s as i128);
                if let Some(q) = c.quantity_limit {
                    j.dec("quantity_limit", q);
                }
                if let Some(d) = c.delta_limit {
                    j.dec("delta_limit", d);
                }
            }
            j.end();
        }
        s.push(']');
        Ok(s)
    }

    fn cancel_quotes(
        &mut self,
        conn: ConnId,
        acct: &str,
        p: &Params<'_>,
    ) -> Result<Handled, RpcError> {
        if !self.cod_on(conn, acct) {
            return Err(RpcError::new(13042, "cod_not_enabled"));
        }
        let ty = p.req_str("cancel_type")?;
        let insts = self.insts.clone();
        let filter: Box<dyn Fn(&Order) -> bool> = match ty.as_str() {
            "all" => Box::new(|_| true),
            "instrument" => {
                let id = self.instrument_param(p)?;
                Box::new(move |o| o.inst == id)
            }
            "quote_set_id" => {
                let q = p.req_str("quote_set_id")?;
                Box::new(move |o| o.quote.as_ref().is_some_and(|t| t.quote_set_id == q))
            }
            "currency_pair" => {
                let pair = p.req_str("currency_pair")?;
                Box::new(move |o| index_name(insts.get(o.inst)) == pair)
            }
            "currency" => {
                let c = p.req_str("currency")?;
                Box::new(move |o| insts.get(o.inst).base_currency == c)
            }
            _ => return Err(bad_param("wrong format", "cancel_type")),
        };
        if p.opt_bool("freeze_quotes")?.unwrap_or(false) {
            self.quotes_frozen_until
                .insert(acct.to_string(), wall_us() / 1000 + 1000);
        }
        Ok(self.cancel_where(acct, None, move |o| o.quote.is_some() && filter(o)))
    }

    fn mass_quote(
        &mut self,
        conn: ConnId,
        acct: &str,
        p: &Params<'_>,
    ) -> Result<Handled, RpcError> {
        if !self.cod_on(conn, acct) {
            return Err(RpcError::new(13042, "cod_not_enabled"));
        }
        let quote_id = p.req_str("quote_id")?;
        let group = p.req_str("mmp_group")?;
        let detailed = p.opt_bool("detailed")?.unwrap_or(false);
        let wall_ms = wall_us() / 1000;
        if let Some(v) = p.opt_dec("valid_until")? {
            if v.to_f64() < wall_ms as f64 {
                self.stats.rejects += 1;
                return Err(RpcError::new(13888, "timed_out"));
            }
        }
        let raw = p
            .raw("quotes")
            .ok_or_else(|| ParamError::required_err("quotes"))?;
        let list: Vec<&RawValue> =
            serde_json::from_str(raw.get()).map_err(|_| bad_param("wrong format", "quotes"))?;
        // Parse and check the whole request first.
        let mut entries = Vec::with_capacity(list.len());
        let mut index: Option<String> = None;
        let (mut bids, mut asks) = (0, 0);
        for q in list {
            let qp = Params::parse(Some(q)).ok_or_else(|| bad_param("wrong format", "quotes"))?;
            let id = self.instrument_param(&qp)?;
            let set = qp.req_str("quote_set_id")?;
            let ix = index_name(self.inst(id));
            if index.get_or_insert_with(|| ix.clone()) != &ix {
                return Err(bad_param("quotes of more than one index", "quotes"));
            }
            let mut sides = Vec::new();
            for (k, side) in [("bid", Side::Bid), ("ask", Side::Ask)] {
                let Some(r) = qp.raw(k) else { continue };
                let sp = Params::parse(Some(r)).ok_or_else(|| bad_param("wrong format", k))?;
                let price = sp.opt_dec("price")?;
                let amount = sp.opt_dec("amount")?;
                sides.push(SideReq {
                    side,
                    params: sp,
                    price,
                    amount,
                });
                if side == Side::Bid {
                    bids += 1
                } else {
                    asks += 1
                }
            }
            if sides.is_empty() {
                return Err(bad_param("bid or ask required", "quotes"));
            }
            entries.push((id, set, sides));
        }
        if bids > 100 || asks > 100 {
            return Err(bad_param("more than 100 bids or asks", "quotes"));
        }
        let Some(index) = index else {
            return Err(bad_param("empty", "quotes"));
        };
        let key: MmpKey = (acct.to_string(), index, group.clone());
        if wall_ms < self.quotes_frozen_until.get(acct).copied().unwrap_or(0) {
            self.stats.rejects += 1;
            return Err(RpcError::new(13043, "quotes_frozen"));
        }
        self.check_mmp(&key)?;
        let qty_limit = self.mmp.config(&key).and_then(|c| c.quantity_limit);
        self.stats.mass_quotes += 1;

        let mut orders: Vec<String> = Vec::new();
        let mut trades: Vec<String> = Vec::new();
        let mut errors: Vec<String> = Vec::new();
        let mut notes: Vec<Out> = Vec::new();
        for (id, set, mut sides) in entries {
            // Both sides up: ask first; both down: bid first (dossier §5.6).
            if sides.len() == 2 {
                let cur = |s: Side| self.quote_of(acct, id, s, &group).map(|o| o.price);
                let inst = self.inst(id);
                let new = |r: &SideReq<'_>| r.price.and_then(|d| inst.ticks_round(d));
                let up = |r: &SideReq<'_>| match (cur(r.side), new(r)) {
                    (Some(a), Some(b)) => b > a,
                    _ => false,
                };
                if up(&sides[0]) && up(&sides[1]) {
                    sides.reverse();
                }
            }
            let name = self.inst(id).name.clone();
            for r in sides {
                let tag = QuoteTag {
                    quote_id: quote_id.clone(),
                    quote_set_id: set.clone(),
                    mmp_group: group.clone(),
                };
                match self.quote_side(conn, acct, id, &r, tag, qty_limit) {
                    Ok((num, h)) => {
                        notes.extend(h.notes);
                        if let Ok(res) = &h.result {
                            if let Ok(m) = serde_json::from_str::<HashMap<String, &RawValue>>(res) {
                                if let Some(t) = m.get("trades") {
                                    let t = t.get().trim();
                                    let inner = &t[1..t.len() - 1];
                                    if !inner.trim().is_empty() {
                                        trades.push(inner.to_string());
                                    }
                                }
                            }
                        }
                        if let Some(o) = num.and_then(|n| self.open.get(&n).or(self.closed.get(&n)))
                        {
                            orders.push(self.order_json(o));
                        }
                    }
                    Err((e, h)) => {
                        notes.extend(h);
                        self.stats.quote_errors += 1;
                        let mut s = String::new();
                        let mut j = Obj::new(&mut s);
                        j.str("instrument_name", &name)
                            .str("side", side_word(r.side))
                            .with("error", |s| {
                                let mut eo = Obj::new(s);
                                eo.str("message", &e.message);
                                eo.int("code", e.code as i128);
                                eo.end();
                            });
                        j.end();
                        errors.push(s);
                    }
                }
            }
        }
        let mut r = String::new();
        let mut j = Obj::new(&mut r);
        if detailed {
            j.raw("errors", &format!("[{}]", errors.join(",")))
                .raw("orders", &format!("[{}]", orders.join(",")))
                .raw("trades", &format!("[{}]", trades.join(",")));
        } else {
            j.int("errors_count", errors.len() as i128);
        }
        j.end();
        Ok(Handled {
            result: Ok(r),
            notes,
            after: Vec::new(),
        })
    }

    /// The resting quote of (account, instrument, side, group), if any.
    fn quote_of(&self, acct: &str, id: InstrumentId, side: Side, group: &str) -> Option<&Order> {
        self.open.values().find(|o| {
            o.account == acct
                && o.inst == id
                && o.side == side
                && o.quote.as_ref().is_some_and(|t| t.mmp_group == group)
        })
    }

    /// One side of a quote: cancel (`amount: 0`), replace the resting quote (an edit), or
    /// place a new one. `Ok((order num, handled))`, or the side's error with the
    /// notifications of a resting quote it cancelled.
    #[allow(clippy::type_complexity)]
    fn quote_side(
        &mut self,
        conn: ConnId,
        acct: &str,
        id: InstrumentId,
        r: &SideReq<'_>,
        tag: QuoteTag,
        qty_limit: Option<Dec>,
    ) -> Result<(Option<u64>, Handled), (RpcError, Vec<Out>)> {
        let resting = self
            .quote_of(acct, id, r.side, &tag.mmp_group)
            .map(|o| o.num);
        let cancel_resting = |ex: &mut Exchange| {
            let mut notes = Vec::new();
            if let Some(n) = resting {
                if let Some(o) = ex.cancel_order(n, "user_request") {
                    ex.notify(&o, &[], &mut notes);
                }
            }
            notes
        };
        let zero = r.amount.is_some_and(|a| a.mant == 0);
        if zero {
            let notes = cancel_resting(self);
            return Ok((
                resting,
                Handled {
                    result: Ok("{}".into()),
                    notes,
                    after: Vec::new(),
                },
            ));
        }
        let insts = self.insts.clone();
        let inst = insts.get(id);
        let check = |ex: &Exchange| -> Result<(), RpcError> {
            let price = r.price.ok_or_else(|| ParamError::required_err("price"))?;
            let px = ex.validate_price(inst, price)?;
            let amount = r.amount.ok_or_else(|| ParamError::required_err("amount"))?;
            if let Some(l) = qty_limit {
                let base = if inst.inverse {
                    amount.to_f64() / price.to_f64().max(f64::MIN_POSITIVE)
                } else {
                    amount.to_f64()
                };
                if base >= l.to_f64() {
                    return Err(RpcError::new(11029, "invalid_arguments"));
                }
            }
            let other = ex.quote_of(acct, id, r.side.opposite(), &tag.mmp_group);
            if let Some(o) = other {
                let crosses = match r.side {
                    Side::Bid => px >= o.price,
                    Side::Ask => px <= o.price,
                };
                if crosses {
                    return Err(RpcError::new(11029, "invalid_arguments"));
                }
            }
            Ok(())
        };
        if let Err(e) = check(self) {
            self.stats.rejects += 1;
            return Err((e, cancel_resting(self)));
        }
        self.quote_ctx = Some(tag);
        let h = match resting {
            Some(n) => {
                let oid = self
                    .open
                    .get(&n)
                    .map(|o| o.order_id.clone())
                    .unwrap_or_default();
                self.edit(acct, &oid, &r.params).map(|h| (Some(n), h))
            }
            None => {
                let mut params = String::new();
                let mut j = Obj::new(&mut params);
                j.str("instrument_name", &inst.name);
                j.end();
                let before = self.next_order;
                let with_name = merge_params(&params, &r.params);
                let pp = serde_json::from_str::<&RawValue>(&with_name)
                    .ok()
                    .and_then(|raw| Params::parse(Some(raw)).map(|p| (p, ())));
                match pp {
                    Some((pp, ())) => self
                        .place(conn, acct, r.side, &pp)
                        .map(|h| ((self.next_order > before).then_some(before), h)),
                    None => Err(bad_param("wrong format", side_word(r.side))),
                }
            }
        };
        self.quote_ctx = None;
        match h {
            Ok((num, h)) => match h.result {
                Err(e) => Err((e, h.notes)),
                Ok(_) => Ok((num, h)),
            },
            Err(e) => {
                self.stats.rejects += 1;
                Err((e, cancel_resting(self)))
            }
        }
    }

    /// Books a fill of an MMP order into its group's counters; a breach queues the trigger
    /// ([`Self::fire_mmp`]).
    pub(super) fn mmp_fill(&mut self, o: &Order, lots: Lots, px: Ticks) {
        if !o.mmp {
            return;
        }
        let inst = self.inst(o.inst);
        let amount = exact_f64(inst.lot, lots);
        let qty = if inst.inverse {
            let price = exact_f64(inst.tick, px);
            if price > 0.0 {
                amount / price
            } else {
                0.0
            }
        } else {
            amount
        };
        let group = o
            .quote
            .as_ref()
            .map(|q| q.mmp_group.clone())
            .unwrap_or_default();
        let key = (o.account.clone(), index_name(inst), group);
        let now = self.now_ms();
        if let Some(until) = self.mmp.on_fill(&key, qty, o.side.sign() as f64 * qty, now) {
            self.mmp_fired.push((key, until));
        }
    }

    /// Runs the queued MMP triggers: cancels each group's open MMP orders (`cancel_reason:
    /// "mmp_trigger"`, `mmp_cancelled: true`) and publishes `user.mmp_trigger.{index}`.
    pub(super) fn fire_mmp(&mut self) -> Vec<Out> {
        let mut outs = Vec::new();
        for (key, until) in std::mem::take(&mut self.mmp_fired) {
            self.stats.mmp_triggers += 1;
            self.push_log(
                None,
                SimLogKind::MmpTriggered {
                    index: key.1.clone(),
                    group: key.2.clone(),
                },
            );
            let insts = self.insts.clone();
            let nums: Vec<u64> = self
                .open
                .values()
                .filter(|o| {
                    o.account == key.0
                        && o.mmp
                        && index_name(insts.get(o.inst)) == key.1
                        && o.quote.as_ref().map_or("", |q| q.mmp_group.as_str()) == key.2
                })
                .map(|o| o.num)
                .collect();
            for n in nums {
                if let Some(o) = self.cancel_order(n, "mmp_trigger") {
                    self.notify(&o, &[], &mut outs);
                }
            }
            let ch = format!("user.mmp_trigger.{}", key.1);
            let mut data = String::new();
            let mut j = Obj::new(&mut data);
            j.str("index_name", &key.1)
                .int("frozen_until", until as i128);
            if !key.2.is_empty() {
                j.str("mmp_group", &key.2);
            }
            j.end();
            for (cid, st) in &self.conns {
                if st.account.as_deref() == Some(key.0.as_str()) && st.subs.contains(&ch) {
                    outs.push(Out {
                        conn: *cid,
                        text: frame(&ch, &data, st.sub_label.as_deref()),
                    });
                }
            }
        }
        outs
    }
}

/// `base` (a JSON object) with the members of `extra` added.
fn merge_params(base: &str, extra: &Params<'_>) -> String {
    let mut s = base.trim_end_matches('}').to_string();
    for (k, v) in extra.entries() {
        s.push(',');
        json::push_str_lit(&mut s, k);
        s.push(':');
        s.push_str(v.get());
    }
    s.push('}');
    s
}
