# Shared part of the GPU-machine scripts (tools/gpu/vim2.sh, tools/gpu/train_bench.sh), sourced
# after they set NAME (log prefix) and DEFAULT_BUILD (build folder) and pass their arguments:
#   ROOT OUT LOG BUILD STEPS status    the checkout, output folder ($OUT, default ./gpu_out), the
#                                      log $OUT/$NAME.log, the build folder ($MMX_BUILD_DIR or
#                                      DEFAULT_BUILD), the requested steps, the exit status so far
#   has STEP / say TEXT                step requested? / a timestamped line to stdout and the log
#   gpu_build TEST_ONLY TARGETS...     configure + build TARGETS through tools/gpu/check.sh's build
#                                      step (system torch, carried .gpu_deps, sm_90) with
#                                      -DMMX_TEST_ONLY=TEST_ONLY; exits 4 when the build fails
#   gpu_tests TEST...                  runs $BUILD/tests/TEST for each, logs to $OUT/TEST.log and
#                                      says PASSED / FAILED (status 1) with the failing lines
# shellcheck shell=bash
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu_out}
mkdir -p "$OUT"
LOG=$OUT/$NAME.log
BUILD=${MMX_BUILD_DIR:-$DEFAULT_BUILD}
STEPS=${STEPS:-}
status=0
has() { [[ " $STEPS " == *" $1 "* ]]; }
say() { echo "[$NAME $(date +%H:%M:%S)] $*" | tee -a "$LOG"; }
[ -d "$ROOT/.gpu_deps/lib" ] && export LD_LIBRARY_PATH=$ROOT/.gpu_deps/lib:${LD_LIBRARY_PATH:-}

gpu_build() {
  local test_only=$1; shift
  local t0; t0=$(date +%s)
  if OUT="$OUT" MMX_BUILD_DIR="$BUILD" MMX_OPS_ONLY=OFF \
     MMX_CMAKE_ARGS="-DMMX_TEST_ONLY=$test_only ${MMX_CMAKE_ARGS:-}" \
     MMX_GPU_TARGETS="$*" tools/gpu/check.sh build >>"$LOG" 2>&1; then
    say "build ok in $(( $(date +%s) - t0 )) s"
  else
    say "build FAILED; see $OUT/gpu_check.log"
    grep -E "error|FAILED" "$OUT/gpu_check.log" | head -40 | tee -a "$LOG"
    exit 4
  fi
}

gpu_tests() {
  local t t0
  for t in "$@"; do
    t0=$(date +%s)
    if "$BUILD/tests/$t" >"$OUT/$t.log" 2>&1; then
      say "$t PASSED in $(( $(date +%s) - t0 )) s: $(grep -E '^\[  PASSED  \]' "$OUT/$t.log")"
    else
      status=1
      say "$t FAILED in $(( $(date +%s) - t0 )) s"
      grep -E "FAILED|Failure|error|Expected|Which is|max \|" "$OUT/$t.log" | head -40 | tee -a "$LOG"
    fi
    grep -E "SKIPPED|fell back|capture failed" "$OUT/$t.log" | head -5 | tee -a "$LOG"
  done
}
