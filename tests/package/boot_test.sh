#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The packaged install under a real systemd (docs/packaging.md, "The boot
# test"). scripts/package --test copies this script, the packages of this
# build (v1/) and of a rebuild with a higher version (v2/) into a fresh
# Debian 12 root, boots systemd as PID 1 in it with systemd-nspawn, and this
# script runs there as a service once the system is up. Every step asserts
# what it shows; the first failed assertion ends the run with status 1.
# It writes its transcript to stdout (the host keeps it) and its exit status
# to $SMK_PKG_DIR/out/rc, then powers the container off.
set -euo pipefail

SMK_PKG_DIR=${SMK_PKG_DIR:-/srv/smk}
OUT=$SMK_PKG_DIR/out
SIM=/var/lib/smk-sim
KEYS=/root/keys
AUDITOR=auditor
PIN=648219 # the simulator's default user PIN (docs/simulator.md)
start=$(date +%s)

finish() {
	local rc=$?
	echo "$rc" >"$OUT/rc"
	if [ "$rc" = 0 ]; then
		echo "== PASS: all steps, $(($(date +%s) - start)) s inside the container"
	else
		echo "== FAIL (status $rc) after $(($(date +%s) - start)) s; the units' journal:"
		journalctl --no-pager -o short-monotonic -u smkeyd.service -u smkeyd.socket \
			-u pcscd.service -u smk-sim.service | tail -n 80 || true
	fi
	sync
	systemctl --no-block poweroff
}
trap finish EXIT

step() { printf '\n== %s\n' "$*"; }
ok() { printf 'ok: %s\n' "$*"; }
fail() {
	printf 'FAIL: %s\n' "$*"
	exit 1
}
# run: print the command, then run it (its output goes to the transcript)
run() {
	printf '# %s\n' "$*"
	"$@"
}
# prop UNIT NAME: one property of a unit, as systemctl show prints it
prop() {
	systemctl show -P "$2" "$1"
}
# eventually SECONDS COMMAND...: until COMMAND succeeds, at most SECONDS
eventually() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 5; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}
as_auditor() {
	runuser -u "$AUDITOR" -- "$@"
}

step "1. install the three packages (apt, from the files; the container has no network)"
systemctl is-system-running --wait || true
echo "systemd $(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p') is PID 1 ($(cat /proc/1/comm))"
[ "$(cat /proc/1/comm)" = systemd ] || fail "PID 1 is $(cat /proc/1/comm), not systemd"
run apt-get install -y "$SMK_PKG_DIR"/v1/smkeyd_*.deb "$SMK_PKG_DIR"/v1/smkey_*.deb \
	"$SMK_PKG_DIR"/v1/smkey-sim_*.deb
v1=$(dpkg-deb -f "$(ls "$SMK_PKG_DIR"/v1/smkeyd_*.deb)" Version)
for p in smkeyd smkey smkey-sim; do
	[ "$(dpkg-query -W -f='${Status} ${Version}' "$p")" = "install ok installed $v1" ] ||
		fail "$p is not installed at $v1: $(dpkg-query -W -f='${Status} ${Version}' "$p")"
done
ok "smkeyd, smkey, smkey-sim $v1 installed"
getent passwd smkeyd >/dev/null || fail "no user smkeyd after install (sysusers)"
getent group smkey >/dev/null || fail "no group smkey after install (sysusers)"
ok "system user smkeyd and group smkey exist (systemd-sysusers ran)"
trust=$(ls /etc/smkeyd/trust)
[ "$trust" = DESRCACC100001.cvcert ] || fail "the trust directory holds '$trust', not the production root alone"
ok "the trust directory holds the production root DESRCACC100001 alone"
[ ! -e /etc/smkeyd/hsm-pin ] || fail "the package shipped /etc/smkeyd/hsm-pin"
ok "no PIN file shipped"
for f in /etc/smkeyd/smkeyd.yaml /etc/smkeyd/policies.d/release-apk.yaml; do
	dpkg-query -W -f='${Conffiles}\n' smkeyd | grep -q " $f " || fail "$f is not a conffile"
done
ok "config and policies are conffiles"
[ "$(systemctl is-enabled smkeyd.socket || true)" = disabled ] || fail "smkeyd.socket enabled by the install"
[ "$(systemctl is-active smkeyd.service || true)" = inactive ] || fail "smkeyd.service started by the install"
ok "nothing enabled or started before the administrator asks"

step "2. a simulated card: smkey-sim behind the container's pcscd (vpcd)"
# Debian's pcscd exits after 60 s without clients (--auto-exit); the
# simulator's vpcd connection is not a client, so keep pcscd up for the test
mkdir -p /etc/systemd/system/pcscd.service.d
printf '[Service]\nExecStart=\nExecStart=/usr/sbin/pcscd --foreground\n' \
	>/etc/systemd/system/pcscd.service.d/no-auto-exit.conf
systemctl daemon-reload
run systemctl start pcscd.service
mkdir -p "$SIM"
run smkey-sim init --state "$SIM/card.json" --trust-out "$SIM/trust" --device 1 >/dev/null
run systemd-run --unit=smk-sim --property=Restart=on-failure --property=RestartSec=1 \
	smkey-sim run --state "$SIM/card.json" --port 35963 --log "$SIM/apdu.jsonl"
eventually 20 sh -c 'smkey card list | grep -q SmartCard-HSM' || fail "no SmartCard-HSM in pcscd after 20 s"
smkey card list
ok "pcscd sees the simulated SmartCard-HSM"
# this deployment trusts the simulator's test root; a real one never does
run cp "$SIM"/trust/ZZSIMRCA00001.cvcert /etc/smkeyd/trust/
(umask 077 && printf '%s\n' "$PIN" >/etc/smkeyd/hsm-pin)
ok "the PIN file written by the administrator, $(stat -c '%U:%G %a' /etc/smkeyd/hsm-pin)"
# WatchdogSec=60 pings every 30 s; a shorter interval lets the test see
# pings within seconds (only the interval differs from the shipped unit)
mkdir -p /etc/systemd/system/smkeyd.service.d
printf '[Service]\nWatchdogSec=6\n' >/etc/systemd/system/smkeyd.service.d/test-watchdog.conf
systemctl daemon-reload

step "3. systemctl enable --now smkeyd.socket"
run systemctl enable --now smkeyd.socket
[ "$(systemctl is-active smkeyd.socket)" = active ] || fail "smkeyd.socket is not active"
[ "$(systemctl is-active smkeyd.service || true)" = inactive ] || fail "smkeyd.service runs before any client"
[ "$(stat -c '%U:%G %a' /run/smkeyd/smkeyd.sock)" = "smkeyd:smkey 660" ] ||
	fail "socket is $(stat -c '%U:%G %a' /run/smkeyd/smkeyd.sock), not smkeyd:smkey 660"
ok "socket listening, smkeyd:smkey 0660; smkeyd.service not started yet"

step "4. the first smkey generate socket-activates smkeyd"
mkdir -p "$KEYS"
t0=$(date +%s%N)
run smkey generate --policy release-apk --label boot -o "$KEYS"
echo "(took $((($(date +%s%N) - t0) / 1000000)) ms, with smkeyd's start and its archive key)"
[ -s "$KEYS/apk-boot.bundle.json" ] || fail "no bundle $KEYS/apk-boot.bundle.json"
[ "$(systemctl is-active smkeyd.service)" = active ] || fail "smkeyd.service is not active after generate"
ok "smkeyd.service started by the socket and answered Generate"

step "5. READY, WATCHDOG=1, LoadCredential, state directory, reload"
systemctl show -p Type -p ActiveState -p SubState -p StatusText -p NotifyAccess -p WatchdogUSec \
	-p WatchdogTimestamp -p StateDirectory smkeyd.service
[ "$(prop smkeyd Type)" = notify ] || fail "Type=$(prop smkeyd Type), not notify"
[ "$(prop smkeyd ActiveState)/$(prop smkeyd SubState)" = active/running ] ||
	fail "smkeyd is $(prop smkeyd ActiveState)/$(prop smkeyd SubState)"
[ "$(prop smkeyd StatusText)" = serving ] || fail "StatusText is '$(prop smkeyd StatusText)', not serving"
ok "READY=1 reached systemd: Type=notify unit active/running, STATUS=serving"
pid=$(prop smkeyd MainPID)
wd1=$(prop smkeyd WatchdogTimestampMonotonic)
sleep 8
wd2=$(prop smkeyd WatchdogTimestampMonotonic)
[ "$wd2" -gt "$wd1" ] || fail "no WATCHDOG=1 in 8 s (WatchdogTimestampMonotonic stayed $wd1)"
{ [ "$(prop smkeyd MainPID)" = "$pid" ] && [ "$(prop smkeyd NRestarts)" = 0 ]; } ||
	fail "smkeyd was restarted (watchdog timeout?) pid $pid -> $(prop smkeyd MainPID)"
ok "WATCHDOG=1 arrived: last ping moved by $(((wd2 - wd1) / 1000)) ms within WatchdogSec=6, same pid, no restart"
# (systemctl show prints LoadCredential as [unprintable]: read the unit)
systemctl cat smkeyd.service | grep -qx 'LoadCredential=hsm-pin:/etc/smkeyd/hsm-pin' ||
	fail "no LoadCredential=hsm-pin:/etc/smkeyd/hsm-pin in the running unit"
grep -q '^ *pin-credential: hsm-pin' /etc/smkeyd/smkeyd.yaml || fail "the config does not read the PIN credential"
[ -f /run/credentials/smkeyd.service/hsm-pin ] || fail "systemd did not pass the credential hsm-pin"
if runuser -u smkeyd -- cat /etc/smkeyd/hsm-pin >/dev/null 2>&1; then
	fail "user smkeyd can read /etc/smkeyd/hsm-pin itself"
fi
ok "PIN through LoadCredential: the card accepted it (key made), user smkeyd cannot read /etc/smkeyd/hsm-pin"
[ "$(stat -c '%U:%G %a' /var/lib/smkeyd)" = "smkeyd:smkeyd 700" ] ||
	fail "/var/lib/smkeyd is $(stat -c '%U:%G %a' /var/lib/smkeyd)"
[ "$(stat -c '%U' /var/lib/smkeyd/archive.db)" = smkeyd ] || fail "archive.db is not smkeyd's"
ls -l /var/lib/smkeyd
ok "state directory /var/lib/smkeyd is smkeyd:smkeyd 0700 and holds the archive"
smkey policies | grep -q 'boot-extra' && fail "policy boot-extra listed before it exists"
sed -e 's/^name: release-apk$/name: boot-extra/' -e 's/^label: apk-/label: extra-/' \
	/etc/smkeyd/policies.d/release-apk.yaml >/etc/smkeyd/policies.d/boot-extra.yaml
run systemctl reload smkeyd.service
eventually 10 sh -c 'smkey policies | grep -q boot-extra' || fail "ListPolicies lacks boot-extra after reload"
smkey policies
[ "$(prop smkeyd MainPID)" = "$pid" ] || fail "the reload restarted smkeyd"
ok "systemctl reload: ListPolicies shows the new policy boot-extra, same pid $pid"
smkey log-key >/root/log.vkey
ok "log key: $(cat /root/log.vkey)"

step "8. systemd-analyze security on the running unit"
run systemd-analyze security --no-pager smkeyd.service | tail -n 3
exposure=$(systemd-analyze security --no-pager smkeyd.service 2>&1 |
	sed -n 's/.*Overall exposure level for smkeyd.service: *\([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "no exposure level from systemd-analyze security"
awk -v x="$exposure" 'BEGIN { exit !(x <= 1.0) }' || fail "exposure $exposure > 1.0"
ok "exposure $exposure <= 1.0"

step "6. stop smkeyd; smkey verify and smkey audit as an unprivileged auditor"
run systemctl stop smkeyd.service
[ "$(systemctl is-active smkeyd.service || true)" = inactive ] || fail "smkeyd still runs after stop"
useradd -m "$AUDITOR"
id "$AUDITOR"
if as_auditor smkey policies >/dev/null 2>&1; then
	fail "the auditor (not in group smkey) reached smkeyd's socket"
fi
ok "the auditor cannot reach smkeyd's socket"
home=$(getent passwd "$AUDITOR" | cut -d: -f6)
install -o "$AUDITOR" -m 0600 "$KEYS/apk-boot.bundle.json" /root/log.vkey "$home/"
# the auditor gets a copy of the archive (the database and its WAL, if any)
for f in /var/lib/smkeyd/archive.db /var/lib/smkeyd/archive.db-wal; do
	[ ! -e "$f" ] || install -o "$AUDITOR" -m 0600 "$f" "$home/"
done
cd "$home"
run as_auditor smkey verify apk-boot.bundle.json --trust /etc/smkeyd/trust --log "$(cat log.vkey)"
ok "smkey verify as $AUDITOR: exit 0 with the log pinned"
run as_auditor smkey audit archive.db --trust /etc/smkeyd/trust --log "$(cat log.vkey)"
ok "smkey audit as $AUDITOR: exit 0"
cd /

step "7. upgrade to a rebuilt package with a higher version"
printf '\n# kept across upgrades\n' >>/etc/smkeyd/smkeyd.yaml
yaml_sum=$(sha256sum </etc/smkeyd/smkeyd.yaml)
pin_before=$(sha256sum </etc/smkeyd/hsm-pin)
# smkeyd running at the upgrade: the package restarts it on the new binary
run smkey generate --policy boot-extra --label before -o "$KEYS"
pid=$(prop smkeyd MainPID)
records_before=$(smkey list | tail -n +2 | wc -l) # below the header line
v2=$(dpkg-deb -f "$(ls "$SMK_PKG_DIR"/v2/smkeyd_*.deb)" Version)
dpkg --compare-versions "$v2" gt "$v1" || fail "v2 $v2 is not above v1 $v1"
run apt-get install -y "$SMK_PKG_DIR"/v2/smkeyd_*.deb "$SMK_PKG_DIR"/v2/smkey_*.deb \
	"$SMK_PKG_DIR"/v2/smkey-sim_*.deb
for p in smkeyd smkey smkey-sim; do
	[ "$(dpkg-query -W -f='${Version}' "$p")" = "$v2" ] || fail "$p not at $v2 after the upgrade"
done
ok "upgraded $v1 -> $v2"
[ "$(sha256sum </etc/smkeyd/smkeyd.yaml)" = "$yaml_sum" ] || fail "the upgrade changed the edited smkeyd.yaml"
[ -f /etc/smkeyd/policies.d/boot-extra.yaml ] || fail "the upgrade removed the added policy"
# the package's tmpfiles snippet may only tighten it to root 0400
[ "$(sha256sum </etc/smkeyd/hsm-pin)" = "$pin_before" ] || fail "the upgrade changed the PIN file"
case $(stat -c '%U:%G %a' /etc/smkeyd/hsm-pin) in
"root:root 400" | "root:root 600") ;;
*) fail "the PIN file is $(stat -c '%U:%G %a' /etc/smkeyd/hsm-pin) after the upgrade" ;;
esac
[ -s /etc/smkeyd/trust/ZZSIMRCA00001.cvcert ] || fail "the upgrade removed a trust anchor"
ok "config edit, added policy, PIN file ($(stat -c '%U:%G %a' /etc/smkeyd/hsm-pin), same bytes) and trust anchors kept"
[ "$(systemctl is-enabled smkeyd.socket)" = enabled ] || fail "smkeyd.socket no longer enabled"
eventually 30 systemctl is-active --quiet smkeyd.service || fail "smkeyd not active after the upgrade"
[ "$(prop smkeyd MainPID)" != "$pid" ] || fail "smkeyd was not restarted by the upgrade (pid $pid)"
ok "socket still enabled; smkeyd restarted by the upgrade (pid $pid -> $(prop smkeyd MainPID))"
records_after=$(smkey list | tail -n +2 | wc -l)
[ "$records_after" = "$records_before" ] || fail "smkey list had $records_before records before, $records_after after"
ok "the archive survived: smkey list shows the same $records_after records"
run smkey generate --policy release-apk --label after -o "$KEYS"
smkey list
run smkey verify "$KEYS/apk-boot.bundle.json" --trust /etc/smkeyd/trust --log "$(cat /root/log.vkey)"
run smkey verify "$KEYS/extra-before.bundle.json" --trust /etc/smkeyd/trust --log "$(cat /root/log.vkey)" >/dev/null
ok "records made before the upgrade verify after it, with the same pinned log key"
run systemctl stop smkeyd.service
run smkey audit /var/lib/smkeyd/archive.db --trust /etc/smkeyd/trust --log "$(cat /root/log.vkey)"
ok "smkey audit of the archive after the upgrade: exit 0"

step "9. apt purge smkeyd: the archive is evidence and stays"
run apt-get purge -y smkeyd
[ -s /var/lib/smkeyd/archive.db ] || fail "apt purge removed the archive"
[ -f /etc/smkeyd/hsm-pin ] || fail "apt purge removed the administrator's PIN file"
[ ! -e /etc/smkeyd/smkeyd.yaml ] || fail "apt purge kept the config conffile"
ls -l /var/lib/smkeyd /etc/smkeyd
ok "apt purge smkeyd removed the conffiles, kept /var/lib/smkeyd and /etc/smkeyd/hsm-pin"
