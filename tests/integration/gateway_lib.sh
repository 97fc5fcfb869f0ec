# Helpers of the gateway's integration tests (sourced after lib.sh): start
# workers with their APIs and a gateway on free ports, and call it, every
# answer recorded for the OpenAPI check (openapi_check.py).

# api_port NAME: the port the worker's API bound (from its log).
api_port() {
	sed -n 's/.*msg="api listening" address=[0-9.]*:\([0-9]*\).*/\1/p' "$WORK/$1.log" | tail -n 1
}

# gw_port NAME: the port the gateway NAME serves clients on.
gw_port() {
	sed -n 's/.*msg="gateway listening" address=[0-9.]*:\([0-9]*\).*/\1/p' "$WORK/$1.log" | tail -n 1
}

# start_api_worker SERVICE NAME [ARGS...]: a worker with its API on a free port (API_<NAME>).
start_api_worker() {
	local svc=$1 name=$2
	shift 2
	start_worker "$svc" "$name" -o "$svc.api_listen=${API_LISTEN:-127.0.0.1:0}" "$@"
	printf -v "API_${name//[^A-Za-z0-9]/_}" '%s' "$(api_port "$name")"
}

# api_addr NAME: 127.0.0.1:PORT of the worker NAME's API.
api_addr() { local v="API_${1//[^A-Za-z0-9]/_}"; echo "127.0.0.1:${!v}"; }

# start_gateway NAME [ARGS...]: chorus-gateway on free ports, waiting until
# ready; GW is its client port, GWH its health port. ARGS come after the
# instance lists: the APIs of the workers named order, inventory and payment
# (API_order, ...), or an unused port when there is none (never a default
# port another stack may use); with "-c FILE" in ARGS the file names them.
start_gateway() {
	local name=$1 args=(-c /dev/null) s v
	shift
	if [[ " $* " != *" -c "* ]]; then
		for s in order inventory payment; do
			v="API_$s"
			args+=(-o "gateway.${s}_instances=127.0.0.1:${!v:-1}")
		done
	else
		args=()
	fi
	# a generous timeout unless the test sets one: a loaded machine (or ASan) is slow
	"$CHORUS_BUILDDIR/chorus-gateway" -o gateway.listen=127.0.0.1:0 \
		-o gateway.health_listen=127.0.0.1:0 -o gateway.timeout_ms=10000 "${args[@]}" "$@" >"$WORK/$name.log" 2>&1 &
	WORKER_PIDS[$name]=$!
	WORKER_SVC[$name]=gateway
	wait_log "$name" 'msg="ready"' 30
	GW=$(gw_port "$name")
	GWH=$(health_port "$name")
}

REC=$WORK/rec
mkdir -p "$REC"
: >"$REC/manifest"

# gw METHOD PATH [CURL-ARGS...]: a request to the gateway; prints the status.
# The answer is recorded: gw_body and gw_header read the last one.
gw() {
	local m=$1 p=$2 n st
	shift 2
	n=$(($(wc -l <"$REC/manifest") + 1))
	st=$(curl -s -m 30 -o "$REC/$n.body" -D "$REC/$n.head" -w '%{http_code}' -X "$m" "$@" \
		"http://127.0.0.1:$GW$p") || true
	echo "$m $p $st $n" >>"$REC/manifest"
	echo "$st"
}
gw_last() { echo $(($(wc -l <"$REC/manifest"))); }
gw_body() { cat "$REC/$(gw_last).body"; }
# gw_header NAME: a header of the last answer ("" when absent).
gw_header() {
	tr -d '\r' <"$REC/$(gw_last).head" | sed -n "s/^$1: *//Ip" | head -n 1
}
# gw_ms PATH: GET PATH, recorded as gw does; prints the milliseconds it took (curl's own clock).
gw_ms() {
	local n t
	n=$(($(wc -l <"$REC/manifest") + 1))
	t=$(curl -s -m 30 -o "$REC/$n.body" -D "$REC/$n.head" -w '%{http_code} %{time_total}' \
		"http://127.0.0.1:$GW$1") || true
	echo "GET $1 ${t%% *} $n" >>"$REC/manifest"
	awk -v s="${t#* }" 'BEGIN { printf "%d\n", s * 1000 }'
}
# gw_json FILTER: jq over the last answer's body.
gw_json() { jq -r "$1" <"$REC/$(gw_last).body"; }

# post_order ID CUSTOMER SKU QTY TOTAL [CURL-ARGS...]: POST /api/v1/orders; the status.
post_order() {
	local id=$1 c=$2 sku=$3 q=$4 t=$5 idpart=
	shift 5
	[ -n "$id" ] && idpart="\"order_id\":\"$id\","
	gw POST /api/v1/orders -H 'Content-Type: application/json' \
		-d "{$idpart\"customer_id\":\"$c\",\"items\":[{\"sku\":\"$sku\",\"quantity\":$q}],\"total_cents\":$t,\"currency\":\"EUR\"}" "$@"
}

# upstreams FILTER: jq over the gateway's /upstreams.
upstreams() { curl -s -m 5 "http://127.0.0.1:$GWH/upstreams" | jq -r "$1"; }
upstreams_is() { [ "$(upstreams "$1")" = "$2" ]; }
