#!/usr/bin/env bash
# No publish is silently dropped: an outbox event that no queue (not even
# the alternate exchange's) takes is returned by the broker (mandatory),
# stays pending with its error, is logged, and is published once it can be
# routed again. More such events than one relay round reads (relay_batch 3,
# 5 events) hold up nothing else: a saga placed meanwhile completes.
. "$(dirname "$0")/lib.sh"

start_worker order order -o relay_batch=3
start_worker inventory
start_worker payment
ctl snapshot >"$WORK/base.json"
mgmt="${CHORUS_MGMT_URL%/}/api"
unbind() { curl -sf -u guest:guest -X DELETE "$mgmt/bindings/%2F/e/chorus.unrouted/q/chorus.unrouted/~" >/dev/null; }

# the alternate exchange routes nowhere now: unroutable means returned
unbind
ids=()
for k in 1 2 3 4 5; do
	id=$(uuid); oid="u$k-$RUN"
	body=$(event OrderConfirmed "$id" "{\"order_id\":\"$oid\"}")
	# an event with a routing key no queue is bound to, written as a worker would
	sql order "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, routing_key)
		VALUES ('$id', 'order', '$oid', 'OrderConfirmed', '$body'::json, 'order.nobody.listens')" >/dev/null
	ids+=("$id")
done
row() { sql order "SELECT (published_at IS NOT NULL) || ':' || (attempts > 0) FROM outbox WHERE id = '$id'"; }
mine() { sql order "SELECT count(*) FILTER (WHERE published_at IS NULL AND attempts > 0) || ':' || count(*) FILTER (WHERE published_at IS NOT NULL) FROM outbox WHERE aggregateid LIKE 'u_-$RUN'"; }
returned() { [ "$(mine)" = "5:0" ]; }
wait_until "the 5 events returned as unroutable" 30 returned
expect "returned events stay pending, attempts counted" "$(mine)" "5:0"
expect "returned event stays pending, attempts counted" "$(row)" "false:true"

# a saga placed now completes: the stuck events are not in its way
ctl -q stock set "ux-$RUN" 1
ctl -q account set "uc-$RUN" 100
ctl -q order place --id "uok-$RUN" --customer "uc-$RUN" --item "ux-$RUN:1" --total 100 --wait 30 >/dev/null
expect "a saga completes while 5 unroutable events wait" "$(order_status "uok-$RUN")" "CONFIRMED"
expect "its reservation was sold (OrderConfirmed published)" \
	"$(sql inventory "SELECT status FROM reservations WHERE order_id = 'uok-$RUN'")" "SOLD"
expect "the unroutable events are still pending" "$(mine | cut -d: -f2)" "0"
expect "its error is recorded" "$(sql order "SELECT last_error FROM outbox WHERE id = '$id'")" "returned or nacked by the broker"
# (once or more: it is tried again after a backoff of a second while unroutable)
expect "the return is logged with the event id" \
	"$([ "$(grep -c "publish returned as unroutable\" event_id=$id" "$WORK/order.log")" -ge 1 ] && echo yes)" "yes"

# routable again (the alternate exchange's queue bound back): they go out
ctl -q declare
published() { [ "$(mine)" = "0:5" ]; }
# each event is tried again after its backoff (2^attempts s, at most 64 s);
# on a loaded machine the attempts above may have taken it near the top
wait_until "the pending events published once routable" 100 published
expect "the events are published after all" "$(mine)" "0:5"
# it sits in chorus.unrouted, the catch-all: nothing was dropped
found=$(python3 - "$mgmt" "$id" <<'PY'
import base64, json, sys, urllib.request
api, want = sys.argv[1], sys.argv[2]
req = urllib.request.Request(api + "/queues/%2F/chorus.unrouted/get", method="POST",
    data=json.dumps({"count": 1000, "ackmode": "ack_requeue_true", "encoding": "auto"}).encode(),
    headers={"Content-Type": "application/json",
             "Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()})
msgs = json.load(urllib.request.urlopen(req, timeout=10))
print(sum(m["properties"].get("message_id") == want for m in msgs))
PY
)
expect "the event is in chorus.unrouted" "$found" "1"
curl -sf -u guest:guest -X DELETE "$mgmt/queues/%2F/chorus.unrouted/contents" >/dev/null
quiet_and_check "$WORK/base.json"
finish
