#!/usr/bin/env bash
# Seed corpora of the fuzz harnesses (committed; rerun after a format changes).
# Usage: fuzz/make_corpus.sh [build/lpt]
set -euo pipefail
cd "$(dirname "$0")/.."
lpt=${1:-build/lpt}
c=fuzz/corpus
rm -rf "$c" && mkdir -p "$c"/{idx,npy,spec,checkpoint,format,args}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# IDX: a tiny MNIST-layout set of 4x4 images (the first byte of an idx seed selects
# images (odd) or labels (even) in the harness)
python3 - "$tmp" "$c/idx" <<'PY'
import gzip, os, struct, sys
tmp, out = sys.argv[1], sys.argv[2]
def idx(dims, payload):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload
for split, n in (("train", 8), ("t10k", 4)):
    imgs = bytes((i * 37 + j * 11) % 256 for i in range(n) for j in range(16))
    labs = bytes(i % 2 for i in range(n))
    open(os.path.join(tmp, f"{split}-images-idx3-ubyte"), "wb").write(idx([n, 4, 4], imgs))
    open(os.path.join(tmp, f"{split}-labels-idx1-ubyte"), "wb").write(idx([n], labs))
img = idx([3, 4, 4], bytes(range(48)))
lab = idx([5], bytes([0, 1, 2, 3, 9]))
seeds = {"images_raw": b"\x01" + img, "labels_raw": b"\x00" + lab,
         "images_gz": b"\x01" + gzip.compress(img, mtime=0), "labels_gz": b"\x00" + gzip.compress(lab, mtime=0),
         "labels_two_members": b"\x00" + gzip.compress(lab[:6], mtime=0) + gzip.compress(lab[6:], mtime=0)}
for k, v in seeds.items():
    open(os.path.join(out, k), "wb").write(v)
PY
cp tests/fixtures/npy/*.npy "$c/npy/"
for m in mlp lenet5 vgg; do
  sed -n "/^static const char k_$m\[\] =/,/;$/p" src/model.c | sed -n 's/^ *"\(.*\)\\n"[;]*$/\1/p' > "$c/spec/$m.spec"
done
printf 'input 3x8x8\nconv2d name=c out=4 kh=3 kw=2 stride=2 pad=1 bias=0\nbatchnorm eps=1e-3 momentum=0.2\nrelu\navgpool k=2 pad=1\nmaxpool k=1\nflatten\ndropout p=0.5\nlinear out=3 bias=1\n' > "$c/spec/every_layer.spec"
printf 'input 1x8x8\nconv2d name=c a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8 i=9 j=10 k=11 l=12\n' > "$c/spec/twelve_options.spec"
# checkpoints of a tiny network, fp32 and int8-dyn (with the statistics unit's state)
printf 'input 1x4x4\nflatten\nlinear name=fc out=2\n' > "$tmp/tiny.spec"
for p in fp32 int8-dyn; do
  "$lpt" train --model "$tmp/tiny.spec" --data "$tmp" --precision "$p" --epochs 1 --batch 4 --quiet \
    --dead-steps 0 --checkpoint "$c/checkpoint/tiny_$p" > /dev/null
done
i=0
for f in fp32 fp16 bf16 fp8-e4m3 fp8-e5m2:sat dfp8 dfp16:sr:wrap int8-dyn int16-dyn dfp2:rtz dfp32:rdn:sat \
  auto 'w=dfp6,a=dfp8,g=dfp16:sr' 'w=bf16,a=fp16,g=fp8-e5m2' 'int8-dyn|sr' 'fp16|rna'; do
  printf -- '%s' "$f" > "$c/format/f$i"; i=$((i + 1))
done
i=0
for a in '--epochs\0003' '--lr=0.5\0--seed\00018446744073709551615' '--precision\0w=dfp4,a=dfp8,g=fp16\0--quiet' \
  '--schedule=step\0--max-steps\0001000000000000' 'pos1\0pos2\0--rounding=sr' '--help'; do
  printf -- "$a" > "$c/args/a$i"; i=$((i + 1))
done
echo "corpora in $c: $(find "$c" -type f | wc -l) files, $(du -sh "$c" | cut -f1)"
