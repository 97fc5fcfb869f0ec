#!/usr/bin/env bash
# chorusctl bench --broker-only: forwarder threads of chorusctl stand in for
# the workers (what RabbitMQ alone costs, issue 7). It refuses while a
# worker consumes; a short run gives every outcome the plan wants, forwards
# exactly the messages the contract's reactions make, ends, touches no
# database and leaves no consumer behind; an event of another order stops
# it with the event left in its queue.
. "$(dirname "$0")/lib.sh"

# run CMD...: run it, keep its exit code in RC, its stdout and stderr in files.
run() {
	set +e
	"$@" >"$WORK/out" 2>"$WORK/err"
	RC=$?
	set -e
}
# another test's or a benchmark's workers are not ours to stop
for s in order inventory payment; do
	if [ "$(foreign_consumers "$s")" -gt 0 ]; then
		echo "SKIP: chorus.$s.events has consumers this test did not start"
		exit 77
	fi
done

# --- refused while a worker consumes (this test's own) ---------------------------
start_worker order
run ctl bench --broker-only --orders 10 --timeout 30
expect "broker-only while chorus-order consumes: exit 75" "$RC" "75"
expect "the refusal names the queue and says what to do" \
	"$(grep -c 'chorus.order.events has 1 consumer: stop the workers first' "$WORK/err")" "1"
stop_worker order

# --- a short run ---------------------------------------------------------------------
run ctl --json bench --broker-only --orders 200 --mix 80/10/10 --seed 11 --timeout 60
expect "broker-only run of 200 orders: exit 0" "$RC" "0"
[ "$RC" = 0 ] || sed 's/^/       /' "$WORK/err"
# per saga (contract section 2): deliveries from the service queues and events
# the services publish -- confirmed 5 and 3, out of stock 5 and 2, no funds 8 and 4
expect "outcomes as planned, every delivery forwarded, every figure there" "$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
o, c, f = d["outcomes"], d["cpu"]["ms_per_saga"], d["forwarders"]
n = {k: o[k]["want"] for k in ("confirmed", "out_of_stock", "insufficient_funds")}
print(d["mode"], o["wrong"], o["missing"], all(o[k]["got"] == n[k] for k in n), sum(n.values()),
      f["deliveries"] == 5 * n["confirmed"] + 5 * n["out_of_stock"] + 8 * n["insufficient_funds"],
      f["published"] == 3 * n["confirmed"] + 2 * n["out_of_stock"] + 4 * n["insufficient_funds"],
      d["throughput"]["sustained_per_s"] is not None,
      c["forwarders"] is not None and c["rabbitmq"] is not None and c["total"] is not None,
      c["postgresql"], d["workers"])' "$WORK/out" 2>&1)" \
	"broker-only 0 0 True 200 True True True True None []"
bench_run=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["run_id"])' "$WORK/out" 2>/dev/null || echo none)
expect "no database saw the run" "$(sql order "SELECT count(*) FROM orders WHERE order_id LIKE 'bench-$bench_run-%'") \
$(sql inventory "SELECT count(*) FROM stock WHERE sku LIKE 'bench-$bench_run-%'") \
$(sql payment "SELECT count(*) FROM accounts WHERE customer_id LIKE 'bench-$bench_run-%'")" "0 0 0"
no_consumers() { [ "$(rmqctl list_consumers --no-table-headers queue_name | grep -c '^chorus\.')" = 0 ]; }
wait_until "consumers gone" 10 no_consumers || true
expect "no consumer left on any chorus queue" "$(rmqctl list_consumers --no-table-headers queue_name | grep -c '^chorus\.' || true)" "0"
run ctl wait-quiet --timeout 10
expect "the service queues are empty afterwards" "$RC" "0"

# --- an event of another order: the run stops, the event stays in its queue -----------
# (long enough for the event to come in while it runs on a busy machine: it stops at once)
ctl bench --broker-only --orders 2000 --rate 20 --timeout 30 >"$WORK/bench.out" 2>"$WORK/bench.err" &
bench_pid=$!
wait_until "the bench publishing" 30 grep -q "publishing 2000 orders" "$WORK/bench.err"
other=$(uuid)
event OrderCreated "$other" "{\"order_id\":\"other-$RUN\",\"customer_id\":\"c-$RUN\",\"items\":[{\"sku\":\"s-$RUN\",\"quantity\":1}],\"total_cents\":100,\"currency\":\"EUR\"}" >"$WORK/other.json"
ctl -q publish --raw "@$WORK/other.json" --queue chorus.inventory.events
bench_done() { ! kill -0 "$bench_pid" 2>/dev/null; }
wait_until "the bench stopping" 60 bench_done || kill -TERM "$bench_pid"
rc=0
wait "$bench_pid" || rc=$?
expect "the run stops on another order's event: exit 69" "$rc" "69"
expect "it says why" "$(grep -c "forwarder inventory: chorus.inventory.events: OrderCreated of order other-$RUN, not of this run" "$WORK/bench.err")" "1"
mgmt="${CHORUS_MGMT_URL%/}/api"
found=$(python3 - "$mgmt" "$other" <<'PY'
import base64, json, sys, urllib.request
api, want = sys.argv[1], sys.argv[2]
req = urllib.request.Request(api + "/queues/%2F/chorus.inventory.events/get", method="POST",
    data=json.dumps({"count": 100000, "ackmode": "ack_requeue_true", "encoding": "auto"}).encode(),
    headers={"Content-Type": "application/json",
             "Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()})
msgs = json.load(urllib.request.urlopen(req, timeout=30))
print(sum(want in m["payload"] for m in msgs))
PY
)
expect "the other order's event is back in chorus.inventory.events" "$found" "1"
# what that run left (its events, the other one) is this test's: the queues were empty
for s in order inventory payment; do
	curl -sf -u guest:guest -X DELETE "$mgmt/queues/%2F/chorus.$s.events/contents" >/dev/null
done
finish
