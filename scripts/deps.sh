#!/usr/bin/env bash
# deps.sh: install the Debian packages Chorus needs to build, test and run.
#
# Checks every package with one dpkg-query call and does nothing else when all are
# installed (the common case, well under a second). Otherwise, as root, runs
# apt-get update and apt-get install --no-install-recommends for the missing ones
# only; as any other user, prints the command to run and exits 1.
#
# Installing rabbitmq-server or postgresql on a normal Debian box starts their system
# services on the default ports; scripts/stack.sh never uses those (see its header).
#
# Usage: scripts/deps.sh [--check]   (--check: only report, never install)
set -euo pipefail

packages=(
	build-essential autoconf automake libtool pkg-config
	librabbitmq-dev libssl-dev libjson-c-dev libpq-dev libcmocka-dev libsystemd-dev libmicrohttpd-dev
	libcurl4-openssl-dev jq wrk chromium
	rabbitmq-server postgresql postgresql-client openssl
	curl ca-certificates python3 systemd groff-base man-db
	systemd-container mmdebstrap
	devscripts binutils clang
	nftables
)

check_only=false
case "${1:-}" in
'') ;;
--check) check_only=true ;;
-h | --help)
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
	exit 0
	;;
*)
	echo "deps.sh: unknown argument '$1' (usage: deps.sh [--check])" >&2
	exit 2
	;;
esac

# Packages dpkg knows as fully installed; unknown names make dpkg-query exit 1,
# which is expected here, so its status is ignored and only its output counts.
declare -A installed=()
while read -r name status; do
	[[ $status == installed ]] && installed[$name]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${packages[@]}" 2>/dev/null || true)

missing=()
for p in "${packages[@]}"; do
	[[ -n ${installed[$p]:-} ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
	echo "deps.sh: all ${#packages[@]} packages are installed"
	exit 0
fi

echo "deps.sh: missing: ${missing[*]}"
if $check_only; then
	exit 1
fi
if ((EUID != 0)); then
	echo "deps.sh: not root; install them with:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# -qq keeps apt quiet; errors still reach stderr. The log keeps the full output.
log=$(mktemp /tmp/chorus-deps.XXXXXX.log)
if ! apt-get -qq update >>"$log" 2>&1; then
	tail -n 20 "$log" >&2
	echo "deps.sh: apt-get update failed; full output in $log" >&2
	exit 1
fi
if ! apt-get -qq install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
	tail -n 30 "$log" >&2
	echo "deps.sh: apt-get install failed; full output in $log" >&2
	exit 1
fi
rm -f "$log"
echo "deps.sh: installed: ${missing[*]}"
