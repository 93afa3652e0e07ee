#!/usr/bin/env python3
"""PyTorch peer for `lpt bench --backend cuda`: training throughput on one GPU.

Same networks as lpt's built-in lenet5 and vgg, same batch, SGD with momentum 0.9 and
weight decay 5e-4, and the data held on the GPU: a set of 8 batches in device memory,
each step's batch gathered there by index (as lpt gathers its batches). Each
configuration runs eager and with the whole step (forward, loss, backward, update)
captured in one CUDA graph and replayed; times are CUDA-event times over `--steps`
steps after `--warmup`. fp16/bf16 use autocast (fp16 eager with a GradScaler; graphed
without one, at scale 1). Prints one JSON line per measurement, and with --gemm-rate the
cuBLAS rate of an 8192^3 fp16 and fp32 product (the ceiling to compare GEMMs against).

usage: bench_torch_gpu.py [--model lenet5|vgg] [--batch 64,256] [--precision fp32,fp16,bf16]
                          [--steps 200] [--warmup 30] [--gemm-rate]
"""
import argparse, json, sys
import torch
import torch.nn as nn


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def vgg():
    def block(i, o):
        return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
    return nn.Sequential(
        *block(1, 32), *block(32, 32), nn.MaxPool2d(2),
        *block(32, 64), *block(64, 64), nn.MaxPool2d(2),
        *block(64, 128), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(128 * 3 * 3, 256, bias=False), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(256, 10))


def measure(model, batch, prec, graphed, steps, warmup):
    torch.manual_seed(0)
    dev = torch.device("cuda")
    net = (lenet5() if model == "lenet5" else vgg()).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    lossf = nn.CrossEntropyLoss()
    data = torch.randn(8 * batch, 1, 28, 28, device=dev)
    labels = torch.randint(0, 10, (8 * batch,), device=dev)
    order = torch.randperm(8 * batch, device=dev)
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(prec)
    scaler = torch.amp.GradScaler("cuda") if prec == "fp16" and not graphed else None
    x = torch.empty(batch, 1, 28, 28, device=dev)
    y = torch.empty(batch, dtype=torch.long, device=dev)

    def step():
        opt.zero_grad(set_to_none=False)
        with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
            loss = lossf(net(x), y)
        if scaler:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        return loss

    def feed(i):
        idx = order[(i % 8) * batch:(i % 8 + 1) * batch]
        torch.index_select(data, 0, idx, out=x)
        torch.index_select(labels, 0, idx, out=y)

    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for i in range(max(warmup, 3)):
            feed(i)
            step()
    torch.cuda.current_stream().wait_stream(s)
    if graphed:
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            step()
        run = g.replay
    else:
        run = step
    for i in range(warmup):
        feed(i)
        run()
    t0, t1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    t0.record()
    for i in range(steps):
        feed(i)
        run()
    t1.record()
    torch.cuda.synchronize()
    ms = t0.elapsed_time(t1)
    return batch * steps / (ms / 1e3)


def gemm_rate(dtype, n=8192, reps=20):
    a = torch.randn(n, n, device="cuda", dtype=dtype)
    b = torch.randn(n, n, device="cuda", dtype=dtype)
    for _ in range(3):
        a @ b
    t0, t1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    t0.record()
    for _ in range(reps):
        a @ b
    t1.record()
    torch.cuda.synchronize()
    return 2 * n ** 3 * reps / (t0.elapsed_time(t1) / 1e3) / 1e12


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="lenet5")
    ap.add_argument("--batch", default="64,256,1024")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--gemm-rate", action="store_true")
    a = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = False  # lpt's fp32 default: no TF32
    torch.backends.cudnn.allow_tf32 = False
    if a.gemm_rate:
        torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False
        for name, dt in (("fp16", torch.float16), ("fp32", torch.float32)):
            print(json.dumps({"peer": "cublas", "gemm": "8192^3", "dtype": name,
                              "tflops": round(gemm_rate(dt), 1)}), flush=True)
    for prec in a.precision.split(","):
        for batch in [int(b) for b in a.batch.split(",")]:
            for graphed in (False, True):
                try:
                    ips = measure(a.model, batch, prec, graphed, a.steps, a.warmup)
                except Exception as e:  # a mode PyTorch cannot capture: say so, go on
                    print(json.dumps({"peer": "pytorch", "model": a.model, "batch": batch, "precision": prec,
                                      "graphed": graphed, "error": str(e)[:200]}), flush=True)
                    continue
                print(json.dumps({"peer": "pytorch", "version": torch.__version__, "model": a.model,
                                  "batch": batch, "precision": prec, "graphed": graphed,
                                  "images_per_s": round(ips, 1)}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
