# Sourced by tools/check/test_asan.sh and tools/check/fuzz.sh: run-time options of the sanitizers.
# LibTorch is not instrumented; ASan still sees its heap (malloc is intercepted process-wide).
# Leaks are checked (ours must be found); tools/check/sanitizers/lsan.supp names the LibTorch
# allocations that are left for the process exit on purpose. Every UBSan report stops the program
# (halt_on_error) except the benign ones of tools/check/sanitizers/ubsan.supp.
_mmx_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:check_initialization_order=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$_mmx_root/tools/check/sanitizers/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$_mmx_root/tools/check/sanitizers/ubsan.supp}
unset _mmx_root
