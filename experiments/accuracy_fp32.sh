#!/usr/bin/env bash
# LeNet-5 FP32 on Fashion-MNIST, 10 epochs, default hyperparameters (lr 0.05,
# momentum 0.9, weight decay 5e-4 on weights, cosine schedule, batch 64, 2 threads),
# seeds 1-3. Writes experiments/results/lenet5_fp32_seed<S>.jsonl and prints the final
# test accuracy of each seed with the mean. Usage: experiments/accuracy_fp32.sh [build/lpt]
set -euo pipefail
cd "$(dirname "$0")/.."
lpt=${1:-build/lpt}
for s in 1 2 3; do
  "$lpt" train --model lenet5 --precision fp32 --epochs 10 --seed "$s" --quiet \
    --metrics-out "experiments/results/lenet5_fp32_2threads_seed$s.jsonl"
done
python3 - <<'PY'
import json, statistics
accs = []
for s in (1, 2, 3):
    last = [json.loads(l) for l in open(f"experiments/results/lenet5_fp32_2threads_seed{s}.jsonl")][-1]
    accs.append(100 * last["test_acc"])
    print(f"seed {s}: test accuracy {accs[-1]:.2f}%")
print(f"mean {statistics.mean(accs):.2f}%, min {min(accs):.2f}%, max {max(accs):.2f}%")
PY
