#!/usr/bin/env bash
# chorus-gateway when instances fail: balancing across two order instances,
# passive ejection of a stopped one and its re-admission once it is back,
# retries against a flapping instance (GETs and POSTs with their order_id
# tried again, a POST without one never), the breaker opening on a stalled
# payment service and then failing fast (measured), and SIGHUP applying a
# changed instance list without a restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gateway_lib.sh"

start_api_worker order order1
start_api_worker order order2
start_api_worker inventory inventory
start_api_worker payment payment
API_order=$API_order1	# start_gateway's order instance: order1
sku="gf-sku-$RUN"; cust="gf-cust-$RUN"
ctl -q stock set "$sku" 1000
ctl -q account set "$cust" 1000000
ctl snapshot >"$WORK/base.json"

o1=$(api_addr order1); o2=$(api_addr order2)
# requests each order instance got, in the gateway's view
served() { upstreams ".order.instances[] | select(.address == \"$1\") | .requests"; }
gets() {	# gets N ID: N GETs, the statuses counted ("200:N ...")
	local i
	for ((i = 0; i < $1; i++)); do gw GET "/api/v1/orders/$2"; done | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }'
}

# --- balancing, ejection, re-admission ---------------------------------------------------
start_gateway gw1 -o "gateway.order_instances=$o1,$o2" -o gateway.health_interval_ms=60000 \
	-o gateway.eject_failures=2 -o gateway.eject_ms=3000 -o gateway.breaker_failures=1000
id="gf-1-$RUN"
expect "an order placed" "$(post_order "$id" "$cust" "$sku" 1 100)" "201"
gw GET "/api/v1/orders/$id?wait=10" >/dev/null
# the view is at most a quarter second old: read it once it stopped moving
stable() { local a; a=$(upstreams "$1"); sleep 0.3; [ "$(upstreams "$1")" = "$a" ]; }
wait_until "a settled view" 20 stable '[.order.instances[].requests] | add'
before1=$(served "$o1"); before2=$(served "$o2")
expect "40 GETs through two instances: all 200" "$(gets 40 "$id")" "200:40 "
wait_until "the view of the 40" 20 upstreams_is "[.order.instances[].requests] | add == $((before1 + before2 + 40))" true
n1=$(($(served "$o1") - before1)); n2=$(($(served "$o2") - before2))
expect "both instances served (least in flight, ties round): $n1 and $n2" "$((n1 >= 10 && n2 >= 10))" "1"

stop_worker order2 TERM
expect "order2 stopped: 20 GETs still all 200 (retried on order1)" "$(gets 20 "$id")" "200:20 "
wait_until "order2 ejected" 20 grep -q "msg=\"instance ejected\" upstream=order instance=$o2" "$WORK/gw1.log"
expect "order2 ejected after failures in a row (logged)" "$(upstreams ".order.instances[1].failures >= 2")" "true"
start_api_worker order order2 -o "order.api_listen=$o2"
wait_until "order2 re-admitted" 20 upstreams_is ".order.instances[1].ejected" false
before2=$(served "$o2")
expect "order2 back: 20 GETs all 200" "$(gets 20 "$id")" "200:20 "
serving_again() { [ "$(served "$o2")" -gt "$before2" ]; }
wait_until "order2 serving again" 20 serving_again
expect "order2 re-admitted and serving again" "$(($(served "$o2") > before2))" "1"
stop_worker gw1 TERM

# --- retries against a flapping instance ---------------------------------------------------
pport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 "$CHORUS_SRCDIR/tests/integration/flaky_proxy.py" "$pport" "$o1" >"$WORK/proxy.log" 2>&1 &
PROXY=$!
wait_until "the flapping proxy" 30 curl -sf -o /dev/null "http://127.0.0.1:$pport/__counts"
start_gateway gw2 -o "gateway.order_instances=127.0.0.1:$pport" -o gateway.eject_failures=50 \
	-o gateway.breaker_failures=1000 -o gateway.retries=3
counts() { curl -s "http://127.0.0.1:$pport/__counts" | jq -r "$1"; }
expect "20 GETs through an instance failing every other request: all 200" "$(gets 20 "$id")" "200:20 "
expect "  the instance failed some, the gateway tried again" \
	"$(( $(counts .failed) >= 5 && $(curl -s "http://127.0.0.1:$GWH/metrics" | awk '/^chorus_gateway_upstream_retries_total\{service="gateway",upstream="order"\}/ { print $2 }') >= 5 ))" "1"
p0=$(counts .POST)
st=$(for i in $(seq 1 10); do post_order "gf-r$i-$RUN" "$cust" "$sku" 1 100; done | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
expect "10 POSTs with their order_id: all placed (tried again)" "$st" "201:10 "
expect "  more than 10 POSTs reached the instance" "$(( $(counts .POST) - p0 > 10 ))" "1"
p0=$(counts .POST)
st=$(for i in $(seq 1 10); do post_order "" "$cust" "$sku" 1 100; done | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
expect "10 POSTs without order_id: some 503 passed through" "$(grep -c '503:' <<<"$st")" "1"
expect "  never tried again: exactly 10 reached the instance" "$(( $(counts .POST) - p0 ))" "10"
stop_worker gw2 TERM
kill "$PROXY"; wait "$PROXY" 2>/dev/null || true

# --- the breaker: a stalled payment service, then failing fast --------------------------------
start_gateway gw3 -o gateway.timeout_ms=400 -o gateway.retries=0 -o gateway.connect_timeout_ms=400 -o gateway.breaker_failures=3 \
	-o gateway.breaker_recovery_ms=10000 -o gateway.health_interval_ms=60000 -o gateway.eject_failures=100
kill -STOP "${WORKER_PIDS[payment]}"
slow=()
for i in 1 2 3; do slow+=("$(gw_ms "/api/v1/orders/$id")"); done
expect "payment stalled: the answer waits for the timeout, payment: timeout" "$(gw_json .errors.payment)" "timeout"
expect "  each took the 400 ms timeout (${slow[*]} ms)" "$(for t in "${slow[@]}"; do ((t >= 380)) || echo short; done)" ""
fast=()
for i in 1 2 3 4 5; do fast+=("$(gw_ms "/api/v1/orders/$id")"); done
expect "breaker open: payment: circuit_open" "$(gw_json .errors.payment)" "circuit_open"
expect "  still 200, the order there, incomplete" "$(gw_json '[.complete, .order.order_id] | map(tostring) | join(" ")')" "false $id"
sorted=$(printf '%s\n' "${fast[@]}" | sort -n | tr '\n' ' ')
log "fail fast: 5 answers in ${sorted}ms (timeout 400 ms before the breaker opened)"
expect "  every answer fast (< 100 ms): ${sorted}ms" "$(for t in "${fast[@]}"; do ((t < 100)) || echo slow; done)" ""
expect "  breaker open in the metrics" \
	"$(curl -s "http://127.0.0.1:$GWH/metrics" | grep -c '^chorus_gateway_breaker_state{service="gateway",upstream="payment"} 1$')" "1"
expect "  and in the log" "$(log_count gw3 'circuit breaker open: failing fast.*upstream=payment')" "1"
kill -CONT "${WORKER_PIDS[payment]}"
complete_again() { gw GET "/api/v1/orders/$id" >/dev/null; [ "$(gw_json .complete)" = true ]; }
wait_until "the breaker to close after its recovery" 30 complete_again
# the gateway's view (/upstreams) is refreshed every quarter second
breaker_closed() { [ "$(upstreams .payment.breaker)" = closed ]; }
wait_until "the view to show the breaker closed" 5 breaker_closed
expect "payment back, after recovery: complete again, breaker closed" "$(upstreams .payment.breaker)" "closed"
stop_worker gw3 TERM

# --- SIGHUP: a changed instance list without a restart -------------------------------------------
conf=$WORK/gw4.conf
printf '[gateway]\norder_instances = %s\ninventory_instances = %s\npayment_instances = %s\n' \
	"$o1" "$(api_addr inventory)" "$(api_addr payment)" >"$conf"
start_gateway gw4 -c "$conf"
expect "one order instance configured" "$(upstreams '.order.instances | length')" "1"
sed -i "s/^order_instances = .*/order_instances = $o2/" "$conf"
pid=${WORKER_PIDS[gw4]}
kill -HUP "$pid"
wait_until "the new list applied" 20 upstreams_is '[.order.instances[].address] | join(",")' "$o2"
expect "SIGHUP: order1 out, order2 in, same process" "$(upstreams '[.order.instances[].address] | join(",")') $(kill -0 "$pid" && echo alive)" "$o2 alive"
expect "  GETs go to order2" "$(gets 5 "$id")" "200:5 "
wait_until "order2's requests in the view" 20 upstreams_is '.order.instances[0].requests >= 5' true
expect "  logged" "$(log_count gw4 'msg="instances changed" upstream=order')" "1"
printf 'order_instances = nonsense\n' >>"$conf"
kill -HUP "$pid"
wait_log gw4 'reload refused' 10
expect "a bad list on SIGHUP: refused, the running one kept" "$(upstreams '[.order.instances[].address] | join(",")')" "$o2"

quiet_and_check "$WORK/base.json"
finish
