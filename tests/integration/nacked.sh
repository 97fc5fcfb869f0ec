#!/usr/bin/env bash
# An event the broker nacks (a queue that cannot take it now: here
# chorus.payment.events over a max-length of 0, with its reject-publish
# overflow; in a cluster, a quorum queue whose leader just died) stays in
# the worker's outbox with its error and goes out soon after the queue takes
# it again: the backoff of a nacked row stops at 5 s (a returned one, which
# no queue took, goes up to 64 s: unroutable.sh). After a nack the relay
# publishes on a new channel (a RabbitMQ 3.10 channel can keep nacking
# publishes to a quorum queue whose leader was dead when it first published
# to it; see docs/deployment.md).
. "$(dirname "$0")/lib.sh"

mgmt="${CHORUS_MGMT_URL%/}/api"
policy="chorus-test-full-$RUN"
queue_full() {	# PUT (on) or DELETE (off) the policy that makes the payment queue refuse
	if [ "$1" = on ]; then
		curl -sf -u guest:guest -X PUT -H 'content-type: application/json' \
			-d '{"pattern":"^chorus\\.payment\\.events$","definition":{"max-length":0},"apply-to":"queues","priority":99}' \
			"$mgmt/policies/%2F/$policy" >/dev/null
	else
		curl -sf -u guest:guest -X DELETE "$mgmt/policies/%2F/$policy" >/dev/null
	fi
}
effective() {	# the max-length in force on the payment queue, or "none"
	curl -sf -u guest:guest "$mgmt/queues/%2F/chorus.payment.events" |
		python3 -c 'import json, sys
d = json.load(sys.stdin).get("effective_policy_definition") or {}
print(d.get("max-length", "none") if isinstance(d, dict) else "none")'
}
trap 'queue_full off 2>/dev/null || true; cleanup' EXIT

log "payment consumers (none of this test's; the queue must keep its filler): $(foreign_consumers payment)"
start_worker order
start_worker inventory
ctl snapshot >"$WORK/base.json"
sku="nk-sku-$RUN"; cust="nk-cust-$RUN"; oid="nk-$RUN"
ctl -q stock set "$sku" 10
ctl -q account set "$cust" 10000

# one message in the queue (the payment worker takes it later: an
# OrderCancelled of an order it never saw changes nothing), then the limit
fill=$(uuid)
ctl -q publish --raw "$(event OrderCancelled "$fill" "{\"order_id\":\"nk-fill-$RUN\",\"reason\":\"timeout\"}")" \
	--queue chorus.payment.events --message-id "$fill" --type OrderCancelled
queue_full on
in_force() { [ "$(effective)" = 0 ]; }
wait_until "the max-length policy in force on chorus.payment.events" 30 in_force
expect "max-length 0 in force on chorus.payment.events" "$(effective)" "0"

ctl -q order place --id "$oid" --customer "$cust" --item "$sku:1" --total 100
ir() { sql inventory "SELECT (published_at IS NOT NULL) || ':' || coalesce(last_error, '') FROM outbox WHERE aggregateid = '$oid' AND type = 'InventoryReserved'"; }
nacked() { [ "$(ir)" = "false:nacked by the broker" ]; }
wait_until "InventoryReserved of $oid nacked" 30 nacked
expect "its InventoryReserved stays in the inventory outbox, nacked" "$(ir)" "false:nacked by the broker"
wait_log inventory 'msg="outbox relay publishes on a new channel after nacks"' 10
expect "the relay publishes on a new channel after the nack" \
	"$(log_count inventory 'outbox relay publishes on a new channel after nacks' | awk '{ print ($1 >= 1) ? "yes" : "no" }')" "yes"
# refused for a while: with the backoff of a returned row (1, 2, 4, 8, 16 s)
# the next attempt would come 10 s or more after the queue takes it again
sleep 18	# the outage lasts this long on purpose
expect "still pending while the queue refuses" "$(ir | cut -d: -f1)" "false"
attempts=$(sql inventory "SELECT attempts FROM outbox WHERE aggregateid = '$oid' AND type = 'InventoryReserved'")
log "attempts while refused: $attempts"
expect "tried again while refused (more than 3 attempts in 18 s)" "$([ "$attempts" -gt 3 ] && echo yes || echo "no: $attempts")" "yes"

queue_full off
t_off=$(sql inventory "SELECT extract(epoch FROM now())")
published() { [ "$(ir | cut -d: -f1)" = "true" ]; }
wait_until "InventoryReserved of $oid published once the queue takes it" 30 published
delay=$(sql inventory "SELECT round(extract(epoch FROM published_at) - $t_off) FROM outbox WHERE aggregateid = '$oid' AND type = 'InventoryReserved'")
log "published ${delay}s after the queue took messages again"
expect "published within 8 s of the queue taking messages again (backoff at most 5 s)" \
	"$([ "$delay" -le 8 ] && echo yes || echo "no: ${delay}s")" "yes"

start_worker payment
ctl -q order wait "$oid" --timeout 30 >/dev/null || true
expect "the saga completes by itself" "$(order_status "$oid")" "CONFIRMED"
wait_until "the filler consumed" 30 sql_is payment "SELECT count(*) FROM inbox WHERE event_id = '$fill'" 1
quiet_and_check "$WORK/base.json"
finish
