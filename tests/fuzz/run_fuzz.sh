#!/usr/bin/env bash
# Builds tests/fuzz/fuzz_elf.c with libFuzzer, AddressSanitizer and
# UndefinedBehaviorSanitizer and runs it for a bounded time over a seed
# corpus of small real ELF files compiled here.
#
#   tests/fuzz/run_fuzz.sh [SECONDS]     (default 60)
#
# Environment: CLANG (default clang-14, else clang), FUZZ_WORK (a folder
# to keep the build, seeds, corpus and any crash in; default a new temporary
# one), FUZZ_JOBS (parallel fuzzing processes, default 1).  Exits non-zero
# when the build fails or the fuzzer finds anything (crash, sanitizer
# report, leak, timeout, out-of-memory); the input that did it is left in
# $FUZZ_WORK/artifacts/.  Needs clang with libFuzzer (Debian: clang-14) and
# gcc for the seeds.
set -euo pipefail

seconds=${1:-60}
repo=$(cd "$(dirname "$0")/../.." && pwd)
native="$repo/memmaps/native"
if [ -z "${CLANG:-}" ]; then
    if command -v clang-14 >/dev/null; then CLANG=clang-14; else CLANG=clang; fi
fi
work=${FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/memmaps-fuzz-elf.XXXXXX")}
mkdir -p "$work/seeds" "$work/corpus" "$work/artifacts"
echo "fuzz_elf: working in $work"

"$CLANG" -std=c11 -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$native" "$repo/tests/fuzz/fuzz_elf.c" "$native/mm_elf.c" \
    "$native/mm_list.c" -o "$work/fuzz_elf"

# Seeds: a few small real files, each exercising another path.
cat > "$work/seed.c" <<'SRC'
static int only_in_symtab = 42;
int exported_global = 7;
int exported_function(int x) { return x + only_in_symtab + exported_global; }
int main(void) { return exported_function(1) == 0; }
SRC
seeds="$work/seeds"
cc=${CC:-gcc}
if command -v "$cc" >/dev/null; then
    "$cc" -O1 -Wl,--build-id "$work/seed.c" -o "$seeds/pie"
    "$cc" -O1 -Wl,--build-id=none -no-pie "$work/seed.c" -o "$seeds/nopie"
    "$cc" -O1 -shared -fPIC -Wl,--hash-style=sysv "$work/seed.c" \
        -o "$seeds/sysv.so"
    "$cc" -O1 -shared -fPIC -Wl,--hash-style=gnu "$work/seed.c" \
        -o "$seeds/gnu.so"
    strip -o "$seeds/stripped.so" "$seeds/gnu.so"
    objcopy --add-gnu-debuglink="$seeds/pie" "$seeds/nopie" \
        "$seeds/debuglink"
    "$cc" -O1 -c "$work/seed.c" -o "$seeds/object.o"
    # 32-bit, when gcc-multilib is installed.
    "$cc" -m32 -O1 "$work/seed.c" -o "$seeds/pie32" 2>/dev/null || true
fi
# Big-endian ones, when the ziglang package can cross-compile them.
printf '%s\n' 'static int only_in_symtab = 42;' 'int exported_global = 7;' \
    'int exported_function(int x) { return x + only_in_symtab; }' \
    'void _start(void) { for (;;) exported_function(exported_global); }' \
    > "$work/nostd.c"
for target in powerpc64-linux-musl mips-linux-musl; do
    python3 -m ziglang cc -target "$target" -nostdlib -shared -fPIC \
        -Wl,--build-id "$work/nostd.c" -o "$seeds/$target.so" \
        2>/dev/null || rm -f "$seeds/$target.so"
done
echo "fuzz_elf: $(ls "$seeds" | wc -l) seeds"

# ASan's leak check stays on: a leak is a finding too.  -jobs only when
# asked: with it libFuzzer runs its workers in child processes that log to
# fuzz-N.log in the current folder (here $work).
jobs=()
if [ "${FUZZ_JOBS:-1}" -gt 1 ]; then
    jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
fi
status=0
(
    cd "$work"
    "$work/fuzz_elf" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
        -rss_limit_mb=2048 "${jobs[@]}" \
        -artifact_prefix="$work/artifacts/" -print_final_stats=1 \
        "$work/corpus" "$seeds"
) || status=$?
if [ "$status" -ne 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
    echo "fuzz_elf: FINDINGS (exit status $status); inputs in $work/artifacts:" >&2
    ls -l "$work/artifacts" >&2
    exit 1
fi
echo "fuzz_elf: no findings in ${seconds}s"
