// Launch plan of the CUDA selective scan (the regime heuristic) and the dtype dispatch of the
// forward and backward kernels (scan_fwd_cuda.cuh, scan_bwd_cuda.cuh; instantiated per dtype in
// scan_{fwd,bwd}_{f32,bf16,f16}.cu).
#include "ops/cuda/scan_cuda_common.cuh"

namespace mmx::cuda {

void plan_scan_cuda(ScanCudaParams& p, int sm_count, int chunk_override) {
  // Threads per channel: S = 8 states each (fewer for N < 8), P = ceil(N / 8) lanes.
  p.lanes = p.N <= 8 ? 1 : (p.N <= 16 ? 2 : (p.N <= 32 ? 4 : (p.N <= 64 ? 8 : (p.N <= 128 ? 16 : 32))));
  // Channels per block: the largest power of two from 128/P down to 32/P (a whole warp at least)
  // that wastes the fewest threads on the group's last tile.
  const int max_ch = detail::kBlockThreads / p.lanes;
  const int min_ch = max_ch / 4 > 0 ? max_ch / 4 : 1;
  int best = max_ch, best_waste = 1 << 30;
  for (int ch = max_ch; ch >= min_ch; ch /= 2) {
    const int waste = (p.Eg + ch - 1) / ch * ch - p.Eg;
    if (waste < best_waste) {
      best = ch;
      best_waste = waste;
    }
  }
  p.channels = best;
  p.tiles = (p.Eg + best - 1) / best;
  // Time chunks: split only when the sequences alone leave the GPU under-occupied (fewer than
  // 2048 threads per multiprocessor) and each chunk keeps >= 128 steps.
  int want = 1;
  const int64_t threads = static_cast<int64_t>(p.batch) * p.G * p.tiles * p.channels * p.lanes;
  const int64_t target = static_cast<int64_t>(sm_count) * 2048;
  if (threads < target) want = static_cast<int>((target + threads - 1) / threads);
  if (want > p.L / 128) want = p.L / 128;
  if (chunk_override > 0) {
    p.chunk = (chunk_override + 31) / 32 * 32;
  } else if (want > 1) {
    p.chunk = ((p.L + want - 1) / want + 31) / 32 * 32;
  } else {
    p.chunk = p.L;
  }
  if (p.chunk >= p.L) p.chunk = p.L;
  p.n_chunks = (p.L + p.chunk - 1) / p.chunk;
  p.n_sub = (p.L + kSubChunk - 1) / kSubChunk;
}

cudaError_t scan_fwd_cuda(const ScanCudaParams& p, cudaStream_t stream) {
  switch (p.io) {
    case IoType::kFloat32: return detail::scan_fwd_f32(p, stream);
    case IoType::kBFloat16: return detail::scan_fwd_bf16(p, stream);
    default: return detail::scan_fwd_f16(p, stream);
  }
}

cudaError_t scan_bwd_cuda(const ScanCudaParams& p, cudaStream_t stream) {
  switch (p.io) {
    case IoType::kFloat32: return detail::scan_bwd_f32(p, stream);
    case IoType::kBFloat16: return detail::scan_bwd_bf16(p, stream);
    default: return detail::scan_bwd_f16(p, stream);
  }
}

}  // namespace mmx::cuda
