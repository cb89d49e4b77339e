//! End-to-end gap handling: the simulator drops one recorded book change; the engine must pull
//! that instrument's quotes, resubscribe, and quote it again only after the new snapshot.

use clap::Parser;
use mm_tests::{data, DERIBIT_TAPES};
use mm_tools::cli::Args;
use mm_tools::run::{run, RunExtras};
use mm_venues::sim::{Fault, SimLogKind};

#[test]
fn dropped_change_pulls_quotes_until_the_new_snapshot() {
    let tape = data(DERIBIT_TAPES[2]);
    let args = Args::parse_from([
        "mm-fast",
        "--venue",
        "sim",
        "--tape",
        tape.as_str(),
        "--speed",
        "max",
        "--idle",
        "yield",
        "--spread-ticks",
        "2",
    ]);
    let out = run(
        &args,
        RunExtras {
            faults: vec![Fault::Gap { at_secs: 30.0 }],
            ..Default::default()
        },
    )
    .expect("run");
    let r = &out.report;
    let l = out.sim_ledger.as_ref().expect("ledger");
    assert_eq!(r.book_gaps, 1, "exactly the injected gap is detected");
    assert_eq!(r.ledger_match, Some(true), "{:?}", r.ledger_mismatches);
    assert_eq!(r.open_orders_at_exit, 0);

    let drop = l
        .log
        .iter()
        .find(|e| matches!(e.what, SimLogKind::ChangeDropped))
        .expect("a change was dropped");
    let inst = drop
        .instrument
        .clone()
        .expect("instrument of the dropped change");
    let snap = l
        .log
        .iter()
        .find(|e| {
            e.seq > drop.seq
                && matches!(e.what, SimLogKind::SnapshotSent)
                && e.instrument.as_deref() == Some(&inst)
        })
        .expect("the engine resubscribed and got a new snapshot");
    assert!(
        l.log.iter().any(|e| e.seq > drop.seq && e.seq < snap.seq && matches!(&e.what, SimLogKind::Subscribe { channel } if channel.starts_with("book."))),
        "resubscribe of the book channel"
    );
    let between = |e: &&mm_venues::sim::SimLogEntry| {
        e.seq > drop.seq && e.seq < snap.seq && e.instrument.as_deref() == Some(&inst)
    };
    assert!(
        !l.log.iter().filter(between).any(|e| matches!(
            e.what,
            SimLogKind::OrderNew { .. } | SimLogKind::OrderEdit { .. }
        )),
        "no quote from an untrusted book"
    );
    // The cancel travels on the order connection and may reach the simulator after it served
    // the md connection's resubscribe, so the check is on order: after the drop, the first
    // order request about the instrument is a cancel, never a new quote or an amend.
    let first = l
        .log
        .iter()
        .find(|e| {
            e.seq > drop.seq
                && e.instrument.as_deref() == Some(&inst)
                && matches!(
                    e.what,
                    SimLogKind::OrderNew { .. }
                        | SimLogKind::OrderEdit { .. }
                        | SimLogKind::OrderCancel { .. }
                )
        })
        .expect("order activity after the gap");
    assert!(
        matches!(first.what, SimLogKind::OrderCancel { .. }),
        "quotes pulled first after the gap, got {first:?}"
    );
    assert!(
        l.log.iter().any(|e| e.seq > snap.seq
            && e.instrument.as_deref() == Some(&inst)
            && matches!(
                e.what,
                SimLogKind::OrderNew { .. } | SimLogKind::OrderEdit { .. }
            )),
        "quoting resumes after the snapshot"
    );
}
