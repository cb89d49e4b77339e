//! # mm-tests
//!
//! End-to-end tests of mm-fast: the engine against the simulator over real loopback sockets,
//! on recorded data from `../shared/data` (or `MM_DATA_DIR`). Helpers shared by the test
//! binaries live here.

use std::path::PathBuf;

pub mod lockstep;

/// The shared data directory: `MM_DATA_DIR`, else `<workspace>/../shared/data`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("MM_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")))
}

/// Path of a file under the data directory, as a string.
///
/// # Panics
/// If the file does not exist (the tests need the recorded data beside the repository).
pub fn data(rel: &str) -> String {
    let p = data_dir().join(rel);
    assert!(
        p.exists(),
        "recorded data missing: {} (set MM_DATA_DIR or put shared/ beside the repo)",
        p.display()
    );
    p.display().to_string()
}

/// The three Deribit tapes every end-to-end check runs on.
pub const DERIBIT_TAPES: [&str; 3] = [
    "deribit/cryptofeed-2021-04-05/ws.capture",
    "deribit/cryptofeed-2021-04-17/ws.capture",
    "deribit/tardis-2019-04-01/BTC-PERPETUAL.book_change_trades.jsonl",
];

/// A global allocator that counts allocations made on *armed* threads, for the
/// "no allocation after startup" tests. Each test binary installs it with
/// `#[global_allocator] static GLOBAL: CountingAlloc = CountingAlloc;` and wraps the code
/// under test between [`arm_allocation_count`] calls.
pub struct CountingAlloc;

thread_local! {
    static ARMED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static COUNT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn count_if_armed() {
    let _ = ARMED.try_with(|a| {
        if a.get() {
            COUNT.with(|c| c.set(c.get() + 1));
        }
    });
}

// SAFETY: forwards to the system allocator unchanged; only counts calls on armed threads.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        count_if_armed();
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        // SAFETY: `p` came from `System.alloc` with layout `l`.
        unsafe { std::alloc::System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, n: usize) -> *mut u8 {
        count_if_armed();
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.realloc(p, l, n) }
    }
}

/// Arms (`true`) or disarms counting on this thread; see [`CountingAlloc`].
pub fn arm_allocation_count(on: bool) {
    ARMED.with(|a| a.set(on));
}

/// Allocations counted on this thread since the last call (and resets the count).
pub fn take_allocation_count() -> u64 {
    COUNT.with(|c| c.replace(0))
}

/// A venue stand-in for the allocation tests: acknowledges every intent the engine wrote and
/// fills every third new order in full at its price, then hands those reports to the engine
/// ([`Engine::on_exec`]) and runs its idle step, all at time `t` (ns). The buffers are
/// allocated once, in [`AckAndFill::new`]; intents the reports cause stay in `out` for the
/// next call.
///
/// [`Engine::on_exec`]: mm_core::engine::Engine::on_exec
pub struct AckAndFill {
    acks: Vec<mm_core::event::ExecEvent>,
    news: u64,
}

impl Default for AckAndFill {
    fn default() -> Self {
        Self::new()
    }
}

impl AckAndFill {
    /// Buffers for up to 4096 reports per call.
    pub fn new() -> Self {
        AckAndFill {
            acks: Vec::with_capacity(4096),
            news: 0,
        }
    }

    /// Answers the intents in `out` (see the type's docs).
    pub fn answer(
        &mut self,
        e: &mut mm_core::engine::Engine,
        out: &mut Vec<mm_core::event::OrderIntent>,
        tel: &mut Vec<mm_core::event::Telemetry>,
        t: u64,
    ) {
        use mm_core::event::{ExecEvent, ExecKind, IntentKind};
        for it in out.drain(..) {
            self.acks.push(ExecEvent::ack_of(&it));
            if it.kind == IntentKind::New {
                self.news += 1;
                if self.news.is_multiple_of(3) {
                    self.acks.push(ExecEvent {
                        client_id: it.client_id,
                        price: it.price,
                        qty: it.qty,
                        instrument: it.instrument,
                        kind: ExecKind::Fill,
                        side: it.side,
                        ..Default::default()
                    });
                }
            }
        }
        for a in self.acks.drain(..) {
            e.on_exec(&a, t, out, tel);
        }
        e.on_idle(t, out, tel);
    }
}

/// `mm-fast --venue sim --tape TAPE --idle yield --stats-interval 0 EXTRA…` parsed as
/// The Binance BTCUSDT day-1 tape (under [`data_dir`]), re-hosted by the simulator as the
/// perpetual `BTC_USDT-PERPETUAL`: the busiest recorded tape, for runs that need order
/// traffic and fills.
pub const BINANCE_BTC: &str = "binance/usdm/btcusdt_20240718.gz";

/// The sizing of runs on [`BINANCE_BTC`]: 0.002 BTC quotes, at most 0.01 BTC, the tape as
/// fast as it can be replayed.
pub const BINANCE_ARGS: [&str; 6] = [
    "--size",
    "0.002",
    "--max-position",
    "0.01",
    "--speed",
    "max",
];

/// [`mm_tools::cli::Args`]: the non-spinning idle policy (the test machines have 2 cores) and
/// no live stats line, plus the test's own flags.
///
/// # Panics
/// On flags clap refuses (a test bug).
pub fn sim_args<S: AsRef<str>>(tape: &str, extra: &[S]) -> mm_tools::cli::Args {
    use clap::Parser;
    let mut v: Vec<String> = [
        "mm-fast",
        "--venue",
        "sim",
        "--tape",
        tape,
        "--idle",
        "yield",
        "--stats-interval",
        "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.as_ref().to_string()));
    mm_tools::cli::Args::parse_from(v)
}
