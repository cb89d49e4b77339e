//! Lockstep replay: the production engine, market-data decoder and order session against the
//! simulator's exchange, in one thread, one tape event at a time — deterministic.
//!
//! Per tape event: the exchange applies it ([`Exchange::on_tape_event`]: book, matching of
//! our resting orders) and its frames go through the Deribit decoder ([`MdDecoder`]) into
//! [`Engine::on_md`], or through the [`OrderSession`] into [`Engine::on_exec`]; every intent
//! the engine writes is encoded by the same [`OrderSession`] and handed to the exchange
//! ([`Exchange::on_text`]), whose replies and notifications go back the same way, until
//! nothing is left to say; then [`Engine::on_idle`] runs at the event's tape time, and so on.
//! Every request is therefore answered before the next tape event: no decision is ever
//! overtaken by the market, and a run gives the same ledger every time, whatever the
//! machine's load. What runs is exactly what the threaded run executes (decoder, engine,
//! request encoding, reply translation, simulator), minus the sockets, threads and rings.
//!
//! The engine's time is the tape's: `t_pop` and `on_idle`'s `now` are the event's tape
//! timestamp (ns), so the refresh interval and the stale-feed check follow tape time.

use mm_core::engine::{Engine, IntentSink};
use mm_core::event::{ExecEvent, MdEvent, OrderIntent, Telemetry};
use mm_core::instrument::InstrumentTable;
use mm_tools::cli::Args;
use mm_venues::deribit::encode::Encoder;
use mm_venues::deribit::feed::channels_for;
use mm_venues::deribit::gateway::OrderSession;
use mm_venues::deribit::md::{Frame, MdDecoder};
use mm_venues::sim::exchange::{ConnId, Exchange, Out};
use mm_venues::sim::{instruments, tape, LedgerSnapshot, SimConfig};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

const MD: ConnId = 1;
const ORDERS: ConnId = 2;

/// What a lockstep run leaves.
pub struct Lockstep {
    /// The engine at the end (after the closing cancel-all was answered).
    pub engine: Engine,
    /// The simulator's ledger at the end.
    pub ledger: LedgerSnapshot,
    /// The instruments quoted (the engine's ids).
    pub table: Arc<InstrumentTable>,
    /// Every telemetry record the engine wrote.
    pub telemetry: Vec<Telemetry>,
    /// Tape events replayed.
    pub events: usize,
    /// The model driver (calibrator) when one ran (`--model as|glft`, vol-adaptive spread).
    pub model: Option<mm_core::model::ModelDriver>,
}

/// Engine clock (stamps only; decisions run on tape time).
fn clock() -> u64 {
    0
}

/// An intent buffer that never refuses (the exchange answers at once).
struct Intents(Vec<OrderIntent>);

impl IntentSink for Intents {
    fn free(&self) -> usize {
        1 << 20
    }
    fn push(&mut self, intent: OrderIntent) {
        self.0.push(intent);
    }
}

/// Replays the tape of `args` (`--tape`, one or more files) in lockstep with the engine the
/// other flags configure (the same [`mm_tools::run::engine_config`] as `mm-fast`), then halts
/// it and waits for the closing cancel-all.
///
/// # Panics
/// On a tape, instrument or settings error, an undecodable frame or a book gap (a recorded
/// tape replayed in lockstep has none).
pub fn replay(args: &Args) -> Lockstep {
    let paths: Vec<PathBuf> = args.tape.clone();
    let tape = tape::load_many(&paths).expect("tape loads");
    let insts = instruments::build(&tape, None).expect("instruments");
    let venue_table = insts.table.clone();
    let mut ex = Exchange::new(insts, &tape, &SimConfig::new(paths[0].clone()));
    let names: HashSet<String> = venue_table.iter().map(|i| i.name.clone()).collect();
    let all = venue_table.iter().cloned().collect();
    let table = Arc::new(
        mm_tools::run::select_instruments(args, all, Some(&names)).expect("instruments selected"),
    );
    let cfg = mm_tools::run::engine_config(args, &table).expect("settings accepted");
    // `--model as|glft` or the vol-adaptive spread: the calibrator runs between events.
    let model = mm_core::model::ModelDriver::new(&table, &cfg.model);
    let mut engine = Engine::new(&table, cfg, clock);
    let md = MdDecoder::new(table.clone());
    let session = OrderSession::new(table.clone());
    let mut tel: Vec<Telemetry> = Vec::with_capacity(1 << 16);
    let intents = Intents(Vec::with_capacity(256));

    // Sessions, both authenticated: market data subscribed to every quoted instrument, the
    // order connection to its private channels.
    ex.on_connect(MD);
    ex.on_connect(ORDERS);
    let mut enc = Encoder::new();
    let channels: Vec<String> = table.iter().flat_map(|i| channels_for(&i.name)).collect();
    let refs: Vec<&str> = channels.iter().map(String::as_str).collect();
    let t0 = tape.start_ns();
    let auth = enc
        .auth_client_credentials(
            2,
            mm_venues::sim::SIM_CLIENT_ID,
            mm_venues::sim::SIM_CLIENT_SECRET,
        )
        .to_string();
    for (conn, req) in [
        // `raw` market-data channels need an authenticated connection, as on Deribit.
        (MD, auth.clone()),
        (MD, enc.subscribe(1, &refs, false).to_string()),
        (ORDERS, auth),
        (
            ORDERS,
            enc.subscribe(
                3,
                &["user.orders.any.any.raw", "user.trades.any.any.raw"],
                true,
            )
            .to_string(),
        ),
    ] {
        for o in ex.on_text(conn, &req, 0) {
            assert!(!o.text.contains("\"error\""), "setup refused: {}", o.text);
        }
    }

    let mut wire = Wire {
        md,
        session,
        intents,
        execs: Vec::with_capacity(256),
        mds: Vec::with_capacity(4096),
        model,
    };
    let mut t = t0;
    for ev in &tape.events {
        t = t.max(ev.ts_ns);
        let outs = ex.on_tape_event(ev);
        wire.settle(outs, t, &mut ex, &mut engine, &mut tel);
    }
    // The end of the run: halt, cancel everything, wait for the answers.
    let _ = engine.halt(t, &mut wire.intents, &mut tel);
    wire.settle(Vec::new(), t, &mut ex, &mut engine, &mut tel);
    assert!(
        engine.halt(t, &mut wire.intents, &mut tel),
        "every order answered"
    );
    Lockstep {
        engine,
        ledger: ex.snapshot(),
        table,
        telemetry: tel,
        events: tape.events.len(),
        model: wire.model,
    }
}

/// The engine's side of the two connections.
struct Wire {
    md: MdDecoder,
    session: OrderSession,
    intents: Intents,
    execs: Vec<ExecEvent>,
    mds: Vec<MdEvent>,
    model: Option<mm_core::model::ModelDriver>,
}

impl Wire {
    /// Delivers `outs` to the engine and answers its intents until nothing is left to say;
    /// `t` = the tape time (ns).
    fn settle(
        &mut self,
        outs: Vec<Out>,
        t: u64,
        ex: &mut Exchange,
        engine: &mut Engine,
        tel: &mut Vec<Telemetry>,
    ) {
        let mut pending = outs;
        for _ in 0..100_000 {
            for o in pending.drain(..) {
                if o.conn == MD {
                    self.mds.clear();
                    let mds = &mut self.mds;
                    match self.md.decode(o.text.as_bytes(), t, &mut |e| mds.push(e)) {
                        Ok(Frame::Gap { instrument }) => {
                            panic!("book gap on instrument {instrument}")
                        }
                        Ok(_) => {}
                        Err(e) => panic!("undecodable market data ({e:?}): {}", o.text),
                    }
                    for e in &self.mds {
                        engine.on_md(e, t, &mut self.intents, tel);
                    }
                    if let Some(m) = self.model.as_mut() {
                        m.step(engine, t, &mut self.intents, tel);
                    }
                } else {
                    self.execs.clear();
                    self.session.on_frame(o.text.as_bytes(), t, &mut self.execs);
                    for e in &self.execs {
                        engine.on_exec(e, t, &mut self.intents, tel);
                    }
                }
            }
            engine.on_idle(t, &mut self.intents, tel);
            if self.intents.0.is_empty() {
                return;
            }
            for it in std::mem::take(&mut self.intents.0) {
                match self.session.request(&it, t) {
                    Ok(frame) => {
                        let frame = frame.to_string();
                        pending.extend(ex.on_text(ORDERS, &frame, t / 1_000));
                    }
                    Err(ev) => engine.on_exec(&ev, t, &mut self.intents, tel),
                }
            }
        }
        panic!("engine and venue still talking after 100 000 rounds at tape time {t}");
    }
}
