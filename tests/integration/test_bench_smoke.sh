#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The benchmark runner's smoke pass (tests/bench/run --quick), so ctest
# catches a runner that no longer runs: two keys per kind with latency off
# (smkeyd and OpenSC side by side, APDUs counted by the simulator), then
# the audit bench on 300 genuinely signed records in one round (one core
# and all cores, openssl speed samples before and after, the same report
# from both audits, checked by the runner) and smkey verify on a bundle.
# The figures mean nothing here: what is checked is that every result line
# is there, complete, and of the work asked for. Needs root (the runner
# enters its own namespaces, as every integration scenario).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SMK_BUILD_DIR=${SMK_BUILD_DIR:-$here/../../build}
export SMK_BUILD_DIR
unset SMK_IN_NAMESPACE
log=$SMK_BUILD_DIR/bench/smoke.log
mkdir -p "$SMK_BUILD_DIR/bench"
if ! bash "$here/../bench/run" --quick >"$log" 2>&1; then
	tail -n 30 "$log" >&2
	echo "[test_bench_smoke] FAIL: tests/bench/run --quick failed (log: $log)" >&2
	exit 1
fi
python3 - "$SMK_BUILD_DIR/bench/results.json" <<'EOF'
import json
import sys

rows = json.load(open(sys.argv[1]))["results"]
by = {}
for r in rows:
    by.setdefault(r["bench"], []).append(r)


def need(cond, what):
    if not cond:
        sys.exit(f"[test_bench_smoke] FAIL: {what}")


need(len(by.get("apdus", [])) == 6, "apdus: expected smkeyd cold, steady and OpenSC for EC and RSA")
sm_gakp = {}
for r in by["apdus"]:
    need(r["stats"]["apdus"] > 0, f"apdus: no APDU counted for {r['who']} {r['kind']}")
    gakp = r["stats"]["commands"].get("gakp", {"plain": 0, "sm": 0})
    if r["who"].startswith("smkeyd"):
        need(gakp["plain"] == 0, f"apdus: {r['who']} sent GAKP in plain ({r['kind']})")
        sm_gakp[r["kind"]] = sm_gakp.get(r["kind"], 0) + gakp["sm"]
need(sm_gakp.get("ec", 0) > 0 and sm_gakp.get("rsa", 0) > 0, f"apdus: smkeyd's GAKP under SM {sm_gakp}")
audit = by.get("audit", [])
need(len(audit) == 1, "audit: expected one round")
a = audit[0]
need(a["records"] == 300 and a["round"] == 1, "audit: not the 300-record round 1")
per = a["verifications_per_record"]
need(per.get("ecdsa brainpoolP256r1", 0) >= 1 and per.get("ecdsa prime256v1", 0) >= 2,
     f"audit: verifications per record {per}: a device signature and two P-256 expected")
for mode in ("single", "multi"):
    for kind in per:
        need(len(a["openssl_samples"][mode].get(kind, [])) == 2,
             f"audit: expected two openssl speed samples of {kind} ({mode})")
need(a["single"]["ratio"] > 0 and a["all"]["ratio_wall"] > 0 and a["all"]["speedup_wall"] > 0,
     "audit: a ratio is missing")
med = by.get("audit-median", [])
need(len(med) == 1 and med[0]["rounds"] == 1 and med[0]["single_ratio"] == a["single"]["ratio"],
     "audit-median: not the median of the one round")
need(len(by.get("verify", [])) == 1 and by["verify"][0]["wall_s"] > 0, "verify: no time")
EOF
echo "[test_bench_smoke] PASS"
