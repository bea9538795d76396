// Throughput and memory of ViM2 (issue #5 results): training steps (forward, cross-entropy,
// backward, clipping at 5, AdamW with the no-decay groups) and inference forwards on random
// images, timed with the wall clock around `--steps` steps after `--warmup` steps (the device is
// synchronised before and after), plus the peak allocated GPU memory of each mode (caching
// allocator statistics, reset between modes). On the CPU, `--mode latency` times single forwards
// (batch 1) and reports the median.
//
// Usage: bench_vim2 [--preset vim2_tiny | --config configs/vim2/X.toml (its [model])] [--image-size 224] [--batch 128]
// [--device cuda|cpu]
//                   [--precision bf16|fp32] [--mode train,infer,latency] [--steps 20] [--warmup 5]
// Output: one JSON line per mode.
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/torch.h>

#ifdef MMX_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "mmx/models/vim2.h"
#include "mmx/train/param_groups.h"
#include "mmx/train/vim2_config.h"

namespace {

using Clock = std::chrono::steady_clock;

void sync(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

void reset_peak(const torch::Device& device) {
#ifdef MMX_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(0);
#endif
}

double peak_gb(const torch::Device& device) {
#ifdef MMX_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(0);
    return static_cast<double>(stats.allocated_bytes[0].peak) / 1e9;
  }
#endif
  return 0.0;
}

// bf16 autocast on CUDA for the guard's lifetime (the scan state stays fp32).
struct Autocast {
  bool on;
  explicit Autocast(bool enable) : on(enable) {
    if (on) {
      at::autocast::set_autocast_enabled(at::kCUDA, true);
      at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    }
  }
  ~Autocast() {
    if (on) {
      at::autocast::set_autocast_enabled(at::kCUDA, false);
      at::autocast::clear_cache();
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ViM2 training / inference throughput"};
  std::string trace;
  std::string preset = "vim2_tiny", config_path, device_name = "cuda", precision = "bf16", modes = "train,infer";
  int64_t image_size = 224, batch = 128, steps = 20, warmup = 5, num_classes = 1000;
  app.add_option("--preset", preset);
  app.add_option("--config", config_path, "take the model of this ViM2 config (overrides --preset)");
  app.add_option("--image-size", image_size);
  app.add_option("--num-classes", num_classes);
  app.add_option("--batch", batch);
  app.add_option("--device", device_name);
  app.add_option("--precision", precision);
  app.add_option("--mode", modes);
  app.add_option("--steps", steps);
  app.add_option("--trace", trace, "after the timed training steps, write a Kineto Chrome trace of 5 more here");
  app.add_option("--warmup", warmup);
  bool scan_recompute = false;
  app.add_flag("--scan-recompute", scan_recompute, "rebuild the scans' saved states in the backward (memory)");
  CLI11_PARSE(app, argc, argv);

  torch::manual_seed(0);
  const torch::Device device(device_name == "cuda" ? torch::kCUDA : torch::kCPU);
  const bool bf16 = precision == "bf16" && device.is_cuda();
  auto options = mmx::models::vim2_preset(preset).image_size(image_size).num_classes(num_classes);
  if (!config_path.empty()) {
    options = mmx::train::load_classify_config(config_path).model;
    image_size = options.image_size();
    num_classes = options.num_classes();
    preset = config_path;
  }
  if (scan_recompute) options.scan_recompute(true);
  mmx::models::ViM2 model(options);
  model->to(device);
  int64_t n_params = 0;
  for (const auto& p : model->parameters()) n_params += p.numel();

  std::stringstream requested(modes);
  std::string mode;
  while (std::getline(requested, mode, ',')) {
    const int64_t b = mode == "latency" ? 1 : batch;
    auto images = torch::randn({b, 3, image_size, image_size}, torch::TensorOptions(device));
    auto labels = torch::randint(num_classes, {b}, torch::TensorOptions(device).dtype(torch::kLong));
    reset_peak(device);
    std::vector<double> step_ms;
    double total_s = 0;
    if (mode == "train") {
      model->train();
      const auto groups = mmx::train::weight_decay_groups(*model);
      std::vector<torch::optim::OptimizerParamGroup> param_groups;
      param_groups.emplace_back(groups.decay, std::make_unique<torch::optim::AdamWOptions>(
                                                  torch::optim::AdamWOptions(1e-3).weight_decay(0.05)));
      param_groups.emplace_back(groups.no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                                     torch::optim::AdamWOptions(1e-3).weight_decay(0.0)));
      torch::optim::AdamW optimizer(param_groups, torch::optim::AdamWOptions(1e-3));
      auto step = [&] {
        optimizer.zero_grad();
        torch::Tensor loss;
        {
          Autocast ac(bf16);
          loss = torch::nn::functional::cross_entropy(model->forward(images).to(torch::kFloat32), labels);
        }
        loss.backward();
        torch::nn::utils::clip_grad_norm_(model->parameters(), 5.0);
        optimizer.step();
      };
      for (int64_t i = 0; i < warmup; ++i) step();
      sync(device);
      const auto t0 = Clock::now();
      for (int64_t i = 0; i < steps; ++i) step();
      sync(device);
      total_s = std::chrono::duration<double>(Clock::now() - t0).count();
      if (!trace.empty()) {
        namespace prof = torch::autograd::profiler;
        using torch::profiler::impl::ActivityType;
        torch::profiler::impl::ProfilerConfig cfg(torch::profiler::impl::ProfilerState::KINETO);
        const std::set<ActivityType> acts{ActivityType::CPU, ActivityType::CUDA};
        prof::prepareProfiler(cfg, acts);
        prof::enableProfiler(cfg, acts);
        for (int i = 0; i < 5; ++i) step();
        sync(device);
        prof::disableProfiler()->save(trace);
      }
    } else {
      model->eval();
      torch::NoGradGuard no_grad;
      auto forward = [&] {
        Autocast ac(bf16);
        return model->forward(images);
      };
      for (int64_t i = 0; i < warmup; ++i) forward();
      sync(device);
      const auto t0 = Clock::now();
      for (int64_t i = 0; i < steps; ++i) {
        const auto s0 = Clock::now();
        forward();
        sync(device);
        step_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s0).count());
      }
      total_s = std::chrono::duration<double>(Clock::now() - t0).count();
    }
    std::sort(step_ms.begin(), step_ms.end());
    const double median_ms = step_ms.empty() ? 1e3 * total_s / steps : step_ms[step_ms.size() / 2];
    std::printf(
        "{\"mode\": \"%s\", \"preset\": \"%s\", \"params\": %lld, \"image_size\": %lld, \"batch\": %lld, "
        "\"device\": \"%s\", \"precision\": \"%s\", \"steps\": %lld, \"ms_per_step\": %.3f, "
        "\"median_ms\": %.3f, \"images_per_s\": %.1f, \"peak_alloc_gb\": %.2f, \"scan_recompute\": %s}\n",
        mode.c_str(), preset.c_str(), static_cast<long long>(n_params), static_cast<long long>(image_size),
        static_cast<long long>(b), device_name.c_str(), bf16 ? "bf16" : "fp32", static_cast<long long>(steps),
        1e3 * total_s / steps, median_ms, static_cast<double>(b) * steps / total_s, peak_gb(device),
        options.scan_recompute() ? "true" : "false");
    std::fflush(stdout);
  }
  return 0;
}
