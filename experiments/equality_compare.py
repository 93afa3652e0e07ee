#!/usr/bin/env python3
"""equality_compare.py A B - compare the artefacts of two experiments/equality.sh runs.

Stats logs must be identical byte for byte; metrics and checkpoints too, except the
wall-clock fields (images_per_s, seconds) and, in checkpoints, the lengths and CRC
that depend on how those fields print."""
import json, os, re, sys

def ckpt_norm(data):
    data = data[:12] + data[20:-4]  # magic+version, body without length and CRC
    # the state section's length prefix moves with the wall-clock fields in it
    data = re.sub(rb"....(epoch=\d+\nstep_in_epoch=)", rb"LLLL\1", data, count=1, flags=re.DOTALL)
    return re.sub(rb"(record=(?:\S+ ){7})\S+ \S+\n", rb"\1T T\n", data)

def metrics_norm(data):
    out = []
    for line in data.decode().splitlines():
        r = json.loads(line)
        r.pop("images_per_s", None); r.pop("seconds", None)
        out.append(r)
    return out

def main():
    a, b = sys.argv[1], sys.argv[2]
    bad = 0
    for f in sorted(os.listdir(a)):
        if f.endswith(".log"):
            continue
        da = open(os.path.join(a, f), "rb").read()
        pb = os.path.join(b, f)
        if not os.path.exists(pb):
            print(f"{f}: missing in {b}"); bad += 1; continue
        db = open(pb, "rb").read()
        if f.endswith(".ckpt"):
            same = ckpt_norm(da) == ckpt_norm(db)
        elif f.endswith(".metrics.jsonl"):
            same = metrics_norm(da) == metrics_norm(db)
        else:
            same = da == db
        print(f"{f}: {'identical' if same else 'DIFFERENT'} ({len(da)} bytes)")
        bad += not same
    sys.exit(1 if bad else 0)

main()
