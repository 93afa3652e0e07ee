#!/usr/bin/env bash
# Build the libFuzzer harnesses with clang (ASan + UBSan) and run each over its seed
# corpus for a fixed number of inputs. Exit 0 when none crashed, 1 when one did (the
# input is kept in the build directory), 77 when clang or libFuzzer is missing.
# Usage: fuzz/run.sh [--runs N] [--build DIR] [--only NAME] [--jobs N]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=1000000 build=build-fuzz only="" jobs=1
while [ $# -gt 0 ]; do
  case $1 in
  --runs) runs=$2; shift 2 ;;
  --build) build=$2; shift 2 ;;
  --only) only=$2; shift 2 ;;
  --jobs) jobs=$2; shift 2 ;;
  *) echo "usage: fuzz/run.sh [--runs N] [--build DIR] [--only NAME] [--jobs N]" >&2; exit 2 ;;
  esac
done
if ! command -v clang > /dev/null; then
  echo "SKIPPED: fuzzing needs clang (apt-get install clang libclang-rt-dev libomp-dev)"
  exit 77
fi
probe=$(mktemp -d)
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' > "$probe/p.c"
if ! clang -fsanitize=fuzzer "$probe/p.c" -o "$probe/p" 2> /dev/null; then
  rm -rf "$probe"
  echo "SKIPPED: clang has no libFuzzer runtime (apt-get install libclang-rt-dev)"
  exit 77
fi
rm -rf "$probe"
names="idx npy spec checkpoint format args"
[ -n "$only" ] && names=$only
mkdir -p "$build"
if ! cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLPT_FUZZ=ON -DLPT_CUDA=OFF \
  -DBUILD_TESTING=OFF > "$build/fuzz-configure.log" 2>&1; then
  grep -m1 -iE "error|not found" "$build/fuzz-configure.log" || true
  echo "SKIPPED: the clang build cannot be configured here (OpenMP for clang: apt-get install libomp-dev); see $build/fuzz-configure.log"
  exit 77
fi
targets=""
for n in $names; do targets="$targets fuzz_$n"; done
cmake --build "$build" -j "$(nproc)" --target $targets > "$build/fuzz-build.log" 2>&1 || {
  tail -30 "$build/fuzz-build.log"; exit 1; }
status=0
printf '%-11s %10s %8s %8s %10s %s\n' harness execs "cov" "ft" "exec/s" result
for n in $names; do
  work=$(mktemp -d)
  cp -r "fuzz/corpus/$n/." "$work/"
  log="$build/fuzz_$n.log"
  set +e
  par=""
  [ "$jobs" -gt 1 ] && par="-fork=$jobs"
  [ -f "fuzz/dict/$n.dict" ] && par="$par -dict=fuzz/dict/$n.dict"
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 "$build/fuzz_$n" -runs="$runs" -max_len=65536 \
    -rss_limit_mb=2048 -timeout=20 $par -print_final_stats=1 -artifact_prefix="$build/crash-$n-" \
    "$work" > "$log" 2>&1
  rc=$?
  set -e
  rm -rf "$work"
  execs=$( (grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" || true) | awk '{s += $2} END {print s + 0}')
  speed=$( (grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" || true) | awk '{s += $2} END {print s + 0}')
  cov=$( (grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" || true) | tail -1)
  result=ok
  if [ $rc -ne 0 ]; then
    result="CRASH (exit $rc; input and log in $build: crash-$n-*, fuzz_$n.log)"
    status=1
  fi
  printf '%-11s %10s %8s %8s %10s %s\n' "$n" "$execs" "$(echo "$cov" | awk '{print $2}')" \
    "$(echo "$cov" | awk '{print $4}')" "$speed" "$result"
done
exit $status
