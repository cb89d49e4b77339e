//! Allocation count of the WsClient read path (plain TCP), with a per-thread counting
//! allocator (thread-local counts, so tests running in parallel do not interfere).

mod util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use mm_io::{WsClient, WsOptions};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: delegates every call to `System` unchanged; only counts allocations of the calling
// thread in a const-initialised thread-local (no allocation, no recursion).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(|c| c.get())
}

/// Reads a 500-frame warm-up burst, then a 5,000-frame burst of 300-byte frames, and returns
/// (allocations, frames) counted over the second burst only, on this thread, inside
/// `read_frames` only. Two separate bursts, because the server writes a burst in one go and a
/// single `read_frames` call may drain all of it.
fn measure(tls: bool) -> (u64, usize) {
    let ca = util::TestCa::new("alloc test CA");
    let (addr, server) = util::spawn_server(tls.then(|| ca.server_config(&["127.0.0.1"])));
    let opts = WsOptions {
        connect_timeout: Duration::from_secs(5),
        extra_root_pem: tls.then(|| ca.pem()),
        ..WsOptions::default()
    };
    let scheme = if tls { "wss" } else { "ws" };
    let mut c = WsClient::connect(&format!("{scheme}://{addr}/"), &opts).unwrap();
    const N: usize = 5_000;
    const WARMUP: usize = 500;
    let mut bytes = 0usize;
    let mut read_burst = |c: &mut WsClient, n: usize| -> (u64, usize) {
        c.send_text(&format!("burst:{n}:300")).unwrap();
        let (mut frames, mut used) = (0usize, 0u64);
        let deadline = Instant::now() + Duration::from_secs(20);
        while frames < n {
            assert!(Instant::now() < deadline, "got {frames} of {n}");
            let before = allocs();
            let k = c
                .read_frames(|f| {
                    bytes += f.len();
                })
                .unwrap();
            used += allocs() - before;
            frames += k;
            if k == 0 {
                c.wait(Some(Duration::from_millis(20))).unwrap();
            }
        }
        (used, frames)
    };
    read_burst(&mut c, WARMUP);
    let (counted_allocs, counted_frames) = read_burst(&mut c, N);
    assert_eq!(counted_frames, N);
    assert_eq!(bytes, (WARMUP + N) * 300);
    eprintln!(
        "{scheme} read path: {counted_allocs} allocations over {counted_frames} frames after \
         warm-up ({:.3} per frame)",
        counted_allocs as f64 / counted_frames.max(1) as f64
    );
    c.close();
    server.join().unwrap();
    (counted_allocs, counted_frames)
}

#[test]
fn plain_read_path_does_not_allocate_per_frame() {
    let (counted_allocs, counted_frames) = measure(false);
    // tungstenite reuses its read buffer in steady state; allow a small number of buffer
    // regrowths, but nothing proportional to the frame count.
    assert!(
        counted_allocs * 20 < counted_frames as u64,
        "{counted_allocs} allocations for {counted_frames} frames"
    );
}

#[test]
fn tls_read_path_allocations_are_reported() {
    let (counted_allocs, counted_frames) = measure(true);
    assert!(counted_frames > 0);
    // See the `ws` module docs: rustls' buffered API copies each decrypted record into a
    // fresh `Vec`, i.e. one allocation per TLS record (a burst packs many frames per record;
    // live traffic is often one frame per record). Never more than one per frame here.
    assert!(
        counted_allocs <= counted_frames as u64,
        "{counted_allocs} > {counted_frames}"
    );
}
