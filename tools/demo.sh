#!/usr/bin/env bash
# The README's main job: train TSM2 on the bundled ETTh1 (lookback 512, horizon 96) with a short
# budget, print the test MSE/MAE, then forecast the last 96 hours of the test split from the 512
# before them and plot the forecast against the truth.
# Usage: tools/demo.sh [build-dir]   (after tools/setup.sh)
set -euo pipefail
BUILD_DIR=${1:-build}
cd "$(dirname "$0")/.."
RUN=runs/demo
mkdir -p "$RUN"
"$BUILD_DIR/mmx" train configs/tsm2/etth1_96_quick.toml --out "$RUN" | tee "$RUN/result.txt"
# Rows [13792, 14400) of ETTh1 = the last 608 rows of the test split (file line = row + 2).
head -n 1 data/ETTh1.csv > "$RUN/input.csv"
sed -n '13794,14401p' data/ETTh1.csv >> "$RUN/input.csv"
"$BUILD_DIR/mmx" forecast --checkpoint "$RUN/best.safetensors" --input "$RUN/input.csv" --holdout \
  --output "$RUN/forecast.csv" --plot "$RUN/forecast.png"
echo "demo done: test metrics in $RUN/metrics.json, forecast in $RUN/forecast.csv, plot in $RUN/forecast.png"
