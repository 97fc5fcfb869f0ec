#!/usr/bin/env bash
# serial.sh: how the automake harness runs every shell test (SH_LOG_COMPILER).
# The integration, fault and packaging tests share one RabbitMQ and one
# PostgreSQL (scripts/stack.sh), so each first takes one lock and they run one
# at a time, in whatever order `make -j check` starts them, while the unit
# tests run beside them in parallel. The wait is bounded.
#
# Usage (by the harness): serial.sh TEST.sh [ARGS...]
set -euo pipefail
lock=${CHORUS_STACK_DIR:-${TMPDIR:-/tmp}}/.chorus-tests.lock
exec 9>>"$lock"
if ! flock -w 3600 9; then
	echo "serial.sh: could not take $lock within an hour (another test stuck?)" >&2
	exit 99
fi
exec bash "$@"
