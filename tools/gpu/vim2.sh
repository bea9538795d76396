#!/usr/bin/env bash
# ViM2 on the GPU machine, in as few calls as possible (the device budget is 30 minutes):
#   build        configure + build the whole library, the CLI, bench_vim2 and the nn/train/cuda
#                tests through tools/gpu/check.sh's build step (system torch, carried .gpu_deps)
#   stage        copy the carried CIFAR-10 pieces (.gpu_data/cifar*/*, one with a SHA256SUMS file
#                of the data set's lines for them) into $MMX_GPU_DATA/cifar10
#                (default /tmp/mmxdata; a call carries at most 64 MiB, so the 170 MB set arrives
#                over several calls while the machine stays warm)
#   test         test_vim2 (CPU tests, run on the GPU machine's cores) and the CUDA scan tests
#   bench        bench_vim2: ViM2-T 224 px batch 128 training and inference, bf16 and fp32 (and bf16
#                training with --scan-recompute), and the CIFAR config's throughput
#                (MMX_CIFAR_CONFIG)
#   profile      Kineto traces of 5 training steps (CIFAR config batch 512, ViM2-T 224 batch 128,
#                bf16) split by tools/bench/profile_split.py into scan / GEMM / rest, with the scan
#                launches by shape ($OUT/profile_*.txt)
#   tsm2         complete bf16 TSM2 trainings on the GPU (configs/tsm2/etth1_96.toml on the
#                embedded ETTh1, eager and CUDA graph), metrics in $OUT/tsm2_bf16_{eager,graph}/
#   cifar        mmx train $MMX_CIFAR_CONFIG on the staged CIFAR-10 (run dir packed into
#                $OUT/cifar_run.tgz), extra overrides in MMX_CIFAR_SET (space separated key=value)
# Usage: tools/gpu/vim2.sh [steps...]   (default: build test bench). Output in $OUT (./gpu_out).
NAME=gpu_vim2 DEFAULT_BUILD=build-gpu-all STEPS=${*:-build test bench}
# shellcheck source=tools/gpu/common.sh
source "$(dirname "$0")/common.sh"
DATA=${MMX_GPU_DATA:-/tmp/mmxdata}
CIFAR_CONFIG=${MMX_CIFAR_CONFIG:-configs/vim2/cifar10_vim2.toml}
say "steps: $STEPS; build dir $BUILD"

has build && gpu_build "nn;train;cuda" mmx_cli bench_vim2 bench_tsm2_train bench_scan_cuda test_vim2 \
  test_scan_cuda test_graph_step test_adamw

if has stage; then
  mkdir -p "$DATA/cifar10"
  cp .gpu_data/cifar*/* "$DATA/cifar10/" 2>/dev/null
  say "staged: $(ls "$DATA/cifar10" | tr '\n' ' ')"
fi

has test && gpu_tests test_vim2 test_scan_cuda

if has bench; then
  B="$BUILD/bench/bench_vim2"
  for prec in bf16 fp32; do
    "$B" --preset vim2_tiny --batch 128 --precision $prec --mode train,infer --steps 20 --warmup 5 \
      2>&1 | tee -a "$OUT/bench_vim2.jsonl" | tee -a "$LOG" || status=1
  done
  "$B" --preset vim2_tiny --batch 128 --precision bf16 --mode train --steps 20 --warmup 5 --scan-recompute \
    2>&1 | tee -a "$OUT/bench_vim2.jsonl" | tee -a "$LOG" || status=1
  "$B" --config "$CIFAR_CONFIG" --batch 512 --precision bf16 --mode train,infer --steps 20 --warmup 5 \
    2>&1 | tee -a "$OUT/bench_vim2.jsonl" | tee -a "$LOG" || status=1
fi

if has profile; then
  B="$BUILD/bench/bench_vim2"
  for spec in "cifar:--config $CIFAR_CONFIG --batch 512" "tiny:--preset vim2_tiny --batch 128"; do
    name=${spec%%:*}
    # shellcheck disable=SC2086
    "$B" ${spec#*:} --precision bf16 --mode train --steps 5 --warmup 3 --trace "$OUT/trace_$name.json" \
      >>"$LOG" 2>&1 || status=1
    ${MMX_PYTHON:-python3} tools/bench/profile_split.py "$OUT/trace_$name.json" --steps 5 --top 25 --json \
      >"$OUT/profile_$name.txt" 2>&1 || status=1
    say "profile $name:"; head -30 "$OUT/profile_$name.txt" | tee -a "$LOG"
    rm -f "$OUT/trace_$name.json"
  done
fi

if has tsm2; then
  for mode in eager graph; do
    t0=$(date +%s)
    graph=false; [ $mode = graph ] && graph=true
    "$BUILD/mmx" train configs/tsm2/etth1_96.toml --out "$OUT/tsm2_bf16_$mode" --no-progress \
      --set train.device=cuda --set train.precision=bf16 --set train.cuda_graph=$graph \
      >"$OUT/tsm2_bf16_$mode.log" 2>&1 || status=1
    rm -f "$OUT/tsm2_bf16_$mode"/*.safetensors
    say "tsm2 bf16 $mode: $(( $(date +%s) - t0 )) s, $(tail -3 "$OUT/tsm2_bf16_$mode.log" | tr '\n' ' ')"
  done
fi

if has cifar; then
  # The staged pieces must be the published files (a wrong copy once made a run invalid): check
  # them against the data set's SHA256SUMS lines, carried as .gpu_data/cifar*/SHA256SUMS.
  if ! (cd "$DATA/cifar10" && sha256sum -c --quiet SHA256SUMS) >>"$LOG" 2>&1; then
    say "staged CIFAR-10 does not match SHA256SUMS; not training"
    exit 5
  fi
  t0=$(date +%s)
  RUN=$OUT/cifar_run
  SETS=(--set "data.data_root=$DATA")
  for kv in ${MMX_CIFAR_SET:-}; do SETS+=(--set "$kv"); done
  "$BUILD/mmx" train "$CIFAR_CONFIG" --out "$RUN" --no-progress "${SETS[@]}" >"$OUT/cifar_train.log" 2>&1 || status=1
  say "cifar training finished in $(( $(date +%s) - t0 )) s (status $status)"
  tail -25 "$OUT/cifar_train.log" | tee -a "$LOG"
  rm -f "$RUN"/*.safetensors.tmp
  tar -czf "$OUT/cifar_run.tgz" --exclude="*.safetensors" -C "$OUT" cifar_run && rm -rf "$RUN"
fi
say "done (status $status)"
exit $status
