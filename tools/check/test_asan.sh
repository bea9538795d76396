#!/usr/bin/env bash
# make test-asan: the default test suite (ctest -LE "slow|cuda") built with AddressSanitizer and
# UndefinedBehaviorSanitizer (g++, -O1, CUDA and benchmarks off) in its own build folder.
# A run fails when a test fails or when any test's output holds a sanitizer report (the CLI
# tests that expect a failing command would otherwise accept a sanitizer abort as "non-zero exit").
# Environment: MMX_ASAN_BUILD_DIR (default build-asan), JOBS (default nproc).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${MMX_ASAN_BUILD_DIR:-build-asan}
JOBS=${JOBS:-$(nproc)}

MMX_SKIP_BUILD=1 ./tools/setup.sh
source tools/check/sanitizer_env.sh

PY=${MMX_PYTHON:-python3}
if [ -z "${MMX_PYTHON:-}" ] && ! python3 -c "import torch" 2>/dev/null; then PY=.venv/bin/python; fi
TORCH_PREFIX=$($PY -c 'import torch; print(torch.utils.cmake_prefix_path)')

SAN="-fsanitize=address,undefined -fno-omit-frame-pointer"
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_CXX_FLAGS="$SAN" \
        -DCMAKE_EXE_LINKER_FLAGS="$SAN" -DCMAKE_SHARED_LINKER_FLAGS="$SAN" \
        -DMMX_CUDA=OFF -DMMX_BUILD_BENCH=OFF \
        -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -DPython3_EXECUTABLE="$PY"
fi
start=$(date +%s)
cmake --build "$BUILD_DIR" -j "$JOBS"
echo "[test-asan] build: $(( $(date +%s) - start )) s"

start=$(date +%s)
status=0
(cd "$BUILD_DIR" && ctest -LE "slow|cuda" --output-on-failure -j "$JOBS" --timeout 3000) || status=$?
echo "[test-asan] ctest: $(( $(date +%s) - start )) s, exit $status"
log="$BUILD_DIR/Testing/Temporary/LastTest.log"
if grep -nE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error: " "$log"; then
  echo "[test-asan] sanitizer reports in $log (above)"
  status=1
fi
exit $status
