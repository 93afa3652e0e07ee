#!/usr/bin/env python3
"""Replay the FL rule of the statistics unit on the histograms of a stats log.

usage: experiments/replay_stats.py LOG.jsonl [--until STEP] [--overflow-rate R]
       [--only LAYER.TENSOR,...] [--check]

For every record (one interval of one tensor) it prints the FL that was used, the FL
the log says was chosen next (by the build that wrote the log), and the FL that each
rule chooses from the same histogram:
  old rule: largest FL whose overflowing values are at most R of ALL finite values
            (zeros included), any FL up to 256 allowed;
  new rule: largest FL whose overflowing values are at most R of the NONZERO finite
            values; a tensor without nonzero values keeps its FL.
--check asserts that the new rule reproduces every logged next_fl of a dfp record (a
log written by this build), which ties this script to the C code in hwsim/stats.c.
"""
import argparse
import json
import sys

FL_MIN, FL_MAX = -256, 256


def overflow_count(rec, width, fl):
    over = 0
    for key in ("pos_hist", "neg_hist"):
        h = rec[key]
        for i, c in enumerate(h["counts"]):
            if h["msb_min"] + i + fl >= width - 1:
                over += c
    return over


def choose(rec, width, rate, denominator, keep):
    if denominator == 0:
        return keep
    for fl in range(FL_MAX, FL_MIN - 1, -1):
        if overflow_count(rec, width, fl) / denominator <= rate:
            return fl
    return FL_MIN


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("log")
    ap.add_argument("--until", type=int, default=None, help="last step to replay")
    ap.add_argument("--overflow-rate", type=float, default=1e-4)
    ap.add_argument("--only", default="", help="comma-separated layer.tensor names")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    only = set(x for x in a.only.split(",") if x)
    print(f"{'step':>6} {'tensor':<10} {'nonzero':>9} {'of':>9} {'max|v|':>10} "
          f"{'FL used':>7} {'logged next':>11} {'old rule':>8} {'new rule':>8}")
    bad = 0
    for line in open(a.log):
        rec = json.loads(line)
        if "event" in rec or not rec["format"].startswith("dfp"):
            continue
        if a.until is not None and rec["step"] > a.until:
            break
        name = f"{rec['layer']}.{rec['tensor']}"
        finite = rec["count"] - rec["nonfinite"]
        nonzero = finite - rec["zeros"]
        w = rec["width"]
        old = FL_MAX if finite == 0 else choose(rec, w, a.overflow_rate, finite, rec["fl"])
        if nonzero == 0:
            old = rec["fl"]  # the old rule kept an all-zero tensor's FL too
        new = choose(rec, w, a.overflow_rate, nonzero, rec["fl"])
        if a.check and rec["next_width"] == w and new != rec["next_fl"]:
            print(f"MISMATCH {name} step {rec['step']}: new rule {new}, logged {rec['next_fl']}")
            bad += 1
        if only and name not in only:
            continue
        mark = "  <-" if old != new else ""
        print(f"{rec['step']:>6} {name:<10} {nonzero:>9} {rec['count']:>9} {rec['max_abs']:>10.4g} "
              f"{rec['fl']:>7} {rec['next_fl']:>11} {old:>8} {new:>8}{mark}")
    if a.check:
        print("check: " + ("new rule reproduces every logged choice" if not bad else f"{bad} mismatches"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
