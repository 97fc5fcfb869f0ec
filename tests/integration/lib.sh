# Shared helpers of the integration tests (sourced, not run). They run
# against the real RabbitMQ and PostgreSQL of scripts/stack.sh, whose
# environment (CHORUS_AMQP_URL, CHORUS_*_DATABASE_URL) must be set; without
# it a test exits 77 (skipped). Every wait is bounded and says what it
# waited for when it gives up.
set -euo pipefail

if [ -z "${CHORUS_AMQP_URL:-}" ] || [ -z "${CHORUS_ORDER_DATABASE_URL:-}" ]; then
	echo "SKIP: no stack environment (run scripts/test.sh, or eval \"\$(scripts/stack.sh env)\")"
	exit 77
fi

: "${CHORUS_BUILDDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${CHORUS_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
export CHORUS_SCHEMA_DIR="${CHORUS_SCHEMA_DIR:-$CHORUS_SRCDIR/schema}"
CTL="$CHORUS_BUILDDIR/chorusctl"
TEST_NAME=$(basename "$0" .sh)
WORK=$(mktemp -d "/tmp/chorus-it-$TEST_NAME.XXXXXX")
RUN=$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')	# unique per run: ids never collide
declare -A WORKER_PIDS=()
declare -A WORKER_SVC=()	# worker name -> service, for the workers this test started
FAILURES=0
CHECKS=0

log() { printf '[%s] %s\n' "$TEST_NAME" "$*"; }

cleanup() {
	local rc=$?
	stop_all_workers
	if [ "$rc" -ne 0 ] || [ "$FAILURES" -ne 0 ]; then
		for f in "$WORK"/*.log; do
			[ -f "$f" ] || continue
			echo "--- last lines of $(basename "$f")"
			tail -n 15 "$f"
		done
	fi
	# CHORUS_KEEP_LOGS=DIR: keep the workers' logs (DIR/<test>-<run>-<worker>.log)
	if [ -n "${CHORUS_KEEP_LOGS:-}" ] && mkdir -p "$CHORUS_KEEP_LOGS"; then
		for f in "$WORK"/*.log; do
			[ -f "$f" ] && cp "$f" "$CHORUS_KEEP_LOGS/$TEST_NAME-$RUN-$(basename "$f")"
		done
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

# ok COND-DESCRIPTION GOT WANT: compare two strings, count a failure.
expect() {
	local what=$1 got=$2 want=$3
	CHECKS=$((CHECKS + 1))
	if [ "$got" = "$want" ]; then
		log "ok   $what"
	else
		log "FAIL $what: got '$got', want '$want'"
		FAILURES=$((FAILURES + 1))
	fi
}

# finish: print the tally and exit non-zero on any failure.
# finish: stop every worker still running with SIGTERM -- each must drain and
# exit 0 (under ASan that also means no leak) -- then print the tally and
# exit non-zero on any failure.
finish() {
	local n rc
	for n in "${!WORKER_PIDS[@]}"; do
		rc=0
		stop_worker "$n" TERM || rc=$?
		expect "worker $n drained and exited 0 on SIGTERM" "$rc" "0"
	done
	log "$CHECKS checks, $FAILURES failed"
	[ "$FAILURES" -eq 0 ]
}

ctl() { "$CTL" "$@"; }

# sql SERVICE QUERY: one value (or rows, |-separated) from a service's database.
sql() {
	local svc=$1 q=$2 url
	case $svc in
	order) url=$CHORUS_ORDER_DATABASE_URL ;;
	inventory) url=$CHORUS_INVENTORY_DATABASE_URL ;;
	payment) url=$CHORUS_PAYMENT_DATABASE_URL ;;
	esac
	psql "$url" -XAtq -v ON_ERROR_STOP=1 -c "$q"
}

# start_worker SERVICE [NAME] [ARGS...]: start a worker, wait until it consumes.
start_worker() {
	local svc=$1 name=${2:-$1}
	shift $(( $# >= 2 ? 2 : 1 ))
	# a free port each: instances run side by side; health_port NAME finds it
	"$CHORUS_BUILDDIR/chorus-$svc" -o "$svc.health_listen=127.0.0.1:0" "$@" >"$WORK/$name.log" 2>&1 &
	WORKER_PIDS[$name]=$!
	WORKER_SVC[$name]=$svc
	wait_log "$name" 'msg="ready"' 30
}

# health_port NAME: the port the worker's health endpoint bound (from its log).
health_port() {
	sed -n 's/.*msg="health endpoint listening" address=[0-9.]*:\([0-9]*\).*/\1/p' "$WORK/$1.log" | tail -n 1
}

# wait_log NAME PATTERN SECONDS: until the worker's log has a line matching PATTERN.
wait_log() {
	local name=$1 pat=$2 secs=$3 end=$((SECONDS + $3))
	while ! grep -q -- "$pat" "$WORK/$name.log" 2>/dev/null; do
		if ! kill -0 "${WORKER_PIDS[$name]}" 2>/dev/null; then
			log "worker $name exited while waiting for '$pat'"; tail -n 20 "$WORK/$name.log"; return 1
		fi
		if [ "$SECONDS" -ge "$end" ]; then
			log "worker $name: no '$pat' within ${secs}s"; tail -n 20 "$WORK/$name.log"; return 1
		fi
		sleep 0.1
	done
}

# stop_worker NAME [SIGNAL]: TERM (drain) by default; waits for the exit, bounded.
stop_worker() {
	local name=$1 sig=${2:-TERM} pid=${WORKER_PIDS[$1]:-} end=$((SECONDS + 40)) rc=0
	[ -n "$pid" ] || return 0
	{	# stderr off: no "Killed" job notice from bash
		kill "-$sig" "$pid" || true
		while kill -0 "$pid"; do
			if [ "$SECONDS" -ge "$end" ]; then
				log "worker $name did not exit within 40s of SIG$sig; killing"
				kill -9 "$pid" || true
				rc=1
				break
			fi
			sleep 0.05
		done
		wait "$pid" || rc=$?
	} 2>/dev/null
	unset "WORKER_PIDS[$name]" "WORKER_SVC[$name]"
	return "$rc"
}

stop_all_workers() {
	local n
	for n in "${!WORKER_PIDS[@]}"; do stop_worker "$n" TERM || true; done
}

start_all_workers() {
	start_worker order "order" "$@"
	start_worker inventory "inventory" "$@"
	start_worker payment "payment" "$@"
}

# fresh_dead_letters: empty the dead-letter queues so counts are this test's.
fresh_dead_letters() {
	local s
	for s in order inventory payment; do ctl -q dead purge "$s"; done
}

# dead_mine: dead letters (all three queues) whose body holds this run's id:
# this test's, whatever other tests sharing the stack dead-letter.
dead_mine() {
	local s
	for s in order inventory payment; do ctl --json dead show "$s" --limit 100000; done |
		python3 -c '
import json, sys
text = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
dec, i, n = json.JSONDecoder(), 0, 0
while i < len(text):
    if text[i].isspace():
        i += 1
        continue
    arr, i = dec.raw_decode(text, i)
    n += sum(sys.argv[1] in (m["body"] or "") for m in arr)
print(n)' "$RUN"
}

dead_count() { ctl --json dead list | python3 -c "import json,sys; print(json.load(sys.stdin)['chorus.$1.dead'])"; }

# order_status ID: STATUS or STATUS:REASON
order_status() { sql order "SELECT status || coalesce(nullif(':' || reason, ':'), '') FROM orders WHERE order_id = '$1'"; }

# quiet_and_check: wait until nothing moves, then check every invariant against the snapshot.
quiet_and_check() {
	local base=$1
	ctl -q wait-quiet --timeout 60
	CHECKS=$((CHECKS + 1))
	if ctl check --baseline "$base" >"$WORK/check.out"; then
		log "ok   invariants 1-6 hold"
		sed 's/^/       /' "$WORK/check.out"
	else
		log "FAIL invariants:"
		cat "$WORK/check.out"
		FAILURES=$((FAILURES + 1))
	fi
}

# event TYPE ID DATA-JSON: a CloudEvents body as a producer would send it.
event() {
	local type=$1 id=$2 data=$3 subject
	subject=$(printf '%s' "$data" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("order_id",""))')
	printf '{"specversion":"1.0","id":"%s","source":"test/%s","type":"%s","subject":"%s","time":"2026-11-26T12:00:00.000Z","datacontenttype":"application/json","data":%s}' \
		"$id" "$TEST_NAME" "$type" "$subject" "$data"
}

uuid() { python3 -c 'import uuid; print(uuid.uuid4())'; }

# wait_until WHAT SECONDS COMMAND...: poll COMMAND (every 0.2 s) until it
# succeeds; after SECONDS, log what was awaited and return 1.
wait_until() {
	local what=$1 secs=$2 end=$((SECONDS + $2))
	shift 2
	until "$@"; do
		if [ "$SECONDS" -ge "$end" ]; then
			log "no $what within ${secs}s"
			return 1
		fi
		sleep 0.2
	done
}

# sql_is SERVICE QUERY WANT: the query's value is WANT (a condition for wait_until).
sql_is() { [ "$(sql "$1" "$2")" = "$3" ]; }

# worker_alive NAME: the worker this test started is still running.
worker_alive() { kill -0 "${WORKER_PIDS[$1]}" 2>/dev/null; }

# log_count NAME PATTERN: lines of a worker's log matching PATTERN (grep -E).
log_count() { grep -cE -- "$2" "$WORK/$1.log" 2>/dev/null || true; }

# rmqctl ARGS...: rabbitmqctl against the stack's node (scripts/stack.sh).
# list_queues' message and consumer counts of quorum queues lag by up to
# 5 s (metrics tick); list_consumers and list_channels ask the queues and
# channels themselves and are live.
rmqctl() { bash "$CHORUS_SRCDIR/scripts/stack.sh" rabbitmqctl -q "$@" 2>/dev/null; }

# foreign_consumers SERVICE: consumers of the service's queue that this test
# did not start (another test's or a benchmark's workers share the stack).
foreign_consumers() {
	local svc=$1 mine=0 n all
	for n in "${!WORKER_SVC[@]}"; do if [ "${WORKER_SVC[$n]}" = "$svc" ]; then mine=$((mine + 1)); fi; done
	all=$(rmqctl list_consumers --no-table-headers queue_name | grep -cx "chorus\.$svc\.events" || true)
	echo $((all - mine))
}

# Other tests' workers may consume the same queues, some only for a while.
# sample_others notes, per service, any consumer this test did not start;
# others_seen SERVICE... is true when one was noted: a worker's log then
# shows only part of what its queue received.
declare -A OTHERS=([order]=0 [inventory]=0 [payment]=0)
sample_others() {
	local s n
	for s in order inventory payment; do
		n=$(foreign_consumers "$s")
		[ "$n" -le 0 ] || OTHERS[$s]=$((OTHERS[$s] + n))
	done
}
others_seen() {
	local s
	for s in "$@"; do [ "${OTHERS[$s]}" = 0 ] || return 0; done
	return 1
}

# unacked_none: no channel holds a delivered, unacknowledged message.
unacked_none() {
	[ "$(rmqctl list_channels --no-table-headers messages_unacknowledged | awk '{ n += $1 } END { print n + 0 }')" = 0 ]
}

# wait_drained [SECONDS]: until every delivery so far has been handled and
# acked: wait-quiet sees ready messages only, not one being handled (a
# duplicate being skipped leaves no other trace), so in between no channel
# may hold an unacknowledged delivery.
wait_drained() {
	local secs=${1:-60}
	ctl -q wait-quiet --timeout "$secs"
	wait_until "all deliveries acked" "$secs" unacked_none
	ctl -q wait-quiet --timeout "$secs"
}

ctl -q setup >/dev/null
