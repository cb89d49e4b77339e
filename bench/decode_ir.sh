#!/usr/bin/env bash
# Deterministic instruction counts of JSON decoding: ours vs serde_json, simd-json and sonic-rs
# on the same real frames (the peers decode into typed serde structs extracting the same
# fields; see src/peers.rs).
#
# Builds the `decode_ir` driver (mm-bench, feature `peers`), runs it under
# `valgrind --tool=callgrind` once per frame kind with collection on only inside the four
# decoder functions, and prints per kind the instructions per frame byte (Ir/byte) of each
# decoder and the peers' counts as multiples of ours (> 1: the peer executes more
# instructions). Kinds: book, ticker, trades, user (the `compare` decode workload) and
# binance_book (2,000 re-hosted Binance book frames, the frames that dominate callgrind.sh's
# decode figure).
#
# Usage: bench/decode_ir.sh [--kind K]...
# Works from any directory. Env: CARGO_TARGET_DIR (default: the workspace's target/),
# MM_DATA_DIR (recorded data, default ../shared/data beside the repository).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ws="$(cd "$here/.." && pwd)"
kinds=()
while [ $# -gt 0 ]; do
    case "$1" in
        --kind) kinds+=("$2"); shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "decode_ir.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[ ${#kinds[@]} -eq 0 ] && kinds=(book ticker trades user binance_book)

command -v valgrind >/dev/null || { echo "decode_ir.sh: valgrind not installed" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ws/target}"
(cd "$ws" && cargo build --release -p mm-bench --features peers --bin decode_ir >&2)
bin="$CARGO_TARGET_DIR/release/decode_ir"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cd "$out"

decoders=(ours serde_json simd_json sonic_rs)
incl() {
    callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
        awk -v f="mmb_ir_$2 [" 'index($0, f) && $1 ~ /^[0-9,]+$/ && !done { gsub(",", "", $1); print $1; done = 1 }'
}

printf '%-13s %6s %9s %10s %10s %10s %10s   %s\n' kind frames bytes \
    ours serde_json simd_json sonic_rs "peer Ir / our Ir (serde, simd, sonic)"
for k in "${kinds[@]}"; do
    f="$out/callgrind.$k.out"
    toggles=()
    for d in "${decoders[@]}"; do toggles+=(--toggle-collect="mmb_ir_$d"); done
    line="$(valgrind --tool=callgrind --callgrind-out-file="$f" --collect-atstart=no \
        "${toggles[@]}" "$bin" --kind "$k" 2>"$out/valgrind.$k.log" | grep '^kind ')" || {
        echo "decode_ir.sh: run failed for $k" >&2
        cat "$out/valgrind.$k.log" >&2
        exit 1
    }
    frames="$(awk '{print $4}' <<<"$line")"
    bytes="$(awk '{print $6}' <<<"$line")"
    ir=()
    for d in "${decoders[@]}"; do
        v="$(incl "$f" "$d")"
        [ -n "$v" ] || { echo "decode_ir.sh: no count for $d on $k" >&2; exit 1; }
        ir+=("$v")
    done
    awk -v k="$k" -v fr="$frames" -v b="$bytes" -v o="${ir[0]}" -v s="${ir[1]}" \
        -v m="${ir[2]}" -v r="${ir[3]}" 'BEGIN {
        printf "%-13s %6d %9d %10.2f %10.2f %10.2f %10.2f   %.2fx %.2fx %.2fx\n",
            k, fr, b, o / b, s / b, m / b, r / b, s / o, m / o, r / o }'
done
echo "(columns ours..sonic_rs: instructions per frame byte, Ir/byte)"
