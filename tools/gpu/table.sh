#!/usr/bin/env bash
# Many `mmx sweep` files in one call on the GPU machine (the forecasting table of docs/results.md):
# builds the CLI like tools/gpu/sweep.sh, starts the CUDA MPS daemon when it can (so that the runs'
# small kernels share the GPU instead of taking turns), runs MMX_SWEEPS sweeps at once with
# MMX_JOBS runs each (train.device=cuda, train.cuda_graph=true), stops them all at MMX_DEADLINE
# seconds after the script started, and packs every run folder (no checkpoints) into
# $OUT/table.tgz (the device returns at most 8 files, so nothing else per sweep goes to $OUT).
# A carried carry/table_in.tgz (an earlier call's table.tgz) is unpacked first, so
# the sweeps resume: finished runs are not rerun.
# Usage (GPU machine): tools/gpu/table.sh SWEEP.toml...   (carry .gpu_deps, .gpu_data)
set -uo pipefail
cd "$(dirname "$0")/../.."
T0=$(date +%s)
OUT=${OUT:-$PWD/gpu_table_out}
mkdir -p "$OUT"
export OUT
LOG=$OUT/table.log
say() { echo "[table $(date +%H:%M:%S) +$(( $(date +%s) - T0 ))s] $*" | tee -a "$LOG"; }
[ -d .gpu_data ] && export MMX_DATA_ROOT=$PWD/.gpu_data
TABLE=runs/table
mkdir -p "$TABLE"
if [ -f carry/table_in.tgz ]; then tar -C runs -xzf carry/table_in.tgz && say "resumed from carry/table_in.tgz"; fi

MMX_BUILD_DIR=build-gpu-full MMX_OPS_ONLY=OFF MMX_GPU_TARGETS=mmx_cli tools/gpu/check.sh build >>"$LOG" 2>&1 \
  || { say "build FAILED"; grep -E "error|FAILED" "$OUT/gpu_check.log" | head -30 | tee -a "$LOG"; exit 4; }
[ -d .gpu_deps/lib ] && export LD_LIBRARY_PATH=$PWD/.gpu_deps/lib:${LD_LIBRARY_PATH:-}
say "build ok"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$LOG"

if [ "${MMX_MPS:-1}" = 1 ] && command -v nvidia-cuda-mps-control >/dev/null; then
  export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps_pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps_log
  mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
  if nvidia-cuda-mps-control -d 2>>"$LOG" &&
     timeout 60 python3 -c "import torch; torch.zeros(1, device='cuda'); print('cuda ok under MPS')" >>"$LOG" 2>&1; then
    say "MPS on"
  else
    echo quit | nvidia-cuda-mps-control 2>/dev/null
    unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
    say "MPS not available; runs take turns on the GPU"
  fi
fi

DEADLINE=${MMX_DEADLINE:-540}
run_one() {  # SWEEP.toml: its runs go to runs/table/<name>
  local name; name=$(basename "$1" .toml)
  local t0; t0=$(date +%s)
  build-gpu-full/mmx sweep "$1" --set train.device=cuda --set train.cuda_graph=true \
    --jobs "${MMX_JOBS:-2}" --out "runs/table/$name" >/dev/null 2>"runs/table/$name.log"
  echo "[table] $name exit $? in $(( $(date +%s) - t0 )) s" >>"$LOG"
}
export -f run_one
export LOG
setsid bash -c 'printf "%s\n" "$@" | xargs -P "${MMX_SWEEPS:-6}" -I{} bash -c "run_one {}"' _ "$@" &
group=$!
while kill -0 "$group" 2>/dev/null && [ $(( $(date +%s) - T0 )) -lt "$DEADLINE" ]; do sleep 5; done
if kill -0 "$group" 2>/dev/null; then
  say "deadline: stopping the sweeps still running"
  kill -TERM -- "-$group" 2>/dev/null; sleep 5; kill -KILL -- "-$group" 2>/dev/null
fi
wait "$group" 2>/dev/null
say "sweeps done"
[ -n "${CUDA_MPS_PIPE_DIRECTORY:-}" ] && echo quit | nvidia-cuda-mps-control
say "$(find "$TABLE" -name metrics.json | wc -l) run folders with metrics"
tar -C runs --exclude='*.safetensors' -czf "$OUT/table.tgz" table
say "packed $(du -h "$OUT/table.tgz" | cut -f1)"
