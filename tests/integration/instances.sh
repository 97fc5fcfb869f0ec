#!/usr/bin/env bash
# Several instances (contract section 1) and crash safety (section 4): two
# instances of each worker compete for their queues while ~300 orders of
# every kind run; then, under a steady load, one instance of each service is
# killed with SIGKILL twice and replaced. Every order ends once: one
# reservation, at most one payment, one outcome event, the invariants hold.
. "$(dirname "$0")/lib.sh"

for s in order inventory payment; do
	start_worker "$s" "${s}1" -o log_level=debug	# debug: "event handled" lines
	start_worker "$s" "${s}2" -o log_level=debug
done

sku="multi-sku-$RUN"; none="multi-none-$RUN"
rich="multi-rich-$RUN"; poor="multi-poor-$RUN"
ctl -q stock set "$sku" 1000000
ctl -q stock set "$none" 0
ctl -q account set "$rich" 100000000
ctl -q account set "$poor" 50
ctl snapshot >"$WORK/base.json"

data() {	# data PREFIX CUSTOMER SKU: an OrderCreated data template ({n}: 1..N)
	printf '{"order_id":"%s-{n}","customer_id":"%s","items":[{"sku":"%s","quantity":2}],"total_cents":150,"currency":"EUR"}' "$1" "$2" "$3"
}
terminal() {	# terminal PREFIX: orders of PREFIX that are CONFIRMED or CANCELLED
	sql order "SELECT count(*) FROM orders WHERE order_id LIKE '$1-%' AND status IN ('CONFIRMED', 'CANCELLED')"
}
terminal_at_least() { [ "$(terminal "$1")" -ge "$2" ]; }
outcome() {	# outcome PREFIX: "STATUS:REASON count" lines, sorted
	sql order "SELECT o || ' ' || n FROM (SELECT status || ':' || reason AS o, count(*) AS n FROM orders WHERE order_id LIKE '$1-%' GROUP BY 1) x ORDER BY 1" | tr '\n' ' '
}

# once PREFIX N: each of the N orders was handled exactly once everywhere.
once() {
	local p=$1 n=$2
	expect "$p: one reservation row per order" \
		"$(sql inventory "SELECT count(*) FROM reservations WHERE order_id LIKE '$p-%'")" "$n"
	expect "$p: one reservation outcome event per order" \
		"$(sql inventory "SELECT count(DISTINCT aggregateid) || ' ' || count(*) FROM outbox WHERE aggregateid LIKE '$p-%' AND type IN ('InventoryReserved', 'InventoryReservationFailed')")" "$n $n"
	expect "$p: at most one charge per order" \
		"$(sql payment "SELECT count(*) FROM (SELECT aggregateid FROM outbox WHERE aggregateid LIKE '$p-%' AND type = 'PaymentCompleted' GROUP BY 1 HAVING count(*) > 1) x")" "0"
	expect "$p: one OrderConfirmed or OrderCancelled per order" \
		"$(sql order "SELECT count(DISTINCT aggregateid) || ' ' || count(*) FROM outbox WHERE aggregateid LIKE '$p-%' AND type IN ('OrderConfirmed', 'OrderCancelled')")" "$n $n"
	local confirmed
	confirmed=$(sql order "SELECT count(*) FROM orders WHERE order_id LIKE '$p-%' AND status = 'CONFIRMED'")
	expect "$p: confirmed orders = completed payments = sold reservations" \
		"$(sql payment "SELECT count(*) FROM payments WHERE order_id LIKE '$p-%' AND status = 'COMPLETED'") $(sql inventory "SELECT count(*) FROM reservations WHERE order_id LIKE '$p-%' AND status = 'SOLD'")" \
		"$confirmed $confirmed"
}

# --- two instances each, ~300 orders at once ------------------------------------
m="multi-$RUN"
ctl -q publish OrderCreated --count 200 --data "$(data "$m-ok" "$rich" "$sku")"
ctl -q publish OrderCreated --count 50 --data "$(data "$m-oos" "$rich" "$none")"
ctl -q publish OrderCreated --count 50 --data "$(data "$m-nsf" "$poor" "$sku")"
wait_until "300 orders terminal" 120 terminal_at_least "$m" 300
expect "all 300 orders terminal" "$(terminal "$m")" "300"
expect "outcomes" "$(outcome "$m")" "CANCELLED:insufficient_funds 50 CANCELLED:out_of_stock 50 CONFIRMED: 200 "
ctl -q wait-quiet --timeout 60	# the last OrderConfirmed/OrderCancelled reach inventory and payment
once "$m" 300
expect "stock: 400 units sold, none held" "$(sql inventory "SELECT on_hand || '/' || reserved FROM stock WHERE sku = '$sku'")" "999600/0"
expect "rich paid 200 x 150" "$(sql payment "SELECT balance_cents FROM accounts WHERE customer_id = '$rich'")" "$((100000000 - 200 * 150))"
expect "poor paid nothing" "$(sql payment "SELECT balance_cents FROM accounts WHERE customer_id = '$poor'")" "50"
share=""
for n in order1 order2 inventory1 inventory2 payment1 payment2; do
	expect "$n still running" "$(worker_alive "$n" && echo up)" "up"
	share="$share $n=$(log_count "$n" 'msg="event handled"')"
done
log "events handled per instance:$share"

# --- crash safety: SIGKILL under load ---------------------------------------------
c="crash-$RUN"
ctl -q publish OrderCreated --count 500 --rate 50 --data "$(data "$c-ok" "$rich" "$sku")" &
load1=$!
ctl -q publish OrderCreated --count 100 --rate 10 --data "$(data "$c-oos" "$rich" "$none")" &
load2=$!
gen=3
for round in 1 2; do
	# kill while orders are in flight: after some progress, not at the start
	wait_until "$((round * 150)) crash orders terminal" 60 terminal_at_least "$c" $((round * 150))
	for s in order inventory payment; do
		victim=$(for n in "${!WORKER_SVC[@]}"; do if [ "${WORKER_SVC[$n]}" = "$s" ]; then echo "$n"; fi; done | sort | head -n 1)
		log "round $round: kill -9 $victim"
		stop_worker "$victim" KILL || true
		start_worker "$s" "$s$gen"
	done
	gen=$((gen + 1))
done
wait "$load1"
wait "$load2"
wait_until "600 crash orders terminal" 120 terminal_at_least "$c" 600
expect "all 600 orders terminal after the kills" "$(terminal "$c")" "600"
expect "outcomes after the kills" "$(outcome "$c")" "CANCELLED:out_of_stock 100 CONFIRMED: 500 "
ctl -q wait-quiet --timeout 60
once "$c" 600
expect "stock: 1400 units sold in all, none held" "$(sql inventory "SELECT on_hand || '/' || reserved FROM stock WHERE sku = '$sku'")" "998600/0"
expect "rich paid 700 x 150 in all" "$(sql payment "SELECT balance_cents FROM accounts WHERE customer_id = '$rich'")" "$((100000000 - 700 * 150))"
expect "no dead letters of this test" "$(dead_mine)" "0"

quiet_and_check "$WORK/base.json"
finish
