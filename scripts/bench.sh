#!/usr/bin/env bash
# bench.sh: the README's performance table, reproduced with one command.
#
# Builds an optimized, non-sanitized Chorus (CFLAGS=-O2, in build-bench),
# starts a fresh throwaway stack (scripts/stack.sh, on ports of its own),
# sets it up, starts one instance of each worker, runs the standard
# workload profiles with `chorusctl bench` and prints one table. Everything
# durable: fsync on, publisher confirms, quorum queues.
#
# The workload of issue 7: 100 SKUs, 100 customers, one item of 1-3 units
# per order, 90 % confirmed, 5 % out of stock, 5 % insufficient funds.
# Profiles: 10,000 orders at once; open loop at 500/s and at 250/s for
# 20 s each. Then the same three broker-only (`chorusctl bench
# --broker-only`, the workers this script started stopped first): forwarder
# threads in place of the workers, no database, what RabbitMQ alone costs
# for the same messages; the bound the workers' figures are to be read
# against. The last column says how much of the machine other processes
# took meanwhile: on a shared machine, runs with much other load are not
# figures to quote.
#
# Usage: scripts/bench.sh [--quick] [--keep] [--tls] [--statements] [--profiles A,B]
#   --quick  a tenth of each profile (a smoke run, not figures to quote)
#   --keep   leave the stack and the workers running afterwards
#   --tls    the workers and chorusctl over amqps:// (mutual TLS) and PostgreSQL
#            sslmode=verify-full (the stack's TLS listeners; docs/security.md)
#   --statements  PostgreSQL with pg_stat_statements: after each profile, the
#            statements by total time, with calls and milliseconds per saga
#            ($out/<profile>.statements); where PostgreSQL's time goes
#   --profiles  only these profiles (names as in the table: at-once,
#            open-500, open-250, broker-at-once, broker-open-500, broker-open-250)
# Environment (defaults in brackets):
#   CHORUS_BENCH_BUILD_DIR [build-bench]    where the optimized build goes
#   CHORUS_BENCH_WORKERS [that build dir]   where chorus-order etc. are taken from
#   CHORUS_BENCH_STACK_DIR [/tmp/chorus-bench-stack]
#   CHORUS_BENCH_AMQP_PORT [5762] CHORUS_BENCH_MGMT_PORT [15762] CHORUS_BENCH_PG_PORT [5522]
#   CHORUS_BENCH_OUT [$stack/results]       one JSON file per profile
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
quick=0
keep=0
tls=0
statements=0
only=
usage() { echo "usage: scripts/bench.sh [--quick] [--keep] [--tls] [--statements] [--profiles A,B]" >&2; exit 64; }
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--keep) keep=1 ;;
	--tls) tls=1 ;;
	--statements) statements=1 ;;
	--profiles) [ $# -ge 2 ] || usage; only=,$2,; shift ;;
	*) usage ;;
	esac
	shift
done
build=${CHORUS_BENCH_BUILD_DIR:-$top/build-bench}
workers=${CHORUS_BENCH_WORKERS:-$build}
export CHORUS_STACK_DIR=${CHORUS_BENCH_STACK_DIR:-/tmp/chorus-bench-stack}
export CHORUS_AMQP_PORT=${CHORUS_BENCH_AMQP_PORT:-5762}
export CHORUS_MGMT_PORT=${CHORUS_BENCH_MGMT_PORT:-15762}
export CHORUS_PG_PORT=${CHORUS_BENCH_PG_PORT:-5522}
unset CHORUS_RABBIT_NODE	# the node name follows the AMQP port
out=${CHORUS_BENCH_OUT:-$CHORUS_STACK_DIR/results}
say() { echo "bench.sh: $*" >&2; }

# --- an optimized build -----------------------------------------------------
bash "$top/scripts/build.sh" "$build" CFLAGS=-O2
ctl="$build/chorusctl"

# --- a fresh stack, set up, one worker of each ---------------------------------
[ "$statements" = 0 ] || export CHORUS_PG_CONF_EXTRA="${CHORUS_PG_CONF_EXTRA:-}
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = top"
bash "$top/scripts/stack.sh" reset >/dev/null
bash "$top/scripts/stack.sh" start >&2
[ "$statements" = 0 ] || bash "$top/scripts/stack.sh" psql -q -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >/dev/null
eval "$(bash "$top/scripts/stack.sh" env)"
if [ "$tls" = 1 ]; then	# configuration by environment: the workers inherit it
	export CHORUS_AMQP_URL=$CHORUS_AMQPS_URL CHORUS_AMQP_TLS_CA=$CHORUS_TLS_CA \
		CHORUS_AMQP_TLS_CERT=$CHORUS_TLS_CLIENT_CERT CHORUS_AMQP_TLS_KEY=$CHORUS_TLS_CLIENT_KEY \
		CHORUS_ORDER_DATABASE_URL=$CHORUS_ORDER_DATABASE_TLS_URL \
		CHORUS_INVENTORY_DATABASE_URL=$CHORUS_INVENTORY_DATABASE_TLS_URL \
		CHORUS_PAYMENT_DATABASE_URL=$CHORUS_PAYMENT_DATABASE_TLS_URL
fi
pids=()	# the workers this script started, and only those
start_workers() {
	local s end
	for s in order inventory payment; do
		# a fresh log each start: "ready" below is this start's
		[ ! -f "$CHORUS_STACK_DIR/$s.log" ] || mv "$CHORUS_STACK_DIR/$s.log" "$CHORUS_STACK_DIR/$s.log.1"
		# health endpoints off: their default ports may be taken by another stack's workers
		"$workers/chorus-$s" -o "$s.health_listen=off" >"$CHORUS_STACK_DIR/$s.log" 2>&1 &
		pids+=("$!")
	done
	for s in order inventory payment; do
		end=$((SECONDS + 30))
		until grep -q 'msg="ready"' "$CHORUS_STACK_DIR/$s.log"; do
			[ "$SECONDS" -lt "$end" ] || { say "chorus-$s not ready within 30 s"; tail "$CHORUS_STACK_DIR/$s.log" >&2; exit 1; }
			sleep 0.1
		done
	done
}
stop_workers() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
stop() {
	stop_workers
	bash "$top/scripts/stack.sh" stop >/dev/null 2>&1 || true
}
[ "$keep" = 1 ] || trap stop EXIT
"$ctl" -q -o "schema_dir=$top/schema" setup
mkdir -p "$out"
start_workers

# --- warm-up: the steady state, not the first minute of a fresh database ----------
# On empty tables PostgreSQL plans the workers' statements (prepared, so
# planned once) as for tiny tables: sequential scans, which stay until
# autovacuum has analyzed the tables (within autovacuum_naptime, a minute by
# default) and the plans are redone. A system that has run for a minute does
# not pay that; a benchmark started on a fresh stack would measure mostly
# that. So a warm-up load (not measured) fills the tables, ANALYZE does at
# once what autovacuum would do a little later, and the workers are
# restarted so their statements are planned against those statistics.
# docs/architecture.md ("Where the time goes") has the figures of both.
warm=$((2000 / (quick ? 10 : 1)))
say "warm-up: $warm orders, then ANALYZE"
"$ctl" -q bench --orders "$warm" --rate 0 --skus 100 --customers 100 --items 1 --mix 90/5/5 \
	--timeout 300 >/dev/null
"$ctl" -q wait-quiet --timeout 120
for db in chorus_order chorus_inventory chorus_payment; do
	bash "$top/scripts/stack.sh" psql -q -X -c "\\c $db" -c ANALYZE >/dev/null
done
stop_workers
start_workers

# --- the profiles ------------------------------------------------------------------
# name orders rate [broker-only]
profiles=("at-once 10000 0" "open-500 10000 500" "open-250 5000 250"
	"broker-at-once 10000 0 --broker-only" "broker-open-500 10000 500 --broker-only"
	"broker-open-250 5000 250 --broker-only")
div=$((quick ? 10 : 1))
if [ -n "$only" ]; then
	chosen=()
	for p in "${profiles[@]}"; do
		[[ $only != *",${p%% *},"* ]] || chosen+=("$p")
	done
	[ "${#chosen[@]}" -gt 0 ] || { say "no such profile in --profiles ${only:1:-1}"; exit 64; }
	profiles=("${chosen[@]}")
fi
# The statements of the profile just run, by total time: calls and
# milliseconds per saga (the orders of the profile), per database.
statements() {
	bash "$top/scripts/stack.sh" psql -q -X -P pager=off -c "
		SELECT d.datname AS db, s.calls, round(s.calls::numeric / $2, 2) AS per_saga,
		       round((s.total_exec_time / $2)::numeric, 3) AS ms_per_saga,
		       round(s.mean_exec_time::numeric, 3) AS ms_mean, s.rows,
		       left(regexp_replace(s.query, '\s+', ' ', 'g'), 110) AS query
		  FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
		 WHERE d.datname LIKE 'chorus_%'
		 ORDER BY s.total_exec_time DESC LIMIT 40" >"$out/$1.statements"
	bash "$top/scripts/stack.sh" psql -q -X -At -c "
		SELECT 'statements per saga: ' || round(sum(s.calls)::numeric / $2, 1) ||
		       ', executor ms per saga: ' || round((sum(s.total_exec_time) / $2)::numeric, 3)
		  FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
		 WHERE d.datname LIKE 'chorus_%'" >>"$out/$1.statements"
	say "$1: $(tail -1 "$out/$1.statements") ($out/$1.statements)"
}
for p in "${profiles[@]}"; do
	read -r name orders rate mode <<<"$p"
	orders=$((orders / div))
	say "profile $name: $orders orders, rate ${rate} (0: all at once)${mode:+, $mode}"
	"$ctl" -q wait-quiet --timeout 120
	[ "$statements" = 0 ] || bash "$top/scripts/stack.sh" psql -q -At -c 'SELECT pg_stat_statements_reset()' >/dev/null
	if [ -n "$mode" ] && [ "${#pids[@]}" -gt 0 ]; then
		stop_workers	# ours: the forwarders stand in for them (bench refuses otherwise)
	fi
	"$ctl" --json bench --orders "$orders" --rate "$rate" --skus 100 --customers 100 --items 1 \
		--mix 90/5/5 --timeout 300 $mode >"$out/$name.json"
	# read at once: bench returned once all was drained, and what comes
	# next (wait-quiet's own counting) is not the workload's
	[ "$statements" = 0 ] || [ -n "$mode" ] || statements "$name" "$orders"
done
[ "$keep" = 0 ] || [ "${#pids[@]}" -gt 0 ] || start_workers	# --keep: the workers are left running

# --- the table -----------------------------------------------------------------------
python3 - "$out" "${profiles[@]}" <<'EOF'
import json, sys
out, profiles = sys.argv[1], sys.argv[2:]
def f(v, fmt):
    return "-" if v is None else fmt % v
print("| run | sagas/s sustained | sagas/s until last outcome | p50 ms | p99 ms | CPU ms/saga: workers + PostgreSQL + RabbitMQ = total | peak RSS per worker | other load |")
print("|---|---|---|---|---|---|---|---|")
for p in profiles:
    name = p.split()[0]
    d = json.load(open(f"{out}/{name}.json"))
    w, t, l, c = d["workload"], d["throughput"], d["latency_ms"], d["cpu"]["ms_per_saga"]
    broker = d.get("mode") == "broker-only"
    run = ("broker only: " if broker else "") + f"{w['orders']:,} orders " + \
        ("at once" if not w["rate"] else f"at {w['rate']:.0f}/s")
    rss = max((x["peak_rss_kb"] or 0) for x in d["workers"]) / 1024 if d["workers"] else None
    cpu = (f"{f(c['forwarders'], '%.2f')} (forwarders) + - + {f(c['rabbitmq'], '%.2f')}" if broker else
           f"{f(c['workers'], '%.2f')} + {f(c['postgresql'], '%.2f')} + {f(c['rabbitmq'], '%.2f')}")
    print(f"| {run} | {f(t['sustained_per_s'], '%.0f')} | {f(t['until_last_outcome_per_s'], '%.0f')} "
          f"| {f(l['p50'], '%.0f')} | {f(l['p99'], '%.0f')} "
          f"| {cpu} = {f(c['total'], '%.2f')} "
          f"| {f(rss, '%.1f MB')} | {f(d['cpu'].get('others_pct'), '%.0f %%')} |")
EOF
say "per-profile JSON in $out"
