#!/usr/bin/env bash
# Fault tests on the multi-node stack (scripts/cluster.sh): three RabbitMQ
# nodes with the service queues as quorum queues on all three, PostgreSQL
# with a synchronous streaming standby, two instances of every worker given
# all three broker addresses and multi-host database URLs. Under an open-loop
# load of RATE sagas/s, one after another:
#   kill     kill -9 of the node leading chorus.order.events, brought back
#            DOWN seconds later;
#   partition  that queue's leader cut off from the other two (nftables) for
#            PARTITION seconds, then healed (needs root and nft, else skipped);
#   restart  a rolling restart: nodes stopped cleanly and started, one at a
#            time (short profile: the node leading chorus.order.events only,
#            the one whose stop moves the leadership; long: all three);
#   pg       kill -9 of the PostgreSQL primary, the standby promoted.
# Afterwards: nothing lost, nothing doubled, every invariant of
# `chorusctl check`, no dead letter (no poison is sent). For each fault,
# from the sagas' finishing times: the longest stall (consecutive seconds,
# three or more, in which no saga finished) before the next fault, the time
# to recover (from the fault to the end of that stall: sagas flow again;
# 0 when there was none), and the sagas finished per second until the
# next fault against the baseline (the offered rate, or less when the
# machine does not keep up; the test says so).
#
# Profiles (CHORUS_FAULT_PROFILE): short (default, in make check: 50
# sagas/s, below what two shared cores carry with three RabbitMQ nodes, so
# recovery is measured against the offered rate; 15 s partition; one node
# restarted; about 4-6 minutes) and long (scripts/test.sh --long: 200
# sagas/s, 30 s partition, longer phases, all three nodes restarted).
# CHORUS_CLUSTER_RATE overrides the rate, CHORUS_CLUSTER_PHASES the phases
# ("kill partition restart pg", in that order).
#
# It runs where the other integration tests run (the environment of
# scripts/test.sh) or with CHORUS_CLUSTER=1; CHORUS_CLUSTER=0 skips it.
# The cluster is its own (never the stack of the other tests): started here,
# deleted at the end, on CHORUS_CLUSTER_* ports (default: the test stack's
# + 1000); CHORUS_CLUSTER_KEEP=1 uses a cluster already up and leaves it up.
set -euo pipefail
top=${CHORUS_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
CLUSTER="$top/scripts/cluster.sh"
case ${CHORUS_CLUSTER:-} in
0) echo "SKIP: CHORUS_CLUSTER=0"; exit 77 ;;
1) ;;
*)	# like the other integration tests: only in the environment of scripts/test.sh
	if [ -z "${CHORUS_AMQP_URL:-}" ]; then
		echo "SKIP: no stack environment (run scripts/test.sh, or set CHORUS_CLUSTER=1)"
		exit 77
	fi ;;
esac
# Beside the test stack of scripts/test.sh, on ports 1000 above its own, so
# that test runs of different checkouts on one machine do not meet.
export CHORUS_CLUSTER_DIR=${CHORUS_CLUSTER_DIR:-${CHORUS_STACK_DIR:-/tmp/chorus-test-stack}-cluster}
export CHORUS_CLUSTER_AMQP_PORT=${CHORUS_CLUSTER_AMQP_PORT:-$(( ${CHORUS_AMQP_PORT:-5702} + 1000 ))}
export CHORUS_CLUSTER_MGMT_PORT=${CHORUS_CLUSTER_MGMT_PORT:-$(( ${CHORUS_MGMT_PORT:-15702} + 1000 ))}
export CHORUS_CLUSTER_PG_PORT=${CHORUS_CLUSTER_PG_PORT:-$(( ${CHORUS_PG_PORT:-5462} + 1000 ))}
profile=${CHORUS_FAULT_PROFILE:-short}
if [ "$profile" = long ]; then
	RATE=${CHORUS_CLUSTER_RATE:-200}; PARTITION=30; CALM=20; DOWN=20; RESTART=all
else
	RATE=${CHORUS_CLUSTER_RATE:-50}; PARTITION=15; CALM=5; DOWN=5; RESTART=leader
fi
PHASES=" ${CHORUS_CLUSTER_PHASES:-kill partition restart pg} "
want_phase() { [[ $PHASES == *" $1 "* ]]; }
keep=${CHORUS_CLUSTER_KEEP:-0}
# a node restarting on a busy machine takes long; each wait below is bounded anyway
export CHORUS_STACK_TIMEOUT=${CHORUS_STACK_TIMEOUT:-300}

# a fresh cluster, deleted afterwards whatever happens (unless kept)
t_start=$SECONDS
[ "$keep" = 1 ] || bash "$CLUSTER" reset >/dev/null
t_up=$SECONDS
if ! bash "$CLUSTER" up >"${TMPDIR:-/tmp}/chorus-cluster-up.$$.log" 2>&1; then
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
log "cluster up in $((SECONDS - t_up))s; profile $profile, load $RATE sagas/s, phases:$PHASES"

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

# --- the load: chunks of CHUNK seconds' orders, open loop ------------------------
# A chunk the broker did not confirm whole (its node died, the queue had no
# leader) is published again with the same order ids: harmless. A chunk is
# several seconds long: each chorusctl's start-up (a few tenths of a second
# on a busy machine) is a gap in the load, which one-second chunks made a
# third of the time.
CHUNK=5
publisher() {
	local k=0 tries t
	date +%s.%N >"$WORK/pub.start"
	while [ ! -e "$WORK/stop" ]; do
		k=$((k + 1)); tries=0
		until t=$(date +%s.%N); echo "$t" >"$WORK/chunk.current"; ctl -q publish OrderCreated --count $((RATE * CHUNK)) --rate "$RATE" --data \
			"{\"order_id\":\"cl-$RUN-$k-{n}\",\"customer_id\":\"cc$((k % 5 + 1))-$RUN\",\"items\":[{\"sku\":\"$sku\",\"quantity\":1}],\"total_cents\":100,\"currency\":\"EUR\"}" \
			2>>"$WORK/publish.err"; do
			tries=$((tries + 1))
			[ "$tries" -lt 600 ] || { echo "chunk $k: gave up" >>"$WORK/publish.err"; return 1; }
			sleep 0.1	# no node took it: try the chunk again
		done
		echo "$k" >>"$WORK/chunks"
		echo "$t" >>"$WORK/chunk.starts"	# when its publishing began: it lasts CHUNK s
		rm -f "$WORK/chunk.current"
		date +%s.%N >"$WORK/pub.end"
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
phase() { log "--- phase (at ${SECONDS}s): $*"; }
# restart_node N: stop it cleanly, start it, wait until it is back in the cluster
# (the control commands are not niced: on a saturated machine a niced
# rabbitmqctl waited a minute for its turn, and a node started from it ran
# at a lower priority than its peers)
restart_node() {
	local n=$1 t0=$SECONDS
	bash "$CLUSTER" stop "$n" >"$WORK/stop.out" 2>&1 || tail -n 5 "$WORK/stop.out"
	local t1=$SECONDS
	bash "$CLUSTER" start "$n" >"$WORK/start.out" 2>&1 || tail -n 5 "$WORK/start.out"
	wait_until "node $n back in the cluster" 300 all_running
	log "node $n: stopped in $((t1 - t0))s, back in the cluster $((SECONDS - t1))s later"
}

phase "baseline"
wait_until "sagas finishing" 60 some_finished || true
sleep 10	# the baseline: ten seconds of load, measured below
now=$(date +%s)
REF=$(( $(finished_in $((now - 8)) "$now") / 8 ))
[ "$REF" -le "$RATE" ] || REF=$RATE
# offered_in FROM TO: sagas/s published in [FROM, TO), from the chunks' starts
offered_in() {
	python3 - "$WORK/chunk.starts" "$1" "$2" "$RATE" "$CHUNK" <<-'PY'
		import sys
		a, b, rate, chunk = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
		starts = []
		for f in (sys.argv[1], sys.argv[1].replace("chunk.starts", "chunk.current")):
		    try:
		        starts += [float(l) for l in open(f)]
		    except FileNotFoundError:
		        pass
		print(round(sum(rate * max(0.0, min(s + chunk, b) - max(s, a)) for s in starts) / (b - a)))
	PY
}
offered=$(offered_in $((now - 8)) "$now" 2>/dev/null || echo "?")
log "baseline: $REF sagas/s finished, $offered/s published in the same 8 s (the load asks $RATE/s)$([ "$offered" = "?" ] || [ "$REF" -ge $((offered * 9 / 10)) ] || echo '; the machine does not keep up: recovery is measured against what it finished')"
echo "$REF" >"$WORK/ref"
mark "end-of-baseline"

if want_phase kill; then
phase "kill -9 of the node leading chorus.order.events"
leader=$(bash "$CLUSTER" leader chorus.order.events)
mark "kill-leader-node-$leader"
bash "$CLUSTER" kill "$leader" >/dev/null
wait_until "a new leader for chorus.order.events" 60 bash -c '[ "$(bash "$1" leader chorus.order.events 2>/dev/null)" != "$2" ]' _ "$CLUSTER" "$leader" || true
settle "the kill"
log "node $leader down for ${DOWN}s more, then started again"
sleep "$DOWN"	# the outage lasts this long on purpose
t0=$SECONDS
bash "$CLUSTER" start "$leader" >"$WORK/start.out" 2>&1 || tail -n 5 "$WORK/start.out"
wait_until "node $leader back in the cluster" 300 all_running
log "node $leader back in the cluster in $((SECONDS - t0))s"
mark "node-$leader-back"
settle "node $leader came back"
fi

if ! want_phase partition; then
	:
elif [ "$EUID" -eq 0 ] && command -v nft >/dev/null; then
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

if want_phase restart; then
if [ "$RESTART" = all ]; then
	phase "rolling restart of the three nodes"
	nodes="1 2 3"
else
	nodes=$(bash "$CLUSTER" leader chorus.order.events)
	phase "restart of node $nodes (it leads chorus.order.events; the long profile restarts all three)"
fi
for n in $nodes; do
	mark "restart-node-$n"
	restart_node "$n"
done
settle "the rolling restart"
fi

if want_phase pg; then
phase "kill -9 of the PostgreSQL primary, the standby promoted"
mark "pg-kill-primary"
bash "$CLUSTER" pg-kill-primary >/dev/null
bash "$CLUSTER" pg-promote >/dev/null
settle "the promotion"
fi
mark "end"

touch "$WORK/stop"
wait "$PUB" || log "the publisher failed: $(tail -n 3 "$WORK/publish.err")"

phase "waiting for every saga to finish"
chunks=$(wc -l <"$WORK/chunks")
total=$((chunks * RATE * CHUNK))
# what was really offered: every chunk over the time the publisher ran
OFFERED=$(python3 -c 'import sys; print(round(int(sys.argv[1]) / (float(open(sys.argv[2]).read()) - float(open(sys.argv[3]).read()))))' \
	"$total" "$WORK/pub.end" "$WORK/pub.start")
log "published $total sagas in $chunks chunks: $OFFERED/s offered on average (the load asks $RATE/s)"
# what is left goes at the baseline rate: twice that long, and two minutes more
# (a machine that does not carry the long profile's 200/s has a backlog to work off)
done_now=$(sql order "SELECT count(*) FROM orders WHERE order_id LIKE 'cl-$RUN-%' AND status IN ('CONFIRMED','CANCELLED')")
bound=$(( 120 + 2 * (total - done_now) / (REF > 0 ? REF : 1) ))
log "$((total - done_now)) sagas still to finish; waiting up to ${bound}s"
wait_until "all $total sagas finished" "$bound" sql_is order \
	"SELECT count(*) FROM orders WHERE order_id LIKE 'cl-$RUN-%' AND status IN ('CONFIRMED','CANCELLED')" "$total" || true
ctl -q wait-quiet --timeout 120 || true

# --- the verdict ---------------------------------------------------------------------
for k in $(cat "$WORK/chunks"); do seq -f "cl-$RUN-$k-%.0f" 1 $((RATE * CHUNK)); done | sort >"$WORK/expected"
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
log "sagas $total at $RATE/s, lost $lost, doubled $doubled, dead-lettered $dead; $((SECONDS - t_start))s in all"
finish
