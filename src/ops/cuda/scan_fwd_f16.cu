// Instantiates the forward selective-scan kernels of scan_fwd_cuda.cuh for float16 inputs (one
// translation unit per dtype so they compile in parallel; the mapping is described there).
#include "ops/cuda/scan_fwd_cuda.cuh"

namespace mmx::cuda::detail {

cudaError_t scan_fwd_f16(const ScanCudaParams& p, cudaStream_t stream) { return fwd_dispatch_n<__half>(p, stream); }

}  // namespace mmx::cuda::detail
