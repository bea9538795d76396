// Run-time choice of the CPU scan's instruction set (cpu_isa.h), and mmx::scan_cpu_isa, the
// public report of it (include/mmx/ops/selective_scan.h; `mmx info` prints it).
#include "ops/cpu/cpu_isa.h"

#include <c10/util/Exception.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "mmx/ops/selective_scan.h"

namespace mmx {
namespace cpu {

CpuIsa best_cpu_isa() {
  static const CpuIsa best = [] {
    __builtin_cpu_init();
    CpuIsa b = CpuIsa::kScalar;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) b = CpuIsa::kAvx2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) b = CpuIsa::kAvx512;
    return b;
  }();
  return best;
}

namespace {
CpuIsa clamp_isa(CpuIsa want) {
  return static_cast<int>(want) < static_cast<int>(best_cpu_isa()) ? want : best_cpu_isa();
}
std::atomic<int>& isa_override() {
  static std::atomic<int> v{-1};
  return v;
}
}  // namespace

void set_cpu_isa(CpuIsa isa) { isa_override().store(static_cast<int>(clamp_isa(isa))); }

CpuIsa active_cpu_isa() {
  if (const int o = isa_override().load(); o >= 0) return static_cast<CpuIsa>(o);
  static const CpuIsa from_env = [] {
    const char* env = std::getenv("MMX_CPU_ISA");
    if (!env) return best_cpu_isa();
    if (std::strcmp(env, "scalar") == 0) return clamp_isa(CpuIsa::kScalar);
    if (std::strcmp(env, "avx2") == 0) return clamp_isa(CpuIsa::kAvx2);
    if (std::strcmp(env, "avx512") == 0) return clamp_isa(CpuIsa::kAvx512);
    TORCH_WARN("MMX_CPU_ISA=", env, " is not one of scalar, avx2, avx512; ignored");
    return best_cpu_isa();
  }();
  return from_env;
}

std::string cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx512:
      return "avx512";
    case CpuIsa::kAvx2:
      return "avx2";
    default:
      return "scalar";
  }
}

}  // namespace cpu

std::string scan_cpu_isa() { return cpu::cpu_isa_name(cpu::active_cpu_isa()); }

}  // namespace mmx
