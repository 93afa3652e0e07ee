#!/bin/sh
# check-size.sh [ROOT] - no C source over 600 lines and no function over 80 lines (from
# the line at column 0 that names it to its closing brace alone at column 0). Prints
# each offence; exit 1 if any. Tests and fuzz harnesses are exempt from the function
# limit (table-driven test cases), not from the file limit.
root=${1:-$(dirname "$0")/..}
cd "$root" || exit 2
find src quant kernels hwsim tests fuzz -name '*.[ch]' | sort | xargs awk '
function file_end() { if (prev && lines > 600) { print prev ": " lines " lines (limit 600)"; bad = 1 } }
FNR == 1 { file_end(); prev = FILENAME; start = 0 }
{ lines = FNR }
/^[A-Za-z_][^;=#]*\(/ && !/^(typedef|struct|enum|union|return|if|for|while)[^A-Za-z_]/ { start = FNR; name = $0 }
/;[[:space:]]*$/ && start == FNR { start = 0 }
/^\}[[:space:]]*$/ && start {
    n = FNR - start + 1
    if (n > 80 && FILENAME !~ /^(tests|fuzz)\//) { sub(/\(.*/, "", name); print FILENAME ":" start ": " name ": " n " lines (limit 80)"; bad = 1 }
    start = 0
}
END { file_end(); exit bad }' || exit 1
echo "sizes: no file over 600 lines, no function over 80"
