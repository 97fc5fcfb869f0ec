#!/usr/bin/env bash
# Fault tests on the multi-node stack (scripts/cluster.sh): three RabbitMQ
# nodes with the service queues as quorum queues on all three, PostgreSQL
# with a synchronous streaming standby, two instances of every worker given
# all three broker addresses and multi-host database URLs. Under an open-loop
# load of CHORUS_CLUSTER_RATE (200) sagas/s, one after another:
#   1. kill -9 of the node leading chorus.order.events (brought back later);
#   2. that node's leader cut off from the other two (nftables) for
#      PARTITION seconds, then healed;
#   3. a rolling restart: each node stopped and started, one at a time;
#   4. kill -9 of the PostgreSQL primary, the standby promoted.
# Afterwards: nothing lost, nothing doubled, every invariant of
# `chorusctl check`, no dead letter (no poison is sent). For each fault,
# from the sagas' finishing times: the longest stall (consecutive seconds,
# three or more, in which no saga finished) before the next fault, the time
# to recover (from the fault to the end of that stall: sagas flow again;
# 0 when there was none), and the sagas finished per second until the
# next fault against the baseline (the offered rate, or less when the
# machine does not keep up; the test says so).
#
# The cluster is its own (never the stack of the other tests): started here,
# deleted at the end, on CHORUS_CLUSTER_* ports (default: the test stack's
# + 1000); CHORUS_CLUSTER_KEEP=1 uses a cluster already up and leaves it up;
# Opt-in for now: CHORUS_CLUSTER=1 runs it, skipped (77) otherwise. It
# passed before the per-service identities (issue 9) were merged; with them
# its chorusctl must log in as the administrative identity and migrate
# through the owner role (scripts/cluster.sh env now says so), not yet run
# again end to end. Three RabbitMQ nodes are heavy: several minutes.
# CHORUS_FAULT_PROFILE=long: 200 sagas/s, 30 s partition, longer phases;
# short: 100 sagas/s (two cores carry a little more than that with three
# RabbitMQ nodes, see docs/deployment.md). Partitions need root and nft;
# without them that phase is skipped.
set -euo pipefail
top=${CHORUS_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
CLUSTER="$top/scripts/cluster.sh"
if [ "${CHORUS_CLUSTER:-0}" != 1 ]; then
	echo "SKIP: opt-in, CHORUS_CLUSTER=1 runs it"
	exit 77
fi
# Beside the test stack of scripts/test.sh, on ports 1000 above its own, so
# that test runs of different checkouts on one machine do not meet.
export CHORUS_CLUSTER_DIR=${CHORUS_CLUSTER_DIR:-${CHORUS_STACK_DIR:-/tmp/chorus-test-stack}-cluster}
export CHORUS_CLUSTER_AMQP_PORT=${CHORUS_CLUSTER_AMQP_PORT:-$(( ${CHORUS_AMQP_PORT:-5702} + 1000 ))}
export CHORUS_CLUSTER_MGMT_PORT=${CHORUS_CLUSTER_MGMT_PORT:-$(( ${CHORUS_MGMT_PORT:-15702} + 1000 ))}
export CHORUS_CLUSTER_PG_PORT=${CHORUS_CLUSTER_PG_PORT:-$(( ${CHORUS_PG_PORT:-5462} + 1000 ))}
profile=${CHORUS_FAULT_PROFILE:-short}
if [ "$profile" = long ]; then
	RATE=${CHORUS_CLUSTER_RATE:-200}; PARTITION=30; CALM=20; DOWN=20
else
	RATE=${CHORUS_CLUSTER_RATE:-100}; PARTITION=15; CALM=5; DOWN=5
fi
keep=${CHORUS_CLUSTER_KEEP:-0}
# a node restarting on a busy machine takes long; each wait below is bounded anyway
export CHORUS_STACK_TIMEOUT=${CHORUS_STACK_TIMEOUT:-300}

# a fresh cluster, deleted afterwards whatever happens (unless kept)
[ "$keep" = 1 ] || nice -n 5 bash "$CLUSTER" reset >/dev/null
t_up=$SECONDS
if ! nice -n 5 bash "$CLUSTER" up >"${TMPDIR:-/tmp}/chorus-cluster-up.$$.log" 2>&1; then
	tail -n 30 "${TMPDIR:-/tmp}/chorus-cluster-up.$$.log"
	[ "$keep" = 1 ] || bash "$CLUSTER" reset >/dev/null 2>&1 || true
	exit 1
fi
rm -f "${TMPDIR:-/tmp}/chorus-cluster-up.$$.log"
eval "$(bash "$CLUSTER" env)"
. "$(dirname "$0")/../integration/lib.sh"
if [ "$keep" = 1 ]; then
	trap 'touch "$WORK/stop"; cleanup; bash "$CLUSTER" heal >/dev/null 2>&1 || true' EXIT
else
	trap 'touch "$WORK/stop"; cleanup; bash "$CLUSTER" reset >/dev/null 2>&1 || true' EXIT
fi
log "cluster up in $((SECONDS - t_up))s; profile $profile, load $RATE sagas/s"

WORKER_ARGS=(-o retry_ladder=200ms,1s,3s -o retry_max_attempts=20 -o saga_deadline=600
	-o connect_timeout=3)
# the workers declare nothing: the topology of this short retry ladder first
ctl -q -o retry_ladder=200ms,1s,3s setup >/dev/null
n_started=0
start_instance() {	# start_instance SERVICE
	n_started=$((n_started + 1))
	start_worker "$1" "$1-$n_started" "${WORKER_ARGS[@]}"
}
for svc in order inventory payment; do start_instance "$svc"; start_instance "$svc"; done
expect "the six instances are spread over more than one node" \
	"$(rmqctl list_connections --no-table-headers name | sed -n 's/.*-> 127.0.0.1://p' | sort -u | wc -l | awk '{print ($1 > 1)}')" "1"

# a list whose first node is dead still works; a malformed list says what is wrong
expect "chorusctl with a dead node first in amqp_url" \
	"$(CHORUS_AMQP_URL="amqp://guest:guest@127.0.0.1:1/%2F,$CHORUS_AMQP_URL" ctl --json dead list >/dev/null 2>&1; echo $?)" "0"
expect "chorusctl with an empty URL in the list: exit 78 naming it" \
	"$(CHORUS_AMQP_URL="$CHORUS_AMQP_URL,,amqp://x/" ctl dead list 2>&1; echo "exit $?")" \
	"chorusctl: config: environment CHORUS_AMQP_URL: amqp_url: empty URL at position 4 of the list
exit 78"

sku="cl-$RUN"
ctl -q stock set "$sku" 100000000
for c in 1 2 3 4 5; do ctl -q account set "cc$c-$RUN" 100000000000; done
ctl snapshot >"$WORK/base.json"

# --- the load: chunks of one second's orders, open loop ---------------------------
# A chunk the broker did not confirm whole (its node died, the queue had no
# leader) is published again with the same order ids: harmless.
publisher() {
	local k=0 tries
	while [ ! -e "$WORK/stop" ]; do
		k=$((k + 1)); tries=0
		until ctl -q publish OrderCreated --count "$RATE" --rate "$RATE" --data \
			"{\"order_id\":\"cl-$RUN-$k-{n}\",\"customer_id\":\"cc$((k % 5 + 1))-$RUN\",\"items\":[{\"sku\":\"$sku\",\"quantity\":1}],\"total_cents\":100,\"currency\":\"EUR\"}" \
			2>>"$WORK/publish.err"; do
			tries=$((tries + 1))
			[ "$tries" -lt 600 ] || { echo "chunk $k: gave up" >>"$WORK/publish.err"; return 1; }
			sleep 0.1	# no node took it: try the chunk again
		done
		echo "$k" >>"$WORK/chunks"
	done
}
publisher &
PUB=$!

some_finished() { local now; now=$(date +%s); [ "$(finished_in $((now - 5)) "$now")" -gt 0 ]; }
# finished_in FROM TO: sagas of this run finished in [FROM, TO) (epoch seconds)
finished_in() {
	sql order "SELECT count(*) FROM orders WHERE order_id LIKE 'cl-$RUN-%' AND
		coalesce(confirmed_at, cancelled_at) >= to_timestamp($1) AND coalesce(confirmed_at, cancelled_at) < to_timestamp($2)" 2>/dev/null || echo 0
}
# at_rate: the last five whole seconds finished at least 80 % of REF per second
REF=$RATE
at_rate() {
	local now
	now=$(date +%s)
	[ "$(finished_in $((now - 5)) "$now")" -ge $((REF * 4)) ]
}
: >"$WORK/marks"
mark() { echo "$1 $(date +%s.%N)" >>"$WORK/marks"; }
# settle WHAT: wait (bounded) until the load runs at rate again, then CALM s more
settle() {
	wait_until "throughput back at $REF/s after $1" 120 at_rate || true
	sleep "$CALM"	# a stretch at rate: the next fault starts from a steady state
}
all_running() { [ "$(bash "$CLUSTER" running 2>/dev/null)" = "1 2 3" ]; }
phase() { log "--- phase: $*"; }

phase "baseline"
wait_until "sagas finishing" 60 some_finished || true
sleep 10	# the baseline: ten seconds of load, measured below
now=$(date +%s)
REF=$(( $(finished_in $((now - 8)) "$now") / 8 ))
[ "$REF" -le "$RATE" ] || REF=$RATE
log "baseline: $REF sagas/s finished of $RATE/s offered$([ "$REF" -ge $((RATE * 9 / 10)) ] || echo ' (the machine does not keep up: recovery is measured against that)')"
echo "$REF" >"$WORK/ref"
mark "end-of-baseline"

phase "kill -9 of the node leading chorus.order.events"
leader=$(bash "$CLUSTER" leader chorus.order.events)
mark "kill-leader-node-$leader"
bash "$CLUSTER" kill "$leader" >/dev/null
wait_until "a new leader for chorus.order.events" 60 bash -c '[ "$(bash "$1" leader chorus.order.events 2>/dev/null)" != "$2" ]' _ "$CLUSTER" "$leader" || true
settle "the kill"
log "node $leader down for ${DOWN}s more, then started again"
sleep "$DOWN"	# the outage lasts this long on purpose
nice -n 5 bash "$CLUSTER" start "$leader" >"$WORK/start.out" 2>&1 || tail -n 5 "$WORK/start.out"
wait_until "node $leader back in the cluster" 300 all_running
mark "node-$leader-back"
settle "node $leader came back"

if [ "$EUID" -eq 0 ] && command -v nft >/dev/null; then
	phase "partition: the leader of chorus.order.events cut off for ${PARTITION}s"
	leader=$(bash "$CLUSTER" leader chorus.order.events)
	mark "partition-node-$leader"
	bash "$CLUSTER" partition "$leader" >/dev/null
	sleep "$PARTITION"	# the partition lasts this long on purpose
	bash "$CLUSTER" heal >/dev/null
	mark "heal"
	wait_until "node $leader back in the cluster after the partition" 300 all_running
	settle "the partition"
else
	log "partition phase skipped: needs root and nft"
fi

phase "rolling restart of the three nodes"
for n in 1 2 3; do
	mark "restart-node-$n"
	nice -n 5 bash "$CLUSTER" stop "$n" >"$WORK/stop.out" 2>&1 || tail -n 5 "$WORK/stop.out"
	nice -n 5 bash "$CLUSTER" start "$n" >"$WORK/start.out" 2>&1 || tail -n 5 "$WORK/start.out"
	wait_until "node $n back in the cluster" 300 all_running
done
settle "the rolling restart"

phase "kill -9 of the PostgreSQL primary, the standby promoted"
mark "pg-kill-primary"
bash "$CLUSTER" pg-kill-primary >/dev/null
bash "$CLUSTER" pg-promote >/dev/null
settle "the promotion"
mark "end"

touch "$WORK/stop"
wait "$PUB" || log "the publisher failed: $(tail -n 3 "$WORK/publish.err")"

phase "waiting for every saga to finish"
chunks=$(wc -l <"$WORK/chunks")
total=$((chunks * RATE))
wait_until "all $total sagas finished" 300 sql_is order \
	"SELECT count(*) FROM orders WHERE order_id LIKE 'cl-$RUN-%' AND status IN ('CONFIRMED','CANCELLED')" "$total" || true
ctl -q wait-quiet --timeout 120 || true

# --- the verdict ---------------------------------------------------------------------
for k in $(cat "$WORK/chunks"); do seq -f "cl-$RUN-$k-%.0f" 1 "$RATE"; done | sort >"$WORK/expected"
sql order "SELECT order_id FROM orders WHERE status IN ('CONFIRMED','CANCELLED') AND order_id LIKE 'cl-$RUN-%'" |
	sort >"$WORK/finished"
lost=$(comm -23 "$WORK/expected" "$WORK/finished" | wc -l)
extra=$(comm -13 "$WORK/expected" "$WORK/finished" | wc -l)
doubled=0
for s in order inventory payment; do
	d=$(sql "$s" "SELECT count(*) FROM (SELECT aggregateid, type FROM outbox WHERE aggregateid LIKE 'cl-$RUN-%' GROUP BY 1, 2 HAVING count(*) > 1) x")
	doubled=$((doubled + d))
done
expect "lost" "$lost" "0"
expect "finished sagas that were never published" "$extra" "0"
expect "doubled" "$doubled" "0"
expect "every saga confirmed (stock and money were enough for all)" \
	"$(sql order "SELECT count(*) FROM orders WHERE order_id LIKE 'cl-$RUN-%' AND status = 'CONFIRMED'")" "$total"
dead=$(( $(dead_count order) + $(dead_count inventory) + $(dead_count payment) ))
expect "nothing dead-lettered (no poison was sent)" "$dead" "0"
ctl --json check --baseline "$WORK/base.json" >"$WORK/check.json" || true
while read -r line; do
	expect "invariant ${line% *}" "${line##* }" "True"
done < <(python3 -c "import json; [print(v['invariant'], v['ok']) for v in json.load(open('$WORK/check.json'))]")

# --- time to recover ----------------------------------------------------------------
sql order "SELECT floor(extract(epoch FROM coalesce(confirmed_at, cancelled_at)))::bigint, count(*)
	FROM orders WHERE order_id LIKE 'cl-$RUN-%' AND status IN ('CONFIRMED','CANCELLED') GROUP BY 1 ORDER BY 1" >"$WORK/per_second"
python3 - "$WORK/marks" "$WORK/per_second" "$REF" "$RATE" <<'PY' | tee "$WORK/recovery"
import sys
marks = [l.split() for l in open(sys.argv[1])]
per = {int(s): int(n) for s, n in (l.strip().split("|") for l in open(sys.argv[2]) if l.strip())}
ref, rate = int(sys.argv[3]), int(sys.argv[4])
print("[cluster] offered %d sagas/s, baseline %d/s finished" % (rate, ref))
print("[cluster] %-24s %8s %10s %14s %8s" % ("after", "stall", "recovery", "sagas/s until next", "sagas"))
for i, (name, t) in enumerate(marks):
    if name.startswith("end"):
        continue
    t0 = float(t)
    t1 = float(marks[i + 1][1]) if i + 1 < len(marks) else t0 + 60
    secs = range(int(t0), int(t1))
    stall, run, rec = 0, 0, 0.0
    for s in secs:
        run = run + 1 if per.get(s, 0) == 0 else 0
        if run >= 3 and run > stall:
            stall, rec = run, s + 1 - t0
    n = sum(per.get(s, 0) for s in secs)
    print("[cluster] %-24s %7ds %9.1fs %12.0f/s %8d" % (name, stall, rec, n / max(t1 - t0, 1), n))
PY
log "sagas $total at $RATE/s, lost $lost, doubled $doubled, dead-lettered $dead"
finish
