#!/usr/bin/python3
"""Low-precision training step time against FP32, and the statistics unit's share.

Each round runs `lpt bench --precision fp32/int8-dyn/int16-dyn` once per thread count:
one process measures the three precisions back to back, so every ratio is taken within
one run. Inside a quantized run, `lpt bench` alternates blocks of steps with the
statistics unit's analysis on and off (quantizing at the current FLs); the share is
1 - t(off) / t(on). Prints per-round figures, then medians over the rounds (this VM's
timings drift between runs, the median is the figure to quote) as a table and one JSON
line; with --out, writes the JSON there.

Usage: /usr/bin/python3 experiments/bench_lowprec.py [--rounds 5] [--steps 200]
       [--threads 1,2] [--model lenet5] [--lpt build/lpt] [--out FILE]
"""
import argparse
import json
import os
import statistics
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
PRECISIONS = ["fp32", "int8-dyn", "int16-dyn"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--model", default="lenet5")
    ap.add_argument("--lpt", default=os.path.join(HERE, "..", "build", "lpt"))
    ap.add_argument("--out")
    a = ap.parse_args()
    seen = {}  # (threads, precision) -> [(ms, ratio, share)]
    for r in range(a.rounds):
        for t in a.threads.split(","):
            out = subprocess.run([a.lpt, "bench", "--model", a.model, "--threads", t, "--steps", str(a.steps),
                                  "--precision", "/".join(PRECISIONS), "--json"],
                                 check=True, capture_output=True, text=True).stdout
            for rec in (json.loads(l) for l in out.splitlines() if l.startswith("{")):
                if rec["stats_share"] is None:  # fp32: no statistics unit
                    rec["stats_share"] = 0.0
                key = (int(t), rec["precision"])
                seen.setdefault(key, []).append((rec["ms_per_step"], rec["step_time_ratio"], rec["stats_share"]))
                print(f"round {r + 1} threads {t} {rec['precision']:>9}: {rec['ms_per_step']:7.3f} ms/step "
                      f"ratio {rec['step_time_ratio']:.3f} statistics unit {100 * rec['stats_share']:5.1f}%",
                      flush=True)
    summary = []
    print(f"\n| threads | precision | ms/step (median) | step time / fp32 (median, range) | statistics unit share (median, range) |")
    print("|---|---|---|---|---|")
    for (t, p), v in sorted(seen.items(), key=lambda kv: (kv[0][0], PRECISIONS.index(kv[0][1]))):
        ms = statistics.median(x[0] for x in v)
        ratios = [x[1] for x in v]
        shares = [x[2] for x in v]
        summary.append({"threads": t, "precision": p, "ms_per_step": ms, "ratio": statistics.median(ratios),
                        "ratio_min": min(ratios), "ratio_max": max(ratios), "stats_share": statistics.median(shares),
                        "stats_share_min": min(shares), "stats_share_max": max(shares), "rounds": len(v)})
        s = summary[-1]
        share = "" if p == "fp32" else \
            f"{100 * s['stats_share']:.1f}% ({100 * s['stats_share_min']:.1f}-{100 * s['stats_share_max']:.1f})"
        print(f"| {t} | {p} | {ms:.3f} | {s['ratio']:.2f}x ({s['ratio_min']:.2f}-{s['ratio_max']:.2f}) | {share} |")
    line = json.dumps({"model": a.model, "steps": a.steps, "results": summary})
    print(line)
    if a.out:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(line + "\n")
        os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
