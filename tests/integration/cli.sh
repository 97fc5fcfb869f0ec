#!/usr/bin/env bash
# chorusctl and the workers' command lines (contract section 5a, 6): exit
# codes after sysexits, one clear line on stderr per error, --json output
# that parses, --help everywhere, and workers refusing a bad configuration
# (exit 78, naming the key) before they connect to anything.
. "$(dirname "$0")/lib.sh"

start_all_workers

sku="cli-sku-$RUN"; cust="cli-cust-$RUN"
ctl -q stock set "$sku" 10
ctl -q account set "$cust" 10000
ctl snapshot >"$WORK/base.json"

# run CMD...: run it, keep its exit code in RC, its stdout and stderr in files.
run() {
	set +e
	"$@" >"$WORK/out" 2>"$WORK/err"
	RC=$?
	set -e
}
# rc_is WHAT WANT CMD...: the command exits WANT.
rc_is() {
	local what=$1 want=$2
	shift 2
	run "$@"
	expect "$what: exit $want" "$RC" "$want"
}
# one_line WHAT: the last command printed exactly one line on stderr (and it says something).
one_line() {
	expect "$1: one line on stderr" "$(wc -l <"$WORK/err") $(grep -c 'chorusctl: ..........' "$WORK/err" || true)" "1 1"
	log "       stderr: $(head -c 200 "$WORK/err")"
}
json_ok() { python3 -m json.tool "$WORK/out" >/dev/null 2>&1 && echo json; }

ctl -q order place --id "cli-$RUN" --customer "$cust" --item "$sku:1" --total 100
ctl -q order wait "cli-$RUN" --timeout 30

# --- exit codes ----------------------------------------------------------------
rc_is "publish invalid data (no customer)" 65 ctl publish OrderCreated --data "{\"order_id\":\"cli-bad-$RUN\"}"
one_line "invalid data"
rc_is "publish data that is not JSON" 65 ctl publish OrderCreated --data "{not json"
one_line "not JSON"
rc_is "publish an unknown type" 65 ctl publish OrderShipped --data "{\"order_id\":\"cli-bad-$RUN\"}"
one_line "unknown type"
rc_is "raw publish to a queue that does not exist (unroutable)" 76 \
	ctl publish --raw '{}' --queue "no-such-queue-$RUN"
one_line "unroutable"
rc_is "RabbitMQ down" 69 ctl -o amqp_url=amqp://guest:guest@127.0.0.1:1/ publish OrderCancelled \
	--data "{\"order_id\":\"cli-x-$RUN\",\"reason\":\"test\"}"
one_line "RabbitMQ down"
rc_is "RabbitMQ down: dead list" 69 ctl -o amqp_url=amqp://guest:guest@127.0.0.1:1/ dead list
one_line "RabbitMQ down: dead list"
rc_is "order database down: order show" 69 ctl -o order.database_url=postgresql://x@127.0.0.1:1/x order show "cli-$RUN"
one_line "database down"
rc_is "unknown command" 64 ctl no-such-command
one_line "unknown command"
rc_is "order place without --total" 64 ctl order place --customer "$cust" --item "$sku:1"
rc_is "bad -o for chorusctl" 78 ctl -o prefetch=abc outbox
one_line "bad -o"
rc_is "order show of an unknown order" 66 ctl order show "cli-nosuch-$RUN"

# order wait on orders that never finish: exit 75 within the timeout
start=$SECONDS
rc_is "order wait on an unknown order" 75 ctl order wait "cli-never-$RUN" --timeout 2
one_line "order wait timeout"
expect "order wait returned within its timeout (+2 s)" "$((SECONDS - start <= 4))" "1"
# an order that only ever got an outcome event: AWAITING, never terminal by itself
event PaymentFailed "$(uuid)" "{\"order_id\":\"cli-await-$RUN\",\"reason\":\"insufficient_funds\"}" >"$WORK/await.json"
ctl -q publish --raw "@$WORK/await.json" --queue chorus.order.events
wait_until "order cli-await-$RUN AWAITING" 30 sql_is order "SELECT status FROM orders WHERE order_id = 'cli-await-$RUN'" AWAITING
start=$SECONDS
rc_is "order wait on an AWAITING order" 75 ctl order wait "cli-await-$RUN" --timeout 2
expect "order wait returned within its timeout (+2 s)" "$((SECONDS - start <= 4))" "1"
# its OrderCreated, to the order service only, ends it (no order left AWAITING)
event OrderCreated "$(uuid)" "{\"order_id\":\"cli-await-$RUN\",\"customer_id\":\"$cust\",\"items\":[{\"sku\":\"$sku\",\"quantity\":1}],\"total_cents\":100,\"currency\":\"EUR\"}" >"$WORK/await-created.json"
ctl -q publish --raw "@$WORK/await-created.json" --queue chorus.order.events
rc_is "order wait on a confirmed order" 0 ctl order wait "cli-$RUN" --timeout 5
rc_is "order wait on the formerly AWAITING order" 0 ctl -q order wait "cli-await-$RUN" --timeout 30
expect "it ends with the early failure" "$(order_status "cli-await-$RUN")" "CANCELLED:insufficient_funds"

# --- --json on read commands ---------------------------------------------------------
for cmd in "order show cli-$RUN" "order list --limit 5" "stock list" "account list" outbox "dead list" \
	"dead show order --limit 2" "order wait cli-$RUN --timeout 5" snapshot; do
	# shellcheck disable=SC2086 # the command's words
	run ctl --json $cmd
	expect "--json $cmd: exit 0, parses as JSON" "$RC $(json_ok)" "0 json"
done
run ctl --json order show "cli-$RUN"
expect "order show --json: order, reservation and payment" "$(python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
print(sorted(d), [(v or {}).get("status") for k, v in sorted(d.items())])' "$WORK/out")" \
	"['order', 'payment', 'reservation'] ['CONFIRMED', 'COMPLETED', 'SOLD']"

# --- --help ------------------------------------------------------------------------
rc_is "chorusctl --help" 0 ctl --help
for c in publish order stock account setup migrate declare outbox dead wait-quiet snapshot check bench; do
	rc_is "chorusctl $c --help" 0 ctl "$c" --help
	expect "chorusctl $c --help prints its usage" "$(grep -c "usage: chorusctl $c" "$WORK/out")" "1"
done
for s in order inventory payment; do
	rc_is "chorus-$s --help" 0 "$CHORUS_BUILDDIR/chorus-$s" --help
done

# --- bench: a small workload through the same broker code, amqp_url ending in "/" -------
# the URL form "chorusctl config --keys" shows as the default (vhost "" read as "/")
slash_url="${CHORUS_AMQP_URL%/%2F}/"
run ctl -o "amqp_url=$slash_url" --json bench --orders 60 --mix 80/10/10 --seed 7 --timeout 60
expect "bench --json with amqp_url ending in /: exit 0, parses as JSON" "$RC $(json_ok)" "0 json"
expect "bench: every outcome as the workload wants, drained, every group measured" "$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
o, c = d["outcomes"], d["cpu"]
print(o["wrong"], o["missing"], sum(o[k]["got"] for k in ("confirmed", "out_of_stock", "insufficient_funds")),
      d["throughput"]["sustained_per_s"] is not None,
      all(v is not None for v in c["ms_per_saga"].values()),
      sorted(w["name"] for w in d["workers"] if w["peak_rss_kb"]))' "$WORK/out")" \
	"0 0 60 True True ['chorus-inventory', 'chorus-order', 'chorus-payment']"
rc_is "bench --mix that does not add up to 100" 64 ctl bench --mix 90/5/4
one_line "bench --mix"

# --- workers: bad configuration -> 78 at once, naming the key -------------------------
# bad_config WHAT KEY ARGS...: chorus-order ARGS exits 78 within 5 s, stderr names KEY.
bad_config() {
	local what=$1 key=$2 start=$SECONDS
	shift 2
	run timeout 10 "$CHORUS_BUILDDIR/chorus-order" "$@"
	expect "chorus-order $what: exit 78 quickly" "$RC $((SECONDS - start <= 5))" "78 1"
	expect "chorus-order $what: the message names $key" "$(grep -c -- "$key" "$WORK/err")" "1"
	log "       stderr: $(head -c 200 "$WORK/err")"
}
bad_config "-o prefetch=abc" prefetch -o prefetch=abc
bad_config "-o prefetch=0 (out of range)" prefetch -o prefetch=0
bad_config "-o log_level=loud" log_level -o log_level=loud
bad_config "--log-level loud" log_level --log-level loud
bad_config "-o no_such_key=1" no_such_key -o no_such_key=1
bad_config "-o currency=eur" currency -o currency=eur
printf '# a config file\nprefetch = 10\nthis line has no equals sign\n' >"$WORK/bad-line.conf"
bad_config "-c FILE with a bad line" "bad-line.conf:3" -c "$WORK/bad-line.conf"
printf 'batch_size = many\n[order]\ndatabase_url = postgresql:///x\n' >"$WORK/bad-value.conf"
bad_config "-c FILE with a bad value" "batch_size" -c "$WORK/bad-value.conf"
printf 'sweep_ms = 100\n[nosuch]\nkey = 1\n' >"$WORK/bad-key.conf"
bad_config "-c FILE with an unknown key" "nosuch.key" -c "$WORK/bad-key.conf"
bad_config "-c a missing FILE" "no-such.conf" -c "$WORK/no-such.conf"
CHORUS_PREFETCH=abc bad_config "CHORUS_PREFETCH=abc in the environment" CHORUS_PREFETCH
rc_is "chorus-order --check-config" 0 "$CHORUS_BUILDDIR/chorus-order" --check-config
rc_is "chorus-order --check-config with a good file and flags" 0 \
	"$CHORUS_BUILDDIR/chorus-order" --check-config -c /dev/null -o prefetch=10 --log-level debug
rc_is "chorus-order --check-config with a bad value" 78 "$CHORUS_BUILDDIR/chorus-order" --check-config -o batch_size=0
rc_is "chorus-order with a stray argument" 64 "$CHORUS_BUILDDIR/chorus-order" stray

quiet_and_check "$WORK/base.json"
finish
