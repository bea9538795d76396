// The capability predicate of the fused selective-scan kernels (declared and documented in
// scan_params.h). The one place that states what the kernels take; the entry, both backends and
// the tests ask it.
#include "ops/scan_params.h"

namespace mmx::detail {

namespace {

// Largest state size of the CUDA kernels: 32 lanes of 8 states per channel (plan_scan_cuda), the
// limit of mamba_ssm's kernels too (MAX_DSTATE, csrc/selective_scan/selective_scan.cpp).
constexpr int64_t kCudaMaxDState = 256;
// The CUDA kernels keep sizes and grid indices in 32-bit ints: u (batch*E*L elements) and B
// (batch*G*N*L) must have fewer than 2^31 elements.
constexpr int64_t kCudaMaxNumel = int64_t{1} << 31;

const char* cpu_unsupported(const ScanParams& p) {
  if (p.dtype != ScanDType::kFloat32 && p.dtype != ScanDType::kBFloat16)
    return "the CPU kernel takes float32 or bfloat16 inputs";
  return nullptr;
}

const char* cuda_unsupported(const ScanParams& p) {
#ifdef MMX_WITH_CUDA
  if (p.dtype == ScanDType::kFloat64) return "the CUDA kernel takes float32, bfloat16 or float16 inputs";
  if (p.N > kCudaMaxDState) return "the CUDA kernel takes state sizes N <= 256";
  if (p.batch * p.E * p.L >= kCudaMaxNumel || p.batch * p.G * p.N * p.L >= kCudaMaxNumel)
    return "the CUDA kernel takes fewer than 2^31 elements per tensor";
  return nullptr;
#else
  (void)p;
  return "this build has no CUDA kernels (built without nvcc)";
#endif
}

}  // namespace

const char* scan_kernel_unsupported(const ScanParams& p) {
  switch (p.device) {
    case ScanDevice::kCpu:
      return cpu_unsupported(p);
    case ScanDevice::kCuda:
      return cuda_unsupported(p);
    default:
      return "no fused kernel for this device";
  }
}

bool scan_kernel_reads_strides(ScanDevice device) { return device == ScanDevice::kCpu; }

}  // namespace mmx::detail
