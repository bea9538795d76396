// What the forward and backward launches (scan_fwd_cuda.cuh, scan_bwd_cuda.cuh) share: the
// choice of the compile-time (S, P) from the plan, the shared-memory opt-in, and the combine pass
// over time chunks.
#pragma once

#include <type_traits>

#include "ops/cuda/scan_cuda_common.cuh"

namespace mmx::cuda::detail {

template <int V>
using IntC = std::integral_constant<int, V>;

/// Calls launch(IntC<S>{}, IntC<P>{}) with the (states per thread, lanes per channel) the plan
/// implies: (1, 1) for N = 1, (4, 1) for N <= 4, (8, 1) for N <= 8, then S = 8 and P = p.lanes.
template <typename F>
cudaError_t dispatch_states(const ScanCudaParams& p, F&& launch) {
  switch (p.lanes) {
    case 1:
      if (p.N == 1) return launch(IntC<1>{}, IntC<1>{});
      if (p.N <= 4) return launch(IntC<4>{}, IntC<1>{});
      return launch(IntC<8>{}, IntC<1>{});
    case 2:
      return launch(IntC<8>{}, IntC<2>{});
    case 4:
      return launch(IntC<8>{}, IntC<4>{});
    case 8:
      return launch(IntC<8>{}, IntC<8>{});
    case 16:
      return launch(IntC<8>{}, IntC<16>{});
    default:
      return launch(IntC<8>{}, IntC<32>{});
  }
}

/// Lets `kernel` use `bytes` of dynamic shared memory when that is above the default 48 KiB.
template <typename Kernel>
void allow_smem(Kernel kernel, size_t bytes) {
  if (bytes > 48 * 1024)
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
}

/// Chunk combine, one thread per (b, e, n): the carry entering each chunk from the chunks' local
/// results (chunk_h, chunk_dsum) into chunk_carry. Forward: states, from h0 through the chunks
/// in time order, h <- exp(A sum Delta) h + h_local. Backward (kBackward): gradients, from dlast
/// through the chunks in reverse order, by the same recurrence.
template <bool kBackward>
static __global__ void scan_combine_kernel(const ScanCudaParams p) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t total = p.batch * p.E * p.N;
  if (idx >= total) return;
  const int64_t be = idx / p.N;
  const int n = static_cast<int>(idx - be * p.N);
  const int e = static_cast<int>(be % p.E);
  const float a2 = p.A[static_cast<int64_t>(e) * p.N + n] * kLog2e;
  const float* init = kBackward ? p.dlast : p.h0;
  float h = init ? init[idx] : 0.0f;
  for (int i = 0; i < p.n_chunks; ++i) {
    const int c = kBackward ? p.n_chunks - 1 - i : i;
    const int64_t ci = (be * p.n_chunks + c) * p.N + n;
    p.chunk_carry[ci] = h;
    h = fmaf(exp2f(a2 * p.chunk_dsum[be * p.n_chunks + c]), h, p.chunk_h[ci]);
  }
}

/// Launches the combine pass over all (b, e, n) on `stream`.
template <bool kBackward>
static void launch_combine(const ScanCudaParams& p, cudaStream_t stream) {
  const int64_t total = p.batch * p.E * p.N;
  scan_combine_kernel<kBackward><<<static_cast<unsigned>((total + 255) / 256), 256, 0, stream>>>(p);
}

/// Launches a scan kernel on the grid (batch * G, channel tiles, time chunks) with `threads`
/// threads per block and `smem` bytes of dynamic shared memory.
template <typename Kernel>
void launch_scan_kernel(Kernel kernel, const ScanCudaParams& p, int threads, size_t smem, cudaStream_t stream) {
  allow_smem(kernel, smem);
  const dim3 grid(static_cast<unsigned>(p.batch * p.G), static_cast<unsigned>(p.tiles),
                  static_cast<unsigned>(p.n_chunks));
  kernel<<<grid, threads, smem, stream>>>(p);
}

/// The launches of one direction (forward, or backward with kBackward): with time chunks
/// (n_chunks > 1), the chunk-local kernel and the combine pass first; then the main kernel.
/// Returns the launch error, if any.
template <bool kBackward, typename Local, typename Main>
cudaError_t launch_passes(const ScanCudaParams& p, int threads, Local local, size_t local_smem, Main main,
                          size_t main_smem, cudaStream_t stream) {
  if (p.n_chunks > 1) {
    launch_scan_kernel(local, p, threads, local_smem, stream);
    launch_combine<kBackward>(p, stream);
  }
  launch_scan_kernel(main, p, threads, main_smem, stream);
  return cudaGetLastError();
}

}  // namespace mmx::cuda::detail
