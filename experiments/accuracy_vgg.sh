#!/usr/bin/env bash
# The vgg model on Fashion-MNIST, 10 epochs, default hyperparameters (batch 64, lr 0.05,
# momentum 0.9, weight decay 5e-4, cosine), seed 1, in fp32 and int8-dyn: the two runs
# side by side with one thread each (this machine has two cores). Then the comparison.
# Usage: experiments/accuracy_vgg.sh [build/lpt]
set -uo pipefail
cd "$(dirname "$0")/.."
lpt=${1:-build/lpt}
out=experiments/results
mkdir -p "$out"
for p in fp32 int8-dyn; do
  extra=()
  [ "$p" != fp32 ] && extra=(--stats-out "$out/vgg_${p}_stats.jsonl")
  rm -f "$out/vgg_${p}_stats.jsonl"
  "$lpt" train --model vgg --precision "$p" --epochs 10 --seed 1 --threads 1 --no-progress \
    --metrics-out "$out/vgg_${p}_seed1.jsonl" "${extra[@]}" > "$out/vgg_${p}_seed1.log" 2>&1 &
done
wait
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
acc = {}
for p in ("fp32", "int8-dyn"):
    recs = [json.loads(l) for l in open(f"{out}/vgg_{p}_seed1.jsonl")]
    acc[p] = 100 * recs[-1]["test_acc"]
text = ("| model | fp32 | int8-dyn | difference |\n|---|---|---|---|\n"
        f"| vgg, seed 1, 10 epochs | {acc['fp32']:.2f} | {acc['int8-dyn']:.2f} | {acc['int8-dyn'] - acc['fp32']:+.2f} |\n")
print(text)
open(f"{out}/accuracy_vgg.md", "w").write(text)
PY
