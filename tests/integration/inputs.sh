#!/usr/bin/env bash
# Hostile text (docs/security.md, "Inputs and build"): a poison message whose
# body and AMQP properties carry terminal escapes, newlines and quotes is
# dead-lettered; the worker's log line for it stays one line with every
# value escaped; chorusctl dead show and trace print it escaped (no ESC or
# BEL byte reaches the terminal). chorusctl config masks every form of
# password, and a malformed config line is refused without being echoed.
. "$(dirname "$0")/lib.sh"

start_worker order
fresh_dead_letters

oid="esc-$RUN"
ESC=$'\x1b'
BEL=$'\x07'
printf '%s' "${ESC}[2J${ESC}]0;pwned${BEL} $oid"$'\n'"level=error msg=\"forged\"" >"$WORK/body"
ctl -q publish --raw "@$WORK/body" --queue chorus.order.events \
	--type "Order${ESC}[31mCreated"$'\n'"level=error" --message-id "m-$RUN\" forged=\"1"
dead_one() { [ "$(dead_count order)" -ge 1 ]; }
wait_until "the hostile message in chorus.order.dead" 30 dead_one
wait_log order 'poison message dead-lettered' 10

line=$(grep 'poison message dead-lettered' "$WORK/order.log")
expect "the poison warning is one line" "$(printf '%s\n' "$line" | wc -l)" "1"
expect "no raw ESC in the worker's log" "$(grep -c "$ESC" "$WORK/order.log" || true)" "0"
expect "the hostile type is one escaped, quoted value" \
	"$(grep -o 'type="[^"]*"' <<<"$line")" 'type="Order\x1b[31mCreated\nlevel=error"'
# read as logfmt, the line has exactly the fields the worker wrote
cat >"$WORK/keys.py" <<'PY'
import re, sys
line = sys.argv[1].split(" ", 1)[1]	# after the timestamp
print(" ".join(k for k, v in re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', line)))
PY
expect "no value makes a field of its own" "$(python3 "$WORK/keys.py" "$line")" \
	"level service msg queue event_id type order_id trace_id reason"

ctl dead show order --limit 10 >"$WORK/show.txt"
expect "dead show prints no ESC or BEL byte" "$(grep -c "[$ESC$BEL]" "$WORK/show.txt" || true)" "0"
expect "dead show prints the escapes as text" \
	"$(grep -c 'body: *\\x1b\[2J\\x1b\]0;pwned\\x07 '"$oid"'\\nlevel=error msg="forged"' "$WORK/show.txt")" "1"
expect "dead show keeps one line per field" "$(grep -c '^ *type: *Order\\x1b\[31mCreated\\nlevel=error$' "$WORK/show.txt")" "1"
ctl trace "$oid" >"$WORK/trace.txt" || true
expect "trace lists the dead letter" "$(grep -c 'dead-lettered' "$WORK/trace.txt")" "1"
expect "trace prints no ESC or BEL byte" "$(grep -c "[$ESC$BEL]" "$WORK/trace.txt" || true)" "0"
ctl --json dead show order --limit 10 >"$WORK/show.json"
expect "--json keeps the bytes (JSON escapes them)" "$(python3 -c '
import json,sys
print(sum(1 for m in json.load(open(sys.argv[1])) if m["body"] is not None and m["body"].startswith("\x1b[2J")))' "$WORK/show.json")" "1"
ctl -q dead purge order

# --- chorusctl config: every form of password masked, text and --json --------
masked() {
	CHORUS_AMQP_URL='amqp://u:s3cr3t@h:5672/' \
	CHORUS_ORDER_DATABASE_URL='host=h dbname=d password=s3cr3t user=u' \
	CHORUS_INVENTORY_DATABASE_URL='postgresql://u@h/d?sslmode=require&password=s3cr3t' \
	CHORUS_PAYMENT_DATABASE_URL="postgresql://u@h/d?sslpassword=s3cr3t" \
		"$CTL" -c /dev/null "$@" config
}
expect "config shows no password" "$(masked | grep -c s3cr3t || true)" "0"
expect "config --json shows no password" "$(masked --json | grep -c s3cr3t || true)" "0"
# (the four keys set above; the stack's own secrets, e.g. the services'
# amqp_password, are masked too but not counted here)
expect "config masks each form" \
	"$(masked | grep -cE '^(amqp_url|(order|inventory|payment)\.database_url) = .*\*\*\*\*')" "4"
expect "config keeps the rest" "$(masked | grep -c '^order.database_url = host=h dbname=d password=\*\*\*\* user=u$')" "1"

# --- a malformed line is refused, never echoed --------------------------------
printf 'log_level = info\namqp://u:s3cr3t@h/\n' >"$WORK/bad.conf"
rc=0
"$CTL" -c "$WORK/bad.conf" config >"$WORK/bad.out" 2>&1 || rc=$?
expect "chorusctl refuses the malformed config (78)" "$rc" "78"
expect "chorusctl's error names the line, not its text" \
	"$(grep -c 'bad.conf:2' "$WORK/bad.out") $(grep -c s3cr3t "$WORK/bad.out" || true)" "1 0"
rc=0
"$CHORUS_BUILDDIR/chorus-order" -c "$WORK/bad.conf" >"$WORK/bad-worker.out" 2>&1 || rc=$?
expect "the worker refuses it too (78)" "$rc" "78"
expect "the worker's error does not show the secret" "$(grep -c s3cr3t "$WORK/bad-worker.out" || true)" "0"
finish
