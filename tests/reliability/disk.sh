#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The archive on a full filesystem: a small tmpfs, inside this test's private
# mount namespace, holds archive.db and its pending directory.
#
#   sudo tests/reliability/disk.sh [REPORT.md]
#
# 1. full before the request: every Generate fails with a clear error, the
#    card sees no GAKP (no APDU at all), smkeyd stays up;
# 2. space freed: the next Generate completes, every record written before is
#    byte for byte unchanged, smkey audit is clean;
# 3. full between GAKP and commit (the card holds back its GAKP answer while
#    the filesystem fills): the request fails, the key is on the card with an
#    open intent; space freed and smkeyd restarted, recovery commits it; the
#    audit is clean and every key has exactly one record.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/daemon_lib.sh"
. "$(dirname "$0")/lib_faults.sh"
smk_enter_namespace "$@"

report=${1:-$SMK_BUILD_DIR/reliability/disk.md}
mkdir -p "$(dirname "$report")"
lines=()
note() {
	lines+=("$*")
	smk_log "$*"
}

disk=$SMK_TMP/disk
mkdir -p "$disk"
mount -t tmpfs -o size=2m,mode=0700 smk-archive "$disk" || smk_fail "cannot mount a tmpfs on $disk"
smk_start_pcscd 1
smk_sim_init card1 1
smk_sim_start card1 0
smk_wait_card 0
smkd_config
sed -i 's|^archive: archive.db|archive: disk/archive.db|' "$SMKD_CONF"
smkd_start
smkd_wait_log 'ready'
ln -s disk/archive.db "$SMK_TMP/archive.db" # for lib_faults' queries
ln -s disk/archive.db.pending "$SMK_TMP/archive.db.pending"
for i in 1 2 3; do
	r=$(rf_generate "before$i")
	[[ $r == ok* ]] || smk_fail "Generate before the disk is full: $r"
done
records_before=$(sqlite3 "$disk/archive.db" "SELECT seq, hex(canonical), hex(signature) FROM records ORDER BY seq" | sha256sum)
nrec=$(sqlite3 "$disk/archive.db" "SELECT count(*) FROM records")
note "archive on a 2 MiB tmpfs: $nrec records (archive key + 3 keys)"

fill() {
	dd if=/dev/zero of="$disk/filler" bs=4k status=none 2>/dev/null || true
	sync
}

# 1. full before the request
fill
note "filesystem full: $(df -k --output=avail "$disk" | tail -n 1 | tr -d ' ') KiB available ($(df -k --output=used "$disk" | tail -n 1 | tr -d ' ') KiB used)"
mark=$(wc -l <"$SMK_TMP/card1.apdu.jsonl")
for i in 1 2 3; do
	r=$(rf_generate "full$i")
	[[ $r == error* ]] || smk_fail "Generate on a full disk: $r"
	smk_expect "error on a full disk" 'ArchiveError' "$r"
	note "Generate $i on the full disk: $r"
done
apdus=$(tail -n +"$((mark + 1))" "$SMK_TMP/card1.apdu.jsonl" | wc -l)
gakp=$(tail -n +"$((mark + 1))" "$SMK_TMP/card1.apdu.jsonl" | grep -c '"cmd":"gakp"' || true)
[ "$gakp" = 0 ] || smk_fail "$gakp GAKP reached the card while the archive could not record the intent"
kill -0 "$SMKD_PID" || smk_fail "smkeyd died on a full disk"
note "the card saw $apdus APDUs ($gakp GAKP) during those requests; smkeyd still up"

# 2. space freed
rm -f "$disk/filler"
r=$(rf_generate "freed")
[[ $r == ok* ]] || smk_fail "Generate after freeing space: $r"
note "space freed: Generate $r"
records_now=$(sqlite3 "$disk/archive.db" "SELECT seq, hex(canonical), hex(signature) FROM records WHERE seq < $nrec ORDER BY seq" | sha256sum)
[ "$records_now" = "$records_before" ] || smk_fail "records written before the full disk changed"
note "the $nrec records written before are byte for byte unchanged (sha256 of seq, canonical, signature)"
aud=$(rf_audit)
[ "$aud" = clean ] || smk_fail "smkey audit after freeing space: $aud"
note "smkey audit: $aud; card vs archive: $(rf_reconcile)"

# 3. full between GAKP and commit
smk_ctl card1 fault cmd=gakp:late=2000 >/dev/null
mark=$(wc -l <"$SMK_TMP/card1.apdu.jsonl")
rf_generate "mid" 30 >"$SMK_TMP/mid.out" &
gen=$!
for _ in $(seq 100); do
	tail -n +"$((mark + 1))" "$SMK_TMP/card1.apdu.jsonl" | grep -q '"cmd":"gakp"' && break
	sleep 0.05
done
fill
wait "$gen" || true
r=$(cat "$SMK_TMP/mid.out")
note "filesystem filled while the card made the key: $r"
[[ $r == ok* ]] && note "(the commit found room: SQLite reused pages it already had)"
kill -0 "$SMKD_PID" || smk_fail "smkeyd died when the disk filled during a request"
rm -f "$disk/filler"
rf_restart_daemon
rec=$(rf_reconcile)
aud=$(rf_audit)
note "space freed, smkeyd restarted: $(grep -Eo 'recovered from CE\|[0-9A-F]+ as record [0-9]+' "$SMK_TMP/smkeyd.log" || echo 'nothing to recover'); card vs archive: $rec; smkey audit: $aud"
[[ $rec == clean* ]] || smk_fail "card vs archive after recovery: $rec"
[ "$aud" = clean ] || smk_fail "smkey audit after recovery: $aud"
r=$(rf_generate "last")
[[ $r == ok* ]] || smk_fail "Generate after recovery: $r"
note "next Generate: $r; GAKP in plain over the whole run: $(rf_gakp_plain)"

{
	echo "# Archive on a full filesystem"
	echo
	echo "Produced by \`tests/reliability/disk.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'):"
	echo
	printf -- '- %s\n' "${lines[@]}"
} >"$report"
smkd_stop
umount "$disk"
smk_pass
