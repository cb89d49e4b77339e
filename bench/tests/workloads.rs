//! The shared workloads load from the recorded data and mean what the benches claim: the
//! Binance depth stream is synchronised and chained, our decoder replays the corpus without
//! gaps or errors, and (feature `peers`) every peer extracts as many rows as ours from every
//! frame, with the same numbers.

use mm_bench::decode::{Corpus, Ours, KINDS, USER};
use mm_bench::depth;
use mm_bench::deribit::FrameKind;
use mm_bench::hot::Rig;

#[test]
fn binance_stream_is_synchronised_and_long() {
    let s = depth::binance_btcusdt();
    assert!(
        s.snapshot.len() > 1000,
        "snapshot levels {}",
        s.snapshot.len()
    );
    assert!(s.frame_ends.len() > 5000, "diffs {}", s.frame_ends.len());
    assert!(
        s.changes.len() > 100_000,
        "level updates {}",
        s.changes.len()
    );
    assert_eq!(*s.frame_ends.last().unwrap(), s.changes.len());
    // Absolute quantities: deletes are zero, prices on the 0.1 grid.
    assert!(s.changes.iter().any(|l| l.qty == 0));
    for l in s.changes.iter().take(1000) {
        assert_eq!((l.px_f / 0.1).round() as i64, l.px);
    }
}

#[test]
fn tardis_stream_matches_the_old_loader() {
    let s = depth::tardis_btc_perpetual();
    assert_eq!(s.snapshot.len(), 642 + 356);
    assert!(s.frame_ends.len() > 3700, "frames {}", s.frame_ends.len());
    let (snap, changes) = mm_bench::tardis_levels();
    assert_eq!(snap.len(), s.snapshot.len());
    assert_eq!(changes.len(), s.changes.len());
}

#[test]
fn our_decoder_replays_the_corpus_cleanly() {
    let c = Corpus::load();
    assert!(c.tapes.len() >= 2);
    for k in KINDS {
        assert!(!c.frames(k).is_empty(), "no {k:?} frames");
    }
    let mut ours = Ours::new(&c);
    let all = c.all();
    let mut rows = 0;
    for _pass in 0..2 {
        ours.reset();
        for &(t, f) in &all {
            assert_ne!(ours.decode(t, f), u64::MAX);
            rows += ours.rows;
        }
    }
    assert_eq!(ours.gaps_and_errors(), (0, 0));
    assert!(rows > 1000, "rows {rows}");
    assert!(c.frames(FrameKind::User).iter().all(|&(t, _)| t == USER));
}

#[test]
fn hot_rig_quotes_on_every_tape() {
    for tape in mm_bench::deribit::cryptofeed_tapes() {
        let mut rig = Rig::new(&tape.table);
        let mut events = 0;
        for f in &tape.frames {
            events += rig.frame(&f.bytes, 5);
        }
        assert!(events > 100, "{}: {events} events", tape.name);
        assert!(
            rig.engine.counters().orders_sent > 0,
            "{}: no quotes",
            tape.name
        );
        assert!(rig.intents > 0);
    }
}

#[cfg(feature = "peers")]
#[test]
fn peers_extract_the_same_rows_as_ours() {
    use mm_bench::peers::{SerdeJson, SimdJson, SonicRs};
    let c = Corpus::load();
    let mut ours = Ours::new(&c);
    let mut sj = SerdeJson::new(8192);
    let mut simd = SimdJson::new(1 << 16, 8192);
    let mut sonic = SonicRs::new(8192);
    ours.reset();
    for (t, f) in c.all() {
        ours.decode(t, f);
        let a = sj.decode(f).unwrap().rows.clone();
        let b = simd.decode(f).unwrap().rows.clone();
        let d = sonic.decode(f).unwrap().rows.clone();
        assert_eq!(a.len(), ours.rows, "{}", String::from_utf8_lossy(f));
        assert_eq!(a, b, "simd-json differs");
        assert_eq!(a, d, "sonic-rs differs");
    }
}
