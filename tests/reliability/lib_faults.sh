# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# Helpers for the fault, crash and disk harnesses (tests/reliability/*.sh and
# the ctest smoke tests/integration/test_reliability_smoke.sh). Sourced after
# tests/integration/lib.sh and daemon_lib.sh, inside the private namespaces.
#
# One card (card1 in reader 0) and one smkeyd. The simulator's APDU log
# ($SMK_TMP/card1.apdu.jsonl) is appended by every simulator run, so it holds
# every APDU of the whole harness: rf_gakp_plain counts GAKP that arrived in
# plain over all of it.

# The helpers below use the system's Python (standard library only): a
# version manager's python3 shim in PATH can take seconds to start on a
# loaded machine, and a cell starts several.
RF_PY=/usr/bin/python3
[ -x "$RF_PY" ] || RF_PY=$(command -v python3)

# rf_setup: pcscd, a card, smkeyd with its archive key (record 0); the
# card's serial as smkeyd lists it in RF_SERIAL.
rf_setup() {
	smk_start_pcscd 1
	smk_sim_init card1 1
	smk_sim_start card1 0
	smk_wait_card 0
	smkd_config
	smkd_start
	smkd_wait_log 'ready'
	RF_SERIAL=$(smkd_call io.smkeyd.ListDevices '{}' |
		smkd_json '[d["serial"] for d in r["parameters"]["devices"] if d["state"] == "up"][0]') ||
		smk_fail "no device up after start: $(smkd_call io.smkeyd.ListDevices '{}')"
	[ -n "$RF_SERIAL" ] || smk_fail "the card's device has no serial after start"
}

# rf_sim_restart [smkey-sim run options...]: a freshly inserted card (SM, PIN
# and selection gone, APDU counter at 0) holding the same state.
rf_sim_restart() {
	smk_sim_stop card1
	smk_wait_no_card 0
	smk_sim_start card1 0 "$@"
	smk_wait_card 0
	sleep "${RF_SETTLE:-0}"
}

# rf_generate LABEL [SECONDS]: one Generate under release-apk; prints
# "ok key=N seq=N" or "error NAME: message" (one line).
rf_generate() {
	local label=$1 secs=${2:-30} out
	out=$(timeout "$secs" "$RF_PY" "$SMKD_CLIENT" "$SMKD_SOCK" io.smkeyd.Generate \
		"{\"policy\": \"release-apk\", \"label\": \"$label\"}" 2>&1) || true
	"$RF_PY" -c '
import json, sys
text = sys.argv[1].strip()
if not text:
    print("error no answer (timeout or connection closed)")
    sys.exit()
try:
    r = json.loads(text.splitlines()[-1])
except ValueError:
    print("error unparsable answer: " + " ".join(text.split())[:160])
    sys.exit()
if r.get("error"):
    p = r.get("parameters") or {}
    why = p.get("reason") or p.get("message") or json.dumps(p)
    print("error %s: %s" % (r["error"].split(".")[-1], " ".join(str(why).split())[:200]))
else:
    p = r["parameters"]
    print("ok key=%s seq=%s" % (p.get("key_id"), p.get("seq")))
' "$out"
}

# rf_wait_up [SECONDS]: until ListDevices shows the card's device
# (serial RF_SERIAL, set by rf_setup) up. Other devices are not waited for:
# vpcd gives pcscd two readers per entry and the second stays empty, which
# smkeyd lists as a watched device that is down. The bound is wall-clock
# time (one Python process polls), so a slow interpreter start cannot
# stretch it. On timeout it prints the devices as smkeyd last listed them.
rf_wait_up() {
	"$RF_PY" - "$SMKD_CLIENT" "$SMKD_SOCK" "$RF_SERIAL" "${1:-15}" <<'PY'
import os, sys, time
sys.path.insert(0, os.path.dirname(sys.argv[1]))
from varlink_client import call
sock, serial, secs = sys.argv[2], sys.argv[3], float(sys.argv[4])
deadline = time.monotonic() + secs
seen = "no answer"
while True:
    try:
        reply = list(call(sock, "io.smkeyd.ListDevices"))[-1]
        devs = reply["parameters"]["devices"]
        if any(d.get("serial") == serial and d.get("state") == "up" for d in devs):
            sys.exit(0)
        seen = "; ".join("%s in %s: %s (%s)" % (d.get("serial") or "-", d.get("reader"),
                         d.get("state"), d.get("last_error")) for d in devs)
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
        seen = "ListDevices: %s" % e
    if time.monotonic() >= deadline:
        print("device %s not up after %g s: %s" % (serial, secs, " ".join(seen.split())[:300]))
        sys.exit(1)
    time.sleep(0.2)
PY
}

# rf_gakp_plain: GAKP commands the card saw in plain, over the whole log.
rf_gakp_plain() {
	grep -c '"cmd":"gakp","sm":false' "$SMK_TMP/card1.apdu.jsonl" || true
}

# rf_open_intents: intents with no outcome.
rf_open_intents() {
	sqlite3 "$SMK_TMP/archive.db" \
		"SELECT count(*) FROM intents WHERE request_id NOT IN (SELECT request_id FROM outcomes)"
}

# rf_reconcile: every key on the card (state file; key 0 is the device key)
# against the archive. Prints "clean" or what is wrong. A key is accounted
# for by exactly one committed record naming its id, or by a failed outcome
# whose reason names it; a committed record must name a key on the card.
rf_reconcile() {
	smk_ctl card1 save >/dev/null 2>&1 || true
	"$RF_PY" - "$SMK_TMP/card1.json" "$SMK_TMP/archive.db" <<'PY'
import json, re, sqlite3, sys
card = json.load(open(sys.argv[1]))
keys = sorted(int(k) for k in card["keys"] if int(k) != 0)
db = sqlite3.connect(sys.argv[2])
recs = {}
for (canon,) in db.execute("SELECT canonical FROM records"):
    r = json.loads(canon)
    kid = r["intent"]["key-id"]
    recs.setdefault(kid, 0)
    recs[kid] += 1
failed = [row[0] or "" for row in db.execute("SELECT reason FROM outcomes WHERE status='failed'")]
problems = []
for k in keys:
    n = recs.get(k, 0)
    if n == 1:
        continue
    if n > 1:
        problems.append("key %d has %d records" % (k, n))
    elif not any(re.search(r"\bkey %d\b" % k, f) for f in failed):
        problems.append("key %d on the card has no record and no failed intent" % k)
for k in recs:
    if k not in keys:
        problems.append("record for key %s but no such key on the card" % k)
opened = db.execute("SELECT count(*) FROM intents WHERE request_id NOT IN "
                    "(SELECT request_id FROM outcomes)").fetchone()[0]
if opened:
    problems.append("%d open intents" % opened)
print("; ".join(problems) if problems else "clean (%d keys, %d records)" % (len(keys), sum(recs.values())))
PY
}

# rf_audit: smkey audit on the archive (the daemon may be running: SQLite
# readers do not block it). Prints "clean" or the problem lines.
rf_audit() {
	local out
	if out=$("$SMKEY" audit "$SMK_TMP/archive.db" --trust "$SMK_TMP/trust" 2>&1); then
		echo clean
	else
		grep -Ei 'problem|fail|error' <<<"$out" | head -n 3 | tr '\n' ' '
		echo
	fi
}

# rf_restart_daemon [ENV=VALUE...]: stop smkeyd (TERM, or it is already
# dead) and start it again; recovery runs before 'ready'.
rf_restart_daemon() {
	smkd_stop
	[ -f "$SMK_TMP/smkeyd.log" ] && cat "$SMK_TMP/smkeyd.log" >>"$SMK_TMP/smkeyd-all.txt"
	rm -f "$SMKD_SOCK"
	smkd_start "$@"
	smkd_wait_log 'ready' 30
}
