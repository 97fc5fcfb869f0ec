#!/usr/bin/env bash
# nspawn-root.sh: build, once, the Debian 12 root that tests/packaging/
# systemd_live.sh boots with systemd-nspawn: mmdebstrap from the package
# mirror apt already uses (/etc/apt/sources.list.d/debian.sources, or
# /etc/apt/sources.list), with systemd and the runtime libraries of the
# Chorus binaries (the gateway's libcurl included). Built into a temporary
# directory and renamed when complete, so a half-built root is never used;
# the package list is recorded in it (/etc/chorus-nspawn-root), and a root
# built from another list is built again. One build at a time (a lock next
# to the root). 58-187 s measured on this 2-core machine under a load of 7
# to 14 (163 s at load 7 without the two speed-ups below); nothing to do
# when the root is there and up to date. scripts/test.sh runs it in the
# background before its build.
#
# Usage: tests/packaging/nspawn-root.sh [DIR]
#   DIR: where the root goes (default $CHORUS_NSPAWN_ROOT, else
#   /var/cache/chorus-nspawn/bookworm). As root.
set -euo pipefail

root=${1:-${CHORUS_NSPAWN_ROOT:-/var/cache/chorus-nspawn/bookworm}}
packages=systemd,systemd-sysv,dbus,libnss-systemd,procps,
packages+=librabbitmq4,libjson-c5,libpq5,libsystemd0,libmicrohttpd12,libcurl4
# (procps: /bin/kill, which the units' ExecReload= runs)
stamp=etc/chorus-nspawn-root

current() { [ "$(cat "$root/$stamp" 2>/dev/null)" = "$packages" ]; }
if current; then
	echo "nspawn-root.sh: $root is there"
	exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v mmdebstrap >/dev/null; then
	echo "nspawn-root.sh: needs root and mmdebstrap (apt-get install mmdebstrap systemd-container)" >&2
	exit 1
fi
mkdir -p "$(dirname "$root")"
exec 9>>"$root.lock"
flock -w 900 9 || { echo "nspawn-root.sh: $root.lock held for 15 minutes" >&2; exit 1; }
if current; then	# built by another run while this one waited
	echo "nspawn-root.sh: $root is there"
	exit 0
fi
sources=/etc/apt/sources.list.d/debian.sources
[ -s "$sources" ] || sources=/etc/apt/sources.list
tmp="$root.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
# Faster, not weaker: dpkg without an fsync per file (a throwaway root: one
# sync at the end instead), and the .deb files the host's apt already has
# (hard links; apt checks each against the signed index, and downloads the
# rest). "-": the mirror lines come from stdin, as apt has them.
mmdebstrap --quiet --variant=apt --include="$packages" \
	--dpkgopt=force-unsafe-io --skip=download/empty \
	--setup-hook='mkdir -p "$1/var/cache/apt/archives" && { cp -al /var/cache/apt/archives/*.deb "$1/var/cache/apt/archives/" 2>/dev/null || true; }' \
	bookworm "$tmp" - <"$sources"
sync -f "$tmp"
printf '%s\n' "$packages" >"$tmp/$stamp"
# an out-of-date root (another package list) goes
if [ -e "$root" ]; then rm -rf "$root.old"; mv "$root" "$root.old"; fi
mv "$tmp" "$root"
trap - EXIT
rm -rf "$root.old"
echo "nspawn-root.sh: $root built in $((SECONDS - start)) s"
