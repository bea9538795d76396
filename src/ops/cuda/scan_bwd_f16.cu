// Instantiates the backward selective-scan kernels of scan_bwd_cuda.cuh for float16 inputs (one
// translation unit per dtype so they compile in parallel; the mapping is described there).
#include "ops/cuda/scan_bwd_cuda.cuh"

namespace mmx::cuda::detail {

cudaError_t scan_bwd_f16(const ScanCudaParams& p, cudaStream_t stream) { return bwd_dispatch_n<__half>(p, stream); }

}  // namespace mmx::cuda::detail
