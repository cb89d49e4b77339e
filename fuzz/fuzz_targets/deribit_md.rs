//! Fuzz target: the Deribit market-data decoder (`MdDecoder::decode`, venues/src/deribit/md.rs)
//! on arbitrary frames, with the instruments of the recorded tapes. Invariants: no panic; a
//! failed frame emits at most one `Gap` event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mm_core::decimal::Dec;
use mm_core::event::MdKind;
use mm_core::instrument::{Instrument, InstrumentTable, Kind};
use mm_venues::deribit::md::MdDecoder;
use std::sync::{Arc, Mutex, OnceLock};

fn d(s: &str) -> Dec {
    Dec::parse(s.as_bytes()).expect("decimal")
}

fn decoder() -> &'static Mutex<MdDecoder> {
    static DEC: OnceLock<Mutex<MdDecoder>> = OnceLock::new();
    DEC.get_or_init(|| {
        let mut t = InstrumentTable::new();
        for (n, k, tick, lot) in [
            ("BTC-PERPETUAL", Kind::Perpetual, "0.5", "10"),
            ("ETH-PERPETUAL", Kind::Perpetual, "0.05", "1"),
            ("BTC-25JUN21", Kind::Future, "0.5", "10"),
            ("BTC-30APR21-60000-C", Kind::Option, "0.0005", "0.1"),
            ("ETH-30APR21-2000-P", Kind::Option, "0.0005", "1"),
        ] {
            t.push(Instrument::new(n, k, d(tick), d(lot)))
                .expect("unique");
        }
        Mutex::new(MdDecoder::new(Arc::new(t)))
    })
}

fuzz_target!(|data: &[u8]| {
    let mut dec = decoder().lock().unwrap_or_else(|p| p.into_inner());
    let mut n = 0usize;
    let mut gaps = 0usize;
    let r = dec.decode(data, 1, &mut |e| {
        n += 1;
        gaps += usize::from(e.kind == MdKind::Gap);
    });
    if r.is_err() {
        assert!(n <= 1 && n == gaps, "a failed frame emitted {n} events");
    }
});
