// GPU benchmark of TSM2 training on ETTh1 (lookback 512, horizon 96, batch 128, the default
// model): for each mode of {eager, graph} x {fp32, bf16} the training step of the trainer
// (mmx::train::TSM2TrainStep: forward, MSE, backward, clipping, AdamW with the no-decay groups)
// is timed with CUDA events around every step (median over --steps steps after warm-up, no
// synchronisation between steps), one full pass over the training windows is timed with the wall
// clock (synchronised before and after, the last partial batch included), and the peak allocated
// GPU memory of the mode (the caching allocator's statistics, reset between modes) and the pass's
// mean loss are reported. One JSON line per mode, then a table.
//
// The profile split: with --trace, 20 eager bf16 steps run under the Kineto profiler and the
// Chrome trace is written there (tools/bench/profile_split.py splits its GPU kernel time into the
// selective scan, GEMMs and the rest). Independently, the scan's own GPU time per step is
// estimated from CUDA-graph replays of its forward + backward at the model's shapes (per layer:
// one time-mixer scan, two variate-mixer scans).
//
// Usage: bench_tsm2_train [--data-root DIR] [--steps N] [--modes eager_fp32,graph_bf16,...]
//                         [--trace trace.json]
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "mmx/data/data_root.h"
#include "mmx/data/timeseries/forecast_data.h"
#include "mmx/models/tsm2.h"
#include "mmx/train/tsm2_train_step.h"
#include "ops/scan_op_types.h"

namespace {

using Clock = std::chrono::steady_clock;

struct ModeResult {
  std::string mode;
  bool ok = false;
  std::string error;
  bool graphed = false;
  std::string fallback;
  double ms_median = 0, ms_p10 = 0, ms_p90 = 0, windows_per_s = 0, epoch_s = 0;
  double peak_alloc_gb = 0, peak_reserved_gb = 0, final_loss = 0;
  int64_t epoch_windows = 0, timed_steps = 0;
  bool finite = false;
};

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

mmx::models::TSM2 make_model(int64_t n_vars) {
  torch::manual_seed(2024);
  mmx::models::TSM2 model(mmx::models::TSM2Options().seq_len(512).pred_len(96).n_vars(n_vars));
  model->to(torch::Device(torch::kCUDA, 0));
  model->train();
  return model;
}

ModeResult run_mode(const std::string& mode, const mmx::data::ForecastData& fd, int64_t batch, int64_t steps) {
  ModeResult r;
  r.mode = mode;
  const bool bf16 = mode.find("bf16") != std::string::npos;
  const bool graph = mode.rfind("graph", 0) == 0;
  try {
    torch::cuda::synchronize();
    c10::cuda::CUDACachingAllocator::emptyCache();
    c10::cuda::CUDACachingAllocator::resetPeakStats(0);
    const auto train = fd.train();
    auto model = make_model(fd.n_vars());
    mmx::train::TrainStepOptions so;
    so.batch_size = batch;
    so.lr = 1e-4;
    so.weight_decay = 0.01;
    so.clip_grad = 1.0;
    so.bf16 = bf16;
    so.cuda_graph = graph;
    mmx::train::TSM2TrainStep step(model, so);
    step.bind_windows(fd.scaled, train);
    const double lr = 1e-4;
    auto batches = mmx::data::batch_indices(train.size(), batch, true, 1);
    std::vector<std::vector<int64_t>> full;
    for (const auto& b : batches)
      if (static_cast<int64_t>(b.size()) == batch) full.push_back(b);
    TORCH_CHECK(!full.empty(), "fewer training windows than one batch");

    for (int i = 0; i < 10; ++i) step.step(full[static_cast<size_t>(i) % full.size()], lr);
    torch::cuda::synchronize();
    r.graphed = step.graphed();
    r.fallback = step.fallback_reason();

    // Per-step CUDA events, read after the last step (the host never waits in between).
    auto stream = at::cuda::getCurrentCUDAStream();
    std::vector<cudaEvent_t> ev(static_cast<size_t>(2 * steps));
    for (auto& e : ev) cudaEventCreate(&e);
    for (int64_t i = 0; i < steps; ++i) {
      cudaEventRecord(ev[static_cast<size_t>(2 * i)], stream);
      step.step(full[static_cast<size_t>(i) % full.size()], lr);
      cudaEventRecord(ev[static_cast<size_t>(2 * i + 1)], stream);
    }
    cudaEventSynchronize(ev.back());
    std::vector<double> ms;
    for (int64_t i = 0; i < steps; ++i) {
      float t = 0;
      cudaEventElapsedTime(&t, ev[static_cast<size_t>(2 * i)], ev[static_cast<size_t>(2 * i + 1)]);
      ms.push_back(t);
    }
    for (auto& e : ev) cudaEventDestroy(e);
    step.take_loss_sum();
    r.timed_steps = steps;
    r.ms_median = percentile(ms, 0.5);
    r.ms_p10 = percentile(ms, 0.1);
    r.ms_p90 = percentile(ms, 0.9);
    r.windows_per_s = static_cast<double>(batch) / (r.ms_median * 1e-3);

    // One epoch: every training window once (shuffled, the partial batch last), wall clock.
    torch::cuda::synchronize();
    const auto t0 = Clock::now();
    for (const auto& b : batches) step.step(b, lr);
    const double loss_sum = step.take_loss_sum();  // synchronises
    torch::cuda::synchronize();
    r.epoch_s = std::chrono::duration<double>(Clock::now() - t0).count();
    r.epoch_windows = train.size();
    r.final_loss = loss_sum / static_cast<double>(train.size());
    r.finite = std::isfinite(r.final_loss);
    for (const auto& p : model->parameters()) r.finite = r.finite && torch::isfinite(p).all().item<bool>();
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(0);
    r.peak_alloc_gb = static_cast<double>(stats.allocated_bytes[0].peak) / 1e9;
    r.peak_reserved_gb = static_cast<double>(stats.reserved_bytes[0].peak) / 1e9;
    r.ok = true;
  } catch (const std::exception& e) {
    r.error = e.what();
    const auto nl = r.error.find('\n');
    if (nl != std::string::npos) r.error = r.error.substr(0, nl);
  }
  return r;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      o += ' ';
      continue;
    }
    o += c;
  }
  return o;
}

void print_json(const ModeResult& r, int64_t batch) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", r.final_loss);
  const std::string loss = std::isfinite(r.final_loss) ? buf : "null";  // JSON has no NaN
  std::printf(
      "{\"bench\": \"tsm2_train\", \"mode\": \"%s\", \"ok\": %s, \"graphed\": %s, \"batch\": %lld, "
      "\"ms_per_step_median\": %.4f, \"ms_per_step_p10\": %.4f, \"ms_per_step_p90\": %.4f, "
      "\"timed_steps\": %lld, \"windows_per_s\": %.1f, \"epoch_s\": %.4f, \"epoch_windows\": %lld, "
      "\"peak_allocated_gb\": %.4f, \"peak_reserved_gb\": %.4f, \"final_loss\": %s, "
      "\"finite\": %s, \"fallback\": \"%s\", \"error\": \"%s\"}\n",
      r.mode.c_str(), r.ok ? "true" : "false", r.graphed ? "true" : "false", static_cast<long long>(batch), r.ms_median,
      r.ms_p10, r.ms_p90, static_cast<long long>(r.timed_steps), r.windows_per_s, r.epoch_s,
      static_cast<long long>(r.epoch_windows), r.peak_alloc_gb, r.peak_reserved_gb, loss.c_str(),
      r.finite ? "true" : "false", json_escape(r.fallback).c_str(), json_escape(r.error).c_str());
  std::fflush(stdout);
}

// 20 eager bf16 steps under Kineto (CPU + CUDA activities), Chrome trace to `path`.
void profile_steps(const mmx::data::ForecastData& fd, int64_t batch, const std::string& path) {
  namespace prof = torch::autograd::profiler;
  using torch::profiler::impl::ActivityType;
  using torch::profiler::impl::ProfilerConfig;
  using torch::profiler::impl::ProfilerState;
  try {
    const auto train = fd.train();
    auto model = make_model(fd.n_vars());
    mmx::train::TrainStepOptions so;
    so.batch_size = batch;
    so.bf16 = true;
    mmx::train::TSM2TrainStep step(model, so);
    step.bind_windows(fd.scaled, train);
    auto batches = mmx::data::batch_indices(train.size(), batch, true, 3);
    for (int i = 0; i < 5; ++i) step.step(batches[static_cast<size_t>(i)], 1e-4);
    torch::cuda::synchronize();
    ProfilerConfig cfg(ProfilerState::KINETO);
    const std::set<ActivityType> acts{ActivityType::CPU, ActivityType::CUDA};
    prof::prepareProfiler(cfg, acts);
    prof::enableProfiler(cfg, acts);
    for (int i = 0; i < 20; ++i) step.step(batches[static_cast<size_t>(5 + i)], 1e-4);
    torch::cuda::synchronize();
    auto result = prof::disableProfiler();
    result->save(path);
    std::printf(
        "profile: 20 eager bf16 steps, Chrome trace written to %s "
        "(python3 tools/bench/profile_split.py %s --steps 20)\n",
        path.c_str(), path.c_str());
  } catch (const std::exception& e) {
    std::printf("profile: Kineto unavailable (%.300s); see the scan estimate below\n", e.what());
  }
}

// Median GPU ms of CUDA-graph replays of the scan's forward (saving states) + backward at one
// shape (bf16 or fp32 inputs, z, D, delta_bias, softplus: how S6 calls it).
std::optional<double> scan_fwd_bwd_ms(int64_t b, int64_t E, int64_t L, int64_t N, bool bf16) {
  using FwdFn = mmx::detail::ScanFwdFn;
  using BwdFn = mmx::detail::ScanBwdFn;
  static auto fwd_op = c10::Dispatcher::singleton().findSchemaOrThrow("mmx::selective_scan_fwd", "").typed<FwdFn>();
  static auto bwd_op = c10::Dispatcher::singleton().findSchemaOrThrow("mmx::selective_scan_bwd", "").typed<BwdFn>();
  try {
    torch::NoGradGuard no_grad;
    const auto io = torch::TensorOptions().dtype(bf16 ? torch::kBFloat16 : torch::kFloat32).device(torch::kCUDA);
    const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCUDA);
    auto u = torch::randn({b, E, L}, io), delta = torch::randn({b, E, L}, io) * 0.5;
    auto z = torch::randn({b, E, L}, io), dout = torch::randn({b, E, L}, io);
    auto B = torch::randn({b, 1, N, L}, io), C = torch::randn({b, 1, N, L}, io);
    auto A = -torch::arange(1, N + 1, f32).repeat({E, 1}).contiguous();
    auto D = torch::ones({E}, f32), bias = torch::full({E}, -3.0, f32);
    auto fn = [&] {
      auto [out, last, ckpt] = fwd_op.call(u, delta, A, B, C, D, z, bias, std::nullopt, true, false, true);
      auto g = bwd_op.call(dout, std::nullopt, u, delta, A, B, C, D, z, bias, std::nullopt, ckpt, true, false);
      (void)g;
    };
    fn();
    torch::cuda::synchronize();
    auto side = at::cuda::getStreamFromPool();
    at::cuda::CUDAGraph graph;
    {
      c10::cuda::CUDAStreamGuard guard(side);
      graph.capture_begin();
      fn();
      graph.capture_end();
    }
    auto stream = at::cuda::getCurrentCUDAStream();
    std::vector<double> ms;
    for (int i = 0; i < 30; ++i) {
      cudaEvent_t e0, e1;
      cudaEventCreate(&e0);
      cudaEventCreate(&e1);
      cudaEventRecord(e0, stream);
      graph.replay();
      cudaEventRecord(e1, stream);
      cudaEventSynchronize(e1);
      float t = 0;
      cudaEventElapsedTime(&t, e0, e1);
      ms.push_back(t);
      cudaEventDestroy(e0);
      cudaEventDestroy(e1);
    }
    return percentile(ms, 0.5);
  } catch (const std::exception& e) {
    std::printf("scan estimate failed: %.200s\n", e.what());
    return std::nullopt;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"TSM2 training throughput on ETTh1: eager / CUDA graph, fp32 / bf16"};
  std::string data_root, trace;
  int64_t steps = 100, batch = 128;
  std::string modes = "eager_fp32,eager_bf16,graph_fp32,graph_bf16";
  app.add_option("--data-root", data_root, "data root (default: $MMX_DATA_ROOT or the embedded ETTh1)");
  app.add_option("--steps", steps, "timed steps per mode (>= 50 recommended)")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "batch size")->check(CLI::PositiveNumber);
  app.add_option("--modes", modes, "comma-separated subset of eager_fp32,eager_bf16,graph_fp32,graph_bf16");
  app.add_option("--trace", trace, "write a Kineto Chrome trace of 20 eager bf16 steps here");
  CLI11_PARSE(app, argc, argv);

  if (!torch::cuda::is_available()) {
    std::printf("no CUDA device\n");
    return 1;
  }
  const auto mode_list = split(modes, ',');
  for (const auto& m : mode_list) {
    if (m != "eager_fp32" && m != "eager_bf16" && m != "graph_fp32" && m != "graph_bf16") {
      std::fprintf(stderr, "unknown mode '%s' (valid: eager_fp32, eager_bf16, graph_fp32, graph_bf16)\n", m.c_str());
      return 2;
    }
  }
  const auto prop = at::cuda::getCurrentDeviceProperties();
  const std::string root = data_root.empty() ? mmx::default_data_root() : data_root;
  const auto fd = mmx::data::load_forecast_data("ETTh1", 512, 96, root);
  const int64_t n_train = fd.train().size();
  {
    auto m = make_model(fd.n_vars());
    int64_t n_params = 0;
    for (const auto& p : m->parameters()) n_params += p.numel();
    std::printf(
        "device: %s (%d SMs); torch %s; ETTh1 (%s): %lld training windows, batch %lld, "
        "%lld steps/epoch; TSM2 defaults, %lld parameters\n",
        prop->name, prop->multiProcessorCount, TORCH_VERSION, fd.table.source.c_str(), static_cast<long long>(n_train),
        static_cast<long long>(batch), static_cast<long long>((n_train + batch - 1) / batch),
        static_cast<long long>(n_params));
  }

  std::vector<ModeResult> results;
  for (const auto& m : mode_list) {
    results.push_back(run_mode(m, fd, batch, steps));
    print_json(results.back(), batch);
  }

  std::printf(
      "\n| mode | graphed | ms/step (median; p10-p90) | windows/s | epoch s | peak alloc GB | peak reserved GB | final "
      "loss |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : results) {
    if (!r.ok) {
      std::printf("| %s | - | FAILED: %.200s | | | | | |\n", r.mode.c_str(), r.error.c_str());
      continue;
    }
    std::printf("| %s | %s | %.3f (%.3f-%.3f) | %.0f | %.3f | %.3f | %.3f | %.5f%s |\n", r.mode.c_str(),
                r.graphed ? "yes" : (r.mode.rfind("graph", 0) == 0 ? "FELL BACK" : "no"), r.ms_median, r.ms_p10,
                r.ms_p90, r.windows_per_s, r.epoch_s, r.peak_alloc_gb, r.peak_reserved_gb, r.final_loss,
                r.finite ? "" : " NOT FINITE");
    if (!r.fallback.empty()) std::printf("  (%s fell back: %.300s)\n", r.mode.c_str(), r.fallback.c_str());
  }

  if (!trace.empty()) profile_steps(fd, batch, trace);
  // The scan alone at the model's shapes: per step 2 layers x (1 time-mixer scan of (B*M, 64, 63)
  // + 2 variate-mixer scans of (B*P, 64, 7)), N = 16.
  const int64_t M = fd.n_vars(), P = (512 - 16) / 8 + 1;
  for (const bool bf16 : {false, true}) {
    const auto t = scan_fwd_bwd_ms(batch * M, 64, P, 16, bf16);
    const auto c = scan_fwd_bwd_ms(batch * P, 64, M, 16, bf16);
    if (!t || !c) continue;
    const double per_step = 2.0 * (*t + 2.0 * *c);
    double step_ms = 0;
    for (const auto& r : results)
      if (r.ok && r.mode == (bf16 ? "graph_bf16" : "graph_fp32")) step_ms = r.ms_median;
    std::printf(
        "{\"bench\": \"tsm2_scan_share\", \"dtype\": \"%s\", \"time_scan_ms\": %.4f, "
        "\"chan_scan_ms\": %.4f, \"scan_ms_per_step\": %.4f, \"graph_step_ms\": %.4f, "
        "\"scan_fraction\": %.3f}\n",
        bf16 ? "bf16" : "fp32", *t, *c, per_step, step_ms, step_ms > 0 ? per_step / step_ms : 0.0);
  }
  bool all_ok = true;
  for (const auto& r : results) all_ok = all_ok && r.ok && r.finite;
  return all_ok ? 0 : 1;
}
