//! Start-up with a fill journal (`--journal PATH`, issue 4 item 7): restore the previous runs'
//! fills into the engine, reconcile them with the venue, and hand the journal to the gateway.
//!
//! [`restore`] runs on the control thread after the order session is open and before any
//! engine thread starts (so nothing here is on the hot path):
//! 1. open the journal ([`FillJournal::open`]: header check, a torn last line cut off) and book
//!    each journaled fill into the engine ([`Engine::restore_fill`]);
//! 2. cancel every order of ours (label `mmf-<id>`) still open on the venue — orphans of the
//!    previous run that cancel-on-disconnect did not remove;
//! 3. per currency, ask the venue for the account's fills after the newest trade the journal
//!    knows (`private/get_user_trades_by_currency`): fills of ours the journal lacks (made
//!    while the engine was dead, or a line lost with the page cache) are appended to the
//!    journal, then booked the same way (`journal_fills_recovered`). A new journal starts at the
//!    venue's newest trade: older history is not ours to replay;
//! 4. compare the resulting positions with `private/get_positions`; on a difference log both
//!    figures, adopt the venue's ([`Engine::adopt_position`]) and count it
//!    (`journal_mismatches`);
//! 5. start the client ids in a block above every id of the journal and the venue
//!    ([`CLIENT_ID_BLOCK`]) and record the start in the journal.

use crate::report::FillRec;
use mm_core::engine::Engine;
use mm_core::event::{ExecEvent, ExecKind};
use mm_core::instrument::InstrumentTable;
use mm_core::types::{ClientId, Ticks};
use mm_io::WsClient;
use mm_venues::deribit::encode::Encoder;
use mm_venues::deribit::feed::rpc_blocking;
use mm_venues::deribit::gateway::{OrderSession, NOT_OPEN_CODES};
use mm_venues::deribit::journal::{FillJournal, CLIENT_ID_BLOCK};
use mm_venues::deribit::private::{parse_label, TradesView};
use mm_venues::deribit::reconcile::{
    fetch_open_orders, fetch_positions, fetch_trades_since, RECONCILE_TIMEOUT,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// What the start-up restoration did (the report's `journal_*` figures).
pub struct Restored {
    /// The journal, for the gateway thread ([`mm_venues::deribit::gateway::run_gateway`]).
    pub journal: Option<FillJournal>,
    /// The fills booked into the engine (journal, then recovered, then adopted position
    /// differences with client id 0), for the report's fill list and PnL.
    pub fills: Vec<FillRec>,
    /// Fills restored from the journal.
    pub from_journal: u64,
    /// Fills the journal lacked, recovered from the venue's trade history.
    pub recovered: u64,
    /// Journaled fills of instruments this run does not quote (not booked).
    pub not_quoted: u64,
    /// Instruments whose venue position differed from the fills' (venue's adopted).
    pub mismatches: u64,
    /// Orders of ours found open on the venue and cancelled.
    pub orphans_cancelled: u64,
    /// First client id of this run.
    pub client_id_base: ClientId,
}

/// Restores and reconciles (see the module docs). `ws` is the authenticated order
/// connection, `endpoint` and `account` (the API key id) identify the journal's venue. With
/// `dry_run` orphans are only reported, not cancelled (a dry run sends no order request).
///
/// # Errors
/// The journal cannot be opened or read (a damaged line, another endpoint/account), a venue
/// query fails, an orphan cannot be cancelled, or the journal cannot be written.
#[allow(clippy::too_many_arguments)]
pub fn restore(
    path: &Path,
    fsync: bool,
    dry_run: bool,
    ws: &mut WsClient,
    endpoint: &str,
    account: &str,
    table: &Arc<InstrumentTable>,
    engine: &mut Engine,
    clock: fn() -> u64,
) -> Result<Restored, String> {
    let (mut journal, contents) = FillJournal::open(path, endpoint, account, fsync)?;
    let new_journal = contents.header.is_none();
    let mut out_fills = Vec::new();
    let mut from_journal = 0;
    let mut not_quoted = 0;
    let mut max_id = contents.max_client_id();
    let mut last_px: Vec<Option<Ticks>> = vec![None; table.len()];
    let mut seed: Vec<(String, String)> = Vec::new();
    let currency_of_name = |name: &str| -> String {
        match table.id(name) {
            Some(i) => table.get(i).base_currency.clone(),
            None => name
                .split(['-', '_'])
                .next()
                .unwrap_or("")
                .to_ascii_uppercase(),
        }
    };
    // 1. The journal.
    for f in &contents.fills {
        seed.push((currency_of_name(&f.instrument), f.trade_id.clone()));
        let Some(id) = table.id(&f.instrument) else {
            not_quoted += 1;
            continue;
        };
        let inst = table.get(id);
        let price = inst.ticks_round(f.price).unwrap_or(f.price_ticks);
        let lots = inst.lots_round(f.amount).unwrap_or(f.lots);
        if (price, lots) != (f.price_ticks, f.lots) {
            log::warn!(
                "fill journal: trade {} of {}: {} ticks × {} lots journaled, {price} × {lots} \
                 with this run's tick and lot sizes (used)",
                f.trade_id,
                f.instrument,
                f.price_ticks,
                f.lots
            );
        }
        let ev = ExecEvent {
            client_id: f.client_id,
            price,
            qty: lots,
            fee_nano: (f.fee.to_f64() * 1e9).round() as i64,
            instrument: id,
            kind: ExecKind::Fill,
            side: f.side,
            maker: f.maker as u8,
            ..Default::default()
        };
        if engine.restore_fill(&ev) {
            from_journal += 1;
            last_px[id as usize] = Some(price);
            out_fills.push(fill_rec(&ev));
        }
    }
    if not_quoted > 0 {
        log::warn!(
            "fill journal: {not_quoted} fills of instruments this run does not quote were not \
             booked"
        );
    }
    for (cur, id) in &contents.trades_from {
        seed.push((cur.clone(), id.clone()));
    }
    log::info!(
        "fill journal {}: {} fills restored ({} runs before this one)",
        path.display(),
        from_journal,
        contents.starts
    );

    let mut currencies: Vec<String> = table.iter().map(|i| i.base_currency.clone()).collect();
    currencies.sort();
    currencies.dedup();
    let mut enc = Encoder::new();
    let mut next_id: u64 = 500;

    // 2. Orphans.
    let mut orphans_cancelled = 0;
    for cur in &currencies {
        for o in fetch_open_orders(ws, &mut enc, &mut next_id, cur)? {
            let Some(cid) = parse_label(&o.label) else {
                continue;
            };
            max_id = max_id.max(cid);
            if dry_run {
                log::warn!(
                    "dry run: order {} {} of a previous run is open on {} (not cancelled)",
                    o.order_id,
                    o.label,
                    o.instrument
                );
                continue;
            }
            let id = next_id;
            next_id += 1;
            let f = enc.cancel(id, &o.order_id).to_string();
            match rpc_blocking(ws, &f, id, RECONCILE_TIMEOUT, |_| {}) {
                Ok(_) => {}
                Err(e) if NOT_OPEN_CODES.iter().any(|c| e.contains(&c.to_string())) => {}
                Err(e) => {
                    return Err(format!(
                        "cancelling orphan order {} ({}) of the previous run: {e}",
                        o.order_id, o.label
                    ))
                }
            }
            log::warn!(
                "cancelled orphan order {} {} of the previous run on {}",
                o.order_id,
                o.label,
                o.instrument
            );
            orphans_cancelled += 1;
        }
    }

    // 3. Fills the journal lacks.
    journal.seed = seed;
    let mut session = OrderSession::new(table.clone()).with_journal(journal);
    let mut recovered_evs: Vec<ExecEvent> = Vec::new();
    let mut recovered_ids: Vec<(String, String)> = Vec::new();
    for cur in &currencies {
        let from = session.last_trade_id(cur).map(str::to_string);
        if from.is_none() && new_journal {
            // A new journal: the account's history so far is not this journal's.
            if let Some(id) =
                mm_venues::deribit::reconcile::fetch_newest_trade_id(ws, &mut next_id, cur)?
            {
                session.seed_trade(cur, &id);
            }
            continue;
        }
        fetch_trades_since(ws, &mut enc, &mut next_id, cur, from.as_deref(), |page| {
            let v = TradesView::new(page);
            for t in v.iter().flatten() {
                recovered_ids.push((cur.clone(), t.trade_id.to_string()));
            }
            session.on_trades(v, clock(), &mut recovered_evs);
        })?;
    }
    if session.stats.journal_errors > 0 {
        return Err(format!(
            "fill journal {}: writing a recovered fill failed (see the log)",
            path.display()
        ));
    }
    let mut recovered = 0;
    for ev in &recovered_evs {
        max_id = max_id.max(ev.client_id);
        if engine.restore_fill(ev) {
            recovered += 1;
            last_px[ev.instrument as usize] = Some(ev.price);
            out_fills.push(fill_rec(ev));
            log::warn!(
                "fill of {} (order mmf-{}) missing from the journal: recovered from the venue",
                table.get(ev.instrument).name,
                ev.client_id
            );
        }
    }
    let trades_from: BTreeMap<String, String> = currencies
        .iter()
        .filter_map(|c| {
            session
                .last_trade_id(c)
                .map(|id| (c.clone(), id.to_string()))
        })
        .collect();
    let mut journal = session
        .take_journal()
        .ok_or("fill journal: lost by the reconciliation session")?;
    let mut seed: Vec<(String, String)> = contents
        .fills
        .iter()
        .map(|f| (currency_of_name(&f.instrument), f.trade_id.clone()))
        .collect();
    seed.extend(recovered_ids);
    seed.extend(trades_from.iter().map(|(c, id)| (c.clone(), id.clone())));

    // 4. Positions.
    let mut mismatches = 0;
    for cur in &currencies {
        let venue: BTreeMap<String, f64> = fetch_positions(ws, &mut enc, &mut next_id, cur)?
            .into_iter()
            .map(|p| (p.instrument, p.size))
            .collect();
        for inst in table.iter().filter(|i| &i.base_currency == cur) {
            let size = venue.get(&inst.name).copied().unwrap_or(0.0);
            let lots = (size / inst.lot.to_f64()).round() as i64;
            let ours = engine.position(inst.id);
            if lots != ours {
                let px = last_px[inst.id as usize].unwrap_or(0);
                log::error!(
                    "position of {} after the journal and the venue's fills: {} ({} lots); the \
                     venue reports {} ({} lots): adopting the venue's",
                    inst.name,
                    inst.amount_f64(ours),
                    ours,
                    size,
                    lots
                );
                let d = engine.adopt_position(inst.id, lots, px);
                out_fills.push(FillRec {
                    instrument: inst.id,
                    side: if d > 0 {
                        mm_core::types::Side::Bid
                    } else {
                        mm_core::types::Side::Ask
                    },
                    price: px,
                    lots: d.abs(),
                    fee_nano: 0,
                    client_id: 0,
                });
                mismatches += 1;
            }
        }
    }

    // 5. Client ids and the start record.
    let client_id_base = if max_id == 0 && new_journal {
        1
    } else {
        (max_id / CLIENT_ID_BLOCK + 1) * CLIENT_ID_BLOCK
    };
    engine.reserve_client_ids(client_id_base);
    journal
        .append_start(client_id_base, &trades_from)
        .map_err(|e| format!("fill journal {}: {e}", path.display()))?;
    journal.seed = seed;
    log::info!(
        "fill journal: {from_journal} fills restored, {recovered} recovered from the venue, \
         {mismatches} position mismatches, {orphans_cancelled} orphan orders cancelled; client \
         ids from {client_id_base}"
    );
    Ok(Restored {
        journal: Some(journal),
        fills: out_fills,
        from_journal,
        recovered,
        not_quoted,
        mismatches,
        orphans_cancelled,
        client_id_base,
    })
}

fn fill_rec(ev: &ExecEvent) -> FillRec {
    FillRec {
        instrument: ev.instrument,
        side: ev.side,
        price: ev.price,
        lots: ev.qty,
        fee_nano: ev.fee_nano,
        client_id: ev.client_id,
    }
}
