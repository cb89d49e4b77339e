//! The md thread's decode path allocates nothing over whole replays.
//!
//! Every frame of each recorded tape (raw Deribit frames for the cryptofeed captures; for the
//! synthesized tapes, the book frames the simulator renders) is prepared up front, then
//! `MdDecoder::decode` runs over all of them while a counting global allocator watches this
//! thread. Together with `hot_alloc.rs` (the engine's step functions) this proves design.md's
//! "no allocation after startup" for the decode → decide path.

use mm_tests::{data, DERIBIT_TAPES};
use mm_venues::deribit::md::MdDecoder;
use mm_venues::sim::tape::{self, TapeBody};
use mm_venues::sim::{book::write_update_data, exchange::frame, instruments};
use std::sync::Arc;

#[global_allocator]
static GLOBAL: mm_tests::CountingAlloc = mm_tests::CountingAlloc;

/// The frames a client would receive for `path`: recorded text where the tape has it,
/// otherwise the simulator's rendering of each book update.
fn frames(t: &tape::Tape) -> Vec<String> {
    let mut out = Vec::new();
    for ev in &t.events {
        let ch = match &ev.body {
            TapeBody::Book(_) => format!("book.{}.raw", ev.instrument),
            TapeBody::Ticker(_) => format!("ticker.{}.raw", ev.instrument),
            TapeBody::Trades(_) => format!("trades.{}.raw", ev.instrument),
        };
        match (&ev.raw_data, &ev.body) {
            (Some(raw), _) => out.push(frame(&ch, raw, None)),
            (None, TapeBody::Book(u)) => {
                let mut s = String::new();
                write_update_data(&ev.instrument, u, &mut s);
                out.push(frame(&ch, &s, None));
            }
            _ => {}
        }
    }
    out
}

#[test]
fn decoding_allocates_nothing_over_whole_replays() {
    let binance = [
        "binance/usdm/btcusdt_20240718.gz",
        "binance/usdm/ethusdt_20240718.gz",
    ];
    for rel in DERIBIT_TAPES.into_iter().chain(binance) {
        let path = data(rel);
        let t = tape::load(path.as_ref()).expect("tape");
        let table = instruments::build(&t, None).expect("instruments").table;
        let frames = frames(&t);
        let mut dec = MdDecoder::new(Arc::clone(&table));
        let mut events = 0u64;
        let mut levels = 0u64;
        mm_tests::arm_allocation_count(true);
        for f in &frames {
            let r = dec.decode(f.as_bytes(), 1, &mut |e| {
                events += 1;
                levels += u64::from(e.kind == mm_core::event::MdKind::Level);
            });
            assert!(r.is_ok(), "{rel}: {r:?}");
        }
        mm_tests::arm_allocation_count(false);
        let n = mm_tests::take_allocation_count();
        assert!(levels > 100, "{rel}: only {levels} levels decoded");
        assert_eq!(dec.stats().errors, 0, "{rel}");
        assert_eq!(
            n,
            0,
            "{rel}: {n} allocations while decoding {} frames",
            frames.len()
        );
        eprintln!(
            "{rel}: {} frames, {events} events, 0 allocations",
            frames.len()
        );
    }
}
