#!/usr/bin/env bash
# A message RabbitMQ dead-letters itself shows its reason in chorusctl dead
# like every other dead letter: one delivered again x-delivery-limit (20) times
# without an ack (a crash loop: here each delivery is rejected back to the
# queue, which counts the same) lands in chorus.payment.dead with x-death,
# and dead show gives "delivery_limit: dead-lettered by RabbitMQ from
# chorus.payment.events" and where it was first published.
. "$(dirname "$0")/lib.sh"

mgmt="${CHORUS_MGMT_URL%/}/api"
log "payment consumers (none of this test's; the delivery loop needs none): $(foreign_consumers payment)"
id="dl-limit-$RUN"
mid=$(uuid)
body=$(event OrderCancelled "$mid" "{\"order_id\":\"$id\",\"reason\":\"timeout\"}")
ctl -q publish --raw "$body" --queue chorus.payment.events --message-id "$mid" --type OrderCancelled
# deliver it and give it back, as a worker that crashes on it would, until the broker gives up
reject() {
	curl -sf -u guest:guest -X POST -H 'content-type: application/json' \
		-d '{"count":1,"ackmode":"reject_requeue_true","encoding":"auto"}' \
		"$mgmt/queues/%2F/chorus.payment.events/get" |
		python3 -c 'import json, sys; print(sum(m["properties"].get("message_id") == sys.argv[1] for m in json.load(sys.stdin)))' "$mid"
}
n=0
while [ "$(reject)" = 1 ]; do
	n=$((n + 1))
	[ "$n" -le 30 ] || break
done
expect "delivered once and again 20 times (the limit), then gone from the queue" "$n" "21"
show() { ctl --json dead show payment --limit 100000 | python3 -c '
import json, sys
for m in json.load(sys.stdin):
    if m["message_id"] == sys.argv[1]:
        print(m["reason"] + "|" + m["exchange"] + "|" + m["routing_key"] + "|" + m["body"][:40])' "$mid"; }
expect "dead show: the broker's reason and the original route" "$(show)" \
	"delivery_limit: dead-lettered by RabbitMQ from chorus.payment.events||chorus.payment.events|${body:0:40}"
expect "dead show (text): the reason" \
	"$(ctl dead show payment --limit 100000 | grep -A6 "message_id: $mid" | grep -c 'reason:     delivery_limit: dead-lettered by RabbitMQ from chorus.payment.events')" "1"
# replayed (after the fix): the worker takes it this time
start_worker payment
ctl -q dead replay payment
wait_until "the replayed message consumed" 30 sql_is payment "SELECT count(*) FROM inbox WHERE order_id = '$id'" 1
expect "no longer a dead letter" "$(dead_mine)" "0"
finish
