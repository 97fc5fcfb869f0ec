#!/usr/bin/env bash
# stack.sh: a throwaway RabbitMQ and PostgreSQL for developing and testing Chorus.
#
# Both run on 127.0.0.1 only, without systemd, from one state directory, on ports
# that differ from the system services' defaults (5672, 15672, 25672, 5432), which
# this script never starts, stops or reads the configuration of.
#
# Usage: scripts/stack.sh start|stop|status|env|reset
#        scripts/stack.sh psql [psql args]         superuser psql through the socket
#        scripts/stack.sh rabbitmqctl [args]       rabbitmqctl against our node
#        scripts/stack.sh pg-restart-immediate     crash-restart PostgreSQL (fault tests)
#        scripts/stack.sh rabbit-kill|pg-kill      SIGKILL the node or the postmaster and
#                                                  its backends (fault tests; start brings
#                                                  them back)
#
#   start   start whatever is not running (idempotent), wait until it answers, write
#           $CHORUS_STACK_DIR/env; the first start creates the roles and databases
#           chorus_order, chorus_inventory, chorus_payment (password = role name)
#   stop    stop both (idempotent); waits are bounded, kill is the last resort
#   status  what runs, on which ports; exit 1 if something is down
#   env     `export` lines to eval: eval "$(scripts/stack.sh env)"; the AMQP URL
#           ends in /%2F (vhost "/"): rabbitmq-c reads a bare trailing / as vhost ""
#
# TLS: each start makes (once per state directory, with openssl) a throwaway CA and,
# signed by it, a server certificate for localhost and 127.0.0.1 and a client
# certificate (CN chorus-tls-client), in $CHORUS_STACK_DIR/tls. RabbitMQ listens for
# amqps:// on CHORUS_AMQPS_PORT (client certificates verified when sent; EXTERNAL
# login offered) and PostgreSQL accepts TLS on its one port. The plaintext listeners
# stay: the plain database URLs say sslmode=disable, since libpq would otherwise
# choose TLS; `env` also exports CHORUS_AMQPS_URL, CHORUS_<SERVICE>_DATABASE_TLS_URL
# (sslmode=verify-full), CHORUS_TLS_CA, CHORUS_TLS_CLIENT_CERT, CHORUS_TLS_CLIENT_KEY
# and CHORUS_TLS_CLIENT_USER (the client certificate's CN).
#   reset   kill both (no clean shutdown: the data goes), delete the state directory
#
# Environment (defaults in brackets):
#   CHORUS_STACK_DIR [/tmp/chorus-stack]  state, logs, sockets; under /tmp so that the
#                     postgres and rabbitmq users can reach it wherever the repo is
#   CHORUS_AMQP_PORT [5682]   AMQP; Erlang distribution uses this + 20000 and
#                     rabbitmqctl this + 30000..30010
#   CHORUS_AMQPS_PORT [AMQP port + 100]  AMQP over TLS
#   CHORUS_MGMT_PORT [15682]  management HTTP API and console
#   CHORUS_PG_PORT   [5442]   PostgreSQL
#   CHORUS_RABBIT_NODE [chorus-<AMQP port>@localhost]  Erlang node name
#   CHORUS_STACK_TIMEOUT [90] seconds to wait for each service to come up
#   CHORUS_STACK_ONLY [both]  rabbitmq or postgres: start, stop and status only that
#                     one (scripts/cluster.sh builds its nodes from such stacks)
#   CHORUS_RABBIT_CONF_EXTRA  lines added to the node's rabbitmq.conf
#   CHORUS_RABBIT_ERL_ARGS    arguments added to the node's Erlang VM
#   CHORUS_PG_CONF_EXTRA      lines added to PostgreSQL's configuration, e.g.
#                             shared_preload_libraries = 'pg_stat_statements'
#                             (scripts/bench.sh --statements uses it)
#
# As root, RabbitMQ runs as the rabbitmq user and PostgreSQL as postgres (runuser);
# otherwise both run as the current user. The Erlang cookie lives in the state
# directory ($CHORUS_STACK_DIR/rabbitmq/.erlang.cookie, used as the node's and the
# CLI's HOME), never in /var/lib/rabbitmq. Once started, the ports are recorded in the
# state directory and later commands use them.
set -euo pipefail
umask 022

prog=stack.sh
self=$(readlink -f -- "$0")
die() {
	echo "$prog: error: $*" >&2
	exit 1
}
say() { echo "$prog: $*"; }

# --- Settings --------------------------------------------------------------------

STACK_DIR=${CHORUS_STACK_DIR:-/tmp/chorus-stack}
[[ $STACK_DIR == /* ]] || STACK_DIR=$PWD/$STACK_DIR
STACK_DIR=${STACK_DIR%/}
AMQP_PORT=${CHORUS_AMQP_PORT:-5682}
AMQPS_PORT=${CHORUS_AMQPS_PORT:-} # set_ports: AMQP_PORT + 100 by default
MGMT_PORT=${CHORUS_MGMT_PORT:-15682}
PG_PORT=${CHORUS_PG_PORT:-5442}
# The default node name follows the AMQP port: two stacks never share one.
RABBIT_NODE=${CHORUS_RABBIT_NODE:-chorus-$AMQP_PORT@localhost}
TIMEOUT=${CHORUS_STACK_TIMEOUT:-90}
ONLY=${CHORUS_STACK_ONLY:-}
case $ONLY in '' | rabbitmq | postgres) ;; *) echo "stack.sh: error: CHORUS_STACK_ONLY=$ONLY is not rabbitmq or postgres" >&2; exit 1 ;; esac

PG_BIN=/usr/lib/postgresql/15/bin
RABBIT_BIN=/usr/lib/rabbitmq/bin
DATABASES=(chorus_order chorus_inventory chorus_payment)

RMQ_DIR=$STACK_DIR/rabbitmq
RMQ_LOG_DIR=$RMQ_DIR/log
RMQ_STARTUP_LOG=$RMQ_LOG_DIR/startup.log
PG_DIR=$STACK_DIR/pg # also the unix socket directory
PG_DATA=$PG_DIR/data
PG_LOG=$PG_DIR/postgresql.log
MARKER_FILE=$STACK_DIR/.chorus-stack
PORTS_FILE=$STACK_DIR/ports
TLS_DIR=$STACK_DIR/tls
TLS_CLIENT_CN=chorus-tls-client
LOCK_FILE=$STACK_DIR/.stack.lock

if ((EUID == 0)); then
	RMQ_USER=rabbitmq
	PG_USER=postgres
else
	RMQ_USER=$(id -un)
	PG_USER=$RMQ_USER
fi

# Computed by set_ports once the ports are final.
DIST_PORT=
CTL_PORT_MIN=
RMQ_LOG=
RMQ_ENV=()
AS=()
HARD=false # stop: kill rather than shut down cleanly (reset)

# --- Helpers ---------------------------------------------------------------------

# Set AS to the command prefix that runs a command as USER, with NAME=VALUE
# environment entries given before the command (runuser only when root).
as_prefix() {
	if ((EUID == 0)) && [[ $1 != root ]]; then
		AS=(runuser -u "$1" -- env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
	else
		AS=(env)
	fi
}

# Run a command as USER: run_as USER [NAME=VALUE...] COMMAND [ARG...].
run_as() {
	as_prefix "$1"
	shift
	"${AS[@]}" "$@"
}

# Print the last lines of a log file to stderr, to go with an error message.
show_log_tail() {
	[[ -r $1 ]] || return 0
	echo "---- last lines of $1:" >&2
	tail -n "${2:-15}" "$1" >&2 || true
	echo "----" >&2
}

valid_port() { [[ $1 =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= 65535)); }

# True when something accepts TCP connections on 127.0.0.1:PORT.
# shellcheck disable=SC2016 # $1 is the inner shell's
port_open() { timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null; }

# Pids whose environment holds exactly NAME=VALUE: the processes of ours that a stop
# must end. epmd inherits the node's environment but is shared, so it is left out.
procs_with_env() {
	local f pid
	for f in $(grep -lzxF -- "$1" /proc/[0-9]*/environ 2>/dev/null || true); do
		pid=${f#/proc/}
		pid=${pid%/environ}
		[[ $(cat "/proc/$pid/comm" 2>/dev/null) == epmd ]] && continue
		echo "$pid"
	done
}

# Send SIGNAL to every pid given; gone ones are not an error.
signal_pids() {
	local sig=$1 pid
	shift
	for pid in "$@"; do kill "-$sig" "$pid" 2>/dev/null || true; done
}

# Wait up to SECONDS until no process carries NAME=VALUE; true if none is left.
wait_procs_gone() {
	local mark=$1 deadline=$((SECONDS + $2))
	while [[ -n $(procs_with_env "$mark") ]]; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

# Record the ports (and node) this stack runs with; later commands use them.
record_ports() {
	printf 'AMQP_PORT=%s\nAMQPS_PORT=%s\nMGMT_PORT=%s\nPG_PORT=%s\nRABBIT_NODE=%s\n' \
		"$AMQP_PORT" "$AMQPS_PORT" "$MGMT_PORT" "$PG_PORT" "$RABBIT_NODE" >"$PORTS_FILE"
}

# Use the recorded ports instead of the environment's; warn where a CHORUS_*
# variable asks for something else.
load_recorded_ports() {
	local k v env
	[[ -r $PORTS_FILE ]] || return 0
	while IFS='=' read -r k v; do
		case $k in
		AMQP_PORT | AMQPS_PORT | MGMT_PORT | PG_PORT) valid_port "$v" || continue ;;
		RABBIT_NODE) [[ $v =~ ^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+$ ]] || continue ;;
		*) continue ;;
		esac
		env=CHORUS_$k
		if [[ -n ${!env:-} && ${!env} != "$v" ]]; then
			say "note: the stack in $STACK_DIR runs with $k=$v; $env=${!env} is ignored until it is stopped" >&2
		fi
		printf -v "$k" '%s' "$v"
	done <"$PORTS_FILE"
}

# Validate the ports and derive everything that depends on them.
set_ports() {
	local p
	AMQPS_PORT=${AMQPS_PORT:-$((AMQP_PORT + 100))}
	for p in AMQP_PORT AMQPS_PORT MGMT_PORT PG_PORT; do
		valid_port "${!p}" || die "$p=${!p} is not a port number (set CHORUS_$p)"
	done
	((AMQP_PORT + 30010 <= 65535)) || die "CHORUS_AMQP_PORT=$AMQP_PORT is too high: ports up to +30010 are used"
	[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "CHORUS_STACK_TIMEOUT=$TIMEOUT is not a number of seconds"
	[[ $RABBIT_NODE =~ ^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+$ ]] || die "CHORUS_RABBIT_NODE=$RABBIT_NODE is not name@host"
	DIST_PORT=$((AMQP_PORT + 20000))
	CTL_PORT_MIN=$((AMQP_PORT + 30000))
	RMQ_LOG=$RMQ_LOG_DIR/$RABBIT_NODE.log
	# Everything the node and rabbitmqctl read comes from the state directory: no
	# /etc/rabbitmq file, no /var/lib/rabbitmq cookie. HOME holds the cookie.
	RMQ_ENV=(
		HOME="$RMQ_DIR"
		RABBITMQ_NODENAME="$RABBIT_NODE"
		RABBITMQ_CONF_ENV_FILE="$RMQ_DIR/rabbitmq-env.conf"
		RABBITMQ_CONFIG_FILE="$RMQ_DIR/rabbitmq.conf"
		RABBITMQ_ADVANCED_CONFIG_FILE="$RMQ_DIR/advanced.config"
		RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_DIR/enabled_plugins"
		RABBITMQ_MNESIA_BASE="$RMQ_DIR/mnesia"
		RABBITMQ_LOG_BASE="$RMQ_LOG_DIR"
		RABBITMQ_PID_FILE="$RMQ_DIR/rabbitmq.pid"
		RABBITMQ_MOTD_FILE="$RMQ_DIR/motd"
		RABBITMQ_DIST_PORT="$DIST_PORT"
		RABBITMQ_CTL_DIST_PORT_MIN="$CTL_PORT_MIN"
		RABBITMQ_CTL_DIST_PORT_MAX="$((CTL_PORT_MIN + 10))"
		RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} ${CHORUS_RABBIT_ERL_ARGS:-}"
		RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
		# Only used if our node has to start epmd itself (no system epmd running).
		ERL_EPMD_ADDRESS=127.0.0.1
	)
}

# True unless CHORUS_STACK_ONLY names the other server.
wants() { [[ -z $ONLY || $ONLY == "$1" ]]; }

# Marks (in their environment) the processes of our node and of our postmaster.
rabbit_mark() { echo "CHORUS_STACK_RABBITMQ=$RMQ_DIR"; }
pg_mark() { echo "CHORUS_STACK_POSTGRES=$PG_DIR"; }

check_tools() {
	local missing=() f
	for f in "$PG_BIN/initdb" "$PG_BIN/pg_ctl" "$PG_BIN/psql" "$RABBIT_BIN/rabbitmq-server" "$RABBIT_BIN/rabbitmqctl"; do
		[[ -x $f ]] || missing+=("$f")
	done
	command -v curl >/dev/null || missing+=(curl)
	command -v openssl >/dev/null || missing+=(openssl)
	((${#missing[@]} == 0)) || die "missing ${missing[*]}; run scripts/deps.sh (as root)"
	if ((EUID == 0)); then
		id -u rabbitmq >/dev/null 2>&1 || die "no rabbitmq user; run scripts/deps.sh"
		id -u postgres >/dev/null 2>&1 || die "no postgres user; run scripts/deps.sh"
	fi
}

# Refuse a state directory that is not ours: a symlink, someone else's, or a
# non-empty directory without our marker (reset deletes it, so be sure).
check_stack_dir() {
	[[ ! -L $STACK_DIR ]] || die "$STACK_DIR is a symlink; refusing to use it (set CHORUS_STACK_DIR)"
	[[ -e $STACK_DIR ]] || return 0
	[[ -d $STACK_DIR ]] || die "$STACK_DIR exists and is not a directory (set CHORUS_STACK_DIR)"
	local owner
	owner=$(stat -c %u "$STACK_DIR")
	[[ $owner == "$EUID" ]] || die "$STACK_DIR belongs to uid $owner, not to you (uid $EUID); set CHORUS_STACK_DIR"
	if [[ ! -e $MARKER_FILE && -n $(ls -A "$STACK_DIR") ]]; then
		die "$STACK_DIR is not empty and was not made by stack.sh; refusing to use it (set CHORUS_STACK_DIR)"
	fi
}

make_stack_dirs() {
	local rgroup pgroup
	mkdir -p "$STACK_DIR"
	chmod 0755 "$STACK_DIR"
	touch "$MARKER_FILE"
	rgroup=$(id -gn "$RMQ_USER")
	pgroup=$(id -gn "$PG_USER")
	install -d -o "$RMQ_USER" -g "$rgroup" -m 0750 "$RMQ_DIR" "$RMQ_LOG_DIR" "$RMQ_DIR/mnesia"
	# The socket lives here, so clients must be able to enter it.
	install -d -o "$PG_USER" -g "$pgroup" -m 0755 "$PG_DIR"
	run_as "$RMQ_USER" test -w "$RMQ_DIR" ||
		die "user $RMQ_USER cannot reach $RMQ_DIR (a parent directory is not searchable); choose a CHORUS_STACK_DIR under /tmp"
	run_as "$PG_USER" test -w "$PG_DIR" ||
		die "user $PG_USER cannot reach $PG_DIR (a parent directory is not searchable); choose a CHORUS_STACK_DIR under /tmp"
	# A unix socket path is limited to 107 bytes.
	local sock="$PG_DIR/.s.PGSQL.$PG_PORT"
	((${#sock} <= 107)) || die "socket path $sock is too long; choose a shorter CHORUS_STACK_DIR"
}

# Serialise start/stop/reset of one state directory (parallel CI jobs, say).
# The servers are started with fd 9 closed: they must not keep the lock held.
take_lock() {
	exec 9>"$LOCK_FILE"
	flock -w "$((TIMEOUT * 2 + 60))" 9 ||
		die "another stack.sh has held $LOCK_FILE for $((TIMEOUT * 2 + 60))s (see: fuser -v $LOCK_FILE)"
}

# Single-quote a value for the shell.
shquote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

print_env() {
	local db var
	# The vhost is "/", written %2F: rabbitmq-c (0.11) reads ".../" as vhost "".
	printf 'export CHORUS_STACK_DIR=%s\n' "$(shquote "$STACK_DIR")"
	# chorusctl logs in as the administrative identity, each worker as its service
	printf 'export CHORUS_AMQP_URL=%s\n' "$(shquote "amqp://chorus-admin:chorus-admin@127.0.0.1:$AMQP_PORT/%2F")"
	printf 'export CHORUS_MGMT_URL=%s\n' "$(shquote "http://127.0.0.1:$MGMT_PORT/")"
	# libpq's default (sslmode=prefer) would take TLS now that the server offers it
	for db in "${DATABASES[@]}"; do
		var=CHORUS_${db#chorus_}_AMQP_PASSWORD
		printf 'export %s=%s\n' "${var^^}" "$(shquote "${db/_/-}")"
		# the workers' runtime role; the owner role runs the migrations
		var=CHORUS_${db#chorus_}_DATABASE_URL
		printf 'export %s=%s\n' "${var^^}" "$(shquote "postgresql://${db}_app:${db}_app@127.0.0.1:$PG_PORT/$db?sslmode=disable")"
		var=CHORUS_${db#chorus_}_DATABASE_OWNER_URL
		printf 'export %s=%s\n' "${var^^}" "$(shquote "postgresql://$db:$db@127.0.0.1:$PG_PORT/$db?sslmode=disable")"
	done
	# TLS (not configuration keys: a worker reads none of these by itself)
	printf 'export CHORUS_AMQPS_URL=%s\n' "$(shquote "amqps://chorus-admin:chorus-admin@127.0.0.1:$AMQPS_PORT/%2F")"
	for db in "${DATABASES[@]}"; do
		var=CHORUS_${db#chorus_}_DATABASE_TLS_URL
		printf 'export %s=%s\n' "${var^^}" \
			"$(shquote "postgresql://$db:$db@127.0.0.1:$PG_PORT/$db?sslmode=verify-full&sslrootcert=$TLS_DIR/ca.crt")"
	done
	printf 'export CHORUS_TLS_CA=%s\n' "$(shquote "$TLS_DIR/ca.crt")"
	printf 'export CHORUS_TLS_CLIENT_CERT=%s\n' "$(shquote "$TLS_DIR/client.crt")"
	printf 'export CHORUS_TLS_CLIENT_KEY=%s\n' "$(shquote "$TLS_DIR/client.key")"
	printf 'export CHORUS_TLS_CLIENT_USER=%s\n' "$(shquote "$TLS_CLIENT_CN")"
	printf 'export CHORUS_PG_ADMIN=%s\n' "$(shquote "postgresql:///postgres?host=$PG_DIR&port=$PG_PORT&user=postgres")"
}

# --- TLS -------------------------------------------------------------------------

# Issue a certificate signed by the stack's CA: issue_cert NAME CN EXTENSIONS.
issue_cert() {
	local name=$1 cn=$2 ext=$3
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$TLS_DIR/$name.key" -subj "/CN=$cn" -out "$TLS_DIR/$name.csr" 2>/dev/null &&
		openssl x509 -req -in "$TLS_DIR/$name.csr" -CA "$TLS_DIR/ca.crt" -CAkey "$TLS_DIR/ca.key" \
			-set_serial "0x$(openssl rand -hex 8)" -days 30 -out "$TLS_DIR/$name.crt" \
			-extfile <(printf '%s\n' "basicConstraints = critical, CA:FALSE" "$ext") 2>/dev/null &&
		rm -f "$TLS_DIR/$name.csr"
}

# The throwaway CA, server and client certificates (once per state directory), and
# each server's copy of the server key, owned by the user it runs as (mode 0600).
make_certs() {
	if [[ ! -s $TLS_DIR/client.crt ]]; then
		say "making a throwaway CA and TLS certificates in $TLS_DIR"
		rm -rf "$TLS_DIR"
		install -d -m 0755 "$TLS_DIR"
		(
			umask 077
			openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
				-keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.crt" -days 30 \
				-subj "/CN=Chorus stack CA $(date -u +%Y%m%dT%H%M%S)" \
				-addext "basicConstraints = critical, CA:TRUE" \
				-addext "keyUsage = critical, keyCertSign, cRLSign" 2>/dev/null &&
				issue_cert server localhost "subjectAltName = DNS:localhost, IP:127.0.0.1
extendedKeyUsage = serverAuth" &&
				issue_cert client "$TLS_CLIENT_CN" "extendedKeyUsage = clientAuth"
		) || die "openssl could not make the TLS certificates in $TLS_DIR"
		chmod 0644 "$TLS_DIR/ca.crt" "$TLS_DIR/server.crt" "$TLS_DIR/client.crt"
	fi
	install -o "$RMQ_USER" -m 0600 "$TLS_DIR/server.key" "$RMQ_DIR/server.key"
	install -o "$PG_USER" -m 0600 "$TLS_DIR/server.key" "$PG_DIR/server.key"
}

# --- RabbitMQ --------------------------------------------------------------------

rabbit_pid() {
	local pid
	for pid in $(procs_with_env "$(rabbit_mark)"); do
		if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == beam.smp ]]; then
			echo "$pid"
			return 0
		fi
	done
	return 1
}

# True once the broker answers an AMQP 0-9-1 protocol header with a frame.
amqp_ready() {
	local reply
	# shellcheck disable=SC2016 # $1 is the inner shell's
	reply=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "AMQP\x00\x00\x09\x01" >&3 && head -c 1 <&3' \
		_ "$AMQP_PORT" 2>/dev/null | od -An -tx1) || return 1
	[[ ${reply// /} == 01 ]]
}

mgmt_ready() {
	curl -fsS -o /dev/null --max-time 3 -u guest:guest "http://127.0.0.1:$MGMT_PORT/api/overview" 2>/dev/null
}

# rabbitmqctl against our node, bounded: rabbitmqctl_ours SECONDS [ARG...].
rabbitmqctl_ours() {
	local seconds=$1
	shift
	as_prefix "$RMQ_USER"
	timeout "$seconds" "${AS[@]}" "${RMQ_ENV[@]}" "$RABBIT_BIN/rabbitmqctl" -n "$RABBIT_NODE" "$@"
}

write_rabbit_config() {
	local cookie=$RMQ_DIR/.erlang.cookie
	if [[ ! -s $cookie ]]; then
		# The node and rabbitmqctl share it through HOME; Erlang wants mode 0400.
		(umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$cookie")
		chown "$RMQ_USER" "$cookie"
		chmod 0400 "$cookie"
	fi
	cat >"$RMQ_DIR/rabbitmq.conf" <<-EOF
		# Written by scripts/stack.sh at each start; edits are lost.
		listeners.tcp.1 = 127.0.0.1:$AMQP_PORT
		listeners.ssl.1 = 127.0.0.1:$AMQPS_PORT
		ssl_options.cacertfile = $TLS_DIR/ca.crt
		ssl_options.certfile = $TLS_DIR/server.crt
		ssl_options.keyfile = $RMQ_DIR/server.key
		ssl_options.verify = verify_peer
		ssl_options.fail_if_no_peer_cert = false
		ssl_options.versions.1 = tlsv1.3
		ssl_options.versions.2 = tlsv1.2
		auth_mechanisms.1 = PLAIN
		auth_mechanisms.2 = AMQPLAIN
		auth_mechanisms.3 = EXTERNAL
		ssl_cert_login_from = common_name
		loopback_users.guest = true
		management.tcp.ip = 127.0.0.1
		management.tcp.port = $MGMT_PORT
		disk_free_limit.absolute = 50MB
		log.console = false
		log.file.level = info
		${CHORUS_RABBIT_CONF_EXTRA:-}
	EOF
	echo '[rabbitmq_management,rabbitmq_auth_mechanism_ssl].' >"$RMQ_DIR/enabled_plugins"
	echo '# Empty on purpose: keeps /etc/rabbitmq/rabbitmq-env.conf out.' >"$RMQ_DIR/rabbitmq-env.conf"
}

# Start the node in the background unless it runs; wait_rabbit waits for it, so
# that PostgreSQL can start meanwhile. Sets RABBIT_WAIT_FROM (SECONDS at launch).
RABBIT_WAIT_FROM=
launch_rabbit() {
	local pid
	RABBIT_WAIT_FROM=$SECONDS
	if pid=$(rabbit_pid); then
		if amqp_ready && mgmt_ready; then
			say "RabbitMQ already running (node $RABBIT_NODE, pid $pid, AMQP 127.0.0.1:$AMQP_PORT)"
			RABBIT_WAIT_FROM=
			return 0
		fi
		say "RabbitMQ node pid $pid is up but not answering yet; waiting"
		return 0
	fi
	write_rabbit_config
	: >"$RMQ_STARTUP_LOG"
	chown "$RMQ_USER" "$RMQ_STARTUP_LOG"
	# setsid: a session of its own, so it outlives this shell and its terminal.
	as_prefix "$RMQ_USER"
	setsid "${AS[@]}" "$(rabbit_mark)" "${RMQ_ENV[@]}" "$RABBIT_BIN/rabbitmq-server" \
		</dev/null >>"$RMQ_STARTUP_LOG" 2>&1 9>&- &
	say "starting RabbitMQ node $RABBIT_NODE (log $RMQ_LOG)"
}

wait_rabbit() {
	local deadline
	[[ -n $RABBIT_WAIT_FROM ]] || return 0
	deadline=$((RABBIT_WAIT_FROM + TIMEOUT))
	until amqp_ready && mgmt_ready && port_open "$AMQPS_PORT"; do
		if ((SECONDS >= deadline)); then
			show_log_tail "$RMQ_STARTUP_LOG"
			show_log_tail "$RMQ_LOG"
			die "RabbitMQ did not come up within ${TIMEOUT}s (AMQP 127.0.0.1:$AMQP_PORT, management 127.0.0.1:$MGMT_PORT); see $RMQ_LOG and $RMQ_STARTUP_LOG; 'scripts/stack.sh stop' cleans up"
		fi
		# Give the node a few seconds to exist before calling its absence a failure.
		if ((SECONDS > RABBIT_WAIT_FROM + 5)) && ! rabbit_pid >/dev/null; then
			show_log_tail "$RMQ_STARTUP_LOG" 25
			show_log_tail "$RMQ_LOG"
			die "RabbitMQ exited during start-up; see $RMQ_STARTUP_LOG and $RMQ_LOG"
		fi
		sleep 0.5
	done
	say "RabbitMQ ready: AMQP 127.0.0.1:$AMQP_PORT, AMQPS 127.0.0.1:$AMQPS_PORT, management http://127.0.0.1:$MGMT_PORT/"
}

# The RabbitMQ users of docs/security.md, password = name: chorus-admin may do
# everything (chorusctl: setup declares the topology); a service's user may
# configure nothing, write only to its own exchanges and read only its own
# queue. The same permissions `chorusctl setup --users` prints (the test
# privilege.sh compares them). "name tags configure write read".
RABBIT_USERS=(
	'chorus-admin administrator .* .* .*'
	'chorus-order - ^$ ^chorus\.order(\.retry|\.dlx)?$ ^chorus\.order\.events$'
	'chorus-inventory - ^$ ^chorus\.inventory(\.retry|\.dlx)?$ ^chorus\.inventory\.events$'
	'chorus-payment - ^$ ^chorus\.payment(\.retry|\.dlx)?$ ^chorus\.payment\.events$'
)

# mgmt_put PATH: PUT the JSON on stdin to the management API (as guest).
mgmt_put() {
	curl -fsS -o /dev/null --max-time 10 -u guest:guest -H 'content-type: application/json' \
		-X PUT --data-binary @- "http://127.0.0.1:$MGMT_PORT/api/$1"
}

# Create (or reset) the users and their permissions on vhost /.
rabbit_users() {
	local entry name tags conf write read
	for entry in "${RABBIT_USERS[@]}"; do
		read -r name tags conf write read <<<"$entry"
		[[ $tags != - ]] || tags=
		printf '{"password":"%s","tags":"%s"}' "$name" "$tags" | mgmt_put "users/$name" &&
			printf '{"configure":"%s","write":"%s","read":"%s"}' \
				"${conf//\\/\\\\}" "${write//\\/\\\\}" "${read//\\/\\\\}" |
			mgmt_put "permissions/%2F/$name" ||
			die "creating the RabbitMQ user $name failed (management API on 127.0.0.1:$MGMT_PORT)"
	done
}

# Stop our node: SIGTERM to the node, then to all its processes, then SIGKILL,
# each bounded. RabbitMQ (3.8 on) takes SIGTERM as `rabbitmqctl stop`: the
# same orderly shutdown, without booting an Erlang VM for the command (a few
# seconds on a quiet machine, up to a minute on a saturated one). For a
# reset (HARD=true) the data is about to go, so skip to SIGKILL: the orderly
# shutdown spends ~5 s in the management plugin's alone.
stop_rabbit() {
	local pid mark
	mark=$(rabbit_mark)
	if [[ -z $(procs_with_env "$mark") ]]; then
		say "RabbitMQ not running"
		return 0
	fi
	if $HARD; then
		say "killing RabbitMQ node $RABBIT_NODE (its data is deleted next)"
		# shellcheck disable=SC2046 # one pid per word
		signal_pids KILL $(procs_with_env "$mark")
	elif pid=$(rabbit_pid); then
		say "stopping RabbitMQ node $RABBIT_NODE (pid $pid)"
		signal_pids TERM "$pid"
		wait_procs_gone "$mark" 60 || true
	fi
	if ! wait_procs_gone "$mark" 20; then
		say "RabbitMQ did not stop cleanly; sending SIGTERM to all its processes"
		# shellcheck disable=SC2046
		signal_pids TERM $(procs_with_env "$mark")
		if ! wait_procs_gone "$mark" 20; then
			say "sending SIGKILL to what is left of RabbitMQ"
			# shellcheck disable=SC2046
			signal_pids KILL $(procs_with_env "$mark")
			wait_procs_gone "$mark" 10 || die "RabbitMQ processes $(procs_with_env "$mark" | tr '\n' ' ')survived SIGKILL; see $RMQ_LOG"
		fi
	fi
	say "RabbitMQ stopped"
}

# --- PostgreSQL ------------------------------------------------------------------

pg_ctl_ours() { run_as "$PG_USER" "$PG_BIN/pg_ctl" -D "$PG_DATA" "$@"; }

pg_running() { [[ -s $PG_DATA/PG_VERSION ]] && pg_ctl_ours status >/dev/null 2>&1; }

psql_admin() { psql_admin_in postgres "$@"; }

# psql_admin_in DATABASE [psql args]: superuser psql in that database.
psql_admin_in() {
	local db=$1
	shift
	"$PG_BIN/psql" -X -v ON_ERROR_STOP=1 "postgresql:///$db?host=$PG_DIR&port=$PG_PORT&user=postgres" "$@"
}

init_pg() {
	local me
	me=$(id -un)
	say "creating a PostgreSQL 15 cluster in $PG_DATA"
	if ! run_as "$PG_USER" "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --no-locale --encoding=UTF8 \
		--auth-local=peer --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1; then
		show_log_tail "$PG_DIR/initdb.log"
		die "initdb failed; see $PG_DIR/initdb.log"
	fi
	# Superuser postgres: over the socket only, for the system users listed in
	# pg_ident.conf. The service roles: password (SCRAM), socket or loopback TCP.
	cat >"$PG_DATA/pg_hba.conf" <<-EOF
		# Written by scripts/stack.sh.
		# TYPE  DATABASE  USER      ADDRESS       METHOD
		local   all       postgres                peer map=admin
		local   replication postgres              peer map=admin
		local   all       all                     scram-sha-256
		host    all       all       127.0.0.1/32  scram-sha-256
	EOF
	{
		echo '# Written by scripts/stack.sh: system users that may connect as postgres.'
		echo "admin postgres postgres"
		echo "admin root postgres"
		[[ $me == root || $me == postgres ]] || echo "admin $me postgres"
	} >"$PG_DATA/pg_ident.conf"
	echo "include 'chorus.conf'" >>"$PG_DATA/postgresql.conf"
	chown "$PG_USER" "$PG_DATA/pg_hba.conf" "$PG_DATA/pg_ident.conf"
}

write_pg_config() {
	cat >"$PG_DATA/chorus.conf" <<-EOF
		# Written by scripts/stack.sh at each start; edits are lost.
		listen_addresses = '127.0.0.1'
		port = $PG_PORT
		unix_socket_directories = '$PG_DIR'
		max_connections = 200
		shared_buffers = 256MB
		# Everything durable: the outbox and the inbox rely on it.
		fsync = on
		synchronous_commit = on
		full_page_writes = on
		password_encryption = scram-sha-256
		logging_collector = off
		log_line_prefix = '%m [%p] %q%u@%d '
		# TLS on the same port (libpq asks for it); client certificates verified when sent
		ssl = on
		ssl_cert_file = '$TLS_DIR/server.crt'
		ssl_key_file = '$PG_DIR/server.key'
		ssl_ca_file = '$TLS_DIR/ca.crt'
		ssl_min_protocol_version = 'TLSv1.2'
	EOF
	if [ -n "${CHORUS_PG_CONF_EXTRA:-}" ]; then
		printf '%s\n' "$CHORUS_PG_CONF_EXTRA" >>"$PG_DATA/chorus.conf"
	fi
	chown "$PG_USER" "$PG_DATA/chorus.conf"
}

# Roles and databases (docs/security.md, "PostgreSQL roles"): per service an
# owner role owning its database (the migrations run as it) and a runtime role
# <db>_app for the workers, with the DML of the tables the owner creates and
# nothing else; only these two may connect to the database. Password = name.
# A standby (scripts/cluster.sh) has them from its primary and cannot write.
bootstrap_pg() {
	local list dbs db role
	[[ $(psql_admin -Atq -c 'SELECT pg_is_in_recovery()') == f ]] || return 0
	dbs=$(printf "'%s'," "${DATABASES[@]}")
	dbs=${dbs%,}
	list=$(for db in "${DATABASES[@]}"; do printf "'%s','%s_app'," "$db" "$db"; done)
	if ! psql_admin -q >/dev/null <<-EOF; then
		SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', r, r)
		  FROM unnest(ARRAY[${list%,}]) AS r
		 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
		SELECT format('CREATE DATABASE %I OWNER %I', d, d)
		  FROM unnest(ARRAY[$dbs]) AS d
		 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = d) \gexec
		SELECT format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', d),
		       format('GRANT CONNECT ON DATABASE %I TO %I', d, d || '_app')
		  FROM unnest(ARRAY[$dbs]) AS d \gexec
	EOF
		die "creating the roles and databases failed; see $PG_LOG"
	fi
	for db in "${DATABASES[@]}"; do
		# in the database: the runtime role gets DML on what the owner creates
		if ! psql_admin_in "$db" -q >/dev/null <<-EOF; then
			ALTER DEFAULT PRIVILEGES FOR ROLE $db IN SCHEMA public
			  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${db}_app;
			ALTER DEFAULT PRIVILEGES FOR ROLE $db IN SCHEMA public
			  GRANT USAGE, SELECT ON SEQUENCES TO ${db}_app;
			GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${db}_app;
			GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${db}_app;
		EOF
			die "granting ${db}_app its rights in $db failed; see $PG_LOG"
		fi
		for role in "$db" "${db}_app"; do
			PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -q -t -c 'SELECT 1' \
				"postgresql://$role:$role@127.0.0.1:$PG_PORT/$db" >/dev/null ||
				die "cannot log in as $role to database $db over 127.0.0.1:$PG_PORT; see $PG_LOG"
		done
	done
}

start_pg() {
	if pg_running; then
		say "PostgreSQL already running (127.0.0.1:$PG_PORT, socket $PG_DIR)"
		bootstrap_pg	# roles an older stack.sh did not make
		return 0
	fi
	[[ -s $PG_DATA/PG_VERSION ]] || init_pg
	write_pg_config
	say "starting PostgreSQL (log $PG_LOG)"
	if ! run_as "$PG_USER" "$(pg_mark)" "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$TIMEOUT" -s start 9>&-; then
		show_log_tail "$PG_LOG"
		die "PostgreSQL did not come up within ${TIMEOUT}s on 127.0.0.1:$PG_PORT; see $PG_LOG"
	fi
	bootstrap_pg
	say "PostgreSQL ready: 127.0.0.1:$PG_PORT, databases ${DATABASES[*]}"
}

stop_pg() {
	local mark
	mark=$(pg_mark)
	if ! pg_running && [[ -z $(procs_with_env "$mark") ]]; then
		say "PostgreSQL not running"
		return 0
	fi
	say "stopping PostgreSQL"
	if $HARD; then
		pg_ctl_ours -m immediate -w -t 20 -s stop || true
	elif ! pg_ctl_ours -m fast -w -t 60 -s stop; then
		say "PostgreSQL did not stop within 60s; trying immediate shutdown"
		pg_ctl_ours -m immediate -w -t 20 -s stop || true
	fi
	if ! wait_procs_gone "$mark" 10; then
		say "sending SIGKILL to what is left of PostgreSQL"
		# shellcheck disable=SC2046 # one pid per word
		signal_pids KILL $(procs_with_env "$mark")
		wait_procs_gone "$mark" 10 || die "PostgreSQL processes $(procs_with_env "$mark" | tr '\n' ' ')survived SIGKILL; see $PG_LOG"
	fi
	say "PostgreSQL stopped"
}

# --- Commands --------------------------------------------------------------------

# Before starting anything: the ports (and node name) of whatever is not running
# yet must be free, so that a clash fails at once, naming what to change.
preflight() {
	local p short
	if wants rabbitmq && ! rabbit_pid >/dev/null; then
		for p in "$AMQP_PORT" "$AMQPS_PORT" "$MGMT_PORT" "$DIST_PORT"; do
			port_open "$p" && die "port $p on 127.0.0.1 is already in use by another program; choose other ports (CHORUS_AMQP_PORT=$AMQP_PORT, CHORUS_AMQPS_PORT=$AMQPS_PORT, CHORUS_MGMT_PORT=$MGMT_PORT; the Erlang distribution uses AMQP+20000)"
		done
		short=${RABBIT_NODE%@*}
		if [[ $'\n'$(epmd -names 2>/dev/null || true) == *$'\n'"name $short at port"* ]]; then
			die "an Erlang node named $short is already registered with epmd (another stack?); set CHORUS_RABBIT_NODE to another name"
		fi
	fi
	if wants postgres && ! pg_running && port_open "$PG_PORT"; then
		die "port $PG_PORT on 127.0.0.1 is already in use by another program; choose another CHORUS_PG_PORT"
	fi
}

cmd_start() {
	local t0=$SECONDS
	check_tools
	check_stack_dir
	# A running stack keeps its ports; a stopped one takes the requested ones.
	if [[ -e $MARKER_FILE ]] && { rabbit_pid >/dev/null || pg_running; }; then
		load_recorded_ports
	fi
	set_ports
	make_stack_dirs
	take_lock
	preflight
	record_ports
	make_certs
	if wants rabbitmq; then launch_rabbit; fi
	if wants postgres; then start_pg; fi
	if wants rabbitmq; then wait_rabbit; fi
	if wants rabbitmq; then rabbit_users; fi
	print_env >"$STACK_DIR/env"
	say "stack up in $((SECONDS - t0))s; load its settings with: eval \"\$(scripts/stack.sh env)\" (or . $STACK_DIR/env)"
}

cmd_stop() {
	check_stack_dir
	if [[ ! -e $MARKER_FILE ]]; then
		say "no stack in $STACK_DIR; nothing to stop"
		return 0
	fi
	load_recorded_ports
	set_ports
	take_lock
	if wants rabbitmq; then stop_rabbit; fi
	if wants postgres; then stop_pg; fi
}

cmd_status() {
	local down=0 pid
	check_stack_dir
	if [[ ! -e $MARKER_FILE ]]; then
		say "no stack in $STACK_DIR (start one with scripts/stack.sh start)"
		return 1
	fi
	load_recorded_ports
	set_ports
	if ! wants rabbitmq; then
		:
	elif pid=$(rabbit_pid); then
		local amqp=down amqps=down mgmt=down ctl=no
		amqp_ready && amqp=up
		port_open "$AMQPS_PORT" && amqps=up
		mgmt_ready && mgmt=up
		rabbitmqctl_ours 30 -q status >/dev/null 2>&1 && ctl=ok
		echo "RabbitMQ    running: node $RABBIT_NODE pid $pid; AMQP 127.0.0.1:$AMQP_PORT $amqp; AMQPS 127.0.0.1:$AMQPS_PORT $amqps; management http://127.0.0.1:$MGMT_PORT/ $mgmt; dist port $DIST_PORT; rabbitmqctl $ctl"
		[[ $amqp == up && $amqps == up && $mgmt == up && $ctl == ok ]] || down=1
	else
		echo "RabbitMQ    down (log $RMQ_LOG)"
		down=1
	fi
	if ! wants postgres; then
		:
	elif pg_running; then
		local ready=down
		"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 5 && ready=up
		echo "PostgreSQL  running: pid $(head -n 1 "$PG_DATA/postmaster.pid"); 127.0.0.1:$PG_PORT $ready; socket $PG_DIR; databases ${DATABASES[*]}"
		[[ $ready == up ]] || down=1
	else
		echo "PostgreSQL  down (log $PG_LOG)"
		down=1
	fi
	echo "state       $STACK_DIR"
	return "$down"
}

cmd_env() {
	check_stack_dir
	load_recorded_ports
	set_ports
	print_env
}

cmd_reset() {
	check_stack_dir
	if [[ -e $MARKER_FILE ]]; then
		HARD=true
		cmd_stop
		rm -rf -- "$STACK_DIR"
		say "deleted $STACK_DIR"
	elif [[ -e $STACK_DIR ]]; then
		rmdir -- "$STACK_DIR"
		say "deleted empty $STACK_DIR"
	else
		say "no stack in $STACK_DIR; nothing to reset"
	fi
}

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$self"
}

main() {
	local cmd=${1:-}
	[[ $# -gt 0 ]] && shift
	# Children must not inherit a working directory they cannot enter (a 0700 checkout).
	cd /
	case $cmd in
	start | stop | status | env | reset)
		(($# == 0)) || die "$cmd takes no arguments"
		"cmd_$cmd"
		;;
	psql)
		check_stack_dir
		load_recorded_ports
		set_ports
		psql_admin "$@"
		;;
	rabbitmqctl)
		check_stack_dir
		load_recorded_ports
		set_ports
		rabbitmqctl_ours 600 "$@"
		;;
	pg-restart-immediate)
		# fault injection: PostgreSQL crashes (no shutdown checkpoint) and comes back
		check_stack_dir
		load_recorded_ports
		set_ports
		run_as "$PG_USER" "$(pg_mark)" "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -m immediate \
			-w -t "$TIMEOUT" -s restart 9>&- || die "PostgreSQL did not restart; see $PG_LOG"
		say "PostgreSQL restarted (immediate)"
		;;
	rabbit-kill | pg-kill)
		# fault injection: the node, or the postmaster with its backends, dies at once
		check_stack_dir
		load_recorded_ports
		set_ports
		local mark
		if [[ $cmd == rabbit-kill ]]; then mark=$(rabbit_mark); else mark=$(pg_mark); fi
		[[ -n $(procs_with_env "$mark") ]] || die "nothing of ours runs for $cmd in $STACK_DIR"
		# shellcheck disable=SC2046 # one pid per word
		signal_pids KILL $(procs_with_env "$mark")
		wait_procs_gone "$mark" 10 || die "processes $(procs_with_env "$mark" | tr '\n' ' ')survived SIGKILL"
		say "${cmd%-kill} killed (SIGKILL)"
		;;
	-h | --help | help) usage ;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
