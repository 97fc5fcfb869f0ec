#!/usr/bin/env bash
# No event parked for good (contract section 3). With the binding that
# carries InventoryReserved to the payment queue removed for a few seconds
# while an order is placed:
#  - the inventory worker's own InventoryReserved is returned by the broker
#    (mandatory, header chorus-return-unroutable), stays in its outbox with
#    its error, is logged and tried again with backoff: once the binding is
#    back the saga completes by itself, and chorus.unrouted never saw it;
#  - the same event from another publisher (no such header) is caught by
#    the alternate exchange's queue chorus.unrouted, stays there when the
#    binding is back, and `chorusctl unrouted replay` sends it on.
# And: more stuck outbox events than one relay round reads (relay_batch 3,
# 5 events no queue takes) hold up nothing else; chorusctl publish of an
# event no queue takes fails (exit 65) rather than leaving it caught.
. "$(dirname "$0")/lib.sh"

start_worker order order -o relay_batch=3
start_worker inventory
start_worker payment
ctl -q unrouted purge
ctl snapshot >"$WORK/base.json"
mgmt="${CHORUS_MGMT_URL%/}/api"
binding="$mgmt/bindings/%2F/e/chorus.inventory/q/chorus.payment.events/inventory.reserved"
unbind() { curl -sf -u guest:guest -X DELETE "$binding" >/dev/null; }
bound() { curl -s -o /dev/null -w '%{http_code}' -u guest:guest "$binding"; }
unrouted_count() { ctl --json unrouted list | python3 -c 'import json,sys; print(json.load(sys.stdin)["chorus.unrouted"])'; }
# unrouted_has ID: messages with this event id in chorus.unrouted (looked at, left in place)
unrouted_has() {
	ctl --json unrouted show --limit 100000 |
		python3 -c 'import json,sys; print(sum(m["message_id"] == sys.argv[1] for m in json.load(sys.stdin)))' "$1"
}

# --- a worker's own event: stays in its outbox, the saga goes on by itself ----
sku="ur-sku-$RUN"; cust="ur-cust-$RUN"; oid="ur-own-$RUN"
ctl -q stock set "$sku" 10
ctl -q account set "$cust" 10000
unbind
expect "binding inventory.reserved -> chorus.payment.events removed" "$(bound)" "404"
ctl -q order place --id "$oid" --customer "$cust" --item "$sku:2" --total 300
ir() { sql inventory "SELECT (published_at IS NOT NULL) || ':' || (attempts > 0) FROM outbox WHERE aggregateid = '$oid' AND type = 'InventoryReserved'"; }
returned() { [ "$(ir)" = "false:true" ]; }
wait_until "InventoryReserved of $oid returned" 30 returned
expect "its InventoryReserved stays in the inventory outbox, attempts counted" "$(ir)" "false:true"
irid=$(sql inventory "SELECT id FROM outbox WHERE aggregateid = '$oid' AND type = 'InventoryReserved'")
expect "its error is recorded" \
	"$(sql inventory "SELECT last_error FROM outbox WHERE id = '$irid'")" "returned by the broker: no queue took it"
wait_log inventory "publish returned as unroutable\" event_id=$irid" 10
expect "the return is logged with the event id" \
	"$(log_count inventory "publish returned as unroutable\" event_id=$irid" | awk '{ print ($1 >= 1) ? "yes" : "no" }')" "yes"
expect "chorus.unrouted did not catch it" "$(unrouted_has "$irid")" "0"
expect "the order waits (PENDING)" "$(order_status "$oid")" "PENDING"
expect "nothing reached payment" "$(sql payment "SELECT count(*) FROM payments WHERE order_id = '$oid'")" "0"
# tried again with backoff while unroutable: the gaps between returns grow (1, 2, 4 s)
returns() { grep "publish returned as unroutable\" event_id=$irid" "$WORK/inventory.log" | cut -c1-23; }
four_returns() { [ "$(returns | wc -l)" -ge 4 ]; }
wait_until "4 returns of $irid" 30 four_returns
expect "tried again with growing gaps (backoff)" "$(returns | python3 -c '
import sys, datetime
t = [datetime.datetime.fromisoformat(l.strip()).timestamp() for l in sys.stdin][:4]
g = [b - a for a, b in zip(t, t[1:])]
print("yes" if g[0] >= 0.8 and g[1] > g[0] * 1.4 and g[2] > g[1] * 1.4 else "no: gaps %s" % g)')" "yes"
ctl -q declare		# the binding is back
expect "binding back" "$(bound)" "200"
ctl -q order wait "$oid" --timeout 40 || true
expect "the saga completed by itself" "$(order_status "$oid")" "CONFIRMED"
expect "published once the binding was back" "$(ir)" "true:true"
expect "charged once" "$(sql payment "SELECT status || ':' || amount_cents FROM payments WHERE order_id = '$oid'")" "COMPLETED:300"
expect "chorus.unrouted never saw it" "$(unrouted_has "$irid")" "0"

# --- another publisher's event: caught in chorus.unrouted, replayable --------
# A producer other than the services (no chorus-return-unroutable header)
# publishes an InventoryReserved while the binding is missing. It is the
# order of a customer the payment service knows; the OrderCreated comes
# later from the same producer, as the contract allows (any order).
other="ur-other-$RUN"
unbind
oev=$(uuid)
body=$(event InventoryReserved "$oev" "{\"order_id\":\"$other\",\"reservation_id\":\"r-$RUN\",\"customer_id\":\"$cust\",\"items\":[{\"sku\":\"$sku\",\"quantity\":1}],\"total_cents\":150,\"currency\":\"EUR\"}")
before=$(unrouted_count)
rc=0; ctl -q publish --raw "$body" --exchange chorus.inventory --routing-key inventory.reserved \
	--type InventoryReserved --message-id "$oev" || rc=$?
expect "another publisher's event is confirmed (the alternate exchange took it)" "$rc" "0"
expect "caught in chorus.unrouted" "$(unrouted_has "$oev")" "1"
# the order worker exports the depth (refreshed every second)
metric() { curl -sf "http://127.0.0.1:$(health_port order)/metrics" | sed -n 's/^chorus_unrouted_messages{service="order"} //p'; }
metric_is() { [ "$(metric)" = "$1" ]; }
wait_until "chorus_unrouted_messages $((before + 1))" 10 metric_is $((before + 1))
expect "the order worker's metric shows the depth" "$(metric)" "$((before + 1))"
expect "the inventory worker does not export it" \
	"$(curl -sf "http://127.0.0.1:$(health_port inventory)/metrics" | grep -c '^chorus_unrouted_messages' || true)" "0"
ctl -q declare
expect "binding back" "$(bound)" "200"
# nothing moves it: it is still there once the payment worker had time to see it
ctl -q wait-quiet --timeout 30
expect "still in chorus.unrouted with the binding back" "$(unrouted_has "$oev")" "1"
expect "nothing reached payment" "$(sql payment "SELECT count(*) FROM payments WHERE order_id = '$other'")" "0"
show=$(ctl unrouted show --limit 100000)
expect "unrouted show gives its route" \
	"$(grep -A5 "message_id: $oev" <<<"$show" | grep -c 'published:  exchange chorus.inventory, routing key inventory.reserved')" "1"
out=$(ctl unrouted replay)
expect "unrouted replay: all sent on" "$out" "replayed $((before + 1)) message(s) from chorus.unrouted"
expect "chorus.unrouted is empty" "$(unrouted_count)" "0"
wait_until "chorus_unrouted_messages 0" 10 metric_is 0
wait_until "payment of $other" 30 sql_is payment "SELECT status FROM payments WHERE order_id = '$other'" COMPLETED
expect "the replayed event was consumed by payment" \
	"$(sql payment "SELECT count(*) FROM inbox WHERE event_id = '$oev'")" "1"
ctl -q publish OrderCreated --data "{\"order_id\":\"$other\",\"customer_id\":\"$cust\",\"items\":[{\"sku\":\"$sku\",\"quantity\":1}],\"total_cents\":150,\"currency\":\"EUR\"}"
ctl -q order wait "$other" --timeout 30 || true
expect "its order ends CONFIRMED (paid before created)" "$(order_status "$other")" "CONFIRMED"

# --- a replay that is still unroutable stays where it was ---------------------
sev=$(uuid)
sbody=$(event OrderConfirmed "$sev" "{\"order_id\":\"ur-stuck-$RUN\"}")
ctl -q publish --raw "$sbody" --exchange chorus.order --routing-key order.nobody.listens --message-id "$sev"
expect "an event no queue takes is caught" "$(unrouted_has "$sev")" "1"
rc=0; ctl -q unrouted replay 2>"$WORK/replay.err" || rc=$?
expect "replay of a still unroutable event fails (69)" "$rc" "69"
expect "and says so" "$(grep -c "message $sev still unroutable (no queue takes it): left in chorus.unrouted" "$WORK/replay.err")" "1"
expect "it is still there, once" "$(unrouted_has "$sev")" "1"
expect "unrouted purge empties it" "$(ctl unrouted purge)" "purged 1 message(s) from chorus.unrouted"

# --- chorusctl publish: an event no queue takes is an error, nothing kept -----
unbind
rc=0; ctl publish InventoryReserved --data "{\"order_id\":\"ur-pub-$RUN\",\"reservation_id\":\"r\",\"customer_id\":\"$cust\",\"items\":[{\"sku\":\"$sku\",\"quantity\":1}],\"total_cents\":1,\"currency\":\"EUR\"}" \
	>/dev/null 2>"$WORK/pub.err" || rc=$?
ctl -q declare
expect "chorusctl publish of an unroutable event exits 76 (EX_PROTOCOL)" "$rc" "76"
expect "with a clear message" "$(grep -c 'was unroutable: no queue takes it' "$WORK/pub.err")" "1"
expect "nothing caught in chorus.unrouted" "$(unrouted_count)" "0"

# --- outbox events no queue takes hold up nothing -----------------------------
# events with a routing key no queue is bound to, written as a worker would
sql order "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, routing_key)
	SELECT i, 'order', 'u' || k || '-$RUN', 'OrderConfirmed', json_build_object('specversion', '1.0',
	  'id', i, 'source', 'test/unroutable', 'type', 'OrderConfirmed', 'subject', 'u' || k || '-$RUN',
	  'data', json_build_object('order_id', 'u' || k || '-$RUN')), 'order.nobody.listens'
	FROM (SELECT k, gen_random_uuid() AS i FROM generate_series(1, 5) k) g" >/dev/null
mine() { sql order "SELECT count(*) FILTER (WHERE published_at IS NULL AND attempts > 0) || ':' || count(*) FILTER (WHERE published_at IS NOT NULL) FROM outbox WHERE aggregateid LIKE 'u_-$RUN'"; }
returned5() { [ "$(mine)" = "5:0" ]; }
wait_until "the 5 events returned as unroutable" 30 returned5
expect "returned events stay pending, attempts counted" "$(mine)" "5:0"
ctl -q order place --id "uok-$RUN" --customer "$cust" --item "$sku:1" --total 100 --wait 30 >/dev/null
expect "a saga completes while 5 unroutable events wait" "$(order_status "uok-$RUN")" "CONFIRMED"
expect "the unroutable events are still pending" "$(mine | cut -d: -f2)" "0"
expect "none of them caught in chorus.unrouted" "$(unrouted_count)" "0"
# a queue that takes them: they go out to it
q="chorus.test.unroutable-$RUN"
curl -sf -u guest:guest -X PUT -H 'content-type: application/json' -d '{"durable":false,"auto_delete":false}' "$mgmt/queues/%2F/$q" >/dev/null
curl -sf -u guest:guest -X POST -H 'content-type: application/json' -d '{"routing_key":"order.nobody.listens"}' "$mgmt/bindings/%2F/e/chorus.order/q/$q" >/dev/null
published5() { [ "$(mine)" = "0:5" ]; }
# each event is tried again after its backoff (2^attempts s, at most 64 s);
# on a loaded machine the attempts above may have taken it near the top
wait_until "the pending events published once a queue takes them" 100 published5
expect "the events are published after all" "$(mine)" "0:5"
expect "into the queue that takes them" "$(python3 - "$mgmt" "$q" <<'PY'
import base64, json, sys, urllib.request
api, q = sys.argv[1], sys.argv[2]
req = urllib.request.Request(api + "/queues/%2F/" + q + "/get", method="POST",
    data=json.dumps({"count": 100, "ackmode": "ack_requeue_false", "encoding": "auto"}).encode(),
    headers={"Content-Type": "application/json",
             "Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()})
print(len(json.load(urllib.request.urlopen(req, timeout=10))))
PY
)" "5"
curl -sf -u guest:guest -X DELETE "$mgmt/queues/%2F/$q" >/dev/null

quiet_and_check "$WORK/base.json"
finish
