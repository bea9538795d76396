// Build facts for `mmx info`.
#include "mmx/core/build_info.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "mmx/ops/selective_scan.h"

namespace mmx {

BuildInfo build_info() {
  BuildInfo b;
  b.mmx_version = MMX_VERSION;
  b.torch_version = TORCH_VERSION;
#ifdef MMX_WITH_CUDA
  b.cuda_compiled = true;
#endif
  b.cuda_available = torch::cuda::is_available();
  b.cuda_devices = b.cuda_available ? static_cast<int>(torch::cuda::device_count()) : 0;
  b.cpu_threads = at::get_num_threads();
  b.cpu_simd = scan_cpu_isa();
  return b;
}

}  // namespace mmx
