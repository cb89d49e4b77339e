//! Decoding real Deribit frames: our decoder vs serde_json, simd-json and sonic-rs (all three
//! through the same typed serde visitors; see `mm_bench::peers` for what each extracts and the
//! buffer handling). Groups per frame kind (`book`, `ticker`, `trades`, `user_orders`) and
//! `all`; throughput in bytes, time per iteration = the whole set of frames of that kind.
//!
//! Run: `cargo bench -p mm-bench --features peers --bench decode`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use mm_bench::decode::{Corpus, Ours, KINDS};
use mm_bench::peers::{SerdeJson, SimdJson, SonicRs};

/// Frames of one kind, as `(tape index, frame)`.
type Frames<'a> = Vec<(usize, &'a [u8])>;

fn bench_decode(c: &mut Criterion) {
    let corpus = Corpus::load();
    let mut sets: Vec<(&str, Frames<'_>)> = KINDS
        .iter()
        .map(|k| (k.name(), corpus.frames(*k)))
        .collect();
    sets.push(("all", corpus.all()));
    let max_len = corpus.all().iter().map(|f| f.1.len()).max().unwrap_or(0);
    for (name, frames) in &sets {
        let bytes: usize = frames.iter().map(|f| f.1.len()).sum();
        let mut g = c.benchmark_group(format!("decode/{name}"));
        g.throughput(Throughput::Bytes(bytes as u64));
        let mut ours = Ours::new(&corpus);
        g.bench_function("ours", |b| {
            b.iter(|| {
                ours.reset();
                let mut acc = 0u64;
                for &(t, f) in frames {
                    acc ^= ours.decode(t, f);
                }
                black_box(acc)
            })
        });
        let mut sj = SerdeJson::new(8192);
        g.bench_function("serde_json", |b| {
            b.iter(|| {
                let mut acc = 0u64;
                for &(_, f) in frames {
                    acc ^= sj.decode(f).map_or(u64::MAX, |x| x.fold());
                }
                black_box(acc)
            })
        });
        let mut simd = SimdJson::new(max_len, 8192);
        g.bench_function("simd_json", |b| {
            b.iter(|| {
                let mut acc = 0u64;
                for &(_, f) in frames {
                    acc ^= simd.decode(f).map_or(u64::MAX, |x| x.fold());
                }
                black_box(acc)
            })
        });
        let mut sonic = SonicRs::new(8192);
        g.bench_function("sonic_rs", |b| {
            b.iter(|| {
                let mut acc = 0u64;
                for &(_, f) in frames {
                    acc ^= sonic.decode(f).map_or(u64::MAX, |x| x.fold());
                }
                black_box(acc)
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench_decode);
criterion_main!(benches);
