#!/usr/bin/env bash
# Least privilege (issue 9, docs/security.md): what one service's RabbitMQ
# user and PostgreSQL runtime role cannot do, checked against the real
# servers; forged events dead-lettered as `forged` with no effect; control
# headers that did not come through the service's own retry path ignored.
. "$(dirname "$0")/lib.sh"

amqp_as() {	# amqp_as USER: CHORUS_AMQP_URL logging in as USER (password = name)
	printf '%s' "$CHORUS_AMQP_URL" | sed "s|//[^@]*@|//$1:$1@|"
}
INV=$(amqp_as chorus-inventory)
# refused CMD...: the command fails and says the broker refused it (403)
refused() {
	local rc=0
	"$@" >"$WORK/refused.out" 2>&1 || rc=$?
	[ "$rc" -ne 0 ] && grep -q '403' "$WORK/refused.out"
}
yes_no() { if "$@"; then echo yes; else echo no; fi; }

# --- 1. RabbitMQ permissions -------------------------------------------------
body=$(event PaymentCompleted "$(uuid)" '{"order_id":"priv-'$RUN'","payment_id":"p-'$RUN'","customer_id":"c","amount_cents":1,"currency":"EUR"}')
expect "the inventory identity cannot publish to chorus.payment (403)" \
	"$(yes_no refused ctl -o amqp_url="$INV" publish --raw "$body" --exchange chorus.payment --routing-key payment.completed)" yes
expect "the inventory identity cannot publish through the default exchange (403)" \
	"$(yes_no refused ctl -o amqp_url="$INV" publish --raw "$body" --queue chorus.order.events)" yes
expect "the inventory identity cannot publish to another service's retry path (403)" \
	"$(yes_no refused ctl -o amqp_url="$INV" publish --raw "$body" --exchange chorus.order.retry --routing-key chorus.order.events)" yes
expect "the inventory identity cannot declare or change the topology (403)" \
	"$(yes_no refused ctl -o amqp_url="$INV" declare)" yes
expect "the inventory identity cannot read another service's queue (403)" \
	"$(yes_no refused ctl -o amqp_url="$INV" dead show payment)" yes
expect "the inventory identity cannot read its own dead letters either (403)" \
	"$(yes_no refused ctl -o amqp_url="$INV" dead show inventory)" yes

# the broker holds what `chorusctl setup --users` prints (stack.sh made them)
ctl setup --users >"$WORK/users.sh"
curl -fsS -u guest:guest "${CHORUS_MGMT_URL}api/permissions" >"$WORK/perms.json"
expect "the broker's permissions are those of chorusctl setup --users" "$(python3 - "$WORK/users.sh" "$WORK/perms.json" <<'PY'
import json, shlex, sys
want = {}
for line in open(sys.argv[1]):
    w = shlex.split(line)
    if w[:2] == ["$rmq", "set_permissions"]:
        want[w[4]] = tuple(w[5:8])
got = {p["user"]: (p["configure"], p["write"], p["read"]) for p in json.load(open(sys.argv[2]))
       if p["user"] in want}
print("same" if got == want and len(want) == 4 else "got %s, want %s" % (got, want))
PY
)" same
expect "setup --users puts no password in a command line" \
	"$(grep -c 'chorus-inventory' "$WORK/users.sh" | tr -d ' ') $(grep -c "add_user.*chorus-inventory\|change_password.*chorus-inventory" "$WORK/users.sh" | tr -d ' ')" "4 0"

# --- 2. a worker's identity and the topology it only verifies ------------------
rc=0
"$CHORUS_BUILDDIR/chorus-order" --check -o order.amqp_password= >"$WORK/ident.out" 2>&1 || rc=$?
expect "a worker that would log in as another user refuses to start (EX_CONFIG)" \
	"$rc $(grep -c "not as order.amqp_user 'chorus-order'" "$WORK/ident.out")" "78 1"
# a retry queue setup never declared: the worker may not declare it itself
"$CHORUS_BUILDDIR/chorus-order" -o order.health_listen=off -o retry_ladder=1s,5s,31s \
	>"$WORK/order-missing.log" 2>&1 &
WORKER_PIDS[order-missing]=$!
WORKER_SVC[order-missing]=order
wait_log order-missing 'cannot connect, retrying' 20 || true
expect "a worker names the queue it misses and says to run chorusctl setup" \
	"$(($(log_count order-missing 'queue chorus.order.retry.31s: .*404.*run chorusctl setup') > 0))" 1
expect "... and does not declare it" \
	"$(yes_no curl -fs -o /dev/null -u guest:guest "${CHORUS_MGMT_URL}api/queues/%2F/chorus.order.retry.31s")" no
stop_worker order-missing TERM || true
unset 'WORKER_PIDS[order-missing]'

# --- 3. forged events ----------------------------------------------------------
start_worker order order -o saga_deadline=3600	# the order must stay PENDING meanwhile
fresh_dead_letters
id=priv-$RUN
ctl -q publish OrderCreated --data '{"order_id":"'$id'","customer_id":"c-'$RUN'","items":[{"sku":"s-'$RUN'","quantity":1}],"total_cents":100,"currency":"EUR"}'
wait_until "order $id PENDING" 20 sql_is order "SELECT status FROM orders WHERE order_id = '$id'" PENDING
paid() {	# paid EVENT-ID SOURCE: a PaymentCompleted of order $id
	event PaymentCompleted "$1" '{"order_id":"'$id'","payment_id":"pay-'$RUN'","customer_id":"c-'$RUN'","amount_cents":100,"currency":"EUR"}' |
		sed "s|\"source\":\"[^\"]*\"|\"source\":\"$2\"|"
}
f1=$(uuid); f2=$(uuid); f3=$(uuid); ok=$(uuid)
# the issue's attack: the inventory identity, its own exchange, a key the order queue takes
ctl -q -o amqp_url="$INV" publish --raw "$(paid "$f1" chorus/payment)" --exchange chorus.inventory \
	--routing-key inventory.reservation_failed
# the payment identity with another service's source
ctl -q -o amqp_url="$(amqp_as chorus-payment)" publish --raw "$(paid "$f2" chorus/inventory)" \
	--exchange chorus.payment --routing-key payment.completed
# the inventory identity claiming the payment service as source, on its own exchange
ctl -q -o amqp_url="$INV" publish --raw "$(paid "$f3" chorus/payment)" --exchange chorus.inventory \
	--routing-key inventory.released
wait_until "3 forged dead letters" 20 sh -c "[ \"\$($CTL --json dead list | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"chorus.order.dead\"])')\" = 3 ]"
ctl --json dead show order --limit 10 >"$WORK/forged.json"
expect "each forged event dead-lettered with reason forged, saying why" "$(python3 - "$WORK/forged.json" "$f1" "$f2" "$f3" <<'PY'
import json, sys
d = {json.loads(m["body"])["id"]: m["headers"]["x-chorus-reason"] for m in json.load(open(sys.argv[1]))}
out = []
for i, want in zip(sys.argv[2:], ["came through exchange 'chorus.inventory'", "with source 'chorus/inventory'",
                                 "came through exchange 'chorus.inventory'"]):
    r = d.get(i, "")
    out.append("ok" if r.startswith("forged: PaymentCompleted") and want in r else repr(r))
print(" ".join(out))
PY
)" "ok ok ok"
expect "forged events changed nothing (order PENDING, not in the inbox)" \
	"$(order_status "$id") $(sql order "SELECT count(*) FROM inbox WHERE event_id IN ('$f1','$f2','$f3')")" "PENDING 0"
# an event from its owner is applied: the check is no blanket refusal (a
# PaymentFailed, so that the order ends as the invariants want it)
ctl -q -o amqp_url="$(amqp_as chorus-payment)" publish --raw "$(event PaymentFailed "$ok" \
	'{"order_id":"'$id'","reason":"insufficient_funds"}' | sed 's|"source":"[^"]*"|"source":"chorus/payment"|')" \
	--exchange chorus.payment --routing-key payment.failed
wait_until "order $id CANCELLED by the genuine PaymentFailed" 20 \
	sql_is order "SELECT status FROM orders WHERE order_id = '$id'" CANCELLED
expect "the genuine PaymentFailed from the payment identity cancelled the order" \
	"$(order_status "$id")" CANCELLED:insufficient_funds
expect "dead replay keeps forged dead letters dead" \
	"$(ctl dead replay order) $(dead_count order)" \
	"replayed 0 message(s) from chorus.order.dead to chorus.order.events; kept 3 forged one(s) 3"
stop_worker order

# --- 4. control headers count only from the retry path ---------------------------
# The payment provider fails every call (transient): the InventoryReserved is
# retried through chorus.payment.retry. Its publisher wrote x-chorus-attempt 99
# (would dead-letter at once) and history headers of its own.
ladder=(-o retry_ladder=200ms,400ms -o retry_max_attempts=2)
ctl -q "${ladder[@]}" declare	# the administrative identity declares its retry queues
start_worker payment payment -o payment.fault_error_pct=100 -o breaker_failures=1000 "${ladder[@]}"
rid=$(uuid)
res=$(event InventoryReserved "$rid" '{"order_id":"hdr-'$RUN'","reservation_id":"r-'$RUN'","customer_id":"c-'$RUN'","items":[{"sku":"s","quantity":1}],"total_cents":100,"currency":"EUR"}')
python3 - "$res" <<'PY' >"$WORK/publish.json"
import json, sys
print(json.dumps({"properties": {"delivery_mode": 2, "user_id": "chorus-admin", "message_id": json.loads(sys.argv[1])["id"],
    "headers": {"x-chorus-attempt": "99", "x-chorus-first-error": "FORGED first error",
                "x-chorus-reason": "FORGED reason", "x-original-routing-key": "forged.key",
                "x-original-user-id": "forged-user"}},
    "routing_key": "inventory.reserved", "payload": sys.argv[1], "payload_encoding": "string"}))
PY
curl -fsS -u chorus-admin:chorus-admin -H 'content-type: application/json' --data-binary "@$WORK/publish.json" \
	"${CHORUS_MGMT_URL}api/exchanges/%2F/chorus.inventory/publish" >"$WORK/routed.json"
expect "the event with forged control headers was routed" "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["routed"])' <"$WORK/routed.json")" True
wait_until "the event dead-lettered after its retries" 30 sh -c "[ \"\$($CTL --json dead list | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"chorus.payment.dead\"])')\" -ge 1 ]"
ctl --json dead show payment --limit 10 >"$WORK/hdr.json"
expect "retried through its own retry path: attempts counted from 0, not from the forged 99" "$(python3 - "$WORK/hdr.json" "$rid" <<'PY'
import json, sys
m = [m for m in json.load(open(sys.argv[1])) if json.loads(m["body"])["id"] == sys.argv[2]][0]["headers"]
print(m.get("x-chorus-attempt"), m.get("x-chorus-reason", "").split(":")[0])
PY
)" "3 retries_exhausted"
expect "no forged header in the dead-letter record" "$(python3 - "$WORK/hdr.json" "$rid" <<'PY'
import json, sys
m = [m for m in json.load(open(sys.argv[1])) if json.loads(m["body"])["id"] == sys.argv[2]][0]["headers"]
print("FORGED" in json.dumps(m) or "forged" in json.dumps(m), m.get("x-original-routing-key"),
      m.get("x-original-exchange"), m.get("x-original-user-id"))
PY
)" "False inventory.reserved chorus.inventory chorus-admin"
expect "it went through the retry queues twice" "$(log_count payment 'sent to a retry queue')" 2
stop_worker payment
fresh_dead_letters

# --- 5. PostgreSQL roles ------------------------------------------------------------
# as_role SERVICE-DB ROLE SQL: run SQL in the database as ROLE (password = name)
as_role() {
	PGCONNECT_TIMEOUT=5 psql -XAtq -v ON_ERROR_STOP=1 \
		"postgresql://$2:$2@127.0.0.1:$CHORUS_PG_PORT/$1" -c "$3" >"$WORK/pg.out" 2>&1
}
denied() { ! as_role "$@" && grep -qE 'permission denied|must be owner' "$WORK/pg.out"; }
expect "the runtime role reads and writes its tables" \
	"$(yes_no as_role chorus_order chorus_order_app 'SELECT count(*) FROM outbox; UPDATE outbox SET attempts = attempts WHERE false')" yes
expect "the runtime role cannot CREATE a table" "$(yes_no denied chorus_order chorus_order_app 'CREATE TABLE evil (i int)')" yes
expect "the runtime role cannot DROP a table" "$(yes_no denied chorus_order chorus_order_app 'DROP TABLE outbox')" yes
expect "the runtime role cannot ALTER a table" "$(yes_no denied chorus_order chorus_order_app 'ALTER TABLE outbox ADD COLUMN evil int')" yes
expect "the runtime role cannot TRUNCATE a table" "$(yes_no denied chorus_order chorus_order_app 'TRUNCATE outbox')" yes
expect "the runtime role cannot connect to another service's database" \
	"$(yes_no denied chorus_payment chorus_order_app 'SELECT count(*) FROM accounts')" yes
expect "the owner role cannot connect to another service's database" \
	"$(yes_no denied chorus_payment chorus_order 'SELECT count(*) FROM accounts')" yes
expect "the workers' database URL is the runtime role's" \
	"$(sql order 'SELECT current_user')" chorus_order_app

finish
