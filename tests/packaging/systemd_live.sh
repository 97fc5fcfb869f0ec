#!/usr/bin/env bash
# systemd_live.sh: the units under a live systemd. Boots a Debian 12 root
# (tests/packaging/nspawn-root.sh, cached in /var/cache/chorus-nspawn/
# bookworm, built when missing or out of date) with systemd-nspawn
# --register=no, installs Chorus into an overlay on it with "make install
# DESTDIR=" (a build of its own in $CHORUS_BUILDDIR/nspawn-build: prefix
# /usr, sysconfdir /etc, no sanitizer), gives the workers the test stack's
# addresses and secrets only as credentials (/etc/credstore: chorus.amqp_url
# without a login, chorus.<service>.amqp_password, chorus.<service>.
# database_url with the runtime role; the config file's URLs are wrong on
# purpose) and checks, with commands sent in through nsenter:
#  - chorus.target starts the three workers and the gateway; each worker is
#    READY only once it consumes (one that cannot reach RabbitMQ stays
#    "activating"), the gateway once it listens (it serves its page); a
#    saga completes through the workers;
#  - the credentials are read under DynamicUser (a dynamic uid), each
#    worker logs in to RabbitMQ as its service's user, and the sandbox is in
#    force (no capabilities, no_new_privs, a seccomp filter);
#  - systemctl reload applies a new log level;
#  - a worker that stops pinging (SIGSTOP) is killed by the watchdog and
#    restarted (WatchdogSec=4s in a drop-in, for time);
#  - exit 78 (bad configuration) is not restarted;
#  - chorus-inventory@2 competes for chorus.inventory.events;
#  - journald reads the lines' priority prefixes (PRIORITY, journalctl -p).
# The units run as shipped: every hardening directive applies under nspawn
# (no test-only drop-in but the short watchdog); cgroup limits (MemoryMax=,
# TasksMax=) are not enforced in the container. The container shares the
# host's network, so it reaches the stack on loopback. Needs root,
# systemd-nspawn and mmdebstrap (scripts/deps.sh installs them), else
# skipped (77); CHORUS_NSPAWN=0 skips it too. Measured on this 2-core
# machine, busy with other work (load 6 to 17): 21-46 s with the root and the
# install tree built, 50-95 s more to build the install tree, 58-187 s more
# to build the root (once per machine; scripts/test.sh starts that in the
# background before its build, and this test waits for it on the root's
# lock). On a failure, the container's journal of the Chorus units is
# printed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"

root_cache=${CHORUS_NSPAWN_ROOT:-/var/cache/chorus-nspawn/bookworm}
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (systemd-nspawn)"
command -v systemd-nspawn >/dev/null && command -v nsenter >/dev/null ||
	skip "no systemd-nspawn (apt-get install systemd-container)"
[ "${CHORUS_NSPAWN:-1}" = 1 ] || skip "CHORUS_NSPAWN=${CHORUS_NSPAWN}"
[ -f "$root_cache/etc/chorus-nspawn-root" ] || command -v mmdebstrap >/dev/null ||
	skip "no $root_cache and no mmdebstrap to build it (apt-get install mmdebstrap)"
t0=$SECONDS
bash "$here/nspawn-root.sh" "$root_cache"	# builds it when missing or out of date
log "root ready in $((SECONDS - t0)) s"
# a shared lock while the root is in use: nspawn-root.sh replaces it only under
# the exclusive one
exec 8>>"$root_cache.lock"
flock -s -w 900 8 || { echo "could not share $root_cache.lock within 15 minutes"; exit 99; }

croot=$WORK/root
NSPAWN_PID=
PID1=
teardown() {
	if [ -n "$PID1" ] && kill -0 "$PID1" 2>/dev/null; then
		kill -s RTMIN+4 "$PID1" 2>/dev/null || true	# systemd: poweroff
		local end=$((SECONDS + 30))
		while kill -0 "$NSPAWN_PID" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.2; done
		kill -9 "$NSPAWN_PID" 2>/dev/null || true
	fi
	if mountpoint -q "$croot"; then umount "$croot" || umount -l "$croot"; fi
}
# on a failure, what the container's journal says of the Chorus units
journal_dump() {
	[ -n "$PID1" ] && kill -0 "$PID1" 2>/dev/null || return 0
	echo "--- the container's journal (chorus units, last 60 lines)"
	timeout 30 nsenter -t "$PID1" -a journalctl -q --no-pager -o short -n 60 -u 'chorus*' || true
}
on_exit() {
	local rc=$?
	if [ "$rc" -ne 0 ] || [ "$FAILURES" -ne 0 ]; then journal_dump; fi
	teardown
	set +e	# lib.sh's cleanup reads the status from $?
	(exit "$rc")
	cleanup
}
trap on_exit EXIT

# --- the install tree: a build of its own, as README's "Install" section ------
t0=$SECONDS
nb=$CHORUS_BUILDDIR/nspawn-build
mkdir -p "$nb"
if [ ! -f "$nb/Makefile" ]; then
	(cd "$nb" && "$CHORUS_SRCDIR/configure" -q --prefix=/usr --sysconfdir=/etc --localstatedir=/var)
fi
nice -n 10 make -C "$nb" -s -j2 >"$WORK/build.log" 2>&1 || { tail -20 "$WORK/build.log"; exit 1; }
mkdir -p "$WORK/upper" "$WORK/ovl" "$croot"
mount -t overlay overlay -o "lowerdir=$root_cache,upperdir=$WORK/upper,workdir=$WORK/ovl" "$croot"
make -C "$nb" -s install DESTDIR="$croot" >>"$WORK/build.log" 2>&1 || { tail -20 "$WORK/build.log"; exit 1; }
log "built and installed in $((SECONDS - t0)) s"

# --- configuration: URLs only in the credential store -------------------------
cat >"$croot/etc/chorus/chorus.conf" <<'EOF'
# the real URLs come from /etc/credstore (LoadCredential=)
amqp_url = amqp://nobody:wrong@127.0.0.1:1/
order.database_url = postgresql://nobody:wrong@127.0.0.1:1/none
inventory.database_url = postgresql://nobody:wrong@127.0.0.1:1/none
payment.database_url = postgresql://nobody:wrong@127.0.0.1:1/none
order.health_listen = 127.0.0.1:0
inventory.health_listen = 127.0.0.1:0
payment.health_listen = 127.0.0.1:0
# chorus.target starts the gateway too: free ports, no upstream at all (port 1)
gateway.listen = 127.0.0.1:0
gateway.health_listen = 127.0.0.1:0
gateway.order_instances = 127.0.0.1:1
gateway.inventory_instances = 127.0.0.1:1
gateway.payment_instances = 127.0.0.1:1
log_level = info
EOF
# As docs/security.md says: the workers' amqp_url carries no login (the
# administrative one is chorusctl's, in the test's environment); each worker
# logs in as its service's user (chorus-order, ...; scripts/stack.sh created
# them as "chorusctl setup --users" would) with <service>.amqp_password, and
# to PostgreSQL as the runtime role (chorus_<service>_app).
broker=${CHORUS_AMQP_URL#*://}
broker=${broker#*@}
install -d -m 0700 "$croot/etc/credstore"
(umask 077
printf 'amqp://%s' "$broker" >"$croot/etc/credstore/chorus.amqp_url"
for svc in order inventory payment; do
	v=CHORUS_${svc^^}_AMQP_PASSWORD
	printf '%s' "${!v}" >"$croot/etc/credstore/chorus.$svc.amqp_password"
	v=CHORUS_${svc^^}_DATABASE_URL
	printf '%s' "${!v}" >"$croot/etc/credstore/chorus.$svc.database_url"
done)
# the watchdog test, in seconds rather than 30
mkdir -p "$croot/etc/systemd/system/chorus-inventory.service.d"
printf '[Service]\nWatchdogSec=4s\n' >"$croot/etc/systemd/system/chorus-inventory.service.d/watchdog.conf"
# an instance that cannot reach RabbitMQ (the environment beats the credential)
echo "CHORUS_AMQP_URL=amqp://guest:guest@127.0.0.1:1/" >"$croot/etc/chorus/chorus-payment@7.env"
# an instance with a bad configuration: exit 78
echo "CHORUS_PREFETCH=lots" >"$croot/etc/chorus/chorus-payment@9.env"

# --- boot ------------------------------------------------------------------------
t0=$SECONDS
systemd-nspawn --register=no --keep-unit --console=passive -q -D "$croot" -b >"$WORK/nspawn.log" 2>&1 &
NSPAWN_PID=$!
# (nspawn's child is a helper of its own at first, then execs the container's systemd)
pid1() { PID1=$(ps -o pid=,comm= --ppid "$NSPAWN_PID" | awk '$2 == "systemd" { print $1; exit }'); [ -n "$PID1" ]; }
wait_until "the container's PID 1" 20 pid1
ct() { timeout 120 nsenter -t "$PID1" -a "$@"; }
# "offline" until its systemd answers on its socket: ask again
booted() { state=$(ct systemctl is-system-running --wait 2>/dev/null || true); [ "$state" = running ] || [ "$state" = degraded ]; }
wait_until "the container's boot" 60 booted || true
expect "the container booted" "$state" "running"
log "booted in $((SECONDS - t0)) s"
show() { ct systemctl show -p "$2" --value "$1"; }
journal() { ct journalctl -q --no-pager -o cat -u "$@"; }

# --- chorus.target: three workers, READY once consuming ----------------------------
t0=$SECONDS
rc=0; ct systemctl start chorus.target || rc=$?
expect "systemctl start chorus.target" "$rc" "0"
log "chorus.target started in $((SECONDS - t0)) s"
expect "the three workers and the gateway active" \
	"$(ct systemctl is-active chorus-order chorus-inventory chorus-payment chorus-gateway | tr '\n' ' ')" \
	"active active active active "
# consumers SERVICE...: how many consume each one's queue (one rabbitmqctl call,
# seconds on a busy machine)
consumers() {
	local all s
	all=$(rmqctl list_consumers --no-table-headers queue_name)
	for s in "$@"; do grep -cx "chorus\.$s\.events" <<<"$all" || true; done | tr '\n' ' ' | sed 's/ $//'
}
expect "each consumes its queue once started (READY)" \
	"$(consumers order inventory payment)" "1 1 1"
ready_after_consuming() {
	journal "$1" | grep -E 'msg="(consuming|ready)"' | head -n 2 | sed 's/.*msg="\([a-z]*\)".*/\1/' | tr '\n' ' '
}
expect "order: READY only after consuming" "$(ready_after_consuming chorus-order)" "consuming ready "
expect "the STATUS= line" "$(show chorus-payment StatusText | cut -d' ' -f1)" "consuming"
gw=$(journal chorus-gateway | sed -n 's/.*msg="gateway listening" address=[0-9.]*:\([0-9]*\).*/\1/p' | tail -n 1)
expect "the gateway serves its page (READY once listening)" \
	"$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:${gw:-1}/" || true)" "200"
ct systemctl start --no-block chorus-payment@7.service
trying() { journal chorus-payment@7 | grep -q 'cannot connect to RabbitMQ'; }
wait_until "chorus-payment@7 trying to connect" 20 trying
expect "without RabbitMQ an instance is not READY" "$(show chorus-payment@7 ActiveState)" "activating"
ct systemctl stop chorus-payment@7.service

# --- the credentials, under DynamicUser -----------------------------------------------
pid=$(show chorus-order MainPID)
uid=$(ct awk '/^Uid:/ { print $2 }' "/proc/$pid/status" || echo none)
expect "order runs as a dynamic user (uid 61184-65519)" \
	"$([ "$uid" -ge 61184 ] && [ "$uid" -le 65519 ] && echo yes || echo "no: $uid")" "yes"
expect "its URLs came from the credentials (the file's are wrong)" \
	"$(journal chorus-order | grep -c 'msg="ready"')" "1"
expect "each worker logs in to RabbitMQ as its service's user" \
	"$(rmqctl list_connections --no-table-headers user | grep -x 'chorus-\(order\|inventory\|payment\)' | sort -u | tr '\n' ' ')" \
	"chorus-inventory chorus-order chorus-payment "
sandbox() {
	ct awk '/^(CapEff|CapBnd|NoNewPrivs|Seccomp):/ { printf "%s%s ", $1, $2 }' "/proc/$pid/status"
}
expect "the sandbox is in force (no capabilities, no_new_privs, seccomp filter)" "$(sandbox)" \
	"CapEff:0000000000000000 CapBnd:0000000000000000 NoNewPrivs:1 Seccomp:2 "
sku="nsp-sku-$RUN"; cust="nsp-cust-$RUN"
ctl -q stock set "$sku" 100
ctl -q account set "$cust" 100000
ctl -q order place --id "nsp-1-$RUN" --customer "$cust" --item "$sku:1" --total 100 --wait 30 >/dev/null || true
expect "a saga completes through the workers in the container" "$(order_status "nsp-1-$RUN")" "CONFIRMED"

# --- reload: a new log level ----------------------------------------------------------
sed -i 's/^log_level = info$/log_level = debug/' "$croot/etc/chorus/chorus.conf"
ct systemctl reload chorus-order
reloaded() { journal chorus-order | grep -q 'msg="configuration reloaded" log_level=debug'; }
wait_until "the reload" 20 reloaded
expect "systemctl reload applied log_level=debug" "$(reloaded && echo yes)" "yes"
ctl -q order place --id "nsp-2-$RUN" --customer "$cust" --item "$sku:1" --total 100 --wait 30 >/dev/null || true
n=$(journal chorus-order | grep -c 'level=debug' || true)
expect "debug lines after the reload" "$([ "$n" -gt 0 ] && echo yes || echo "none")" "yes"

# --- the watchdog: a worker that stops pinging is killed and restarted ---------------
old=$(show chorus-inventory MainPID)
ct kill -STOP "$old"
restarted() { [ "$(show chorus-inventory NRestarts)" = 1 ] && [ "$(show chorus-inventory ActiveState)" = active ]; }
wait_until "chorus-inventory restarted by the watchdog" 40 restarted
expect "killed by the watchdog" "$(journal chorus-inventory --output=short | grep -c 'Watchdog timeout' || true)" "1"
expect "restarted once, a new process" \
	"$(show chorus-inventory NRestarts) $([ "$(show chorus-inventory MainPID)" != "$old" ] && echo new)" "1 new"

# --- exit 78: a bad configuration is not restarted -------------------------------------
rc=0; ct systemctl start chorus-payment@9.service 2>/dev/null || rc=$?
expect "a bad configuration fails the start" "$([ "$rc" -ne 0 ] && echo failed)" "failed"
# SubState "failed" is systemd's final word: a unit it will restart is in
# "auto-restart" instead (and, from systemd 254, passes through
# "failed-before-auto-restart"), so no waiting for a restart that would not come.
failed_78() { [ "$(show chorus-payment@9 ExecMainStatus)" = 78 ] && [ "$(show chorus-payment@9 SubState)" = failed ]; }
wait_until "chorus-payment@9 failed with 78" 20 failed_78
expect "exit 78, not restarted" \
	"$(show chorus-payment@9 ExecMainStatus) $(show chorus-payment@9 NRestarts) $(show chorus-payment@9 ActiveState) $(show chorus-payment@9 SubState)" \
	"78 0 failed failed"
expect "no restart scheduled" \
	"$(ct journalctl -q --no-pager -o cat -u chorus-payment@9 | grep -c 'Scheduled restart job' || true)" "0"

# --- an instance competes for the queue --------------------------------------------------
rc=0; ct systemctl start chorus-inventory@2.service || rc=$?
expect "chorus-inventory@2 started" "$rc" "0"
expect "two consumers on chorus.inventory.events" "$(consumers inventory)" "2"
for k in 1 2 3 4 5 6; do
	ctl -q order place --id "nsp-i$k-$RUN" --customer "$cust" --item "$sku:1" --total 100 >/dev/null
done
ctl -q wait-quiet --timeout 60
expect "sagas complete with two inventory instances" \
	"$(sql order "SELECT count(*) FROM orders WHERE order_id LIKE 'nsp-i_-$RUN' AND status = 'CONFIRMED'")" "6"

# --- journald reads the priority prefixes -------------------------------------------------
prio() {
	ct journalctl -q --no-pager -o json -u "$1" | python3 -c '
import json, sys
want = {"ready": "6", "reload": "6", "bad": "3", "debug": "7"}
seen = {}
raw = 0
for line in sys.stdin:
    e = json.loads(line)
    m = e.get("MESSAGE")
    if not isinstance(m, str):
        continue
    raw += m.startswith("<")
    for k, pat in (("ready", "msg=\"ready\""), ("reload", "configuration reloaded"),
                   ("bad", "level=error service="), ("debug", "level=debug service=")):
        if pat in m:
            seen.setdefault(k, e.get("PRIORITY"))
print(" ".join("%s=%s" % (k, seen[k]) for k in sorted(seen)), "raw=%d" % raw)'
}
expect "order: PRIORITY from the prefixes, none left in the text" "$(prio chorus-order)" "debug=7 ready=6 reload=6 raw=0"
expect "journalctl -p err shows the error" \
	"$(ct journalctl -q --no-pager -o cat -p err -u chorus-payment@9 | grep -c 'level=error' || true)" \
	"$(journal chorus-payment@9 | grep -c 'level=error')"

# --- stop: drained, exit 0 ----------------------------------------------------------------
ct systemctl stop chorus.target chorus-inventory@2.service
expect "stopped cleanly (Result=success)" \
	"$(show chorus-order Result) $(show chorus-payment Result) $(show chorus-inventory@2 Result)" \
	"success success success"
finish
