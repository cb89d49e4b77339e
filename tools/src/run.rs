//! One run of the engine: connect, select instruments, start the md, hot and gateway threads,
//! supervise them from the control thread (this one), stop cleanly, report.
//!
//! Threads (design.md §1): md thread (own WebSocket, decode → md ring), hot thread (pinned with
//! `--cpu`, engine step functions), gateway thread (order WebSocket, intents → wire, replies →
//! exec ring), control thread (telemetry → histograms, stop conditions, report). With
//! `--venue sim` the simulator runs in-process on loopback and the engine connects to it over
//! real sockets, exactly as to the venue.
//!
//! End of a run (end of tape, `--duration`, Ctrl+C or SIGTERM): the hot thread halts quoting
//! and sends one cancel-all; the control thread waits (bounded, 5 s) until the venue has
//! acknowledged every cancel, then stops the threads and writes the report.

use crate::cli::{Args, CooldownArg, ModelArg, ReferenceArg, TopologyArg, VenueArg};
use crate::hot::{hot_loop, HotBells, HotControl, ModelRings};
use crate::inline::{inline_loop, InlineFlags, InlineIo};
use crate::report::{self, FillRec, Report, SimLedgerOut};
use crate::select::Selection;
use crate::workers::Workers;
use mm_core::decimal::Dec;
use mm_core::engine::{Engine, EngineConfig};
use mm_core::event::{ExecEvent, MdEvent, OrderIntent, Stage, TelKind, Telemetry};
use mm_core::instrument::InstrumentTable;
use mm_core::model::{
    CalibSample, Calibrator, CooldownAction, ModelCoeffs, ModelConfig, ModelKind,
};
use mm_core::quote::{QuoteParams, Reference, SpreadMode};
use mm_io::ring::{ring, Consumer};
use mm_io::{Idle, LatencyRecorder, WsClient, WsOptions};
use mm_venues::deribit::backoff::{BackoffPolicy, ReconnectOpts};
use mm_venues::deribit::feed::{self, Credentials, SessionOpts};
use mm_venues::deribit::{gateway, instruments};
use mm_venues::sim::{Sim, SimConfig, SimHandle};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Deribit production endpoint.
pub const DERIBIT_PROD: &str = "wss://www.deribit.com/ws/api/v2";
/// Deribit testnet endpoint.
pub const DERIBIT_TEST: &str = "wss://test.deribit.com/ws/api/v2";

/// The refusal of `--post-only false` (and of the USD maker JSON's `execution.post_only:
/// false`).
pub const POST_ONLY_REFUSED: &str = "--post-only false is not supported: mm-fast quotes \
     post-only always (a quote that would cross is rejected by the venue, never executed as \
     taker); remove the setting or set it to true";

/// Options of a run that tests set directly (not on the command line).
#[derive(Clone, Debug, Default)]
pub struct RunExtras {
    /// Simulator faults to inject (tests).
    pub faults: Vec<mm_venues::sim::Fault>,
    /// External stop flag (tests; Ctrl+C/SIGTERM are always honoured too).
    pub stop: Option<Arc<AtomicBool>>,
    /// Wire-to-wire probe for the embedded simulator (`--venue sim`; the latency harness).
    pub probe: Option<Arc<mm_venues::sim::probe::WireProbe>>,
    /// When set (by another thread), the control thread clears its latency histograms and
    /// clears the flag: the report's and `--hgrm`'s figures then cover only what came after
    /// (the latency harness's warm-up).
    pub reset_latency: Option<Arc<AtomicBool>>,
    /// Receives the address `--status-addr` was bound to (useful with port 0).
    pub status_bound: Option<Arc<std::sync::OnceLock<std::net::SocketAddr>>>,
    /// The embedded simulator serves `wss://` with this certificate and key (trust its CA
    /// with `--ca-file`).
    pub sim_tls: Option<mm_venues::sim::tls::TlsFiles>,
    /// Token lifetime of the embedded simulator, seconds (default: Deribit's 365 days).
    pub sim_token_lifetime_s: Option<f64>,
}

/// What a run produced: the report, plus the raw material tests inspect.
pub struct RunOutput {
    /// The report (also written to `--report-json`).
    pub report: Report,
    /// The simulator's full ledger (sim only).
    pub sim_ledger: Option<mm_venues::sim::LedgerSnapshot>,
    /// The fills the engine booked.
    pub fills: Vec<FillRec>,
    /// The instruments quoted.
    pub table: Arc<InstrumentTable>,
    /// Model coefficient sets the engine applied (`--model as|glft`, vol-adaptive spread).
    pub model_updates: u64,
    /// The calibration thread's closing summary (samples, pushes, last σ, A, κ per
    /// instrument), when one ran.
    pub calib_summary: Option<String>,
}

/// Runs the engine as the command line says.
///
/// # Errors
/// Startup failures (bad flags, a CPU that does not exist, connection/authentication/instrument
/// errors, no instrument selected) as a message naming the cause.
pub fn run(args: &Args, extras: RunExtras) -> Result<RunOutput, String> {
    let t0 = Instant::now();
    mm_io::clock::calibrate();
    let clock: fn() -> u64 = mm_io::clock::now;
    let idle: Idle = args.idle.parse().map_err(|e| format!("--idle: {e}"))?;
    if let Some(cpu) = args.cpu {
        mm_io::thread::check_cpu(cpu).map_err(|e| format!("--cpu {cpu}: {e}"))?;
    }
    // Ctrl+C / SIGTERM from here on end the run cleanly (checked by the control loop; a
    // signal during start-up stops the run as soon as it is running).
    let signal = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, signal.clone());
    }
    // Kill switch and status endpoint (refuses to start while the kill file exists).
    let mut ops = crate::status::Ops::prepare(args, t0, extras.status_bound.as_ref())?;

    if args.journal.is_some() && args.venue == VenueArg::Sim {
        return Err(JOURNAL_NEEDS_VENUE.into());
    }
    // Venue.
    let mut sim: Option<SimHandle> = None;
    let endpoint = match args.venue {
        VenueArg::Sim => {
            let (tape, more_tapes) = args
                .tape
                .split_first()
                .map(|(t, m)| (t.clone(), m.to_vec()))
                .ok_or("--venue sim needs --tape PATH (a recorded tape)")?;
            if let Some(t) = args.tape.iter().find(|t| !t.exists()) {
                return Err(format!("tape {} does not exist", t.display()));
            }
            let speed = args.speed.parse().map_err(|e| format!("--speed: {e}"))?;
            let mut faults = extras.faults.clone();
            faults.extend(args.sim_fault.iter().cloned());
            let cfg = SimConfig {
                more_tapes,
                speed,
                faults,
                probe: extras.probe.clone(),
                // Strict: only the configured test key logs in.
                open_accounts: false,
                min_heartbeat_s: 1.0,
                token_lifetime_s: extras
                    .sim_token_lifetime_s
                    .unwrap_or(mm_venues::sim::DEFAULT_TOKEN_LIFETIME_S),
                tls: extras.sim_tls.clone(),
                rate_limits: Some(args.rate_limits()?),
                // `--idle wake`: the paced replay waits on a timerfd instead of spinning.
                timer_pacing: idle == Idle::Wake,
                ..SimConfig::new(tape)
            };
            let h = Sim::start(cfg).map_err(|e| format!("simulator: {e}"))?;
            let url = h.url();
            sim = Some(h);
            url
        }
        VenueArg::Deribit => args.endpoint.clone().unwrap_or_else(|| {
            if args.test {
                DERIBIT_TEST.into()
            } else {
                DERIBIT_PROD.into()
            }
        }),
    };
    if !args.sim_fault.is_empty() && args.venue != VenueArg::Sim {
        return Err("--sim-fault needs --venue sim".into());
    }
    let session = SessionOpts {
        creds: credentials(args)?,
        heartbeat_s: args.heartbeat_secs,
    };
    let mut opts = WsOptions::default();
    if let Some(p) = &args.ca_file {
        opts.extra_root_pem =
            Some(std::fs::read(p).map_err(|e| format!("--ca-file {}: {e}", p.display()))?);
    }
    let reconnect = reconnect_opts(args, &endpoint, &opts)?;

    // Order session + instruments.
    let mut order_ws =
        WsClient::connect(&endpoint, &opts).map_err(|e| format!("connect {endpoint}: {e}"))?;
    let currencies = currencies_for(args);
    let cur_refs: Vec<&str> = currencies.iter().map(|s| s.as_str()).collect();
    let (raws, order_auth) = gateway::open_session(&mut order_ws, &session, &cur_refs, clock)?;
    // The client's credit budget: the account's own limits when Deribit gives them.
    let rate = match (args.client_rate_limits()?, args.venue, cur_refs.first()) {
        (Some(l), VenueArg::Deribit, Some(c)) if !args.dry_run => {
            Some(gateway::account_rate_limits(&mut order_ws, l, c))
        }
        (l, _, _) => l,
    };
    let mut all = Vec::new();
    for r in &raws {
        all.extend(
            instruments::parse_instruments(r).map_err(|e| format!("get_instruments reply: {e}"))?,
        );
    }
    let tape_names: Option<HashSet<String>> = sim
        .as_ref()
        .map(|s| s.instruments().iter().map(|i| i.name.clone()).collect());
    let table = select_instruments(args, all, tape_names.as_ref())?;
    let table = Arc::new(table);

    // Mass quotes / MMP (README "Mass quotes and MMP"): MMP configured before any quote.
    let quoting = crate::quoting::quoting_opts(args)?;
    if let (Some(m), false) = (&quoting.mmp, args.dry_run) {
        mm_venues::deribit::mmp::configure(&mut order_ws, m, &table)?;
    }

    // Engine settings.
    let cfg = engine_config(args, &table)?;
    let limits = crate::breaches::Limits::from_config(&cfg);
    log::info!("quoting {} instruments on {endpoint}", table.len());
    let model_cfg = cfg.model.clone();
    let mut engine = Engine::new(&table, cfg, clock);
    // Fill journal: restore the previous runs' fills and reconcile with the venue before any
    // thread starts (README "Fill journal and restarts").
    let mut restored = match &args.journal {
        Some(p) => Some(crate::journal::restore(
            p,
            args.journal_fsync,
            args.dry_run,
            &mut order_ws,
            &endpoint,
            &session.creds.client_id,
            &table,
            &mut engine,
            clock,
        )?),
        None => None,
    };
    let gw_journal = restored.as_mut().and_then(|r| r.journal.take());

    // Rings.
    let (mut md_tx, mut md_rx) = ring::<MdEvent>(1 << 16);
    let (mut intent_tx, mut intent_rx) = ring::<OrderIntent>(1 << 12);
    let (mut exec_tx, mut exec_rx) = ring::<ExecEvent>(1 << 14);
    let (mut tel_hot_tx, mut tel_hot_rx) = ring::<Telemetry>(1 << 16);
    let (mut tel_md_tx, mut tel_md_rx) = ring::<Telemetry>(1 << 16);
    let (mut tel_gw_tx, mut tel_gw_rx) = ring::<Telemetry>(1 << 16);

    // Doorbells (`--idle wake`: a sleeping consumer is woken after a push; disabled, one
    // bool load per push, with the other policies).
    let hot_bell = mm_io::Doorbell::for_policy(idle);
    let gw_bell = mm_io::Doorbell::for_policy(idle);
    let stop_md = Arc::new(AtomicBool::new(false));
    let stop_gw = Arc::new(AtomicBool::new(false));
    let ctl = Arc::new(HotControl::new(table.len()));

    // calibration thread (strategies.md §4): only when a model or the vol-adaptive spread
    // needs it; samples in, coefficients out, both through SPSC rings.
    let stop_calib = Arc::new(AtomicBool::new(false));
    let (model_rings, calib_handle) = if model_cfg.needs_calibration() {
        let (samples, mut srx) = ring::<CalibSample>(1 << 16);
        let (mut ctx, coeffs) = ring::<ModelCoeffs>(1 << 10);
        let stop = stop_calib.clone();
        let table = table.clone();
        let h = std::thread::Builder::new()
            .name("mm-calib".into())
            .spawn(move || calib_loop(&table, &model_cfg, &mut srx, &mut ctx, &stop))
            .map_err(|e| format!("spawn calibration thread: {e}"))?;
        (Some(ModelRings { samples, coeffs }), Some(h))
    } else {
        (None, None)
    };

    let md_ws = WsClient::connect(&endpoint, &opts)
        .map_err(|e| format!("connect {endpoint} (market data): {e}"))?;
    let mut workers = match args.topology {
        TopologyArg::Split => {
            // md thread.
            let md_handle = {
                let table = table.clone();
                let stop = stop_md.clone();
                let session = session.clone();
                let rc = reconnect.clone();
                let hot_bell = hot_bell.clone();
                std::thread::Builder::new()
                    .name("mm-md".into())
                    .spawn(move || {
                        feed::run_feed(
                            md_ws,
                            &rc,
                            table,
                            &session,
                            &mut md_tx,
                            &mut tel_md_tx,
                            &stop,
                            idle,
                            &hot_bell,
                            clock,
                        )
                    })
                    .map_err(|e| format!("spawn md thread: {e}"))?
            };
            // gateway thread.
            let gw_handle = {
                let table = table.clone();
                let stop = stop_gw.clone();
                let dry = args.dry_run;
                let rc = reconnect.clone();
                let session = session.clone();
                let (hot_bell, gw_bell) = (hot_bell.clone(), gw_bell.clone());
                std::thread::Builder::new()
                    .name("mm-gateway".into())
                    .spawn(move || {
                        gateway::run_gateway(
                            order_ws,
                            &rc,
                            &session,
                            table,
                            Some(order_auth),
                            gw_journal,
                            &mut intent_rx,
                            &mut exec_tx,
                            &mut tel_gw_tx,
                            &stop,
                            idle,
                            gateway::GatewayBells {
                                intents: &gw_bell,
                                exec: &hot_bell,
                            },
                            dry,
                            rate,
                            &quoting,
                            clock,
                        )
                    })
                    .map_err(|e| format!("spawn gateway thread: {e}"))?
            };
            // hot thread.
            let hot_handle = {
                let ctl = ctl.clone();
                let (hot_bell, gw_bell) = (hot_bell.clone(), gw_bell.clone());
                mm_io::spawn_pinned("mm-hot", args.cpu, move || {
                    hot_loop(
                        engine,
                        &mut md_rx,
                        &mut exec_rx,
                        &mut intent_tx,
                        &mut tel_hot_tx,
                        &ctl,
                        idle,
                        HotBells {
                            hot: &hot_bell,
                            gateway: &gw_bell,
                        },
                        clock,
                        model_rings,
                    )
                })
                .map_err(|e| format!("spawn hot thread: {e}"))?
            };
            Workers::Split {
                md: Some(md_handle),
                md_out: None,
                gw: Some(gw_handle),
                gw_out: None,
                hot: hot_handle,
            }
        }
        TopologyArg::Inline => {
            // One engine thread reads, decides and writes (crate::inline).
            drop((md_tx, md_rx, exec_tx, exec_rx));
            let md_ended = Arc::new(AtomicBool::new(false));
            let gw_ended = Arc::new(AtomicBool::new(false));
            let handle = {
                let (ctl, stop_md, stop_gw) = (ctl.clone(), stop_md.clone(), stop_gw.clone());
                let (md_ended, gw_ended) = (md_ended.clone(), gw_ended.clone());
                let table = table.clone();
                let session = session.clone();
                let rc = reconnect.clone();
                let dry = args.dry_run;
                mm_io::spawn_pinned("mm-engine", args.cpu, move || {
                    let md = feed::FeedLink::open(md_ws, &rc, table.clone(), &session, clock);
                    let gw = gateway::GatewayLink::new(
                        order_ws,
                        &rc,
                        &session,
                        table,
                        Some(order_auth),
                        gw_journal,
                        dry,
                        rate,
                        &quoting,
                        clock,
                    );
                    inline_loop(
                        engine,
                        InlineIo {
                            md,
                            gw,
                            intents: (&mut intent_tx, &mut intent_rx),
                            tel: [&mut tel_hot_tx, &mut tel_md_tx, &mut tel_gw_tx],
                            model: model_rings,
                        },
                        InlineFlags {
                            ctl: &ctl,
                            stop_md: &stop_md,
                            stop_gw: &stop_gw,
                            md_ended: &md_ended,
                            gw_ended: &gw_ended,
                        },
                        idle,
                        clock,
                    )
                })
                .map_err(|e| format!("spawn engine thread: {e}"))?
            };
            Workers::Inline {
                engine: handle,
                md_ended,
                gw_ended,
            }
        }
    };

    ops.start(table.clone(), ctl.clone(), &endpoint);

    // Control loop.
    let mut tel = TelState::new(&table, args.log_quotes);
    if let Some(r) = &restored {
        tel.fills.extend_from_slice(&r.fills);
    }
    let deadline = args.duration.map(|d| t0 + Duration::from_secs_f64(d));
    let mut tape_done_at: Option<Instant> = None;
    let mut stats = StatsLine::new(args.stats_interval, t0);
    let reason;
    loop {
        let n = tel.drain(&mut [&mut tel_hot_rx, &mut tel_md_rx, &mut tel_gw_rx]);
        if let Some(r) = &extras.reset_latency {
            if r.swap(false, Ordering::AcqRel) {
                tel.rec.reset();
            }
        }
        let printed = stats.tick(&mut tel, &ctl);
        ops.tick(
            &crate::status::TelView {
                rec: &tel.rec,
                fills: &tel.fills,
                marks: &tel.marks,
                index_usd: &tel.index_by_currency,
                last_cancel_written: tel.last_cancel_written,
            },
            printed,
        );
        if signal.load(Ordering::Relaxed)
            || extras
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
        {
            reason = "signal";
            break;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            reason = "duration";
            break;
        }
        if tel.journal_failed {
            reason = STOP_JOURNAL_FAILED;
            break;
        }
        if workers.md_finished() || workers.gw_finished() || workers.hot_finished() {
            reason = if workers.gw_finished() {
                STOP_ORDER_CONN_LOST
            } else if workers.md_finished() {
                STOP_MD_CONN_LOST
            } else {
                "the hot thread ended"
            };
            break;
        }
        if let Some(s) = &sim {
            if tape_done_at.is_none() && s.tape_finished() {
                tape_done_at = Some(Instant::now());
            }
            // Let the last frames reach the engine and its last decisions reach the venue.
            if tape_done_at.is_some_and(|t| t.elapsed() > Duration::from_millis(300)) {
                reason = "end of tape";
                break;
            }
        }
        if n == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    log::info!("stopping: {reason}");

    // Cancel everything, wait for the acknowledgements (bounded).
    ctl.halt.store(true, Ordering::Release);
    hot_bell.wake_now();
    let wait_until = Instant::now() + Duration::from_secs(5);
    while !ctl.flat.load(Ordering::Acquire)
        && Instant::now() < wait_until
        && !workers.gw_finished()
        && !workers.hot_finished()
    {
        tel.drain(&mut [&mut tel_hot_rx, &mut tel_md_rx, &mut tel_gw_rx]);
        std::thread::sleep(Duration::from_millis(1));
    }
    if !ctl.flat.load(Ordering::Acquire) {
        log::warn!("not every cancel was acknowledged within 5 s");
    }
    stop_md.store(true, Ordering::Release);
    workers.end_md()?;
    // Let the gateway deliver what is in flight, then stop it and the hot thread.
    let settle = Instant::now() + Duration::from_millis(100);
    while Instant::now() < settle {
        tel.drain(&mut [&mut tel_hot_rx, &mut tel_md_rx, &mut tel_gw_rx]);
        std::thread::sleep(Duration::from_millis(1));
    }
    stop_gw.store(true, Ordering::Release);
    gw_bell.wake_now();
    workers.end_gateway()?;
    ctl.exit.store(true, Ordering::Release);
    hot_bell.wake_now();
    let (md_stats, gw_stats, (engine, tel_dropped, calib_dropped)) = workers.join()?;
    let md_stats = md_stats.unwrap_or_else(|e| {
        log::error!("md: {e}");
        Default::default()
    });
    stop_calib.store(true, Ordering::Release);
    let mut calib_summary = None;
    if let Some(h) = calib_handle {
        let summary = h.join().map_err(|_| "calibration thread panicked")?;
        log::info!("calibration: {summary}");
        calib_summary = Some(summary);
    }
    if calib_dropped > 0 {
        log::warn!("{calib_dropped} calibration samples dropped (ring full)");
    }
    tel.drain(&mut [&mut tel_hot_rx, &mut tel_md_rx, &mut tel_gw_rx]);
    if tel_dropped > 0 {
        log::warn!("{tel_dropped} telemetry records dropped (ring full)");
    }
    let ledger = sim.map(|s| s.stop());

    // Report.
    let c = *engine.counters();
    let mut rep = Report {
        venue: match args.venue {
            VenueArg::Sim => "sim".into(),
            VenueArg::Deribit => "deribit".into(),
        },
        tape: (!args.tape.is_empty()).then(|| {
            let v: Vec<String> = args.tape.iter().map(|p| p.display().to_string()).collect();
            v.join(",")
        }),
        endpoint: endpoint.clone(),
        dry_run: args.dry_run,
        instruments: table.len(),
        md_events: c.md_events,
        md_frames: md_stats.frames,
        book_gaps: md_stats.gaps,
        decode_errors: md_stats.decode_errors + gw_stats.decode_errors,
        orders_sent: c.orders_sent,
        amends: c.amends,
        cancels: c.cancels + c.cancel_alls,
        rejects: c.rejects,
        reject_codes: gw_stats
            .error_codes
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        fills: c.fills,
        risk_event_count: c.risk_events,
        limit_violations: c.limit_violations,
        open_orders_at_exit: engine.open_orders(),
        stop_reason: reason.to_string(),
        gaps_detected: c.gaps,
        rate_limit_errors: gw_stats.error_codes.get(&10028).copied().unwrap_or(0),
        reconnects: md_stats.reconnects + gw_stats.reconnects,
        reconnects_md: md_stats.reconnects,
        reconnects_order: gw_stats.reconnects,
        orphans_cancelled: gw_stats.orphans_cancelled,
        missed_fills_recovered: gw_stats.missed_fills,
        rejected_while_down: gw_stats.rejected_while_down,
        position_mismatches: c.position_mismatches,
        rate_deferred: gw_stats.rate_deferred,
        rate_max_wait_ns: gw_stats.rate_max_wait_ns,
        rate_dropped: gw_stats.rate_dropped,
        rate_limits: match rate {
            Some(l) => l.to_string(),
            None => "off".into(),
        },
        unknown_errors: gw_stats.unknown_errors,
        reauths: gw_stats.reauths,
        token_refreshes: md_stats.refreshes + gw_stats.refreshes,
        test_requests_answered: md_stats.test_answers + gw_stats.test_answers,
        quote_mode: match args.quote_mode {
            crate::cli::QuoteModeArg::Orders => "orders".into(),
            crate::cli::QuoteModeArg::MassQuote => "mass-quote".into(),
        },
        mass_quotes_sent: gw_stats.mass_quotes_sent,
        quote_errors: gw_stats.quote_errors,
        mmp_triggers: gw_stats.mmp_triggers,
        mmp_resets: gw_stats.mmp_resets,
        quotes_while_mmp_frozen: c.quotes_while_mmp_frozen,
        ..Default::default()
    };
    if let Some(r) = &restored {
        rep.journal_fills_restored = Some(r.from_journal);
        rep.journal_fills_recovered = Some(r.recovered);
        rep.journal_fills_written = Some(gw_stats.journal_fills);
        rep.journal_mismatches = Some(r.mismatches);
        rep.journal_orphans_cancelled = Some(r.orphans_cancelled);
        rep.journal_write_errors = Some(gw_stats.journal_errors);
    }
    {
        use mm_core::options::greeks::{DELTA_SCALE, VEGA_SCALE};
        for g in engine.net_greeks() {
            let c = g.currency;
            rep.net_delta
                .insert(c.clone(), g.delta_e8 as f64 / DELTA_SCALE);
            rep.net_vega
                .insert(c.clone(), g.vega_e6 as f64 / VEGA_SCALE);
            rep.max_abs_net_delta
                .insert(c.clone(), g.max_abs_delta_e8 as f64 / DELTA_SCALE);
            rep.max_abs_net_vega
                .insert(c, g.max_abs_vega_e6 as f64 / VEGA_SCALE);
        }
    }
    let index_usd = report::close_positions(
        &mut rep,
        &table,
        &engine,
        &tel.marks,
        &tel.fills,
        &tel.index_by_currency,
    );
    rep.latency_ns = report::latency(&tel.rec);
    if let Some(dir) = &args.hgrm {
        write_hgrm(&tel.rec, dir)?;
    }
    if let Some(l) = &ledger {
        rep.sim_ledger = Some(SimLedgerOut {
            fills: l.fills.len(),
            positions: l.positions.clone(),
            open_orders: l.open_orders.len(),
        });
        rep.faults_injected = l.stats.faults_injected.clone();
        rep.sim_rate_limited = Some(l.stats.rate_limited);
        let ours = l
            .open_orders
            .iter()
            .filter(|o| mm_venues::deribit::private::parse_label(&o.label).is_some())
            .count();
        rep.orphan_orders = Some(ours.saturating_sub(engine.open_orders()));
        let sim_untrusted = crate::report::quotes_while_untrusted(l);
        if sim_untrusted > 0 {
            log::error!(
                "quotes_while_untrusted: the simulator received {sim_untrusted} new/amend \
                 requests for a gapped book"
            );
        }
        rep.quotes_while_untrusted = Some(sim_untrusted + c.quotes_while_untrusted);
        let mism = compare_ledger(&table, &engine, &tel.fills, l);
        rep.ledger_match = Some(mism.is_empty());
        rep.ledger_mismatches = mism;
        let (n, details) = crate::breaches::count(&table, l, &limits, &index_usd);
        rep.limit_breaches = Some(n);
        rep.limit_breach_details = details;
    }
    if c.quotes_while_untrusted > 0 {
        log::error!(
            "quotes_while_untrusted: the engine emitted {} new/amend intents while a book was \
             untrusted or the order connection down",
            c.quotes_while_untrusted
        );
    }
    if rep.quotes_while_untrusted.is_none() {
        rep.quotes_while_untrusted = Some(c.quotes_while_untrusted);
    }
    rep.risk_events = tel.metrics.risk_events.clone();
    rep.metrics = tel.metrics.finish(c.orders_sent, &rep.pnl);
    rep.name = args.name.clone();
    rep.kill = ops.finish(tel.last_cancel_written);
    rep.elapsed_s = t0.elapsed().as_secs_f64();
    if let Some(p) = &args.report_json {
        let text = serde_json::to_string_pretty(&rep).map_err(|e| e.to_string())?;
        std::fs::write(p, text).map_err(|e| format!("write {}: {e}", p.display()))?;
    }
    Ok(RunOutput {
        report: rep,
        sim_ledger: ledger,
        fills: tel.fills,
        table,
        model_updates: c.model_updates,
        calib_summary,
    })
}

/// Takes one `k` off a multiset; false if none is left.
fn take_one<K: Ord>(m: &mut BTreeMap<K, usize>, k: &K) -> bool {
    match m.get_mut(k) {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    }
}

/// Compares the engine's fills and positions with the simulator's ledger; returns the
/// differences (empty = match).
pub fn compare_ledger(
    table: &InstrumentTable,
    engine: &Engine,
    fills: &[FillRec],
    l: &mm_venues::sim::LedgerSnapshot,
) -> Vec<String> {
    let mut out = Vec::new();
    let ours: Vec<(String, String, i64, i64)> = fills
        .iter()
        .map(|f| {
            (
                table.get(f.instrument).name.clone(),
                format!("mmf-{}", f.client_id),
                f.price,
                f.lots * f.side.sign(),
            )
        })
        .collect();
    // The venue's fills: labelled ones by (instrument, label, price, lots); mass-quote fills
    // carry no label (dossier §5.6) and pair with any of ours by (instrument, price, lots).
    let mut labelled: BTreeMap<(String, String, i64, i64), usize> = BTreeMap::new();
    let mut quotes: BTreeMap<(String, i64, i64), usize> = BTreeMap::new();
    for f in l.fills.iter().filter(|f| table.id(&f.instrument).is_some()) {
        let lots = f.lots * f.side.sign();
        if f.label.is_empty() {
            *quotes
                .entry((f.instrument.clone(), f.price_ticks, lots))
                .or_default() += 1;
        } else {
            *labelled
                .entry((f.instrument.clone(), f.label.clone(), f.price_ticks, lots))
                .or_default() += 1;
        }
    }
    let theirs_n = labelled.values().sum::<usize>() + quotes.values().sum::<usize>();
    let mut unmatched = 0;
    for (inst, label, px, lots) in &ours {
        if !take_one(&mut labelled, &(inst.clone(), label.clone(), *px, *lots))
            && !take_one(&mut quotes, &(inst.clone(), *px, *lots))
        {
            unmatched += 1;
        }
    }
    if unmatched > 0 || ours.len() != theirs_n {
        out.push(format!(
            "fills differ: engine {} vs simulator {} ({unmatched} of the engine's unmatched)",
            ours.len(),
            theirs_n
        ));
    }
    for inst in table.iter() {
        let e = engine.position(inst.id);
        let s = l.position_lots.get(&inst.name).copied().unwrap_or(0);
        if e != s {
            out.push(format!(
                "{}: engine position {} lots, simulator {} lots",
                inst.name, e, s
            ));
        }
    }
    out
}

fn write_hgrm(rec: &LatencyRecorder, dir: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("--hgrm {}: {e}", dir.display()))?;
    for s in 0..mm_core::event::STAGES {
        let stage = report::stage_from(s);
        let p = dir.join(format!("{}.hgrm", mm_io::telemetry::stage_name(stage)));
        rec.write_hgrm(stage, &p)
            .map_err(|e| format!("write {}: {e}", p.display()))?;
    }
    Ok(())
}

/// The live stats line of `--stats-interval`: per-interval rates, counter deltas and
/// tick-to-quote / tick-to-wire percentiles of the interval only, printed to stderr.
struct StatsLine {
    every: Option<Duration>,
    next: Instant,
    last_at: Instant,
    last: [u64; 7],
    t0: Instant,
}

impl StatsLine {
    fn new(secs: f64, t0: Instant) -> Self {
        let every = (secs.is_finite() && secs > 0.0).then(|| Duration::from_secs_f64(secs));
        StatsLine {
            every,
            next: t0 + every.unwrap_or_default(),
            last_at: t0,
            last: [0; 7],
            t0,
        }
    }

    /// Prints the line when due; returns whether it did.
    fn tick(&mut self, tel: &mut TelState, ctl: &HotControl) -> bool {
        let Some(every) = self.every else {
            return false;
        };
        let now = Instant::now();
        if now < self.next {
            return false;
        }
        self.next = now + every;
        let c = ctl.counters.load();
        let d: Vec<u64> = c
            .iter()
            .zip(self.last)
            .map(|(a, b)| a - b.min(*a))
            .collect();
        let secs = now.duration_since(self.last_at).as_secs_f64().max(1e-9);
        let us = |ns: u64| ns as f64 / 1e3;
        let q = tel.window.percentiles(Stage::TickToQuote);
        let w = tel.window.percentiles(Stage::TickToWire);
        eprintln!(
            "[{:>8.1}s] md {:>8.0} ev/s | orders +{} amends +{} cancels +{} fills +{} rejects +{} gaps +{} | live {} | \
             tick_to_quote p50 {:.1}µs p99 {:.1}µs (n {}) | tick_to_wire p50 {:.1}µs p99 {:.1}µs (n {})",
            now.duration_since(self.t0).as_secs_f64(),
            d[0] as f64 / secs,
            d[1],
            d[2],
            d[3],
            d[4],
            d[5],
            d[6],
            ctl.live_orders.load(Ordering::Relaxed),
            us(q.p50),
            us(q.p99),
            q.count,
            us(w.p50),
            us(w.p99),
            w.count,
        );
        tel.window.reset();
        self.last = c;
        self.last_at = now;
        true
    }
}

/// What the control thread accumulates from the telemetry rings.
struct TelState {
    rec: LatencyRecorder,
    /// The current `--stats-interval` window (reset after each stats line).
    window: LatencyRecorder,
    fills: Vec<FillRec>,
    marks: Vec<Option<i64>>,
    index_by_currency: BTreeMap<String, f64>,
    currency: Vec<String>,
    /// Monotonic ns of the latest cancel written to the order socket (kill switch timing).
    last_cancel_written: u64,
    /// Risk-event list and per-run metrics (fills, marks, limits, risk events).
    metrics: crate::metrics::MetricsTel,
    /// A fill could not be written to the fill journal (`TelKind::JournalError`): stop.
    journal_failed: bool,
    /// `--log-quotes`: write each `Quote` record as a log line (target
    /// [`crate::quotelog::TARGET`]).
    log_quotes: bool,
    /// The run's instruments (names, ticks and lots of the quote log).
    table: InstrumentTable,
}

impl TelState {
    fn new(table: &InstrumentTable, log_quotes: bool) -> Self {
        TelState {
            log_quotes,
            table: table.clone(),
            rec: LatencyRecorder::new(),
            window: LatencyRecorder::new(),
            fills: Vec::new(),
            marks: vec![None; table.len()],
            index_by_currency: BTreeMap::new(),
            currency: table.iter().map(|i| i.base_currency.clone()).collect(),
            last_cancel_written: 0,
            journal_failed: false,
            metrics: crate::metrics::MetricsTel::new(table, mm_io::clock::now()),
        }
    }

    fn drain(&mut self, rings: &mut [&mut Consumer<Telemetry>]) -> usize {
        let mut n = 0;
        for r in rings.iter_mut() {
            while let Some(t) = r.pop() {
                n += 1;
                self.metrics.on_tel(&t);
                match t.kind {
                    TelKind::Latency => {
                        self.rec.record(t.stage, t.a.max(0) as u64);
                        self.window.record(t.stage, t.a.max(0) as u64);
                    }
                    TelKind::Fill => self.fills.push(FillRec {
                        instrument: t.instrument,
                        side: t.side,
                        price: t.a,
                        lots: t.b,
                        fee_nano: t.c,
                        client_id: t.d as u64,
                    }),
                    TelKind::Index => {
                        if let Some(m) = self.marks.get_mut(t.instrument as usize) {
                            *m = Some(t.a);
                            if t.b > 0 {
                                let c = self.currency[t.instrument as usize].clone();
                                self.index_by_currency.insert(c, t.b as f64 / 1e4);
                            }
                        }
                    }
                    TelKind::CancelWritten => {
                        self.last_cancel_written = self.last_cancel_written.max(t.t);
                    }
                    TelKind::Gap | TelKind::Risk | TelKind::Reject => {}
                    TelKind::Mark | TelKind::Limit | TelKind::Theo => {}
                    TelKind::JournalError => self.journal_failed = true,
                    TelKind::Quote => {
                        if self.log_quotes {
                            if let Some(line) = crate::quotelog::line(&self.table, &t) {
                                log::info!(target: crate::quotelog::TARGET, "{line}");
                            }
                        }
                    }
                }
            }
        }
        n
    }
}

/// `Report::stop_reason` when the order connection was lost (exit code 4 in `mm-fast`).
pub const STOP_ORDER_CONN_LOST: &str = "order connection lost";
/// The refusal of `--journal` with `--venue sim`.
pub const JOURNAL_NEEDS_VENUE: &str = "--journal needs a venue that outlives the run: the \
     embedded simulator (--venue sim) starts empty every run; run mm-sim and connect to it with \
     --venue deribit --endpoint ws://HOST:PORT/ws/api/v2";
/// `Report::stop_reason` when a fill could not be written to the fill journal (`--journal`).
pub const STOP_JOURNAL_FAILED: &str = "fill journal write failed";
/// `Report::stop_reason` when the market-data connection was lost (exit code 4 in `mm-fast`).
pub const STOP_MD_CONN_LOST: &str = "market-data connection lost";

/// The reconnect settings of both connection threads: `--reconnect-max-secs` and the default
/// backoff (100 ms base, ×2, 5 s cap, full jitter; [`BackoffPolicy`]).
///
/// # Errors
/// A negative or non-finite `--reconnect-max-secs`.
pub fn reconnect_opts(
    args: &Args,
    endpoint: &str,
    ws: &WsOptions,
) -> Result<ReconnectOpts, String> {
    let m = args.reconnect_max_secs;
    if !(m.is_finite() && (0.0..=1e6).contains(&m)) {
        return Err("--reconnect-max-secs must be a number of seconds in [0, 1000000]".into());
    }
    Ok(ReconnectOpts {
        endpoint: endpoint.to_string(),
        ws: ws.clone(),
        policy: BackoffPolicy {
            give_up_after: Duration::from_secs_f64(m),
            ..BackoffPolicy::default()
        },
    })
}

/// The API key: `--client-id`/`--client-secret`, else `DERIBIT_CLIENT_ID`/
/// `DERIBIT_CLIENT_SECRET`, else (sim only) the simulator's test key; and `--auth`.
fn credentials(args: &Args) -> Result<Credentials, String> {
    let method = args.auth.parse().map_err(|e| format!("--auth: {e}"))?;
    let id = args
        .client_id
        .clone()
        .or_else(|| std::env::var("DERIBIT_CLIENT_ID").ok());
    let secret = args
        .client_secret
        .clone()
        .or_else(|| std::env::var("DERIBIT_CLIENT_SECRET").ok());
    match (args.venue, id, secret) {
        (_, Some(client_id), Some(client_secret)) => Ok(Credentials {
            client_id,
            client_secret,
            method,
        }),
        (VenueArg::Sim, None, None) => Ok(Credentials {
            client_id: mm_venues::sim::SIM_CLIENT_ID.into(),
            client_secret: mm_venues::sim::SIM_CLIENT_SECRET.into(),
            method,
        }),
        _ => Err(
            "set --client-id and --client-secret, or DERIBIT_CLIENT_ID and \
             DERIBIT_CLIENT_SECRET (API key with trade:read_write scope)"
                .into(),
        ),
    }
}

/// The run's instrument selection from the venue's list `all`: `--instruments`, or
/// `--underlying/--expiry/--strikes|--all-strikes`, or (with a tape, `tape_names`) every
/// instrument on the tape.
///
/// # Errors
/// A named instrument the venue does not list, or nothing selected.
pub fn select_instruments(
    args: &Args,
    all: Vec<mm_core::instrument::Instrument>,
    tape_names: Option<&HashSet<String>>,
) -> Result<InstrumentTable, String> {
    let sel = Selection {
        names: args.instruments.clone(),
        underlying: args.underlying.clone(),
        expiry: args.expiry.clone(),
        strikes: args.strikes.clone(),
        all_strikes: args.all_strikes,
    };
    let mut table = InstrumentTable::new();
    let mut seen = HashSet::new();
    for i in all {
        let keep = if !sel.is_empty() {
            sel.matches(&i)
        } else if let Some(t) = tape_names {
            t.contains(&i.name)
        } else {
            false
        };
        if keep && seen.insert(i.name.clone()) {
            table.push(i).map_err(|e| e.to_string())?;
        }
    }
    if let Some(missing) = sel.names.iter().find(|n| !seen.contains(*n)) {
        return Err(format!("instrument {missing} is not listed by the venue"));
    }
    if table.is_empty() {
        return Err(if sel.is_empty() && tape_names.is_none() {
            "no instruments selected: use --instruments, or --underlying/--expiry with --strikes or --all-strikes".into()
        } else {
            "no instrument matches the selection".into()
        });
    }
    Ok(table)
}

/// The currencies whose instruments the venue is asked for (`public/get_instruments`).
pub fn currencies_for(args: &Args) -> Vec<String> {
    if let Some(u) = &args.underlying {
        return vec![u.to_uppercase()];
    }
    let mut c: Vec<String> = args
        .instruments
        .iter()
        .filter_map(|n| n.split(['-', '_']).next())
        .map(|s| s.to_uppercase())
        .collect();
    c.sort();
    c.dedup();
    if c.is_empty() {
        vec!["any".into()]
    } else {
        c
    }
}

/// Converts an amount in the instrument's unit to lots (at least one).
fn to_lots(amount: f64, lot: Dec) -> i64 {
    ((amount / lot.to_f64()).round() as i64).max(1)
}

/// The engine settings of the flags for the selected instruments (`check-config` validates
/// with it too).
///
/// # Errors
/// A flag value the engine cannot use, naming the flag.
pub fn engine_config(args: &Args, table: &InstrumentTable) -> Result<EngineConfig, String> {
    if !args.post_only {
        return Err(POST_ONLY_REFUSED.into());
    }
    crate::quoting::quoting_opts(args)?;
    let spread = if let Some(k) = args.improve_ticks {
        if k < 0 {
            return Err("--improve-ticks must be ≥ 0".into());
        }
        SpreadMode::Improve(k)
    } else if let Some(t) = args.spread_ticks {
        if t < 1 {
            return Err("--spread-ticks must be ≥ 1".into());
        }
        SpreadMode::Ticks(t)
    } else if let Some(a) = args.spread_abs {
        match Dec::from_f64(a, 12) {
            Some(d) if a > 0.0 => SpreadMode::Abs(d),
            _ => return Err("--spread-abs must be a positive price amount".into()),
        }
    } else {
        let bps = args.spread_bps.unwrap_or(20.0);
        if !(bps > 0.0 && bps < 20_000.0) {
            return Err("--spread-bps must be in (0, 20000)".into());
        }
        SpreadMode::Bps((bps * 100.0).round() as i64)
    };
    if args.min_spread_bps < 0.0 || args.requote_ticks < 1 {
        return Err("--min-spread-bps must be ≥ 0 and --requote-ticks ≥ 1".into());
    }
    let bps_e2 = |v: f64| (v * 100.0).round() as i64;
    let usd_e4 = |v: f64| (v * 1e4).round() as i64;
    let nonneg = |v: Option<f64>, flag: &str| -> Result<(), String> {
        match v {
            Some(x) if !(x >= 0.0 && x.is_finite()) => Err(format!("--{flag} must be ≥ 0")),
            _ => Ok(()),
        }
    };
    for (v, flag) in [
        (Some(args.min_edge_bps), "min-edge-bps"),
        (Some(args.level_spread_bps), "level-spread-bps"),
        (args.level_amount, "level-amount"),
        (args.size_skew_range, "size-skew-range"),
        (args.requote_bps, "requote-bps"),
        (args.requote_abs, "requote-abs"),
        (args.refresh_interval, "refresh-interval"),
        (args.threshold, "threshold"),
        (args.max_position_usd, "max-position-usd"),
        (args.hard_max_position, "hard-max-position"),
        (args.max_inventory_usd, "max-inventory-usd"),
        (args.stop_loss_pct, "stop-loss-pct"),
        (args.daily_loss_usd, "daily-loss-usd"),
        (Some(args.skew_factor.abs()), "skew-factor"),
    ] {
        nonneg(v, flag)?;
    }
    if !(1..=mm_core::quote::MAX_LEVELS).contains(&args.levels) {
        return Err(format!(
            "--levels must be in 1..={}",
            mm_core::quote::MAX_LEVELS
        ));
    }
    if !(0.0..=1.0).contains(&args.inventory_skew) {
        return Err("--inventory-skew must be in [0, 1]".into());
    }
    if let Some(s) = args.size_usd {
        if !(s > 0.0 && s.is_finite()) {
            return Err("--size-usd must be > 0".into());
        }
    }
    let quote = QuoteParams {
        spread,
        min_spread_bps_e2: bps_e2(args.min_spread_bps),
        skew_per_100_usd_bps_e2: bps_e2(args.skew_per_100_usd),
    };
    let mut cfg = EngineConfig::uniform(table, quote, 1, 5);
    let floor_lots = |x: f64, lot: Dec| ((x / lot.to_f64()).floor() as i64).max(0);
    let round_lots = |x: f64, lot: Dec| (x / lot.to_f64()).round() as i64;
    for inst in table.iter() {
        let i = inst.id as usize;
        let size = args.size.map_or(1, |s| to_lots(s, inst.lot));
        cfg.size[i] = size;
        cfg.max_position[i] = match args.max_position {
            Some(m) if m >= 0.0 => floor_lots(m, inst.lot),
            Some(_) => return Err("--max-position must be ≥ 0".into()),
            // With --size-usd the default cap is 5 × size in USD (below), not in lots.
            None if args.size_usd.is_some() => mm_core::risk::NO_LIMIT,
            None => 5 * size,
        };
        cfg.level_amount[i] = args.level_amount.map_or(0, |a| round_lots(a, inst.lot));
        cfg.target_position[i] = round_lots(args.target_position, inst.lot);
        cfg.size_skew_range[i] = args.size_skew_range.map_or(0, |a| round_lots(a, inst.lot));
        if let Some(t) = args.threshold {
            cfg.threshold[i] = floor_lots(t, inst.lot);
        }
        if let Some(h) = args.hard_max_position {
            cfg.hard_max_position[i] = floor_lots(h, inst.lot);
        }
    }
    if let Some(e) = args.max_exposure {
        if e < 0.0 {
            return Err("--max-exposure must be ≥ 0".into());
        }
        cfg.max_exposure_usd_e4 = usd_e4(e);
    }
    cfg.reference = match args.reference {
        ReferenceArg::Mid => Reference::Mid,
        ReferenceArg::Micro => Reference::Micro,
        ReferenceArg::Mark => Reference::Mark,
    };
    cfg.min_edge_bps_e2 = bps_e2(args.min_edge_bps);
    cfg.levels = args.levels;
    cfg.level_spread_bps_e2 = bps_e2(args.level_spread_bps);
    if let Some(s) = args.size_usd {
        cfg.size_usd_e4 = usd_e4(s);
    }
    cfg.skew_factor_ppm = (args.skew_factor * 1e6).round() as i64;
    cfg.inventory_skew_ppm = (args.inventory_skew * 1e6).round() as i64;
    cfg.requote_bps_e2 = args.requote_bps.map_or(0, bps_e2);
    cfg.requote_abs = match args.requote_abs {
        None => None,
        Some(a) => {
            Some(Dec::from_f64(a, 12).ok_or("--requote-abs must be a positive price amount")?)
        }
    };
    cfg.refresh_ns = args
        .refresh_interval
        .map_or(0, |s| (s * 1e9).round() as u64);
    cfg.requote_on_fill = args.requote_on_fill;
    cfg.max_position_usd_e4 = match (args.max_position_usd, args.size_usd, args.max_position) {
        (Some(m), _, _) => usd_e4(m),
        (None, Some(s), None) => usd_e4(5.0 * s),
        _ => mm_core::risk::NO_LIMIT,
    };
    if let Some(m) = args.max_inventory_usd {
        cfg.max_inventory_usd_e4 = usd_e4(m);
    }
    cfg.stop_loss_ppm = args.stop_loss_pct.map_or(0, |p| (p * 1e4).round() as i64);
    cfg.daily_loss_usd_e4 = args.daily_loss_usd.map_or(0, usd_e4);
    cfg.requote_ticks = args.requote_ticks;
    cfg.stale_ns = args.stale_ms * 1_000_000;
    cfg.log_quotes = args.log_quotes;
    cfg.model = model_config(args, table)?;
    options_config(args, &mut cfg)?;
    Ok(cfg)
}

/// The calibration thread: observes the hot thread's samples, recalibrates on their
/// exchange clock and sends the coefficients back (dropped when the ring is full; the next
/// recalibration sends fresh ones). Returns a summary line of the last fit per instrument.
fn calib_loop(
    table: &InstrumentTable,
    cfg: &ModelConfig,
    rx: &mut Consumer<CalibSample>,
    tx: &mut mm_io::ring::Producer<ModelCoeffs>,
    stop: &AtomicBool,
) -> String {
    let mut c = Calibrator::new(table, cfg);
    let mut last_t = 0u64;
    let mut lost = 0u64;
    loop {
        let mut work = false;
        while let Some(s) = rx.pop() {
            work = true;
            c.observe(&s);
            last_t = last_t.max(s.t);
        }
        if last_t > 0 {
            c.poll(last_t, &mut |k| {
                if tx.push(k).is_err() {
                    lost += 1;
                }
            });
        }
        if !work {
            if stop.load(Ordering::Acquire) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let mut s = format!(
        "{} samples, {} coefficient sets ({} not sent: ring full), {} not calibrated",
        c.samples, c.pushed, lost, c.rejected
    );
    for i in table.iter() {
        let f = c.fit(i.id as usize);
        s.push_str(&format!(
            "; {}: σ {:?} ticks/√s, A {:?} /s, κ {:?} /tick",
            i.name, f.sigma, f.a, f.kappa
        ));
    }
    s
}

/// The model settings of the flags (strategies.md §4, [`mm_core::model`]).
///
/// # Errors
/// A model flag out of range, naming it.
pub fn model_config(args: &Args, table: &InstrumentTable) -> Result<ModelConfig, String> {
    let secs_ns = |v: f64, flag: &str| -> Result<u64, String> {
        if v.is_finite() && v > 0.0 && v < 1e9 {
            Ok((v * 1e9).round() as u64)
        } else {
            Err(format!("--{flag} must be > 0 seconds"))
        }
    };
    let ppm = |v: f64, flag: &str| -> Result<i64, String> {
        if v.is_finite() && v > 0.0 && v < 1e6 {
            Ok((v * 1e6).round() as i64)
        } else {
            Err(format!("--{flag} must be > 0"))
        }
    };
    let (vmin, vmax) = match (args.vol_spread_min, args.vol_spread_max) {
        (_, None) => (0, 0),
        (lo, Some(hi)) => (
            ppm(lo.unwrap_or(0.5), "vol-spread-min")?,
            ppm(hi, "vol-spread-max")?,
        ),
    };
    if !args.imbalance_shift_ticks.is_finite() || args.imbalance_shift_ticks.abs() > 1e6 {
        return Err("--imbalance-shift-ticks must be a finite number of ticks".into());
    }
    let mut m = ModelConfig {
        kind: match args.model {
            ModelArg::Fixed => ModelKind::Fixed,
            ModelArg::As => ModelKind::As,
            ModelArg::Glft => ModelKind::Glft,
        },
        gamma: args.gamma,
        fee_aware: args.model_fees,
        horizon_secs: args.horizon_secs,
        calib_window_ns: secs_ns(args.calib_window_secs, "calib-window-secs")?,
        recalib_ns: secs_ns(args.recalib_secs, "recalib-secs")?,
        vol_window_ns: secs_ns(args.vol_window_secs, "vol-window-secs")?,
        vol_ratio_min_ppm: vmin,
        vol_ratio_max_ppm: vmax,
        imbalance_levels: args.imbalance_levels,
        imbalance_shift_e6: (args.imbalance_shift_ticks * 1e6).round() as i64,
        cooldown_ns: args.cooldown_ms.saturating_mul(1_000_000),
        cooldown_action: match args.cooldown_action {
            CooldownArg::Pull => CooldownAction::Pull,
            CooldownArg::Widen => CooldownAction::Widen,
        },
        ..ModelConfig::default()
    };
    if args.imbalance_levels > 64 {
        return Err("--imbalance-levels must be in 0..=64".into());
    }
    for (v, flag) in [
        (args.cooldown_trade_size, "cooldown-trade-size"),
        (args.cooldown_move_bps, "cooldown-move-bps"),
        (Some(args.cooldown_widen_bps), "cooldown-widen-bps"),
    ] {
        if let Some(x) = v {
            if !(x.is_finite() && x >= 0.0) {
                return Err(format!("--{flag} must be ≥ 0"));
            }
        }
    }
    m.cooldown_move_bps_e2 = args
        .cooldown_move_bps
        .map_or(0, |b| (b * 100.0).round() as i64);
    m.cooldown_widen_bps_e2 = (args.cooldown_widen_bps * 100.0).round() as i64;
    m.cooldown_trade_lots = table
        .iter()
        .map(|i| {
            match args.cooldown_trade_size {
                Some(a) if a > 0.0 => ((a / i.lot.to_f64()).round() as i64).max(1),
                _ => 0, // off
            }
        })
        .collect();
    m.validate()?;
    Ok(m)
}

/// The options settings (`--quote-around`, `--theo-iv`, `--greeks`, `--max-delta`,
/// `--max-vega`) into `cfg`.
///
/// # Errors
/// A negative or non-finite delta or vega limit.
fn options_config(args: &Args, cfg: &mut EngineConfig) -> Result<(), String> {
    use crate::cli::{GreeksArg, QuoteAroundArg, TheoIvArg};
    use mm_core::options::{greeks, GreeksSource, TheoIv};
    cfg.option_reference = args.quote_around.map(|q| match q {
        QuoteAroundArg::Mark => Reference::Mark,
        QuoteAroundArg::Theo => Reference::Theo,
        QuoteAroundArg::Mid => Reference::Mid,
    });
    cfg.theo_iv = match args.theo_iv {
        TheoIvArg::Mark => TheoIv::Mark,
        TheoIvArg::Smile => TheoIv::Smile,
    };
    cfg.greeks = match args.greeks {
        GreeksArg::Ticker => GreeksSource::Ticker,
        GreeksArg::Computed => GreeksSource::Computed,
    };
    let fixed = |v: Option<f64>, scale: f64, flag: &str| -> Result<i64, String> {
        match v {
            None => Ok(mm_core::risk::NO_LIMIT),
            Some(x) if x >= 0.0 && x.is_finite() && x * scale < 9e18 => {
                Ok((x * scale).round() as i64)
            }
            Some(_) => Err(format!("--{flag} must be a finite number ≥ 0")),
        }
    };
    cfg.max_delta_e8 = fixed(args.max_delta, greeks::DELTA_SCALE, "max-delta")?;
    cfg.max_vega_e6 = fixed(args.max_vega, greeks::VEGA_SCALE, "max-vega")?;
    Ok(())
}
