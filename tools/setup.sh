#!/usr/bin/env bash
# Installs everything mambamixer needs on a fresh Debian machine, then configures and builds.
# Idempotent: when everything is present it only runs the (incremental) build.
#   apt packages : the C++ libraries we build against (CLI11, toml++, nlohmann-json, GoogleTest,
#                  Google Benchmark, libcsv for CSV tokenising, Howard Hinnant's date for
#                  timestamps, zlib, libpng and libjpeg-turbo for the image data, stb_image_write for test images), gnuplot for forecast plots
#                  and ccache (rebuilds and further build folders reuse earlier compiles)
#   .venv/       : torch==2.11.0 (the LibTorch we link against; same version as the GPU machine)
# Environment: MMX_BUILD_DIR (default build), MMX_BUILD_TYPE (default Release),
#              MMX_SKIP_BUILD=1 to stop after installing, MMX_APT_EXTRA (more apt packages),
#              MMX_BUILD_TARGETS (default: everything; make demo builds only mmx_cli),
#              MMX_CMAKE_ARGS (more CMake arguments for the first configure, e.g. -DMMX_CUDA=ON).
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.11.0
APT_PACKAGES=(cmake ninja-build g++ python3-venv libcli11-dev libtomlplusplus-dev nlohmann-json3-dev
              libgtest-dev libgmock-dev libbenchmark-dev gnuplot-nox zlib1g-dev libpng-dev libjpeg62-turbo-dev
              libcsv-dev libhowardhinnant-date-dev libstb-dev ccache)
# MMX_APT_EXTRA: packages an optional task adds (tools/check/fuzz.sh: clang-16 libclang-rt-16-dev).
read -r -a extra <<< "${MMX_APT_EXTRA:-}"
APT_PACKAGES+=("${extra[@]}")

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The GPU machine has torch preinstalled and no registry access: reuse a system torch of the
# pinned version when there is one (MMX_PYTHON overrides the interpreter).
PY=${MMX_PYTHON:-}
if [ -z "$PY" ]; then
  if python3 -c "import torch,sys; sys.exit(0 if torch.__version__.startswith('$TORCH_VERSION') else 1)" 2>/dev/null; then
    PY=python3
  else
    if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
    PY=.venv/bin/python
    if ! $PY -c "import torch,sys; sys.exit(0 if torch.__version__.startswith('$TORCH_VERSION') else 1)" 2>/dev/null; then
      echo "[setup] pip install torch==$TORCH_VERSION into .venv (first time: several minutes)"
      $PY -m pip install -q --upgrade pip
      $PY -m pip install -q "torch==$TORCH_VERSION" numpy safetensors
    fi
  fi
fi
TORCH_PREFIX=$($PY -c 'import torch; print(torch.utils.cmake_prefix_path)')
echo "[setup] torch $($PY -c 'import torch; print(torch.__version__)') at $TORCH_PREFIX"

[ "${MMX_SKIP_BUILD:-0}" = "1" ] && exit 0
BUILD_DIR=${MMX_BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${MMX_BUILD_TYPE:-Release}" \
        -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -DPython3_EXECUTABLE="$PY" ${MMX_CMAKE_ARGS:-}
fi
targets=()
for t in ${MMX_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
start=$(date +%s)
cmake --build "$BUILD_DIR" -j "$(nproc)" "${targets[@]}"
echo "[setup] build ${MMX_BUILD_TARGETS:-all}: $(( $(date +%s) - start )) s"
