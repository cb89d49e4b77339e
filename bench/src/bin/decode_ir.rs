//! Driver for `bench/decode_ir.sh`: every decoder of the decode comparison (ours, serde_json,
//! simd-json, sonic-rs) over the same real frames, one `#[inline(never)]` function per
//! decoder so that `valgrind --tool=callgrind --toggle-collect` counts each one's
//! instructions separately.
//!
//! ```text
//! decode_ir --kind book|ticker|trades|user|binance_book
//! ```
//!
//! Prints `kind K frames N bytes B` (the frames each decoder was given once) and a checksum
//! per decoder. The `binance_book` kind is the first 2,000 book frames of the Binance
//! BTCUSDT 2024-07-18 tape re-hosted in Deribit protocol (the frames `callgrind.sh` counts).

use mm_bench::decode::{Corpus, Ours};
use mm_bench::deribit::{self, FrameKind};
use mm_bench::peers::{SerdeJson, SimdJson, SonicRs};
use std::hint::black_box;

#[inline(never)]
#[no_mangle]
fn mmb_ir_ours(d: &mut Ours, frames: &[(usize, &[u8])]) -> u64 {
    frames
        .iter()
        .fold(0u64, |a, &(t, f)| a.wrapping_add(d.decode(t, f)))
}

#[inline(never)]
#[no_mangle]
fn mmb_ir_serde_json(d: &mut SerdeJson, frames: &[(usize, &[u8])]) -> u64 {
    frames.iter().fold(0u64, |a, &(_, f)| {
        a.wrapping_add(d.decode(f).map_or(u64::MAX, |e| e.fold()))
    })
}

#[inline(never)]
#[no_mangle]
fn mmb_ir_simd_json(d: &mut SimdJson, frames: &[(usize, &[u8])]) -> u64 {
    frames.iter().fold(0u64, |a, &(_, f)| {
        a.wrapping_add(d.decode(f).map_or(u64::MAX, |e| e.fold()))
    })
}

#[inline(never)]
#[no_mangle]
fn mmb_ir_sonic_rs(d: &mut SonicRs, frames: &[(usize, &[u8])]) -> u64 {
    frames.iter().fold(0u64, |a, &(_, f)| {
        a.wrapping_add(d.decode(f).map_or(u64::MAX, |e| e.fold()))
    })
}

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = match (args.next().as_deref(), args.next()) {
        (Some("--kind"), Some(k)) => k,
        _ => {
            eprintln!("usage: decode_ir --kind book|ticker|trades|user|binance_book");
            std::process::exit(2);
        }
    };
    let mut corpus = Corpus::load();
    let frames: Vec<(usize, Vec<u8>)> = match kind.as_str() {
        "book" => owned(&corpus, FrameKind::Book),
        "ticker" => owned(&corpus, FrameKind::Ticker),
        "trades" => owned(&corpus, FrameKind::Trades),
        "user" => owned(&corpus, FrameKind::User),
        "binance_book" => {
            let tape = deribit::load_binance(
                "binance-btcusdt-2024-07-18",
                &["binance/usdm/btcusdt_20240718.gz"],
            )
            .unwrap_or_else(|e| {
                eprintln!("decode_ir: {e}");
                std::process::exit(1)
            });
            let frames = tape
                .of_kind(FrameKind::Book)
                .take(2000)
                .map(|f| (corpus.tapes.len(), f.bytes.clone()))
                .collect();
            corpus.tapes.push(tape);
            frames
        }
        other => {
            eprintln!("decode_ir: unknown kind {other}");
            std::process::exit(2);
        }
    };
    let frames: Vec<(usize, &[u8])> = frames.iter().map(|(t, f)| (*t, &f[..])).collect();
    let bytes: usize = frames.iter().map(|f| f.1.len()).sum();
    let max_len = frames.iter().map(|f| f.1.len()).max().unwrap_or(0);
    let mut ours = Ours::new(&corpus);
    let mut sj = SerdeJson::new(8192);
    let mut simd = SimdJson::new(max_len, 8192);
    let mut sonic = SonicRs::new(8192);
    println!("kind {kind} frames {} bytes {bytes}", frames.len());
    println!("ours {}", black_box(mmb_ir_ours(&mut ours, &frames)));
    println!(
        "serde_json {}",
        black_box(mmb_ir_serde_json(&mut sj, &frames))
    );
    println!(
        "simd_json {}",
        black_box(mmb_ir_simd_json(&mut simd, &frames))
    );
    println!(
        "sonic_rs {}",
        black_box(mmb_ir_sonic_rs(&mut sonic, &frames))
    );
}

fn owned(c: &Corpus, k: FrameKind) -> Vec<(usize, Vec<u8>)> {
    c.frames(k)
        .into_iter()
        .map(|(t, f)| (t, f.to_vec()))
        .collect()
}
