//! The hot step on real frames: one market-data event → book → quote decision → intents
//! (`Engine::on_md` with a null telemetry sink; intents answered by simulated venue acks as
//! in `mm_bench::hot`). Frames of every cryptofeed capture are decoded up front.
//!
//! - `hot_step/<tape>`: every decoded event of the tape through a fresh engine; throughput
//!   per event.
//! - `hot_frame/<tape>`: decode + step per frame (the md → hot path on one thread); throughput
//!   per frame.
//!
//! Run: `cargo bench -p mm-bench --bench hot_step`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mm_bench::deribit::cryptofeed_tapes;
use mm_bench::hot::{decode_all, Rig};

fn bench_hot(c: &mut Criterion) {
    for tape in cryptofeed_tapes() {
        let frames: Vec<&[u8]> = tape.frames.iter().map(|f| &f.bytes[..]).collect();
        let events = decode_all(&tape.table, &frames);
        let mut g = c.benchmark_group("hot_step");
        g.throughput(Throughput::Elements(events.len() as u64));
        g.bench_function(&tape.name, |b| {
            b.iter_batched_ref(
                || Rig::new(&tape.table),
                |rig| rig.step_all(&events, 5),
                BatchSize::LargeInput,
            )
        });
        g.finish();
        let mut g = c.benchmark_group("hot_frame");
        g.throughput(Throughput::Elements(frames.len() as u64));
        g.bench_function(&tape.name, |b| {
            b.iter_batched_ref(
                || Rig::new(&tape.table),
                |rig| {
                    for f in &frames {
                        rig.frame(f, 5);
                    }
                },
                BatchSize::LargeInput,
            )
        });
        g.finish();
    }
}

criterion_group!(benches, bench_hot);
criterion_main!(benches);
