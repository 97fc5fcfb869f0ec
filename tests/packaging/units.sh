#!/usr/bin/env bash
# units.sh: the generated systemd units are valid for this systemd.
#
# Copies the units of the build tree into a scratch directory with ExecStart
# pointing at the binaries just built (systemd-analyze verify checks that the
# command exists), lays out the generated man pages so that every
# Documentation=man:... reference is checked too, and runs
# "systemd-analyze verify" on the units, the templates and an instance. Any
# complaint naming a Chorus unit fails the test. Then "systemd-analyze
# security --offline" must rate each worker unit's exposure at most 1.2, so
# the hardening cannot quietly go, and each unit must bound its memory and
# tasks (MemoryMax=, TasksMax=). Exit 0 pass, 1 fail, 77 skip (no
# systemd-analyze).
set -euo pipefail

: "${CHORUS_BUILDDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${CHORUS_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
b=$CHORUS_BUILDDIR

if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: systemd-analyze is not installed (apt-get install systemd)"
	exit 77
fi
units=(chorus-order.service chorus-inventory.service chorus-payment.service
	chorus-order@.service chorus-inventory@.service chorus-payment@.service chorus-gateway.service
	chorus.target)
for u in "${units[@]}"; do
	[ -f "$b/systemd/$u" ] || { echo "ERROR: $b/systemd/$u is missing (run make first)"; exit 99; }
done

work=$(mktemp -d /tmp/chorus-units.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

mkdir -p "$work/units"
for u in "${units[@]}"; do
	sed -E "s|^ExecStart=.*/(chorus-[a-z]+)\$|ExecStart=$b/\\1|" "$b/systemd/$u" >"$work/units/$u"
done

# Placeholders left over would reach systemd as text.
if grep -nE '@[A-Za-z_]+@' "$work"/units/*; then
	fail "unsubstituted @...@ placeholders in the units (above)"
fi
for u in chorus-order chorus-inventory chorus-payment chorus-gateway; do
	grep -qx "ExecStart=$b/$u" "$work/units/$u.service" ||
		fail "$u.service: ExecStart= is not the $u binary: $(grep '^ExecStart=' "$b/systemd/$u.service")"
done

# man pages where "man" finds them, when man is there to look
man_opt=--man=no
if command -v man >/dev/null; then
	mkdir -p "$work/man/man1" "$work/man/man5" "$work/man/man8"
	cp "$b/man/chorusctl.1" "$work/man/man1/"
	cp "$b/man/chorus.conf.5" "$work/man/man5/"
	cp "$b/man/chorus-worker.8" "$b/man/chorus-gateway.8" "$CHORUS_SRCDIR"/man/chorus-{order,inventory,payment}.8 "$work/man/man8/"
	man_opt=--man=yes
fi

cd "$work/units"
echo "systemd-analyze verify $man_opt ${units[*]} chorus-inventory@2.service"
rc=0
out=$(MANPATH="$work/man" systemd-analyze verify "$man_opt" "${units[@]/#/./}" \
	./chorus-inventory@2.service 2>&1) || rc=$?
[ -z "$out" ] || printf '%s\n' "$out"
if [ "$rc" -ne 0 ]; then
	fail "systemd-analyze verify exited $rc"
fi
if grep -q chorus <<<"$out"; then
	fail "systemd-analyze verify complains about the Chorus units (above)"
fi

for u in chorus-order.service chorus-payment@.service chorus-gateway.service; do
	out=$(systemd-analyze security --offline=yes "$man_opt" "./$u" 2>&1 | tail -n 3) || true
	level=$(grep -oE 'Overall exposure level for [^:]*: [0-9.]+' <<<"$out" | awk '{ print $NF }')
	echo "$u: exposure ${level:-unknown}"
	if [ -z "$level" ]; then
		echo "note: systemd-analyze security --offline gave no level here: $out"
	elif awk -v l="$level" 'BEGIN { exit !(l > 1.2) }'; then
		fail "$u: exposure $level, want at most 1.2 (hardening lost?)"
	fi
done
for u in chorus-order.service chorus-order@.service chorus-payment.service chorus-payment@.service \
	chorus-gateway.service; do
	for k in MemoryMax TasksMax; do
		grep -qE "^$k=[0-9]+" "$u" || fail "$u: no $k= bound"
	done
done

if [ "$failures" -ne 0 ]; then
	echo "FAILED: $failures check(s)"
	exit 1
fi
echo "units ok"
