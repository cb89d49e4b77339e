//! The kill switch (strategies.md §6): SIGUSR1, a kill file (`--kill-file PATH`) or the
//! `mm-fast kill` command (`POST /kill` on `--status-addr`) cancel everything and halt quoting
//! until the process is restarted.
//!
//! A kill sets [`HotControl::kill`] and [`HotControl::halt`]; the hot thread then sends one
//! `private/cancel_all` (the engine's halt; also when the engine believes nothing is live, so
//! orders it does not know of go too) and never quotes again. The process keeps running,
//! reading market data and serving status, and stops on the normal stop conditions (end of
//! tape, `--duration`, Ctrl+C/SIGTERM), when the usual shutdown finds everything flat.
//!
//! Measured: the trigger time (monotonic clock, the one every telemetry record uses), the time
//! the last cancel was written to the order socket (the gateway's `TelKind::CancelWritten`
//! records) and the time the hot thread saw no live order any more
//! ([`HotControl::flat_at`]), reported as [`KillOut`] in the report and on `/status`.
//!
//! Trigger latency bound: SIGUSR1 and the kill file are polled by the control thread on every
//! pass of its loop (≤ 1 ms apart when idle, one `stat` per pass for the file); `POST /kill` sets
//! the flags from the status server's thread directly. From there the hot thread reacts on its
//! next loop iteration and the gateway writes the cancel-all on its next one.

use crate::hot::HotControl;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

/// What fired the kill switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Trigger {
    /// SIGUSR1.
    Signal = 1,
    /// The kill file appeared.
    File = 2,
    /// `mm-fast kill` / `POST /kill`.
    Command = 3,
}

impl Trigger {
    /// `signal`, `file` or `command`.
    pub fn name(self) -> &'static str {
        match self {
            Trigger::Signal => "signal",
            Trigger::File => "file",
            Trigger::Command => "command",
        }
    }

    fn from_u8(v: u8) -> Option<Trigger> {
        match v {
            1 => Some(Trigger::Signal),
            2 => Some(Trigger::File),
            3 => Some(Trigger::Command),
            _ => None,
        }
    }
}

/// The kill record of the report (`kill` in the JSON) and of `/status`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct KillOut {
    /// `signal`, `file` or `command`.
    pub trigger: String,
    /// When it fired, seconds since the run started.
    pub t_trigger_s: f64,
    /// Trigger → the last cancel written to the order socket (ns); `null` if none was written
    /// (e.g. the order connection was already gone).
    pub cancel_written_ns: Option<u64>,
    /// Trigger → the engine had no live order any more (every cancel acknowledged), ns;
    /// `null` if that did not happen before the run ended.
    pub all_acked_ns: Option<u64>,
}

/// The kill switch state shared by the control thread and the status server.
#[derive(Debug, Default)]
pub struct KillSwitch {
    trigger: AtomicU8,
    /// Monotonic ns of the trigger (0 = not fired).
    t_trigger: AtomicU64,
    /// Monotonic ns of the run's start.
    t0: AtomicU64,
    /// Trigger → last cancel written, ns + 1 (0 = none yet).
    cancel_written: AtomicU64,
    /// Trigger → flat, ns + 1 (0 = not yet).
    all_acked: AtomicU64,
    fired: AtomicBool,
}

impl KillSwitch {
    /// A switch for a run that started at monotonic time `t0` (ns).
    pub fn new(t0: u64) -> KillSwitch {
        let k = KillSwitch::default();
        k.t0.store(t0, Ordering::Relaxed);
        k
    }

    /// Fires the switch (first call wins; later calls return false): halts the hot thread.
    pub fn fire(&self, trigger: Trigger, ctl: &HotControl, now: u64) -> bool {
        if self.fired.swap(true, Ordering::AcqRel) {
            return false;
        }
        ctl.kill.store(true, Ordering::Release);
        ctl.halt.store(true, Ordering::Release);
        self.t_trigger.store(now.max(1), Ordering::Release);
        self.trigger.store(trigger as u8, Ordering::Release);
        true
    }

    /// Whether the switch fired.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    /// Updates the measurements: `last_cancel_written` = monotonic ns of the latest cancel
    /// written (0 = none), and the hot thread's flat time.
    pub fn measure(&self, last_cancel_written: u64, ctl: &HotControl) {
        let t = self.t_trigger.load(Ordering::Acquire);
        if t == 0 {
            return;
        }
        if last_cancel_written >= t {
            self.cancel_written
                .store(last_cancel_written - t + 1, Ordering::Release);
        }
        if ctl.flat.load(Ordering::Acquire) {
            let f = ctl.flat_at.load(Ordering::Acquire);
            if f != 0 && self.all_acked.load(Ordering::Relaxed) == 0 {
                self.all_acked
                    .store(f.saturating_sub(t) + 1, Ordering::Release);
            }
        }
    }

    /// The record, once fired.
    pub fn out(&self) -> Option<KillOut> {
        let trigger = Trigger::from_u8(self.trigger.load(Ordering::Acquire))?;
        let t = self.t_trigger.load(Ordering::Acquire);
        let t0 = self.t0.load(Ordering::Relaxed);
        let opt = |v: u64| (v > 0).then(|| v - 1);
        Some(KillOut {
            trigger: trigger.name().into(),
            t_trigger_s: t.saturating_sub(t0) as f64 / 1e9,
            cancel_written_ns: opt(self.cancel_written.load(Ordering::Acquire)),
            all_acked_ns: opt(self.all_acked.load(Ordering::Acquire)),
        })
    }
}

/// `mm-fast kill`: trips the kill switch of a running engine.
///
/// Transport: `POST /kill` to the engine's `--status-addr` (it answers once every order is
/// cancelled, with the measured times, or after 5 s), or, without a status address, creating
/// the engine's `--kill-file` (picked up on the control thread's next pass). The addresses can
/// come from the engine's own `--config` file.
#[derive(Clone, Debug, clap::Parser)]
#[command(name = "mm-fast kill")]
pub struct KillArgs {
    /// The running engine's `--status-addr` (HOST:PORT): send `POST /kill`.
    #[arg(long)]
    pub status_addr: Option<String>,
    /// The running engine's `--kill-file`: create it.
    #[arg(long)]
    pub kill_file: Option<PathBuf>,
    /// Read `status-addr` / `kill-file` from the engine's config file.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Runs `mm-fast kill`; returns what to print.
///
/// # Errors
/// No way to reach the engine, or the request failed.
pub fn kill_command(k: &KillArgs) -> Result<String, String> {
    let (mut addr, mut file) = (k.status_addr.clone(), k.kill_file.clone());
    if let Some(c) = &k.config {
        let l = crate::config::parse_args([
            "mm-fast".into(),
            "--config".into(),
            c.clone().into_os_string(),
        ])
        .map_err(|e| e.to_string())?;
        addr = addr.or(l.args.status_addr);
        file = file.or(l.args.kill_file);
    }
    if let Some(a) = addr {
        if a.ends_with(":0") {
            return Err(format!(
                "status address {a} has port 0: pass the address the engine printed at startup"
            ));
        }
        let (code, body) =
            crate::status::http_request(&a, "POST", "/kill", std::time::Duration::from_secs(10))?;
        if code != 200 {
            return Err(format!("POST http://{a}/kill answered {code}: {body}"));
        }
        return Ok(body);
    }
    if let Some(f) = file {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        std::fs::write(
            &f,
            format!("kill requested by mm-fast kill at unix {stamp}\n"),
        )
        .map_err(|e| format!("create kill file {}: {e}", f.display()))?;
        return Ok(format!(
            "kill file {} created: the engine cancels everything and halts on its next control pass",
            f.display()
        ));
    }
    Err("mm-fast kill needs --status-addr HOST:PORT, --kill-file PATH or --config FILE".into())
}
