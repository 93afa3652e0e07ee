#!/usr/bin/python3
"""LeNet-5 FP32 training throughput: lpt against PyTorch, measured in the same run.

Runs `lpt bench` (build/lpt) and the PyTorch peer (bench_torch.py, same network, batch,
optimizer and synthetic input) at each thread count, alternating the engines over
`--rounds` rounds so that drift of the machine hits all alike, and keeps each engine's
best thread count. `--torch` names the Python interpreters to run the peer with (one
per PyTorch version: Debian's python3-torch 1.13 under /usr/bin/python3, a current one
from PyPI in a venv); `--load N` keeps N other busy processes (`yes > /dev/null`)
running during the measurement, as on a shared machine. Prints a table and one JSON
summary line; with --out, writes the summary there atomically.

Usage: python3 experiments/bench_lenet.py [--batch 64] [--steps 300] [--rounds 3]
       [--threads 1,2] [--torch /usr/bin/python3,V/bin/python] [--load N]
       [--lpt build/lpt] [--out FILE]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def measure(a):
    """Every round: lpt, then each PyTorch. Returns best and every round's images/s per
    (engine, threads); the engine of a peer is "pytorch-VERSION"."""
    best, seen = {}, {}
    for r in range(a.rounds):
        recs = [("lpt", x) for x in run_json([a.lpt, "bench", "--model", "lenet5", "--batch", str(a.batch),
                                              "--steps", str(a.steps), "--threads", a.threads, "--json"])]
        for py in a.torch.split(","):
            for x in run_json([py, os.path.join(HERE, "bench_torch.py"), "--batch", str(a.batch),
                               "--steps", str(a.steps), "--threads", a.threads]):
                recs.append((f"pytorch-{x['version'].split('+')[0]}", x))
        for eng, rec in recs:
            k = (eng, rec["threads"])
            best[k] = max(best.get(k, 0.0), rec["images_per_s"])
            seen.setdefault(k, []).append(rec["images_per_s"])
        print(f"round {r + 1}/{a.rounds}: " + ", ".join(
            f"{e} {t}t {v[-1]:.0f}" for (e, t), v in sorted(seen.items())), file=sys.stderr)
    return best, seen


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--lpt", default=os.path.join(HERE, "..", "build", "lpt"))
    ap.add_argument("--torch", default=sys.executable,
                    help="Python interpreters with PyTorch, comma-separated [this one]")
    ap.add_argument("--load", type=int, default=0, help="busy processes beside the benchmark [0]")
    ap.add_argument("--out")
    a = ap.parse_args()
    busy = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) for _ in range(a.load)]
    try:
        best, seen = measure(a)
    finally:
        for p in busy:
            p.kill()
    med = {k: statistics.median(v) for k, v in seen.items()}
    print(f"{'engine':<16} {'threads':>7} {'best img/s':>11} {'median':>9}")
    for (e, t), v in sorted(best.items()):
        print(f"{e:<16} {t:>7} {v:>11.0f} {med[(e, t)]:>9.0f}")
    lt, lv = max(((t, v) for (e, t), v in best.items() if e == "lpt"), key=lambda x: x[1])
    lmed = max(v for (e, _), v in med.items() if e == "lpt")
    summary = {"model": "lenet5", "precision": "fp32", "batch": a.batch, "load": a.load,
               "lpt_images_per_s": round(lv, 1), "lpt_threads": lt, "peers": {},
               "rounds": a.rounds,
               "best": {f"{e}/{t}": round(v, 1) for (e, t), v in sorted(best.items())},
               "median": {f"{e}/{t}": round(v, 1) for (e, t), v in sorted(med.items())}}
    for peer in sorted({e for e, _ in best if e != "lpt"}):
        pt, pv = max(((t, v) for (e, t), v in best.items() if e == peer), key=lambda x: x[1])
        pmed = max(v for (e, _), v in med.items() if e == peer)
        summary["peers"][peer] = {"images_per_s": round(pv, 1), "threads": pt, "ratio": round(lv / pv, 3),
                                  "ratio_of_medians": round(lmed / pmed, 3)}
        print(f"lpt best {lv:.0f} images/s ({lt} threads), {peer} best {pv:.0f} images/s "
              f"({pt} threads): ratio {lv / pv:.2f}x")
    print(json.dumps(summary))
    if a.out:
        with open(a.out + ".tmp", "w") as f:
            f.write(json.dumps(summary, indent=1) + "\n")
        os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
