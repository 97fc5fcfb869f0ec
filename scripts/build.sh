#!/usr/bin/env bash
# build.sh: build Chorus out of tree, the one way every script does it.
#
# Usage: scripts/build.sh DIR [CONFIGURE-ARG ...]
#
# Runs autogen.sh when configure is missing or older than configure.ac or
# Makefile.am, runs configure in DIR when DIR has no Makefile yet or was
# configured with other arguments (recorded in DIR/.configured-with), then
# make -j<cores> quietly. test.sh (-Werror, sanitizers), bench.sh and
# bench-gateway.sh (CFLAGS=-O2) and demo.sh use it, each with a directory
# of its own, so their builds never overwrite each other.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: scripts/build.sh DIR [CONFIGURE-ARG ...]" >&2; exit 64; }
top=$(cd "$(dirname "$0")/.." && pwd)
build=$1
shift
if [ ! -x "$top/configure" ] || [ "$top/configure.ac" -nt "$top/configure" ] ||
	[ "$top/Makefile.am" -nt "$top/Makefile.in" ]; then
	(cd "$top" && ./autogen.sh >/dev/null 2>&1) || { echo "build.sh: autogen.sh failed" >&2; exit 1; }
fi
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ] || [ "$(cat .configured-with 2>/dev/null)" != "$*" ]; then
	"$top/configure" -q "$@"
	echo "$*" >.configured-with
fi
make -j"$(nproc)" >/dev/null
