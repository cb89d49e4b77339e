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
# Reconciliation, mass quotes and MMP (issue 4): what the gateway sends after a reconnect and in
# mass-quote mode.
cat > "$sim/engine-reconcile-mass-quote" <<'REQ'
{"jsonrpc":"2.0","id":12,"method":"private/get_open_orders_by_currency","params":{"currency":"BTC"}}
{"jsonrpc":"2.0","id":13,"method":"private/get_user_trades_by_currency","params":{"currency":"BTC","start_id":"1","count":1000,"sorting":"asc"}}
{"jsonrpc":"2.0","id":14,"method":"private/get_positions","params":{"currency":"BTC"}}
{"jsonrpc":"2.0","id":15,"method":"private/set_mmp_config","params":{"index_name":"btc_usd","mmp_group":"mmf","interval":1,"frozen_time":5,"quantity_limit":1,"delta_limit":0.5}}
{"jsonrpc":"2.0","id":16,"method":"private/mass_quote","params":{"quote_id":"1","mmp_group":"mmf","detailed":true,"valid_until":99999999999999,"quotes":[{"instrument_name":"BTC-PERPETUAL","quote_set_id":"mmf","bid":{"price":4090.5,"amount":10,"post_only":true,"reject_post_only":true},"ask":{"price":4095,"amount":10}}]}}
{"jsonrpc":"2.0","id":17,"method":"private/cancel_quotes","params":{"cancel_type":"all","freeze_quotes":true}}
{"jsonrpc":"2.0","id":18,"method":"private/reset_mmp","params":{"index_name":"btc_usd","mmp_group":"mmf"}}
{"jsonrpc":"2.0","id":19,"method":"private/get_mmp_config","params":{"index_name":"btc_usd"}}
REQ
# Private replies of those (dossier §5.6 example, §5.8 trigger).
printf '%s' '{"jsonrpc":"2.0","id":7859,"result":{"errors":[{"instrument_name":"BTC-PERPETUAL","side":"bid","error":{"message":"price_too_high 43666.4288","code":10007}}],"orders":[{"quote":true,"quote_set_id":"futures","quote_id":"1","mmp_group":"default","mmp":true,"instrument_name":"BTC-PERPETUAL","order_id":"6653855","order_state":"open","time_in_force":"good_til_cancelled","price":43800,"direction":"sell","amount":10,"filled_amount":0,"label":"","post_only":false}],"trades":[]}}' | put "$pv" mass-quote-reply
printf '%s' '{"jsonrpc":"2.0","method":"subscription","params":{"channel":"user.mmp_trigger.btc_usd","data":{"index_name":"btc_usd","mmp_group":"mmf","frozen_until":1703162555180}}}' | put "$pv" mmp-trigger
printf '%s' '{"jsonrpc":"2.0","id":13,"result":{"trades":[],"has_more":false}}' | put "$pv" user-trades-page
for x in deribit_md deribit_private sim_request; do echo "$x: $(ls "$here/corpus/$x" | wc -l) seed inputs"; done
