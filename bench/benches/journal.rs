//! Cost of the fill journal per fill (`--journal`, `--journal-fsync`;
//! `mm_venues::deribit::journal`): one fill line formatted from a decoded `user_trade` and
//! written with one `write(2)` (the page cache: survives a killed process), and the same
//! followed by `fdatasync(2)` (the disk: survives a power loss). The gateway thread pays it
//! once per fill of ours, before the fill reaches the engine; quoting does not wait for it
//! (the hot thread is another thread).
//!
//! The file lives in the system temporary directory: the `fsync` figure is the flush latency
//! of that file system's device (run it where the production journal will live, e.g. with
//! `TMPDIR=/var/lib/mm-fast`).
//!
//! Run: `cargo bench -p mm-bench --bench journal`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mm_venues::deribit::journal::FillJournal;
use mm_venues::deribit::private::TradesView;
use std::time::Duration;

/// A real-shaped `user_trade` (the simulator's format for the re-hosted BTCUSDT perpetual).
const TRADE: &str = r#"[{"trade_seq":17,"trade_id":"1042","timestamp":1721347101234,"tick_direction":0,"state":"filled","price":64123.4,"order_id":"77","mark_price":64120.1,"liquidity":"M","label":"mmf-4294967301","instrument_name":"BTC_USDT-PERPETUAL","fee_currency":"USDT","fee":0.0128,"direction":"buy","amount":0.001,"api":true}]"#;

fn bench(c: &mut Criterion) {
    let view = TradesView::new(TRADE.as_bytes());
    let trade = view.iter().next().expect("one trade").expect("decodes");
    let mut g = c.benchmark_group("journal_append_fill");
    g.throughput(Throughput::Elements(1));
    for fsync in [false, true] {
        let path = std::env::temp_dir().join(format!(
            "mm-bench-journal-{}-{fsync}.jsonl",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let (mut j, _) =
            FillJournal::open(&path, "ws://bench/ws/api/v2", "bench", fsync).expect("open");
        if fsync {
            g.sample_size(10);
            g.measurement_time(Duration::from_secs(5));
        }
        g.bench_function(if fsync { "write_fdatasync" } else { "write" }, |b| {
            b.iter(|| {
                j.append_fill(&trade, 4294967301, 641234, 1)
                    .expect("append")
            })
        });
        drop(j);
        let _ = std::fs::remove_file(&path);
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
