#!/usr/bin/python3
"""PyTorch peer for `lpt bench`: LeNet-5 FP32 training throughput on the CPU.

Same network, batch, optimizer (SGD with momentum and weight decay) and synthetic
input as `lpt bench`. Prints one JSON line per thread count:
{"threads": T, "images_per_s": X}.  Usage: bench_torch.py [--batch 64] [--steps 200]
[--threads 1,2]
"""
import argparse, json, time
import torch
import torch.nn as nn


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10))


def run(threads, batch, steps, warmup):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = lenet5()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    lossf = nn.CrossEntropyLoss()
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    def step():
        opt.zero_grad(set_to_none=True)
        loss = lossf(net(x), y)
        loss.backward()
        opt.step()
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    dt = time.perf_counter() - t0
    return batch * steps / dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--threads", default="1,2")
    a = ap.parse_args()
    for t in [int(s) for s in a.threads.split(",")]:
        ips = run(t, a.batch, a.steps, a.warmup)
        print(json.dumps({"peer": "pytorch", "version": torch.__version__,
                          "threads": t, "batch": a.batch,
                          "images_per_s": round(ips, 1)}), flush=True)


if __name__ == "__main__":
    main()
