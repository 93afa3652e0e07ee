#!/usr/bin/env bash
# gpu_check.sh [OUTDIR] - every GPU check of the CUDA backend in one call (about 4-5
# minutes on a fresh machine with one H200): build, the GPU tests and the per-op error
# table, LeNet-5 trained for 10 epochs in fp32, fp16 and bf16 (seeds 1-3), the backend's
# GEMM rates (lpt bench --gemm), throughput of lpt and of PyTorch (eager and graphed) in
# the same run, ncu kernel profiles of a LeNet-5 and a VGG step, compute-sanitizer on a
# short training run, and the memory planner (off and on) and shards on the GPU.
# Results: OUTDIR/summary.txt (the short table, also printed last) and
# OUTDIR/gpu-check.tgz (every log and JSON line).
#
# On the lent machine (no cmocka, no network): ../shared/device/prepare-carry.sh here
# first, then one call with carry [".device-carry"]:  bash experiments/gpu_check.sh $OUT
# Elsewhere it builds with the system's cmocka into build-gpu/ and expects Fashion-MNIST
# at /usr/share/datasets/fashion-mnist.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${1:-${OUT:-$root/gpu-check}}
mkdir -p "$out"
work=$(mktemp -d)
S=$out/summary.txt
: >"$S"
say() { echo "$*" | tee -a "$S"; }
t_start=$(date +%s)
elapsed() { echo "$(($(date +%s) - t_start)) s"; }
finish() {
    tar czf "$out/gpu-check.tgz" -C "$work" . 2>/dev/null
    say "== done in $(elapsed)"
    echo "---- summary ----"
    cat "$S"
}
trap finish EXIT

# ---- the machine ----
nvidia-smi >"$work/nvidia-smi.txt" 2>&1
say "== $(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv,noheader 2>&1 | head -1)"
say "== $(nproc) cores, $(gcc --version | head -1), $(nvcc --version | tail -1)"

# ---- build ----
if [ -d .device-carry/debs ]; then
    bash .device-carry/build-there.sh -DLPT_WERROR=ON >"$work/build.txt" 2>&1 || { cat "$work/build.txt"; exit 1; }
    cp build-device.log "$work/build-device.log" 2>/dev/null
    B=build-device
    data=$root/.device-carry/data
    if [ ! -e /usr/share/datasets/fashion-mnist ]; then
        mkdir -p /usr/share/datasets && ln -s "$data" /usr/share/datasets/fashion-mnist
    fi
else
    B=build-gpu
    { cmake -S . -B $B -DLPT_WERROR=ON && cmake --build $B -j"$(nproc)"; } >"$work/build.txt" 2>&1 || { tail -30 "$work/build.txt"; exit 1; }
fi
warn=$(grep -ci "warning" "$work/build.txt" "$work/build-device.log" 2>/dev/null | awk -F: '{s += $2} END {print s + 0}')
say "== built $B in $(elapsed) (warnings: $warn); $($B/lpt info | tail -n +2 | tr '\n' ' ')"

# ---- 1. the GPU tests, and the per-op table of cuda against ref ----
for t in backend_ops backend_dfp backend_step gradcheck igemm cuda; do
    timeout 300 $B/test_$t >"$work/test_$t.txt" 2>&1
    rc=$?
    say "test_$t: exit $rc ($(grep -c '\[       OK \]' "$work/test_$t.txt") ok, $(grep -c '\[  FAILED  \]' "$work/test_$t.txt") failed lines)"
done
grep -h "^  cuda " "$work/test_backend_ops.txt" "$work/test_backend_dfp.txt" | sort -u >"$work/ops_table.txt"
say "-- cuda vs ref, largest normalized error per op (0 = bit for bit):"
awk '{printf "   %s\n", $0}' "$work/ops_table.txt" | tee -a "$S" >/dev/null
grep -h "test accuracy" "$work/test_cuda.txt" | sed 's/^/   /' | tee -a "$S" >/dev/null

# ---- 2. LeNet-5, 10 epochs, seeds 1-3, fp32, fp16 and bf16 on the GPU ----
for seed in 1 2 3; do
    for p in fp32 fp16 bf16; do
        t0=$(date +%s.%N)
        $B/lpt train --backend cuda --precision $p --epochs 10 --seed $seed --no-progress \
            --metrics-out "$work/lenet_${p}_s$seed.jsonl" >"$work/train_${p}_s$seed.txt" 2>&1
        rc=$?
        say "LeNet-5 $p seed $seed cuda 10 epochs: exit $rc, $(awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $t0}") s | $(grep '^epoch 10/10' "$work/train_${p}_s$seed.txt" | tail -1)"
    done
done

# ---- 3. speed: lpt and PyTorch in the same run ----
bench() { $B/lpt bench --backend cuda --json --threads 1 "$@"; }
{
    for b in 64 256 1024; do bench --model lenet5 --batch $b --precision fp32 --steps 300 --warmup 50; done
    for b in 64 256 1024; do bench --model lenet5 --batch $b --precision fp32 --cuda-graph off --steps 300 --warmup 50; done
    bench --model lenet5 --batch 256 --precision fp16/bf16 --steps 300 --warmup 50
    bench --model vgg --batch 256 --precision fp16/bf16/fp32 --steps 100 --warmup 20
} >"$work/bench_lpt.jsonl" 2>"$work/bench_lpt.err"
$B/lpt bench --backend cuda --json --gemm 8192,8192,8192/128,65536,1152/128,1152,65536/256,16384,2304 \
    >"$work/bench_gemm.jsonl" 2>>"$work/bench_lpt.err"
say "-- lpt bench (cuda):"
sed 's/^/   /' "$work/bench_gemm.jsonl" | tee -a "$S" >/dev/null
sed 's/^/   /' "$work/bench_lpt.jsonl" | tee -a "$S" >/dev/null
export PYTHONUNBUFFERED=1
{
    timeout 240 python3 experiments/bench_torch_gpu.py --model lenet5 --batch 64,256,1024 --precision fp32 --gemm-rate
    timeout 150 python3 experiments/bench_torch_gpu.py --model vgg --batch 256 --precision fp16,bf16,fp32 --steps 100 --warmup 20
} >"$work/bench_torch.jsonl" 2>"$work/bench_torch.err"
say "-- PyTorch (same GPU, same run):"
sed 's/^/   /' "$work/bench_torch.jsonl" | tee -a "$S" >/dev/null

# ---- 4. kernel profiles of one step (ncu, clocks left alone) ----
prof() { # NAME ARGS...: 5 steps after 3 warm-up ones, kernel durations per name
    local name=$1
    shift
    timeout 120 ncu --clock-control none --metrics gpu__time_duration.sum --print-summary per-kernel \
        $B/lpt bench --backend cuda --threads 1 --steps 5 --warmup 3 "$@" >"$work/ncu_$name.txt" 2>&1
    say "ncu $name: exit $?"
}
prof lenet5_b256_fp32 --model lenet5 --batch 256 --precision fp32
prof vgg_b256_fp16 --model vgg --batch 256 --precision fp16

# ---- 5. compute-sanitizer on a short run, graphs on and off ----
for g in on off; do
    timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 $B/lpt train --backend cuda --epochs 1 \
        --train-limit 640 --test-limit 256 --no-progress --cuda-graph $g >"$work/memcheck_$g.txt" 2>&1
    say "compute-sanitizer memcheck (graphs $g): exit $? | $(grep -m1 'ERROR SUMMARY' "$work/memcheck_$g.txt")"
done

# ---- 5b. the memory planner and shards on the GPU: the same checkpoints ----
same() { # NAME ARGS...: 60 steps with the planner off and on (and a third variant), cmp
    name=$1; shift
    for v in off on; do
        $B/lpt train --backend cuda --epochs 1 --max-steps 60 --no-progress --quiet --memory-plan $v \
            --checkpoint "$work/plan_${name}_$v.ckpt" "$@" >"$work/plan_${name}_$v.txt" 2>&1
    done
    cmp -s "$work/plan_${name}_off.ckpt" "$work/plan_${name}_on.ckpt" && r=identical || r=DIFFER
    say "planner off/on, $name on cuda, 60 steps: $r"
}
same lenet_fp32 --precision fp32
same lenet_int8 --precision int8-dyn
same vgg_fp16 --model vgg --precision fp16
same lenet_shards4 --precision fp32 --shards 4

# ---- 6. the whole suite (CPU and GPU) under this machine's compilers ----
(cd $B && timeout 400 ctest -j8 -E fuzz --output-on-failure) >"$work/ctest.txt" 2>&1
say "ctest (all but fuzz): $(grep -E 'tests passed|tests failed' "$work/ctest.txt" | tail -1)"
