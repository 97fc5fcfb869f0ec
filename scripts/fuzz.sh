#!/usr/bin/env bash
# fuzz.sh: run the libFuzzer targets of tests/fuzz/ for a while each.
#
# Builds a clang build with --enable-fuzzing (AddressSanitizer and
# UndefinedBehaviorSanitizer too) in $CHORUS_FUZZ_BUILD_DIR, then runs each
# target for MINUTES minutes (default 5) at low priority (nice -n 15),
# starting from its corpus in tests/fuzz/corpus/<target>/. New inputs go to
# <build>/corpus/<target>/, crashes to <build>/crashes/<target>/. Prints the
# runs and the coverage libFuzzer reports; exits 1 when a target crashed.
# A crash input belongs in tests/fuzz/corpus/<target>/ once fixed: make check
# replays it from then on.
#
# Usage: scripts/fuzz.sh [MINUTES] [TARGET...]   (targets: envelope conf http)
# Environment: CHORUS_FUZZ_BUILD_DIR [build-fuzz]  CHORUS_FUZZ_JOBS [1]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${CHORUS_FUZZ_BUILD_DIR:-$top/build-fuzz}
minutes=${1:-5}
case $minutes in
'' | *[!0-9]*) echo "usage: scripts/fuzz.sh [MINUTES] [TARGET...]" >&2; exit 64 ;;
esac
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(cd "$top/tests/fuzz/corpus" && ls))

command -v clang >/dev/null || { echo "fuzz.sh: clang is not installed (scripts/deps.sh)" >&2; exit 1; }
if [ ! -x "$top/configure" ] || [ "$top/configure.ac" -nt "$top/configure" ]; then
	(cd "$top" && ./autogen.sh >/dev/null 2>&1)
fi
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ]; then
	"$top/configure" -q CC=clang --enable-fuzzing
fi
bins=()
for t in "${targets[@]}"; do
	[ -d "$top/tests/fuzz/corpus/$t" ] || { echo "fuzz.sh: no target '$t'" >&2; exit 64; }
	bins+=("tests/fuzz/fuzz_$t")
done
nice -n 15 make -j2 "${bins[@]}" >/dev/null

rc=0
for t in "${targets[@]}"; do
	mkdir -p "corpus/$t" "crashes/$t"
	log=fuzz-$t.log
	echo "fuzz.sh: $t for $minutes minute(s)"
	if ! nice -n 15 "tests/fuzz/fuzz_$t" -max_total_time=$((minutes * 60)) \
		-jobs="${CHORUS_FUZZ_JOBS:-1}" -workers="${CHORUS_FUZZ_JOBS:-1}" \
		-print_final_stats=1 -artifact_prefix="crashes/$t/" -max_len=70000 \
		"corpus/$t" "$top/tests/fuzz/corpus/$t" >"$log" 2>&1; then
		echo "fuzz.sh: $t CRASHED: see $build/$log and $build/crashes/$t/"
		rc=1
	fi
	# libFuzzer's own figures: runs, coverage (edges), features, corpus
	grep -E '^#[0-9]+.*DONE|^Done [0-9]+ runs' "$log" | tail -n 2 | sed "s/^/  $t: /"
done
exit $rc
