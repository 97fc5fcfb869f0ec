#!/usr/bin/env bash
# Every saga outcome of the contract, end to end through the three workers:
# confirmed; cancelled for out_of_stock, unknown_sku, insufficient_funds,
# unknown_customer, currency_mismatch; the same SKU twice adding up; and the
# compensations each failure causes. Then the invariants.
. "$(dirname "$0")/lib.sh"

start_all_workers
fresh_dead_letters

apple="apple-$RUN"; pear="pear-$RUN"
alice="alice-$RUN"; bob="bob-$RUN"
ctl -q stock set "$apple" 10
ctl -q stock set "$pear" 0
ctl -q account set "$alice" 100000
ctl -q account set "$bob" 50
ctl snapshot >"$WORK/base.json"

place() {	# place ID CUSTOMER TOTAL ITEM... [--currency C]
	local id=$1 cust=$2 total=$3; shift 3
	local args=()
	for it in "$@"; do
		case $it in --currency=*) args+=(--currency "${it#--currency=}") ;; *) args+=(--item "$it") ;; esac
	done
	ctl -q order place --id "$id" --customer "$cust" --total "$total" "${args[@]}"
}

place "ok-$RUN" "$alice" 1250 "$apple:2"
place "oos-$RUN" "$alice" 100 "$pear:1"
place "sku-$RUN" "$alice" 100 "nosuch-$RUN:1"
place "funds-$RUN" "$bob" 5000 "$apple:1"
place "cust-$RUN" "nobody-$RUN" 100 "$apple:1"
place "cur-$RUN" "$alice" 100 "$apple:1" --currency=USD
# 6 + 5 = 11 units of a SKU with 10 left... after ok took 2: 8 left, so 5+5 fails
place "twice-$RUN" "$alice" 100 "$apple:5" "$apple:5"
place "twice-ok-$RUN" "$alice" 300 "$apple:1" "$apple:2"

for id in ok oos sku funds cust cur twice twice-ok; do
	ctl -q order wait "$id-$RUN" --timeout 30
done
expect "happy path confirmed" "$(order_status "ok-$RUN")" "CONFIRMED"
expect "out of stock cancelled" "$(order_status "oos-$RUN")" "CANCELLED:out_of_stock"
expect "unknown SKU cancelled" "$(order_status "sku-$RUN")" "CANCELLED:unknown_sku"
expect "insufficient funds cancelled" "$(order_status "funds-$RUN")" "CANCELLED:insufficient_funds"
expect "unknown customer cancelled" "$(order_status "cust-$RUN")" "CANCELLED:unknown_customer"
expect "currency mismatch cancelled" "$(order_status "cur-$RUN")" "CANCELLED:currency_mismatch"
expect "same SKU twice adds up (10 > 8 left)" "$(order_status "twice-$RUN")" "CANCELLED:out_of_stock"
expect "same SKU twice within stock" "$(order_status "twice-ok-$RUN")" "CONFIRMED"

ctl -q wait-quiet --timeout 30
expect "stock after two sales (10 - 2 - 3)" "$(sql inventory "SELECT on_hand || '/' || reserved FROM stock WHERE sku = '$apple'")" "5/0"
expect "alice charged for her confirmed orders only" "$(sql payment "SELECT balance_cents FROM accounts WHERE customer_id = '$alice'")" "$((100000 - 1250 - 300))"
expect "bob not charged" "$(sql payment "SELECT balance_cents FROM accounts WHERE customer_id = '$bob'")" "50"
expect "reservation of a failed payment released (compensation)" \
	"$(sql inventory "SELECT status || ':' || reason FROM reservations WHERE order_id = 'funds-$RUN'")" "RELEASED:payment_failed"
expect "order records the release" "$(sql order "SELECT released_at IS NOT NULL FROM orders WHERE order_id = 'funds-$RUN'")" "t"
expect "failed reservation names the SKU" \
	"$(sql order "SELECT count(*) FROM outbox WHERE aggregateid = 'oos-$RUN' AND type = 'OrderCancelled'")" "1"
expect "one OrderConfirmed for the happy order" \
	"$(sql order "SELECT count(*) FROM outbox WHERE aggregateid = 'ok-$RUN' AND type = 'OrderConfirmed'")" "1"
expect "InventoryReservationFailed names the SKU" \
	"$(sql inventory "SELECT payload->'data'->>'sku' FROM outbox WHERE aggregateid = 'sku-$RUN' AND type = 'InventoryReservationFailed'")" "nosuch-$RUN"
expect "one trace across the saga" \
	"$(sql order "SELECT count(DISTINCT substr(traceparent, 4, 32)) FROM outbox WHERE aggregateid = 'ok-$RUN'")" "1"
expect "no dead letters" "$(dead_count order)$(dead_count inventory)$(dead_count payment)" "000"

quiet_and_check "$WORK/base.json"
finish
