#!/usr/bin/env bash
# The services' REST APIs (contract section 7): every route and every
# status code: 201/200/409 of an idempotent POST, 400 naming the field,
# 404, 405, 413, 415, 503 beyond the requests in flight and while the
# database refuses the API; the same POST twice is one saga that
# completes; the client's traceparent is the saga's trace.
. "$(dirname "$0")/lib.sh"

start_worker order order -o order.api_listen=127.0.0.1:0
start_worker inventory inventory -o inventory.api_listen=127.0.0.1:0
start_worker payment payment -o payment.api_listen=127.0.0.1:0
base=$WORK/base.json
ctl snapshot >"$base"

api_port() { sed -n 's/.*msg="api listening" address=[0-9.]*:\([0-9]*\).*/\1/p' "$WORK/$1.log" | tail -n 1; }
OP=$(api_port order)
IP=$(api_port inventory)
PP=$(api_port payment)

# call METHOD PORT PATH [BODY [CONTENT-TYPE [HEADER]]]: the status; body in $WORK/body, headers in $WORK/headers
call() {
	local method=$1 port=$2 path=$3 body=${4:-} type=${5:-application/json} extra=${6:-X-None: 1}
	local args=(-s -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' -X "$method" -H "$extra")
	[ -z "$body" ] || args+=(-H "Content-Type: $type" --data-binary "$body")
	curl "${args[@]}" "http://127.0.0.1:$port$path"
}
# field NAME: a top-level member of the last answer's JSON ('' when absent or null)
field() { jq -r --arg k "$1" '.[$k] // ""' "$WORK/body"; }
header() { tr -d '\r' <"$WORK/headers" | sed -n "s/^$1: //Ip" | head -n 1; }

CUST="api-c-$RUN"
SKU="api-s-$RUN"
ctl -q stock set "$SKU" 10
ctl -q account set "$CUST" 10000
ID="api-o-$RUN"
ORDER="{\"order_id\":\"$ID\",\"customer_id\":\"$CUST\",\"items\":[{\"sku\":\"$SKU\",\"quantity\":2}],\"total_cents\":1250,\"currency\":\"EUR\"}"
TRACE=4bf92f3577b34da6a3ce929d0e0e47$(printf '%02x' $((RANDOM % 256)))
TP="00-$TRACE-00f067aa0ba902b7-01"

# --- POST: new, the same again, other data --------------------------------------
expect "POST new order" "$(call POST "$OP" /v1/orders "$ORDER" application/json "traceparent: $TP")" "201"
expect "201 Location" "$(header Location)" "/v1/orders/$ID"
expect "201 body: the order, PENDING" "$(field order_id) $(field status)" "$ID PENDING"
expect "201 traceparent continues the client's trace" "$(header traceparent | cut -d- -f2)" "$TRACE"
expect "same POST again: 200" "$(call POST "$OP" /v1/orders "$ORDER")" "200"
expect "200 body: the order" "$(field order_id) $(field total_cents)" "$ID 1250"
expect "other data under the id: 409" "$(call POST "$OP" /v1/orders "${ORDER/\"quantity\":2/\"quantity\":3}")" "409"
expect "409 names order_id" "$(field field) $(field status)" "order_id 409"
expect "409 is a problem" "$(header Content-Type)" "application/problem+json"

# the same POST from 20 clients at once: one order, one OrderCreated
ID2="api-p-$RUN"
ORDER2=${ORDER//$ID/$ID2}
CURLS=()
for i in $(seq 20); do
	curl -s -o /dev/null -w '%{http_code}\n' -X POST -H 'Content-Type: application/json' \
		--data-binary "$ORDER2" "http://127.0.0.1:$OP/v1/orders" >"$WORK/code.$i" &
	CURLS+=($!)
done
wait "${CURLS[@]}"
cat "$WORK"/code.* | grep -o '^[0-9]*$' >"$WORK/codes" || true
expect "20 concurrent identical POSTs: one 201, 19 200" "$(sort "$WORK/codes" | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' ')" "200x19 201x1 "

# no order_id: one is made
expect "POST without order_id" "$(call POST "$OP" /v1/orders "{\"customer_id\":\"$CUST\",\"items\":[{\"sku\":\"$SKU\",\"quantity\":1}],\"total_cents\":100,\"currency\":\"EUR\"}")" "201"
GEN=$(field order_id)
expect "a made order id" "$(case $GEN in ord-*) echo ok ;; *) echo "$GEN" ;; esac)" "ok"

# --- 400 naming the field, 413, 415, 404, 405 ------------------------------------
bad() {	# bad WHAT BODY FIELD
	expect "400 $1" "$(call POST "$OP" /v1/orders "$2")" "400"
	expect "400 $1 names '$3'" "$(field field)" "$3"
}
O="\"order_id\":\"b-$RUN\""
C="\"customer_id\":\"$CUST\""
I="\"items\":[{\"sku\":\"$SKU\",\"quantity\":1}]"
bad "quantity a string" "{$O,$C,\"items\":[{\"sku\":\"$SKU\",\"quantity\":\"1\"}],\"total_cents\":1,\"currency\":\"EUR\"}" "items[0].quantity"
bad "quantity over 10000" "{$O,$C,\"items\":[{\"sku\":\"$SKU\",\"quantity\":10001}],\"total_cents\":1,\"currency\":\"EUR\"}" "items[0].quantity"
bad "customer_id missing" "{$O,$I,\"total_cents\":1,\"currency\":\"EUR\"}" "customer_id"
bad "order_id not an id" "{\"order_id\":\"a b\",$C,$I,\"total_cents\":1,\"currency\":\"EUR\"}" "order_id"
bad "currency lower case" "{$O,$C,$I,\"total_cents\":1,\"currency\":\"eur\"}" "currency"
bad "total_cents negative" "{$O,$C,$I,\"total_cents\":-1,\"currency\":\"EUR\"}" "total_cents"
bad "total_cents a float" "{$O,$C,$I,\"total_cents\":1.5,\"currency\":\"EUR\"}" "total_cents"
bad "no items" "{$O,$C,\"items\":[],\"total_cents\":1,\"currency\":\"EUR\"}" "items"
bad "an unknown field" "{$O,$C,$I,\"total_cents\":1,\"currency\":\"EUR\",\"coupon\":\"x\"}" "coupon"
bad "a duplicate key" "{$O,$C,$C,$I,\"total_cents\":1,\"currency\":\"EUR\"}" ""
expect "duplicate key: says so" "$(field detail)" "invalid_json: duplicate member name"
bad "trailing garbage" "{$O,$C,$I,\"total_cents\":1,\"currency\":\"EUR\"} x" ""
bad "not an object" "[1]" ""
bad "not JSON" "order please" ""
expect "nothing of them was stored" "$(sql order "SELECT count(*) FROM orders WHERE order_id = 'b-$RUN'")" "0"
expect "413 body over api_max_body" "$(call POST "$OP" /v1/orders "$(head -c 70000 /dev/zero | tr '\0' ' ')")" "413"
expect "415 text/plain" "$(call POST "$OP" /v1/orders "$ORDER" text/plain)" "415"
expect "404 unknown order" "$(call GET "$OP" "/v1/orders/none-$RUN")" "404"
expect "404 is a problem" "$(field status) $(header Content-Type)" "404 application/problem+json"
expect "400 bad order id in the path" "$(call GET "$OP" "/v1/orders/a%20b")" "400"
expect "400 names order_id" "$(field field)" "order_id"
expect "404 unknown path" "$(call GET "$OP" /v1/nothing)" "404"
expect "405 DELETE on an order" "$(call DELETE "$OP" "/v1/orders/$ID")" "405"
expect "405 says what is allowed" "$(header Allow)" "GET"

# --- the saga completes once ----------------------------------------------------
wait_until "order $ID confirmed" 60 sql_is order "SELECT status FROM orders WHERE order_id = '$ID'" CONFIRMED
wait_until "order $ID2 confirmed" 60 sql_is order "SELECT status FROM orders WHERE order_id = '$ID2'" CONFIRMED
wait_until "order $GEN confirmed" 60 sql_is order "SELECT status FROM orders WHERE order_id = '$GEN'" CONFIRMED
expect "GET the order: CONFIRMED" "$(call GET "$OP" "/v1/orders/$ID") $(field status)" "200 CONFIRMED"
expect "one OrderCreated written for $ID" "$(sql order "SELECT count(*) FROM outbox WHERE aggregateid = '$ID' AND type = 'OrderCreated'")" "1"
expect "one OrderCreated written for $ID2" "$(sql order "SELECT count(*) FROM outbox WHERE aggregateid = '$ID2' AND type = 'OrderCreated'")" "1"
expect "the OrderCreated on the wire: source chorus/order" "$(sql order "SELECT payload->>'source' || ' ' || (payload->'data'->>'total_cents') FROM outbox WHERE aggregateid = '$ID' AND type = 'OrderCreated'")" "chorus/order 1250"
expect "its own OrderCreated came back to the order service as a duplicate" "$(sql order "SELECT count(*) FROM inbox WHERE order_id = '$ID' AND type = 'OrderCreated'")" "1"
expect "charged once for each" "$(sql payment "SELECT count(*) FROM payments WHERE order_id IN ('$ID', '$ID2') AND status = 'COMPLETED'")" "2"

# --- the trace ------------------------------------------------------------------
expect "every event of the saga in the client's trace" \
	"$(ctl --json trace "$ID" | jq -r '[.[].trace_id] | unique | join(" ")')" "$TRACE"
expect "the saga's first step: the order service emitted OrderCreated" \
	"$(ctl --json trace "$ID" | jq -r '.[0] | "\(.service) \(.what) \(.type)"')" "order emitted OrderCreated"

# --- inventory and payment ------------------------------------------------------
expect "GET reservation" "$(call GET "$IP" "/v1/reservations/$ID") $(field status)" "200 SOLD"
expect "GET stock" "$(call GET "$IP" "/v1/stock/$SKU") $(field on_hand) $(field reserved) $(field available)" "200 5 0 5"
expect "404 unknown reservation" "$(call GET "$IP" "/v1/reservations/none-$RUN")" "404"
expect "404 unknown sku" "$(call GET "$IP" "/v1/stock/none-$RUN")" "404"
expect "400 bad sku" "$(call GET "$IP" "/v1/stock/a%21") $(field field)" "400 sku"
expect "GET payment" "$(call GET "$PP" "/v1/payments/$ID") $(field status) $(field amount_cents) $(field currency)" "200 COMPLETED 1250 EUR"
expect "GET account" "$(call GET "$PP" "/v1/accounts/$CUST") $(field balance_cents) $(field currency)" "200 7400 EUR"
expect "404 unknown payment" "$(call GET "$PP" "/v1/payments/none-$RUN")" "404"
expect "404 unknown account" "$(call GET "$PP" "/v1/accounts/none-$RUN")" "404"
expect "the API serves /readyz too" "$(call GET "$PP" /readyz)" "200"

# --- the list: newest first, keyset pages ----------------------------------------
LC="api-l-$RUN"
ctl -q account set "$LC" 10000
for i in 1 2 3; do
	call POST "$OP" /v1/orders "{\"order_id\":\"l$i-$RUN\",\"customer_id\":\"$LC\",\"items\":[{\"sku\":\"$SKU\",\"quantity\":1}],\"total_cents\":1,\"currency\":\"EUR\"}" >/dev/null
done
ids() { jq -r '[.orders[].order_id] | join(" ")' "$WORK/body"; }
expect "page 1" "$(call GET "$OP" "/v1/orders?limit=2") $(ids)" "200 l3-$RUN l2-$RUN"
NEXT=$(field next)
expect "page 2 after the cursor" "$(call GET "$OP" "/v1/orders?limit=1&after=$NEXT") $(ids)" "200 l1-$RUN"
expect "status filter" "$(call GET "$OP" "/v1/orders?status=CONFIRMED&limit=500") $(ids | grep -c "$ID")" "200 1"
expect "400 bad status" "$(call GET "$OP" "/v1/orders?status=LOST") $(field field)" "400 status"
expect "400 limit 0" "$(call GET "$OP" "/v1/orders?limit=0") $(field field)" "400 limit"
expect "400 limit not a number" "$(call GET "$OP" "/v1/orders?limit=9x") $(field field)" "400 limit"
expect "400 a cursor not made here" "$(call GET "$OP" "/v1/orders?after=bm9wZQ") $(field field)" "400 after"

# --- 503: requests in flight beyond api_max_in_flight -----------------------------
start_worker order busy -o order.api_listen=127.0.0.1:0 -o api_max_in_flight=1 -o api_db_connections=1
BP=$(api_port busy)
LOCKED=$WORK/locked
# a session holds the orders table until told: the first POST waits for it, in flight
mkfifo "$WORK/locker"
psql "$CHORUS_ORDER_DATABASE_URL" -Xq <"$WORK/locker" >/dev/null &
LOCKER=$!
exec 3>"$WORK/locker"
echo "BEGIN; LOCK TABLE orders;" >&3
wait_until "orders table locked" 10 sql_is order "SELECT count(*) > 0 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'orders' AND l.mode = 'AccessExclusiveLock' AND l.granted" t
call POST "$BP" /v1/orders "{\"order_id\":\"f-$RUN\",$C,$I,\"total_cents\":1,\"currency\":\"EUR\"}" >"$LOCKED" &
FIRST=$!
in_flight() { curl -s "http://127.0.0.1:$BP/metrics" | awk '$1 ~ /^chorus_api_in_flight/ { print $2 }'; }
one_in_flight() { [ "$(in_flight)" = 1 ]; }
wait_until "one request in flight" 10 one_in_flight
expect "503 beyond api_max_in_flight" "$(call GET "$BP" "/v1/orders/$ID")" "503"
expect "503 says when to come back" "$(header Retry-After)" "1"
echo "COMMIT;" >&3
exec 3>&-
wait "$FIRST" "$LOCKER"
expect "the request in flight got through" "$(cat "$LOCKED")" "201"
stop_worker busy

# --- 503 while the database refuses the API, and back ------------------------------
pgadmin() { bash "$CHORUS_SRCDIR/scripts/stack.sh" psql -Xq "$@"; }
sql order "SELECT 1" >/dev/null
pgadmin -c "ALTER DATABASE chorus_order CONNECTION LIMIT 0" \
	-c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'chorus-api' AND datname = 'chorus_order'" >/dev/null
expect "503 while the database is unreachable" "$(call GET "$OP" "/v1/orders/$ID")" "503"
expect "503 problem says why" "$(field detail)" "the service's database is unavailable"
expect "503 POST too" "$(call POST "$OP" /v1/orders "$ORDER")" "503"
pgadmin -c "ALTER DATABASE chorus_order CONNECTION LIMIT -1" >/dev/null
ok_again() { [ "$(call GET "$OP" "/v1/orders/$ID")" = 200 ]; }
wait_until "the API answering again" 10 ok_again
expect "answers again once the database is back" "$(call GET "$OP" "/v1/orders/$ID")" "200"

quiet_and_check "$base"
finish
