#!/usr/bin/env bash
# GPU check of the CUDA selective scan, in one call on the GPU machine: builds the library, the
# CUDA tests and the GPU benchmark against the system torch, runs the cuda-labelled tests,
# compute-sanitizer memcheck and racecheck on a small case set, and the GPU benchmark. Logs go to
# $OUT (default ./gpu_check_out): gpu_check.log, tests.log, sanitizer.log, bench_cuda.md.
#
#   tools/gpu/check.sh --prepare   (here, on a machine with the packages) copies the header-only
#                                  dependencies and the GoogleTest sources into .gpu_deps/, which
#                                  the call carries (the GPU machine has no apt and no network)
#   tools/gpu/check.sh [steps]     (on the GPU machine) steps: any of build test sanitize bench ncu
#                                  (default: build test sanitize bench)
# Environment: MMX_BUILD_DIR (default build-gpu), MMX_CMAKE_ARGS (extra configure arguments),
#              MMX_OPS_ONLY (default ON), MMX_GPU_TARGETS (default: the CUDA test and bench),
#              MMX_TEST_FILTER (gtest filter for the test step, default all).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DEPS=$ROOT/.gpu_deps

if [ "${1:-}" = "--prepare" ]; then
  rm -rf "$DEPS" && mkdir -p "$DEPS/include"
  cp -r /usr/include/nlohmann /usr/include/toml++ /usr/include/CLI "$DEPS/include/"
  cp -r /usr/src/googletest "$DEPS/googletest"
  # The data layer's libcsv (a C library needing only libc) and date's headers.
  cp /usr/include/csv.h "$DEPS/include/" && cp -r /usr/include/date "$DEPS/include/"
  mkdir -p "$DEPS/lib" && cp /usr/lib/x86_64-linux-gnu/libcsv.so.3 "$DEPS/lib/"
  cp /usr/lib/x86_64-linux-gnu/libcsv.so.3 "$DEPS/lib/libcsv.so"
  # The image data: stb_image_write's header (the tests write images with it); zlib's headers and link library
  # (the runtime libz.so.1 is the system one).
  mkdir -p "$DEPS/include/stb" && cp /usr/include/stb/stb_image_write.h "$DEPS/include/stb/"
  cp /usr/include/zlib.h /usr/include/zconf.h "$DEPS/include/"
  cp -L /usr/lib/x86_64-linux-gnu/libz.so "$DEPS/lib/libz.so"
  # libpng and libjpeg-turbo: headers, link libraries and the runtime libraries they name. The
  # headers go to their own folder, used only where the GPU machine has none: on the include path
  # of the other carried headers they would shadow its own (libjpeg 8 there, 6.2 here).
  mkdir -p "$DEPS/include-img"
  cp /usr/include/png.h /usr/include/pngconf.h /usr/include/pnglibconf.h /usr/include/jpeglib.h \
     /usr/include/jerror.h /usr/include/jmorecfg.h /usr/include/x86_64-linux-gnu/jconfig.h "$DEPS/include-img/"
  cp -L /usr/lib/x86_64-linux-gnu/libpng16.so.16 /usr/lib/x86_64-linux-gnu/libjpeg.so.62 "$DEPS/lib/"
  ln -sf libpng16.so.16 "$DEPS/lib/libpng16.so" && ln -sf libjpeg.so.62 "$DEPS/lib/libjpeg.so"
  du -sh "$DEPS"
  exit 0
fi

OUT=${OUT:-$ROOT/gpu_check_out}
mkdir -p "$OUT"
LOG=$OUT/gpu_check.log
BUILD=${MMX_BUILD_DIR:-build-gpu}
STEPS=${*:-build test sanitize bench}
has() { [[ " $STEPS " == *" $1 "* ]]; }
say() { echo "[gpu_check $(date +%H:%M:%S)] $*" | tee -a "$LOG"; }
status=0

export PATH=$PATH:/usr/local/cuda/bin
[ -d "$DEPS/lib" ] && export LD_LIBRARY_PATH=$DEPS/lib:${LD_LIBRARY_PATH:-}
export CUDACXX=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
say "steps: $STEPS"
for t in cmake ninja g++ nvcc compute-sanitizer ncu; do say "  $t: $(command -v $t || echo missing)"; done
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv 2>&1 | tee -a "$LOG"
PY=${MMX_PYTHON:-python3}
TORCH_PREFIX=$($PY -c 'import torch; print(torch.utils.cmake_prefix_path)')
say "torch $($PY -c 'import torch; print(torch.__version__)') at $TORCH_PREFIX; $(nvcc --version | tail -1)"

if has build; then
  DEPS_ARG=""
  if [ ! -f /usr/include/nlohmann/json.hpp ] || [ ! -d /usr/include/toml++ ] || \
     [ ! -f /usr/include/CLI/CLI.hpp ] || ! ls /usr/lib/*/cmake/GTest/GTestConfig.cmake >/dev/null 2>&1; then
    [ -d "$DEPS/include" ] || { say "system packages missing and no .gpu_deps (run --prepare here and carry it)"; exit 2; }
    DEPS_ARG="-DMMX_DEPS_DIR=$DEPS"
  fi
  if [ ! -f /usr/include/csv.h ] || [ ! -f /usr/include/date/date.h ]; then
    DEPS_ARG="$DEPS_ARG -DMMX_LIBCSV_INCLUDE_DIR=$DEPS/include -DMMX_LIBCSV_LIBRARY=$DEPS/lib/libcsv.so -DMMX_DATE_INCLUDE_DIR=$DEPS/include"

    say "using carried dependencies ($DEPS)"
  fi
  if [ ! -f /usr/include/stb/stb_image_write.h ] || [ ! -f /usr/include/zlib.h ]; then
    DEPS_ARG="$DEPS_ARG -DMMX_STB_INCLUDE_DIR=$DEPS/include -DMMX_ZLIB_INCLUDE_DIR=$DEPS/include -DMMX_ZLIB_LIBRARY=$DEPS/lib/libz.so"
    say "using carried stb_image_write / zlib ($DEPS)"
  fi
  if [ ! -f /usr/include/png.h ] || [ ! -f /usr/include/jpeglib.h ]; then
    DEPS_ARG="$DEPS_ARG -DZLIB_INCLUDE_DIR=$DEPS/include -DZLIB_LIBRARY=$DEPS/lib/libz.so -DPNG_PNG_INCLUDE_DIR=$DEPS/include-img"
    DEPS_ARG="$DEPS_ARG -DPNG_LIBRARY=$DEPS/lib/libpng16.so -DJPEG_INCLUDE_DIR=$DEPS/include-img -DJPEG_LIBRARY=$DEPS/lib/libjpeg.so"
    say "using carried libpng / libjpeg-turbo ($DEPS)"
  fi
  GEN=""; command -v ninja >/dev/null && GEN="-G Ninja"
  t0=$(date +%s)
  cmake -S . -B "$BUILD" $GEN -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
        -DPython3_EXECUTABLE="$(command -v $PY)" -DMMX_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
        -DMMX_BUILD_BENCH=ON -DMMX_TEST_ONLY=cuda -DMMX_OPS_ONLY=${MMX_OPS_ONLY:-ON} $DEPS_ARG ${MMX_CMAKE_ARGS:-} >>"$LOG" 2>&1 || { say "configure FAILED"; tail -40 "$LOG"; exit 3; }
  cmake --build "$BUILD" -j "$(nproc)" --target ${MMX_GPU_TARGETS:-test_scan_cuda bench_scan_cuda} >>"$LOG" 2>&1 \
    || { say "build FAILED"; grep -E "error|Error" "$LOG" | head -40; exit 4; }
  say "build ok in $(( $(date +%s) - t0 )) s"
fi

TEST_BIN=$BUILD/tests/test_scan_cuda
if has test; then
  t0=$(date +%s)
  # The cuda-labelled tests (one binary; ctest -L cuda runs the same cases one process each).
  if "$TEST_BIN" --gtest_filter="${MMX_TEST_FILTER:-*}" >"$OUT/tests.log" 2>&1; then
    say "tests PASSED in $(( $(date +%s) - t0 )) s: $(grep -E '^\[  PASSED  \]' "$OUT/tests.log")"
  else
    status=1
    say "tests FAILED in $(( $(date +%s) - t0 )) s"
    grep -E "FAILED|Failure|error|bound" "$OUT/tests.log" | head -60 | tee -a "$LOG"
  fi
  grep -E "SKIPPED" "$OUT/tests.log" | head -3 | tee -a "$LOG"
fi

if has sanitize; then
  # Small cases: one-chunk and chunked paths, reverse, N = 256, every dtype.
  SMALL='ShapeTable/*b2_E6_L2_N16_G2_D_z_bias_h0_sp:ShapeTable/*b2_E12_L127_N16_G2_D_z_bias_h0_sp_chunk32:ShapeTable/*b1_E6_L40_N256_G2_D_z_bias_h0_sp_rev_nc:ShapeTable/*b3_E5_L70_N8_G1_chunk64_f32'
  for tool in memcheck racecheck; do
    t0=$(date +%s)
    if compute-sanitizer --tool $tool --error-exitcode 9 "$TEST_BIN" --gtest_filter="$SMALL" \
         >"$OUT/sanitizer_$tool.log" 2>&1; then
      say "compute-sanitizer $tool clean in $(( $(date +%s) - t0 )) s: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|PASSED' "$OUT/sanitizer_$tool.log" | tr '\n' ' ')"
    else
      status=1
      say "compute-sanitizer $tool FAILED"
      grep -E "ERROR|Invalid|hazard|at |FAILED" "$OUT/sanitizer_$tool.log" | head -30 | tee -a "$LOG"
    fi
  done
fi

if has bench; then
  t0=$(date +%s)
  "$BUILD/bench/bench_scan_cuda" "$OUT/bench_cuda.md" 2>&1 | tee -a "$LOG" | tail -12 || status=1
  say "bench done in $(( $(date +%s) - t0 )) s"
fi

if has ncu; then
  # Hardware counters (clocks left alone) of the main kernels on three shapes; the graph replays
  # of the benchmark are skipped past the warm-up launches.
  for shape in ${MMX_NCU_SHAPES:-vim2_s1 tsm2_time vim2_s1_n1}; do
    for kern in scan_fwd_kernel scan_bwd_kernel; do
      ncu --clock-control none --kernel-name regex:"$kern" --launch-skip 2 --launch-count 2 \
          --section SpeedOfLight --section Occupancy --section WarpStateStats --section SchedulerStats \
          --section MemoryWorkloadAnalysis --section LaunchStats \
          "$BUILD/bench/bench_scan_cuda" /dev/null "$shape" >"$OUT/ncu_${shape}_$kern.log" 2>&1 || true
      say "ncu $shape $kern:"
      grep -E "scan_(fwd|bwd)|Duration|Compute \(SM\) Throughput|Memory Throughput.*Gbyte|Achieved Occupancy|Registers Per|Issued Warp|stalled waiting" \
        "$OUT/ncu_${shape}_$kern.log" | head -24 | tee -a "$LOG"
    done
  done
fi

say "done, status $status"
exit $status
