// CUDA registration of mmx::selective_scan_fwd / _bwd: takes the entry's description of the call
// (detail::make_scan_params) of contiguous inputs, adds the launch plan (plan_scan_cuda),
// allocates outputs and scratch with LibTorch, launches the kernels (scan_fwd_cuda.cuh,
// scan_bwd_cuda.cuh) on the current stream, and sums the backward's partial results (over channel
// tiles, batch and time chunks) with fixed-order reductions, so gradients are bitwise
// reproducible run to run.
//
// ckpt (the opaque saved state of the forward) is (batch, E, ceil(L / 8), N) fp32: the state
// before every 8th step in scan order. MMX_CUDA_SCAN_CHUNK=<steps> forces the time-chunk length
// (tests use it to run the chunked path on small shapes).
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>
#include <torch/torch.h>

#include <cstdlib>

#include "ops/cuda/scan_cuda.h"
#include "ops/scan_op_types.h"

namespace mmx::cuda {
namespace {

using mmx::detail::ScanBwdOut;
using mmx::detail::ScanFwdOut;
using mmx::detail::ScanTensors;

int chunk_override() {
  const char* env = std::getenv("MMX_CUDA_SCAN_CHUNK");
  return env ? std::atoi(env) : 0;
}

// Contiguous copies of the inputs (the kernels read contiguous tensors:
// detail::scan_kernel_reads_strides; the entry passes them so, direct callers may not).
ScanTensors contiguous(const ScanTensors& t) {
  auto c = [](const torch::Tensor& x) { return x.defined() ? x.contiguous() : x; };
  return {c(t.u), c(t.delta),      c(t.A),  c(t.B),           c(t.C),   c(t.D),
          c(t.z), c(t.delta_bias), c(t.h0), t.delta_softplus, t.reverse};
}

// The entry's description of the call (inputs in `t`, which must stay alive) plus the CUDA plan.
ScanCudaParams plan_cuda(const ScanTensors& t) {
  ScanCudaParams p;
  static_cast<mmx::detail::ScanParams&>(p) = mmx::detail::make_scan_params(t);
  plan_scan_cuda(p, at::cuda::getCurrentDeviceProperties()->multiProcessorCount, chunk_override());
  return p;
}

// Time-chunk scratch of the chunked path (n_chunks > 1), kept alive by the caller.
struct ChunkScratch {
  torch::Tensor h, dsum, carry;
};
ChunkScratch alloc_chunk_scratch(ScanCudaParams& p, const torch::TensorOptions& f32) {
  ChunkScratch s;
  if (p.n_chunks > 1) {
    s.h = torch::empty({p.batch, p.E, p.n_chunks, p.N}, f32);
    s.dsum = torch::empty({p.batch, p.E, p.n_chunks}, f32);
    s.carry = torch::empty({p.batch, p.E, p.n_chunks, p.N}, f32);
    p.chunk_h = s.h.data_ptr<float>();
    p.chunk_dsum = s.dsum.data_ptr<float>();
    p.chunk_carry = s.carry.data_ptr<float>();
  }
  return s;
}

void check_launch(cudaError_t err, const char* what) {
  TORCH_CHECK(err == cudaSuccess, "selective_scan (CUDA kernel): ", what, " launch failed: ", cudaGetErrorString(err));
}

ScanFwdOut scan_fwd_cuda_op(const ScanTensors& in, bool save_ckpt) {
  c10::cuda::CUDAGuard guard(in.u.device());
  const ScanTensors t = contiguous(in);
  ScanCudaParams p = plan_cuda(t);
  const auto f32 = t.u.options().dtype(torch::kFloat32);
  auto out = torch::empty({p.batch, p.E, p.L}, t.u.options());
  auto last = torch::empty({p.batch, p.E, p.N}, f32);
  auto ckpt = save_ckpt ? torch::empty({p.batch, p.E, p.n_sub, p.N}, f32) : torch::empty({0}, f32);
  const ChunkScratch scratch = alloc_chunk_scratch(p, f32);
  p.out = out.data_ptr();
  p.last_state = last.data_ptr<float>();
  p.ckpt = save_ckpt ? ckpt.data_ptr<float>() : nullptr;
  check_launch(scan_fwd_cuda(p, at::cuda::getCurrentCUDAStream()), "forward");
  return {out, last, ckpt};
}

ScanBwdOut scan_bwd_cuda_op(const torch::Tensor& dout, const torch::Tensor& dlast, const ScanTensors& in,
                            const torch::Tensor& ckpt) {
  c10::cuda::CUDAGuard guard(in.u.device());
  const ScanTensors t = contiguous(in);
  ScanCudaParams p = plan_cuda(t);
  TORCH_CHECK(ckpt.numel() == p.batch * p.E * p.n_sub * p.N && ckpt.scalar_type() == torch::kFloat32 && ckpt.is_cuda(),
              "selective_scan backward (CUDA): saved states missing (forward ran without "
              "save_ckpt or on another device)");
  const auto io = t.u.scalar_type();
  const auto f32 = t.u.options().dtype(torch::kFloat32);
  auto dout_c = dout.to(io).contiguous();
  torch::Tensor dlast_c;
  if (dlast.defined()) dlast_c = dlast.to(torch::kFloat32).contiguous();
  auto ckpt_c = ckpt.contiguous();

  auto du = torch::empty({p.batch, p.E, p.L}, t.u.options());
  auto ddelta = torch::empty({p.batch, p.E, p.L}, t.u.options());
  auto dz = p.z ? torch::empty({p.batch, p.E, p.L}, t.u.options()) : torch::Tensor();
  auto dBC = torch::empty({p.batch, p.G, p.tiles, 2, p.N, p.L}, f32);
  auto dA_part = torch::empty({p.batch * p.n_chunks, p.E, p.N}, f32);
  auto dD_part = torch::empty({p.batch * p.n_chunks, p.E}, f32);
  auto dbias_part = torch::empty({p.batch * p.n_chunks, p.E}, f32);
  auto dh0 = p.h0 ? torch::empty({p.batch, p.E, p.N}, f32) : torch::Tensor();
  const ChunkScratch scratch = alloc_chunk_scratch(p, f32);
  p.ckpt = ckpt_c.data_ptr<float>();
  p.dout = dout_c.data_ptr();
  p.dlast = dlast_c.defined() ? dlast_c.data_ptr<float>() : nullptr;
  p.du = du.data_ptr();
  p.ddelta = ddelta.data_ptr();
  p.dz = p.z ? dz.data_ptr() : nullptr;
  p.dBC_part = dBC.data_ptr<float>();
  p.dA_part = dA_part.data_ptr<float>();
  p.dD_part = dD_part.data_ptr<float>();
  p.ddelta_bias_part = dbias_part.data_ptr<float>();
  p.dh0 = p.h0 ? dh0.data_ptr<float>() : nullptr;
  check_launch(scan_bwd_cuda(p, at::cuda::getCurrentCUDAStream()), "backward");

  // Fixed-order sums (LibTorch's CUDA sum reduces in an order set by the shape alone).
  auto dBC_sum = p.tiles == 1 ? dBC.select(2, 0) : dBC.sum(2);  // (batch, G, 2, N, L)
  auto dB = dBC_sum.select(2, 0).to(io).contiguous();
  auto dC = dBC_sum.select(2, 1).to(io).contiguous();
  return {du,
          ddelta,
          dA_part.sum(0),
          dB,
          dC,
          p.D ? dD_part.sum(0) : torch::Tensor(),
          dz,
          p.delta_bias ? dbias_part.sum(0) : torch::Tensor(),
          dh0};
}

}  // namespace
}  // namespace mmx::cuda

TORCH_LIBRARY_IMPL(mmx, CUDA, m) {
  m.impl("selective_scan_fwd", &mmx::detail::fwd_op<mmx::cuda::scan_fwd_cuda_op>);
  m.impl("selective_scan_bwd", &mmx::detail::bwd_op<mmx::cuda::scan_bwd_cuda_op>);
}
