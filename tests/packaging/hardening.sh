#!/usr/bin/env bash
# hardening.sh: the binaries are built hardened (configure.ac, on unless
# --disable-hardening): PIE, stack protector, _FORTIFY_SOURCE (checked
# *_chk functions), full RELRO (relro + bind now). hardening-check (Debian's
# devscripts) reports each; readelf checks the same when it is missing.
# hardening-check's control-flow check is left out: it misses the endbr64
# that -fcf-protection does put in. Exit 0 pass, 1 fail, 77 skip (built with
# --disable-hardening, or no readelf).
set -euo pipefail

: "${CHORUS_BUILDDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
b=$CHORUS_BUILDDIR
bins=(chorus-order chorus-inventory chorus-payment chorusctl)
for x in "${bins[@]}"; do
	[ -x "$b/$x" ] || { echo "ERROR: $b/$x is missing (run make first)"; exit 99; }
done
if grep -q '^HARDEN_LDFLAGS = *$' "$b/Makefile"; then
	echo "SKIP: configured with --disable-hardening"
	exit 77
fi
failures=0
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

if command -v hardening-check >/dev/null; then
	for x in "${bins[@]}"; do
		out=$(hardening-check --nocfprotection "$b/$x" 2>&1) || fail "hardening-check $x: $out"
		printf '%s\n' "$out" | grep -E 'Position|Stack protected|Fortify|relocations|binding'
	done
elif ! command -v readelf >/dev/null; then
	echo "SKIP: neither hardening-check (devscripts) nor readelf (binutils) is installed"
	exit 77
fi
# readelf, always: the same properties read off the ELF headers and symbols
for x in "${bins[@]}"; do
	f=$b/$x
	readelf -h "$f" | grep -q 'Type: *DYN' || fail "$x: not PIE (ELF type is not DYN)"
	readelf -lW "$f" | grep -q GNU_RELRO || fail "$x: no GNU_RELRO segment"
	readelf -dW "$f" | grep -qE 'BIND_NOW|FLAGS.*NOW' || fail "$x: not bound now (-z now)"
	syms=$(readelf --dyn-syms -W "$f")
	grep -q __stack_chk_fail <<<"$syms" || fail "$x: no stack protector (__stack_chk_fail)"
	grep -qE '__[a-z]+_chk(@|$| )' <<<"$syms" || fail "$x: no fortified function (__*_chk)"
done

if [ "$failures" -ne 0 ]; then
	echo "FAILED: $failures check(s)"
	exit 1
fi
echo "hardening ok: ${bins[*]}"
