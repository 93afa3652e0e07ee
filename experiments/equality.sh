#!/bin/sh
# equality.sh BINARY OUTDIR - the runs whose artefacts must stay bit for bit the same
# across a refactor: 1-epoch LeNet-5 in fp32, fp16, int8-dyn, int16-dyn, auto and
# int8-dyn with stochastic rounding everywhere, the dfp presets with round-to-nearest
# gradients (no stochastic rounding at all: the dfp path alone), a mixed per-role run,
# and VGG fp32 for 100 steps (seed 1, 2 threads). Compare two OUTDIRs with
# experiments/equality_compare.py. (Runs with stochastic rounding change when the
# rounding streams change, as they did when they became keyed by layer and tensor.)
set -eu
bin=$(realpath "$1"); out=$2
mkdir -p "$out"; cd "$out"
run() { # NAME ARGS...
    name=$1; shift
    case $name in *fp32) stats= ;; *) stats="--stats-out $name.stats.jsonl" ;; esac
    # shellcheck disable=SC2086
    "$bin" train --seed 1 --threads 2 --quiet --metrics-out "$name.metrics.jsonl" \
        $stats --checkpoint "$name.ckpt" "$@" >"$name.log" 2>&1
    echo "$name: $(tail -1 "$name.log")"
}
for p in fp32 fp16 int8-dyn int16-dyn auto; do run "lenet-$p" --epochs 1 --precision "$p"; done
run lenet-int8-sr --epochs 1 --precision int8-dyn --rounding sr
for p in int8-dyn int16-dyn auto; do run "lenet-$p-rne" --epochs 1 --precision "$p" --rounding rne; done
run lenet-mixed --epochs 1 --precision w=dfp6,a=dfp8,g=bf16
run vgg-fp32 --model vgg --epochs 1 --max-steps 100 --precision fp32
