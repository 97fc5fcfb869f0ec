#!/usr/bin/env bash
# chorusctl trace: one saga's timeline across the three services, with one
# trace id, each emitted event linked to the consumed event that caused it,
# and the order's dead letters.
. "$(dirname "$0")/lib.sh"

start_all_workers
ctl -q stock set "tx-$RUN" 3
ctl -q account set "tc-$RUN" 1000
ctl snapshot >"$WORK/base.json"
id="t-$RUN"
ctl -q order place --id "$id" --customer "tc-$RUN" --item "tx-$RUN:1" --total 100 --wait 30 >/dev/null
ctl -q wait-quiet --timeout 30
# a poison message about this order, for the dead-letter part of the timeline
ctl -q publish --raw "{\"specversion\":\"1.0\",\"id\":\"nope\",\"subject\":\"$id\"}" --queue chorus.payment.events
end=$((SECONDS + 20))
until [ "$(dead_count payment)" -ge 1 ] || [ "$SECONDS" -ge "$end" ]; do sleep 0.1; done

ctl --json trace "$id" >"$WORK/trace.json"
py() { python3 -c "import json,sys; t=json.load(open('$WORK/trace.json')); $1"; }
expect "timeline has each service's steps" \
	"$(py 'print(sorted({e["service"] for e in t}))')" "['inventory', 'order', 'payment']"
expect "events emitted in saga order" \
	"$(py 'print(",".join(e["type"] for e in t if e["what"] == "emitted"))')" \
	"InventoryReserved,PaymentCompleted,OrderConfirmed"
expect "one trace id across every hop" \
	"$(py 'print(len({e["trace_id"] for e in t if e["trace_id"] != "-"}))')" "1"
expect "InventoryReserved was caused by the OrderCreated" \
	"$(py 'c={e["type"]: e for e in t if e["what"] == "consumed"}; r=[e for e in t if e["type"] == "InventoryReserved" and e["what"] == "emitted"][0]; print(r["caused_by"] == c["OrderCreated"]["event_id"])')" "True"
expect "every emitted event was published" \
	"$(py 'print(all("published" in e["detail"] and "NOT" not in e["detail"] for e in t if e["what"] == "emitted"))')" "True"
expect "the dead letter is on the timeline with its reason" \
	"$(py 'print([e["detail"].split(":")[1].strip() for e in t if e["what"] == "dead-lettered"])')" "['bad_attribute']"
expect "text output has a header and a line per step" \
	"$(ctl trace "$id" | wc -l)" "$(( $(py 'print(len(t))') + 1 ))"
ctl trace "nobody-$RUN" >/dev/null 2>&1 && rc=0 || rc=$?
expect "unknown order: exit 66" "$rc" "66"

ctl -q dead purge payment
quiet_and_check "$WORK/base.json"
finish
