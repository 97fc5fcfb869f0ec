#!/usr/bin/env bash
# The saga deadline (contract section 2): with the payment service silent, a
# PENDING order is cancelled (reason timeout) once the deadline passes, and
# its reservation is released (compensation). When the payment service comes
# back it finds InventoryReserved then OrderCancelled: charge then refund, or
# no charge; either way no net charge. An order that completes in time is
# not touched by the sweeper. An order whose OrderCreated never reaches the
# order service (AWAITING: a PaymentCompleted came, nothing else) is given up
# by the deadline too.
. "$(dirname "$0")/lib.sh"

DEADLINE=2
start_worker order order -o saga_deadline=$DEADLINE -o sweep_ms=200
start_worker inventory
start_worker payment

sku="dl-sku-$RUN"; cust="dl-cust-$RUN"
ctl -q stock set "$sku" 10
ctl -q account set "$cust" 10000
ctl snapshot >"$WORK/base.json"

# --- an order that completes in time ------------------------------------------
intime="dl-intime-$RUN"
ctl -q order place --id "$intime" --customer "$cust" --item "$sku:1" --total 100
ctl -q order wait "$intime" --timeout 30
expect "in-time order confirmed" "$(order_status "$intime")" "CONFIRMED"

# --- OrderCreated never comes: AWAITING, then the deadline cancels ---------------
aw="dl-await-$RUN"
ctl -q publish PaymentCompleted --data "{\"order_id\":\"$aw\",\"payment_id\":\"p-$RUN\",\"customer_id\":\"$cust\",\"amount_cents\":100,\"currency\":\"EUR\"}"
wait_until "$aw recorded" 30 sql_is order "SELECT count(*) FROM orders WHERE order_id = '$aw'" 1
ctl -q order wait "$aw" --timeout $((DEADLINE + 15)) || true
expect "AWAITING order cancelled by the deadline" "$(order_status "$aw")" "CANCELLED:timeout"
expect "not before the deadline" \
	"$(sql order "SELECT cancelled_at - seen_at >= interval '$DEADLINE seconds' FROM orders WHERE order_id = '$aw'")" "t"
expect "OrderCancelled timeout emitted once" \
	"$(sql order "SELECT count(*) FROM outbox WHERE aggregateid = '$aw' AND type = 'OrderCancelled' AND payload->'data'->>'reason' = 'timeout'")" "1"

# --- payment silent: the deadline cancels ----------------------------------------
# The payment service is made silent by stopping it. Other workers (not this
# test's: another test, a benchmark) may consume chorus.payment.events too,
# or start to while this runs; so the customer's account row is locked as
# well: any payment worker that takes this order's InventoryReserved blocks
# on the charge until the lock is let go.
stop_worker payment
log "payment consumers not started by this test: $(foreign_consumers payment)"
mkfifo "$WORK/lock.fifo"
psql "$CHORUS_PAYMENT_DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 <"$WORK/lock.fifo" >"$WORK/lock.out" 2>&1 &
LOCK_PID=$!
exec 7>"$WORK/lock.fifo"	# (on any exit the fifo closes: psql ends, the lock goes)
echo "BEGIN; SELECT 'locked', balance_cents FROM accounts WHERE customer_id = '$cust' FOR UPDATE;" >&7
lock_held() { grep -q '^locked|' "$WORK/lock.out"; }
wait_until "the account lock" 10 lock_held
late="dl-late-$RUN"
ctl -q order place --id "$late" --customer "$cust" --item "$sku:2" --total 200
# (one query: on a loaded machine the 2 s deadline may release it soon after)
held() { sql inventory "SELECT r.status || ':' || s.reserved FROM reservations r, stock s WHERE r.order_id = '$late' AND s.sku = '$sku'"; }
wait_until "reservation of $late RESERVED" 30 sql_is inventory "SELECT status FROM reservations WHERE order_id = '$late'" RESERVED
held_now=$(held)
expect "stock held for $late" "$([ "$held_now" = RESERVED:2 ] || [ "$(order_status "$late")" = CANCELLED:timeout ] && echo ok || echo "$held_now")" "ok"
ctl -q order wait "$late" --timeout $((DEADLINE + 15))
expect "order cancelled by the deadline" "$(order_status "$late")" "CANCELLED:timeout"
expect "not before the deadline" \
	"$(sql order "SELECT cancelled_at - created_at >= interval '$DEADLINE seconds' FROM orders WHERE order_id = '$late'")" "t"
wait_until "reservation of $late released" 30 \
	sql_is inventory "SELECT status || ':' || reason FROM reservations WHERE order_id = '$late'" "RELEASED:order_cancelled"
wait_until "order $late records the release" 30 \
	sql_is order "SELECT released_at IS NOT NULL FROM orders WHERE order_id = '$late'" t
expect "stock given back" "$(sql inventory "SELECT on_hand || '/' || reserved FROM stock WHERE sku = '$sku'")" "9/0"
expect "OrderCancelled timeout emitted once, in the order's trace" \
	"$(sql order "SELECT count(*) || ' ' || count(DISTINCT substr(o.traceparent, 4, 32)) FROM outbox o JOIN orders r ON r.order_id = o.aggregateid WHERE o.aggregateid = '$late' AND o.type = 'OrderCancelled' AND o.payload->'data'->>'reason' = 'timeout' AND substr(o.traceparent, 4, 32) = substr(r.traceparent, 4, 32)")" \
	"1 1"
# the sweeper has run well past the in-time order's deadline by now
expect "in-time order still CONFIRMED, never cancelled" \
	"$(order_status "$intime") $(sql order "SELECT count(*) FROM outbox WHERE aggregateid = '$intime' AND type = 'OrderCancelled'")" \
	"CONFIRMED 0"
expect "payment silent all along: nothing recorded for $late" \
	"$(sql payment "SELECT count(*) FROM payments WHERE order_id = '$late'")" "0"

# --- payment back: InventoryReserved, then OrderCancelled --------------------------
echo "COMMIT;" >&7
exec 7>&-
wait "$LOCK_PID"
start_worker payment payment2
wait_until "payment of $late settled" 30 \
	sql_is payment "SELECT status IN ('REFUNDED', 'FAILED', 'CANCELLED') FROM payments WHERE order_id = '$late'" t
pay=$(sql payment "SELECT status FROM payments WHERE order_id = '$late'")
log "payment of the late order: $pay"
if [ "$pay" = REFUNDED ]; then
	wait_until "order $late records the refund" 30 \
		sql_is order "SELECT refunded_at IS NOT NULL FROM orders WHERE order_id = '$late'" t
	expect "charge and refund events" \
		"$(sql payment "SELECT string_agg(type, ',' ORDER BY seq) FROM outbox WHERE aggregateid = '$late'")" \
		"PaymentCompleted,PaymentRefunded"
else
	expect "no charge at all" "$(sql payment "SELECT count(*) FROM outbox WHERE aggregateid = '$late' AND type = 'PaymentCompleted'")" "0"
fi
ctl -q wait-quiet --timeout 60
expect "order stays CANCELLED:timeout after the late payment" "$(order_status "$late")" "CANCELLED:timeout"
expect "no net charge: balance = 10000 - the in-time order" \
	"$(sql payment "SELECT balance_cents FROM accounts WHERE customer_id = '$cust'")" "9900"
expect "no dead letters of this test" "$(dead_mine)" "0"

quiet_and_check "$WORK/base.json"
finish
