#!/usr/bin/env bash
# bench-gateway.sh: the gateway's figures in the README, with one command.
#
# Builds an optimized Chorus (CFLAGS=-O2, in build-bench, as bench.sh),
# starts a fresh throwaway stack on ports of its own, the three workers with
# their APIs and chorus-gateway, then measures with wrk (Debian's):
#   1. POST /api/v1/orders: orders accepted per second (each 201 only once
#      its order row and OrderCreated outbox row committed), 32 connections;
#      the orders in the database are counted against the 201s;
#   2. GET /api/v1/orders/{id}, aggregated (three upstream calls each), as
#      fast as it goes: 64 connections;
#   3. the same at about 2,000 requests/s (20 connections, each pausing
#      10 ms between its requests: wrk has no fixed-rate mode), for p99;
#   4. the gateway's peak RSS (VmHWM).
# The sagas of the POSTs run meanwhile: the whole system is busy, as it
# would be. The last line says how busy the machine was otherwise (load
# average before the run): on a shared machine, read the figures with it.
#
# Usage: scripts/bench-gateway.sh [--quick] [--keep]
#   --quick  5 s per run instead of 20 (a smoke run)
#   --keep   leave the stack and the daemons running afterwards
# Environment (defaults in brackets):
#   CHORUS_BENCH_BUILD_DIR [build-bench]
#   CHORUS_BENCH_STACK_DIR [/tmp/chorus-bench-gw-stack]
#   CHORUS_BENCH_AMQP_PORT [5772] CHORUS_BENCH_MGMT_PORT [15772] CHORUS_BENCH_PG_PORT [5532]
#   CHORUS_BENCH_HTTP_BASE [18300]  the APIs on BASE+1..3, the gateway on BASE+80, its health BASE+90
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
dur=20
keep=0
for a in "$@"; do
	case $a in
	--quick) dur=5 ;;
	--keep) keep=1 ;;
	*) echo "usage: scripts/bench-gateway.sh [--quick] [--keep]" >&2; exit 64 ;;
	esac
done
command -v wrk >/dev/null || { echo "bench-gateway.sh: wrk is not installed (scripts/deps.sh)" >&2; exit 1; }
build=${CHORUS_BENCH_BUILD_DIR:-$top/build-bench}
export CHORUS_STACK_DIR=${CHORUS_BENCH_STACK_DIR:-/tmp/chorus-bench-gw-stack}
export CHORUS_AMQP_PORT=${CHORUS_BENCH_AMQP_PORT:-5772}
export CHORUS_MGMT_PORT=${CHORUS_BENCH_MGMT_PORT:-15772}
export CHORUS_PG_PORT=${CHORUS_BENCH_PG_PORT:-5532}
unset CHORUS_RABBIT_NODE
base=${CHORUS_BENCH_HTTP_BASE:-18300}
gw=127.0.0.1:$((base + 80))
say() { echo "bench-gateway.sh: $*" >&2; }
load_before=$(cut -d' ' -f1 /proc/loadavg)

# --- an optimized build ------------------------------------------------------------
bash "$top/scripts/build.sh" "$build" CFLAGS=-O2

# --- a fresh stack, the workers with their APIs, the gateway --------------------------
bash "$top/scripts/stack.sh" reset >/dev/null
bash "$top/scripts/stack.sh" start >&2
eval "$(bash "$top/scripts/stack.sh" env)"
"$build/chorusctl" -q -o "schema_dir=$top/schema" setup
pids=()
stop_all() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[ "$keep" = 1 ] || bash "$top/scripts/stack.sh" stop >/dev/null 2>&1 || true
}
[ "$keep" = 1 ] || trap stop_all EXIT
wait_ready() {	# wait_ready LOG: until the daemon logged "ready" (30 s at most)
	local end=$((SECONDS + 30))
	until grep -q 'msg="ready"' "$1"; do
		[ "$SECONDS" -lt "$end" ] || { say "no ready in $1"; tail "$1" >&2; exit 1; }
		sleep 0.1
	done
}
i=0
for s in order inventory payment; do
	i=$((i + 1))
	"$build/chorus-$s" -o "$s.health_listen=off" -o "$s.api_listen=127.0.0.1:$((base + i))" \
		>"$CHORUS_STACK_DIR/$s.log" 2>&1 &
	pids+=("$!")
done
for s in order inventory payment; do wait_ready "$CHORUS_STACK_DIR/$s.log"; done
"$build/chorus-gateway" -c /dev/null -o "gateway.listen=$gw" \
	-o "gateway.health_listen=127.0.0.1:$((base + 90))" \
	-o "gateway.order_instances=127.0.0.1:$((base + 1))" \
	-o "gateway.inventory_instances=127.0.0.1:$((base + 2))" \
	-o "gateway.payment_instances=127.0.0.1:$((base + 3))" >"$CHORUS_STACK_DIR/gateway.log" 2>&1 &
gwpid=$!
pids+=("$gwpid")
wait_ready "$CHORUS_STACK_DIR/gateway.log"
"$build/chorusctl" -q stock set sku-bench 1000000000
"$build/chorusctl" -q account set cust-bench 1000000000000
orders() { psql "$CHORUS_ORDER_DATABASE_URL" -XAtqc "SELECT count(*) FROM orders"; }
# cpu_ms PID: CPU time (user + system) the process used so far, in ms
tick=$(getconf CLK_TCK)
cpu_ms() { awk -v t="$tick" '{ print int(($14 + $15) * 1000 / t) }' "/proc/$1/stat"; }
# per_req CPU0 CPU1 REQUESTS: gateway CPU ms per request
per_req() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.3f", (n > 0 ? (b - a) / n : 0) }'; }

# --- 1. POST ---------------------------------------------------------------------------
lua=$CHORUS_STACK_DIR/post.lua
cat >"$lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"customer_id":"cust-bench","items":[{"sku":"sku-bench","quantity":1}],"total_cents":1,"currency":"EUR"}'
LUA
n0=$(orders)
c0=$(cpu_ms "$gwpid")
say "POST /api/v1/orders for ${dur} s, 32 connections"
wrk -t2 -c32 -d"${dur}s" --latency -s "$lua" "http://$gw/api/v1/orders" >"$CHORUS_STACK_DIR/post.out"
n1=$(orders)
c1=$(cpu_ms "$gwpid")
post_rate=$(awk '/^Requests\/sec/ { print $2 }' "$CHORUS_STACK_DIR/post.out")
post_bad=$(awk '/Non-2xx/ { print $5 }' "$CHORUS_STACK_DIR/post.out")
post_p99=$(awk '$1 == "99%" { print $2 }' "$CHORUS_STACK_DIR/post.out")
post_total=$(awk '/requests in/ { print $1 }' "$CHORUS_STACK_DIR/post.out")
post_cpu=$(per_req "$c0" "$c1" "$post_total")

# --- 2. and 3. GET aggregated ---------------------------------------------------------------
id=bench-view
curl -s -o /dev/null -XPOST -H 'Content-Type: application/json' "http://$gw/api/v1/orders" \
	-d "{\"order_id\":\"$id\",\"customer_id\":\"cust-bench\",\"items\":[{\"sku\":\"sku-bench\",\"quantity\":1}],\"total_cents\":1,\"currency\":\"EUR\"}"
"$build/chorusctl" -q wait-quiet --timeout 120
[ "$(curl -s "http://$gw/api/v1/orders/$id?wait=10" | jq -r .complete)" = true ] ||
	{ say "the aggregated view of $id is not complete"; exit 1; }
say "GET /api/v1/orders/$id for ${dur} s, 64 connections"
c0=$(cpu_ms "$gwpid")
wrk -t2 -c64 -d"${dur}s" --latency "http://$gw/api/v1/orders/$id" >"$CHORUS_STACK_DIR/get.out"
c1=$(cpu_ms "$gwpid")
get_rate=$(awk '/^Requests\/sec/ { print $2 }' "$CHORUS_STACK_DIR/get.out")
get_p99=$(awk '$1 == "99%" { print $2 }' "$CHORUS_STACK_DIR/get.out")
get_bad=$(awk '/Non-2xx/ { print $5 }' "$CHORUS_STACK_DIR/get.out")
get_cpu=$(per_req "$c0" "$c1" "$(awk '/requests in/ { print $1 }' "$CHORUS_STACK_DIR/get.out")")
cat >"$CHORUS_STACK_DIR/paced.lua" <<'LUA'
function delay() return 10 end
LUA
say "GET /api/v1/orders/$id at about 2,000/s for ${dur} s (20 connections, 10 ms apart)"
wrk -t2 -c20 -d"${dur}s" --latency -s "$CHORUS_STACK_DIR/paced.lua" "http://$gw/api/v1/orders/$id" \
	>"$CHORUS_STACK_DIR/paced.out"
paced_rate=$(awk '/^Requests\/sec/ { print $2 }' "$CHORUS_STACK_DIR/paced.out")
paced_p50=$(awk '$1 == "50%" { print $2 }' "$CHORUS_STACK_DIR/paced.out")
paced_p99=$(awk '$1 == "99%" { print $2 }' "$CHORUS_STACK_DIR/paced.out")
rss=$(awk '/^VmHWM/ { printf "%.1f MB", $2 / 1024 }' "/proc/$gwpid/status")

printf '\n| run | rate | p99 | gateway CPU per request | notes |\n|---|---|---|---|---|\n'
printf '| POST /api/v1/orders, 32 connections | %s orders/s | %s | %s ms | %s requests, %s not 2xx; orders in the database: +%s |\n' \
	"$post_rate" "$post_p99" "$post_cpu" "$post_total" "${post_bad:-0}" "$((n1 - n0))"
printf '| GET aggregated, 64 connections | %s req/s | %s | %s ms | %s not 2xx |\n' "$get_rate" "$get_p99" "$get_cpu" "${get_bad:-0}"
printf '| GET aggregated, paced (~2,000/s) | %s req/s | %s (p50 %s) | | |\n' "$paced_rate" "$paced_p99" "$paced_p50"
printf '| gateway peak RSS | %s | | | |\n' "$rss"
printf '\nload average before the run: %s (2 cores: other processes took the machine meanwhile)\n' "$load_before"
