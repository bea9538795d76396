#!/usr/bin/env bash
# `mmx sweep` on the GPU machine in one call: builds the CLI (full library, CUDA kernels) with
# tools/gpu/check.sh's dependency handling, runs the sweep file with train.device=cuda and
# MMX_PARALLEL runs at once (default 6) sharing the one GPU, then packs sweep.csv, summary.md and
# every run's metrics, config and log (no checkpoints) into $OUT/sweep.tgz.
# Usage (GPU machine): tools/gpu/sweep.sh SWEEP.toml [more mmx sweep arguments]
#   (carry .gpu_deps, see tools/gpu/check.sh --prepare; data other than the bundled ETTh1 must be
#   carried and named by MMX_DATA_ROOT)
set -uo pipefail
cd "$(dirname "$0")/../.."
SWEEP=${1:?sweep file}; shift
OUT=${OUT:-$PWD/gpu_sweep_out}
mkdir -p "$OUT"
export OUT
MMX_BUILD_DIR=build-gpu-full MMX_OPS_ONLY=OFF MMX_GPU_TARGETS=mmx_cli tools/gpu/check.sh build || exit $?
[ -d .gpu_deps/lib ] && export LD_LIBRARY_PATH=$PWD/.gpu_deps/lib:${LD_LIBRARY_PATH:-}
t0=$(date +%s)
build-gpu-full/mmx sweep "$SWEEP" --set train.device=cuda --jobs "${MMX_PARALLEL:-6}" --out "$OUT/sweep" "$@" \
  > "$OUT/sweep_stdout.md" 2> "$OUT/sweep.log"
status=$?
echo "sweep exit $status in $(( $(date +%s) - t0 )) s" | tee -a "$OUT/sweep.log"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader >> "$OUT/sweep.log" 2>&1
cp "$OUT/sweep/sweep.csv" "$OUT/sweep/summary.md" "$OUT/" 2>/dev/null
tar -C "$OUT" --exclude='*.safetensors' -czf "$OUT/sweep.tgz" sweep && rm -rf "$OUT/sweep"
exit $status
