// Instantiates the backward selective-scan kernels of scan_bwd_cuda.cuh for float32 inputs (one
// translation unit per dtype so they compile in parallel; the mapping is described there).
#include "ops/cuda/scan_bwd_cuda.cuh"

namespace mmx::cuda::detail {

cudaError_t scan_bwd_f32(const ScanCudaParams& p, cudaStream_t stream) { return bwd_dispatch_n<float>(p, stream); }

}  // namespace mmx::cuda::detail
