#!/bin/sh
# check-layers.sh [ROOT] - every project include names a project-relative path and stays
# in its layer (docs/architecture.md): src/base includes nothing of the project; quant/
# only src/base; hwsim/ quant/ and src/base; kernels/ hwsim/, quant/ and src/base; the
# engine (the rest of src/) anything below it. Prints each offence; exit 1 if any.
root=${1:-$(dirname "$0")/..}
cd "$root" || exit 2
bad=0
allowed() { # FILE -> the prefixes its includes may start with
    case $1 in
    src/base/*) echo "src/base/" ;;
    quant/*) echo "quant/ src/base/" ;;
    hwsim/*) echo "hwsim/ quant/ src/base/" ;;
    kernels/*) echo "kernels/ hwsim/ quant/ src/base/" ;;
    src/*) echo "src/ kernels/ hwsim/ quant/" ;;
    *) echo "src/ kernels/ hwsim/ quant/ tests/ fuzz/" ;;
    esac
}
for f in $(find src quant kernels hwsim tests fuzz -name '*.[ch]' -o -name '*.cu' -o -name '*.cuh' | sort); do
    ok=$(allowed "$f")
    grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | while IFS= read -r line; do
        inc=$(printf '%s\n' "$line" | sed 's/.*include[[:space:]]*"\([^"]*\)".*/\1/')
        n=${line%%:*}
        if [ ! -f "$inc" ]; then
            echo "$f:$n: #include \"$inc\" is not a project-relative path"
            continue
        fi
        pass=0
        for p in $ok; do case $inc in "$p"*) pass=1 ;; esac; done
        # a test's own helpers
        case $f:$inc in tests/*:tests/*) pass=1 ;; esac
        [ $pass = 1 ] || echo "$f:$n: #include \"$inc\" climbs out of its layer (allowed: $ok)"
    done
done >/tmp/lpt-layers.$$
if [ -s /tmp/lpt-layers.$$ ]; then cat /tmp/lpt-layers.$$; bad=1; fi
rm -f /tmp/lpt-layers.$$
[ $bad = 0 ] && echo "include layers: clean ($(find src quant kernels hwsim tests fuzz -name '*.[ch]' | wc -l) files)"
exit $bad
