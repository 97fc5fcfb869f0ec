#!/usr/bin/env bash
# TLS on both servers (docs/security.md, "TLS"). Whole sagas with the three
# workers and chorusctl over amqps:// (the broker's certificate checked
# against the stack's CA, a client certificate presented: mutual TLS) and
# PostgreSQL with sslmode=verify-full, every connection seen as TLS by the
# servers. Then what must be refused, each with a clear error: amqps:// to
# the plaintext port (never a fallback), a CA that did not sign the
# broker's certificate (also OpenSSL's default store), a certificate for
# another name or address, a client certificate of an unknown CA, TLS keys
# with an amqp:// URL; PostgreSQL verify-full with a wrong CA or host name.
# Mutual TLS with PostgreSQL too. Last, EXTERNAL: a login by the client
# certificate alone, no password.
. "$(dirname "$0")/lib.sh"

if [ -z "${CHORUS_AMQPS_URL:-}" ] || [ -z "${CHORUS_TLS_CA:-}" ] ||
	[ -z "${CHORUS_ORDER_DATABASE_TLS_URL:-}" ]; then
	echo "SKIP: the stack environment has no TLS settings (scripts/stack.sh env: CHORUS_AMQPS_URL)"
	exit 77
fi

plain_url=$CHORUS_AMQP_URL
plain_port=${plain_url##*:}
plain_port=${plain_port%%/*}
tls_port=${CHORUS_AMQPS_URL##*:}
tls_port=${tls_port%%/*}

# From here on chorusctl and the workers use TLS for everything (configuration by
# environment, as any other key), presenting the stack's client certificate.
export CHORUS_AMQP_URL=$CHORUS_AMQPS_URL
export CHORUS_AMQP_TLS_CA=$CHORUS_TLS_CA
export CHORUS_AMQP_TLS_CERT=$CHORUS_TLS_CLIENT_CERT
export CHORUS_AMQP_TLS_KEY=$CHORUS_TLS_CLIENT_KEY
export CHORUS_ORDER_DATABASE_URL=$CHORUS_ORDER_DATABASE_TLS_URL
export CHORUS_INVENTORY_DATABASE_URL=$CHORUS_INVENTORY_DATABASE_TLS_URL
export CHORUS_PAYMENT_DATABASE_URL=$CHORUS_PAYMENT_DATABASE_TLS_URL

# refused WHAT WANT-RC PATTERN COMMAND...: the command fails with exit code
# WANT-RC and its error output matches PATTERN (grep -iE): a clear reason.
refused() {
	local what=$1 want=$2 pat=$3 rc=0
	shift 3
	"$@" >"$WORK/refused.out" 2>&1 || rc=$?
	expect "$what: exit code" "$rc" "$want"
	CHECKS=$((CHECKS + 1))
	if grep -qiE -- "$pat" "$WORK/refused.out"; then
		log "ok   $what: $(head -n 1 "$WORK/refused.out")"
	else
		log "FAIL $what: got '$(cat "$WORK/refused.out")', want a message matching '$pat'"
		FAILURES=$((FAILURES + 1))
	fi
}

# --- certificates of a CA the stack does not trust --------------------------------
other() {	# other NAME CN [EXTENSION]: a key and certificate signed by the other CA
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/$1.key" \
		-subj "/CN=$2" -out "$WORK/$1.csr" 2>/dev/null
	openssl x509 -req -in "$WORK/$1.csr" -CA "$WORK/other-ca.crt" -CAkey "$WORK/other-ca.key" \
		-set_serial "0x$(openssl rand -hex 8)" -days 1 -out "$WORK/$1.crt" \
		-extfile <(printf '%s\n' "basicConstraints = critical, CA:FALSE" "${3:-}") 2>/dev/null
}
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-keyout "$WORK/other-ca.key" -out "$WORK/other-ca.crt" -subj "/CN=Another CA" \
	-addext "basicConstraints = critical, CA:TRUE" -addext "keyUsage = critical, keyCertSign" 2>/dev/null
other other-host other.example "subjectAltName = DNS:other.example"
other other-client chorus-tls-client "extendedKeyUsage = clientAuth"

# --- whole sagas over TLS -----------------------------------------------------------
ctl -q declare
start_all_workers
fresh_dead_letters
apple="apple-$RUN"; alice="alice-$RUN"; bob="bob-$RUN"
ctl -q stock set "$apple" 10
ctl -q account set "$alice" 100000
ctl -q account set "$bob" 50
ctl snapshot >"$WORK/base.json"
ctl -q order place --id "ok-$RUN" --customer "$alice" --total 1250 --item "$apple:2"
ctl -q order place --id "funds-$RUN" --customer "$bob" --total 5000 --item "$apple:1"
ctl -q order wait "ok-$RUN" --timeout 30
ctl -q order wait "funds-$RUN" --timeout 30
expect "saga over TLS confirmed" "$(order_status "ok-$RUN")" "CONFIRMED"
expect "saga over TLS cancelled and compensated" "$(order_status "funds-$RUN")" "CANCELLED:insufficient_funds"
expect "its reservation released" \
	"$(sql inventory "SELECT status FROM reservations WHERE order_id = 'funds-$RUN'")" "RELEASED"

# What the servers saw: every worker connection TLS, with the client certificate.
# worker_conns: the workers' connections, one line each: client properties, ssl,
# certificate subject, user, authentication mechanism (tab-separated).
worker_conns() {
	rmqctl list_connections --no-table-headers client_properties ssl peer_cert_subject user auth_mechanism |
		grep -E '"connection_name","chorus-(order|inventory|payment)' || true
}
worker_conns >"$WORK/conns"
expect "RabbitMQ: the workers' 9 connections are TLS with the client certificate" \
	"$(grep -cE $'\ttrue\tCN=chorus-tls-client\t[^\t]+\tPLAIN$' "$WORK/conns" || true)" "9"
expect "RabbitMQ: no worker connection in plaintext" "$(grep -cvE $'\ttrue\t' "$WORK/conns" || true)" "0"
pg_conns() {
	psql "$CHORUS_PG_ADMIN" -XAtq -c "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)
		FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
		WHERE a.application_name ~ '^chorus-(order|inventory|payment)'"
}
got=$(pg_conns)
CHECKS=$((CHECKS + 1))
if [[ $got =~ ^([0-9]+)\|0$ ]] && [ "${BASH_REMATCH[1]}" -ge 6 ]; then
	log "ok   PostgreSQL: the workers' connections are TLS (TLS|plaintext: $got)"
else
	log "FAIL PostgreSQL: workers' connections TLS|plaintext: got '$got', want at least 6|0"
	FAILURES=$((FAILURES + 1))
fi
quiet_and_check "$WORK/base.json"
for n in order inventory payment; do
	rc=0
	stop_worker "$n" TERM || rc=$?
	expect "worker $n over TLS drained and exited 0 on SIGTERM" "$rc" "0"
done

# --- RabbitMQ: refused, never plaintext ---------------------------------------------
tls_ctl() { ctl "$@" declare; }
refused "amqps:// to the plaintext port" 69 "TLS handshake.*is this a TLS port" \
	tls_ctl -o "amqp_url=amqps://guest:guest@127.0.0.1:$plain_port/%2F"
refused "a CA that did not sign the broker's certificate" 69 "certificate verify failed" \
	tls_ctl -o "amqp_tls_ca=$WORK/other-ca.crt"
refused "OpenSSL's default store (amqp_tls_ca = system) does not know the stack's CA" 69 \
	"certificate verify failed" tls_ctl -o amqp_tls_ca=system
refused "a client certificate of an unknown CA" 69 "unknown ca|refuse the client certificate" \
	tls_ctl -o "amqp_tls_cert=$WORK/other-client.crt" -o "amqp_tls_key=$WORK/other-client.key"
refused "an unreadable CA file" 69 "amqp_tls_ca $WORK/nosuch.crt: No such file" \
	tls_ctl -o "amqp_tls_ca=$WORK/nosuch.crt"
refused "a client key that is not the certificate's" 69 "amqp_tls_cert.*amqp_tls_key" \
	tls_ctl -o "amqp_tls_key=$WORK/other-client.key"
openssl pkey -in "$CHORUS_TLS_CLIENT_KEY" -aes256 -passout pass:secret -out "$WORK/encrypted.key" 2>/dev/null
refused "an encrypted client key: refused, never prompted for" 69 "amqp_tls_key.*passphrase" \
	timeout 20 "$CTL" -o "amqp_tls_key=$WORK/encrypted.key" declare </dev/null
refused "TLS keys with a plaintext amqp:// URL" 78 "need an amqps:// amqp_url" \
	tls_ctl -o "amqp_url=$plain_url"
refused "EXTERNAL without a client certificate" 78 "external needs a client certificate" \
	tls_ctl -o amqp_tls_cert=none -o amqp_tls_key=none -o amqp_auth=external

# A worker refuses the same way: it never becomes ready, and says why.
start_bad_worker() {
	"$CHORUS_BUILDDIR/chorus-order" -o order.health_listen=off -o "amqp_url=amqps://guest:guest@127.0.0.1:$plain_port/%2F" \
		>"$WORK/bad-order.log" 2>&1 &
	WORKER_PIDS[bad-order]=$!
	WORKER_SVC[bad-order]=order
}
start_bad_worker
if wait_log bad-order 'is this a TLS port' 30; then
	expect "worker with amqps:// to the plaintext port: not ready" "$(log_count bad-order 'msg="ready"')" "0"
else
	expect "worker with amqps:// to the plaintext port says why" "no such log line" "a TLS error"
fi
stop_worker bad-order TERM || true

# A certificate for another name: a TLS server of the other CA (trusted here), so
# only the name can fail; by address, then by name.
# (-www: it answers by itself; without, it quits at the end of its standard input)
openssl s_server -accept 127.0.0.1:0 -cert "$WORK/other-host.crt" -key "$WORK/other-host.key" \
	-naccept 2 -www </dev/null >"$WORK/s_server.log" 2>&1 &
s_server=$!
wait_until "openssl s_server listening" 10 grep -q '^ACCEPT' "$WORK/s_server.log" || true
other_port=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$WORK/s_server.log")
refused "a certificate for another address" 69 "certificate verify failed: IP address mismatch" \
	tls_ctl -o "amqp_url=amqps://guest:guest@127.0.0.1:$other_port/%2F" -o "amqp_tls_ca=$WORK/other-ca.crt" \
	-o amqp_tls_cert=none -o amqp_tls_key=none
refused "a certificate for another host name" 69 "certificate verify failed: hostname mismatch" \
	tls_ctl -o "amqp_url=amqps://guest:guest@localhost:$other_port/%2F" -o "amqp_tls_ca=$WORK/other-ca.crt" \
	-o amqp_tls_cert=none -o amqp_tls_key=none
kill "$s_server" 2>/dev/null || true
wait "$s_server" 2>/dev/null || true

# --- PostgreSQL: verify-full refuses --------------------------------------------------
wrong_ca=${CHORUS_ORDER_DATABASE_TLS_URL/sslrootcert=$CHORUS_TLS_CA/sslrootcert=$WORK/other-ca.crt}
refused "PostgreSQL verify-full with a wrong CA" 69 "certificate verify failed" \
	ctl -o "order.database_url=$wrong_ca" order list
wrong_host=${CHORUS_ORDER_DATABASE_TLS_URL/@127.0.0.1:/@wrong.example:}
refused "PostgreSQL verify-full with a host name not in the certificate" 69 \
	'does not match host name "wrong.example"' ctl -o "order.database_url=$wrong_host&hostaddr=127.0.0.1" order list

# Mutual TLS with PostgreSQL: the client certificate is verified against the CA.
client_url="$CHORUS_ORDER_DATABASE_TLS_URL&sslcert=$CHORUS_TLS_CLIENT_CERT&sslkey=$CHORUS_TLS_CLIENT_KEY"
expect "PostgreSQL: a client certificate of the stack's CA is accepted" \
	"$(psql "$client_url" -XAtq -c 'SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()' 2>&1)" \
	"/CN=chorus-tls-client"
chmod 0600 "$WORK/other-client.key"
refused "PostgreSQL: a client certificate of an unknown CA" 69 "unknown ca" \
	ctl -o "order.database_url=$CHORUS_ORDER_DATABASE_TLS_URL&sslcert=$WORK/other-client.crt&sslkey=$WORK/other-client.key" \
	order list

# --- EXTERNAL: the client certificate is the login ----------------------------------
# The user the certificate names (its CN), with no password at all.
user=$CHORUS_TLS_CLIENT_USER
rmqctl add_user "$user" "$(openssl rand -hex 16)" >/dev/null || true
rmqctl clear_password "$user" >/dev/null
rmqctl set_permissions -p / "$user" '.*' '.*' '.*' >/dev/null
# the service's user is the certificate's: every publish carries it as user_id
start_worker order ext-order -o amqp_auth=external -o "amqp_url=amqps://127.0.0.1:$tls_port/%2F" \
	-o "order.amqp_user=$user"
expect "EXTERNAL: the worker's 3 connections log in as the certificate's user" \
	"$(worker_conns | grep -cE $'\ttrue\tCN=chorus-tls-client\t'"$user"$'\tEXTERNAL$' || true)" "3"
rc=0
stop_worker ext-order TERM || rc=$?
expect "worker ext-order drained and exited 0 on SIGTERM" "$rc" "0"
refused "EXTERNAL: chorusctl without a password in the URL" 0 "topology declared" \
	tls_ctl -o amqp_auth=external -o "amqp_url=amqps://127.0.0.1:$tls_port/%2F"
refused "EXTERNAL is refused once the certificate's user is gone" 69 "ACCESS_REFUSED" \
	bash -c 'rmqctl() { bash "$CHORUS_SRCDIR/scripts/stack.sh" rabbitmqctl -q "$@" >/dev/null 2>&1; }
		rmqctl delete_user "$1" && "$2" -o amqp_auth=external declare' _ "$user" "$CTL"

finish
