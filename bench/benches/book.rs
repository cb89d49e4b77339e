//! Book mirror updates on recorded data: the tardis BTC-PERPETUAL minute (full-depth
//! snapshot of ~1,000 levels, then 3,770 real level changes), applied to [`mm_core::Book`]
//! after its snapshot, with best bid/ask read after every change as the quoter does.
//!
//! Run: `cargo bench -p mm-bench --bench book`. Data: `MM_DATA_DIR` or `../shared/data`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use mm_bench::tardis_levels;
use mm_core::book::{Book, BookView};

fn bench_book(c: &mut Criterion) {
    let (snapshot, changes) = tardis_levels();
    let mut g = c.benchmark_group("book_update");
    g.throughput(Throughput::Elements(changes.len() as u64));
    g.bench_function("tardis_btc_perpetual_changes", |b| {
        let mut book = Book::new(4096, 4096);
        b.iter(|| {
            book.clear();
            for &(side, px, q) in &snapshot {
                book.set(side, px, q);
            }
            book.finish_frame();
            let mut acc = 0i64;
            for &(side, px, q) in &changes {
                book.set(side, px, q);
                acc = acc.wrapping_add(book.best_bid().unwrap_or(0) ^ book.best_ask().unwrap_or(0));
            }
            black_box(acc)
        })
    });
    g.finish();
}

criterion_group!(benches, bench_book);
criterion_main!(benches);
