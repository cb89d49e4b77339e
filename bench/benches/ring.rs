//! Inter-thread hop of a 64-byte `MdEvent`: our SPSC ring vs `rtrb` vs crossbeam `ArrayQueue`.
//!
//! - `ring_hop/*`: ping-pong round trip / 2 between two pinned, spinning threads (criterion
//!   reports the mean; `compare` reports p50/p99/p99.9 from an hdrhistogram).
//! - `ring_throughput/*`: one-way stream of 100k events through a 1024-slot ring.
//!
//! Run: `cargo bench -p mm-bench --features peers --bench ring`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mm_bench::ring::{self, ping_pong, throughput, Rx, Tx};
use std::time::Duration;

fn hop<T: Tx, R: Rx>(c: &mut Criterion, name: &str, mk: fn(usize) -> (T, R)) {
    let mut g = c.benchmark_group("ring_hop");
    g.sample_size(20);
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let n = (iters as usize).max(1);
            let st = ping_pong(mk, 1024, 1000, n).expect("ping-pong");
            Duration::from_nanos((st.hist.mean() * n as f64) as u64)
        })
    });
    g.finish();
    let mut g = c.benchmark_group("ring_throughput");
    g.sample_size(20);
    g.throughput(Throughput::Elements(100_000));
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = 0.0;
            for _ in 0..iters {
                total += throughput(mk, 1024, 100_000).expect("throughput") * 100_000.0;
            }
            Duration::from_nanos(total as u64)
        })
    });
    g.finish();
}

fn bench_ring(c: &mut Criterion) {
    hop(c, "ours", ring::ours);
    hop(c, "rtrb", ring::rtrb);
    hop(c, "arrayqueue", ring::arrayqueue);
}

criterion_group!(benches, bench_ring);
criterion_main!(benches);
