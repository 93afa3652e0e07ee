#!/usr/bin/env python3
"""Table of final test accuracies from experiments/results/lenet5_<precision>_seed<s>.jsonl
(and the mean dfp width from the .log of auto runs); writes results/accuracy_lenet5.md."""
import json
import os
import re
import statistics

HERE = os.path.dirname(os.path.abspath(__file__))
RES = os.path.join(HERE, "results")
rows = []
base = None
for p in ["fp32", "fp16", "bf16", "int16-dyn", "int8-dyn", "auto"]:
    accs, width = [], []
    for s in (1, 2, 3):
        f = os.path.join(RES, f"lenet5_{p}_seed{s}.jsonl")
        if not os.path.exists(f):
            continue
        recs = [json.loads(l) for l in open(f)]
        if len(recs) < 10:
            continue
        accs.append(100 * recs[-1]["test_acc"])
        log = os.path.join(RES, f"lenet5_{p}_seed{s}.log")
        if os.path.exists(log):
            # the run's own summary: the mean width over the tensors it observed
            m = re.search(r"mean dfp width over the \d+ (?:observed|dfp) tensors: ([0-9.]+) bits", open(log).read())
            if m:
                width.append(float(m.group(1)))
    if not accs:
        continue
    mean = statistics.mean(accs)
    sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
    if p == "fp32":
        base = mean
    rows.append((p, accs, mean, sd, statistics.mean(width) if width else None))
lines = ["| precision | seeds | test accuracy (per seed) | mean | sd | vs fp32 | mean dfp width |",
         "|---|---|---|---|---|---|---|"]
for p, accs, mean, sd, w in rows:
    d = f"{mean - base:+.2f}" if base is not None else ""
    lines.append(f"| {p} | {len(accs)} | {' / '.join(f'{a:.2f}' for a in accs)} | {mean:.2f} | {sd:.2f} | {d} | "
                 f"{'' if w is None else f'{w:.2f}'} |")
text = "\n".join(lines) + "\n"
print(text)
with open(os.path.join(RES, "accuracy_lenet5.md"), "w") as f:
    f.write(text)
