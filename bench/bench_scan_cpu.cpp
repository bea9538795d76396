// CPU selective-scan benchmark (Google Benchmark): reference vs fused kernel, forward and
// forward+backward, 1 and 2 threads, on the model shapes of bench/scan_shapes.h (all with D, z,
// delta_bias and softplus, as the modules call it). Counters: elements/s (batch*E*L) and state
// updates/s (elements * N). Run: ./build/bench/bench_scan_cpu (tools/bench/cpu.sh records it).
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include "mmx/ops/selective_scan.h"
#include "scan_shapes.h"

namespace {

using mmx::shapes::ScanShape;

struct Inputs {
  torch::Tensor u, delta, A, B, C, D, z, bias;
};

Inputs make_inputs(const ScanShape& s, bool grad) {
  torch::manual_seed(0);
  Inputs in;
  in.u = torch::randn({s.batch, s.E, s.L});
  in.delta = torch::randn({s.batch, s.E, s.L}) * 0.5 - 1.0;
  in.A = -torch::rand({s.E, s.N}) - 0.1;
  in.B = torch::randn({s.batch, s.G, s.N, s.L});
  in.C = torch::randn({s.batch, s.G, s.N, s.L});
  in.D = torch::ones({s.E});
  in.z = torch::randn({s.batch, s.E, s.L});
  in.bias = torch::rand({s.E}) - 4.0;
  if (grad)
    for (auto* t : {&in.u, &in.delta, &in.A, &in.B, &in.C, &in.D, &in.z, &in.bias}) t->requires_grad_(true);
  return in;
}

// args: shape index, backend (0 reference, 1 kernel), mode (0 forward, 1 forward+backward), threads
void BM_scan(benchmark::State& state) {
  const ScanShape& s = mmx::shapes::model_shapes()[static_cast<size_t>(state.range(0))];
  const bool kernel = state.range(1) == 1, backward = state.range(2) == 1;
  at::set_num_threads(static_cast<int>(state.range(3)));
  Inputs in = make_inputs(s, backward);
  auto fn = kernel ? mmx::selective_scan : mmx::selective_scan_ref;
  auto dout = torch::randn({s.batch, s.E, s.L});
  for (auto _ : state) {
    if (backward) {
      auto y = fn(in.u, in.delta, in.A, in.B, in.C, {in.D, in.z, in.bias, {}}, {true, false, false}).out;
      auto g = torch::autograd::grad({y}, {in.u, in.delta, in.A, in.B, in.C, in.D, in.z, in.bias}, {dout});
      benchmark::DoNotOptimize(g[0].data_ptr());
    } else {
      torch::NoGradGuard ng;
      auto y = fn(in.u, in.delta, in.A, in.B, in.C, {in.D, in.z, in.bias, {}}, {true, false, false}).out;
      benchmark::DoNotOptimize(y.data_ptr());
    }
  }
  const double elems = static_cast<double>(s.batch * s.E * s.L);
  state.counters["elem/s"] = benchmark::Counter(elems, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["upd/s"] =
      benchmark::Counter(elems * static_cast<double>(s.N), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(s.name) + (kernel ? " kernel" : " reference") + (backward ? " fwd+bwd" : " fwd") +
                 " threads=" + std::to_string(state.range(3)));
}

void register_all() {
  const auto& shapes = mmx::shapes::model_shapes();
  for (size_t i = 0; i < shapes.size(); ++i) {
    const std::string name = shapes[i].name;
    // CPU table: the TSM2 shapes and ViM2 stage 1 at batch 8 and 1 (issue #2).
    if (name != "tsm2_time" && name != "tsm2_chan" && name != "vim2_s1" && name != "vim2_s1_b1") continue;
    const bool big = name == "vim2_s1";
    for (int backend : {0, 1})
      for (int mode : {0, 1})
        for (int threads : {1, 2}) {
          auto* b = benchmark::RegisterBenchmark(("scan/" + name + (backend ? "/kernel" : "/reference") +
                                                  (mode ? "/fwd_bwd" : "/fwd") + "/threads:" + std::to_string(threads))
                                                     .c_str(),
                                                 BM_scan);
          b->Args({static_cast<int64_t>(i), backend, mode, threads})->Unit(benchmark::kMillisecond)->UseRealTime();
          if (backend == 0 || big) b->Iterations(backend == 0 && big ? 1 : 3);
        }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
