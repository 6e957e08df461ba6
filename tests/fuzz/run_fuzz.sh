#!/usr/bin/env bash
# Builds every tests/fuzz/fuzz_*.c with libFuzzer, AddressSanitizer and
# UndefinedBehaviorSanitizer and runs each for a bounded time over a seed
# corpus of small real files compiled here.
#
#   tests/fuzz/run_fuzz.sh [SECONDS] [TARGET...]   (default 60 s, every target)
#
# SECONDS is per target; TARGET is a name such as elf, macho or link_map
# (fuzz_elf.c, fuzz_macho.c, fuzz_link_map.c).  Each target links the
# portable parsers of memmaps/native (PARSERS below), and gets the seeds its
# seeds_NAME function makes (none when there is no such function: libFuzzer
# starts from nothing).
#
# Environment: CLANG (default clang-14, else clang), FUZZ_WORK (a folder
# to keep the builds, seeds, corpora and any crash in, one subfolder per
# target; default a new temporary one), FUZZ_JOBS (parallel fuzzing
# processes per target, default 1).  Exits non-zero when a build fails or
# the fuzzer finds anything (crash, sanitizer report, leak, timeout,
# out-of-memory); the input that did it is left in
# $FUZZ_WORK/TARGET/artifacts/.  Needs clang with libFuzzer (Debian:
# clang-14), gcc for the ELF seeds, the ziglang package for the Mach-O
# ones and mingw-w64 for the PE ones (seeds it cannot build are left out,
# with a note).
set -euo pipefail

seconds=${1:-60}
shift || true
repo=$(cd "$(dirname "$0")/../.." && pwd)
native="$repo/memmaps/native"
fuzz="$repo/tests/fuzz"
if [ -z "${CLANG:-}" ]; then
    if command -v clang-14 >/dev/null; then CLANG=clang-14; else CLANG=clang; fi
fi
work=${FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/memmaps-fuzz.XXXXXX")}
python=${PYTHON:-python3}

# The portable parsers and what they need, linked into every target.
PARSERS=(core/list.c core/reader.c core/symindex.c formats/elf.c formats/macho.c
    formats/dyld.c formats/link_map.c formats/pe.c)

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for source in "$fuzz"/fuzz_*.c; do
        name=$(basename "$source" .c)
        targets+=("${name#fuzz_}")
    done
fi

# The C program the seed files are built from: a local symbol, an exported
# function and an exported global.
program() {
    cat <<'SRC'
static int only_in_symtab = 42;
static int only_local = 7;
int exported_global = 7;
int *volatile keep = &only_local;
int exported_function(int x) { return x + only_in_symtab + *keep + exported_global; }
int main(void) { return exported_function(1) == 0; }
SRC
}

seeds_elf() {
    local seeds=$1 dir=$2 cc=${CC:-gcc}
    program > "$dir/seed.c"
    if command -v "$cc" >/dev/null; then
        "$cc" -O1 -Wl,--build-id "$dir/seed.c" -o "$seeds/pie"
        "$cc" -O1 -Wl,--build-id=none -no-pie "$dir/seed.c" -o "$seeds/nopie"
        "$cc" -O1 -shared -fPIC -Wl,--hash-style=sysv "$dir/seed.c" \
            -o "$seeds/sysv.so"
        "$cc" -O1 -shared -fPIC -Wl,--hash-style=gnu "$dir/seed.c" \
            -o "$seeds/gnu.so"
        strip -o "$seeds/stripped.so" "$seeds/gnu.so"
        objcopy --add-gnu-debuglink="$seeds/pie" "$seeds/nopie" \
            "$seeds/debuglink"
        "$cc" -O1 -c "$dir/seed.c" -o "$seeds/object.o"
        # 32-bit, when gcc-multilib is installed.
        "$cc" -m32 -O1 "$dir/seed.c" -o "$seeds/pie32" 2>/dev/null || true
    fi
    # Big-endian ones, when the ziglang package can cross-compile them.
    printf '%s\n' 'static int only_in_symtab = 42;' 'int exported_global = 7;' \
        'int exported_function(int x) { return x + only_in_symtab; }' \
        'void _start(void) { for (;;) exported_function(exported_global); }' \
        > "$dir/nostd.c"
    for target in powerpc64-linux-musl mips-linux-musl; do
        "$python" -m ziglang cc -target "$target" -nostdlib -shared -fPIC \
            -Wl,--build-id "$dir/nostd.c" -o "$seeds/$target.so" \
            2>/dev/null || rm -f "$seeds/$target.so"
    done
}

seeds_macho() {
    local seeds=$1 dir=$2 built=()
    program > "$dir/seed.c"
    # zig links macOS executables and dylibs with libSystem's stubs, which
    # it builds into its cache the first time.  The cache must be writable
    # (zig was seen to spin on an unwritable one): the tests' cache
    # (tests/helpers/crosscc.py) when it is ours, else one in $dir.
    local cache=${ZIG_GLOBAL_CACHE_DIR:-${TMPDIR:-/tmp}/memmaps-zig-cache-$(id -u)}
    mkdir -p -m 700 "$cache" 2>/dev/null || true
    if [ ! -O "$cache" ] || [ ! -w "$cache" ]; then
        cache=$dir/zig-cache
    fi
    export ZIG_GLOBAL_CACHE_DIR=$cache ZIG_LOCAL_CACHE_DIR=$cache
    for target in x86_64-macos aarch64-macos; do
        for kind in exe dylib object; do
            local flags=(-O1) out="$seeds/$target-$kind"
            case $kind in
            dylib) flags+=(-shared) ;;
            object) flags+=(-c) ;;
            esac
            if timeout 300 "$python" -m ziglang cc -target "$target" \
                "${flags[@]}" "$dir/seed.c" -o "$out" 2>/dev/null; then
                built+=("$out")
            else
                rm -f "$out"
            fi
        done
    done
    if [ ${#built[@]} -eq 0 ]; then
        echo "fuzz_macho: no Mach-O seeds (is the ziglang package installed?)"
        return 0
    fi
    # A fat file, and a stripped copy, when llvm's tools are there.
    local lipo strip
    lipo=$(command -v llvm-lipo-14 || command -v llvm-lipo || true)
    strip=$(command -v llvm-strip-14 || command -v llvm-strip || true)
    if [ -n "$lipo" ] && [ -f "$seeds/x86_64-macos-exe" ] &&
        [ -f "$seeds/aarch64-macos-exe" ]; then
        "$lipo" -create "$seeds/x86_64-macos-exe" "$seeds/aarch64-macos-exe" \
            -output "$seeds/fat" || rm -f "$seeds/fat"
    fi
    if [ -n "$strip" ] && [ -f "$seeds/x86_64-macos-dylib" ]; then
        "$strip" -o "$seeds/stripped.dylib" "$seeds/x86_64-macos-dylib" ||
            rm -f "$seeds/stripped.dylib"
    fi
    # Target memories holding dyld's records and the x86-64 images (small
    # pages: each fits in libFuzzer's -max_len).
    local x86=()
    for f in "$seeds"/x86_64-macos-exe "$seeds"/x86_64-macos-dylib; do
        [ -f "$f" ] && x86+=("$f")
    done
    if [ ${#x86[@]} -gt 0 ]; then
        "$python" "$repo/tests/helpers/machosim.py" seeds "$seeds" "${x86[@]}"
    fi
}

seeds_pe() {
    # PE images from mingw-w64 (DLLs with named, ordinal-only and forwarded
    # exports, an executable, 32-bit, stripped, with and without the CodeView
    # record), and the same laid out as the loader maps them.
    local seeds=$1 dir=$2 built=()
    printf '%s\n' '__declspec(dllexport) int exported_function(int x) { return x + 1; }' \
        '__declspec(dllexport) int exported_global = 7;' \
        'int by_ordinal_only(int x) { return x * 2; }' \
        'int another(int x) { return x * 3; }' > "$dir/lib.c"
    printf '%s\n' 'EXPORTS' '    exported_function @1' '    exported_global @2 DATA' \
        '    by_ordinal_only @5 NONAME' '    another @7' \
        '    forwarded_sleep = kernel32.Sleep @8' \
        '    forwarded_ord = "ws2_32.#12" @9' > "$dir/lib.def"
    printf '%s\n' '__declspec(dllexport) int exported_from_exe(int x) { return x + 2; }' \
        'int main(void) { return exported_from_exe(1) == 0; }' > "$dir/main.c"
    for arch in x86_64 i686; do
        local cc=$arch-w64-mingw32-gcc
        command -v "$cc" >/dev/null || continue
        "$cc" -O1 -shared -Wl,--build-id "$dir/lib.c" "$dir/lib.def" \
            -o "$seeds/$arch.dll" && built+=("$seeds/$arch.dll")
        "$cc" -O1 -shared -s "$dir/lib.c" "$dir/lib.def" \
            -o "$seeds/$arch-stripped.dll" && built+=("$seeds/$arch-stripped.dll")
        "$cc" -O1 -s -Wl,--build-id "$dir/main.c" -o "$seeds/$arch.exe" &&
            built+=("$seeds/$arch.exe")
    done
    if [ ${#built[@]} -eq 0 ]; then
        echo "fuzz_pe: no PE seeds (is gcc-mingw-w64 installed?)"
        return 0
    fi
    "$python" "$repo/tests/helpers/pesim.py" seeds "$seeds" "${built[@]}"
}

seeds_link_map() {
    # Target memories holding r_debug records and link_map chains.
    "$python" "$repo/tests/helpers/linkmapsim.py" seeds "$1"
}

status=0
for name in "${targets[@]}"; do
    source="$fuzz/fuzz_$name.c"
    if [ ! -f "$source" ]; then
        echo "run_fuzz: no $source" >&2
        exit 2
    fi
    dir="$work/$name"
    mkdir -p "$dir/seeds" "$dir/corpus" "$dir/artifacts"
    echo "fuzz_$name: working in $dir"
    sources=()
    for parser in "${PARSERS[@]}"; do
        [ -f "$native/$parser" ] && sources+=("$native/$parser")
    done
    "$CLANG" -std=c11 -g -O1 -fno-omit-frame-pointer \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -I"$native" "$source" "${sources[@]}" -o "$dir/fuzz_$name"
    if declare -F "seeds_$name" >/dev/null; then
        "seeds_$name" "$dir/seeds" "$dir"
    fi
    echo "fuzz_$name: $(find "$dir/seeds" -maxdepth 1 -type f | wc -l) seeds"

    # ASan's leak check stays on: a leak is a finding too.  -jobs only when
    # asked: with it libFuzzer runs its workers in child processes that log
    # to fuzz-N.log in the current folder (here $dir).
    jobs=()
    if [ "${FUZZ_JOBS:-1}" -gt 1 ]; then
        jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
    fi
    run=0
    (
        cd "$dir"
        "$dir/fuzz_$name" -max_total_time="$seconds" -max_len=65536 \
            -timeout=10 -rss_limit_mb=2048 "${jobs[@]}" \
            -artifact_prefix="$dir/artifacts/" -print_final_stats=1 \
            "$dir/corpus" "$dir/seeds"
    ) || run=$?
    if [ "$run" -ne 0 ] || [ -n "$(ls -A "$dir/artifacts")" ]; then
        echo "fuzz_$name: FINDINGS (exit status $run); inputs in $dir/artifacts:" >&2
        ls -l "$dir/artifacts" >&2
        status=1
        continue
    fi
    echo "fuzz_$name: no findings in ${seconds}s"
done
exit $status
