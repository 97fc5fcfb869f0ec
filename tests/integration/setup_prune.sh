#!/usr/bin/env bash
# chorusctl setup reports the retry queues a changed retry_ladder left
# behind (setup records the ladder it declares in each database's
# retry_queues, and a worker the one it uses; workers declare nothing) and,
# with --prune, deletes those that are empty;
# one still holding messages is kept (exit 75) until a later prune.
. "$(dirname "$0")/lib.sh"

mgmt="${CHORUS_MGMT_URL%/}/api"
exists() { curl -s -o /dev/null -w '%{http_code}' -u guest:guest "$mgmt/queues/%2F/$1"; }
setup() { rc=0; ctl "$@" setup "${SETUP_ARGS[@]}" >"$WORK/setup.out" 2>&1 || rc=$?; }
leftovers() { grep -c 'is not in retry_ladder' "$WORK/setup.out" || true; }

# other tests may have set up ladders of their own: start from the default one
SETUP_ARGS=(--prune)
setup
SETUP_ARGS=()
setup
expect "setup with the ladder in use: exit 0" "$rc" "0"
expect "setup with the ladder in use: nothing left behind" "$(leftovers)" "0"

# a ladder of 1s,3s set up for a while: its queues are declared and recorded
setup -o retry_ladder=1s,3s
expect "setup declared chorus.order.retry.3s" "$(exists chorus.order.retry.3s)" "200"
expect "and recorded it" "$(sql order "SELECT delay_ms FROM retry_queues WHERE name = 'chorus.order.retry.3s'")" "3000"

# the ladder changes to 2s,5s: 1s, 3s and 30s are left behind
setup -o retry_ladder=2s,5s
expect "setup reports what the ladder left behind: exit 0" "$rc" "0"
expect "1s, 3s and 30s of each service" "$(leftovers)" "9"
expect "with how to remove them" "$(grep -c 'is not in retry_ladder (0 messages): chorusctl setup --prune deletes it once empty' "$WORK/setup.out")" "9"
expect "reported, not deleted" "$(exists chorus.payment.retry.30s)" "200"

# a message waits in one: it is kept, the others go
body=$(event OrderCancelled "$(uuid)" "{\"order_id\":\"prune-$RUN\",\"reason\":\"timeout\"}")
ctl -q publish --raw "$body" --queue chorus.payment.retry.30s --message-id "prune-$RUN"
SETUP_ARGS=(--prune)
setup -o retry_ladder=2s,5s
expect "setup --prune with a queue not empty: exit 75 (try again)" "$rc" "75"
expect "that one is kept, saying why" \
	"$(grep -c 'retry queue chorus.payment.retry.30s is not in retry_ladder but holds 1 messages: kept' "$WORK/setup.out")" "1"
expect "the 8 empty ones deleted" "$(grep -c '^deleted retry queue' "$WORK/setup.out")" "8"
expect "chorus.payment.retry.1s deleted" "$(exists chorus.payment.retry.1s)" "404"
expect "chorus.order.retry.3s deleted" "$(exists chorus.order.retry.3s)" "404"
expect "chorus.payment.retry.30s kept" "$(exists chorus.payment.retry.30s)" "200"
expect "the new ladder's queues are there" "$(exists chorus.payment.retry.2s) $(exists chorus.payment.retry.5s)" "200 200"
expect "deleted ones no longer recorded" "$(sql order "SELECT count(*) FROM retry_queues WHERE name IN ('chorus.order.retry.1s', 'chorus.order.retry.3s')")" "0"
# the message leaves (here taken by hand, as its TTL would send it back): prune again
curl -sf -u guest:guest -X POST -H 'content-type: application/json' \
	-d '{"count":1,"ackmode":"ack_requeue_false","encoding":"auto"}' "$mgmt/queues/%2F/chorus.payment.retry.30s/get" >/dev/null
setup -o retry_ladder=2s,5s
expect "prune again once it is empty: exit 0" "$rc" "0"
expect "deleted" "$(grep -c '^deleted retry queue chorus.payment.retry.30s' "$WORK/setup.out")" "1"

# back to the ladder in use: 2s is left behind now, and pruned
setup
expect "back to the default ladder: 2s pruned" "$rc $(grep -c '^deleted retry queue chorus.*retry.2s' "$WORK/setup.out")" "0 3"
expect "the default ladder's queues are back" \
	"$(exists chorus.order.retry.1s) $(exists chorus.order.retry.5s) $(exists chorus.order.retry.30s)" "200 200 200"
SETUP_ARGS=()
setup
expect "nothing left behind" "$rc $(leftovers)" "0 0"
rc=0; ctl setup --bogus >/dev/null 2>"$WORK/usage" || rc=$?
expect "setup with a bad argument: usage, exit 64" "$rc $(grep -c 'usage: chorusctl setup \[--prune|--users\]' "$WORK/usage")" "64 1"
finish
