# mambamixer: the two commands of the README, and a few conveniences.
#   make demo   set up (apt packages, .venv with torch 2.11.0, build the mmx tool only) and run the main job
#   make test   set up and run the default test suite (CPU; no slow or GPU tests)
#   make fuzz   build the fuzz targets (clang, build-fuzz) and run each FUZZ_SECONDS (default 60)
#   make test-asan  the default test suite under ASan + UBSan (build-asan; slow: a full build)
#   make format     clang-format (.clang-format) over every C++ and CUDA source
BUILD_DIR ?= build
JOBS ?= $(shell nproc)

.PHONY: setup demo test test-slow bench fuzz test-asan format clean

setup:
	MMX_BUILD_DIR=$(BUILD_DIR) ./tools/setup.sh

demo:
	MMX_BUILD_DIR=$(BUILD_DIR) MMX_BUILD_TARGETS=mmx_cli ./tools/setup.sh
	./tools/demo.sh $(BUILD_DIR)

test: setup
	cd $(BUILD_DIR) && ctest -LE "slow|cuda" --output-on-failure -j $(JOBS) --timeout 1500

test-slow: setup
	cd $(BUILD_DIR) && ctest -L slow --output-on-failure --timeout 3600

fuzz: setup
	MMX_BUILD_DIR=$(BUILD_DIR) ./tools/check/fuzz.sh

test-asan:
	./tools/check/test_asan.sh

bench: setup
	./tools/bench/cpu.sh $(BUILD_DIR)

format:
	@command -v clang-format >/dev/null || { echo "clang-format is not installed (apt-get install clang-format)"; exit 1; }
	clang-format -i $$(git ls-files '*.h' '*.cpp' '*.cu' '*.cuh')

clean:
	rm -rf $(BUILD_DIR)
