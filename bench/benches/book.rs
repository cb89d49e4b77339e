//! Book mirror updates on recorded data, ours vs hftbacktest (feature `peers`).
//!
//! Streams (see `mm_bench::depth`):
//! - `binance_btcusdt`: Binance USD-M BTCUSDT depth diffs 2024-07-18/19 after the REST
//!   snapshot (tick 0.1, lot 0.001).
//! - `tardis_btc_perpetual`: the Deribit tardis minute (full-depth snapshot of ~1,000 levels,
//!   then 3,769 frames of real level changes; tick 0.25, lot 10 USD).
//!
//! Each iteration applies every change after the snapshot (the book is reset to the snapshot
//! outside the timed region) and reads best bid and best ask after every update, as the quoter
//! does; throughput is per level update. Books:
//! - `ours`: [`mm_core::book::Book`] sized as the engine sizes a perpetual's book (window
//!   2^20 ticks, 2,048 deep levels per side: `mm_bench::books::OUR_WINDOW`),
//!   integer ticks/lots, `finish_frame` after each diff message.
//! - `hftbacktest_hashmap`: `HashMapMarketDepth::update_{bid,ask}_depth(price f64, qty f64)`.
//! - `hftbacktest_roi`: `ROIVectorMarketDepth` over the whole price range of the stream (so it
//!   holds every level, as ours does).
//!
//! Run: `cargo bench -p mm-bench --bench book [--features peers]`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mm_bench::books as run;
use mm_bench::depth::{self, DepthStream};
use std::time::{Duration, Instant};

fn bench_stream(c: &mut Criterion, key: &str, s: &DepthStream) {
    let mut g = c.benchmark_group(format!("book_update/{key}"));
    g.throughput(Throughput::Elements(s.changes.len() as u64));
    g.sample_size(20);
    let mut ours = run::Ours::new(s);
    g.bench_function("ours", |b| {
        b.iter_custom(|iters| timed(iters, &mut ours, |x| x.reset(s), |x| x.apply(s)))
    });
    #[cfg(feature = "peers")]
    {
        let mut hm = run::HashMap::new(s);
        g.bench_function("hftbacktest_hashmap", |b| {
            b.iter_custom(|iters| timed(iters, &mut hm, |x| x.reset(s), |x| x.apply(s)))
        });
        let mut roi = run::Roi::new(s);
        g.bench_function("hftbacktest_roi", |b| {
            b.iter_custom(|iters| timed(iters, &mut roi, |x| x.reset(s), |x| x.apply(s)))
        });
    }
    g.finish();
}

fn timed<T>(
    iters: u64,
    x: &mut T,
    mut reset: impl FnMut(&mut T),
    mut apply: impl FnMut(&mut T) -> i64,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        reset(x);
        let t = Instant::now();
        std::hint::black_box(apply(x));
        total += t.elapsed();
    }
    total
}

fn bench_book(c: &mut Criterion) {
    bench_stream(c, "binance_btcusdt", &depth::binance_btcusdt());
    bench_stream(c, "tardis_btc_perpetual", &depth::tardis_btc_perpetual());
}

criterion_group!(benches, bench_book);
criterion_main!(benches);
