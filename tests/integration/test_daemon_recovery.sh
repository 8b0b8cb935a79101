#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# smkeyd dies between GAKP and commit (the SMKEYD_TEST_CRASH_AT=after-gakp
# hook exits at once, as kill -9 would leave it): the key is on the card,
# the intent is open. The next start reads CE|id back, checks the request,
# and commits it; the client can then fetch the record by request id, the
# bundle verifies, and the audit is clean. An intent whose key never reached
# the card is closed as failed. SIGHUP reloads policies; a broken policy
# directory keeps the old set in force.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"

smk_one_card
smkd_config

# first start: the archive key; then a key whose daemon dies after the GAKP
smkd_start SMKEYD_TEST_CRASH_AT=after-gakp
smkd_wait_log 'ready'
out=$(smkd_call io.smkeyd.Generate '{"policy": "release-apk", "label": "crash"}' 2>&1) &&
	smk_fail "Generate answered although the daemon was to die: $out"
wait "$SMKD_PID" 2>/dev/null && smk_fail "smkeyd exited 0 at the crash hook"
smk_expect "crash log" 'SMKEYD_TEST_CRASH_AT=after-gakp' "$(cat "$SMK_TMP/smkeyd.log")"
rid=$(sqlite3 "$SMK_TMP/archive.db" \
	"SELECT request_id FROM intents WHERE request_id NOT IN (SELECT request_id FROM outcomes)")
[ -n "$rid" ] || smk_fail "no open intent after the crash"
keys=$(python3 -c 'import json,sys; print(sorted(json.load(open(sys.argv[1]))["keys"]))' "$SMK_TMP/card1.json")
smk_expect "card keys after the crash" "'2'" "$keys"
smk_log "daemon died after GAKP: key 2 on the card, intent $rid open, no record"

mv "$SMK_TMP/smkeyd.log" "$SMK_TMP/smkeyd-crash.log"
# the restart runs as systemd would run it: a notify socket and a watchdog
smk_spawn "$SMK_TMP/notify-listener.log" python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        f.write(s.recv(4096).decode().replace("\n", " ") + "\n")
' "$SMK_TMP/notify.sock" "$SMK_TMP/notify.txt"
for _ in $(seq 50); do [ -S "$SMK_TMP/notify.sock" ] && break; sleep 0.1; done
smkd_start NOTIFY_SOCKET="$SMK_TMP/notify.sock" WATCHDOG_USEC=400000
smkd_wait_log 'ready'
smk_expect "restart log" "recovered from CE\|02 as record 1.*request_id=$rid" "$(cat "$SMK_TMP/smkeyd.log")"
out=$(smkd_call io.smkeyd.GetRecord "{\"request_id\": \"$rid\"}") || smk_fail "GetRecord $rid: $out"
smk_expect "recovered record" '"label": "apk-crash"' "$out"
smk_expect "recovered record" '"seq": 1' "$out"
out=$(smkd_call io.smkeyd.GetBundle "{\"request_id\": \"$rid\"}") || smk_fail "GetBundle: $out"
smkd_json 'r["parameters"]["bundle"]' <<<"$out" >"$SMK_TMP/crash.bundle"
v=$(smkd_verify "$SMK_TMP/crash.bundle" 2>&1) || smk_fail "smkey verify: $v"
smk_log "restart recovered key 2 from CE|02 as record 1; its bundle verifies"
sleep 1
grep -q '^READY=1' "$SMK_TMP/notify.txt" || smk_fail "no READY=1: $(cat "$SMK_TMP/notify.txt")"
[ "$(grep -c '^WATCHDOG=1' "$SMK_TMP/notify.txt")" -ge 2 ] ||
	smk_fail "no watchdog pings every 200 ms: $(cat "$SMK_TMP/notify.txt")"
smk_log "sd_notify: READY=1 after recovery, WATCHDOG=1 every half WATCHDOG_USEC"
open=$(sqlite3 "$SMK_TMP/archive.db" \
	"SELECT count(*) FROM intents WHERE request_id NOT IN (SELECT request_id FROM outcomes)")
[ "$open" = 0 ] || smk_fail "$open intents still open after recovery"
[ -z "$(ls -A "$SMK_TMP/archive.db.pending")" ] || smk_fail "pending sidecars left: $(ls "$SMK_TMP/archive.db.pending")"

# the daemon keeps serving normally after recovery
out=$(smkd_call io.smkeyd.Generate '{"policy": "release-apk", "label": "after"}') ||
	smk_fail "Generate after recovery: $out"
smk_expect "Generate after recovery" '"key_id": 3' "$out"

# SIGHUP: a new policy appears; a broken one is refused and the old set stays
sed -e 's/^name: release-apk/name: release-apk2/' "$SMK_TMP/policies.d/release-apk.yaml" \
	>"$SMK_TMP/policies.d/release-apk2.yaml"
kill -HUP "$SMKD_PID"
smkd_wait_log 'policies reloaded from .*: 4 policies'
out=$(smkd_call io.smkeyd.Generate '{"policy": "release-apk2", "label": "hup"}') ||
	smk_fail "Generate under the reloaded policy: $out"
echo "name: broken" >"$SMK_TMP/policies.d/broken.yaml"
kill -HUP "$SMKD_PID"
smkd_wait_log 'reload refused, the old policies stay in force'
out=$(smkd_call io.smkeyd.ListPolicies '{}')
smk_expect "policies after a refused reload" '"release-apk2"' "$out"
smk_log "SIGHUP reloads policies; a broken file is refused and the old set keeps serving"
grep -q '^RELOADING=1' "$SMK_TMP/notify.txt" || smk_fail "no RELOADING=1 on SIGHUP"

smkd_stop
smkd_wait_log 'all requests answered; exiting'
grep -q '^STOPPING=1' "$SMK_TMP/notify.txt" || smk_fail "no STOPPING=1 on SIGTERM"
out=$("$SMKEY" audit "$SMK_TMP/archive.db" --trust "$SMK_TMP/trust" 2>&1) || smk_fail "smkey audit: $out"
smk_log "smkey audit after crash and recovery: clean"
smk_pass
