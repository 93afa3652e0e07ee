#!/usr/bin/env bash
# LeNet-5 on Fashion-MNIST, 10 epochs, default hyperparameters (batch 64, lr 0.05,
# momentum 0.9, weight decay 5e-4, cosine), seeds 1-3, for every precision; two runs at
# a time with one thread each (this machine has two cores). Then the table.
# Usage: [PRECISIONS="fp32 int8-dyn"] [SEEDS="2 3"] experiments/accuracy_lowprec.sh [build/lpt]
set -uo pipefail
cd "$(dirname "$0")/.."
lpt=${1:-build/lpt}
out=experiments/results
mkdir -p "$out"
jobs=()
for p in ${PRECISIONS:-int8-dyn fp32 int16-dyn fp16 bf16 auto}; do
  for s in ${SEEDS:-1 2 3}; do jobs+=("$p $s"); done
done
run() {
  set -- $1
  "$lpt" train --model lenet5 --precision "$1" --epochs 10 --seed "$2" --threads 1 --no-progress \
    --metrics-out "$out/lenet5_$1_seed$2.jsonl" > "$out/lenet5_$1_seed$2.log" 2>&1
}
i=0
while [ $i -lt ${#jobs[@]} ]; do
  run "${jobs[$i]}" &
  if [ $((i + 1)) -lt ${#jobs[@]} ]; then run "${jobs[$((i + 1))]}" & fi
  wait
  i=$((i + 2))
done
python3 experiments/accuracy_table.py
