#!/usr/bin/env bash
# TSM2 GPU training check and benchmark, in one call on the GPU machine: builds the whole library
# (MMX_OPS_ONLY=OFF), bench_tsm2_train, test_graph_step and test_adamw through the build step of
# tools/gpu/check.sh (the same configure: system torch, carried .gpu_deps when packages are
# missing, sm_90), runs both tests, the benchmark (eager / CUDA graph x fp32 / bf16 on ETTh1, with
# a Kineto trace of 20 eager bf16 steps) and the profile split of that trace. Everything goes to
# $OUT (default ./gpu_out):
#   gpu_train_bench.log      steps and verdicts        gpu_check.log       configure and build
#   test_adamw.log, test_graph_step.log                bench_tsm2_train.txt (JSON lines + table)
#   bench_tsm2_train.jsonl   the JSON lines only       profile_split.txt   scan / GEMM / rest
#   tsm2_trace.json.gz       the Kineto trace
#
#   tools/gpu/check.sh --prepare     (here, once) copies the dependencies the GPU machine lacks
#   tools/gpu/train_bench.sh [steps] (on the GPU machine) steps: any of build test bench profile
#                                    (default: all four)
# Environment: MMX_BUILD_DIR (default build-gpu-full, shared with tools/gpu/train.sh),
#              MMX_CMAKE_ARGS (extra configure arguments), MMX_BENCH_STEPS (timed steps per mode,
#              default 100), MMX_BENCH_MODES (default all four), MMX_PYTHON (default python3).
NAME=gpu_train_bench DEFAULT_BUILD=build-gpu-full STEPS=${*:-build test bench profile}
# shellcheck source=tools/gpu/common.sh
source "$(dirname "$0")/common.sh"
say "steps: $STEPS; build dir $BUILD"

has build && gpu_build train bench_tsm2_train test_graph_step test_adamw
has test && gpu_tests test_adamw test_graph_step

TRACE=$OUT/tsm2_trace.json
if has bench; then
  t0=$(date +%s)
  TRACE_ARG=()
  has profile && TRACE_ARG=(--trace "$TRACE")
  "$BUILD/bench/bench_tsm2_train" --steps "${MMX_BENCH_STEPS:-100}" \
      --modes "${MMX_BENCH_MODES:-eager_fp32,eager_bf16,graph_fp32,graph_bf16}" ${TRACE_ARG[@]+"${TRACE_ARG[@]}"} \
      >"$OUT/bench_tsm2_train.txt" 2>&1 || status=1
  grep -E '^\{' "$OUT/bench_tsm2_train.txt" >"$OUT/bench_tsm2_train.jsonl"
  say "bench done in $(( $(date +%s) - t0 )) s (exit status so far $status):"
  grep -vE '^\{' "$OUT/bench_tsm2_train.txt" | tail -20 | tee -a "$LOG"
fi

if has profile; then
  if [ -f "$TRACE" ]; then
    ${MMX_PYTHON:-python3} tools/bench/profile_split.py "$TRACE" --steps 20 --json >"$OUT/profile_split.txt" 2>&1 || status=1
    tee -a "$LOG" <"$OUT/profile_split.txt"
    gzip -f "$TRACE"
  else
    say "no trace at $TRACE (run the bench step with profile; Kineto may be unavailable)"
  fi
fi

say "done, status $status"
exit $status
