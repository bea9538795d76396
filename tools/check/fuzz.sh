#!/usr/bin/env bash
# make fuzz: builds the fuzz targets of fuzz/ (clang, libFuzzer, ASan + UBSan) in build-fuzz and
# runs each for FUZZ_SECONDS from seed corpora made of the test fixtures (docs/fuzzing.md).
# The targets link the regular build's libmmx.so (make setup builds it first).
# A run fails when a target reports a finding: crash, sanitizer report, unexpected exception type,
# timeout (> 10 s per input), a single allocation over 1 GiB or RSS over 2 GiB; the input is saved
# under build-fuzz/findings/<target>/.
# Environment: FUZZ_SECONDS (default 60 per target), FUZZ_RUNS (instead of FUZZ_SECONDS: that many
#   inputs per target from random seed 1, so that a run is repeatable; CI uses it), FUZZ_TARGETS (default: all four),
#   MMX_BUILD_DIR (the regular build, default build), MMX_FUZZ_BUILD_DIR (default build-fuzz).
# Corpora grow across runs in build-fuzz/corpus/<target>/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/../.."
MAIN_BUILD=${MMX_BUILD_DIR:-build}
FUZZ_BUILD=${MMX_FUZZ_BUILD_DIR:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
if [ -n "${FUZZ_RUNS:-}" ]; then
  BUDGET=(-runs="$FUZZ_RUNS" -seed=1)
  BUDGET_TEXT="$FUZZ_RUNS inputs from seed 1"
else
  BUDGET=(-max_total_time="$SECONDS_EACH")
  BUDGET_TEXT="${SECONDS_EACH} s"
fi
TARGETS=${FUZZ_TARGETS:-fuzz_csv fuzz_config fuzz_checkpoint fuzz_image}
LIB="$(cd "$MAIN_BUILD" 2>/dev/null && pwd)/src/libmmx.so"
[ -f "$LIB" ] || { echo "[fuzz] $MAIN_BUILD/src/libmmx.so not found: run make setup first" >&2; exit 1; }
# clang 16 (Debian bookworm): libFuzzer and the sanitizer runtimes (llvm-16: llvm-symbolizer);
# clang 14 lacks C++20 features the sources use (lambdas capturing structured bindings).
MMX_APT_EXTRA="clang-16 libclang-rt-16-dev llvm-16" MMX_SKIP_BUILD=1 ./tools/setup.sh >/dev/null
export PATH=/usr/lib/llvm-16/bin:$PATH  # clang++ and llvm-symbolizer (stack traces) of version 16
source tools/check/sanitizer_env.sh

PY=$(sed -n 's/^Python3_EXECUTABLE:[A-Z]*=//p' "$MAIN_BUILD/CMakeCache.txt")
TORCH_PREFIX=$(sed -n 's/^CMAKE_PREFIX_PATH:[A-Z]*=//p' "$MAIN_BUILD/CMakeCache.txt")
if [ ! -f "$FUZZ_BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$FUZZ_BUILD" -G Ninja -DCMAKE_CXX_COMPILER=clang++-16 -DCMAKE_BUILD_TYPE=None \
        -DMMX_FUZZ=ON -DMMX_FUZZ_LINK_LIBRARY="$LIB" -DMMX_CUDA=OFF -DMMX_BUILD_TESTS=OFF \
        -DMMX_BUILD_BENCH=OFF -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -DPython3_EXECUTABLE="$PY" >/dev/null
fi
start=$(date +%s)
cmake --build "$FUZZ_BUILD" --target mmx_fuzzers -j "${JOBS:-$(nproc)}"
echo "[fuzz] build: $(( $(date +%s) - start )) s"

# Seeds, rebuilt each run: the test fixtures (CSV with the two option bytes of fuzz_csv, configs
# with and without --set overrides), generated checkpoints and images, committed image seeds.
SEEDS="$FUZZ_BUILD/seeds"
rm -rf "$SEEDS"
"$FUZZ_BUILD/fuzz/make_seeds" "$SEEDS"
mkdir -p "$SEEDS/fuzz_csv" "$SEEDS/fuzz_config"
mv "$SEEDS/checkpoint" "$SEEDS/fuzz_checkpoint"
mv "$SEEDS/image" "$SEEDS/fuzz_image"
cp fuzz/seeds/image/* "$SEEDS/fuzz_image/"
# fuzz_csv option byte: 0x00 error, 0x01 ffill, 0x02 zero, 0x0c skip_non_numeric+require_increasing,
# 0x50 date_column "date" + columns {OT}.
for f in tests/data/fixtures/*.csv tests/cli/*.csv; do
  name=$(basename "$f" .csv)
  for flags in 00 01 02 0c 50; do
    { printf "\x$flags,"; cat "$f"; } > "$SEEDS/fuzz_csv/${name}_$flags"
  done
  { printf '\x00;'; tr ',' ';' < "$f"; } > "$SEEDS/fuzz_csv/${name}_semicolon"
done
for f in configs/*/*.toml tests/cli/tiny.toml; do
  cp "$f" "$SEEDS/fuzz_config/$(basename "$(dirname "$f")")_$(basename "$f")"
done
{ cat tests/cli/tiny.toml; printf '\0train.lr=5e-4\0model.d_model=16\0data.fill=ffill'; } > "$SEEDS/fuzz_config/tsm2_overrides"
{ cat configs/vim2/cifar10_quick.toml; printf '\0model.preset=vim2_small\0augment.hflip=0.25\0model.dims=[8,16,32,64]'; } \
  > "$SEEDS/fuzz_config/vim2_overrides"

declare -A DICT=([fuzz_csv]=csv [fuzz_config]=toml [fuzz_checkpoint]=safetensors [fuzz_image]=image)
cat fuzz/dict/toml.dict "$SEEDS/config_keys.dict" > "$SEEDS/toml.dict"

failed=()
for t in $TARGETS; do
  corpus="$FUZZ_BUILD/corpus/$t"
  findings="$FUZZ_BUILD/findings/$t"
  mkdir -p "$corpus" "$findings"
  dict="fuzz/dict/${DICT[$t]}.dict"
  [ "$t" = fuzz_config ] && dict="$SEEDS/toml.dict"
  echo "[fuzz] $t for ${BUDGET_TEXT} (corpus $corpus, seeds $SEEDS/$t)"
  start=$(date +%s)
  if "$FUZZ_BUILD/fuzz/$t" "${BUDGET[@]}" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
       -dict="$dict" -artifact_prefix="$findings/" -print_final_stats=1 -print_pcs=0 \
       "$corpus" "$SEEDS/$t" > "$FUZZ_BUILD/$t.log" 2>&1; then
    echo "[fuzz] $t: no finding in $(( $(date +%s) - start )) s; $(grep -E '^stat::number_of_executed_units' "$FUZZ_BUILD/$t.log" | awk '{print $2}') inputs; $(grep -E '^#[0-9]+[[:space:]]+DONE' "$FUZZ_BUILD/$t.log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [^ ]+')"
  else
    echo "[fuzz] $t: FINDING (log $FUZZ_BUILD/$t.log):"
    grep -E "ERROR|runtime error|fuzz finding|out-of-memory|timeout|Test unit written" "$FUZZ_BUILD/$t.log" | head -n 20
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "[fuzz] findings in: ${failed[*]}"
  exit 1
fi
echo "[fuzz] all targets clean"
