#!/usr/bin/env bash
# Slow clients cannot hold the health endpoint (issue 9 item 8): 40
# clients from one address each send a request line and then one header
# line every 4 s. The endpoint takes at most 8 connections from one
# address (the rest are closed at once) and closes a connection silent
# for 3 s, so /healthz answers at once from another address meanwhile,
# and from the slow clients' own address once their connections are cut.
. "$(dirname "$0")/lib.sh"

start_worker payment slow
HP=$(health_port slow)

cat >"$WORK/slow.py" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
socks, closed, start = [], {}, time.monotonic()
for i in range(40):
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
    except OSError:
        closed[i] = time.monotonic() - start	# refused at once: over the per-address limit
    s.setblocking(False)
    socks.append(s)
print("connected", len(socks), flush=True)
line = 0
while time.monotonic() - start < 12 and len(closed) < len(socks):
    for i, s in enumerate(socks):
        if i in closed:
            continue
        try:
            if s.recv(1) == b"":
                closed[i] = time.monotonic() - start
        except BlockingIOError:
            pass
        except OSError:
            closed[i] = time.monotonic() - start
    if time.monotonic() - start >= 4 * (line + 1):
        line += 1
        for i, s in enumerate(socks):
            if i not in closed:
                try:
                    s.sendall(b"X-Slow-%d: 1\r\n" % line)
                except OSError:
                    closed[i] = time.monotonic() - start
    time.sleep(0.05)
print("closed", len(closed), flush=True)
print("latest", round(max(closed.values()) if closed else 99, 1), flush=True)
EOF
python3 "$WORK/slow.py" "$HP" >"$WORK/slow.out" 2>&1 &
SLOW=$!
wait_until "the slow clients connected" 10 grep -q connected "$WORK/slow.out"

# from another address at once, while the slow ones hold their connections
t0=$(date +%s%N)
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --interface 127.0.0.2 "http://127.0.0.1:$HP/healthz" || true)
ms=$((($(date +%s%N) - t0) / 1000000))
expect "/healthz from another address while 40 slow clients hold theirs" "$code" "200"
expect "and before the 3 s timeout cut anyone (${ms} ms)" "$([ "$ms" -lt 2000 ] && echo yes)" "yes"

# from the slow clients' own address: once the 3 s timeout cut them
got() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$HP/healthz")" = 200 ]; }
t0=$(date +%s%N)
wait_until "/healthz from the slow clients' address" 8 got
ms=$((($(date +%s%N) - t0) / 1000000))
expect "/healthz from the same address within the header timeout (${ms} ms)" "$([ "$ms" -lt 6000 ] && echo yes)" "yes"

wait "$SLOW"
expect "every slow connection was closed by the server" "$(sed -n 's/^closed //p' "$WORK/slow.out")" "40"
expect "within the timeout, before the slow clients' second line (at ${ms} ms: $(sed -n 's/^latest //p' "$WORK/slow.out") s)" \
	"$(awk '/^latest/ { print ($2 < 7.5) ? "yes" : "no" }' "$WORK/slow.out")" "yes"
finish
