#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""tests/bench/audit_bound.py: the result line of bench 4 (smkey audit).

usage: audit_bound.py kinds REPORT
         the kinds of signature verification in REPORT's --stats section,
         one "COUNT KIND" line each
       audit_bound.py result DIR RECORDS JOBS GENERATOR_JSON ROUND
         the JSON result line of round ROUND from DIR: audit1.txt/.time
         (--jobs 1 on core 0), auditN.txt/.time (--jobs JOBS on every core)
         and rates.txt (lines "single|multi KIND RATE": openssl speed
         verify/s, two samples per kind and mode)
       audit_bound.py median < ROUNDS
         from the result lines of the rounds (standard input), one line
         with the median of each ratio and speedup, and every round's value

The ECDSA bound of an audit comes from the verifications it counted itself
(--stats), per record, and openssl speed's rate for each kind:
records/s = 1 / sum(verifications per record of kind k / rate of k), on one
core (openssl speed) and on all (openssl speed -multi JOBS).
"""
import json
import re
import sys


def kinds(report):
    out, inside = {}, False
    for line in open(report):
        line = line.rstrip("\n")
        if line == "Signature verifications":
            inside = True
        elif inside:
            m = re.match(r"^  (.+): (\d+) \(", line)
            if not m:
                break
            out[m.group(1)] = int(m.group(2))
    return out


def times(path):
    w, u, s = map(float, open(path).read().split()[-3:])
    return w, u + s


def bound(per_record, rates):
    return 1 / sum(v / rates[k] for k, v in per_record.items())


def result(d, n, jobs, gen, rnd):
    count = kinds(f"{d}/audit1.txt")
    if not count or count != kinds(f"{d}/auditN.txt"):
        sys.exit("audit_bound.py: no --stats section, or different counts on 1 and all threads")
    per = {k: v / n for k, v in count.items()}
    samples = {"single": {}, "multi": {}}
    for line in open(f"{d}/rates.txt"):
        mode, rest = line.split(" ", 1)
        kind, rate = rest.rsplit(" ", 1)
        samples[mode].setdefault(kind, []).append(float(rate))
    mean = {m: {k: sum(v) / len(v) for k, v in s.items()} for m, s in samples.items()}
    w1, c1 = times(f"{d}/audit1.time")
    wn, cn = times(f"{d}/auditN.time")
    b1, bn = bound(per, mean["single"]), bound(per, mean["multi"])
    r = {
        "bench": "audit", "round": rnd, "records": n, "jobs": jobs, "generator": gen,
        "verifications_per_record": {k: round(v, 4) for k, v in per.items()},
        "openssl_verify_per_s": {k: round(v, 1) for k, v in mean["single"].items()},
        "openssl_multi_verify_per_s": {k: round(v, 1) for k, v in mean["multi"].items()},
        "openssl_samples": samples,
        "single": {"wall_s": round(w1, 3), "cpu_s": round(c1, 3),
                   "records_per_s": round(n / c1, 1), "records_per_wall_s": round(n / w1, 1),
                   "bound_records_per_s": round(b1, 1), "ratio": round(n / c1 / b1, 3),
                   "ratio_wall": round(n / w1 / b1, 3)},
        "all": {"wall_s": round(wn, 3), "cpu_s": round(cn, 3),
                "records_per_wall_s": round(n / wn, 1), "bound_records_per_s": round(bn, 1),
                "ratio_wall": round(n / wn / bn, 3), "speedup_wall": round(w1 / wn, 3),
                "speedup_cpu_rate": round((n / wn) / (n / c1), 3)},
    }
    print(json.dumps(r, separators=(",", ":")))


def median(lines):
    rounds = [json.loads(x) for x in lines if x.strip()]
    if not rounds:
        sys.exit("audit_bound.py: no rounds")
    pick = {"single_ratio": ("single", "ratio"), "all_ratio_wall": ("all", "ratio_wall"),
            "speedup_wall": ("all", "speedup_wall")}
    r = {"bench": "audit-median", "rounds": len(rounds), "records": rounds[0]["records"],
         "jobs": rounds[0]["jobs"]}
    for name, (part, key) in pick.items():
        v = sorted(x[part][key] for x in rounds)
        mid = len(v) // 2
        r[name] = v[mid] if len(v) % 2 else round((v[mid - 1] + v[mid]) / 2, 3)
        r[name + "_rounds"] = [x[part][key] for x in rounds]
    print(json.dumps(r, separators=(",", ":")))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "kinds":
        for k, v in kinds(sys.argv[2]).items():
            print(v, k)
    elif len(sys.argv) == 7 and sys.argv[1] == "result":
        result(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), json.loads(sys.argv[5]),
               int(sys.argv[6]))
    elif len(sys.argv) == 2 and sys.argv[1] == "median":
        median(sys.stdin.readlines())
    else:
        sys.exit(__doc__)
