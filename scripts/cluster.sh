#!/usr/bin/env bash
# cluster.sh: a throwaway multi-node stack for fault tests of Chorus -- three
# RabbitMQ nodes clustered, and a PostgreSQL primary with a streaming standby --
# all on 127.0.0.1 of this machine, built from scripts/stack.sh stacks (one per
# node, CHORUS_STACK_ONLY), so every start, stop and wait is stack.sh's.
#
# Usage: scripts/cluster.sh up|down|status|env|reset
#        scripts/cluster.sh kill|stop|start NODE   SIGKILL, stop cleanly, or start
#                                                  RabbitMQ node NODE (1, 2 or 3)
#        scripts/cluster.sh partition NODE         cut NODE off from the other two
#        scripts/cluster.sh heal                   end the partition
#        scripts/cluster.sh leader QUEUE           the node (1-3) leading a quorum queue
#        scripts/cluster.sh running                the nodes (1-3) running RabbitMQ
#        scripts/cluster.sh rabbitmqctl NODE [args]
#        scripts/cluster.sh pg-kill-primary        SIGKILL the primary and its backends
#        scripts/cluster.sh pg-promote             promote the standby (pg_ctl promote)
#        scripts/cluster.sh pg-role N              primary, standby or down (N: 1 or 2)
#        scripts/cluster.sh psql [psql args]       superuser psql on the primary
#
#   up      start what is not running (idempotent): the three nodes, node 2 and 3
#           joined to node 1 on first start; PostgreSQL 1 as primary and 2 as its
#           standby (pg_basebackup), replication synchronous: a commit returns once
#           the standby has flushed it, so a promoted standby lost nothing acked
#   down    stop everything cleanly (the data stays; up starts it again)
#   reset   kill everything and delete the state directory
#   env     `export` lines to eval: CHORUS_AMQP_URL lists the three nodes
#           (as chorus-admin, chorusctl's identity; the workers log in as
#           their service's user with CHORUS_<SVC>_AMQP_PASSWORD), the database
#           URLs (runtime role <db>_app, owner role <db> for the migrations)
#           name both PostgreSQL servers with target_session_attrs=read-write
#           (libpq finds the primary)
#
# Partitions: each node's Erlang distribution connects out from an address of
# its own (127.0.0.2, .3, .4; -kernel inet_dist_connect_options), so an
# nftables table (chorus_cluster_<port>) can drop the traffic between NODE and
# the two others, and nothing else: clients and rabbitmqctl still reach every
# node. Needs root and nft (scripts/deps.sh). The nodes run with
# cluster_partition_handling = pause_minority and net_ticktime = 10: a cut
# node notices within ~10-15 s, pauses (closes its client connections and
# listeners) and resumes once it sees the majority again.
#
# Environment (defaults in brackets):
#   CHORUS_CLUSTER_DIR [/tmp/chorus-cluster]  state: rmq1..3, pg1, pg2 (stack.sh dirs)
#   CHORUS_CLUSTER_AMQP_PORT [5722]  node N listens on this + 2(N-1); the Erlang
#                                    distribution on that + 20000
#   CHORUS_CLUSTER_MGMT_PORT [15722] node N's management API on this + 2(N-1)
#   CHORUS_CLUSTER_PG_PORT [5582]    PostgreSQL 1 on this, 2 on this + 2
#   CHORUS_CLUSTER_NODE_PREFIX [chorus-cl<AMQP port>-]  node N is <prefix>N@localhost
#   CHORUS_STACK_TIMEOUT [90]        as for stack.sh
set -euo pipefail
umask 022

prog=cluster.sh
here=$(cd "$(dirname -- "$0")" && pwd)
self=$here/$(basename -- "$0")
STACK=$here/stack.sh
die() {
	echo "$prog: error: $*" >&2
	exit 1
}
say() { echo "$prog: $*"; }

DIR=${CHORUS_CLUSTER_DIR:-/tmp/chorus-cluster}
[[ $DIR == /* ]] || DIR=$PWD/$DIR
DIR=${DIR%/}
AMQP=${CHORUS_CLUSTER_AMQP_PORT:-5722}
MGMT=${CHORUS_CLUSTER_MGMT_PORT:-15722}
PGP=${CHORUS_CLUSTER_PG_PORT:-5582}
PREFIX=${CHORUS_CLUSTER_NODE_PREFIX:-chorus-cl$AMQP-}
for v in AMQP MGMT PGP; do
	[[ ${!v} =~ ^[0-9]+$ ]] && ((${!v} >= 1 && ${!v} + 4 <= 65535)) || die "${!v} is not a usable port"
done
NFT_TABLE=chorus_cluster_$AMQP
PG_BIN=/usr/lib/postgresql/15/bin
DATABASES=(chorus_order chorus_inventory chorus_payment)
if ((EUID == 0)); then PG_USER=postgres RMQ_USER=rabbitmq; else PG_USER=$(id -un) RMQ_USER=$PG_USER; fi

amqp_port() { echo $((AMQP + 2 * ($1 - 1))); }
dist_port() { echo $(($(amqp_port "$1") + 20000)); }
node_name() { echo "$PREFIX$1@localhost"; }
# The address node N's distribution connects from (the partition rules match it).
node_src() { echo "127.0.0.$(($1 + 1))"; }
pg_port() { echo $((PGP + 2 * ($1 - 1))); }

# stack.sh for RabbitMQ node N: stack_rmq N COMMAND [ARGS...]
# The settings of another stack (a test run's, in the environment) are not
# this node's: env -u keeps stack.sh from noting that it ignores them.
stack_rmq() {
	local n=$1
	shift
	env -u CHORUS_PG_PORT -u CHORUS_AMQPS_PORT CHORUS_STACK_DIR=$DIR/rmq$n CHORUS_STACK_ONLY=rabbitmq \
		CHORUS_AMQP_PORT="$(amqp_port "$n")" CHORUS_MGMT_PORT=$((MGMT + 2 * (n - 1))) \
		CHORUS_RABBIT_NODE="$(node_name "$n")" \
		CHORUS_RABBIT_CONF_EXTRA="cluster_partition_handling = pause_minority
net_ticktime = 10
cluster_formation.peer_discovery_backend = rabbit_peer_discovery_classic_config
cluster_formation.classic_config.nodes.1 = $(node_name 1)
cluster_formation.classic_config.nodes.2 = $(node_name 2)
cluster_formation.classic_config.nodes.3 = $(node_name 3)" \
		CHORUS_RABBIT_ERL_ARGS="-kernel inet_dist_connect_options [{ip,{127,0,0,$((n + 1))}}]" \
		bash "$STACK" "$@" 8>&-	# the servers must not hold the lock of cmd_up
}

# stack.sh for PostgreSQL server N (1 or 2): stack_pg N COMMAND [ARGS...]
stack_pg() {
	local n=$1
	shift
	env -u CHORUS_AMQP_PORT -u CHORUS_AMQPS_PORT -u CHORUS_MGMT_PORT -u CHORUS_RABBIT_NODE \
		CHORUS_STACK_DIR=$DIR/pg$n CHORUS_STACK_ONLY=postgres CHORUS_PG_PORT="$(pg_port "$n")" \
		bash "$STACK" "$@" 8>&-
}

check_node() { [[ $1 =~ ^[123]$ ]] || die "NODE must be 1, 2 or 3, not '$1'"; }

as_pg() {
	if ((EUID == 0)); then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}

psql_on() { # psql_on N ARGS...: superuser psql on PostgreSQL N through its socket
	local n=$1
	shift
	"$PG_BIN/psql" -X -v ON_ERROR_STOP=1 "postgresql:///postgres?host=$DIR/pg$n/pg&port=$(pg_port "$n")&user=postgres" "$@"
}

# pg-role N: primary, standby or down.
pg_role() {
	local r
	r=$(PGCONNECT_TIMEOUT=3 psql_on "$1" -Atq -c 'SELECT pg_is_in_recovery()' 2>/dev/null) || { echo down; return 0; }
	if [[ $r == f ]]; then echo primary; else echo standby; fi
}

primary() {
	local n
	for n in 1 2; do [[ $(pg_role "$n") == primary ]] && { echo "$n"; return 0; }; done
	return 1
}

# --- RabbitMQ ----------------------------------------------------------------

# A state directory per node holding the cluster's one Erlang cookie.
prepare_node() {
	local d=$DIR/rmq$1
	[[ -e $d/.chorus-stack ]] && return 0
	install -d -m 0755 "$d"
	touch "$d/.chorus-stack"
	install -d -o "$RMQ_USER" -m 0750 "$d/rabbitmq"
	install -o "$RMQ_USER" -m 0400 "$DIR/cookie" "$d/rabbitmq/.erlang.cookie"
}

rmqctl() { # rmqctl N ARGS...: rabbitmqctl against node N (stack.sh bounds it)
	local n=$1
	shift
	stack_rmq "$n" rabbitmqctl "$@"
}

# mgmt N PATH: GET /api/PATH from node N's management API (faster than
# rabbitmqctl, which boots an Erlang VM each time).
mgmt() {
	curl -fsS --max-time 15 -u guest:guest "http://127.0.0.1:$((MGMT + 2 * ($1 - 1)))/api/$2" 2>/dev/null
}

# The nodes running, as numbers, as node N (default: the first that answers) sees them.
running_nodes() {
	local n
	for n in ${1:-1 2 3}; do
		mgmt "$n" nodes | python3 -c 'import json, sys
print(" ".join(sorted(n["name"].split("@")[0][-1] for n in json.load(sys.stdin) if n["running"])))' &&
			return 0
	done
	return 1
}

# Start RabbitMQ nodes N... at once, and wait for them.
start_nodes() {
	local n pids=() rc=0 i=0
	for n in "$@"; do
		stack_rmq "$n" start >"$DIR/rmq$n.start.log" 2>&1 &
		pids+=($!)
	done
	for n in "$@"; do
		if ! wait "${pids[$i]}"; then
			cat "$DIR/rmq$n.start.log" >&2
			rc=1
		fi
		i=$((i + 1))
	done
	((rc == 0)) || die "RabbitMQ node(s) $* did not start"
}

cluster_up() {
	local n
	[[ -s $DIR/cookie ]] || (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/cookie")
	for n in 1 2 3; do prepare_node "$n"; done
	# Node 1 first, then 2 and 3 at once: on their first start they find node 1
	# in the list of the classic peer discovery and join it (no restart). A node
	# clustered before waits for its peers, so a stopped cluster is started in
	# the same two steps.
	start_nodes 1
	start_nodes 2 3
	for n in 2 3; do
		if [[ " $(running_nodes 1) " != *" $n "* ]]; then	# peer discovery did not do it
			say "joining node $n to node 1"
			rmqctl "$n" -q stop_app >/dev/null
			rmqctl "$n" -q reset >/dev/null
			rmqctl "$n" -q join_cluster "$(node_name 1)" >/dev/null
			rmqctl "$n" -q start_app >/dev/null
		fi
	done
	[[ $(running_nodes 1) == "1 2 3" ]] || die "the cluster has nodes '$(running_nodes 1)', want '1 2 3'"
	say "RabbitMQ cluster up: nodes $(node_name 1) $(node_name 2) $(node_name 3), AMQP 127.0.0.1:$(amqp_port 1),$(amqp_port 2),$(amqp_port 3)"
}

# --- PostgreSQL --------------------------------------------------------------

pg_up() {
	local p s d deadline
	# the primary is the one last promoted (pg-promote), else 1
	p=$(cat "$DIR/pg-primary" 2>/dev/null || echo 1)
	[[ $p =~ ^[12]$ ]] || die "$DIR/pg-primary holds '$p', not 1 or 2"
	s=$((3 - p))
	stack_pg "$p" start >/dev/null
	echo "$p" >"$DIR/pg-primary"
	d=$DIR/pg$s
	# the other one was the primary before a promotion: a new standby replaces it
	if [[ -s $d/pg/data/PG_VERSION && ! -e $d/pg/data/standby.signal ]]; then
		say "PostgreSQL $s was the primary before $p was promoted: rebuilding it as a standby"
		stack_pg "$s" reset >/dev/null
	fi
	if [[ ! -s $d/pg/data/PG_VERSION ]]; then
		say "taking a base backup of PostgreSQL $p for the standby $s"
		install -d -m 0755 "$d"
		touch "$d/.chorus-stack"
		install -d -o "$PG_USER" -m 0755 "$d/pg"
		as_pg "$PG_BIN/pg_basebackup" -D "$d/pg/data" -R -X stream -c fast \
			-d "host=$DIR/pg$p/pg port=$(pg_port "$p") user=postgres" ||
			die "pg_basebackup from PostgreSQL $p failed"
	fi
	stack_pg "$s" start >/dev/null
	# Synchronous: a COMMIT (and so a worker's ack) waits for the standby's flush.
	# Set after the base backup, so that the standby, once promoted, does not wait
	# for a standby of its own.
	psql_on "$p" -q -c "ALTER SYSTEM SET synchronous_standby_names = '*'" -c 'SELECT pg_reload_conf()' >/dev/null
	deadline=$((SECONDS + 60))
	until [[ $(psql_on "$p" -Atq -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND sync_state = 'sync'") == 1 ]]; do
		((SECONDS < deadline)) || die "the standby $s did not stream synchronously from $p within 60s"
		sleep 0.2
	done
	say "PostgreSQL up: primary $p (127.0.0.1:$(pg_port "$p")), synchronous standby $s (127.0.0.1:$(pg_port "$s"))"
}

# Promote the standby (the primary is to be dead); the new primary commits alone.
pg_promote() {
	local n s=
	for n in 1 2; do [[ $(pg_role "$n") == standby ]] && s=$n; done
	[[ -n $s ]] || die "no standby is running"
	[[ $(pg_role $((3 - s))) == down ]] || die "PostgreSQL $((3 - s)) still runs as primary: kill it first (pg-kill-primary)"
	as_pg "$PG_BIN/pg_ctl" -D "$DIR/pg$s/pg/data" -w -t 60 -s promote || die "pg_ctl promote failed"
	echo "$s" >"$DIR/pg-primary"
	say "PostgreSQL $s promoted: now the primary (127.0.0.1:$(pg_port "$s"))"
}

# --- partitions --------------------------------------------------------------

partition() {
	local n=$1 a b
	command -v nft >/dev/null || die "partition needs nft (apt-get install nftables; scripts/deps.sh)"
	((EUID == 0)) || die "partition needs root (nftables)"
	a=$((n % 3 + 1))
	b=$((a % 3 + 1))
	nft delete table inet "$NFT_TABLE" 2>/dev/null || true
	nft -f - <<-EOF
		table inet $NFT_TABLE {
			chain out {
				type filter hook output priority 0; policy accept;
				ip saddr { $(node_src "$a"), $(node_src "$b") } tcp dport $(dist_port "$n") drop
				ip saddr $(node_src "$n") tcp dport { $(dist_port "$a"), $(dist_port "$b") } drop
			}
		}
	EOF
	say "node $n cut off from nodes $a and $b (nft table inet $NFT_TABLE)"
}

heal() {
	if command -v nft >/dev/null && nft list table inet "$NFT_TABLE" >/dev/null 2>&1; then
		nft delete table inet "$NFT_TABLE"
		say "partition healed"
	else
		say "no partition"
	fi
}

# --- commands ------------------------------------------------------------------

print_env() {
	local urls='' dbhosts n db var
	# chorusctl logs in as the administrative identity (stack.sh makes the users)
	for n in 1 2 3; do urls+="${urls:+,}amqp://chorus-admin:chorus-admin@127.0.0.1:$(amqp_port "$n")/%2F"; done
	dbhosts="127.0.0.1:$(pg_port 1),127.0.0.1:$(pg_port 2)"
	printf "export CHORUS_AMQP_URL='%s'\n" "$urls"
	printf "export CHORUS_MGMT_URL='http://127.0.0.1:%s/'\n" "$MGMT"
	for db in "${DATABASES[@]}"; do
		# each worker logs in as its service's user (stack.sh made it; password = name)
		var=CHORUS_${db#chorus_}_AMQP_PASSWORD
		printf "export %s='%s'\n" "${var^^}" "${db/_/-}"
		var=CHORUS_${db#chorus_}_DATABASE_URL
		printf "export %s='postgresql://%s_app:%s_app@%s/%s?target_session_attrs=read-write&sslmode=disable'\n" "${var^^}" "$db" "$db" "$dbhosts" "$db"
		var=CHORUS_${db#chorus_}_DATABASE_OWNER_URL
		printf "export %s='postgresql://%s:%s@%s/%s?target_session_attrs=read-write&sslmode=disable'\n" "${var^^}" "$db" "$db" "$dbhosts" "$db"
	done
	n=$(primary || echo 1)
	printf "export CHORUS_PG_ADMIN='postgresql:///postgres?host=%s&port=%s&user=postgres'\n" "$DIR/pg$n/pg" "$(pg_port "$n")"
	# stack.sh rabbitmqctl (tests/integration/lib.sh) then talks to node 1
	printf "export CHORUS_STACK_DIR='%s'\n" "$DIR/rmq1"
	printf "export CHORUS_CLUSTER_DIR='%s' CHORUS_CLUSTER_AMQP_PORT=%s CHORUS_CLUSTER_MGMT_PORT=%s CHORUS_CLUSTER_PG_PORT=%s CHORUS_CLUSTER_NODE_PREFIX='%s'\n" \
		"$DIR" "$AMQP" "$MGMT" "$PGP" "$PREFIX"
}

cmd_up() {
	local t0=$SECONDS pg
	[[ ! -L $DIR ]] || die "$DIR is a symlink"
	install -d -m 0755 "$DIR"
	exec 8>"$DIR/.cluster.lock"
	flock -w 600 8 || die "another cluster.sh holds $DIR/.cluster.lock"
	# PostgreSQL meanwhile: the two have nothing to wait for in each other
	pg_up >"$DIR/pg-up.log" 2>&1 &
	pg=$!
	cluster_up
	if ! wait "$pg"; then
		cat "$DIR/pg-up.log" >&2
		die "PostgreSQL did not come up (see above)"
	fi
	cat "$DIR/pg-up.log"
	print_env >"$DIR/env"
	say "cluster up in $((SECONDS - t0))s; load its settings with: eval \"\$(scripts/cluster.sh env)\""
}

cmd_down() {
	local n
	[[ -d $DIR ]] || { say "no cluster in $DIR"; return 0; }
	heal >/dev/null
	# the last node to stop is the first to start (up starts all three at once)
	for n in 3 2 1; do [[ -e $DIR/rmq$n/.chorus-stack ]] && stack_rmq "$n" stop; done
	for n in 2 1; do [[ -e $DIR/pg$n/.chorus-stack ]] && stack_pg "$n" stop; done
	return 0
}

cmd_reset() {
	local n
	[[ -d $DIR ]] || { say "no cluster in $DIR"; return 0; }
	heal >/dev/null
	for n in 1 2 3; do [[ -e $DIR/rmq$n/.chorus-stack ]] && stack_rmq "$n" reset >/dev/null; done
	for n in 1 2; do [[ -e $DIR/pg$n/.chorus-stack ]] && stack_pg "$n" reset >/dev/null; done
	rm -rf -- "$DIR"
	say "deleted $DIR"
}

cmd_status() {
	local n down=0
	for n in 1 2 3; do
		echo "node $n ($(node_name "$n")):"
		stack_rmq "$n" status | sed 's/^/  /' || down=1
	done
	echo "running (as node 1 sees it): $(running_nodes 1 || echo '?')"
	for n in 1 2; do echo "PostgreSQL $n (127.0.0.1:$(pg_port "$n")): $(pg_role "$n")"; done
	if command -v nft >/dev/null && nft list table inet "$NFT_TABLE" >/dev/null 2>&1; then
		echo "partition: in force (nft table inet $NFT_TABLE)"
	fi
	return "$down"
}

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$self"; }

main() {
	local cmd=${1:-}
	[[ $# -gt 0 ]] && shift
	cd /
	case $cmd in
	up | down | status | env | reset | heal | running | pg-promote)
		(($# == 0)) || die "$cmd takes no arguments"
		case $cmd in
		env) print_env ;;
		heal) heal ;;
		running) running_nodes ;;
		pg-promote) pg_promote ;;
		*) "cmd_$cmd" ;;
		esac
		;;
	kill | stop | start | partition)
		(($# == 1)) || die "$cmd takes a NODE (1, 2 or 3)"
		check_node "$1"
		case $cmd in
		kill) stack_rmq "$1" rabbit-kill ;;
		stop) stack_rmq "$1" stop ;;
		start) stack_rmq "$1" start ;;
		partition) partition "$1" ;;
		esac
		;;
	leader)
		(($# == 1)) || die "leader takes a QUEUE"
		local n
		for n in 1 2 3; do
			mgmt "$n" "queues/%2F/$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1")" |
				python3 -c 'import json, sys
q = json.load(sys.stdin)
sys.exit(1) if not q.get("leader") else print(q["leader"].split("@")[0][-1])' && return 0
		done
		die "no running node knows a leader of queue $1"
		;;
	rabbitmqctl)
		(($# >= 1)) || die "rabbitmqctl takes a NODE"
		check_node "$1"
		local n=$1
		shift
		rmqctl "$n" "$@"
		;;
	pg-kill-primary)
		local p
		p=$(primary) || die "no PostgreSQL runs as primary"
		stack_pg "$p" pg-kill
		;;
	pg-role)
		[[ ${1:-} =~ ^[12]$ ]] || die "pg-role takes 1 or 2"
		pg_role "$1"
		;;
	psql)
		local p
		p=$(primary) || die "no PostgreSQL runs as primary"
		psql_on "$p" "$@"
		;;
	-h | --help | help) usage ;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
