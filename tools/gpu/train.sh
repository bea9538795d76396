#!/usr/bin/env bash
# TSM2 trainings on the GPU machine in one call: builds the CLI (full library, CUDA kernels) with
# tools/gpu/check.sh's dependency handling, then runs the configurations listed in a grid file
# (one `--set ...` line per run, after the config path), 4 at a time on the one GPU, and collects
# every run's metrics.json, config and log into $OUT/runs.tgz (checkpoints left out). Selection is by validation MSE only
# (tools/results/select_runs.py reads the results).
# Usage (GPU machine): tools/gpu/train.sh GRID_FILE     (carry .gpu_deps, see tools/gpu/check.sh --prepare)
set -uo pipefail
cd "$(dirname "$0")/../.."
GRID=${1:?grid file}
OUT=${OUT:-$PWD/gpu_train_out}
mkdir -p "$OUT/runs"
export OUT
MMX_BUILD_DIR=build-gpu-full MMX_OPS_ONLY=OFF MMX_GPU_TARGETS=mmx_cli tools/gpu/check.sh build || exit $?
[ -d .gpu_deps/lib ] && export LD_LIBRARY_PATH=$PWD/.gpu_deps/lib:${LD_LIBRARY_PATH:-}
t0=$(date +%s)
grep -v '^\s*#' "$GRID" | grep -v '^\s*$' | nl -w3 -nrz -s' ' | \
  xargs -P "${MMX_PARALLEL:-4}" -L 1 bash -c '
    id=$0; cfg=$1; shift
    name=run$id
    build-gpu-full/mmx train "$cfg" "$@" --set train.device=cuda --out "$OUT/runs/$name" --no-progress \
      > "$OUT/runs/$name.log" 2>&1 || echo "run $name failed: $(tail -2 "$OUT/runs/$name.log")"
    echo "$cfg $*" > "$OUT/runs/$name/args.txt" 2>/dev/null
    rm -f "$OUT/runs/$name/last.safetensors"'
echo "grid done in $(( $(date +%s) - t0 )) s"
# The device returns few files: pack the runs (without checkpoints) into one archive.
tar -C "$OUT" --exclude='*.safetensors' -czf "$OUT/runs.tgz" runs && rm -rf "$OUT/runs"
