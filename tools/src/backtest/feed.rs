//! The backtest's market data: a tape preloaded once into [`MdEvent`]s, grouped by tape event.
//!
//! **Path: the real decoder.** The tape is loaded with the simulator's reader
//! ([`mm_venues::sim::tape::load_many`]: cryptofeed, tardis, Binance re-hosted as
//! `BTC_USDT-PERPETUAL`), replayed once through the simulator's [`Exchange`] (which renders
//! each tape event as the Deribit frames it would send: book snapshot/changes, trades, the
//! synthetic ticker) and those frames are decoded by the production [`MdDecoder`]. The engine
//! therefore sees in the backtest exactly the events it sees behind the sockets of `mm-fast
//! --venue sim`, at no cost during the replay: the JSON work happens here, before the clock of
//! the replay starts (reported separately as `load_s`).
//!
//! **A Binance day-2 file alone** (e.g. `btcusdt_20240719.gz`) has no depth snapshot, so it
//! cannot be replayed on its own. When such a file is given alone and the previous day's file
//! of the symbol (`btcusdt_20240718.gz`) sits beside it, that file is loaded in front of it as
//! **warm-up**: its events build the books but are not replayed; the replay starts at the
//! first event of the requested file with one snapshot group per instrument (`BookClear`,
//! every level, `BookDone`) rebuilt from the warmed-up book. Nothing of the warm-up day is
//! traded (`warmup_events` in the report counts what it read).
//!
//! One **group** = the events of one tape event (a whole book frame `BookClear? Level*
//! BookDone`, a trades notification, a ticker); a group is delivered atomically, at
//! `ts_ns` (the tape's timestamp: the recorder's receive time, the simulator's clock) on the
//! exchange side, and at `ts_ns + feed latency` on the engine side.

use crate::cli::Args;
use mm_core::event::MdEvent;
use mm_core::instrument::InstrumentTable;
use mm_venues::deribit::encode::Encoder;
use mm_venues::deribit::feed::channels_for;
use mm_venues::deribit::md::{Frame, MdDecoder};
use mm_venues::sim::exchange::Exchange;
use mm_venues::sim::{instruments, tape, SimConfig};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// A preloaded tape.
#[derive(Clone, Debug)]
pub struct Feed {
    /// The instruments quoted (the engine's ids; the events refer to them).
    pub table: Arc<InstrumentTable>,
    /// Every market-data event, in tape order.
    pub events: Vec<MdEvent>,
    /// Tape time (ns since the epoch) of each group.
    pub group_t: Vec<u64>,
    /// Exclusive end index in `events` of each group.
    pub group_end: Vec<u32>,
    /// Tape events read.
    pub tape_events: usize,
    /// Book gaps the decoder reported (a recorded tape has none).
    pub gaps: u64,
    /// Instrument → where a re-hosted instrument came from.
    pub rehosted: BTreeMap<String, String>,
    /// Wall seconds the load took (read, render, decode).
    pub load_s: f64,
    /// The tape files, comma-joined.
    pub tape_label: String,
    /// Tape events of an automatically loaded previous-day file, used only to build the
    /// books (see the module docs); 0 when none.
    pub warmup_events: usize,
}

/// The previous day's file of a Binance collector file `<symbol>_<YYYYMMDD>.gz` in the same
/// directory, if it exists.
fn previous_day(path: &std::path::Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let (stem, ext) = name.split_once('.')?;
    let (sym, day) = stem.rsplit_once('_')?;
    if day.len() != 8 || !day.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (y, m, d) = (
        day[..4].parse::<i64>().ok()?,
        day[4..6].parse::<i64>().ok()?,
        day[6..].parse::<i64>().ok()?,
    );
    let days = mm_venues::sim::tape::tardis::days_from_civil(y, m, d) - 1;
    // civil_from_days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let dd = doy - (153 * mp + 2) / 5 + 1;
    let mm = if mp < 10 { mp + 3 } else { mp - 9 };
    let yy = yoe + era * 400 + i64::from(mm <= 2);
    let prev = path.with_file_name(format!("{sym}_{yy:04}{mm:02}{dd:02}.{ext}"));
    prev.exists().then_some(prev)
}

/// Tape time (ns) of the first line of a Binance collector file.
fn first_line_ns(path: &std::path::Path) -> Option<u64> {
    let text = tape::read_text(path).ok()?;
    let ts: u64 = text
        .lines()
        .next()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(match ts {
        t if t >= 100_000_000_000_000_000 => t,
        t if t >= 100_000_000_000_000 => t * 1_000,
        t => t * 1_000_000,
    })
}

impl Feed {
    /// Number of groups.
    pub fn groups(&self) -> usize {
        self.group_t.len()
    }

    /// The events of group `g`.
    #[inline]
    pub fn group(&self, g: usize) -> &[MdEvent] {
        let start = if g == 0 {
            0
        } else {
            self.group_end[g - 1] as usize
        };
        &self.events[start..self.group_end[g] as usize]
    }

    /// Loads `args.tape` and decodes it for the instruments `args` selects (as `mm-fast
    /// --venue sim` would: `--instruments`, else every instrument on the tape).
    ///
    /// # Errors
    /// No tape, an unreadable or malformed tape, no instrument selected, a frame the decoder
    /// refuses.
    pub fn load(args: &Args) -> Result<Feed, String> {
        let t0 = Instant::now();
        let paths: Vec<PathBuf> = args.tape.clone();
        if paths.is_empty() {
            return Err("backtest needs --tape PATH (a recorded tape)".into());
        }
        if let Some(t) = paths.iter().find(|t| !t.exists()) {
            return Err(format!("tape {} does not exist", t.display()));
        }
        let (tape, trade_from) = match tape::load_many(&paths) {
            Ok(t) => (t, 0),
            Err(e) => {
                let warm = (paths.len() == 1)
                    .then(|| previous_day(&paths[0]).zip(first_line_ns(&paths[0])))
                    .flatten();
                let Some((prev, from)) = warm else {
                    return Err(format!("tape: {e}"));
                };
                let t = tape::load_many(&[prev.clone(), paths[0].clone()]).map_err(|e2| {
                    format!("tape: {e} (and with {} as warm-up: {e2})", prev.display())
                })?;
                (t, from)
            }
        };
        if tape.events.is_empty() {
            return Err("the tape holds no market data".into());
        }
        let insts = instruments::build(&tape, None).map_err(|e| format!("instruments: {e}"))?;
        let venue_table = insts.table.clone();
        let mut ex = Exchange::new(insts, &tape, &SimConfig::new(paths[0].clone()));
        let names: HashSet<String> = venue_table.iter().map(|i| i.name.clone()).collect();
        let all = venue_table.iter().cloned().collect();
        let table = Arc::new(crate::run::select_instruments(args, all, Some(&names))?);
        let mut rehosted = BTreeMap::new();
        for i in table.iter() {
            if let Some(src) = &i.rehosted_from {
                rehosted.insert(i.name.clone(), src.clone());
            }
        }

        // One market-data session, authenticated and subscribed to the quoted instruments.
        const MD: u64 = 1;
        ex.on_connect(MD);
        let mut enc = Encoder::new();
        let channels: Vec<String> = table.iter().flat_map(|i| channels_for(&i.name)).collect();
        let refs: Vec<&str> = channels.iter().map(String::as_str).collect();
        let auth = enc
            .auth_client_credentials(2, "mm-fast-backtest", "sim")
            .to_string();
        let sub = enc.subscribe(1, &refs, false).to_string();
        for req in [auth, sub] {
            for o in ex.on_text(MD, &req, 0) {
                if o.text.contains("\"error\"") {
                    return Err(format!("simulator refused the subscription: {}", o.text));
                }
            }
        }
        let mut md = MdDecoder::new(table.clone());
        let mut events: Vec<MdEvent> = Vec::with_capacity(tape.events.len() * 8);
        let mut group_t = Vec::with_capacity(tape.events.len() * 2);
        let mut group_end = Vec::with_capacity(tape.events.len() * 2);
        let mut gaps = 0;
        let mut t = tape.start_ns();
        let mut warm: Option<Vec<mm_core::book::Book>> = (trade_from > 0).then(|| {
            table
                .iter()
                .map(|_| mm_core::book::Book::new(1 << 20, 1 << 14))
                .collect()
        });
        let mut warm_last: Vec<MdEvent> = vec![MdEvent::default(); table.len()];
        let mut warmup_events = 0;
        for ev in &tape.events {
            t = t.max(ev.ts_ns);
            if let Some(books) = &mut warm {
                if t < trade_from {
                    warmup_events += 1;
                    let mut scratch = Vec::new();
                    for o in ex.on_tape_event(ev) {
                        if o.conn == MD {
                            md.decode(o.text.as_bytes(), t, &mut |e| scratch.push(e))
                                .map_err(|e| format!("undecodable warm-up data ({e:?})"))?;
                        }
                    }
                    for e in scratch {
                        let b = &mut books[e.instrument as usize];
                        match e.kind {
                            mm_core::event::MdKind::BookClear => b.clear(),
                            mm_core::event::MdKind::Level => b.set(e.side, e.price, e.qty),
                            mm_core::event::MdKind::BookDone => {
                                b.finish_frame();
                                warm_last[e.instrument as usize] = e;
                            }
                            _ => {}
                        }
                    }
                    continue;
                }
                // The replay starts: one snapshot group per instrument from the warm book.
                for (k, b) in books.iter().enumerate() {
                    let last = warm_last[k];
                    let base = MdEvent {
                        t_recv: t,
                        exch_ts: last.exch_ts,
                        seq: last.seq,
                        instrument: k as u32,
                        ..Default::default()
                    };
                    events.push(MdEvent {
                        kind: mm_core::event::MdKind::BookClear,
                        ..base
                    });
                    for side in [mm_core::types::Side::Bid, mm_core::types::Side::Ask] {
                        b.for_each_level(side, usize::MAX, |p, q| {
                            events.push(MdEvent {
                                kind: mm_core::event::MdKind::Level,
                                side,
                                price: p,
                                qty: q,
                                ..base
                            })
                        });
                    }
                    events.push(MdEvent {
                        kind: mm_core::event::MdKind::BookDone,
                        ..base
                    });
                    group_t.push(t);
                    group_end.push(u32::try_from(events.len()).map_err(|_| "tape too long")?);
                }
                warm = None;
            }
            for o in ex.on_tape_event(ev) {
                if o.conn != MD {
                    continue;
                }
                let before = events.len();
                match md.decode(o.text.as_bytes(), t, &mut |e| events.push(e)) {
                    Ok(Frame::Gap { .. }) => gaps += 1,
                    Ok(_) => {}
                    Err(e) => {
                        return Err(format!(
                            "undecodable market data ({e:?}) at tape time {t}: {}",
                            &o.text[..o.text.len().min(200)]
                        ))
                    }
                }
                if events.len() > before {
                    group_t.push(t);
                    group_end.push(u32::try_from(events.len()).map_err(|_| "tape too long")?);
                }
            }
        }
        Ok(Feed {
            table,
            events,
            group_t,
            group_end,
            tape_events: tape.events.len() - warmup_events,
            warmup_events,
            gaps,
            rehosted,
            load_s: t0.elapsed().as_secs_f64(),
            tape_label: paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(","),
        })
    }
}
