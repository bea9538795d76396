#!/bin/sh
# needs_cifar.sh DEFAULT_ROOT COMMAND...: runs COMMAND when CIFAR-10 is under the data root
# ($MMX_DATA_ROOT, else DEFAULT_ROOT); otherwise says why and exits 77, which the tests using it
# declare as SKIP_RETURN_CODE (a stated skip, as the C++ tests' GTEST_SKIP for absent data).
root=${MMX_DATA_ROOT:-$1}; shift
if [ ! -f "$root/cifar10/test_batch.bin.gz" ]; then
  echo "SKIPPED: no CIFAR-10 at $root/cifar10 (set MMX_DATA_ROOT to the shared data folder)"
  exit 77
fi
exec "$@"
