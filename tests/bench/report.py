#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""report.py RESULTS.jsonl OUTDIR: results.json and results.md from the
result lines tests/bench/run wrote."""
import json
import os
import platform
import subprocess
import sys


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release()}


def main(argv):
    rows = [json.loads(l) for l in open(argv[1]) if l.strip()]
    out = argv[2]
    doc = {"machine": machine(), "results": rows}
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    md = []
    apdus = [r for r in rows if r["bench"] == "apdus"]
    if apdus:
        md.append("### 1. APDUs and bytes per attested key (smkey-sim counters)\n")
        md.append("| key | who | keys | APDUs/key | bytes in/key | bytes out/key | vs OpenSC |")
        md.append("|---|---|---|---|---|---|---|")
        for kind in ("ec", "rsa"):
            ref = [r for r in apdus if r["kind"] == kind and r["who"] == "opensc"]
            ref_apdu = ref[0]["stats"]["apdus"] / ref[0]["keys"] if ref else None
            for r in [r for r in apdus if r["kind"] == kind]:
                k = r["keys"]
                s = r["stats"]
                per = s["apdus"] / k
                ratio = f"{per / ref_apdu:.2f}" if ref_apdu else "-"
                md.append(f"| {kind} | {r['who']} | {k} | {per:.1f} | {s['bytes_in'] / k:.0f} "
                          f"| {s['bytes_out'] / k:.0f} | {ratio} |")
        md.append("")
    lat = [r for r in rows if r["bench"] == "latency"]
    if lat:
        md.append("### 2. Wall time per key, genuine latency model (steady state, 1 client)\n")
        md.append("| key | who | keys | wall s/key | card busy s/key | wall / card busy | smkeyd / OpenSC |")
        md.append("|---|---|---|---|---|---|---|")
        for kind in ("ec", "rsa"):
            per = {}
            for r in [r for r in lat if r["kind"] == kind]:
                wall = sum(r["run"]["per_key_s"]) if "run" in r else r["wall_s"]
                per[r["who"]] = (wall / r["keys"], r["card_busy_s"] / r["keys"], r["keys"])
            for who, (w, b, k) in per.items():
                vs = f"{w / per['opensc'][0]:.2f}" if "opensc" in per else "-"
                md.append(f"| {kind} | {who} | {k} | {w:.3f} | {b:.3f} | {w / b:.3f} | {vs} |")
        md.append("")
    sc = [r for r in rows if r["bench"] == "scaling"]
    if sc:
        md.append("### 3. Scaling over simulators (EC P-256, genuine latency model)\n")
        md.append("| run | HSMs | clients | keys | wall s | keys/s | vs 1 HSM | GAKP per card "
                  "| SIGN per card | archive SIGN per key | checkpoints / records |")
        md.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for run in sorted({r.get("run_no", 1) for r in sc}):
            base = None
            for r in sorted([r for r in sc if r.get("run_no", 1) == run], key=lambda r: r["hsms"]):
                kps = r["run"]["keys"] / r["run"]["wall_s"]
                base = base or kps
                per_card = lambda k: " / ".join(str(x) for x in r.get(k, [])) or "-"
                batch = f"{r['checkpoints']} / {r['records']}" if "records" in r else "-"
                # card 0 holds the archive key: its SIGNs per measured key
                signs = r.get("sign_per_card", [])
                spk = f"{signs[0] / r['run']['keys']:.3f}" if signs else "-"
                md.append(f"| {run} | {r['hsms']} | {r['clients']} | {r['run']['keys']} "
                          f"| {r['run']['wall_s']:.2f} | {kps:.2f} | {kps / base:.2f}x "
                          f"| {per_card('gakp_per_card')} | {per_card('sign_per_card')} | {spk} "
                          f"| {batch} |")
        md.append("")
    au = [r for r in rows if r["bench"] == "audit"]
    if au:
        md.append("### 4. smkey audit on one core and on all cores vs the ECDSA verifications it counted\n")
        md.append("| round | records | jobs | verifications per record | 1 thread CPU s | 1 thread wall s "
                  "| records/s (CPU) | bound 1 core | 1 core / bound (CPU) | all-core wall s "
                  "| records/s (wall) | bound all cores (-multi) | all / bound (wall) "
                  "| speedup (wall) | all-core wall rate / 1-core CPU rate | generator s | archive MB |")
        md.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in au:
        s, a = r["single"], r["all"]
        per = ", ".join(f"{k} {v:g}" for k, v in sorted(r["verifications_per_record"].items()))
        g = r.get("generator", {})
        gs = f"{g['seconds']:.0f}" if "seconds" in g else "-"
        mb = f"{g['bytes'] / 1e6:.0f}" if "bytes" in g else "-"
        md.append(f"| {r.get('round', '-')} | {r['records']} | {r['jobs']} | {per} "
                  f"| {s['cpu_s']:.2f} | {s['wall_s']:.2f} "
                  f"| {s['records_per_s']:.0f} | {s['bound_records_per_s']:.0f} | {s['ratio']:.2f} "
                  f"| {a['wall_s']:.2f} | {a['records_per_wall_s']:.0f} "
                  f"| {a['bound_records_per_s']:.0f} | {a['ratio_wall']:.2f} "
                  f"| {a['speedup_wall']:.2f} | {a['speedup_cpu_rate']:.2f} | {gs} | {mb} |")
    for r in (x for x in rows if x["bench"] == "audit-median"):
        md.append(f"\nMedian of {r['rounds']} rounds ({r['records']} records, {r['jobs']} jobs): "
                  f"1 core / bound {r['single_ratio']:.2f}, all / bound {r['all_ratio_wall']:.2f}, "
                  f"speedup {r['speedup_wall']:.2f} (rounds: "
                  + ", ".join(f"{a:.2f}/{b:.2f}/{c:.2f}" for a, b, c in
                              zip(r["single_ratio_rounds"], r["all_ratio_wall_rounds"],
                                  r["speedup_wall_rounds"])) + ")")
    if au:
        md.append("")
    ve = [r for r in rows if r["bench"] == "verify"]
    if ve:
        md.append(f"smkey verify on one bundle: {ve[0]['wall_s'] * 1000:.1f} ms (best of 5, process start included)\n")
    so = [r for r in rows if r["bench"] == "socket"]
    if so:
        md.append("### 5. Socket protocol (tests/bench/load.c, one call in flight per connection)\n")
        md.append("| method | connections | in flight each | calls | s | calls/s | p50 µs | p99 µs |")
        md.append("|---|---|---|---|---|---|---|---|")
        for r in so:
            run = r["run"]
            lat = run.get("latency_us", {})
            md.append(f"| {r['method']} | {r['clients']} | {r.get('pipelined', 1)} | {run['calls']} "
                      f"| {run['wall_s']:.2f} | {run['calls'] / run['wall_s']:.0f} "
                      f"| {lat.get('p50', 0):.0f} | {lat.get('p99', 0):.0f} |")
        md.append("")
    ps = [r for r in rows if r["bench"] == "p11sign"]
    if ps:
        md.append("### p11sign: ECDSA-SHA256 signatures/s through a PKCS#11 module (genuine latency)\n")
        md.append("| module | signature records | archive key | signatures | s | signatures/s | vs OpenSC | APDUs/signature | card busy ms/signature |")
        md.append("|---|---|---|---|---|---|---|---|---|")
        ref = [r for r in ps if r["who"] == "opensc"]
        for r in ps:
            rate = r["run"]["per_s"]
            rel = "%.2fx" % (rate / ref[0]["run"]["per_s"]) if ref else ""
            logged = {True: "yes", False: "no"}.get(r.get("log"), "-")
            n = r["run"]["signatures"]
            md.append("| %s | %s | %s | %d | %.2f | %.2f | %s | %.1f | %.0f |" % (
                r["who"], logged, r.get("archive_key", "-"), n, r["run"]["seconds"], rate, rel, r.get("apdus", 0) / n,
                1000 * float(r.get("card_busy_s", 0)) / n))
        md.append("")
    sa = [r for r in rows if r["bench"] == "scale"]
    if sa:
        md.append("### scale: smkeyd's start on a small and a large archive (medians of the runs)\n")
        md.append("| records | runs | open ms | open CPU ms | pages read | RSS after KiB "
                  "| index built | open intents, one open µs |")
        md.append("|---|---|---|---|---|---|---|---|")
        for n in sorted({r["run"]["records"] for r in sa}):
            runs = [r["run"] for r in sa if r["run"]["records"] == n]

            def med(k):
                v = sorted(x[k] for x in runs)
                return v[len(v) // 2]
            built = sum(1 for x in runs if x.get("index_built_at_open"))
            md.append(f"| {n} | {len(runs)} | {med('open_ms'):.1f} | {med('open_cpu_ms'):.1f} "
                      f"| {med('open_pages_read')} | {med('rss_kib_after_open')} | {built} "
                      f"| {med('pending_one_open_us'):.0f} |")
        md.append("")
    ks = [r for r in rows if r["bench"] == "keys"]
    for r in ks:
        k = r["run"]
        md.append(f"keys: {k['keys']} Generate calls in-process ({k['cards']} simulators, zero "
                  f"latency), {k['keys_per_s']:.1f} keys/s; VmRSS {k['rss_kib_after_10']} KiB "
                  f"after 10, {k['rss_kib_after_%d' % k['keys']]} KiB after {k['keys']} "
                  f"(+{k['growth_kib']} KiB)\n")
    for r in (r for r in rows if r["bench"] == "latency-large"):
        wall = r["run"]["wall_s"]
        md.append(f"latency-large: {r['keys']} EC keys on a {r['records']}-record archive, "
                  f"wall {wall:.2f} s, card busy {float(r['card_busy_s']):.2f} s, "
                  f"wall / busy {wall / float(r['card_busy_s']):.3f}\n")
    rss = [r for r in rows if r["bench"] == "rss"]
    if rss:
        kinds = sorted({k for r in rss for k in r.get("smaps_kib", {})})
        md.append("| smkeyd RSS | MiB | " + " | ".join(f"{k} MiB" for k in kinds) + " |")
        md.append("|---|---|" + "---|" * len(kinds))
        for r in rss:
            sm = r.get("smaps_kib", {})
            md.append(f"| {r['state']} | {r['rss_kib'] / 1024:.1f} | "
                      + " | ".join(f"{sm.get(k, 0) / 1024:.1f}" for k in kinds) + " |")
        md.append("")
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
