#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# What another process of smkeyd's own uid, or a loose umask, can get from
# the daemon. smkeyd runs as nobody under umask 022 with one
# simulated HSM, the way it runs outside systemd:
#  - the process is not dumpable (it holds SM session keys and, briefly, the
#    PIN): its /proc/PID/ files belong to root, and another process of the
#    same uid cannot read /proc/PID/environ (it could, were it dumpable);
#  - the archive it creates, and its -wal and -shm files, are 0600;
#  - it trusts the simulator's root (ZZSIMRCA00001), so its start-up log,
#    every ListDevices reply and `smkey devices` carry the warning that
#    such a root proves nothing about genuine hardware.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"
# nobody runs these: copies it can read wherever the tree is (smk_shared_copy)
SMKEYD=$(smk_shared_copy "$SMKEYD")

smk_one_card
smkd_config

# a tree of its own that nobody may write, as a state directory would be
d=$SMK_TMP/priv
mkdir -p "$d"
cp -r "$SMK_TMP/policies.d" "$SMK_TMP/trust" "$SMK_TMP/pin" "$SMKD_CONF" "$d/"
chown -R nobody:nogroup "$d"
chmod 0711 "$SMK_TMP"
SMKD_SOCK=$d/smkeyd.sock
(
	umask 022
	exec setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$SMKEYD" --stderr --debug -c "$d/smkeyd.yaml"
) >"$SMK_TMP/smkeyd.log" 2>&1 &
SMKD_PID=$!
SMK_PIDS+=("$SMKD_PID")
smkd_wait_log 'ready' 60
uid=$(awk '/^Uid:/ {print $2}' "/proc/$SMKD_PID/status")
[ "$uid" = 65534 ] || smk_fail "smkeyd runs as uid $uid, not nobody"

# 1. not dumpable
owner=$(stat -c %U "/proc/$SMKD_PID/environ")
[ "$owner" = root ] ||
	smk_fail "/proc/$SMKD_PID/environ of smkeyd (uid nobody) belongs to $owner: the process is dumpable"
rc=0
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups cat "/proc/$SMKD_PID/environ" 2>&1 >/dev/null) || rc=$?
[ "$rc" != 0 ] && grep -q 'Permission denied' <<<"$out" ||
	smk_fail "another process of uid nobody read smkeyd's /proc/PID/environ (status $rc): the process is dumpable"
smk_log "smkeyd (uid nobody) is not dumpable: /proc/$SMKD_PID/ belongs to root, same-uid read of environ: $out"

# 2. the archive and its WAL files are 0600 although the umask is 022
for f in archive.db archive.db-wal archive.db-shm; do
	[ -e "$d/$f" ] || smk_fail "$d/$f does not exist while smkeyd runs"
	mode=$(stat -c '%a %U' "$d/$f")
	[ "$mode" = "600 nobody" ] || smk_fail "$f created under umask 022 is $mode, not 600 nobody"
done
smk_log "archive.db, -wal and -shm are 0600 under umask 022"

# 3. the simulator root is trusted: said at start and in ListDevices
warn='WARNING: trusting test or simulator root ZZSIMRCA00001: a key attested under it proves nothing about genuine hardware'
grep -qF "warning: $warn" "$SMK_TMP/smkeyd.log" || smk_fail "no trust warning in smkeyd's start-up log"
chmod 0666 "$SMKD_SOCK"
out=$(smkd_call io.smkeyd.ListDevices '{}') || smk_fail "ListDevices: $out"
[ "$(smkd_json 'r["parameters"]["trust_warning"]' <<<"$out")" = "$warn" ] ||
	smk_fail "ListDevices carries no trust warning: $out"
out=$(SMKEYD_SOCKET=$SMKD_SOCK "$SMKEY" devices) || smk_fail "smkey devices: $out"
[ "$(head -n 1 <<<"$out")" = "$warn" ] || smk_fail "smkey devices does not start with the warning: $out"
smk_log "simulator root trusted: warned in the log, in ListDevices and by smkey devices"

smkd_stop
smk_pass
