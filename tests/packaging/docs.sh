#!/usr/bin/env bash
# docs.sh: the documentation is complete and well formed.
#
#  - every key "chorusctl config --keys" prints has its paragraph in
#    chorus.conf(5) with its default, and its commented "# key = default" line
#    in chorus.conf.example;
#  - the example config, every key uncommented, loads and gives the defaults;
#  - every command "chorusctl --help" lists has its subsection in chorusctl(1);
#  - every long option of "chorus-order --help" is in chorus-worker(8);
#  - the man pages format without a warning (groff -ww), when groff is there.
# Checks the generated files of the build tree. Exit 0 pass, 1 fail.
set -euo pipefail

: "${CHORUS_BUILDDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${CHORUS_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
b=$CHORUS_BUILDDIR
conf5=$b/man/chorus.conf.5
ctl1=$b/man/chorusctl.1
worker8=$b/man/chorus-worker.8
gateway8=$b/man/chorus-gateway.8
example=$b/etc/chorus.conf.example
work=$(mktemp -d /tmp/chorus-docs.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
checks=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

for f in "$conf5" "$ctl1" "$worker8" "$gateway8" "$example" "$b/chorusctl" "$b/chorus-order" "$b/chorus-gateway"; do
	[ -e "$f" ] || { echo "ERROR: $f is missing (run make first)"; exit 99; }
done

# Run a program of the build tree with no CHORUS_* variable and no config
# file, so that only the built-in defaults show.
clean_run() {
	env -i PATH="$PATH" ${ASAN_OPTIONS:+ASAN_OPTIONS="$ASAN_OPTIONS"} \
		${UBSAN_OPTIONS:+UBSAN_OPTIONS="$UBSAN_OPTIONS"} "$@"
}

# man source as plain text: "\-" is "-", font escapes and "\&" go.
unman() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\&//g' -e 's/\\(em/--/g' "$1"; }
unman "$conf5" >"$work/conf5.txt"
unman "$ctl1" >"$work/ctl1.txt"
unman "$worker8" >"$work/worker8.txt"
unman "$gateway8" >"$work/gateway8.txt"

# --- keys -----------------------------------------------------------------------
clean_run "$b/chorusctl" -c /dev/null config --keys >"$work/keys"
[ -s "$work/keys" ] || { echo "ERROR: chorusctl config --keys printed nothing"; exit 99; }
# (tabs read as a non-blank separator: an empty default stays a field)
while IFS=$'\x1f' read -r key def _help; do
	checks=$((checks + 1))
	# its ".TP" ".B key" paragraph in the KEYS section, up to the next one
	para=$(awk -v k=".B $key" '/^\.SH/ { keys = ($0 == ".SH KEYS") }
		keys && prev == ".TP" && $0 == k { on = 1; next }
		on && /^\.(TP|SH|SS)/ { exit }
		on { print } { prev = $0 }' "$work/conf5.txt")
	if [ -z "$para" ]; then
		fail "key $key: no '.TP/.B $key' paragraph under KEYS in man/chorus.conf.5"
	elif ! grep -qF "Default: $def." <<<"$(tr '\n' ' ' <<<"$para")"; then
		fail "key $key: man/chorus.conf.5 does not give its default 'Default: $def.'"
	fi
	if ! grep -qxF "# $key = $def" "$example"; then
		fail "key $key: no line '# $key = $def' in etc/chorus.conf.example"
	fi
done < <(tr '\t' '\037' <"$work/keys")
echo "checked $(wc -l <"$work/keys") keys against chorus.conf(5) and chorus.conf.example"

# The example, uncommented, is a valid file that changes nothing.
checks=$((checks + 1))
sed -E 's/^# ([a-z_.]+ = )/\1/' "$example" >"$work/uncommented.conf"
if ! clean_run "$b/chorusctl" -c "$work/uncommented.conf" config >"$work/from-example" 2>&1; then
	fail "etc/chorus.conf.example uncommented does not load: $(cat "$work/from-example")"
else
	clean_run "$b/chorusctl" -c /dev/null config >"$work/from-defaults"
	if ! diff -u "$work/from-defaults" "$work/from-example"; then
		fail "etc/chorus.conf.example uncommented: got the values above (+), want the defaults (-)"
	fi
fi

# --- commands -------------------------------------------------------------------
# The command list: the lines between "Commands" and the first blank line;
# a command's first word, skipping continuation lines (indented further).
clean_run "$b/chorusctl" --help |
	awk '/^The Chorus operator CLI/ { on = 1; next } on && /^$/ { exit }
	     on && /^  [a-z]/ { print $1 }' | sort -u >"$work/commands"
[ -s "$work/commands" ] || { echo "ERROR: no commands found in chorusctl --help"; exit 99; }
while read -r cmd; do
	checks=$((checks + 1))
	if ! grep -qE "^\.SS \"?$cmd( |\"|\$)" "$work/ctl1.txt"; then
		fail "command $cmd: no '.SS $cmd' subsection in man/chorusctl.1"
	fi
done <"$work/commands"
echo "checked $(wc -l <"$work/commands") commands against chorusctl(1)"

# --- options --------------------------------------------------------------------
for opt in $(clean_run "$b/chorus-order" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
	checks=$((checks + 1))
	grep -qF -- "$opt" "$work/worker8.txt" || fail "option $opt of the workers: not in man/chorus-worker.8"
done
for opt in $(clean_run "$b/chorus-gateway" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
	checks=$((checks + 1))
	grep -qF -- "$opt" "$work/gateway8.txt" || fail "option $opt of chorus-gateway: not in man/chorus-gateway.8"
done
for opt in $(clean_run "$b/chorusctl" --help | sed -n '/^  -/p' | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
	checks=$((checks + 1))
	grep -qF -- "$opt" "$work/ctl1.txt" || fail "option $opt of chorusctl: not in man/chorusctl.1"
done

# --- formatting -----------------------------------------------------------------
if command -v groff >/dev/null; then
	for page in "$ctl1" "$conf5" "$worker8" "$gateway8"; do
		checks=$((checks + 1))
		out=$(LC_ALL=C.UTF-8 groff -ww -z -man -K utf8 "$page" 2>&1) ||
			fail "$(basename "$page"): groff failed"
		[ -z "$out" ] || fail "$(basename "$page"): groff warnings: $out"
	done
	for link in "$CHORUS_SRCDIR"/man/chorus-{order,inventory,payment}.8; do
		checks=$((checks + 1))
		grep -qx '\.so man8/chorus-worker\.8' "$link" || fail "$(basename "$link"): not a .so link to chorus-worker.8"
	done
else
	echo "note: groff is not installed: man page formatting not checked"
fi

echo "$checks checks, $failures failed"
[ "$failures" -eq 0 ]
