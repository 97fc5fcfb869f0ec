#!/usr/bin/env bash
# The outbox relay finds new rows through a stored horizon (src/relay.h).
# A horizon stored ahead of the cluster's transactions (a database restored
# into another cluster) must not hide new rows: the relay that takes over
# starts from the oldest running transaction instead, says so in its log,
# and sagas complete. And two instances: the relay of the one that stands by
# tells the active one by NOTIFY, so its rows do not wait for a poll.
. "$(dirname "$0")/lib.sh"

ctl -q setup >/dev/null
ctl snapshot >"$WORK/base.json"
# a horizon far above any transaction id this cluster has handed out
sql order "UPDATE outbox_relay SET horizon = '4000000000'" >/dev/null
start_all_workers
expect "the active relay says the stored horizon is ahead" \
	"$(wait_log order 'stored outbox horizon is ahead' 30 && echo logged)" "logged"
ctl -q stock set "rh-$RUN" 5
ctl -q account set "rc-$RUN" 1000
ctl -q order place --id "rh1-$RUN" --customer "rc-$RUN" --item "rh-$RUN:1" --total 100 --wait 30 >/dev/null
expect "a saga completes after a horizon ahead of the cluster" "$(order_status "rh1-$RUN")" "CONFIRMED"
expect "its OrderConfirmed was published (the sale)" \
	"$(sql inventory "SELECT status FROM reservations WHERE order_id = 'rh1-$RUN'")" "SOLD"
expect "the stored horizon is back within the cluster's transactions" \
	"$(sql order "SELECT horizon <= pg_snapshot_xmax(pg_current_snapshot()) FROM outbox_relay")" "t"

# a second order instance; its relay stands by (the first one leads)
start_worker order order2 -o relay_poll_ms=600000
stop_worker order TERM
start_worker order order -o relay_poll_ms=600000
# now order2 leads or order does; the one standing by NOTIFYs the other: with
# polling off (10 min), every saga still ends within seconds
for k in 1 2 3 4 5 6; do	# unknown SKU: each ends CANCELLED through the order service's outbox
	ctl -q order place --id "rn$k-$RUN" --customer "rc-$RUN" --item "nosuch-$RUN:1" --total 0 >/dev/null
done
for k in 1 2 3 4 5 6; do ctl -q order wait "rn$k-$RUN" --timeout 20; done
expect "sagas end with two order instances and polling off" \
	"$(sql order "SELECT count(*) FROM orders WHERE order_id LIKE 'rn_-$RUN' AND status = 'CANCELLED'")" "6"
expect "their OrderCancelled events all published (inventory saw them)" \
	"$(sql inventory "SELECT count(*) FROM inbox WHERE order_id LIKE 'rn_-$RUN' AND type = 'OrderCancelled'")" "6"
leaders=$(( $(log_count order 'outbox relay active') + $(log_count order2 'outbox relay active') ))
expect "one relay of the two instances active at a time (took over once)" \
	"$([ "$leaders" -ge 1 ] && echo yes)" "yes"
quiet_and_check "$WORK/base.json"
finish
