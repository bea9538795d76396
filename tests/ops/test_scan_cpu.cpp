// The fused CPU selective scan against the float64 reference: outputs, the last state and every
// gradient, on the shared shape table, for each instruction set (scalar, AVX2, AVX-512 where the
// CPU has them), with the optional inputs and flags on and off, fp32 and bf16 inputs.
#include <gtest/gtest.h>

#include "common/scan_case.h"
#include "common/tolerance.h"
#include "ops/cpu/cpu_isa.h"
#include "scan_shapes.h"

namespace mmx::test {
namespace {

using cpu::CpuIsa;

std::vector<ScanCase> cpu_cases() {
  std::vector<ScanCase> cases;
  for (const auto& s : shapes::test_shapes()) {
    const FlagVariants v = flag_variants(ScanCase{s.batch, s.E, s.L, s.N, s.G});
    cases.push_back(v.all_on);
    cases.push_back(v.rev);
    if (s.L < 1000) {  // the long shape runs the two full cases only (reference time)
      cases.push_back(v.all_off);
      cases.push_back(v.mixed);
    }
  }
  return cases;
}

class ScanCpuVsReference : public ::testing::TestWithParam<ScanCase> {};

TEST_P(ScanCpuVsReference, OutputsAndGradientsMatchFloat64ReferenceOnEveryIsa) {
  const ScanCase c = GetParam();
  const ScanInputs in = make_scan_inputs(c, 1234);
  const ScanRun truth = run_scan(selective_scan_ref, c, in, torch::kFloat64, torch::kFloat64);
  const ScanRun ref32 = run_scan(selective_scan_ref, c, in, torch::kFloat32, torch::kFloat32);
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (static_cast<int>(isa) > static_cast<int>(cpu::best_cpu_isa())) continue;
    cpu::set_cpu_isa(isa);
    SCOPED_TRACE("isa " + cpu::cpu_isa_name(isa));
    const ScanRun got = run_scan(selective_scan, c, in, torch::kFloat32, torch::kFloat32);
    EXPECT_EQ(got.out.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(within_reference_tolerance("out", got.out, ref32.out, truth.out));
    EXPECT_TRUE(within_reference_tolerance("last_state", got.last, ref32.last, truth.last));
    for (size_t i = 0; i < got.grads.size(); ++i)
      EXPECT_TRUE(within_reference_tolerance(grad_names()[i], got.grads[i], ref32.grads[i], truth.grads[i]));
  }
  cpu::set_cpu_isa(cpu::best_cpu_isa());
}

INSTANTIATE_TEST_SUITE_P(ShapeTable, ScanCpuVsReference, ::testing::ValuesIn(cpu_cases()),
                         [](const auto& info) { return info.param.name(); });

TEST(ScanCpu, Bfloat16InputsWithinTwiceTheReferenceError) {
  for (const ScanCase c : {ScanCase{2, 12, 127, 16, 2}, ScanCase{1, 9, 40, 100, 1, true, false}}) {
    SCOPED_TRACE(c.name());
    const ScanInputs in = make_scan_inputs(c, 7);
    const ScanRun truth = run_scan(selective_scan_ref, c, in, torch::kFloat64, torch::kFloat64);
    const ScanRun ref16 = run_scan(selective_scan_ref, c, in, torch::kBFloat16, torch::kFloat32);
    const ScanRun got = run_scan(selective_scan, c, in, torch::kBFloat16, torch::kFloat32);
    EXPECT_EQ(got.out.scalar_type(), torch::kBFloat16);
    EXPECT_TRUE(within_reference_tolerance("out", got.out, ref16.out, truth.out, 1e-3));
    EXPECT_TRUE(within_reference_tolerance("last_state", got.last, ref16.last, truth.last, 1e-3));
    for (size_t i = 0; i < got.grads.size(); ++i)
      EXPECT_TRUE(within_reference_tolerance(grad_names()[i], got.grads[i], ref16.grads[i], truth.grads[i], 1e-3));
  }
}

TEST(ScanCpu, GradientsAreBitwiseIdenticalForOneAndTwoThreadsAndRepeatedRuns) {
  const ScanCase c{3, 40, 150, 16, 2};
  const ScanInputs in = make_scan_inputs(c, 99);
  const int saved = at::get_num_threads();
  at::set_num_threads(1);
  const ScanRun one = run_scan(selective_scan, c, in, torch::kFloat32, torch::kFloat32);
  at::set_num_threads(2);
  const ScanRun two = run_scan(selective_scan, c, in, torch::kFloat32, torch::kFloat32);
  const ScanRun again = run_scan(selective_scan, c, in, torch::kFloat32, torch::kFloat32);
  at::set_num_threads(saved);
  EXPECT_TRUE(torch::equal(one.out, two.out));
  for (size_t i = 0; i < one.grads.size(); ++i) {
    SCOPED_TRACE(grad_names()[i]);
    EXPECT_TRUE(torch::equal(one.grads[i], two.grads[i]));
    EXPECT_TRUE(torch::equal(two.grads[i], again.grads[i]));
  }
}

// recompute_states keeps only the inputs for the backward and reruns the forward there: the same
// kernels on the same inputs, so outputs and every gradient are bitwise those of the default.
TEST(ScanCpu, RecomputedStatesGiveBitwiseTheSameGradients) {
  for (const ScanCase c : {ScanCase{3, 40, 150, 16, 2}, ScanCase{2, 16, 700, 8, 1}}) {
    SCOPED_TRACE(c.name());
    const ScanInputs in = make_scan_inputs(c, 17);
    for (auto io : {torch::kFloat32, torch::kBFloat16}) {
      SCOPED_TRACE(c10::toString(io));
      const ScanRun saved = run_scan(selective_scan, c, in, io, torch::kFloat32);
      const ScanRun again = run_scan(selective_scan_recomputed, c, in, io, torch::kFloat32);
      expect_runs_bitwise_equal(saved, again);
    }
  }
}

TEST(ScanCpu, Float64InputsUseTheReferenceAndThePredicateSaysWhy) {
  std::string why;
  const ScanCase c{1, 3, 9, 4, 1};
  const ScanInputs in = make_scan_inputs(c, 3);
  auto supports = [&](torch::ScalarType io, std::string* reason = nullptr) {
    const auto wt = io == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
    return scan_kernel_supports(in.u.to(io), in.delta.to(io), in.A.to(wt), in.B.to(io), in.C.to(io), {}, reason);
  };
  EXPECT_TRUE(supports(torch::kFloat32));
  EXPECT_TRUE(supports(torch::kBFloat16));
  EXPECT_FALSE(supports(torch::kFloat64, &why));
  EXPECT_NE(why.find("float32 or bfloat16"), std::string::npos) << why;
  const ScanRun a = run_scan(selective_scan, c, in, torch::kFloat64, torch::kFloat64);
  const ScanRun b = run_scan(selective_scan_ref, c, in, torch::kFloat64, torch::kFloat64);
  EXPECT_TRUE(torch::equal(a.out, b.out));
}

TEST(ScanCpu, InferenceModeRunsTheKernelWithoutSavingStates) {
  const ScanCase c{2, 8, 30, 16, 1};
  const ScanInputs in = make_scan_inputs(c, 5);
  torch::Tensor y_inf;
  {
    c10::InferenceMode guard;
    y_inf = selective_scan(in.u.to(torch::kFloat32), in.delta.to(torch::kFloat32), in.A.to(torch::kFloat32),
                           in.B.to(torch::kFloat32), in.C.to(torch::kFloat32),
                           {in.D.to(torch::kFloat32), in.z.to(torch::kFloat32), in.bias.to(torch::kFloat32),
                            in.h0.to(torch::kFloat32)},
                           {true, false, false})
                .out;
  }
  const ScanRun truth = run_scan(selective_scan_ref, c, in, torch::kFloat64, torch::kFloat64);
  EXPECT_LT(max_abs_err(y_inf, truth.out), 1e-4 * truth.out.abs().max().item<double>());
}

}  // namespace
}  // namespace mmx::test
