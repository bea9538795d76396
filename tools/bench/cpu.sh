#!/usr/bin/env bash
# Runs the CPU selective-scan benchmark and prints the table recorded in docs/bench.md.
# Usage: tools/bench/cpu.sh [build-dir] [extra Google Benchmark flags]
set -euo pipefail
BUILD_DIR=${1:-build}
shift || true
cd "$(dirname "$0")/../.."
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(nproc) cores"
"$BUILD_DIR/bench/bench_scan_cpu" --benchmark_counters_tabular=true "$@"
