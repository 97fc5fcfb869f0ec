#!/usr/bin/env bash
# cluster-bench.sh: the scaling table of docs/deployment.md -- `chorusctl
# bench` against the multi-node stack of scripts/cluster.sh (three RabbitMQ
# nodes, quorum queues on all three, PostgreSQL with a synchronous standby)
# with 1, 2 and 3 instances of every worker, and what each saga cost: CPU
# milliseconds and bytes written to disk by the workers, PostgreSQL (primary
# and standby) and RabbitMQ (three nodes), read from /proc before and after
# each run (root: other users' /proc/PID/io).
#
# Usage: scripts/cluster-bench.sh [--orders N] [--rate R] [--instances "1 2 3"]
#   --orders N  orders per run [3000]; --rate R: open loop at R/s [all at once]
# Uses the cluster of CHORUS_CLUSTER_* (scripts/cluster.sh; started when it is
# not up, left running) and the workers of CHORUS_BENCH_WORKERS [build-bench]
# (an optimized build: ./configure CFLAGS=-O2 there; scripts/bench.sh makes it).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
orders=3000
rate=
instances="1 2 3"
while [ $# -gt 0 ]; do
	case $1 in
	--orders) orders=$2; shift 2 ;;
	--rate) rate=$2; shift 2 ;;
	--instances) instances=$2; shift 2 ;;
	*) echo "usage: scripts/cluster-bench.sh [--orders N] [--rate R] [--instances \"1 2 3\"]" >&2; exit 64 ;;
	esac
done
bin=${CHORUS_BENCH_WORKERS:-$top/build-bench}
[ -x "$bin/chorus-order" ] && [ -x "$bin/chorusctl" ] ||
	{ echo "cluster-bench.sh: no workers in $bin (build there, or set CHORUS_BENCH_WORKERS)" >&2; exit 1; }
CLUSTER=$top/scripts/cluster.sh
bash "$CLUSTER" up >/dev/null
eval "$(bash "$CLUSTER" env)"
export CHORUS_SCHEMA_DIR=$top/schema
"$bin/chorusctl" -q setup >/dev/null
work=$(mktemp -d /tmp/chorus-cluster-bench.XXXXXX)
pids=()
stop_workers() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
trap 'stop_workers; rm -rf "$work"' EXIT

# snapshot: "rabbitmq CPU_S WRITE_B", "postgresql ...", "workers ..." now
snapshot() {
	python3 - "$CHORUS_CLUSTER_DIR" "${pids[@]}" <<'PY'
import os, sys
d, workers = sys.argv[1], set(sys.argv[2:])
tick = os.sysconf("SC_CLK_TCK")
marks = {"rabbitmq": [("CHORUS_STACK_RABBITMQ=%s/rmq%d/rabbitmq" % (d, n)).encode() for n in (1, 2, 3)],
         "postgresql": [("CHORUS_STACK_POSTGRES=%s/pg%d/pg" % (d, n)).encode() for n in (1, 2)]}
tot = {g: [0.0, 0] for g in ("rabbitmq", "postgresql", "workers")}
group, parent = {}, {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        env = open("/proc/%s/environ" % pid, "rb").read().split(b"\0")
        parent[pid] = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()[1]
        comm = open("/proc/%s/comm" % pid).read().strip()
    except OSError:
        continue
    if pid in workers:
        group[pid] = "workers"
    elif comm != "epmd":
        group[pid] = next((g for g, ms in marks.items() if any(m in env for m in ms)), None)
# PostgreSQL's backends overwrite their environment with the process title:
# they are the postmasters' children
for pid in parent:
    if group.get(pid) is None and group.get(parent[pid]) == "postgresql":
        group[pid] = "postgresql"
for pid, g in group.items():
    try:
        if g is None:
            continue
        st = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
        io = dict(l.split(": ") for l in open("/proc/%s/io" % pid).read().splitlines())
    except OSError:
        continue
    tot[g][0] += (int(st[11]) + int(st[12])) / tick
    tot[g][1] += int(io["write_bytes"])
for g, (c, w) in tot.items():
    print(g, c, w)
PY
}

printf '| instances per service | sagas/s sustained | p50 ms | p99 ms | CPU ms/saga: workers + PostgreSQL (2) + RabbitMQ (3) = total | disk KB/saga: PostgreSQL + RabbitMQ | machine busy %% |\n|---|---|---|---|---|---|---|\n'
for n in $instances; do
	for i in $(seq 1 "$n"); do
		for svc in order inventory payment; do
			"$bin/chorus-$svc" -o "$svc.health_listen=127.0.0.1:0" >"$work/$svc-$i.log" 2>&1 &
			pids+=($!)
		done
	done
	for svc in order inventory payment; do
		for i in $(seq 1 "$n"); do
			for _ in $(seq 1 300); do grep -q 'msg="ready"' "$work/$svc-$i.log" && break; sleep 0.1; done
			grep -q 'msg="ready"' "$work/$svc-$i.log" || { echo "chorus-$svc #$i not ready:"; tail "$work/$svc-$i.log"; exit 1; }
		done
	done
	snapshot >"$work/before"
	busy0=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
	"$bin/chorusctl" --json bench --orders "$orders" ${rate:+--rate "$rate"} --skus 100 --customers 100 \
		--items 1 --mix 90/5/5 --timeout 300 >"$work/bench.json"
	snapshot >"$work/after"
	busy1=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
	python3 - "$n" "$orders" "$work/bench.json" "$work/before" "$work/after" "$busy0" "$busy1" <<'PY'
import json, sys
n, orders, b = sys.argv[1], int(sys.argv[2]), json.load(open(sys.argv[3]))
snap = lambda f: {l.split()[0]: (float(l.split()[1]), int(l.split()[2])) for l in open(f)}
s0, s1 = snap(sys.argv[4]), snap(sys.argv[5])
cpu = {g: (s1[g][0] - s0[g][0]) * 1000 / orders for g in s0}
kb = {g: (s1[g][1] - s0[g][1]) / 1024 / orders for g in s0}
u0, t0 = map(float, sys.argv[6].split()); u1, t1 = map(float, sys.argv[7].split())
t, l = b["throughput"], b["latency_ms"]
print("| %s | %s | %.0f | %.0f | %.2f + %.2f + %.2f = %.2f | %.1f + %.1f | %.0f |" % (
    n, t["sustained_per_s"], l["p50"], l["p99"], cpu["workers"], cpu["postgresql"], cpu["rabbitmq"],
    sum(cpu.values()), kb["postgresql"], kb["rabbitmq"], 100 * (u1 - u0) / max(t1 - t0, 1)))
PY
	stop_workers
done
