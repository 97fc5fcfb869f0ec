#!/usr/bin/env bash
# stack_smoke.sh: checks that the development stack (scripts/stack.sh) is usable.
#
# With the stack running and its settings loaded (eval "$(scripts/stack.sh env)"):
# each service role logs in to its own database through its URL, over TCP, with
# durable settings; the management API answers; a quorum queue can be declared and
# deleted through it. Exit 0 pass, 1 fail, 77 skip (no CHORUS_AMQP_URL), as the
# automake test harness expects.
set -euo pipefail

if [[ -z ${CHORUS_AMQP_URL:-} ]]; then
	echo "SKIP: CHORUS_AMQP_URL is not set; run scripts/stack.sh start and eval \"\$(scripts/stack.sh env)\""
	exit 77
fi

failures=0
pass() { echo "PASS: $*"; }
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

for tool in psql curl; do
	command -v "$tool" >/dev/null || {
		echo "FAIL: $tool is not installed; run scripts/deps.sh"
		exit 1
	}
done

# --- PostgreSQL: each role reaches its own database ------------------------------

# the runtime role of the workers and the owner role of the migrations
for var_role in order:DATABASE_URL:_app order:DATABASE_OWNER_URL: inventory:DATABASE_URL:_app \
	inventory:DATABASE_OWNER_URL: payment:DATABASE_URL:_app payment:DATABASE_OWNER_URL:; do
	IFS=: read -r service var role <<<"$var_role"
	var=CHORUS_${service^^}_$var
	url=${!var:-}
	want="chorus_$service$role|chorus_$service|on|on"
	if [[ -z $url ]]; then
		fail "$var is not set"
		continue
	fi
	echo "check: psql \$$var: current_user, current_database(), fsync, synchronous_commit"
	if got=$(PGCONNECT_TIMEOUT=5 psql -X -A -t -q -v ON_ERROR_STOP=1 "$url" \
		-c "SELECT current_user, current_database(), current_setting('fsync'), current_setting('synchronous_commit')" 2>&1); then
		if [[ $got == "$want" ]]; then
			pass "$var: logged in, got $got"
		else
			fail "$var: got '$got', want '$want'"
		fi
	else
		fail "$var: psql failed: $got"
	fi
done

# --- RabbitMQ management API -----------------------------------------------------

# amqp://user:password@host:port/vhost gives the credentials and the vhost.
if [[ ! $CHORUS_AMQP_URL =~ ^amqp://([^:@/]+):([^@/]*)@[^/]+(/(.*))?$ ]]; then
	fail "CHORUS_AMQP_URL='$CHORUS_AMQP_URL' is not amqp://user:password@host:port/vhost"
	echo "FAILED: $failures check(s)"
	exit 1
fi
user=${BASH_REMATCH[1]}
password=${BASH_REMATCH[2]}
vhost=${BASH_REMATCH[4]:-%2F}
mgmt=${CHORUS_MGMT_URL:-http://127.0.0.1:15682/}
mgmt=${mgmt%/}
body=$(mktemp)
trap 'rm -f "$body"' EXIT

# api METHOD PATH [JSON]: prints the HTTP status; the response body goes to $body.
api() {
	: >"$body" # curl leaves the file alone when it cannot connect
	local args=(-sS -o "$body" -w '%{http_code}' --max-time 10 -u "$user:$password" -X "$1")
	[[ $# -ge 3 ]] && args+=(-H 'content-type: application/json' --data "$3")
	curl "${args[@]}" "$mgmt$2" 2>>"$body" || true
}

echo "check: GET $mgmt/api/overview"
status=$(api GET /api/overview)
if [[ $status == 200 ]] && grep -q '"rabbitmq_version"' "$body"; then
	pass "management API answers ($(grep -o '"rabbitmq_version":"[^"]*"' "$body"))"
else
	fail "GET /api/overview: HTTP $status: $(head -c 300 "$body")"
fi

queue=/api/queues/$vhost/chorus.smoke
echo "check: PUT $queue as a durable quorum queue, GET it, DELETE it"
status=$(api PUT "$queue" '{"durable":true,"arguments":{"x-queue-type":"quorum"}}')
if [[ $status == 201 || $status == 204 ]]; then
	pass "quorum queue declared (HTTP $status)"
	status=$(api GET "$queue")
	if [[ $status == 200 ]] && grep -q '"type":"quorum"' "$body"; then
		pass "queue chorus.smoke is of type quorum"
	else
		fail "GET $queue: HTTP $status, want 200 and \"type\":\"quorum\": $(head -c 300 "$body")"
	fi
	status=$(api DELETE "$queue")
	if [[ $status == 204 ]]; then
		pass "quorum queue deleted"
	else
		fail "DELETE $queue: HTTP $status, want 204: $(head -c 300 "$body")"
	fi
else
	fail "PUT $queue: HTTP $status, want 201 or 204: $(head -c 300 "$body")"
fi

if ((failures > 0)); then
	echo "FAILED: $failures check(s)"
	exit 1
fi
echo "all checks passed"
