#!/usr/bin/env bash
# notify.sh: a real worker speaks sd_notify as the units expect (Type=notify,
# WatchdogSec=, ExecReload= sending SIGHUP).
#
# Plays systemd's part: listens on a unix datagram socket, starts
# chorus-payment with NOTIFY_SOCKET pointing at it, WATCHDOG_USEC=2000000 and
# WATCHDOG_PID set to the worker's own pid, and checks that it receives
# READY=1 (once the worker consumes) and STATUS=, WATCHDOG=1 at least twice
# within 3 s (half the interval) but not on every tick, RELOADING=1 then
# READY=1 after SIGHUP, STOPPING=1 after SIGTERM, and exit status 0. Every
# wait is bounded. Needs the stack (CHORUS_AMQP_URL and the database URLs, as
# the integration tests); exit 0 pass, 1 fail, 77 skip.
set -euo pipefail

if [ -z "${CHORUS_AMQP_URL:-}" ] || [ -z "${CHORUS_PAYMENT_DATABASE_URL:-}" ]; then
	echo "SKIP: no stack environment (run scripts/test.sh, or eval \"\$(scripts/stack.sh env)\")"
	exit 77
fi
: "${CHORUS_BUILDDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${CHORUS_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
if ! grep -q '^#define HAVE_SYSTEMD 1' "$CHORUS_BUILDDIR/config.h"; then
	echo "SKIP: built without libsystemd: the workers send no notifications"
	exit 77
fi
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }

export CHORUS_SCHEMA_DIR="${CHORUS_SCHEMA_DIR:-$CHORUS_SRCDIR/schema}"
"$CHORUS_BUILDDIR/chorusctl" -q setup >/dev/null

exec python3 - "$CHORUS_BUILDDIR/chorus-payment" <<'PYEOF'
import os, select, signal, socket, sys, tempfile, time

worker = sys.argv[1]
work = tempfile.mkdtemp(prefix="chorus-notify.")
sock_path = os.path.join(work, "notify.sock")
log_path = os.path.join(work, "worker.log")
failures = 0
msgs = []          # (arrival time, lines) of every datagram, in order
pid = None
status = None      # the worker's wait status once it has exited


def log(s):
    print("[notify] " + s, flush=True)


def check(ok, what):
    global failures
    log(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures += 1
    return ok


def receive(deadline):
    """Wait until a datagram arrives (stored in msgs), the worker exits, or deadline."""
    global status
    while status is None:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        r, _, _ = select.select([sock], [], [], min(left, 0.1))
        if r:
            data = sock.recv(4096).decode("utf-8", "replace")
            msgs.append((time.monotonic(), data.split("\n")))
            return
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
    # the worker is gone: take what it sent before it went
    while select.select([sock], [], [], 0)[0]:
        msgs.append((time.monotonic(), sock.recv(4096).decode("utf-8", "replace").split("\n")))


def wait_for(line, secs, after=0):
    """Index of the first datagram from index after on holding line, or -1 after secs."""
    deadline = time.monotonic() + secs
    while True:
        for i in range(after, len(msgs)):
            if any(l == line or (line.endswith("=") and l.startswith(line)) for l in msgs[i][1]):
                return i
        if time.monotonic() >= deadline or status is not None:
            return -1
        receive(deadline)


def finish(why=None):
    if why:
        check(False, why)
    if pid is not None and status is None:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    if failures:
        log("datagrams received: " + repr([m[1] for m in msgs])[:2000])
        with open(log_path, errors="replace") as f:
            lines = f.readlines()
        log("last lines of the worker's log:")
        sys.stdout.write("".join(lines[-20:]))
    for p in (sock_path, log_path):
        if os.path.exists(p):
            os.unlink(p)
    os.rmdir(work)
    log("%d failed" % failures)
    return 1 if failures else 0


sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sock_path)
logf = open(log_path, "wb")
pid = os.fork()
if pid == 0:
    try:
        env = dict(os.environ)
        env.pop("JOURNAL_STREAM", None)
        env.update(NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="2000000",
                   WATCHDOG_PID=str(os.getpid()))
        os.dup2(logf.fileno(), 1)
        os.dup2(logf.fileno(), 2)
        os.execve(worker, [worker, "-o", "payment.health_listen=off",
                           "-o", "shutdown_timeout=10"], env)
    finally:
        os._exit(127)
logf.close()

try:
    ready = wait_for("READY=1", 30)
    if not check(ready >= 0, "READY=1 within 30 s of the start"):
        raise SystemExit(finish("the worker exited" if status is not None else None))
    check(wait_for("STATUS=", 5) >= 0, "STATUS= sent")
    t0 = msgs[ready][0]
    while time.monotonic() < t0 + 3.0 and status is None:
        receive(t0 + 3.0)
    pings = sum(1 for t, lines in msgs[ready:] if t <= t0 + 3.0 and "WATCHDOG=1" in lines)
    check(2 <= pings <= 6, "WATCHDOG=1 every half interval: %d pings in 3 s after READY=1, "
          "want 2 to 6" % pings)

    mark = len(msgs)
    os.kill(pid, signal.SIGHUP)
    rel = wait_for("RELOADING=1", 5, mark)
    if check(rel >= 0, "RELOADING=1 within 5 s of SIGHUP"):
        check(wait_for("READY=1", 5, rel + 1) >= 0, "READY=1 after RELOADING=1")
    if status is not None:
        raise SystemExit(finish("the worker exited after SIGHUP"))

    mark = len(msgs)
    os.kill(pid, signal.SIGTERM)
    check(wait_for("STOPPING=1", 15, mark) >= 0, "STOPPING=1 within 15 s of SIGTERM")
    deadline = time.monotonic() + 30
    while status is None and time.monotonic() < deadline:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            break
        time.sleep(0.05)
    if check(status is not None, "the worker exits within 30 s of SIGTERM"):
        check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
              "exit status 0 (got %s)" % (os.WEXITSTATUS(status) if os.WIFEXITED(status)
                                         else "signal %d" % os.WTERMSIG(status)))
except SystemExit:
    raise
except BaseException as e:
    raise SystemExit(finish("unexpected %r" % e))
raise SystemExit(finish())
PYEOF
