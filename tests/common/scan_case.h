// Random selective-scan inputs and a helper that runs a scan and returns outputs plus every
// gradient, shared by the CPU and CUDA scan tests.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "mmx/ops/selective_scan.h"

namespace mmx::test {

/// One test case: shape plus which optional inputs and flags are on.
struct ScanCase {
  int64_t batch = 1, E = 4, L = 8, N = 16, G = 1;
  bool has_D = true, has_z = true, has_bias = true, has_h0 = true;
  bool softplus = true, reverse = false, noncontig = false;
  std::string name() const {
    return "b" + std::to_string(batch) + "_E" + std::to_string(E) + "_L" + std::to_string(L) + "_N" +
           std::to_string(N) + "_G" + std::to_string(G) + (has_D ? "_D" : "") + (has_z ? "_z" : "") +
           (has_bias ? "_bias" : "") + (has_h0 ? "_h0" : "") + (softplus ? "_sp" : "") + (reverse ? "_rev" : "") +
           (noncontig ? "_nc" : "");
  }
};

/// The flag combinations every shape is tested with, derived from a case with everything on:
/// {all on, reverse + non-contiguous, all off (no D, z, bias, h0, softplus),
///  mixed (no z, no h0, reverse), mixed2 (no D, no bias)}.
struct FlagVariants {
  ScanCase all_on, rev, all_off, mixed, mixed2;
};
inline FlagVariants flag_variants(const ScanCase& all_on) {
  FlagVariants v{all_on, all_on, all_on, all_on, all_on};
  v.rev.reverse = true;
  v.rev.noncontig = true;
  v.all_off.has_D = v.all_off.has_z = v.all_off.has_bias = v.all_off.has_h0 = false;
  v.all_off.softplus = false;
  v.mixed.has_z = false;
  v.mixed.has_h0 = false;
  v.mixed.reverse = true;
  v.mixed2.has_D = false;
  v.mixed2.has_bias = false;
  return v;
}

/// Inputs in float64 (the master copy); `cast` makes a same-valued set in another dtype/device.
struct ScanInputs {
  torch::Tensor u, delta, A, B, C, D, z, bias, h0;  // undefined when off
  torch::Tensor dout, dlast;                        // upstream gradients
};

inline ScanInputs make_scan_inputs(const ScanCase& c, uint64_t seed = 0) {
  torch::manual_seed(seed);
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  ScanInputs in;
  if (c.noncontig) {  // (batch, L, E) storage viewed as (batch, E, L): L is not contiguous
    in.u = torch::randn({c.batch, c.L, c.E}, f64).transpose(1, 2);
    in.delta = (torch::rand({c.batch, c.L, c.E}, f64) * 1.5 - 1.0).transpose(1, 2);
  } else {
    in.u = torch::randn({c.batch, c.E, c.L}, f64);
    in.delta = torch::rand({c.batch, c.E, c.L}, f64) * 1.5 - 1.0;
  }
  if (!c.softplus) in.delta = in.delta.abs() * 0.3;  // a positive step size without softplus
  in.A = -(torch::rand({c.E, c.N}, f64) * 2.0 + 0.05);
  in.B = torch::randn({c.batch, c.G, c.N, c.L}, f64);
  in.C = torch::randn({c.batch, c.G, c.N, c.L}, f64);
  if (c.has_D) in.D = torch::randn({c.E}, f64);
  if (c.has_z) in.z = torch::randn({c.batch, c.E, c.L}, f64);
  if (c.has_bias) in.bias = torch::rand({c.E}, f64) - 0.5;
  if (c.has_h0) in.h0 = torch::randn({c.batch, c.E, c.N}, f64);
  in.dout = torch::randn({c.batch, c.E, c.L}, f64);
  in.dlast = torch::randn({c.batch, c.E, c.N}, f64);
  return in;
}

/// Outputs and gradients of one run, in the order of `grad_names()`.
struct ScanRun {
  torch::Tensor out, last;
  std::vector<torch::Tensor> grads;  // u, delta, A, B, C, D, z, delta_bias, h0
};
inline const std::vector<std::string>& grad_names() {
  static const std::vector<std::string> n = {"du", "ddelta", "dA", "dB", "dC", "dD", "dz", "ddelta_bias", "dh0"};
  return n;
}

/// Expects two runs to agree bit for bit: output, last state and every gradient (both undefined
/// counts as equal).
inline void expect_runs_bitwise_equal(const ScanRun& a, const ScanRun& b) {
  EXPECT_TRUE(torch::equal(a.out, b.out));
  EXPECT_TRUE(torch::equal(a.last, b.last));
  ASSERT_EQ(a.grads.size(), b.grads.size());
  for (size_t i = 0; i < a.grads.size(); ++i) {
    SCOPED_TRACE(grad_names()[i]);
    ASSERT_EQ(a.grads[i].defined(), b.grads[i].defined());
    if (a.grads[i].defined()) EXPECT_TRUE(torch::equal(a.grads[i], b.grads[i]));
  }
}

/// selective_scan with recompute_states on (otherwise the options it is given), for run_scan.
inline SelectiveScanResult selective_scan_recomputed(const torch::Tensor& u, const torch::Tensor& delta,
                                                     const torch::Tensor& A, const torch::Tensor& B,
                                                     const torch::Tensor& C, const SelectiveScanExtras& ex,
                                                     SelectiveScanOptions opt) {
  opt.recompute_states = true;
  return selective_scan(u, delta, A, B, C, ex, opt);
}

/// Runs `fn` (selective_scan or selective_scan_ref) with the inputs cast to `io` (u, delta, B, C, z)
/// and `wt` (A, D, bias, h0) on `device`, and backpropagates dout and dlast.
template <typename Fn>
ScanRun run_scan(Fn fn, const ScanCase& c, const ScanInputs& in, torch::ScalarType io, torch::ScalarType wt,
                 torch::Device device = torch::kCPU) {
  auto leaf = [&](const torch::Tensor& t, torch::ScalarType dt) {
    if (!t.defined()) return torch::Tensor();
    // .to() keeps the strides of a dense tensor: non-contiguous inputs stay non-contiguous.
    return t.to(device, dt).detach().requires_grad_(true);
  };
  auto u = leaf(in.u, io), delta = leaf(in.delta, io), A = leaf(in.A, wt), B = leaf(in.B, io), C = leaf(in.C, io),
       D = leaf(in.D, wt), z = leaf(in.z, io), bias = leaf(in.bias, wt), h0 = leaf(in.h0, wt);
  SelectiveScanExtras ex{D, z, bias, h0};
  SelectiveScanOptions opt{c.softplus, c.reverse, true};
  auto r = fn(u, delta, A, B, C, ex, opt);
  ScanRun run;
  run.out = r.out.detach();
  run.last = r.last_state.detach();
  auto loss = (r.out.to(torch::kFloat64) * in.dout.to(device)).sum() +
              (r.last_state.to(torch::kFloat64) * in.dlast.to(device)).sum();
  std::vector<torch::Tensor> inputs = {u, delta, A, B, C};
  for (const auto& t : {D, z, bias, h0})
    if (t.defined()) inputs.push_back(t);
  auto g = torch::autograd::grad({loss}, inputs);
  size_t k = 0;
  for (size_t i = 0; i < 5; ++i) run.grads.push_back(g[k++]);
  for (const auto& t : {D, z, bias, h0}) run.grads.push_back(t.defined() ? g[k++] : torch::Tensor());
  return run;
}

}  // namespace mmx::test
