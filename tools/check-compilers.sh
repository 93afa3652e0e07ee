#!/usr/bin/env bash
# Build and run the whole suite with every compiler lpt promises to build with:
#   gcc   the system compiler (Debian 12: GCC 12)
#   clang the system clang (Debian 12: clang 14)
#   gcc13 GCC 13 (Debian 13 "trixie" ships 13.3, the version of Ubuntu 24.04), in a
#         trixie chroot made with debootstrap (needs root and Debian's mirror), with
#         Ubuntu's default hardening flags
# Usage: tools/check-compilers.sh [gcc] [clang] [gcc13]   (default: all three)
# The chroot is kept in $LPT_CHROOT (default /var/tmp/lpt-trixie) for later runs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
which=${*:-gcc clang gcc13}
status=0
for c in $which; do
  case $c in
  gcc | clang)
    dir=build-$c
    echo "== $c: $($c --version | head -1)"
    CC=$c cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DLPT_WERROR=ON > /dev/null
    cmake --build "$dir" -j "$(nproc)" > "$dir/build.log" 2>&1 || { tail -30 "$dir/build.log"; status=1; continue; }
    (cd "$dir" && ctest --output-on-failure -j 1) || status=1
    ;;
  gcc13)
    ch=${LPT_CHROOT:-/var/tmp/lpt-trixie}
    if [ ! -x "$ch/usr/bin/gcc-13" ]; then
      command -v debootstrap > /dev/null || apt-get install -y -q debootstrap
      debootstrap --variant=minbase \
        --include=gcc-13,cmake,make,libc6-dev,libopenblas-dev,libcmocka-dev,zlib1g-dev \
        trixie "$ch" http://deb.debian.org/debian
    fi
    rm -rf "$ch/src/lpt" && mkdir -p "$ch/src/lpt"
    git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -C "$ch/src/lpt" -xf -
    if [ -d /usr/share/datasets/fashion-mnist ]; then
      mkdir -p "$ch/usr/share/datasets" && cp -r /usr/share/datasets/fashion-mnist "$ch/usr/share/datasets/"
    fi
    mountpoint -q "$ch/proc" || mount -t proc proc "$ch/proc"
    echo "== gcc13: $(chroot "$ch" gcc-13 --version | head -1)"
    chroot "$ch" /bin/bash -c "cd /src/lpt && cmake -S . -B build -DCMAKE_C_COMPILER=gcc-13 \
        -DCMAKE_BUILD_TYPE=Release -DLPT_WERROR=ON \
        -DCMAKE_C_FLAGS='-fstack-protector-strong -D_FORTIFY_SOURCE=3 -fcf-protection -fstack-clash-protection' \
        > /dev/null && cmake --build build -j $(nproc) > build.log 2>&1 || { tail -30 build.log; exit 1; }
      cd build && ctest --output-on-failure -j 1" || status=1
    ;;
  *) echo "unknown compiler '$c' (gcc, clang, gcc13)" >&2; exit 2 ;;
  esac
done
exit $status
