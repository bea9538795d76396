// CUDA registration of mmx::selective_scan_fwd / _bwd: allocates outputs and scratch with
// LibTorch, fills ScanCudaParams, launches the kernels (scan_fwd_cuda.cuh, scan_bwd_cuda.cuh) on the
// current stream, and sums the backward's partial results (over channel tiles, batch and time
// chunks) with fixed-order reductions, so gradients are bitwise reproducible run to run.
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

namespace mmx::cuda {
namespace {

using OptT = std::optional<torch::Tensor>;

torch::Tensor opt_contig(const OptT& t) {
  return t && t->defined() ? t->contiguous() : torch::Tensor();
}
const float* fptr(const torch::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }

int chunk_override() {
  const char* env = std::getenv("MMX_CUDA_SCAN_CHUNK");
  return env ? std::atoi(env) : 0;
}

struct Prepared {
  ScanCudaParams p;
  torch::Tensor u, delta, A, B, C, D, z, bias, h0;  // contiguous inputs kept alive
};

Prepared prepare(const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
                 const torch::Tensor& B, const torch::Tensor& C, const OptT& D, const OptT& z,
                 const OptT& bias, const OptT& h0, bool softplus, bool reverse) {
  Prepared r;
  r.u = u.contiguous();
  r.delta = delta.contiguous();
  r.A = A.contiguous();
  r.B = B.contiguous();
  r.C = C.contiguous();
  r.D = opt_contig(D);
  r.z = opt_contig(z);
  r.bias = opt_contig(bias);
  r.h0 = opt_contig(h0);
  ScanCudaParams& p = r.p;
  const auto io = u.scalar_type();
  TORCH_CHECK(io == torch::kFloat32 || io == torch::kBFloat16 || io == torch::kFloat16,
              "selective_scan (CUDA kernel): u must be float32, bfloat16 or float16, got ", io);
  TORCH_CHECK(A.scalar_type() == torch::kFloat32,
              "selective_scan (CUDA kernel): A must be float32, got ", A.scalar_type());
  TORCH_CHECK(u.numel() < (int64_t{1} << 31) && B.numel() < (int64_t{1} << 31),
              "selective_scan (CUDA kernel): tensors must have fewer than 2^31 elements");
  p.io = io == torch::kFloat32 ? IoType::kFloat32
                               : (io == torch::kBFloat16 ? IoType::kBFloat16 : IoType::kFloat16);
  p.batch = static_cast<int>(u.size(0));
  p.E = static_cast<int>(u.size(1));
  p.L = static_cast<int>(u.size(2));
  p.N = static_cast<int>(A.size(1));
  p.G = static_cast<int>(B.size(1));
  p.Eg = p.E / p.G;
  p.softplus = softplus;
  p.reverse = reverse;
  p.u = r.u.data_ptr();
  p.delta = r.delta.data_ptr();
  p.z = r.z.defined() ? r.z.data_ptr() : nullptr;
  p.B = r.B.data_ptr();
  p.C = r.C.data_ptr();
  p.A = r.A.data_ptr<float>();
  p.D = fptr(r.D);
  p.delta_bias = fptr(r.bias);
  p.h0 = fptr(r.h0);
  const int sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  plan_scan_cuda(p, sms, chunk_override());
  return r;
}

void check_launch(cudaError_t err, const char* what) {
  TORCH_CHECK(err == cudaSuccess, "selective_scan (CUDA kernel): ", what, " launch failed: ",
              cudaGetErrorString(err));
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> scan_fwd_cuda_op(
    const torch::Tensor& u, const torch::Tensor& delta, const torch::Tensor& A,
    const torch::Tensor& B, const torch::Tensor& C, const OptT& D, const OptT& z, const OptT& bias,
    const OptT& h0, bool softplus, bool reverse, bool save_ckpt) {
  c10::cuda::CUDAGuard guard(u.device());
  Prepared r = prepare(u, delta, A, B, C, D, z, bias, h0, softplus, reverse);
  ScanCudaParams& p = r.p;
  const auto f32 = u.options().dtype(torch::kFloat32);
  auto out = torch::empty({p.batch, p.E, p.L}, u.options());
  auto last = torch::empty({p.batch, p.E, p.N}, f32);
  auto ckpt = save_ckpt ? torch::empty({p.batch, p.E, p.n_sub, p.N}, f32) : torch::empty({0}, f32);
  torch::Tensor chunk_h, chunk_dsum, chunk_carry;
  if (p.n_chunks > 1) {
    chunk_h = torch::empty({p.batch, p.E, p.n_chunks, p.N}, f32);
    chunk_dsum = torch::empty({p.batch, p.E, p.n_chunks}, f32);
    chunk_carry = torch::empty({p.batch, p.E, p.n_chunks, p.N}, f32);
    p.chunk_h = chunk_h.data_ptr<float>();
    p.chunk_dsum = chunk_dsum.data_ptr<float>();
    p.chunk_carry = chunk_carry.data_ptr<float>();
  }
  p.out = out.data_ptr();
  p.last_state = last.data_ptr<float>();
  p.ckpt = save_ckpt ? ckpt.data_ptr<float>() : nullptr;
  check_launch(scan_fwd_cuda(p, at::cuda::getCurrentCUDAStream()), "forward");
  return {out, last, ckpt};
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor,
           torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor>
scan_bwd_cuda_op(const torch::Tensor& dout, const OptT& dlast, const torch::Tensor& u,
                 const torch::Tensor& delta, const torch::Tensor& A, const torch::Tensor& B,
                 const torch::Tensor& C, const OptT& D, const OptT& z, const OptT& bias,
                 const OptT& h0, const torch::Tensor& ckpt, bool softplus, bool reverse) {
  c10::cuda::CUDAGuard guard(u.device());
  Prepared r = prepare(u, delta, A, B, C, D, z, bias, h0, softplus, reverse);
  ScanCudaParams& p = r.p;
  TORCH_CHECK(ckpt.numel() == int64_t{p.batch} * p.E * p.n_sub * p.N &&
                  ckpt.scalar_type() == torch::kFloat32 && ckpt.is_cuda(),
              "selective_scan backward (CUDA): saved states missing (forward ran without "
              "save_ckpt or on another device)");
  const auto io = u.scalar_type();
  const auto f32 = u.options().dtype(torch::kFloat32);
  auto dout_c = dout.to(io).contiguous();
  torch::Tensor dlast_c;
  if (dlast && dlast->defined()) dlast_c = dlast->to(torch::kFloat32).contiguous();
  auto ckpt_c = ckpt.contiguous();

  auto du = torch::empty({p.batch, p.E, p.L}, u.options());
  auto ddelta = torch::empty({p.batch, p.E, p.L}, u.options());
  auto dz = p.z ? torch::empty({p.batch, p.E, p.L}, u.options()) : torch::Tensor();
  auto dBC = torch::empty({p.batch, p.G, p.tiles, 2, p.N, p.L}, f32);
  auto dA_part = torch::empty({p.batch * p.n_chunks, p.E, p.N}, f32);
  auto dD_part = torch::empty({p.batch * p.n_chunks, p.E}, f32);
  auto dbias_part = torch::empty({p.batch * p.n_chunks, p.E}, f32);
  auto dh0 = p.h0 ? torch::empty({p.batch, p.E, p.N}, f32) : torch::Tensor();
  torch::Tensor chunk_h, chunk_dsum, chunk_carry;
  if (p.n_chunks > 1) {
    chunk_h = torch::empty({p.batch, p.E, p.n_chunks, p.N}, f32);
    chunk_dsum = torch::empty({p.batch, p.E, p.n_chunks}, f32);
    chunk_carry = torch::empty({p.batch, p.E, p.n_chunks, p.N}, f32);
    p.chunk_h = chunk_h.data_ptr<float>();
    p.chunk_dsum = chunk_dsum.data_ptr<float>();
    p.chunk_carry = chunk_carry.data_ptr<float>();
  }
  p.ckpt = ckpt_c.data_ptr<float>();
  p.dout = dout_c.data_ptr();
  p.dlast = dlast_c.defined() ? dlast_c.data_ptr<float>() : nullptr;
  p.du = du.data_ptr();
  p.ddelta = ddelta.data_ptr();
  p.dz = p.z ? dz.data_ptr() : nullptr;
  p.dBC_part = dBC.data_ptr<float>();
  p.dA_part = dA_part.data_ptr<float>();
  p.dD_part = dD_part.data_ptr<float>();
  p.dbias_part = dbias_part.data_ptr<float>();
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
  m.impl("selective_scan_fwd", &mmx::cuda::scan_fwd_cuda_op);
  m.impl("selective_scan_bwd", &mmx::cuda::scan_bwd_cuda_op);
}
