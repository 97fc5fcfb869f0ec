#!/usr/bin/env bash
# The main job (README): on a fresh Debian 12 machine, as root, installs what
# is missing, builds Chorus, starts a throwaway RabbitMQ (console on
# 127.0.0.1) and PostgreSQL, creates and migrates the three databases,
# declares the topology, loads demo fixtures, starts the three workers (with
# their APIs) and chorus-gateway, places a mix of orders (a few through the
# gateway, printing the merged view of one), waits for every saga to finish and prints each
# order's outcome, the invariants check and the console address. The stack
# and the workers keep running for a look around; `scripts/demo.sh stop`
# stops them.
#
# Environment: CHORUS_BUILD_DIR [build]  CHORUS_STACK_DIR [/tmp/chorus-stack]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${CHORUS_BUILD_DIR:-$top/build}
stack=${CHORUS_STACK_DIR:-/tmp/chorus-stack}
export CHORUS_STACK_DIR=$stack
piddir=$stack/workers

stop_workers() {
	local f pid end
	for f in "$piddir"/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		kill -TERM "$pid" 2>/dev/null || true
		end=$((SECONDS + 40))
		while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
		rm -f "$f"
	done
}

if [ "${1:-}" = stop ]; then
	stop_workers
	bash "$top/scripts/stack.sh" stop
	exit 0
fi
[ $# -eq 0 ] || { echo "usage: scripts/demo.sh [stop]" >&2; exit 64; }

echo "== 1/6 packages"
bash "$top/scripts/deps.sh"

echo "== 2/6 build"
bash "$top/scripts/build.sh" "$build"
ctl="$build/chorusctl"

echo "== 3/6 RabbitMQ and PostgreSQL"
bash "$top/scripts/stack.sh" start
eval "$(bash "$top/scripts/stack.sh" env)"
export CHORUS_SCHEMA_DIR=$top/schema
"$ctl" setup

echo "== 4/6 fixtures, workers and the gateway"
"$ctl" stock set sku-apple 100
"$ctl" stock set sku-pear 40
"$ctl" stock set sku-fig 0                # out of stock
"$ctl" account set cust-alice 100000
"$ctl" account set cust-bob 30000
"$ctl" account set cust-carol 0           # no money
stop_workers
mkdir -p "$piddir" "$stack/logs"
port=8100
for svc in order inventory payment; do
	port=$((port + 1))	# 8101-8103: the gateway's default instances
	setsid "$build/chorus-$svc" -o "$svc.api_listen=127.0.0.1:$port" \
		>>"$stack/logs/chorus-$svc.log" 2>&1 </dev/null &
	echo $! >"$piddir/$svc.pid"
done
setsid "$build/chorus-gateway" >>"$stack/logs/chorus-gateway.log" 2>&1 </dev/null &
echo $! >"$piddir/gateway.pid"
for svc in order inventory payment gateway; do
	end=$((SECONDS + 30))
	until grep -q 'msg="ready"' "$stack/logs/chorus-$svc.log" 2>/dev/null; do
		if [ "$SECONDS" -ge "$end" ] || ! kill -0 "$(cat "$piddir/$svc.pid")" 2>/dev/null; then
			echo "demo.sh: chorus-$svc did not become ready; its log:" >&2
			tail -n 20 "$stack/logs/chorus-$svc.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	echo "chorus-$svc is ready (log: $stack/logs/chorus-$svc.log)"
done

echo "== 5/6 orders"
run=$(date +%H%M%S)
"$ctl" snapshot >"$stack/baseline.json"
ids=()
place() {	# place NAME CUSTOMER TOTAL ITEM...
	local id="demo-$run-$1" cust=$2 total=$3 args=()
	shift 3
	for it in "$@"; do args+=(--item "$it"); done
	"$ctl" -q order place --id "$id" --customer "$cust" --total "$total" "${args[@]}"
	ids+=("$id")
}
place happy-1 cust-alice 1250 sku-apple:2
place happy-2 cust-bob 2400 sku-pear:3 sku-apple:1
place happy-3 cust-alice 500 sku-apple:1
place out-of-stock cust-alice 300 sku-fig:1
place unknown-sku cust-bob 100 sku-durian:1
place no-funds cust-carol 700 sku-pear:1
"$ctl" -q publish OrderCreated --count 20 --data \
	"{\"order_id\":\"demo-$run-load-{n}\",\"customer_id\":\"cust-alice\",\"items\":[{\"sku\":\"sku-apple\",\"quantity\":1}],\"total_cents\":250,\"currency\":\"EUR\"}"
for n in $(seq 1 20); do ids+=("demo-$run-load-$n"); done
gw=http://127.0.0.1:8080
for n in 1 2 3; do	# through the gateway: POST /api/v1/orders, as a client would
	curl -sf -o /dev/null -XPOST -H 'Content-Type: application/json' "$gw/api/v1/orders" -d \
		"{\"order_id\":\"demo-$run-gw-$n\",\"customer_id\":\"cust-bob\",\"items\":[{\"sku\":\"sku-pear\",\"quantity\":1}],\"total_cents\":300,\"currency\":\"EUR\"}"
	ids+=("demo-$run-gw-$n")
done
echo "GET $gw/api/v1/orders/demo-$run-gw-1?wait=30 (order, reservation and payment, merged):"
curl -s "$gw/api/v1/orders/demo-$run-gw-1?wait=30" | jq .
for id in "${ids[@]}"; do "$ctl" -q order wait "$id" --timeout 60; done

echo "== 6/6 outcome"
"$ctl" -q wait-quiet --timeout 60
"$ctl" order list --limit 29
echo
"$ctl" stock list
echo
"$ctl" account list
echo
"$ctl" check --baseline "$stack/baseline.json"
cat <<EOT

All ${#ids[@]} sagas finished. The workers and the servers keep running:
  RabbitMQ console: ${CHORUS_MGMT_URL} (user guest, password guest): queues chorus.*.events,
                    chorus.*.dead, chorus.unrouted; exchanges chorus.order/inventory/payment
  the gateway:      http://127.0.0.1:8080/ (the order page), $gw/api/v1/openapi.json,
                    curl -s $gw/api/v1/orders/demo-$run-gw-2 | jq .
  look around:      eval "\$(scripts/stack.sh env)"; $ctl order show demo-$run-happy-1
  worker logs:      $stack/logs/
  stop everything:  scripts/demo.sh stop
EOT
