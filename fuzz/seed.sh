#!/usr/bin/env bash
# Seeds the fuzz corpora from the recorded Deribit data at run time (never committed):
# one frame per line of every message file, plus the first frames of each ws capture (md), and
# the requests our encoder and the captures send (sim). Usage: fuzz/seed.sh [DATA_DIR]
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
data="${1:-${MM_DATA_DIR:-$here/../../shared/data}}"
d="$data/deribit"
[ -d "$d" ] || { echo "no recorded data at $d (pass DATA_DIR or set MM_DATA_DIR)" >&2; exit 2; }
md="$here/corpus/deribit_md"; pv="$here/corpus/deribit_private"; sim="$here/corpus/sim_request"
mkdir -p "$md" "$pv" "$sim"
put() { # dir name < frame
  cat > "$1/$2"
}
# Message files: one frame per line (md and private decoders both get them).
for f in "$d"/messages/*.jsonl; do
  b=$(basename "$f" .jsonl); i=0
  while IFS= read -r line; do
    i=$((i+1)); [ -n "$line" ] || continue
    printf '%s' "$line" | put "$md" "$b-$i"
    printf '%s' "$line" | put "$pv" "$b-$i"
  done < "$f"
done
for f in "$d"/messages/nautilus/*; do
  b=$(basename "$f"); tr -d '\n' < "$f" | put "$pv" "nautilus-$b"; tr -d '\n' < "$f" | put "$md" "nautilus-$b"
done
# ws captures: the first 200 received frames (md) and every request sent (sim).
for c in cryptofeed-2021-04-05 cryptofeed-2021-04-17; do
  f="$d/$c/ws.capture"; [ -f "$f" ] || continue
  grep -E '^[0-9]+\.[0-9]+: ' "$f" | head -200 | sed -E 's/^[0-9.]+: //' | awk -v dir="$md" -v c="$c" '{ f = dir "/" c "-" NR; printf "%s", $0 > f; close(f) }'
  grep -E ' <- [0-9.]+: ' "$f" | sed -E 's/^.* <- [0-9.]+: //' | awk -v dir="$sim" -v c="$c" '{ f = dir "/" c "-" NR; printf "%s", $0 > f; close(f) }'
done
# tardis: first lines (normalized JSON, still useful shapes for the md decoder).
head -20 "$d/tardis-2019-04-01/BTC-PERPETUAL.book_change_trades.jsonl" | awk -v dir="$md" '{ f = dir "/tardis-" NR; printf "%s", $0 > f; close(f) }'
# Requests the engine sends (shapes of encode.rs), for the simulator.
cat > "$sim/engine-session" <<'REQ'
{"jsonrpc":"2.0","id":3,"method":"private/enable_cancel_on_disconnect","params":{"scope":"connection"}}
{"jsonrpc":"2.0","id":4,"method":"public/set_heartbeat","params":{"interval":10}}
{"jsonrpc":"2.0","id":5,"method":"private/subscribe","params":{"channels":["user.orders.any.any.raw","user.trades.any.any.raw"]}}
{"jsonrpc":"2.0","id":6,"method":"public/subscribe","params":{"channels":["book.BTC-PERPETUAL.raw","ticker.BTC-PERPETUAL.raw"]}}
{"jsonrpc":"2.0","id":7,"method":"private/buy","params":{"instrument_name":"BTC-PERPETUAL","amount":10,"type":"limit","price":4090.5,"post_only":true,"reject_post_only":true,"label":"mmf-1"}}
{"jsonrpc":"2.0","id":8,"method":"private/edit","params":{"order_id":"7000000001","amount":20,"price":4091,"post_only":true,"reject_post_only":true}}
{"jsonrpc":"2.0","id":9,"method":"private/cancel","params":{"order_id":"7000000001"}}
{"jsonrpc":"2.0","id":10,"method":"private/cancel_all","params":{}}
{"jsonrpc":"2.0","id":11,"method":"public/auth","params":{"grant_type":"client_signature","client_id":"mm-fast-sim","timestamp":1576074319000,"nonce":"1iqt2wls","data":"","signature":"56590594f97921b09b18f166befe0d1319b198bbcdad7ca73382de2f88fe9aa1"}}
REQ
for x in deribit_md deribit_private sim_request; do echo "$x: $(ls "$here/corpus/$x" | wc -l) seed inputs"; done
