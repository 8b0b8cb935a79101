#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# One local user must not lock out all others. uid nobody opens
# 64 connections (the whole table: clients 64, clients-per-uid 64 here) and
# trickles one byte of a request that never ends on each every 0.5 s (the
# review's 25 s, scaled down with the deadline). Meanwhile:
#  - uid daemon with the policy's group adm (a client the policies allow)
#    and uid bin (named by nothing, but holding fewer connections) each get
#    GetInfo answered within 2 s: the first takes the slot of one of
#    nobody's unfinished requests (logged);
#  - the request deadline (request-timeout-ms 4000) closes every trickling
#    connection about 4 s after its first byte, although bytes keep coming
#    (the idle time, 60 s, never fires for them).
# Then the default per-uid limit (16) alone keeps a slot free for others.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"
PY=/usr/bin/python3
# nobody runs these: copies it can read wherever the tree is (smk_shared_copy)
SLOW=$(smk_shared_copy "$SMK_SOURCE_DIR/tests/integration/slowloris.py")
SMKD_CLIENT=$(smk_shared_copy "$SMKD_CLIENT")

smk_one_card
smkd_config 'limits: {clients: 64, clients-per-uid: 64, request-timeout-ms: 4000, idle-timeout-ms: 60000}'
smkd_start
smkd_wait_log 'ready' 60
chmod 0711 "$SMK_TMP"

# call_as SETPRIV_OPTS: GetInfo as another user; prints the reply and the
# milliseconds it took
call_as() {
	local t0 t1 out rc=0
	t0=$(date +%s%N)
	# shellcheck disable=SC2086 # a word list on purpose
	out=$(setpriv $1 "$PY" "$SMKD_CLIENT" "$SMKD_SOCK" org.varlink.service.GetInfo '{}' 2>&1) || rc=$?
	t1=$(date +%s%N)
	echo "$rc $(((t1 - t0) / 1000000)) $out"
}

setpriv --reuid=nobody --regid=nogroup --clear-groups "$PY" "$SLOW" "$SMKD_SOCK" 64 0.5 20 \
	>"$SMK_TMP/slowloris.out" 2>&1 &
slow_pid=$!
SMK_PIDS+=("$slow_pid")
for _ in $(seq 100); do
	grep -q '^held' "$SMK_TMP/slowloris.out" && break
	sleep 0.1
done
held=$(grep '^held' "$SMK_TMP/slowloris.out") || smk_fail "the slow client never connected: $(cat "$SMK_TMP/slowloris.out")"
[ "$held" = "held 64 refused 0" ] || smk_fail "uid nobody should hold all 64 slots: $held"
smk_log "uid nobody holds all 64 connections, trickling"
sleep 1

for who in "--reuid=daemon --regid=daemon --groups=adm" "--reuid=bin --regid=bin --clear-groups"; do
	read -r rc ms out <<<"$(call_as "$who")"
	[ "$rc" = 0 ] && grep -q '"product": "smkeyd"' <<<"$out" ||
		smk_fail "setpriv $who while nobody holds every slot: status $rc: $out"
	[ "$ms" -lt 2000 ] || smk_fail "setpriv $who waited $ms ms for GetInfo"
	smk_log "setpriv $who: GetInfo answered in $ms ms while nobody trickles"
done
# the first took one of nobody's slots; the second may find that one free
n=$(grep -c 'unfinished request closed to make room for uid 1 ' "$SMK_TMP/smkeyd.log" || true)
[ "$n" = 1 ] || smk_fail "expected one of nobody's connections closed to make room for uid 1, the log says $n"
smk_log "$(grep -m1 'closed to make room' "$SMK_TMP/smkeyd.log" | sed 's/.*: client/client/')"

wait "$slow_pid" || true
res=$(tail -n 1 "$SMK_TMP/slowloris.out")
smk_log "slow client: $res"
[ "$(smkd_json 'r["still_open"]' <<<"$res")" = 0 ] || smk_fail "trickling connections still open after 20 s: $res"
[ "$(smkd_json 'max(r["lifetimes"]) < 7' <<<"$res")" = True ] ||
	smk_fail "a trickling connection lived past the 4 s deadline (with slack): $res"
n=$(grep -c 'no complete request within 4000 ms' "$SMK_TMP/smkeyd.log" || true)
[ "$n" -ge 62 ] || smk_fail "only $n connections closed by the request deadline"
smk_log "the request deadline closed $n trickling connections, the longest after $(smkd_json 'max(r["lifetimes"])' <<<"$res") s"

# the default per-uid limit: 16 of nobody's 64 get a slot, the rest are
# told TooManyRequests, and another uid is served at once
smkd_stop
sed -i 's/^limits: .*/limits: {request-timeout-ms: 4000}/' "$SMKD_CONF"
: >"$SMK_TMP/smkeyd.log"
smkd_start
smkd_wait_log 'ready' 60
setpriv --reuid=nobody --regid=nogroup --clear-groups "$PY" "$SLOW" "$SMKD_SOCK" 64 0.5 3 \
	>"$SMK_TMP/slowloris2.out" 2>&1 &
slow_pid=$!
SMK_PIDS+=("$slow_pid")
for _ in $(seq 100); do
	grep -q '^held' "$SMK_TMP/slowloris2.out" && break
	sleep 0.1
done
held=$(grep '^held' "$SMK_TMP/slowloris2.out") || smk_fail "the slow client never connected"
[ "$held" = "held 16 refused 48" ] || smk_fail "with the default per-uid limit: $held"
read -r rc ms out <<<"$(call_as "--reuid=bin --regid=bin --clear-groups")"
[ "$rc" = 0 ] && [ "$ms" -lt 2000 ] || smk_fail "uid bin next to 16 of nobody's: status $rc, $ms ms: $out"
grep -q 'uid 65534 has 16 connections (the per-uid limit)' "$SMK_TMP/smkeyd.log" ||
	smk_fail "no per-uid refusal in the log"
smk_log "default limits: nobody $held, uid bin served in $ms ms"
wait "$slow_pid" || true
smkd_stop
smk_pass
