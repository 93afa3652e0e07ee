#!/usr/bin/env python3
"""Robustness matrix: does every precision stay within 2 points of fp32 at the settings
users actually run, and does any run end dead?

usage: experiments/robustness.py [--lpt build/lpt] [--jobs 2] [--out DIR] [--plan all|a|b|vgg]
                                 [--max-epochs N] [--list] [--table-only]

The full grid (LeNet-5 and a short VGG; precisions fp16, bf16, int16-dyn, int8-dyn, auto
against fp32; epochs 1, 2, 3, 10; seeds 1-5; lr 0.01, 0.05, 0.1; batch 32, 64, 128; 1 and
2 threads) is 4,320 LeNet-5 configurations alone, over 1,000 CPU hours. It is sampled:

  a  one factor at a time around the configuration that once died (LeNet-5, 2 epochs,
     seed 1, lr 0.05, batch 64, 1 thread): every value of every factor with the others
     at that point (13 configurations);
  b  40 configurations drawn uniformly from the LeNet-5 grid with epochs in {1, 2, 3}
     and 8 with 10 epochs (fixed draw, seed 2026);
  vgg the VGG model on the first 12,000 training images, 2 epochs: the same one factor at
     a time over seeds 1-3, lr and batch (7 configurations).

Every configuration runs in fp32 and in the five other precisions. A run is resumable:
its metrics file marks it done. Results: OUT/robustness.csv (one line per run) and
OUT/robustness.md (the table, the worst gap per precision, every run more than 2 points
below fp32, every run flagged dead).
"""
import argparse
import csv
import itertools
import json
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

PRECISIONS = ["fp32", "fp16", "bf16", "int16-dyn", "int8-dyn", "auto"]
BASE = dict(model="lenet5", epochs=2, seed=1, lr=0.05, batch=64, threads=1, limit=0)
GRID = dict(epochs=[1, 2, 3, 10], seed=[1, 2, 3, 4, 5], lr=[0.01, 0.05, 0.1], batch=[32, 64, 128],
            threads=[1, 2])


def plan_a():
    out = [dict(BASE)]
    for k, vals in GRID.items():
        for v in vals:
            c = dict(BASE, **{k: v})
            if c not in out:
                out.append(c)
    return out


def plan_b():
    rng = random.Random(2026)
    keys = list(GRID)
    full = [dict(BASE, **dict(zip(keys, vals))) for vals in itertools.product(*GRID.values())]
    short = [c for c in full if c["epochs"] < 10]
    long = [c for c in full if c["epochs"] == 10]
    return rng.sample(short, 40) + rng.sample(long, 8)


def plan_vgg():
    base = dict(BASE, model="vgg", limit=12000)
    out = [base]
    for k, vals in (("seed", [2, 3]), ("lr", [0.01, 0.1]), ("batch", [32, 128])):
        for v in vals:
            out.append(dict(base, **{k: v}))
    return out


def pct(x):
    return "-" if x is None else f"{100 * x:.2f}%"


def name_of(c, p):
    lim = f"_n{c['limit']}" if c["limit"] else ""
    return (f"{c['model']}{lim}_e{c['epochs']}_s{c['seed']}_lr{c['lr']}_b{c['batch']}_t{c['threads']}_{p}")


def result_of(out, name):
    """(done, test_acc, flagged_dead, status) of a finished run, or None"""
    m, log = os.path.join(out, name + ".jsonl"), os.path.join(out, name + ".log")
    if not os.path.exists(log):
        return None
    text = open(log, errors="replace").read()
    if "exit status" not in text:
        return None
    status = int(text.rsplit("exit status", 1)[1].split()[0])
    acc = None
    if os.path.exists(m):
        lines = [json.loads(l) for l in open(m) if l.strip()]
        if lines:
            acc = lines[-1]["test_acc"]
    dead = "flagged as dead" in text or "dead run" in text
    return dict(acc=acc, dead=dead, status=status)


def run_one(lpt, out, c, p):
    name = name_of(c, p)
    if result_of(out, name):
        return name
    args = [lpt, "train", "--model", c["model"], "--precision", p, "--epochs", str(c["epochs"]),
            "--seed", str(c["seed"]), "--lr", str(c["lr"]), "--batch", str(c["batch"]), "--threads",
            str(c["threads"]), "--no-progress", "--metrics-out", os.path.join(out, name + ".jsonl")]
    if c["limit"]:
        args += ["--train-limit", str(c["limit"])]
    t0 = time.time()
    # runs share the cores: OpenMP threads that sleep instead of spinning when they wait
    # (numerics do not depend on it; a 2-thread run next to another ran 4x slower spinning)
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "passive")
    with open(os.path.join(out, name + ".log"), "w") as f:
        f.write(" ".join(args) + "\n")
        f.flush()
        rc = subprocess.call(args, stdout=f, stderr=subprocess.STDOUT, env=env)
        f.write(f"exit status {rc} after {time.time() - t0:.0f} s\n")
    return name


def table(out, configs):
    rows = []
    for c in configs:
        base = result_of(out, name_of(c, "fp32"))
        for p in PRECISIONS:
            r = result_of(out, name_of(c, p))
            if r is None:
                continue
            gap = None
            if r["acc"] is not None and base and base["acc"] is not None:
                gap = 100 * (r["acc"] - base["acc"])
            rows.append(dict(c, precision=p, test_acc=r["acc"], fp32_acc=base["acc"] if base else None,
                             gap=gap, dead=r["dead"], status=r["status"]))
    with open(os.path.join(out, "robustness.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()) if rows else ["model"])
        w.writeheader()
        w.writerows(rows)
    md = ["# Robustness matrix", "",
          "Test accuracy of each precision against fp32 at the same settings (points; negative:",
          "below fp32). Made by `experiments/robustness.py`; the sampling is described there.", ""]
    md.append("| precision | runs | finished | worst gap | mean gap | more than 2 points below fp32 | flagged dead |")
    md.append("|---|---|---|---|---|---|---|")
    bad, dead = [], []
    for p in PRECISIONS:
        rs = [r for r in rows if r["precision"] == p]
        fin = [r for r in rs if r["status"] == 0 and r["test_acc"] is not None]
        gaps = [r["gap"] for r in fin if r["gap"] is not None]
        fp32_ok = lambda r: r["fp32_acc"] is not None and r["fp32_acc"] > 0.2
        below = [r for r in fin if r["gap"] is not None and r["gap"] < -2 and fp32_ok(r)]
        bad += below
        dead += [r for r in rs if r["dead"] or r["status"] != 0]
        worst = f"{min(gaps):+.2f}" if gaps and p != "fp32" else "-"
        mean = f"{sum(gaps) / len(gaps):+.2f}" if gaps and p != "fp32" else "-"
        md.append(f"| {p} | {len(rs)} | {len(fin)} | {worst} | {mean} | {len(below)} | "
                  f"{sum(1 for r in rs if r['dead'] or r['status'] != 0)} |")
    desc = lambda r: (f"{r['model']}{' (' + str(r['limit']) + ' images)' if r['limit'] else ''}, "
                      f"{r['epochs']} epochs, seed {r['seed']}, lr {r['lr']}, batch {r['batch']}, "
                      f"{r['threads']} thread{'s' if r['threads'] > 1 else ''}")
    md += ["", "## Runs more than 2 points below fp32", ""]
    md += [f"- {r['precision']}: {desc(r)}: {100 * r['test_acc']:.2f}% vs fp32 {100 * r['fp32_acc']:.2f}% "
           f"({r['gap']:+.2f})" for r in bad] or ["none"]
    md += ["", "## Runs flagged dead or failed", ""]
    md += [f"- {r['precision']}: {desc(r)}: exit status {r['status']}, test accuracy "
           f"{pct(r['test_acc'])}" for r in dead] or ["none"]
    md += ["", "## Every configuration (test accuracy, %)", ""]
    md.append("| configuration | " + " | ".join(PRECISIONS) + " |")
    md.append("|---|" + "---|" * len(PRECISIONS))
    for c in configs:
        cells = []
        for p in PRECISIONS:
            r = result_of(out, name_of(c, p))
            cells.append("" if r is None else ("failed" if r["acc"] is None else f"{100 * r['acc']:.2f}")
                         + (" dead" if r and r["dead"] else ""))
        md.append(f"| {desc(dict(c))} | " + " | ".join(cells) + " |")
    open(os.path.join(out, "robustness.md"), "w").write("\n".join(md) + "\n")
    return bad, dead


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lpt", default="build/lpt")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="experiments/results/robustness")
    ap.add_argument("--plan", default="all", choices=["all", "a", "b", "vgg"])
    ap.add_argument("--max-epochs", type=int, default=0, help="only configurations of at most this many epochs")
    ap.add_argument("--list", action="store_true", help="print the runs and exit")
    ap.add_argument("--table-only", action="store_true")
    a = ap.parse_args()
    plans = {"a": plan_a, "b": plan_b, "vgg": plan_vgg}
    configs = []
    for k in (["a", "b", "vgg"] if a.plan == "all" else [a.plan]):
        for c in plans[k]():
            if c not in configs and (not a.max_epochs or c["epochs"] <= a.max_epochs):
                configs.append(c)
    runs = [(c, p) for c in configs for p in PRECISIONS]
    if a.list:
        for c, p in runs:
            print(name_of(c, p))
        print(f"{len(configs)} configurations, {len(runs)} runs", file=sys.stderr)
        return 0
    os.makedirs(a.out, exist_ok=True)
    if not a.table_only:
        todo = [(c, p) for c, p in runs if not result_of(a.out, name_of(c, p))]
        # longest first, so that the pool ends together
        todo.sort(key=lambda cp: -(cp[0]["epochs"] * (10 if cp[0]["model"] == "vgg" else 1)))
        print(f"{len(runs)} runs, {len(todo)} to do, {a.jobs} at a time", flush=True)
        done = 0
        with ThreadPoolExecutor(a.jobs) as ex:
            for name in ex.map(lambda cp: run_one(a.lpt, a.out, *cp), todo):
                done += 1
                r = result_of(a.out, name)
                print(f"[{done}/{len(todo)}] {name}: "
                      f"{pct(r['acc'])}"
                      f"{' DEAD' if r['dead'] else ''}{'' if r['status'] == 0 else ' exit ' + str(r['status'])}",
                      flush=True)
    bad, dead = table(a.out, configs)
    print(open(os.path.join(a.out, "robustness.md")).read().split("## Every")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
