//! Fuzz target: the simulator's request handling (`Exchange::on_text`,
//! venues/src/sim/exchange.rs, with the parameter parser of venues/src/sim/json.rs) on
//! arbitrary text from a logged-in connection, over the tardis BTC-PERPETUAL tape's first
//! events (so books, marks and orders exist). Each input is a sequence of requests separated
//! by newlines, run against a fresh venue. Invariant: no panic; every request gets exactly one
//! reply.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mm_venues::sim::exchange::Exchange;
use mm_venues::sim::instruments::{self, Instruments};
use mm_venues::sim::tape::{self, Tape};
use mm_venues::sim::SimConfig;
use std::path::PathBuf;
use std::sync::OnceLock;

fn data_dir() -> PathBuf {
    std::env::var_os("MM_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")))
}

struct Fixture {
    tape: Tape,
    insts: Instruments,
    cfg: SimConfig,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let p = data_dir().join("deribit/tardis-2019-04-01/BTC-PERPETUAL.book_change_trades.jsonl");
        let mut tape = tape::load(&p).expect("tape (set MM_DATA_DIR)");
        tape.events.truncate(200);
        let insts = instruments::build(&tape, None).expect("instruments");
        Fixture {
            cfg: SimConfig::new(&p),
            tape,
            insts,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let f = fixture();
    let mut ex = Exchange::new(f.insts.clone(), &f.tape, &f.cfg);
    ex.on_connect(1);
    let auth = r#"{"jsonrpc":"2.0","id":1,"method":"public/auth","params":{"grant_type":"client_credentials","client_id":"fuzz","client_secret":"s"}}"#;
    ex.on_text(1, auth, 0);
    for ev in f.tape.events.iter().take(100) {
        ex.on_tape_event(ev);
    }
    for req in text.split('\n') {
        let outs = ex.on_text(1, req, 0);
        assert!(!outs.is_empty(), "no reply to {req:?}");
    }
    let _ = ex.on_disconnect(1);
    let _ = ex.snapshot();
});
