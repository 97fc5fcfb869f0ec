#!/usr/bin/env bash
# Events out of order (contract section 2): (a) a PaymentCompleted reaching the
# order service before its OrderCreated ends CONFIRMED once the OrderCreated
# arrives, sold and charged once; (b) an OrderCancelled seen by inventory and
# payment before the OrderCreated: the order is cancelled (order_cancelled),
# nothing held, nothing charged; (c) an InventoryReservationFailed reaching
# the order service before the OrderCreated: cancelled with that reason;
# (d) an OrderCancelled seen by payment only, before the InventoryReserved:
# the customer is never charged, the reservation is released.
. "$(dirname "$0")/lib.sh"

start_all_workers

sku="ooo-sku-$RUN"; cust="ooo-cust-$RUN"
ctl -q stock set "$sku" 10
ctl -q account set "$cust" 10000
ctl snapshot >"$WORK/base.json"

created() {	# created ORDER-ID QTY TOTAL: OrderCreated data
	printf '{"order_id":"%s","customer_id":"%s","items":[{"sku":"%s","quantity":%d}],"total_cents":%d,"currency":"EUR"}' \
		"$1" "$cust" "$sku" "$2" "$3"
}

# --- (a) PaymentCompleted before OrderCreated ---------------------------------
a="ooo-a-$RUN"
event OrderCreated "$(uuid)" "$(created "$a" 2 700)" >"$WORK/a.json"
# only inventory sees it: inventory reserves, payment charges, and the
# PaymentCompleted reaches an order service that never saw the order
ctl -q publish --raw "@$WORK/a.json" --queue chorus.inventory.events
wait_until "payment of $a COMPLETED" 30 sql_is payment "SELECT status FROM payments WHERE order_id = '$a'" COMPLETED
wait_until "order $a AWAITING its OrderCreated, paid" 30 \
	sql_is order "SELECT status || ' ' || early FROM orders WHERE order_id = '$a'" "AWAITING PAID"
expect "(a) no OrderConfirmed before the OrderCreated" \
	"$(sql order "SELECT count(*) FROM outbox WHERE aggregateid = '$a'")" "0"
# now the same OrderCreated (same event id) reaches the order service
ctl -q publish --raw "@$WORK/a.json" --queue chorus.order.events
ctl -q order wait "$a" --timeout 30
expect "(a) order CONFIRMED once its OrderCreated arrives" "$(order_status "$a")" "CONFIRMED"
wait_until "reservation of $a SOLD" 30 sql_is inventory "SELECT status FROM reservations WHERE order_id = '$a'" SOLD
expect "(a) order recorded the OrderCreated data" \
	"$(sql order "SELECT customer_id || ' ' || total_cents || ' ' || (created_at IS NOT NULL) FROM orders WHERE order_id = '$a'")" "$cust 700 true"
expect "(a) charged once" "$(sql payment "SELECT count(*) || ' ' || max(amount_cents) FROM payments WHERE order_id = '$a' AND status = 'COMPLETED'")" "1 700"
expect "(a) one OrderConfirmed" "$(sql order "SELECT string_agg(type, ',') FROM outbox WHERE aggregateid = '$a'")" "OrderConfirmed"
expect "(a) stock: 2 sold" "$(sql inventory "SELECT on_hand || '/' || reserved FROM stock WHERE sku = '$sku'")" "8/0"
expect "(a) balance: charged 700 once" "$(sql payment "SELECT balance_cents FROM accounts WHERE customer_id = '$cust'")" "9300"

# --- (b) OrderCancelled before OrderCreated ------------------------------------
b="ooo-b-$RUN"
ctl -q publish OrderCancelled --data "{\"order_id\":\"$b\",\"reason\":\"test\"}"
wait_until "inventory and payment recorded the early cancel of $b" 30 \
	sql_is inventory "SELECT status FROM reservations WHERE order_id = '$b'" CANCELLED
wait_until "payment recorded the early cancel of $b" 30 \
	sql_is payment "SELECT status FROM payments WHERE order_id = '$b'" CANCELLED
ctl -q order place --id "$b" --customer "$cust" --item "$sku:3" --total 300
ctl -q order wait "$b" --timeout 30
expect "(b) order cancelled: order_cancelled" "$(order_status "$b")" "CANCELLED:order_cancelled"
ctl -q wait-quiet --timeout 60
expect "(b) inventory never held stock for it" \
	"$(sql inventory "SELECT status || ':' || reason FROM reservations WHERE order_id = '$b'")" "FAILED:order_cancelled"
expect "(b) InventoryReservationFailed order_cancelled, no InventoryReserved" \
	"$(sql inventory "SELECT string_agg(type || ':' || (payload->'data'->>'reason'), ',') FROM outbox WHERE aggregateid = '$b'")" \
	"InventoryReservationFailed:order_cancelled"
expect "(b) no charge" "$(sql payment "SELECT status || ' ' || amount_cents FROM payments WHERE order_id = '$b'")" "CANCELLED 0"
expect "(b) stock unchanged" "$(sql inventory "SELECT on_hand || '/' || reserved FROM stock WHERE sku = '$sku'")" "8/0"
expect "(b) balance unchanged" "$(sql payment "SELECT balance_cents FROM accounts WHERE customer_id = '$cust'")" "9300"

# --- (c) InventoryReservationFailed before OrderCreated ------------------------
c="ooo-c-$RUN"
event InventoryReservationFailed "$(uuid)" "{\"order_id\":\"$c\",\"reason\":\"out_of_stock\",\"sku\":\"$sku\"}" >"$WORK/c-failed.json"
ctl -q publish --raw "@$WORK/c-failed.json" --queue chorus.order.events
wait_until "order $c AWAITING, failed early" 30 \
	sql_is order "SELECT status || ' ' || early || ' ' || reason FROM orders WHERE order_id = '$c'" "AWAITING FAILED out_of_stock"
event OrderCreated "$(uuid)" "$(created "$c" 1 100)" >"$WORK/c.json"
ctl -q publish --raw "@$WORK/c.json" --queue chorus.order.events
ctl -q order wait "$c" --timeout 30
expect "(c) order cancelled with the early reason" "$(order_status "$c")" "CANCELLED:out_of_stock"
expect "(c) one OrderCancelled" \
	"$(sql order "SELECT string_agg(type || ':' || (payload->'data'->>'reason'), ',') FROM outbox WHERE aggregateid = '$c'")" \
	"OrderCancelled:out_of_stock"
# the OrderCancelled reaches inventory and payment, which never saw the order
wait_until "inventory recorded the cancel of $c" 30 \
	sql_is inventory "SELECT status FROM reservations WHERE order_id = '$c'" CANCELLED
wait_until "payment recorded the cancel of $c" 30 \
	sql_is payment "SELECT status FROM payments WHERE order_id = '$c'" CANCELLED

# --- (d) OrderCancelled reaches payment before InventoryReserved ---------------
d="ooo-d-$RUN"
event OrderCancelled "$(uuid)" "{\"order_id\":\"$d\",\"reason\":\"test\"}" >"$WORK/d-cancel.json"
ctl -q publish --raw "@$WORK/d-cancel.json" --queue chorus.payment.events
wait_until "payment recorded the early cancel of $d" 30 \
	sql_is payment "SELECT status FROM payments WHERE order_id = '$d'" CANCELLED
ctl -q order place --id "$d" --customer "$cust" --item "$sku:4" --total 400
ctl -q order wait "$d" --timeout 30
expect "(d) order cancelled: order_cancelled (payment refused)" "$(order_status "$d")" "CANCELLED:order_cancelled"
wait_until "reservation of $d released" 30 \
	sql_is inventory "SELECT status || ':' || reason FROM reservations WHERE order_id = '$d'" "RELEASED:payment_failed"
expect "(d) PaymentFailed order_cancelled, never PaymentCompleted" \
	"$(sql payment "SELECT string_agg(type || ':' || coalesce(payload->'data'->>'reason', ''), ',' ORDER BY seq) FROM outbox WHERE aggregateid = '$d'")" \
	"PaymentFailed:order_cancelled"

ctl -q wait-quiet --timeout 60
expect "stock after all four: 2 sold, none held" "$(sql inventory "SELECT on_hand || '/' || reserved FROM stock WHERE sku = '$sku'")" "8/0"
expect "balance after all four: 700 charged" "$(sql payment "SELECT balance_cents FROM accounts WHERE customer_id = '$cust'")" "9300"
expect "no dead letters of this test" "$(dead_mine)" "0"

quiet_and_check "$WORK/base.json"
finish
