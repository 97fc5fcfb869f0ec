#!/usr/bin/env bash
# The gateway's order page in a real headless browser (Debian's chromium):
# the page places an order through the gateway and shows its saga, the
# outcome and the reason; for an order that cannot be paid, CANCELLED and
# insufficient_funds. Skipped (77) without chromium.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gateway_lib.sh"

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
	echo "SKIP: no chromium (apt-get install chromium)"
	exit 77
fi
for s in order inventory payment; do start_api_worker "$s" "$s"; done
start_gateway gw
sku="gp-sku-$RUN"; rich="gp-rich-$RUN"; poor="gp-poor-$RUN"
ctl -q stock set "$sku" 100
ctl -q account set "$rich" 100000
ctl -q account set "$poor" 1
ctl snapshot >"$WORK/base.json"

# page URL: the DOM once the page is done (virtual time: the page's timers
# run at once, its fetches at their real pace; bounded by timeout)
page() {
	timeout 240 "$browser" --headless --no-sandbox --disable-gpu --no-first-run \
		--disable-dev-shm-usage --disable-extensions --user-data-dir="$WORK/chromium" \
		--virtual-time-budget=60000 --dump-dom "$1" 2>"$WORK/chromium.log"
}
outcome() { grep -o '<div id="outcome"[^>]*>[^<]*' "$1" | sed 's/<div id="outcome"//'; }

page "http://127.0.0.1:$GW/?customer=$rich&items=$sku:2&total=300&place=1" >"$WORK/ok.html" || true
expect "the page placed an order and shows it CONFIRMED, done" \
	"$(outcome "$WORK/ok.html" | sed -E 's/Order web-[a-z0-9-]+/Order ID/')" ' class="CONFIRMED" data-done="1">Order ID: CONFIRMED'
# (steps seen on the way, e.g. RESERVED or PENDING, may show too: each final one must)
expect "  its timeline shows each service's step" \
	"$(grep -o 'data-part="[a-z]*">[A-Z]*' "$WORK/ok.html" | grep -E '>(SOLD|CONFIRMED|COMPLETED)$' | sort -u | tr '\n' ' ')" \
	'data-part="inventory">SOLD data-part="order">CONFIRMED data-part="payment">COMPLETED '
id=$(outcome "$WORK/ok.html" | grep -o 'web-[a-z0-9-]*')
expect "  the order is in the order service's database, CONFIRMED" "$(order_status "$id")" "CONFIRMED"

page "http://127.0.0.1:$GW/?customer=$poor&items=$sku:1&total=500&place=1" >"$WORK/nsf.html" || true
expect "an order that cannot be paid: CANCELLED with its reason" \
	"$(outcome "$WORK/nsf.html" | sed -E 's/Order web-[a-z0-9-]+/Order ID/')" \
	' class="CANCELLED" data-done="1">Order ID: CANCELLED — insufficient_funds'

page "http://127.0.0.1:$GW/?customer=$rich&items=$sku:0&total=1&place=1" >"$WORK/bad.html" || true
expect "a bad order: the service's 400 and the field on the page" \
	"$(outcome "$WORK/bad.html" | grep -c 'not placed: 400 .*(field items\[0\].quantity)')" "1"

quiet_and_check "$WORK/base.json"
finish
