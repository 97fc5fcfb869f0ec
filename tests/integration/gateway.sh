#!/usr/bin/env bash
# chorus-gateway against the three workers' real APIs: every route and the
# answers of contract section 7, idempotent and conflicting POSTs, the long
# poll, the trace, partial results while the payment service is stopped,
# every bad request with its status, the limits on bad clients; then every
# answer against docs/openapi.json (openapi_check.py).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gateway_lib.sh"

for s in order inventory payment; do start_api_worker "$s" "$s"; done
start_gateway gw -o gateway.per_client=6 -o gateway.idle_timeout=30 -o gateway.max_body=4096 \
	-o gateway.max_header=2048 -o gateway.max_wait=15
sku="gw-sku-$RUN"; rich="gw-rich-$RUN"; poor="gw-poor-$RUN"
ctl -q stock set "$sku" 1000
ctl -q account set "$rich" 1000000
ctl -q account set "$poor" 10
ctl snapshot >"$WORK/base.json"

# --- POST, idempotency, conflict ---------------------------------------------------
id="gw-1-$RUN"
expect "POST a new order: 201" "$(post_order "$id" "$rich" "$sku" 2 300)" "201"
expect "  Location is the gateway's" "$(gw_header Location)" "/api/v1/orders/$id"
expect "  the order comes back PENDING or further" "$(gw_json '.order_id')" "$id"
tp=$(gw_header traceparent)
expect "  the answer carries a traceparent" "$(grep -cE '^00-[0-9a-f]{32}-[0-9a-f]{16}-01$' <<<"$tp")" "1"
expect "the same POST again: 200, the same order" "$(post_order "$id" "$rich" "$sku" 2 300)" "200"
expect "another body under the same id: 409" "$(post_order "$id" "$rich" "$sku" 3 300)" "409"
expect "  a problem" "$(gw_header Content-Type)" "application/problem+json"
expect "one OrderCreated for the id, whatever was posted" \
	"$(sql order "SELECT count(*) FROM outbox WHERE aggregateid = '$id' AND type = 'OrderCreated'")" "1"
expect "POST without order_id: 201 with a made id" "$(post_order "" "$rich" "$sku" 1 150)" "201"
made=$(gw_json '.order_id')
expect "  Location names it" "$(gw_header Location)" "/api/v1/orders/$made"

# --- the long poll, the merged view --------------------------------------------------
t=$(gw_ms "/api/v1/orders/$id?wait=10")
expect "GET ?wait=10 answers once the saga ended: 200" "$(tail -n1 "$REC/manifest" | cut -d' ' -f3)" "200"
expect "  CONFIRMED" "$(gw_json '.order.status')" "CONFIRMED"
expect "  well before the 10 s (${t} ms)" "$((t < 8000))" "1"
# the last events of the saga may still travel: the reservation is sold, the payment taken
wait_until "reservation SOLD" 20 sql_is inventory "SELECT status FROM reservations WHERE order_id = '$id'" SOLD
expect "GET the order: 200" "$(gw GET "/api/v1/orders/$id")" "200"
expect "  complete, all three parts" "$(gw_json '[.complete, .order.status, .inventory.status, .payment.status] | join(" ")')" \
	"true CONFIRMED SOLD COMPLETED"
expect "  X-Chorus-Complete: true" "$(gw_header X-Chorus-Complete)" "true"
expect "  no errors" "$(gw_json '.errors | length')" "0"
nsf="gw-nsf-$RUN"
post_order "$nsf" "$poor" "$sku" 1 500 >/dev/null
expect "an order that cannot be paid: ?wait=10 gives CANCELLED with the reason" \
	"$(gw GET "/api/v1/orders/$nsf?wait=10" >/dev/null; gw_json '.order.status + ":" + .order.reason')" \
	"CANCELLED:insufficient_funds"
expect "GET an unknown order: 404" "$(gw GET "/api/v1/orders/nope-$RUN")" "404"
expect "  a problem naming it" "$(gw_json '.status')" "404"

# --- the trace: the HTTP request is the saga's first step ---------------------------
tid=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
tr_id="gw-tr-$RUN"
post_order "$tr_id" "$rich" "$sku" 1 100 -H "traceparent: 00-$tid-00f067aa0ba902b7-01" >/dev/null
expect "the answer continues the client's trace" "$(gw_header traceparent | cut -d- -f2)" "$tid"
gw GET "/api/v1/orders/$tr_id?wait=10" >/dev/null
ctl -q wait-quiet --timeout 30
ctl --json trace "$tr_id" >"$WORK/trace.json"
expect "chorusctl trace: one trace id, the client's, across every step" \
	"$(jq -r '[.[] | .trace_id | select(. != "-")] | unique | join(",")' "$WORK/trace.json")" "$tid"
expect "  the first step is the order service's, from the HTTP request" \
	"$(jq -r '.[0].service' "$WORK/trace.json")" "order"

# --- partial results while the payment service is stopped ----------------------------
stop_worker payment TERM
expect "payment stopped: GET still 200" "$(gw GET "/api/v1/orders/$id")" "200"
expect "  incomplete, payment null with its reason" \
	"$(gw_json '[.complete, .order.status, .inventory.status, (.payment == null), .errors.payment] | map(tostring) | join(" ")')" \
	"false CONFIRMED SOLD true unavailable"
expect "  X-Chorus-Complete: false" "$(gw_header X-Chorus-Complete)" "false"
start_api_worker payment payment -o "payment.api_listen=$(api_addr payment)"
wait_until "payment back in the gateway's rotation" 20 \
	upstreams_is '.payment.instances[0] | .healthy and (.ejected | not)' true
expect "payment back: complete again" "$(gw GET "/api/v1/orders/$id" >/dev/null; gw_json .complete)" "true"

# --- bad requests, each with its status -----------------------------------------------
J=(-H 'Content-Type: application/json')
expect "POST not JSON: 400" "$(gw POST /api/v1/orders "${J[@]}" -d '{"customer_id":')" "400"
expect "POST JSON with a trailing comma: 400" "$(gw POST /api/v1/orders "${J[@]}" -d '{"a":1,}')" "400"
expect "POST two objects: 400" "$(gw POST /api/v1/orders "${J[@]}" -d '{}{}')" "400"
expect "POST an array: 400" "$(gw POST /api/v1/orders "${J[@]}" -d '[]')" "400"
expect "POST empty: 400" "$(gw POST /api/v1/orders "${J[@]}" -d '')" "400"
expect "POST a bad field (quantity 0): 400 from the order service" \
	"$(post_order "gw-bad-$RUN" "$rich" "$sku" 0 100)" "400"
expect "  naming the field" "$(gw_json '.field' | grep -c quantity)" "1"
expect "POST text/plain: 415" "$(gw POST /api/v1/orders -H 'Content-Type: text/plain' -d '{}')" "415"
head -c 5000 /dev/zero | tr '\0' ' ' >"$WORK/big"
expect "POST a body over max_body: 413" "$(gw POST /api/v1/orders "${J[@]}" --data-binary "@$WORK/big")" "413"
expect "GET an id breaking the id rules: 400" "$(gw GET "/api/v1/orders/bad%20id")" "400"
expect "  naming the field" "$(gw_json .field)" "order_id"
expect "GET an id of 65 characters: 400" "$(gw GET "/api/v1/orders/$(printf 'x%.0s' {1..65})")" "400"
expect "GET ?wait=abc: 400" "$(gw GET "/api/v1/orders/$id?wait=abc")" "400"
expect "  naming the field" "$(gw_json .field)" "wait"
expect "GET ?wait over max_wait: 400" "$(gw GET "/api/v1/orders/$id?wait=16")" "400"
expect "GET ?wait=-1: 400" "$(gw GET "/api/v1/orders/$id?wait=-1")" "400"
expect "an unknown path: 404" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GW/api/v1/nothing")" "404"
expect "DELETE an order: 405" "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "http://127.0.0.1:$GW/api/v1/orders/$id")" "405"
big=$(head -c 3000 /dev/zero | tr '\0' 'a')
st=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $big" "http://127.0.0.1:$GW/api/v1/orders/$id" || true)
expect "headers over max_header: refused (431 or the connection closed)" \
	"$(case $st in 431|000) echo refused ;; *) echo "$st" ;; esac)" "refused"

# connections per client address: 6 held open, the 7th is turned away
fds=()
for i in 1 2 3 4 5 6; do
	exec {fd}<>"/dev/tcp/127.0.0.1/$GW"
	fds+=("$fd")
	# one answer on it: the server has taken it (kept alive, idle)
	printf 'GET /api/v1/orders/nope HTTP/1.1\r\nHost: x\r\n\r\n' >&"$fd"
	read -r -t 20 line <&"$fd" || true
done
st=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GW/api/v1/openapi.json" || true)
expect "a 7th connection from one address (per_client 6): refused" "$st" "000"
for fd in "${fds[@]}"; do exec {fd}>&-; done
serves() { [ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GW/api/v1/openapi.json")" = 200 ]; }
wait_until "connections free again" 10 serves
expect "connections closed: served again" "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GW/api/v1/openapi.json")" "200"

# --- the other routes ------------------------------------------------------------------
expect "GET /api/v1/openapi.json: 200" "$(gw GET /api/v1/openapi.json)" "200"
expect "  it is docs/openapi.json" "$(gw_body | cmp -s - "$CHORUS_SRCDIR/docs/openapi.json" && echo same)" "same"
expect "GET /: 200, the page" "$(gw GET /)" "200"
expect "  HTML" "$(gw_body | grep -c '<title>Chorus')" "1"
expect "metrics: client answers counted" \
	"$(curl -s "http://127.0.0.1:$GWH/metrics" | grep -c 'chorus_gateway_requests_total{service="gateway",route="get_order",status="2xx"} [1-9]')" "1"

# a slow client sending half its headers is closed after idle_timeout (2 s)
stop_worker gw TERM
start_gateway gw_slow -o gateway.idle_timeout=2
exec {slow}<>"/dev/tcp/127.0.0.1/$GW"
printf 'GET /api/v1/orders/%s HTTP/1.1\r\nHost: x\r\n' "$id" >&"$slow"
t0=$SECONDS
got=$(timeout 10 cat <&"$slow" | head -c 100 | wc -c) || true
expect "a client stalling in its headers is closed within idle_timeout + 3 s" "$((SECONDS - t0 <= 5))" "1"
exec {slow}>&-

# --- every answer against the OpenAPI document -------------------------------------------
CHECKS=$((CHECKS + 1))
if python3 "$CHORUS_SRCDIR/tests/integration/openapi_check.py" "$CHORUS_SRCDIR/docs/openapi.json" \
	"$CHORUS_SRCDIR/gateway/gateway.c" "$REC" >"$WORK/openapi.out" 2>&1; then
	log "ok   every answer matches docs/openapi.json: $(tail -n1 "$WORK/openapi.out")"
else
	log "FAIL answers against docs/openapi.json:"
	cat "$WORK/openapi.out"
	FAILURES=$((FAILURES + 1))
fi

quiet_and_check "$WORK/base.json"
finish
