#!/usr/bin/env bash
# No publish is silently dropped: an outbox event that no queue (not even
# the alternate exchange's) takes is returned by the broker (mandatory),
# stays pending with its error, is logged, and is published once it can be
# routed again.
. "$(dirname "$0")/lib.sh"

start_all_workers
ctl snapshot >"$WORK/base.json"
mgmt="${CHORUS_MGMT_URL%/}/api"
unbind() { curl -sf -u guest:guest -X DELETE "$mgmt/bindings/%2F/e/chorus.unrouted/q/chorus.unrouted/~" >/dev/null; }

# the alternate exchange routes nowhere now: unroutable means returned
unbind
id=$(uuid); oid="u-$RUN"
body=$(event OrderConfirmed "$id" "{\"order_id\":\"$oid\"}")
# an event with a routing key no queue is bound to, written as a worker would
sql order "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, routing_key)
	VALUES ('$id', 'order', '$oid', 'OrderConfirmed', '$body'::jsonb, 'order.nobody.listens')" >/dev/null
row() { sql order "SELECT (published_at IS NOT NULL) || ':' || (attempts > 0) FROM outbox WHERE id = '$id'"; }
returned() { [ "$(row)" = "false:true" ]; }
wait_until "the event returned as unroutable" 30 returned
expect "returned event stays pending, attempts counted" "$(row)" "false:true"
expect "its error is recorded" "$(sql order "SELECT last_error FROM outbox WHERE id = '$id'")" "returned or nacked by the broker"
expect "the return is logged with the event id" \
	"$(grep -c "publish returned as unroutable\" event_id=$id" "$WORK/order.log")" "1"

# routable again (the alternate exchange's queue bound back): it goes out
ctl -q declare
published() { [ "$(row | cut -d: -f1)" = "true" ]; }
wait_until "the pending event published once routable" 30 published
expect "the event is published after all" "$(row | cut -d: -f1)" "true"
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
