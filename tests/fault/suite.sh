#!/usr/bin/env bash
# The fault-injection suite: sagas run under load while faults are injected
# one after another -- duplicate deliveries, poison messages, out-of-order
# events, kill -9 of workers, RabbitMQ stopped and started, PostgreSQL
# crash-restarted, a slow and a failing payment provider -- with two
# instances of every worker. Afterwards the contract's invariants are
# checked one by one and the counts reported: sagas, faults, retried,
# dead-lettered, lost (must be 0), doubled (must be 0).
#
# CHORUS_FAULT_PROFILE=short (default, CI: a few minutes) or long (more
# orders, RabbitMQ down 30 s, a longer kill loop): scripts/test.sh --long.
. "$(dirname "$0")/../integration/lib.sh"

profile=${CHORUS_FAULT_PROFILE:-short}
if [ "$profile" = long ]; then
	CHUNKS=40; BROKER_DOWN=30; KILL_SECONDS=90; RATE=150
else
	CHUNKS=8; BROKER_DOWN=8; KILL_SECONDS=15; RATE=100
fi
CHUNK=25
STACK="$CHORUS_SRCDIR/scripts/stack.sh"
# whatever happens, leave RabbitMQ running for the tests after this one
trap 'bash "$STACK" rabbitmqctl start_app >/dev/null 2>&1 || true; cleanup' EXIT
declare -A FAULTS=()
fault() { FAULTS[$1]=$(( ${FAULTS[$1]:-0} + ${2:-1} )); }

# every worker: two instances, a short retry ladder, a quick breaker
WORKER_ARGS=(-o retry_ladder=200ms,1s,3s -o retry_max_attempts=12 -o breaker_recovery_ms=1000
	-o breaker_failures=3 -o saga_deadline=120)
# workers declare nothing: the short ladder's queues are set up first (and
# pruned at the end, so the next test finds the default ladder only)
ctl -q -o retry_ladder=200ms,1s,3s setup >/dev/null
n_started=0
start_instance() {	# start_instance SERVICE [ARGS...]
	local svc=$1; shift
	n_started=$((n_started + 1))
	start_worker "$svc" "$svc-$n_started" "${WORKER_ARGS[@]}" "$@"
}
instances_of() { for n in "${!WORKER_PIDS[@]}"; do [[ $n == "$1"-* ]] && echo "$n"; done; }
for svc in order inventory payment; do start_instance "$svc"; start_instance "$svc"; done

sku="fs-$RUN"; none="fn-$RUN"
ctl -q stock set "$sku" 1000000
ctl -q stock set "$none" 0
for c in 1 2 3 4 5; do ctl -q account set "fc$c-$RUN" 100000000; done
ctl -q account set "fpoor-$RUN" 10
fresh_dead_letters
ctl snapshot >"$WORK/base.json"
: >"$WORK/expected"

# publish CHUNKS chunks of orders named PREFIX-<chunk>-<n>; a chunk that
# fails (broker down) is published again (same order ids: harmless)
publish_orders() {	# publish_orders PREFIX CHUNKS RATE
	local prefix=$1 chunks=$2 rate=$3 k tries cust item total
	for k in $(seq 1 "$chunks"); do
		case $((k % 10)) in
		8) cust="fpoor-$RUN"; item=$sku; total=5000 ;;	# insufficient funds
		9) cust="fc1-$RUN"; item=$none; total=100 ;;		# out of stock
		*) cust="fc$((k % 5 + 1))-$RUN"; item=$sku; total=100 ;;
		esac
		tries=0
		until ctl -q publish OrderCreated --count "$CHUNK" --rate "$rate" --data \
			"{\"order_id\":\"$prefix-$k-{n}\",\"customer_id\":\"$cust\",\"items\":[{\"sku\":\"$item\",\"quantity\":1}],\"total_cents\":$total,\"currency\":\"EUR\"}" \
			2>>"$WORK/publish.err"; do
			tries=$((tries + 1))
			[ "$tries" -lt 240 ] || { log "publisher gave up on $prefix-$k"; return 1; }
			sleep 0.5	# the broker is down on purpose: try the chunk again
		done
		for n in $(seq 1 "$CHUNK"); do echo "$prefix-$k-$n" >>"$WORK/expected"; done
	done
}

phase() { log "--- phase: $*"; }

phase "baseline load with two instances of each worker"
publish_orders "f0-$RUN" "$CHUNKS" "$RATE"

phase "duplicate deliveries: every OrderCreated published 3 times (same event id)"
for k in $(seq 1 20); do
	id=$(uuid); oid="fd-$RUN-$k"
	body=$(event OrderCreated "$id" "{\"order_id\":\"$oid\",\"customer_id\":\"fc1-$RUN\",\"items\":[{\"sku\":\"$sku\",\"quantity\":1}],\"total_cents\":100,\"currency\":\"EUR\"}")
	for _ in 1 2 3; do ctl -q publish --raw "$body" --exchange chorus.order --routing-key order.created; done
	echo "$oid" >>"$WORK/expected"
	fault duplicate_deliveries 2
done

phase "poison messages to every queue"
poison=0
for q in order inventory payment; do
	for body in 'not json' '[1,2]' '{"specversion":"1.0"}' \
		"$(event NoSuchType "$(uuid)" '{"order_id":"x"}')" \
		"$(event OrderCreated "$(uuid)" '{"order_id":"x","customer_id":"c","items":[],"total_cents":1,"currency":"EUR"}')"; do
		ctl -q publish --raw "$body" --queue "chorus.$q.events"
		poison=$((poison + 1))
	done
done
fault poison_messages "$poison"

phase "out-of-order: PaymentCompleted reaches order before OrderCreated"
for k in $(seq 1 10); do
	id=$(uuid); oid="fo-$RUN-$k"
	body=$(event OrderCreated "$id" "{\"order_id\":\"$oid\",\"customer_id\":\"fc2-$RUN\",\"items\":[{\"sku\":\"$sku\",\"quantity\":1}],\"total_cents\":100,\"currency\":\"EUR\"}")
	ctl -q publish --raw "$body" --queue chorus.inventory.events
	echo "$oid $body" >>"$WORK/late"
	echo "$oid" >>"$WORK/expected"
	fault out_of_order_events
done

phase "kill -9 of random workers every 2-4 s for ${KILL_SECONDS}s, under load"
publish_orders "fk-$RUN" "$CHUNKS" "$RATE" &
pub=$!
end=$((SECONDS + KILL_SECONDS))
while [ "$SECONDS" -lt "$end" ]; do
	victims=("${!WORKER_PIDS[@]}")
	v=${victims[$((RANDOM % ${#victims[@]}))]}
	svc=${v%%-*}
	kill -9 "${WORKER_PIDS[$v]}" 2>/dev/null || true
	wait "${WORKER_PIDS[$v]}" 2>/dev/null || true
	unset "WORKER_PIDS[$v]"
	fault worker_kill9
	start_instance "$svc"
	sleep "$((2 + RANDOM % 3))"	# the interval between faults, not a wait for anything
done
wait "$pub"
# the late OrderCreated of the out-of-order phase now reaches the order service
while read -r oid body; do
	ctl -q publish --raw "$body" --queue chorus.order.events
done <"$WORK/late"

phase "RabbitMQ stopped for ${BROKER_DOWN}s under load"
publish_orders "fb-$RUN" "$CHUNKS" "$RATE" &
pub=$!
sleep 1	# let the load start
bash "$STACK" rabbitmqctl stop_app >/dev/null
fault broker_stop
t_down=$SECONDS
# readiness follows the connection: not ready while RabbitMQ is away
mapfile -t orders_up < <(instances_of order)
watch=${orders_up[0]}
ready_is() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(health_port "$watch")/readyz")" = "$1" ]; }
wait_until "$watch not ready while RabbitMQ is down" 20 ready_is 503
expect "readiness 503 while RabbitMQ is down" "$(ready_is 503 && echo yes)" "yes"
sleep "$(( BROKER_DOWN - (SECONDS - t_down) > 0 ? BROKER_DOWN - (SECONDS - t_down) : 0 ))"	# the rest of the outage
bash "$STACK" rabbitmqctl start_app >/dev/null
wait_until "$watch ready again after RabbitMQ returned" 60 ready_is 200
expect "readiness 200 again once reconnected" "$(ready_is 200 && echo yes)" "yes"
wait "$pub"

phase "PostgreSQL crash-restarted (immediate) under load"
publish_orders "fp-$RUN" "$CHUNKS" "$RATE" &
pub=$!
sleep 1
bash "$STACK" pg-restart-immediate >/dev/null
fault postgres_immediate_restart
wait "$pub"

phase "a slow payment provider (50 ms a call), then a failing one (breaker trips)"
for n in $(instances_of payment); do stop_worker "$n"; done
start_instance payment -o payment.fault_latency_ms=50
start_instance payment -o payment.fault_latency_ms=50
fault slow_provider
publish_orders "fs-$RUN" 2 "$RATE"
for n in $(instances_of payment); do stop_worker "$n"; done
start_instance payment -o payment.fault_error_pct=100
fault failing_provider
publish_orders "ff-$RUN" 2 "$RATE"
# wait until the breaker opened, then let the provider recover
for n in $(instances_of payment); do wait_log "$n" 'circuit breaker open' 60; done
for n in $(instances_of payment); do stop_worker "$n"; done
start_instance payment
start_instance payment

phase "waiting for every saga to finish"
total=$(wc -l <"$WORK/expected")
sort -u "$WORK/expected" >"$WORK/expected.sorted"
end=$((SECONDS + 300))
while :; do
	done_n=$(sql order "SELECT count(*) FROM orders WHERE status IN ('CONFIRMED','CANCELLED') AND order_id LIKE 'f%-$RUN-%'")
	[ "$done_n" -ge "$total" ] && break
	[ "$SECONDS" -lt "$end" ] || { log "only $done_n of $total sagas finished in 300 s"; break; }
	sleep 0.5
done
ctl -q wait-quiet --timeout 120 || true

# --- the verdict ---------------------------------------------------------------
sql order "SELECT order_id FROM orders WHERE status IN ('CONFIRMED','CANCELLED') AND order_id LIKE 'f%-$RUN-%'" |
	sort >"$WORK/finished"
lost=$(comm -23 "$WORK/expected.sorted" "$WORK/finished" | wc -l)
doubled=0
for s in order inventory payment; do
	d=$(sql "$s" "SELECT count(*) FROM (SELECT aggregateid, type FROM outbox WHERE aggregateid LIKE 'f%-$RUN-%' GROUP BY 1, 2 HAVING count(*) > 1) x")
	doubled=$((doubled + d))
done
retried=$(cat "$WORK"/*.log | sed -n 's/.*sent to a retry queue" count=\([0-9]*\).*/\1/p' | awk '{s += $1} END {print s + 0}')
dead=$(( $(dead_count order) + $(dead_count inventory) + $(dead_count payment) ))
exhausted=$(cat "$WORK"/*.log | grep -c 'retries exhausted' || true)

ctl --json check --baseline "$WORK/base.json" >"$WORK/check.json" || true
python3 - "$WORK/check.json" <<'PY'
import json, sys
for v in json.load(open(sys.argv[1])):
    print("[suite] invariant %-66s %s (checked %d, violations %d)" % (
        v["invariant"], "ok  " if v["ok"] else "FAIL", v["checked"], v["violations"]))
    for e in v["examples"]:
        print("          " + e)
PY
while read -r ok; do expect "invariant holds" "$ok" "True"; done < <(python3 -c "import json; [print(v['ok']) for v in json.load(open('$WORK/check.json'))]")
expect "7 dead-letter queues hold exactly the poison messages" "$dead" "$((poison + exhausted))"
expect "no retry budget ran out" "$exhausted" "0"
expect "lost" "$lost" "0"
expect "doubled" "$doubled" "0"
# 8: re-publishing processed events changes nothing
before=$(sql payment "SELECT sum(balance_cents) FROM accounts WHERE customer_id LIKE 'f%-$RUN'")
rows_before=$(sql payment "SELECT count(*) FROM outbox")
sql inventory "SELECT payload FROM outbox WHERE aggregateid LIKE 'f0-$RUN-%' AND type = 'InventoryReserved' LIMIT 50" |
	while read -r body; do ctl -q publish --raw "$body" --exchange chorus.inventory --routing-key inventory.reserved; done
ctl -q wait-quiet --timeout 60
expect "8 re-published events change no balance" "$(sql payment "SELECT sum(balance_cents) FROM accounts WHERE customer_id LIKE 'f%-$RUN'")" "$before"
expect "8 re-published events emit nothing" "$(sql payment "SELECT count(*) FROM outbox")" "$rows_before"

log "profile $profile: sagas $total, faults injected $(for k in "${!FAULTS[@]}"; do printf '%s=%s ' "$k" "${FAULTS[$k]}"; done)"
log "retried $retried, dead-lettered $dead (poison $poison, exhausted $exhausted), lost $lost, doubled $doubled"
ctl -q dead purge order; ctl -q dead purge inventory; ctl -q dead purge payment
ctl -q setup --prune >/dev/null || log "note: setup --prune left a retry queue (not empty yet)"
finish
