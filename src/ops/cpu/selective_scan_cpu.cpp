// CPU registration of mmx::selective_scan_fwd / _bwd: takes the entry's description of the call
// (detail::make_scan_params), adds the CPU plan and the outputs, picks the instruction set at run
// time (cpu_isa.h), and spreads work items over threads with at::parallel_for. The arithmetic is
// in scan_cpu_kernel.h.
//
// Work split (fixed by the shapes and the SIMD width only, never by the thread count, so results
// are bitwise identical for 1 or many threads): items = batch x G x splits, where splits divides
// a group's channel blocks when batch x G alone is too small to occupy the threads. Backward
// partial sums over splits (dB, dC) and over batch (dA, dD, ddelta_bias) are added in a fixed order.
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/torch.h>

#include "ops/cpu/cpu_isa.h"
#include "ops/cpu/scan_cpu.h"
#include "ops/scan_op_types.h"

namespace mmx::cpu {
namespace {

using detail::ScanBwdOut;
using detail::ScanFwdOut;
using detail::ScanTensors;

struct IsaFns {
  void (*fwd)(const ScanCpuParams&, int64_t, int64_t);
  void (*bwd)(const ScanCpuParams&, int64_t, int64_t);
  int width;
};
IsaFns isa_fns() {
  switch (active_cpu_isa()) {
    case CpuIsa::kAvx512:
      return {avx512::scan_fwd_items, avx512::scan_bwd_items, avx512::scan_simd_width()};
    case CpuIsa::kAvx2:
      return {avx2::scan_fwd_items, avx2::scan_bwd_items, avx2::scan_simd_width()};
    default:
      return {scalar::scan_fwd_items, scalar::scan_bwd_items, scalar::scan_simd_width()};
  }
}

// The entry's description of the call plus the CPU plan for SIMD width `width`.
ScanCpuParams plan_cpu(const ScanTensors& t, int width) {
  ScanCpuParams p;
  static_cast<detail::ScanParams&>(p) = detail::make_scan_params(t);
  p.chunk = p.N <= 64 ? 64 : 16;
  p.n_chunks = (p.L + p.chunk - 1) / p.chunk;
  const int64_t neb = (p.E / p.G + width - 1) / width;
  const int64_t bg = p.batch * p.G;
  p.fwd_splits = std::min<int64_t>(neb, std::max<int64_t>(1, (64 + bg - 1) / bg));
  p.bwd_splits = std::min<int64_t>(neb, std::max<int64_t>(1, (32 + bg - 1) / bg));
  return p;
}

void run_items(int64_t n_items, void (*fn)(const ScanCpuParams&, int64_t, int64_t), const ScanCpuParams& p) {
  at::parallel_for(0, n_items, 1, [&](int64_t begin, int64_t end) { fn(p, begin, end); });
}

ScanFwdOut scan_fwd_cpu(const ScanTensors& t, bool save_ckpt) {
  const IsaFns fns = isa_fns();
  ScanCpuParams p = plan_cpu(t, fns.width);
  auto f32 = t.u.options().dtype(torch::kFloat32);
  auto out = torch::empty({p.batch, p.E, p.L}, f32);
  auto last = torch::empty({p.batch, p.E, p.N}, f32);
  auto ckpt = save_ckpt ? torch::empty({p.batch, p.E, p.n_chunks, p.N}, f32) : torch::empty({0}, f32);
  p.out = out.data_ptr<float>();
  p.last_state = last.data_ptr<float>();
  p.ckpt = save_ckpt ? ckpt.data_ptr<float>() : nullptr;
  run_items(p.batch * p.G * p.fwd_splits, fns.fwd, p);
  return {out.to(t.u.scalar_type()), last, ckpt};
}

ScanBwdOut scan_bwd_cpu(const torch::Tensor& dout, const torch::Tensor& dlast, const ScanTensors& t,
                        const torch::Tensor& ckpt) {
  const IsaFns fns = isa_fns();
  ScanCpuParams p = plan_cpu(t, fns.width);
  TORCH_CHECK(ckpt.numel() == p.batch * p.E * p.n_chunks * p.N,
              "selective_scan backward: saved states missing (forward ran without save_ckpt)");
  auto f32 = t.u.options().dtype(torch::kFloat32);
  auto dout_f = dout.to(torch::kFloat32).contiguous();
  torch::Tensor dlast_f;
  if (dlast.defined()) dlast_f = dlast.to(torch::kFloat32).contiguous();
  auto du = torch::empty({p.batch, p.E, p.L}, f32);
  auto ddelta = torch::empty({p.batch, p.E, p.L}, f32);
  auto dz = p.z ? torch::empty({p.batch, p.E, p.L}, f32) : torch::Tensor();
  auto dB = torch::empty({p.bwd_splits, p.batch, p.G, p.N, p.L}, f32);
  auto dC = torch::empty({p.bwd_splits, p.batch, p.G, p.N, p.L}, f32);
  auto dA_part = torch::empty({p.batch, p.E, p.N}, f32);
  auto dD_part = torch::empty({p.batch, p.E}, f32);
  auto dbias_part = torch::empty({p.batch, p.E}, f32);
  auto dh0 = torch::empty({p.batch, p.E, p.N}, f32);
  p.ckpt = const_cast<float*>(ckpt.data_ptr<float>());
  p.dout = dout_f.data_ptr<float>();
  p.dlast = dlast_f.defined() ? dlast_f.data_ptr<float>() : nullptr;
  p.du = du.data_ptr<float>();
  p.ddelta = ddelta.data_ptr<float>();
  p.dz = p.z ? dz.data_ptr<float>() : nullptr;
  p.dB = dB.data_ptr<float>();
  p.dC = dC.data_ptr<float>();
  p.dA_part = dA_part.data_ptr<float>();
  p.dD_part = dD_part.data_ptr<float>();
  p.ddelta_bias_part = dbias_part.data_ptr<float>();
  p.dh0 = dh0.data_ptr<float>();
  run_items(p.batch * p.G * p.bwd_splits, fns.bwd, p);

  const auto io = t.u.scalar_type();
  // Fixed-order sums: over splits (a handful) and over batch.
  auto dB_sum = p.bwd_splits == 1 ? dB[0] : dB.sum(0);
  auto dC_sum = p.bwd_splits == 1 ? dC[0] : dC.sum(0);
  return {du.to(io),
          ddelta.to(io),
          dA_part.sum(0),
          dB_sum.to(io),
          dC_sum.to(io),
          p.D ? dD_part.sum(0) : torch::Tensor(),
          p.z ? dz.to(io) : torch::Tensor(),
          p.delta_bias ? dbias_part.sum(0) : torch::Tensor(),
          p.h0 ? dh0 : torch::Tensor()};
}

}  // namespace
}  // namespace mmx::cpu

TORCH_LIBRARY_IMPL(mmx, CPU, m) {
  m.impl("selective_scan_fwd", &mmx::detail::fwd_op<mmx::cpu::scan_fwd_cpu>);
  m.impl("selective_scan_bwd", &mmx::detail::bwd_op<mmx::cpu::scan_bwd_cpu>);
}
