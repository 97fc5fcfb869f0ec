#!/usr/bin/env bash
# The health endpoint of each worker: liveness, readiness (and not-ready
# while RabbitMQ cannot be reached), and Prometheus metrics that count what
# happened: consumed, published, dead-lettered, saga outcomes, outbox backlog.
. "$(dirname "$0")/lib.sh"

start_all_workers
fresh_dead_letters
ctl -q stock set "hx-$RUN" 5
ctl -q account set "hc-$RUN" 10000
base=$WORK/base.json
ctl snapshot >"$base"

get() { curl -s -o "$WORK/body" -w '%{http_code}' "http://127.0.0.1:$1$2"; }
metric() {	# metric PORT NAME-WITH-LABELS: its value (0 when absent)
	curl -s "http://127.0.0.1:$1/metrics" | awk -v k="$2" 'index($0, k " ") == 1 { print $2; f = 1 } END { if (!f) print 0 }'
}

for svc in order inventory payment; do
	port=$(health_port "$svc")
	expect "$svc health port found" "$([ -n "$port" ] && echo yes)" "yes"
	expect "$svc /healthz" "$(get "$port" /healthz)" "200"
	expect "$svc /readyz" "$(get "$port" /readyz)" "200"
	expect "$svc unknown path" "$(get "$port" /nope)" "404"
done
op=$(health_port order)
before=$(metric "$op" 'chorus_saga_outcomes_total{service="order",outcome="confirmed",reason=""}')
ctl -q order place --id "h1-$RUN" --customer "hc-$RUN" --item "hx-$RUN:1" --total 100 --wait 30 >/dev/null
ctl -q order place --id "h2-$RUN" --customer "hc-$RUN" --item "hx-$RUN:9" --total 100 --wait 30 >/dev/null
ctl -q wait-quiet --timeout 30
after=$(metric "$op" 'chorus_saga_outcomes_total{service="order",outcome="confirmed",reason=""}')
expect "order: one more saga confirmed" "$((after - before))" "1"
expect "order: out_of_stock outcome counted" \
	"$([ "$(metric "$op" 'chorus_saga_outcomes_total{service="order",outcome="cancelled",reason="out_of_stock"}')" -ge 1 ] && echo yes)" "yes"
ip=$(health_port inventory)
expect "inventory: OrderCreated consumed counted" \
	"$([ "$(metric "$ip" 'chorus_messages_consumed_total{service="inventory",type="OrderCreated"}')" -ge 2 ] && echo yes)" "yes"
expect "inventory: InventoryReserved published counted" \
	"$([ "$(metric "$ip" 'chorus_events_published_total{service="inventory",type="InventoryReserved"}')" -ge 1 ] && echo yes)" "yes"
ctl -q publish --raw 'not json' --queue chorus.payment.events
pp=$(health_port payment)
end=$((SECONDS + 20))
until [ "$(metric "$pp" 'chorus_messages_dead_lettered_total{service="payment",reason="invalid_json"}')" -ge 1 ] || [ "$SECONDS" -ge "$end" ]; do sleep 0.1; done
expect "payment: dead letter counted by reason" \
	"$(metric "$pp" 'chorus_messages_dead_lettered_total{service="payment",reason="invalid_json"}')" "1"
expect "outbox backlog gauge present" "$(curl -s "http://127.0.0.1:$op/metrics" | grep -c '^chorus_outbox_backlog{')" "1"
expect "batch size histogram present" "$(curl -s "http://127.0.0.1:$ip/metrics" | grep -c '^chorus_batch_size_count{')" "1"

# a worker that cannot reach RabbitMQ is alive but not ready
start_worker_nowait() {
	"$CHORUS_BUILDDIR/chorus-$1" -o "$1.health_listen=127.0.0.1:0" "${@:3}" >"$WORK/$2.log" 2>&1 &
	WORKER_PIDS[$2]=$!
}
start_worker_nowait payment lost -o amqp_url=amqp://guest:guest@127.0.0.1:1/ -o connect_timeout=1
wait_log lost 'msg="health endpoint listening"' 20
lp=$(health_port lost)
wait_log lost 'cannot connect, retrying' 20
expect "disconnected worker is alive" "$(get "$lp" /healthz)" "200"
expect "disconnected worker is not ready" "$(get "$lp" /readyz)" "503"
expect "readiness says why" "$(grep -c 'not connected' "$WORK/body")" "1"
stop_worker lost

ctl -q dead purge payment
quiet_and_check "$base"
finish
