#!/bin/sh
# The statistics unit's share of a training epoch, from a profile: perf record of one
# LeNet-5 epoch, the top of perf report, and the sum over the unit's functions (the
# analysis: lpt_msb_*, pack_*, pair and counter folding; the database and configuration:
# lpt_stats_*).
#
# Usage: experiments/profile_stats.sh PRECISION THREADS OUT.txt   (needs perf)
set -eu
p=${1:?precision}; t=${2:?threads}; out=${3:?output file}
lpt=${LPT:-build/lpt}
data=$(mktemp)
trap 'rm -f "$data"' EXIT
cmd="$lpt train --precision $p --epochs 1 --test-limit 1000 --threads $t --no-progress --quiet"
perf record -q -F 2000 -o "$data" $cmd >/dev/null 2>&1
rep=$(perf report -i "$data" --no-children --sort symbol 2>/dev/null | grep -v '^#' | grep -v '^$')
samples=$(perf report -i "$data" --no-children --sort symbol 2>/dev/null | sed -n 's/^# Samples: \([0-9A-Za-z]*\).*/\1/p' | head -1)
{
    echo "# perf record -F 2000 $cmd"
    echo "# perf report --no-children --sort symbol (top 30 of $samples samples)"
    echo "$rep" | head -30
    echo "# statistics unit functions:"
    echo "$rep" | grep -E '\] (lpt_msb_|pack_nonzero|pack_pairs|fold_pairs|pair_sums|acc_fold|fold_range|lpt_stats_)'
    echo "$rep" | grep -E '\] (lpt_msb_|pack_nonzero|pack_pairs|fold_pairs|pair_sums|acc_fold|fold_range|lpt_stats_)' |
        awk '{s += $1} END {printf "# statistics unit: %.2f%% of all samples\n", s}'
} >"$out"
tail -1 "$out"
