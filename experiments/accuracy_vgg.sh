#!/usr/bin/env bash
# The vgg model on Fashion-MNIST, 10 epochs, default hyperparameters (batch 64, lr 0.05,
# momentum 0.9, weight decay 5e-4, cosine), seed 1, per precision (default: fp32 and
# int8-dyn; dfp8 is int8 with round-to-nearest-even gradients too), THREADS threads each,
# one after the other. Then the comparison table.
# Usage: [PRECISIONS="fp32 int8-dyn dfp8"] [THREADS=2] experiments/accuracy_vgg.sh [build/lpt]
set -uo pipefail
cd "$(dirname "$0")/.."
lpt=${1:-build/lpt}
out=experiments/results
mkdir -p "$out"
for p in ${PRECISIONS:-fp32 int8-dyn}; do
  extra=()
  [ "$p" != fp32 ] && extra=(--stats-out "/tmp/vgg_${p}_stats.jsonl")
  "$lpt" train --model vgg --precision "$p" --epochs 10 --seed 1 --threads "${THREADS:-2}" --no-progress \
    --metrics-out "$out/vgg_${p}_seed1.jsonl" "${extra[@]}" > "$out/vgg_${p}_seed1.log" 2>&1
  # the full statistics log is large (about 5 MB); keep one record as an excerpt
  [ "$p" != fp32 ] && grep '"layer": "conv2", "tensor": "dy"' "/tmp/vgg_${p}_stats.jsonl" | tail -n 1 \
    > "$out/vgg_${p}_stats_excerpt.jsonl"
done
python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
acc = {}
for p in ("fp32", "int8-dyn", "dfp8"):
    f = f"{out}/vgg_{p}_seed1.jsonl"
    if os.path.exists(f):
        recs = [json.loads(l) for l in open(f)]
        acc[p] = (100 * recs[-1]["test_acc"], 100 * recs[-1]["train_acc"])
rows = ["| precision | test accuracy | train accuracy | vs fp32 |", "|---|---|---|---|"]
for p, (te, tr) in acc.items():
    d = f"{te - acc['fp32'][0]:+.2f}" if "fp32" in acc else ""
    rows.append(f"| {p} | {te:.2f} | {tr:.2f} | {d} |")
text = "\n".join(rows) + "\n"
print(text)
open(f"{out}/accuracy_vgg.md", "w").write(text)
PY
