#!/usr/bin/env bash
# Outbox and inbox retention: a worker timer deletes published outbox rows and
# remembered inbox ids past their retention, and nothing younger.
. "$(dirname "$0")/lib.sh"

start_all_workers
ctl -q stock set "rx-$RUN" 5
ctl -q account set "rc-$RUN" 1000
ctl snapshot >"$WORK/base.json"
old="r-old-$RUN"; new="r-new-$RUN"
for id in "$old" "$new"; do
	ctl -q order place --id "$id" --customer "rc-$RUN" --item "rx-$RUN:1" --total 100 --wait 30 >/dev/null
done
ctl -q wait-quiet --timeout 30
# age the first order's rows past a 1-hour retention
sql order "UPDATE outbox SET created_at = now() - interval '2 hours', published_at = now() - interval '2 hours' WHERE aggregateid = '$old'" >/dev/null
sql order "UPDATE inbox SET received_at = now() - interval '2 hours' WHERE order_id = '$old'" >/dev/null
expect "aged rows present" "$(sql order "SELECT count(*) > 0 FROM outbox WHERE aggregateid = '$old'")" "t"
stop_worker order
start_worker order order-short -o outbox_retention=1 -o inbox_retention=1
end=$((SECONDS + 30))
until [ "$(sql order "SELECT count(*) FROM outbox WHERE aggregateid = '$old'")" = 0 ] || [ "$SECONDS" -ge "$end" ]; do
	sleep 0.2
done
expect "published outbox rows past retention deleted" "$(sql order "SELECT count(*) FROM outbox WHERE aggregateid = '$old'")" "0"
expect "inbox ids past retention deleted" "$(sql order "SELECT count(*) FROM inbox WHERE order_id = '$old'")" "0"
expect "younger outbox rows kept" "$(sql order "SELECT count(*) > 0 FROM outbox WHERE aggregateid = '$new'")" "t"
expect "younger inbox ids kept" "$(sql order "SELECT count(*) > 0 FROM inbox WHERE order_id = '$new'")" "t"
expect "the clean-up is logged" "$(grep -c 'msg="clean-up"' "$WORK/order-short.log")" "1"
quiet_and_check "$WORK/base.json"
finish
