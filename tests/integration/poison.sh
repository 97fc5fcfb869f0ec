#!/usr/bin/env bash
# Poison messages (contract section 4): every kind, published raw straight to
# a service's queue, goes to chorus.<service>.dead exactly once, byte for
# byte (an oversized body, never copied by the worker, as an empty one),
# with its reason code in the header x-chorus-reason; the worker logs
# one warning per poison message, stays up, and what is queued behind (or
# between) the poison is still handled. A body of exactly 64 KiB is not too
# large. Then dead replay (poison again: back to the dead queue, same
# reason) and dead purge.
. "$(dirname "$0")/lib.sh"

start_all_workers
fresh_dead_letters

sku="poison-sku-$RUN"; cust="poison-cust-$RUN"
ctl -q stock set "$sku" 10
ctl -q account set "$cust" 10000
ctl snapshot >"$WORK/base.json"

mkdir -p "$WORK/sent"
declare -A SENT=([order]=0 [inventory]=0 [payment]=0)
# poison SERVICE CODE FILE [ARGS...]: publish FILE's bytes raw to the
# service's queue (ARGS: more publish options); remember it.
poison() {
	local svc=$1 code=$2 file=$3 n
	shift 3
	n=$(find "$WORK/sent" -name '*.body' | wc -l)
	cp "$file" "$WORK/sent/$n.body"
	printf '%s %s\n' "$svc" "$code" >"$WORK/sent/$n.want"
	ctl -q publish --raw "@$file" --queue "chorus.$svc.events" "$@"
	SENT[$svc]=$((SENT[$svc] + 1))
}
# body FILE TEXT: write TEXT (no newline added) to FILE.
body() { printf '%s' "$2" >"$1"; }

created='{"order_id":"p-'$RUN'","customer_id":"'$cust'","items":[{"sku":"'$sku'","quantity":1}],"total_cents":100,"currency":"EUR"}'
# padded ID SIZE: a valid OrderCreated (order ID) of exactly SIZE bytes
padded() {
	python3 - "$(event OrderCreated "$(uuid)" "${created//p-$RUN/$1}")" "$2" <<'PY'
import json, sys
ev, size = json.loads(sys.argv[1]), int(sys.argv[2])
ev["data"]["pad"] = ""
body = json.dumps(ev, separators=(",", ":"))
ev["data"]["pad"] = "x" * (size - len(body.encode()))
sys.stdout.write(json.dumps(ev, separators=(",", ":")))
PY
}

# The order worker is down while the order-bound messages are sent, so that
# they reach it together (one batch, as far as no other worker takes some):
# poison between valid orders.
stop_worker order
sample_others
ctl -q order place --id "before-$RUN" --customer "$cust" --item "$sku:1" --total 100
B=$WORK/b
body "$B.1" "this is not json $RUN"
poison order invalid_json "$B.1"
body "$B.2" '[1,2,"'$RUN'"]'
poison inventory not_an_object "$B.2"
# no id
body "$B.3" '{"specversion":"1.0","source":"test/poison","type":"OrderCancelled","subject":"p-'$RUN'","data":{"order_id":"p-'$RUN'","reason":"test"}}'
poison payment missing_attribute "$B.3"
body "$B.4" "$(event OrderCreated "$(uuid)" "$created" | sed 's/"specversion":"1.0"/"specversion":"2.0"/')"
poison order bad_attribute "$B.4"
body "$B.5" "$(event OrderCreated "not-a-uuid-$RUN" "$created")"
poison inventory bad_attribute "$B.5"
body "$B.6" "$(event OrderShipped "$(uuid)" '{"order_id":"p-'$RUN'"}')"
poison payment unknown_type "$B.6"
body "$B.7" "$(event PaymentCompleted "$(uuid)" '{"order_id":"p-'$RUN'","payment_id":"pay-'$RUN'","customer_id":"'$cust'","amount_cents":100,"currency":"EUR"}')"
poison inventory unexpected_type "$B.7"
body "$B.8" "$(event OrderCreated "$(uuid)" "$created" | sed 's/"subject":"p-[^"]*"/"subject":"other-'$RUN'"/')"
poison order subject_mismatch "$B.8"
body "$B.9" "$(event OrderCreated "$(uuid)" '{"order_id":"p-'$RUN'","items":[{"sku":"'$sku'","quantity":1}],"total_cents":100,"currency":"EUR"}')"
poison inventory missing_field "$B.9"
body "$B.10" "$(event OrderCreated "$(uuid)" "${created/\"quantity\":1/\"quantity\":0}")"
poison order bad_field "$B.10"
body "$B.11" "$(event InventoryReserved "$(uuid)" '{"order_id":"p-'$RUN'","reservation_id":"r-'$RUN'","customer_id":"'$cust'","items":[{"sku":"'$sku'","quantity":1}],"total_cents":100,"currency":"eur"}')"
poison payment bad_field "$B.11"
# valid in every other way, one byte over 64 KiB; and a valid one of exactly 64 KiB
padded "p-$RUN" 65537 >"$B.12"
poison order too_large "$B.12"
# an oversized body is never copied by the worker: its dead letter has an empty body
: >"$WORK/sent/$(($(find "$WORK/sent" -name '*.body' | wc -l) - 1)).body"
padded "big-$RUN" 65536 >"$WORK/big.json"
ctl -q publish --raw "@$WORK/big.json" --exchange chorus.order --routing-key order.created
expect "sizes: 65537 and 65536 bytes" "$(stat -c %s "$B.12") $(stat -c %s "$WORK/big.json")" "65537 65536"
# invalid UTF-8: a lone 0xff byte, an overlong '/', a UTF-16 surrogate, inside strings
printf '{"specversion":"1.0","id":"%s","source":"test/poison","type":"OrderCreated","subject":"p-%s","data":{"order_id":"p-%s","customer_id":"c\xff","items":[{"sku":"s","quantity":1}],"total_cents":1,"currency":"EUR"}}' \
	"$(uuid)" "$RUN" "$RUN" >"$B.13"
poison inventory invalid_json "$B.13"
printf '{"specversion":"1.0","id":"%s","source":"test/\xc0\xafpoison","type":"OrderCreated","subject":"p-%s","data":{}}' "$(uuid)" "$RUN" >"$B.14"
poison order invalid_json "$B.14"
printf '{"specversion":"1.0","id":"%s","source":"test/poison","type":"OrderCancelled","subject":"p-%s","data":{"order_id":"p-%s","reason":"\xed\xa0\x80"}}' "$(uuid)" "$RUN" "$RUN" >"$B.15"
poison payment invalid_json "$B.15"
# AMQP properties of the poison message are kept on the dead letter
pid=$(uuid)
body "$B.16" "$(event OrderCreated "$pid" "$created" | sed 's/"source":"[^"]*",//')"
poison order missing_attribute "$B.16" --type OrderCreated --message-id "$pid"
# a duplicate member name (json-c alone would keep the last one)
body "$B.17" "$(event OrderCancelled "$(uuid)" '{"order_id":"p-'$RUN'","reason":"test"}' | sed 's/"type":/"id":"'"$(uuid)"'","type":/')"
poison payment invalid_json "$B.17"
# AMQP type and message_id that are not the body's
body "$B.18" "$(event OrderCreated "$(uuid)" "$created")"
poison order property_mismatch "$B.18" --type OrderCancelled
mid=$(uuid)
body "$B.19" "$(event OrderCreated "$(uuid)" "$created")"
poison inventory property_mismatch "$B.19" --type OrderCreated --message-id "$mid"

# right behind the poison: a valid order goes through
ctl -q order place --id "after-$RUN" --customer "$cust" --item "$sku:1" --total 100
sample_others
start_worker order
for id in before big after; do
	ctl -q order wait "$id-$RUN" --timeout 30
	expect "valid order $id-$RUN, queued among the poison, completes" "$(order_status "$id-$RUN")" "CONFIRMED"
done

dead_at_least() { [ "$(dead_count "$1")" -ge "$2" ]; }
for s in order inventory payment; do
	wait_until "${SENT[$s]} dead letters in chorus.$s.dead" 30 dead_at_least "$s" "${SENT[$s]}"
done
wait_drained 60
sample_others
for s in order inventory payment; do
	n=$(dead_count "$s")
	expect "chorus.$s.dead holds the ${SENT[$s]} poison messages sent to $s" "$((n >= SENT[$s]))" "1"
	[ "$n" -eq "${SENT[$s]}" ] || log "note: chorus.$s.dead holds $((n - SENT[$s])) dead letter(s) of another test too"
	ctl --json dead show "$s" --limit 100 >"$WORK/dead-$s.json"
done

# match each sent body with exactly one dead letter of its service, byte for byte
python3 - "$WORK" <<'EOF' >"$WORK/match.txt"
import base64, glob, json, os, sys
work = sys.argv[1]
dead = {}
for svc in ("order", "inventory", "payment"):
    dead[svc] = json.load(open(os.path.join(work, "dead-%s.json" % svc)))
    for d in dead[svc]:
        # a body that is not UTF-8 comes as base64 (JSON holds text only)
        d["bytes"] = base64.b64decode(d["body_base64"]) if d.get("body_base64") else d["body"].encode()
for f in sorted(glob.glob(os.path.join(work, "sent", "*.body")), key=lambda p: int(os.path.basename(p)[:-5])):
    body = open(f, "rb").read()
    svc, code = open(f[:-5] + ".want").read().split()
    hits = [d for d in dead[svc] if d["bytes"] == body]
    reasons = sorted(set((d.get("headers") or {}).get("x-chorus-reason", "") for d in hits))
    ok = len(hits) == 1 and all(r.split(":")[0] == code for r in reasons)
    print("%s %s %s %d %s" % ("ok" if ok else "bad", svc, code, len(hits), reasons[0] if reasons else "-"))
EOF
while read -r verdict svc code hits reason; do
	expect "$svc: $code dead-lettered once, same bytes, reason ${reason%%:*}" "$verdict $hits" "ok 1"
done <"$WORK/match.txt"
expect "every poison message matched" "$(wc -l <"$WORK/match.txt")" "19"
expect "the dead letter keeps message_id and type" "$(python3 -c '
import json,sys
d=json.loads(open(sys.argv[1],"rb").read().decode("utf-8","surrogateescape"))
print(" ".join("%s %s" % (m["message_id"], m["type"]) for m in d if m["message_id"] == sys.argv[2]))' "$WORK/dead-order.json" "$pid")" "$pid OrderCreated"
expect "dead letters carry x-chorus-service and the original routing" \
	"$(python3 -c '
import base64,json,sys
d=json.loads(open(sys.argv[1],"rb").read().decode("utf-8","surrogateescape"))
text=lambda m: m["body"] if m["body"] is not None else base64.b64decode(m["body_base64"]).decode("utf-8","replace")
mine=[m for m in d if sys.argv[2] in text(m)]
print(len(mine), all(m["headers"].get("x-chorus-service")=="order" and m["headers"].get("x-original-routing-key")=="chorus.order.events" for m in mine))' "$WORK/dead-order.json" "$RUN")" "7 True"

# one warning per poison message, and the workers are still up
for s in order inventory payment; do
	expect "worker $s still running" "$(worker_alive "$s" && echo up)" "up"
	if ! others_seen "$s"; then
		expect "worker $s logged one warning per poison message" \
			"$(log_count "$s" 'level=warn.*poison message dead-lettered')" "${SENT[$s]}"
	else
		log "note: other workers consumed chorus.$s.events too; warnings counted up to ${SENT[$s]}"
		expect "worker $s logged at most one warning per poison message" \
			"$(( $(log_count "$s" 'level=warn.*poison message dead-lettered') <= SENT[$s] ))" "1"
	fi
done

# --- replay: poison again, so back to the dead queue with the same reason ---
s=order
ctl --json dead show "$s" --limit 1 >"$WORK/replayed.json"
first=$(python3 -c '
import json,sys
d=json.loads(open(sys.argv[1],"rb").read().decode("utf-8","surrogateescape"))
print(d[0]["headers"]["x-chorus-reason"].split(":")[0])' "$WORK/replayed.json")
warned=$(log_count "$s" 'poison message dead-lettered')
before=$(dead_count "$s")
ctl -q dead replay "$s" --limit 1
dead_is() { [ "$(dead_count "$1")" = "$2" ]; }
wait_until "the replayed dead letter back in chorus.$s.dead" 30 dead_is "$s" "$before"
wait_drained 60
expect "after replay chorus.$s.dead holds as many as before" "$(dead_count "$s")" "$before"
ctl --json dead show "$s" --limit 100 >"$WORK/dead-$s-2.json"
expect "the replayed message is dead-lettered again, same bytes, same reason ($first)" "$(python3 -c '
import json,sys
ld=lambda p: json.loads(open(p,"rb").read().decode("utf-8","surrogateescape"))
r=ld(sys.argv[1])[0]; d=ld(sys.argv[2])
key=lambda m: (m["body"], m.get("body_base64"))
hits=[m for m in d if key(m)==key(r)]
print(len(hits), hits[0]["headers"]["x-chorus-reason"].split(":")[0] if hits else "-")' "$WORK/replayed.json" "$WORK/dead-$s-2.json")" "1 $first"
sample_others
if ! others_seen "$s"; then
	expect "one more warning for the replayed poison" "$(log_count "$s" 'poison message dead-lettered')" "$((warned + 1))"
fi

# --- purge ------------------------------------------------------------------
for s in order inventory payment; do
	ctl -q dead purge "$s"
	expect "dead purge $s empties chorus.$s.dead" "$(dead_count "$s")" "0"
done

quiet_and_check "$WORK/base.json"
finish
