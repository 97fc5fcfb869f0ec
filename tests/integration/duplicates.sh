#!/usr/bin/env bash
# Duplicates (contract sections 1, 2 and invariant 8): the same OrderCreated
# (same event id) published 2..5 times makes one order, one reservation and
# one charge, and one inbox row per consuming service; a second OrderCreated
# for an order id with a new event id has no effect; re-publishing every
# event of a confirmed saga, as the three outboxes hold them, changes nothing.
. "$(dirname "$0")/lib.sh"

start_all_workers -o log_level=debug	# debug: "duplicate event skipped" lines

sku="dup-sku-$RUN"; cust="dup-cust-$RUN"
ctl -q stock set "$sku" 10
ctl -q account set "$cust" 10000
ctl snapshot >"$WORK/base.json"

# dump ID: every row the three services hold of one order (and its SKU and
# customer), with the outbox and inbox rows counted per service.
dump() {
	local id=$1 s
	sql order "SELECT row_to_json(o) FROM orders o WHERE order_id = '$id'"
	sql inventory "SELECT row_to_json(r) FROM reservations r WHERE order_id = '$id'"
	sql inventory "SELECT row_to_json(s) FROM stock s WHERE sku = '$sku'"
	sql payment "SELECT row_to_json(p) FROM payments p WHERE order_id = '$id'"
	sql payment "SELECT row_to_json(a) FROM accounts a WHERE customer_id = '$cust'"
	for s in order inventory payment; do
		echo "$s outbox $(sql "$s" "SELECT count(*) FROM outbox WHERE aggregateid = '$id'")"
		echo "$s inbox $(sql "$s" "SELECT count(*) FROM inbox WHERE order_id = '$id'")"
	done
}

# consumed_by_both EVENT-ID: order and inventory each recorded the event in their inbox.
consumed_by_both() {
	sql_is order "SELECT count(*) FROM inbox WHERE event_id = '$1'" 1 &&
		sql_is inventory "SELECT count(*) FROM inbox WHERE event_id = '$1'" 1
}

# skipped_count EVENT-ID...: "duplicate event skipped" lines naming these events, all logs.
skipped_count() {
	local id n total=0
	for id in "$@"; do
		for n in order inventory payment; do
			total=$((total + $(log_count "$n" "duplicate event skipped.* event_id=$id ")))
		done
	done
	echo "$total"
}
skipped_at_least() { [ "$(skipped_count "${@:2}")" -ge "$1" ]; }

# --- the same OrderCreated 2..5 times ---------------------------------------
declare -A EID=()
sample_others	# (before and after: the worker logs see every delivery unless others consume too)
for k in 2 3 4 5; do
	id="dup$k-$RUN"
	EID[$k]=$(uuid)
	event OrderCreated "${EID[$k]}" "{\"order_id\":\"$id\",\"customer_id\":\"$cust\",\"items\":[{\"sku\":\"$sku\",\"quantity\":1}],\"total_cents\":100,\"currency\":\"EUR\"}" \
		>"$WORK/created-$k.json"
	for ((i = 0; i < k; i++)); do
		ctl -q publish --raw "@$WORK/created-$k.json" --exchange chorus.order --routing-key order.created
	done
done
for k in 2 3 4 5; do ctl -q order wait "dup$k-$RUN" --timeout 30; done
wait_drained 60
sample_others
sole=1
others_seen order inventory payment && sole=0
for k in 2 3 4 5; do
	id="dup$k-$RUN" e=${EID[$k]}
	expect "$k copies: order confirmed" "$(order_status "$id")" "CONFIRMED"
	expect "$k copies: one inbox row in order, inventory" "$(consumed_by_both "$e" && echo yes)" "yes"
	expect "$k copies: reservation sold" "$(sql inventory "SELECT status FROM reservations WHERE order_id = '$id'")" "SOLD"
	expect "$k copies: charged once" \
		"$(sql payment "SELECT status || ' ' || amount_cents FROM payments WHERE order_id = '$id'")" "COMPLETED 100"
	expect "$k copies: outbox events (order, inventory, payment)" \
		"$(sql order "SELECT string_agg(type, ',' ORDER BY seq) FROM outbox WHERE aggregateid = '$id'") $(sql inventory "SELECT string_agg(type, ',' ORDER BY seq) FROM outbox WHERE aggregateid = '$id'") $(sql payment "SELECT string_agg(type, ',' ORDER BY seq) FROM outbox WHERE aggregateid = '$id'")" \
		"OrderConfirmed InventoryReserved PaymentCompleted"
	expect "$k copies: payment inbox (InventoryReserved once)" \
		"$(sql payment "SELECT string_agg(type, ',') FROM inbox WHERE order_id = '$id'")" "InventoryReserved"
	if [ "$sole" = 1 ]; then
		# each copy reaches order and inventory: 2 (k - 1) of them are skipped
		expect "$k copies: $((2 * (k - 1))) duplicates skipped (worker logs)" "$(skipped_count "$e")" "$((2 * (k - 1)))"
	fi
done
[ "$sole" = 1 ] || log "note: other workers consume these queues; duplicate counts in logs not checked"
expect "stock: 4 units sold, none held" "$(sql inventory "SELECT on_hand || '/' || reserved FROM stock WHERE sku = '$sku'")" "6/0"
expect "balance: 4 charges of 100" "$(sql payment "SELECT balance_cents FROM accounts WHERE customer_id = '$cust'")" "9600"

# --- a second OrderCreated for the same order id, new event id --------------
id="dup2-$RUN"
dump "$id" | grep -v ' inbox ' >"$WORK/before2.txt"
e2=$(uuid)
event OrderCreated "$e2" "{\"order_id\":\"$id\",\"customer_id\":\"$cust\",\"items\":[{\"sku\":\"$sku\",\"quantity\":3}],\"total_cents\":999,\"currency\":\"EUR\"}" \
	>"$WORK/created-again.json"
ctl -q publish --raw "@$WORK/created-again.json" --exchange chorus.order --routing-key order.created
# it is consumed (inbox) by order and inventory, with no effect
wait_until "second OrderCreated consumed by order and inventory" 30 consumed_by_both "$e2"
wait_drained 60
dump "$id" | grep -v ' inbox ' >"$WORK/after2.txt"
expect "second OrderCreated (new event id): order, reservation, stock, payment, account unchanged" \
	"$(diff "$WORK/before2.txt" "$WORK/after2.txt" && echo same)" "same"
expect "second OrderCreated: inbox rows of the order +1 in order and inventory" \
	"$(sql order "SELECT count(*) FROM inbox WHERE order_id = '$id'") $(sql inventory "SELECT count(*) FROM inbox WHERE order_id = '$id'")" \
	"3 3"

# --- invariant 8: re-publish every event of a confirmed saga -----------------
id="dup3-$RUN"
dump "$id" >"$WORK/before8.txt"
ids=("${EID[3]}")
cp "$WORK/created-3.json" "$WORK/re-0.json"
printf 'chorus.order order.created\n' >"$WORK/re-0.route"
n=0
for s in order inventory payment; do
	while IFS='|' read -r eid rk; do
		n=$((n + 1))
		sql "$s" "SELECT payload::text FROM outbox WHERE id = '$eid'" >"$WORK/re-$n.json"
		printf 'chorus.%s %s\n' "$s" "$rk" >"$WORK/re-$n.route"
		ids+=("$eid")
	done < <(sql "$s" "SELECT id, routing_key FROM outbox WHERE aggregateid = '$id' ORDER BY seq")
done
expect "the saga's events: OrderCreated + 3 outbox events" "${#ids[@]}" "4"
skipped=$(skipped_count "${ids[@]}")
OTHERS=([order]=0 [inventory]=0 [payment]=0)
sample_others
for ((i = 0; i <= n; i++)); do
	read -r x rk <"$WORK/re-$i.route"
	ctl -q publish --raw "@$WORK/re-$i.json" --exchange "$x" --routing-key "$rk"
done
wait_drained 60
sample_others
if ! others_seen order inventory payment; then
	# OrderCreated reaches order and inventory; OrderConfirmed inventory;
	# InventoryReserved payment; PaymentCompleted order: 5 deliveries, all
	# skipped (the OrderCreated's earlier copies were skipped already)
	wait_until "5 re-published deliveries skipped as duplicates" 30 skipped_at_least $((skipped + 5)) "${ids[@]}"
	expect "re-published deliveries skipped as duplicates" "$(skipped_count "${ids[@]}")" "$((skipped + 5))"
else
	log "note: other workers consume these queues; duplicates skipped not counted in logs"
fi
dump "$id" >"$WORK/after8.txt"
expect "re-publishing the saga's events changes nothing (rows, outbox and inbox counts)" \
	"$(diff "$WORK/before8.txt" "$WORK/after8.txt" && echo same)" "same"
expect "no dead letters of this test" "$(dead_mine)" "0"
for n in order inventory payment; do
	expect "worker $n still running" "$(worker_alive "$n" && echo up)" "up"
done

quiet_and_check "$WORK/base.json"
finish
