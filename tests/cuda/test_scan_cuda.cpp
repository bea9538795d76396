// The CUDA selective scan against the float64 reference: outputs, the last state and every
// gradient (dh0 and the last-state gradient included), on the shared shape table plus N = 256,
// for float32, bfloat16 and float16 inputs, each optional input on and off, reverse, the
// chunked long-sequence path forced on small shapes; run-to-run bitwise identical gradients; and
// agreement with the CPU kernel. Every test skips when no CUDA device is present.
#include <gtest/gtest.h>

#include <cstdlib>
#include <limits>
#include <string>

#include "common/scan_case.h"
#include "common/tolerance.h"
#include "scan_shapes.h"

namespace mmx::test {
namespace {

#define MMX_REQUIRE_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

// Fills the CUDA caching allocator's free memory with NaN, so an output element the kernels
// forget to write shows up as NaN (the next allocations reuse these blocks).
void poison_cuda_memory() {
  auto t = torch::full({int64_t{1} << 24}, std::numeric_limits<float>::quiet_NaN(),
                       torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCUDA));
  torch::cuda::synchronize();
}

// Sets MMX_CUDA_SCAN_CHUNK for the lifetime of the object (0: the planner's choice).
struct ChunkOverride {
  explicit ChunkOverride(int chunk) {
    if (chunk > 0) setenv("MMX_CUDA_SCAN_CHUNK", std::to_string(chunk).c_str(), 1);
  }
  ~ChunkOverride() { unsetenv("MMX_CUDA_SCAN_CHUNK"); }
};

ScanRun to_cpu(const ScanRun& r) {
  ScanRun c;
  c.out = r.out.cpu();
  c.last = r.last.cpu();
  for (const auto& g : r.grads) c.grads.push_back(g.defined() ? g.cpu() : g);
  return c;
}

double floor_for(torch::ScalarType io) { return io == torch::kFloat32 ? 1e-5 : 1e-3; }

// Checks the CUDA kernel on `io` inputs against the float64 truth with the project's rule.
void expect_matches_reference(const ScanCase& c, const ScanInputs& in, const ScanRun& truth, torch::ScalarType io,
                              int chunk = 0) {
  SCOPED_TRACE(std::string("io ") + c10::toString(io) + " chunk " + std::to_string(chunk));
  const ScanRun ref = run_scan(selective_scan_ref, c, in, io, torch::kFloat32);
  ScanRun got;
  {
    ChunkOverride guard(chunk);
    poison_cuda_memory();
    got = to_cpu(run_scan(selective_scan, c, in, io, torch::kFloat32, torch::kCUDA));
  }
  EXPECT_EQ(got.out.scalar_type(), io);
  const double fl = floor_for(io);
  EXPECT_TRUE(within_reference_tolerance("out", got.out, ref.out, truth.out, fl));
  EXPECT_TRUE(within_reference_tolerance("last_state", got.last, ref.last, truth.last, fl));
  for (size_t i = 0; i < got.grads.size(); ++i)
    EXPECT_TRUE(within_reference_tolerance(grad_names()[i], got.grads[i], ref.grads[i], truth.grads[i], fl));
}

struct CudaCase {
  ScanCase c;
  int chunk = 0;  // forced time-chunk length (0: planner)
  bool all_dtypes = true;
  std::string name() const {
    return c.name() + (chunk ? "_chunk" + std::to_string(chunk) : "") + (all_dtypes ? "" : "_f32");
  }
};

std::vector<CudaCase> cuda_cases() {
  std::vector<CudaCase> cases;
  auto add_variants = [&](const ScanCase& all_on, bool long_seq) {
    const FlagVariants v = flag_variants(all_on);
    cases.push_back({v.all_on, 0, true});
    cases.push_back({v.rev, 0, !long_seq});
    if (!long_seq) {
      cases.push_back({v.all_off, 0, false});
      cases.push_back({v.mixed, 0, false});
      cases.push_back({v.mixed2, 0, false});
    }
  };
  for (const auto& s : shapes::test_shapes()) add_variants(ScanCase{s.batch, s.E, s.L, s.N, s.G}, s.L > 1000);
  add_variants(ScanCase{1, 6, 40, 256, 2}, false);  // N at its limit: 32 lanes per channel
  add_variants(ScanCase{2, 130, 19, 3, 1}, false);  // N = 3 (4 states, one lane), E > 128
  add_variants(ScanCase{1, 8, 3136, 1, 2}, true);   // N = 1, long: time chunks (planner)
  // The chunked path forced on small shapes (several chunks, a partial last chunk).
  for (int chunk : {32, 64}) {
    cases.push_back({ScanCase{2, 12, 127, 16, 2}, chunk, true});
    ScanCase r{1, 17, 300, 64, 1};
    r.reverse = true;
    cases.push_back({r, chunk, false});
    ScanCase off{3, 5, 70, 8, 1, false, false, false, false, false, false};
    cases.push_back({off, chunk, false});
  }
  return cases;
}

class ScanCudaVsReference : public ::testing::TestWithParam<CudaCase> {};

TEST_P(ScanCudaVsReference, OutputsAndGradientsMatchFloat64Reference) {
  MMX_REQUIRE_CUDA();
  const CudaCase cc = GetParam();
  const ScanInputs in = make_scan_inputs(cc.c, 4321);
  auto cu = [](const torch::Tensor& t) { return t.to(torch::kCUDA, torch::kFloat32); };
  ASSERT_TRUE(scan_kernel_supports(cu(in.u), cu(in.delta), cu(in.A), cu(in.B), cu(in.C)));
  const ScanRun truth = run_scan(selective_scan_ref, cc.c, in, torch::kFloat64, torch::kFloat64);
  expect_matches_reference(cc.c, in, truth, torch::kFloat32, cc.chunk);
  if (cc.all_dtypes) {
    expect_matches_reference(cc.c, in, truth, torch::kBFloat16, cc.chunk);
    expect_matches_reference(cc.c, in, truth, torch::kFloat16, cc.chunk);
  }
}

INSTANTIATE_TEST_SUITE_P(ShapeTable, ScanCudaVsReference, ::testing::ValuesIn(cuda_cases()),
                         [](const auto& info) { return info.param.name(); });

TEST(ScanCuda, GradientsAreBitwiseIdenticalRunToRun) {
  MMX_REQUIRE_CUDA();
  // Several channel tiles per group (dB/dC partials) and time chunks (planner, small batch).
  const ScanCase c{2, 400, 1500, 16, 2};
  const ScanInputs in = make_scan_inputs(c, 11);
  for (auto io : {torch::kFloat32, torch::kBFloat16}) {
    SCOPED_TRACE(c10::toString(io));
    const ScanRun a = to_cpu(run_scan(selective_scan, c, in, io, torch::kFloat32, torch::kCUDA));
    poison_cuda_memory();
    const ScanRun b = to_cpu(run_scan(selective_scan, c, in, io, torch::kFloat32, torch::kCUDA));
    expect_runs_bitwise_equal(a, b);
  }
}

// recompute_states (saved states rebuilt in the backward): bitwise the default's results.
TEST(ScanCuda, RecomputedStatesGiveBitwiseTheSameGradients) {
  MMX_REQUIRE_CUDA();
  const ScanCase c{2, 400, 1500, 16, 2};  // time chunks and several channel tiles
  const ScanInputs in = make_scan_inputs(c, 13);
  for (auto io : {torch::kFloat32, torch::kBFloat16}) {
    SCOPED_TRACE(c10::toString(io));
    const ScanRun a = to_cpu(run_scan(selective_scan, c, in, io, torch::kFloat32, torch::kCUDA));
    const ScanRun b = to_cpu(run_scan(selective_scan_recomputed, c, in, io, torch::kFloat32, torch::kCUDA));
    expect_runs_bitwise_equal(a, b);
  }
}

TEST(ScanCuda, AgreesWithTheCpuKernel) {
  MMX_REQUIRE_CUDA();
  for (const ScanCase c : {ScanCase{3, 40, 150, 16, 2}, ScanCase{2, 24, 700, 16, 4}}) {
    SCOPED_TRACE(c.name());
    const ScanInputs in = make_scan_inputs(c, 17);
    const ScanRun cpu = run_scan(selective_scan, c, in, torch::kFloat32, torch::kFloat32);
    const ScanRun gpu = to_cpu(run_scan(selective_scan, c, in, torch::kFloat32, torch::kFloat32, torch::kCUDA));
    EXPECT_LT(max_abs_err(gpu.out, cpu.out), 1e-4 * cpu.out.abs().max().item<double>());
    EXPECT_LT(max_abs_err(gpu.last, cpu.last), 1e-4 * cpu.last.abs().max().item<double>());
    for (size_t i = 0; i < cpu.grads.size(); ++i) {
      SCOPED_TRACE(grad_names()[i]);
      EXPECT_LT(max_abs_err(gpu.grads[i], cpu.grads[i]), 1e-4 * cpu.grads[i].abs().max().item<double>());
    }
  }
}

TEST(ScanCuda, InferenceModeMatchesTheTrainingForward) {
  MMX_REQUIRE_CUDA();
  const ScanCase c{4, 64, 63, 16, 1};
  const ScanInputs in = make_scan_inputs(c, 5);
  auto cu = [](const torch::Tensor& t) { return t.to(torch::kCUDA, torch::kFloat32); };
  SelectiveScanResult r;
  {
    c10::InferenceMode guard;
    r = selective_scan(cu(in.u), cu(in.delta), cu(in.A), cu(in.B), cu(in.C),
                       {cu(in.D), cu(in.z), cu(in.bias), cu(in.h0)}, {true, false, true});
  }
  const ScanRun train = to_cpu(run_scan(selective_scan, c, in, torch::kFloat32, torch::kFloat32, torch::kCUDA));
  EXPECT_TRUE(torch::equal(r.out.cpu(), train.out));
  EXPECT_TRUE(torch::equal(r.last_state.cpu(), train.last));
}

TEST(ScanCuda, PredicateAcceptsFloatInputsAndFloat64FallsBackToTheReference) {
  MMX_REQUIRE_CUDA();
  const ScanCase c{1, 3, 9, 4, 1};
  const ScanInputs in = make_scan_inputs(c, 3);
  auto supports = [&](torch::ScalarType io, std::string* reason = nullptr) {
    const auto wt = io == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
    auto cu = [](const torch::Tensor& t, torch::ScalarType dt) { return t.to(torch::kCUDA, dt); };
    return scan_kernel_supports(cu(in.u, io), cu(in.delta, io), cu(in.A, wt), cu(in.B, io), cu(in.C, io), {}, reason);
  };
  EXPECT_TRUE(supports(torch::kFloat16));
  std::string why;
  EXPECT_FALSE(supports(torch::kFloat64, &why));
  EXPECT_FALSE(why.empty());
  const ScanRun a = to_cpu(run_scan(selective_scan, c, in, torch::kFloat64, torch::kFloat64, torch::kCUDA));
  const ScanRun b = run_scan(selective_scan_ref, c, in, torch::kFloat64, torch::kFloat64);
  EXPECT_LT(max_abs_err(a.out, b.out), 1e-12);
}

}  // namespace
}  // namespace mmx::test
