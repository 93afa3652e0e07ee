#!/usr/bin/python3
"""LeNet-5 FP32 training throughput: lpt against PyTorch, measured in the same run.

Runs `lpt bench` (build/lpt) and the PyTorch peer (bench_torch.py, same network, batch,
optimizer and synthetic input) at 1 and 2 threads, alternating the two engines over
`--rounds` rounds so that drift of the machine hits both alike, and keeps each
engine's best thread count. Prints a table and one JSON summary line; with --out,
writes the summary there atomically.

Usage: /usr/bin/python3 experiments/bench_lenet.py [--batch 64] [--steps 300]
       [--rounds 3] [--lpt build/lpt] [--out FILE]
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--lpt", default=os.path.join(HERE, "..", "build", "lpt"))
    ap.add_argument("--out")
    a = ap.parse_args()
    best = {}  # (engine, threads) -> images/s
    seen = {}  # (engine, threads) -> every round's images/s
    for r in range(a.rounds):
        lpt = run_json([a.lpt, "bench", "--model", "lenet5", "--batch", str(a.batch),
                        "--steps", str(a.steps), "--threads", a.threads, "--json"])
        torch = run_json([sys.executable, os.path.join(HERE, "bench_torch.py"), "--batch",
                          str(a.batch), "--steps", str(a.steps), "--threads", a.threads])
        for rec, eng in [(x, "lpt") for x in lpt] + [(x, "pytorch") for x in torch]:
            k = (eng, rec["threads"])
            best[k] = max(best.get(k, 0.0), rec["images_per_s"])
            seen.setdefault(k, []).append(rec["images_per_s"])
        print(f"round {r + 1}/{a.rounds}: " + ", ".join(
            f"{e} {t}t {v[-1]:.0f}" for (e, t), v in sorted(seen.items())), file=sys.stderr)
    med = {k: statistics.median(v) for k, v in seen.items()}
    print(f"{'engine':<10} {'threads':>7} {'best img/s':>11} {'median':>9}")
    for (e, t), v in sorted(best.items()):
        print(f"{e:<10} {t:>7} {v:>11.0f} {med[(e, t)]:>9.0f}")
    lt, lv = max(((t, v) for (e, t), v in best.items() if e == "lpt"), key=lambda x: x[1])
    pt, pv = max(((t, v) for (e, t), v in best.items() if e == "pytorch"), key=lambda x: x[1])
    summary = {"model": "lenet5", "precision": "fp32", "batch": a.batch,
               "lpt_images_per_s": round(lv, 1), "lpt_threads": lt,
               "pytorch_images_per_s": round(pv, 1), "pytorch_threads": pt,
               "ratio": round(lv / pv, 3),
               "ratio_of_medians": round(max(v for (e, _), v in med.items() if e == "lpt") /
                                         max(v for (e, _), v in med.items() if e == "pytorch"), 3),
               "rounds": a.rounds,
               "best": {f"{e}/{t}": round(v, 1) for (e, t), v in sorted(best.items())},
               "median": {f"{e}/{t}": round(v, 1) for (e, t), v in sorted(med.items())}}
    print(f"lpt best {lv:.0f} images/s ({lt} threads), PyTorch best {pv:.0f} images/s "
          f"({pt} threads): ratio {lv / pv:.2f}x")
    print(json.dumps(summary))
    if a.out:
        with open(a.out + ".tmp", "w") as f:
            f.write(json.dumps(summary, indent=1) + "\n")
        os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
