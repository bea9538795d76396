// Launch plan of the CUDA selective scan (the regime heuristic) and the dtype dispatch of the
// forward and backward kernels (scan_fwd_cuda.cuh, scan_bwd_cuda.cuh; instantiated per dtype in
// scan_{fwd,bwd}_{f32,bf16,f16}.cu).
#include "ops/cuda/scan_cuda_common.cuh"

namespace mmx::cuda {

void plan_scan_cuda(ScanCudaParams& p, int sm_count, int chunk_override) {
  // 32-bit sizes: scan_kernel_unsupported keeps u and B below 2^31 elements.
  p.dims = {static_cast<int>(p.batch), static_cast<int>(p.E), static_cast<int>(p.L),
            static_cast<int>(p.N),     static_cast<int>(p.G), static_cast<int>(p.E / p.G)};
  const int N = p.dims.N, L = p.dims.L, Eg = p.dims.Eg;
  // Threads per channel: S = 8 states each (fewer for N < 8), P = ceil(N / 8) lanes.
  p.lanes = N <= 8 ? 1 : (N <= 16 ? 2 : (N <= 32 ? 4 : (N <= 64 ? 8 : (N <= 128 ? 16 : 32))));
  // Channels per block: the largest power of two from 128/P down to 32/P (a whole warp at least)
  // that wastes the fewest threads on the group's last tile.
  const int max_ch = detail::kBlockThreads / p.lanes;
  const int min_ch = max_ch / 4 > 0 ? max_ch / 4 : 1;
  int best = max_ch, best_waste = 1 << 30;
  for (int ch = max_ch; ch >= min_ch; ch /= 2) {
    const int waste = (Eg + ch - 1) / ch * ch - Eg;
    if (waste < best_waste) {
      best = ch;
      best_waste = waste;
    }
  }
  p.channels = best;
  p.tiles = (Eg + best - 1) / best;
  // Time chunks: split only when the sequences alone leave the GPU under-occupied (fewer than
  // 2048 threads per multiprocessor) and each chunk keeps >= 128 steps.
  int want = 1;
  const int64_t threads = p.batch * p.G * p.tiles * p.channels * p.lanes;
  const int64_t target = static_cast<int64_t>(sm_count) * 2048;
  if (threads < target) want = static_cast<int>((target + threads - 1) / threads);
  if (want > L / 128) want = L / 128;
  if (chunk_override > 0) {
    p.chunk = (chunk_override + 31) / 32 * 32;
  } else if (want > 1) {
    p.chunk = ((L + want - 1) / want + 31) / 32 * 32;
  } else {
    p.chunk = L;
  }
  if (p.chunk >= L) p.chunk = L;
  p.n_chunks = (L + p.chunk - 1) / p.chunk;
  p.n_sub = (L + kSubChunk - 1) / kSubChunk;
}

namespace {

using Entry = cudaError_t (*)(const ScanCudaParams&, cudaStream_t);

// The instantiation for p.dtype among the per-dtype entry points (scan_{fwd,bwd}_*.cu); float64
// never comes here (scan_kernel_unsupported).
cudaError_t run_for_dtype(const ScanCudaParams& p, cudaStream_t stream, Entry f32, Entry bf16, Entry f16) {
  switch (p.dtype) {
    case mmx::detail::ScanDType::kFloat32:
      return f32(p, stream);
    case mmx::detail::ScanDType::kBFloat16:
      return bf16(p, stream);
    case mmx::detail::ScanDType::kFloat16:
      return f16(p, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace

cudaError_t scan_fwd_cuda(const ScanCudaParams& p, cudaStream_t stream) {
  return run_for_dtype(p, stream, detail::scan_fwd_f32, detail::scan_fwd_bf16, detail::scan_fwd_f16);
}

cudaError_t scan_bwd_cuda(const ScanCudaParams& p, cudaStream_t stream) {
  return run_for_dtype(p, stream, detail::scan_bwd_f32, detail::scan_bwd_bf16, detail::scan_bwd_f16);
}

}  // namespace mmx::cuda
