// What this build of mambamixer is: versions, CUDA, threads, the CPU kernel's SIMD level.
#pragma once

#include <string>

namespace mmx {

/// Facts about the running build, printed by `mmx info`.
struct BuildInfo {
  std::string mmx_version;      ///< project version (CMake PROJECT_VERSION)
  std::string torch_version;    ///< LibTorch version compiled against (TORCH_VERSION)
  bool cuda_compiled = false;   ///< CUDA kernels compiled in (nvcc was found at build time)
  bool cuda_available = false;  ///< a CUDA device is usable now
  int cuda_devices = 0;
  int cpu_threads = 0;   ///< at::get_num_threads()
  std::string cpu_simd;  ///< "avx512", "avx2" or "scalar": the CPU scan's instruction set
};

BuildInfo build_info();

}  // namespace mmx
