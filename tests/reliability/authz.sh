#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Authorization with real second users (setpriv): the socket's mode and
# group keep a user outside the group from connecting at all; with the
# socket open, policies refuse a uid/gid they do not allow (nothing
# archived) and accept the allowed group as a supplementary group. Then
# smkeyd itself runs as nobody with an empty capability bounding set and
# no_new_privs, and still makes and archives a key: it needs no privilege.
#
#   sudo tests/reliability/authz.sh
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/daemon_lib.sh"
smk_enter_namespace "$@"
. "$SMK_SOURCE_DIR/tests/reliability/rel_lib.sh"
# nobody runs the second smkeyd: a copy it can run wherever the tree is
SMKEYD=$(smk_shared_copy "$SMKEYD")

rel_authz
smkd_stop

# ---- smkeyd as an unprivileged user ----
d=$SMK_TMP/unpriv
mkdir -p "$d"
cp -r "$SMK_TMP/policies.d" "$SMK_TMP/trust" "$d/"
(umask 077 && printf '%s\n' "$SMKD_PIN" >"$d/pin")
sed -e "s|^archive: .*|archive: unpriv.db|" "$SMKD_CONF" >"$d/smkeyd.yaml"
chown -R nobody:nogroup "$d"
# the archive key of the first run is on card1: record 0 of a new archive
# needs a fresh key, which the card has room for
smk_spawn "$SMK_TMP/smkeyd-unpriv.log" setpriv --reuid=nobody --regid=nogroup --clear-groups \
	--bounding-set=-all --inh-caps=-all --no-new-privs "$SMKEYD" --stderr -c "$d/smkeyd.yaml"
SMKD_PID=$SMK_LAST_PID
SMKD_SOCK=$d/smkeyd.sock
for _ in $(seq 300); do
	grep -q 'ready' "$SMK_TMP/smkeyd-unpriv.log" && break
	kill -0 "$SMKD_PID" 2>/dev/null || smk_fail "unprivileged smkeyd exited: $(cat "$SMK_TMP/smkeyd-unpriv.log")"
	sleep 0.1
done
status=$(grep -E '^(Uid|CapEff|CapBnd|NoNewPrivs)' "/proc/$SMKD_PID/status" | tr -s '\t ' ' ' | tr '\n' ';')
smk_expect "smkeyd status" 'Uid: 65534 65534 65534 65534;' "$status"
smk_expect "smkeyd status" 'CapEff: 0000000000000000;CapBnd: 0000000000000000;' "$status"
smk_expect "smkeyd status" 'NoNewPrivs: 1' "$status"
chmod 0711 "$d"
chmod 0666 "$SMKD_SOCK"
out=$(smkd_call io.smkeyd.Generate '{"policy": "release-apk", "label": "unpriv"}') ||
	smk_fail "Generate against the unprivileged smkeyd: $out"
smk_log "smkeyd as nobody ($status) made and archived key $(smkd_json 'r["parameters"]["key_id"]' <<<"$out") on $(smkd_json 'r["parameters"]["device"]' <<<"$out"); $(rel_unix_only) sockets, all AF_UNIX"
smkd_stop
smk_pass
