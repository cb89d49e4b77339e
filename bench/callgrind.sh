#!/usr/bin/env bash
# Deterministic instruction counts of the hot path under callgrind.
#
# Builds the `hotstep` driver (mm-bench, no peer crates), then for every tape (all
# deribit/cryptofeed-*/ws.capture and the Binance USD-M tapes re-hosted in Deribit protocol)
# runs it under `valgrind --tool=callgrind` with collection switched on only inside
#   mmb_decode_frame  (our Deribit decoder, one frame)   and
#   mmb_hot_step      (engine on_md, one market-data event: book → quote decision → intents),
# and reads each function's inclusive instruction count (Ir) from callgrind_annotate.
# Loading the tapes, and the simulated venue acks between steps, are not counted.
#
# Prints per-tape detail, then as its LAST two lines:
#   instructions_per_event N        (Σ hot-step Ir / Σ events)
#   decode_instructions_per_byte N  (Σ decode Ir / Σ frame bytes)
#
# Usage: bench/callgrind.sh [--top] [--keep DIR] [--tape NAME]...
#   --top       also print the 10 functions with the highest inclusive Ir inside the decoder
#               and inside the hot step (two extra passes over every tape)
#   --keep DIR  keep the callgrind.out files in DIR (default: a temp dir, removed at exit)
#   --tape NAME only these tapes (see `hotstep --list`)
# Works from any directory. Env: CARGO_TARGET_DIR (default: the workspace's target/),
# MM_DATA_DIR (recorded data, default ../shared/data beside the repository).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ws="$(cd "$here/.." && pwd)"
top=0
keep=""
tapes=()
while [ $# -gt 0 ]; do
    case "$1" in
        --top) top=1 ;;
        --keep) keep="$2"; shift ;;
        --tape) tapes+=("$2"); shift ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "callgrind.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not installed" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ws/target}"
(cd "$ws" && cargo build --release -p mm-bench --bin hotstep >&2)
bin="$CARGO_TARGET_DIR/release/hotstep"

if [ -n "$keep" ]; then
    mkdir -p "$keep"
    out="$(cd "$keep" && pwd)"
else
    out="$(mktemp -d)"
    trap 'rm -rf "$out"' EXIT
fi

# callgrind_annotate shortens file names under the current directory and then drops the
# "[object]" suffix that marks whole-function lines, which `incl`/`top10` rely on: run it
# from the output directory.
cd "$out"

if [ ${#tapes[@]} -eq 0 ]; then
    mapfile -t tapes < <("$bin" --list)
fi

# Inclusive Ir of function $2 from callgrind.out file $1 (the whole-function line, which
# callgrind_annotate suffixes with the binary name; lines without it are inlined parts).
incl() {
    callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
        awk -v f="$2 [" 'index($0, f) && $1 ~ /^[0-9,]+$/ && !done { gsub(",", "", $1); print $1; done = 1 }'
}

# The 10 functions with the highest inclusive Ir inside $2 (whole functions only), $2 first.
top10() {
    callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
        awk -v f="$2 [" '
            $1 ~ /^[0-9,]+$/ && / \[[^]]*\]$/ && !/\?\?\?:/ {
                v = $1; gsub(",", "", v)
                if (index($0, f)) { lim = v }
                if (lim && v + 0 <= lim + 0 && n < 11) {
                    line = $0; sub(/ \[[^]]*\]$/, "", line)
                    sub(/\([ 0-9.]+%\) +/, "", line)
                    sub(/ [^ ]*\.rs:/, " ", line)
                    printf "  %5.1f%%  %s\n", 100 * v / lim, line
                    n++
                }
            }'
}

sum_ev=0; sum_b=0; sum_hot=0; sum_dec=0
printf '%-30s %8s %10s %9s %14s %14s %10s %10s\n' tape frames bytes events hot_Ir decode_Ir Ir/event Ir/byte
for t in "${tapes[@]}"; do
    f="$out/callgrind.$t.out"
    line="$(valgrind --tool=callgrind --callgrind-out-file="$f" --collect-atstart=no \
        --toggle-collect='*mmb_decode_frame*' --toggle-collect='*mmb_hot_step*' \
        "$bin" --tape "$t" 2>"$out/valgrind.$t.log" | grep '^tape ')" || {
        echo "callgrind.sh: run failed for $t (log: $out/valgrind.$t.log)" >&2
        cat "$out/valgrind.$t.log" >&2
        exit 1
    }
    frames="$(sed -n 's/.* frames=\([0-9]*\).*/\1/p' <<<"$line")"
    bytes="$(sed -n 's/.* bytes=\([0-9]*\).*/\1/p' <<<"$line")"
    events="$(sed -n 's/.* events=\([0-9]*\).*/\1/p' <<<"$line")"
    hot="$(incl "$f" mmb_hot_step)"
    dec="$(incl "$f" mmb_decode_frame)"
    if [ -z "$hot" ] || [ -z "$dec" ] || [ "${events:-0}" -eq 0 ]; then
        echo "callgrind.sh: could not read counts for $t" >&2
        exit 1
    fi
    awk -v t="$t" -v fr="$frames" -v b="$bytes" -v e="$events" -v h="$hot" -v d="$dec" \
        'BEGIN { printf "%-30s %8d %10d %9d %14d %14d %10.1f %10.2f\n", t, fr, b, e, h, d, h / e, d / b }'
    sum_ev=$((sum_ev + events)); sum_b=$((sum_b + bytes))
    sum_hot=$((sum_hot + hot)); sum_dec=$((sum_dec + dec))
done

if [ "$top" -eq 1 ]; then
    targs=()
    for t in "${tapes[@]}"; do targs+=(--tape "$t"); done
    for fn in mmb_decode_frame mmb_hot_step; do
        f="$out/callgrind.top.$fn.out"
        valgrind --tool=callgrind --callgrind-out-file="$f" --collect-atstart=no \
            --toggle-collect="*$fn*" "$bin" "${targs[@]}" >/dev/null 2>>"$out/valgrind.top.log"
        echo "top 10 inclusive inside $fn (all tapes; Ir, % of $fn):"
        top10 "$f" "$fn"
    done
fi

awk -v h="$sum_hot" -v e="$sum_ev" -v d="$sum_dec" -v b="$sum_b" 'BEGIN {
    printf "total events=%d bytes=%d hot_Ir=%d decode_Ir=%d\n", e, b, h, d
    printf "instructions_per_event %.1f\n", h / e
    printf "decode_instructions_per_byte %.2f\n", d / b
}'
