#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, builds with
# -Werror under AddressSanitizer and UndefinedBehaviorSanitizer, starts a
# fresh throwaway RabbitMQ and PostgreSQL (scripts/stack.sh, on ports of its
# own so a running demo is left alone), runs `make check` (cmocka unit tests
# and the integration tests against the real servers), stops the stack and
# prints one closing line "tests: N passed, N failed".
#
# Usage: scripts/test.sh [--long]   (--long: the long profile of the fault tests, suite.sh and cluster.sh)
# Environment: CHORUS_BUILD_DIR [build-test]  CHORUS_SANITIZE [1]
#              CHORUS_KEEP_STACK [0]: leave the stack running afterwards
#              CHORUS_NSPAWN [1]: 0 skips the units under a live systemd
#              (tests/packaging/systemd_live.sh)
#              CHORUS_CLUSTER: 0 leaves out tests/fault/cluster.sh (its own
#              3-node cluster on the stack's ports + 1000, ~5-6 minutes)
set -euo pipefail
case ${1:-} in
--long) export CHORUS_FAULT_PROFILE=long ;;
'') ;;
*) echo "usage: scripts/test.sh [--long]" >&2; exit 64 ;;
esac
top=$(cd "$(dirname "$0")/.." && pwd)
build=${CHORUS_BUILD_DIR:-$top/build-test}
sanitize=${CHORUS_SANITIZE:-1}

bash "$top/scripts/deps.sh"

# The Debian root that tests/packaging/systemd_live.sh boots (once per machine,
# one to three minutes): built in the background while the build below runs and
# the stack starts. The test waits for it (nspawn-root.sh's lock) and, should
# this build have failed, builds it itself and shows why.
mkdir -p "$build"
if [ "${CHORUS_NSPAWN:-1}" = 1 ] && [ "$(id -u)" = 0 ] && command -v mmdebstrap >/dev/null &&
	command -v systemd-nspawn >/dev/null; then
	bash "$top/tests/packaging/nspawn-root.sh" >"$build/nspawn-root.log" 2>&1 &
fi

# --- build --------------------------------------------------------------------
flags=(--enable-werror)
[ "$sanitize" = 1 ] && flags+=(--enable-asan)
bash "$top/scripts/build.sh" "$build" "${flags[@]}"
cd "$build"

# --- the stack ------------------------------------------------------------------
export CHORUS_STACK_DIR=${CHORUS_TEST_STACK_DIR:-/tmp/chorus-test-stack}
export CHORUS_AMQP_PORT=${CHORUS_TEST_AMQP_PORT:-5702}
export CHORUS_MGMT_PORT=${CHORUS_TEST_MGMT_PORT:-15702}
export CHORUS_PG_PORT=${CHORUS_TEST_PG_PORT:-5462}
export CHORUS_RABBIT_NODE=${CHORUS_TEST_RABBIT_NODE:-chorus-test@localhost}
bash "$top/scripts/stack.sh" reset >/dev/null
bash "$top/scripts/stack.sh" start
if [ "${CHORUS_KEEP_STACK:-0}" != 1 ]; then
	trap 'bash "$top/scripts/stack.sh" stop >/dev/null 2>&1 || true' EXIT
fi
eval "$(bash "$top/scripts/stack.sh" env)"

# --- the tests ------------------------------------------------------------------
# LeakSanitizer checks every process at exit, the workers included
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
rc=0
make -j"$(nproc)" check || rc=$?	# the integration tests serialise themselves (Makefile.am)
if [ "$rc" -ne 0 ]; then
	for f in $(grep -l -E '^:test-result: (FAIL|ERROR)' $(find . -name '*.trs') 2>/dev/null); do
		echo "=== ${f%.trs}.log"
		cat "${f%.trs}.log"
	done
fi
count() { find . -name '*.trs' -exec cat {} + 2>/dev/null | grep -c -E "^:test-result: ($1)\$" || true; }
pass=$(count PASS)
fail=$(count 'FAIL|ERROR|XPASS')
skip=$(count SKIP)
echo "tests: $pass passed, $fail failed, $skip skipped"
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ]
