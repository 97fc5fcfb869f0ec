#!/usr/bin/env bash
# nspawn-root.sh: build, once, the Debian 12 root that tests/packaging/
# systemd_live.sh boots with systemd-nspawn: mmdebstrap from the package
# mirror apt already uses (/etc/apt/sources.list.d/debian.sources, or
# /etc/apt/sources.list), with systemd and the runtime libraries of the
# Chorus binaries. Built into a temporary directory and renamed when
# complete, so a half-built root is never used. About a minute on a fresh
# machine, a few on a busy one; nothing to do when the root exists.
#
# Usage: tests/packaging/nspawn-root.sh [DIR]
#   DIR: where the root goes (default $CHORUS_NSPAWN_ROOT, else
#   /var/cache/chorus-nspawn/bookworm). As root.
set -euo pipefail

root=${1:-${CHORUS_NSPAWN_ROOT:-/var/cache/chorus-nspawn/bookworm}}
packages=systemd,systemd-sysv,dbus,libnss-systemd,procps,
packages+=librabbitmq4,libjson-c5,libpq5,libsystemd0,libmicrohttpd12

# (procps: /bin/kill, which the units' ExecReload= runs)
if [ -x "$root/bin/kill" ] && [ -d "$root/usr/lib/systemd" ]; then
	echo "nspawn-root.sh: $root is there"
	exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v mmdebstrap >/dev/null; then
	echo "nspawn-root.sh: needs root and mmdebstrap (apt-get install mmdebstrap systemd-container)" >&2
	exit 1
fi
sources=/etc/apt/sources.list.d/debian.sources
[ -s "$sources" ] || sources=/etc/apt/sources.list
mkdir -p "$(dirname "$root")"
tmp="$root.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
# "-": the mirror lines come from stdin, as apt has them
mmdebstrap --quiet --variant=apt --include="$packages" bookworm "$tmp" - <"$sources"
mv "$tmp" "$root"
trap - EXIT
echo "nspawn-root.sh: $root built in $((SECONDS - start)) s"
