#!/usr/bin/env bash
# make test-asan's suite (ctest -LE "slow|cuda" under AddressSanitizer + UndefinedBehaviorSanitizer,
# tools/check/test_asan.sh) on the GPU machine's cores, where the instrumented build takes minutes
# instead of the 2-core machine's 35. CUDA off, as in make test-asan. Logs and the ctest log go to
# $OUT: gpu_asan.log, asan_LastTest.log.
#   tools/gpu/asan.sh        (GPU machine; carry .gpu_deps, see tools/gpu/check.sh --prepare)
NAME=gpu_asan
DEFAULT_BUILD=build-gpu-asan
source "$(dirname "$0")/common.sh"
if ! echo 'int main() { return 0; }' | g++ -fsanitize=address,undefined -x c++ - -o /tmp/asan_probe 2>>"$LOG" ||
   ! /tmp/asan_probe; then
  say "g++ cannot build with -fsanitize=address,undefined here (runtime libraries missing)"; exit 2
fi
export CXXFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -g1"
export LDFLAGS="-fsanitize=address,undefined"
MMX_CMAKE_ARGS="-DMMX_CUDA=OFF -DMMX_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo ${MMX_CMAKE_ARGS:-}" gpu_build "" all
source tools/check/sanitizer_env.sh
t0=$(date +%s)
(cd "$BUILD" && ctest -LE "slow|cuda" -j "$(nproc)" --timeout 600 > "$OUT/asan_ctest.log" 2>&1) || status=1
say "ctest in $(( $(date +%s) - t0 )) s: $(grep -E 'tests passed|tests failed' "$OUT/asan_ctest.log")"
grep -E "^\s+[0-9]+ - .*(Failed|Not Run|Timeout|SEGFAULT|Exception)" "$OUT/asan_ctest.log" | head -40 | tee -a "$LOG"
cp "$BUILD/Testing/Temporary/LastTest.log" "$OUT/asan_LastTest.log" 2>/dev/null
reports=$(grep -nE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error: " "$BUILD/Testing/Temporary/LastTest.log")
if [ -n "$reports" ]; then
  echo "$reports" | head -20 | tee -a "$LOG"
  say "sanitizer reports (above)"; status=1
else
  say "no sanitizer report in the test log"
fi
exit $status
