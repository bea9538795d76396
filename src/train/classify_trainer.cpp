// ViM2 classification training loop, evaluation and checkpoint glue (see
// include/mmx/train/classify_trainer.h).
#include "mmx/train/classify_trainer.h"
#include "mmx/train/run_dir.h"

#include <ATen/autocast_mode.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <thread>

#include "mmx/core/atomic_file.h"
#include "mmx/core/build_info.h"
#include "mmx/train/checkpoint.h"
#include "mmx/train/progress.h"

namespace mmx::train {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kFormat = "mambamixer.vim2.v1";
constexpr const char* kEmaPrefix = "ema.";
// The largest epoch number read from a checkpoint (train.epochs is bounded by the same value).
constexpr int64_t kMaxEpochCount = 1000000;

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

torch::Device parse_device(const std::string& name) {
  if (name == "cuda") {
    TORCH_CHECK(torch::cuda::is_available(),
                "train.device = \"cuda\" but no CUDA device is available (mmx info shows the build)");
    return torch::Device(torch::kCUDA, 0);
  }
  return torch::kCPU;
}

// bf16 autocast on CUDA for the lifetime of the guard (the selective scan keeps an fp32 state).
struct AutocastGuard {
  bool on;
  explicit AutocastGuard(bool enable) : on(enable) {
    if (on) {
      at::autocast::set_autocast_enabled(at::kCUDA, true);
      at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    }
  }
  ~AutocastGuard() {
    if (on) {
      at::autocast::set_autocast_enabled(at::kCUDA, false);
      at::autocast::clear_cache();
    }
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;
};

// The gradients of `model`'s parameters that have one.
std::vector<torch::Tensor> grads_of(const torch::nn::Module& model) {
  std::vector<torch::Tensor> g;
  for (const auto& p : model.parameters())
    if (p.grad().defined()) g.push_back(p.grad());
  return g;
}

// Scales `grads` so that their global L2 norm is at most max_norm (factor max_norm / (norm + 1e-6)
// clamped to 1, as torch.nn.utils.clip_grad_norm_), without reading the norm back to the host:
// LibTorch's clip_grad_norm_ returns it as a double and so waits for the GPU every step.
void clip_grad_norm(const std::vector<torch::Tensor>& grads, double max_norm) {
  if (grads.empty()) return;
  torch::NoGradGuard ng;
  const auto norms = at::_foreach_norm(grads, 2);
  const auto total = torch::stack(norms).to(torch::kFloat32).norm();
  const auto coef = (max_norm / (total + 1e-6)).clamp_max(1.0);
  at::_foreach_mul_(grads, coef);
}

// Sums of one evaluation, kept on the device until the end (no per-batch synchronisation).
struct MetricSums {
  torch::Tensor top1, top5, loss;
  int64_t n = 0;
  void add(const torch::Tensor& logits, const torch::Tensor& labels) {
    TORCH_CHECK(logits.dim() == 2 && labels.dim() == 1 && logits.size(0) == labels.size(0),
                "classification metrics: logits (B, K) and labels (B) expected, got ", logits.sizes(), " and ",
                labels.sizes());
    const auto lf = logits.detach().to(torch::kFloat32);
    const auto lab = labels.to(lf.device(), torch::kLong);
    const int64_t k = std::min<int64_t>(5, lf.size(1));
    const auto idx = std::get<1>(lf.topk(k, 1));
    const auto hit = idx.eq(lab.view({-1, 1}));
    auto t1 = hit.select(1, 0).sum().to(torch::kFloat64);
    auto t5 = hit.any(1).sum().to(torch::kFloat64);
    auto l = torch::nn::functional::cross_entropy(
                 lf, lab, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                 .to(torch::kFloat64);
    if (n == 0) {
      top1 = t1, top5 = t5, loss = l;
    } else {
      top1 += t1, top5 += t5, loss += l;
    }
    n += lf.size(0);
  }
  ClassifyMetrics result() const {
    ClassifyMetrics m;
    m.n = n;
    if (n == 0) return m;
    const double d = static_cast<double>(n);
    m.top1 = 100.0 * top1.item<double>() / d;
    m.top5 = 100.0 * top5.item<double>() / d;
    m.loss = loss.item<double>() / d;
    return m;
  }
};

data::LoaderOptions loader_options(const ClassifyConfig& c, bool train) {
  data::LoaderOptions lo;
  lo.batch_size = train ? c.train.batch_size : c.train.eval_batch_size;
  lo.shuffle = train;
  lo.drop_last = train;
  lo.workers = c.data.workers;
  lo.prefetch = c.data.prefetch;
  lo.seed = static_cast<uint64_t>(c.train.seed);
  lo.image_size = c.model.image_size();
  lo.resize_ratio = c.augment.eval_resize_ratio;
  return lo;
}

void check_classes(const ClassifyConfig& c, const std::vector<std::string>& classes, const std::string& what) {
  if (static_cast<int64_t>(classes.size()) != c.model.num_classes())
    throw ConfigError("model.num_classes = " + std::to_string(c.model.num_classes()) + " but " + what + " has " +
                      std::to_string(classes.size()) + " classes");
}

// Model tensors of a checkpoint: the raw weights (no prefix) or the EMA's ("ema." stripped).
std::map<std::string, torch::Tensor> select_weights(const Checkpoint& ck, bool ema) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [k, v] : ck.tensors) {
    if (starts_with(k, kOptimizerPrefix)) continue;
    const bool is_ema = starts_with(k, kEmaPrefix);
    if (ema && is_ema) out.emplace(k.substr(std::string(kEmaPrefix).size()), v);
    if (!ema && !is_ema) out.emplace(k, v);
  }
  return out;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

json record_json(const ClassifyEpochRecord& e) {
  auto num = [](double v) { return std::isnan(v) ? json(nullptr) : json(v); };
  return {{"epoch", e.epoch},
          {"train_loss", e.train_loss},
          {"lr", e.lr},
          {"top1", e.top1},
          {"top5", e.top5},
          {"val_loss", e.val_loss},
          {"ema_top1", num(e.ema_top1)},
          {"ema_top5", num(e.ema_top5)},
          {"images_per_second", e.images_per_second},
          {"epoch_seconds", e.epoch_seconds},
          {"elapsed_seconds", e.elapsed_seconds}};
}

// One epoch record read back from JSON (metrics.json or a checkpoint's "history"); `source` names
// where it came from in errors.
ClassifyEpochRecord record_from_json(const json& j, const std::string& source) {
  if (!j.is_object()) throw CheckpointError(source + ": an epoch record is not a JSON object: " + j.dump());
  auto num = [&](const char* key, bool nullable) {
    if (!j.contains(key)) throw CheckpointError(source + ": epoch record " + j.dump() + " has no '" + key + "'");
    const json& v = j.at(key);
    if (nullable && v.is_null()) return std::numeric_limits<double>::quiet_NaN();
    if (!v.is_number() || !std::isfinite(v.get<double>()))
      throw CheckpointError(source + ": epoch record '" + key + "' = " + v.dump() + " is not a finite number");
    return v.get<double>();
  };
  ClassifyEpochRecord e;
  if (!j.contains("epoch") || !j.at("epoch").is_number_integer())
    throw CheckpointError(source + ": epoch record " + j.dump() + " has no integer 'epoch'");
  e.epoch = j.at("epoch").get<int64_t>();
  e.train_loss = num("train_loss", false);
  e.lr = num("lr", false);
  e.top1 = num("top1", false);
  e.top5 = num("top5", false);
  e.val_loss = num("val_loss", false);
  e.ema_top1 = num("ema_top1", true);
  e.ema_top5 = num("ema_top5", true);
  e.images_per_second = num("images_per_second", false);
  e.epoch_seconds = num("epoch_seconds", false);
  e.elapsed_seconds = num("elapsed_seconds", false);
  return e;
}

// The evaluated epochs before `start_epoch` stored in a checkpoint's "history" metadata (a JSON
// array of records, in epoch order).
std::vector<ClassifyEpochRecord> history_from_metadata(const Checkpoint& ck, const std::string& path,
                                                       int64_t start_epoch) {
  const json h = json::parse(metadata_value(ck, "history", path), nullptr, false);
  if (h.is_discarded() || !h.is_array()) throw CheckpointError(path + ": metadata 'history' is not a JSON array");
  std::vector<ClassifyEpochRecord> out;
  for (const auto& e : h) {
    ClassifyEpochRecord r = record_from_json(e, path + " (metadata 'history')");
    if (r.epoch >= start_epoch || (!out.empty() && r.epoch <= out.back().epoch))
      throw CheckpointError(path + ": metadata 'history' holds epoch " + std::to_string(r.epoch) +
                            " out of order or after the checkpoint's epoch " + std::to_string(start_epoch - 1));
    out.push_back(r);
  }
  return out;
}

}  // namespace

ClassifyMetrics classification_metrics(const torch::Tensor& logits, const torch::Tensor& labels) {
  torch::NoGradGuard ng;
  MetricSums s;
  s.add(logits, labels);
  return s.result();
}

torch::Tensor soft_target_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets) {
  TORCH_CHECK(logits.dim() == 2 && logits.sizes() == targets.sizes(),
              "soft_target_cross_entropy: logits and targets must both be (B, K), got ", logits.sizes(), " and ",
              targets.sizes());
  const auto logp = torch::log_softmax(logits.to(torch::kFloat32), 1);
  return -(targets.to(torch::kFloat32) * logp).sum(1).mean();
}

double ema_decay_at(double decay, int64_t step, bool warmup) {
  if (!warmup) return decay;
  return std::min(decay, (1.0 + static_cast<double>(step)) / (10.0 + static_cast<double>(step)));
}

void ema_update(torch::nn::Module& ema, const torch::nn::Module& model, double decay) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> ema_f, model_f;
  auto collect = [&](const auto& ema_items, const auto& model_items, const char* what) {
    TORCH_CHECK(ema_items.size() == model_items.size(), "ema_update: the EMA has ", ema_items.size(), " ", what,
                ", the model ", model_items.size());
    for (const auto& item : model_items) {
      const torch::Tensor* e = ema_items.find(item.key());
      TORCH_CHECK(e != nullptr, "ema_update: the EMA has no ", what, " '", item.key(), "'");
      TORCH_CHECK(e->sizes() == item.value().sizes(), "ema_update: ", what, " '", item.key(), "' has shape ",
                  e->sizes(), " in the EMA but ", item.value().sizes(), " in the model");
      if (!item.value().defined()) continue;
      if (item.value().is_floating_point()) {
        ema_f.push_back(*e);
        model_f.push_back(item.value());
      } else {
        e->copy_(item.value());
      }
    }
  };
  collect(ema.named_parameters(), model.named_parameters(), "parameter");
  collect(ema.named_buffers(), model.named_buffers(), "buffer");
  if (ema_f.empty()) return;
  at::_foreach_mul_(ema_f, decay);
  at::_foreach_add_(ema_f, model_f, 1.0 - decay);
}

nn::WeightDecayGroups vim2_weight_decay_groups(const torch::nn::Module& model) {
  const nn::WeightDecayGroups base = nn::split_weight_decay(model);
  const std::set<std::string> base_no_decay(base.no_decay_names.begin(), base.no_decay_names.end());
  nn::WeightDecayGroups g;
  for (const auto& p : model.named_parameters()) {
    const std::string& name = p.key();
    const auto dot = name.rfind('.');
    const std::string last = dot == std::string::npos ? name : name.substr(dot + 1);
    const bool no_decay = base_no_decay.count(name) || last == "A_log" || last == "A_logs" || last == "D" ||
                          last == "Ds" || ends_with(last, "bias") ||
                          (starts_with(last, "w_") && name.find("averaging.") != std::string::npos) ||
                          p.value().dim() <= 1;
    (no_decay ? g.no_decay_names : g.decay_names).push_back(name);
    (no_decay ? g.no_decay : g.decay).push_back(p.value());
  }
  return g;
}

std::unique_ptr<data::ImageLoader> make_classify_loader(const ClassifyConfig& c, bool train) {
  const data::LoaderOptions lo = loader_options(c, train);
  if (c.data.dataset == "cifar10") {
    const std::string root = c.data.data_root.empty() ? default_data_root() : c.data.data_root;
    const std::string dir = (fs::path(root) / "cifar10").string();
    data::ImageDataset d = data::load_cifar10(dir, train);
    check_classes(c, d.classes, "CIFAR-10 (" + dir + ")");
    return std::make_unique<data::ImageLoader>(std::move(d), lo);
  }
  const std::string& dir = train ? c.data.train_dir : c.data.val_dir;
  data::ImageFolder f = data::scan_image_folder(dir);
  check_classes(c, f.classes, "the image folder " + dir);
  return std::make_unique<data::ImageLoader>(std::move(f), lo);
}

ClassifyMetrics evaluate_classifier(models::ViM2Impl& model, data::ImageLoader& loader,
                                    const data::AugmentOptions& augment, torch::Device device,
                                    const std::string& precision, int64_t max_batches) {
  torch::NoGradGuard ng;
  const bool was_training = model.is_training();
  model.eval();
  data::BatchAugment aug(augment, 0);
  const bool bf16 = precision == "bf16" && device.is_cuda();
  MetricSums sums;
  loader.start_epoch(0);
  int64_t b = 0;
  while (max_batches <= 0 || b < max_batches) {
    auto batch = loader.next();
    if (!batch) break;
    ++b;
    const auto x = aug.eval(batch->first.to(device, /*non_blocking=*/true));
    torch::Tensor logits;
    {
      AutocastGuard ac(bf16);
      logits = model.forward(x);
    }
    sums.add(logits, batch->second.to(device, /*non_blocking=*/true));
  }
  if (was_training) model.train();
  return sums.result();
}

ClassifyResult train_vim2(const ClassifyConfig& config, const std::string& run_dir, bool resume,
                          const ClassifyHooks& hooks) {
  const auto& tc = config.train;
  const int64_t cores = std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency()));
  if (tc.threads > cores)
    throw ConfigError("train.threads = " + std::to_string(tc.threads) + " is more than the " + std::to_string(cores) +
                      " hardware threads of this machine; expected 0 (LibTorch's default) to " + std::to_string(cores));
  if (tc.threads > 0) at::set_num_threads(static_cast<int>(tc.threads));
  const torch::Device device = parse_device(tc.device);
  const bool bf16 = tc.precision == "bf16";
  const int64_t num_classes = config.model.num_classes();

  // Data.
  std::unique_ptr<data::ImageLoader> train_loader, val_loader;
  std::string data_name;
  if (hooks.train_data || hooks.val_data) {
    TORCH_CHECK(hooks.train_data && hooks.val_data, "ClassifyHooks: give both train_data and val_data, or neither");
    check_classes(config, hooks.train_data->classes, "the training set");
    train_loader = std::make_unique<data::ImageLoader>(*hooks.train_data, loader_options(config, true));
    val_loader = std::make_unique<data::ImageLoader>(*hooks.val_data, loader_options(config, false));
    data_name = "in-memory images";
  } else {
    train_loader = make_classify_loader(config, true);
    val_loader = make_classify_loader(config, false);
    data_name = config.data.dataset == "cifar10" ? "CIFAR-10" : config.data.train_dir;
  }
  const std::vector<std::string> classes = train_loader->classes();
  int64_t batches_per_epoch = train_loader->batches_per_epoch();
  if (tc.max_batches_per_epoch > 0) batches_per_epoch = std::min(batches_per_epoch, tc.max_batches_per_epoch);
  if (batches_per_epoch < 1)
    throw ConfigError("train.batch_size = " + std::to_string(tc.batch_size) + " exceeds the " +
                      std::to_string(train_loader->size()) + " training images");

  RunLog log = open_run_log(open_run_dir(run_dir, resume), hooks.log);

  // Model, EMA, optimizer.
  torch::manual_seed(static_cast<uint64_t>(tc.seed));
  models::ViM2 model(config.model);
  model->to(device);
  models::ViM2 ema{nullptr};
  if (tc.ema) {
    ema = models::ViM2(config.model);
    ema->to(device);
    load_module_state(*ema, module_state(*model), "the model");
    ema->eval();
    for (auto& p : ema->parameters()) p.requires_grad_(false);
  }
  int64_t n_params = 0;
  for (const auto& p : model->parameters()) n_params += p.numel();

  const nn::WeightDecayGroups groups = vim2_weight_decay_groups(*model);
  auto adamw = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(tc.lr).betas({tc.beta1, tc.beta2}).eps(tc.eps).weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> pg;
  pg.emplace_back(groups.decay, adamw(tc.weight_decay));
  pg.emplace_back(groups.no_decay, adamw(0.0));
  torch::optim::AdamW opt(std::move(pg), torch::optim::AdamWOptions(tc.lr));
  std::vector<std::pair<std::string, torch::Tensor>> params_named;
  for (const auto& p : model->named_parameters()) params_named.emplace_back(p.key(), p.value());

  const int64_t total_steps = batches_per_epoch * tc.epochs;
  const int64_t warmup_steps = std::llround(tc.warmup_epochs * static_cast<double>(batches_per_epoch));
  auto lr_at = [&](int64_t step) {
    if (step < warmup_steps)
      return tc.warmup_lr + (tc.lr - tc.warmup_lr) * static_cast<double>(step) / static_cast<double>(warmup_steps);
    const double span = static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps - 1));
    const double t = std::min(1.0, static_cast<double>(step - warmup_steps) / span);
    return tc.min_lr + 0.5 * (tc.lr - tc.min_lr) * (1.0 + std::cos(M_PI * t));
  };

  ClassifyResult res;
  res.run_dir = run_dir;
  res.n_params = n_params;
  int64_t start_epoch = 1, step = 0;
  double elapsed_before = 0;
  const std::string best_path = (fs::path(run_dir) / "best.safetensors").string();
  const std::string last_path = (fs::path(run_dir) / "last.safetensors").string();
  const std::string config_toml = to_toml(config);
  const std::map<std::string, std::string> meta = {
      {"format", kFormat}, {"mmx_version", MMX_VERSION}, {"config", config_toml}, {"classes", json(classes).dump()}};

  if (resume) {
    Checkpoint last = load_checkpoint(last_path);
    auto need = [&](const char* key) -> const std::string& {
      auto it = last.metadata.find(key);
      if (it == last.metadata.end())
        throw CheckpointError(last_path + ": metadata key '" + key + "' missing: not a ViM2 run checkpoint");
      return it->second;
    };
    if (need("format") != kFormat) throw CheckpointError(last_path + ": not a ViM2 checkpoint (format '" + need("format") + "')");
    ClassifyConfig stored = parse_classify_config(need("config"), last_path + " (stored config)");
    stored.data = config.data;
    stored.train = config.train;
    stored.model.scan_recompute(config.model.scan_recompute());  // memory knob, not architecture
    if (to_toml(stored) != config_toml)
      throw ConfigError(last_path + ": the run was trained with other [model]/[augment] settings; "
                        "resume with the run's config.toml");
    for (const char* section : {"data", "model", "train"})
      for (const auto& change : changed_settings(need("config"), config_toml, section))
        log("resuming with a changed setting (the new value applies): " + change);
    load_module_state(*model, select_weights(last, false), last_path);
    if (tc.ema) {
      auto e = select_weights(last, true);
      if (e.empty()) throw CheckpointError(last_path + ": no EMA weights stored, but train.ema = true");
      load_module_state(*ema, e, last_path);
    }
    load_optimizer_state(opt, last, params_named, last_path);
    start_epoch = metadata_int(last, "epoch", last_path, 0, kMaxEpochCount) + 1;
    step = metadata_int(last, "step", last_path, 0);
    res.best_top1 = metadata_double(last, "best_top1", last_path);
    res.best_epoch = metadata_int(last, "best_epoch", last_path, 0, start_epoch - 1);
    elapsed_before = metadata_double(last, "elapsed_seconds", last_path);
    // The history up to the checkpoint's epoch comes from the checkpoint itself, so a kill between
    // writing last.safetensors and metrics.json loses nothing. Checkpoints written before the
    // history was stored in them fall back to metrics.json.
    if (last.metadata.count("history")) {
      res.history = history_from_metadata(last, last_path, start_epoch);
    } else {
      std::ifstream in(fs::path(run_dir) / "metrics.json");
      const json prev = json::parse(in, nullptr, false);
      if (!prev.is_discarded() && prev.contains("epochs") && prev["epochs"].is_array())
        for (const auto& e : prev["epochs"]) {
          const ClassifyEpochRecord r = record_from_json(e, run_dir + "/metrics.json");
          if (r.epoch < start_epoch) res.history.push_back(r);
        }
    }
    if (start_epoch > tc.epochs) {
      throw ConfigError(last_path + ": the run already finished its " + std::to_string(tc.epochs) +
                        " epochs; raise train.epochs (--set train.epochs=N) to continue it");
    }
    log("resumed from " + last_path + " at epoch " + std::to_string(start_epoch));
  }
  write_file_atomic((fs::path(run_dir) / "config.toml").string(), config_toml);
  {
    std::ostringstream os;
    os << "ViM2" << (config.preset.empty() ? "" : " (" + config.preset + ")") << " on " << data_name << ": "
       << train_loader->size() << " training / " << val_loader->size() << " validation images, "
       << classes.size() << " classes, " << config.model.image_size() << " px; " << n_params << " parameters; "
       << batches_per_epoch << " steps/epoch of " << tc.batch_size << "; device " << device << " (" << tc.precision
       << "); threads " << at::get_num_threads();
    log(os.str());
  }

  auto write_metrics = [&]() {
    json j{{"model", config.preset.empty() ? "vim2" : config.preset},
           {"dataset", config.data.dataset},
           {"n_params", n_params},
           {"best_epoch", res.best_epoch},
           {"best_top1", res.best_top1},
           {"train_seconds", res.train_seconds},
           {"out_of_time", res.out_of_time}};
    json ep = json::array();
    for (const auto& e : res.history) ep.push_back(record_json(e));
    j["epochs"] = ep;
    write_file_atomic((fs::path(run_dir) / "metrics.json").string(), j.dump(2) + "\n");
    std::ostringstream csv;
    csv << "epoch,elapsed_seconds,train_loss,lr,top1,top5,val_loss,ema_top1,ema_top5,images_per_second,epoch_seconds\n";
    csv.precision(10);
    for (const auto& e : res.history) {
      auto num = [](double v) { return std::isnan(v) ? std::string() : fmt("%.10g", v); };
      csv << e.epoch << "," << e.elapsed_seconds << "," << e.train_loss << "," << e.lr << "," << e.top1 << ","
          << e.top5 << "," << e.val_loss << "," << num(e.ema_top1) << "," << num(e.ema_top5) << ","
          << e.images_per_second << "," << e.epoch_seconds << "\n";
    }
    write_file_atomic((fs::path(run_dir) / "metrics.csv").string(), csv.str());
  };
  auto make_checkpoint = [&](bool with_optimizer, int64_t epoch) {
    Checkpoint ck{module_state(*model), meta};
    if (tc.ema)
      for (const auto& [k, v] : module_state(*ema)) ck.tensors.emplace(kEmaPrefix + k, v);
    if (with_optimizer) add_optimizer_state(ck, opt, params_named);
    ck.metadata["epoch"] = std::to_string(epoch);
    ck.metadata["step"] = std::to_string(step);
    ck.metadata["best_top1"] = fmt("%.17g", res.best_top1);
    ck.metadata["best_epoch"] = std::to_string(res.best_epoch);
    ck.metadata["elapsed_seconds"] = fmt("%.17g", elapsed_before + res.train_seconds);
    json hist = json::array();
    for (const auto& e : res.history) hist.push_back(record_json(e));
    ck.metadata["history"] = hist.dump();
    return ck;
  };

  const auto t_start = Clock::now();
  const double budget_s = tc.time_budget_minutes * 60.0;
  for (int64_t epoch = start_epoch; epoch <= tc.epochs; ++epoch) {
    // Per-epoch seeds (drop-path, augmentation, loader order): a resumed run repeats the
    // uninterrupted one exactly.
    torch::manual_seed(static_cast<uint64_t>(tc.seed) * 7919ULL + static_cast<uint64_t>(epoch));
    data::BatchAugment aug(config.augment, static_cast<uint64_t>(tc.seed) * 1000003ULL + static_cast<uint64_t>(epoch));
    train_loader->start_epoch(epoch);
    model->train();
    const auto t0 = Clock::now();
    ProgressBar bar("epoch " + std::to_string(epoch) + "/" + std::to_string(tc.epochs), batches_per_epoch,
                    hooks.progress_bar);
    std::vector<torch::Tensor> step_losses;
    int64_t seen = 0, bar_done = 0;
    double lr = lr_at(step);
    // Every step's loss is checked, but read back only now and then (every .item() waits for the
    // GPU): the first non-finite one among those not yet checked is reported with its own step and
    // learning rate, before anything of this epoch is evaluated or written.
    size_t checked = 0;
    const int64_t first_step = step;
    auto check_losses = [&]() {
      if (checked == step_losses.size()) return;
      const auto recent = torch::stack(std::vector<torch::Tensor>(step_losses.begin() + checked, step_losses.end()));
      const auto finite = torch::isfinite(recent);
      if (!finite.all().item<bool>()) {
        const int64_t k = static_cast<int64_t>(checked) + (~finite).nonzero()[0][0].item<int64_t>();
        const double bad = step_losses[k].item<double>();
        const int64_t at_step = first_step + k + 1;
        TORCH_CHECK(false, "training loss became " + fmt("%g", bad) + " at epoch " + std::to_string(epoch) + ", step " +
                             std::to_string(at_step) + " (batch " + std::to_string(k + 1) + " of the epoch) with lr " +
                             fmt("%.6g", lr_at(at_step - 1)) + "; nothing of this epoch was written (try a lower "
                             "train.lr, or a train.clip_grad > 0)");
      }
      checked = step_losses.size();
    };
    for (int64_t b = 0; b < batches_per_epoch; ++b) {
      auto batch = train_loader->next();
      if (!batch) break;
      lr = lr_at(step);
      for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
      const auto images = batch->first.to(device, /*non_blocking=*/true);
      const auto labels = batch->second.to(device, /*non_blocking=*/true);
      auto [x, targets] = aug.mix(aug.train(images), labels, num_classes);
      torch::Tensor logits;
      {
        AutocastGuard ac(bf16);
        logits = model->forward(x);
      }
      const auto loss = soft_target_cross_entropy(logits, targets);
      opt.zero_grad();
      loss.backward();
      if (tc.clip_grad > 0) clip_grad_norm(grads_of(*model), tc.clip_grad);
      opt.step();
      ++step;
      if (tc.ema) ema_update(*ema, *model, ema_decay_at(tc.ema_decay, step, tc.ema_warmup));
      step_losses.push_back(loss.detach());
      seen += images.size(0);
      // Read the loss back only now and then: every .item() waits for the GPU.
      if (b % 20 == 0 || b + 1 == batches_per_epoch) {
        check_losses();
        const double l = step_losses.back().item<double>();
        bar.update(b + 1 - bar_done, "loss " + fmt("%.4f", l), static_cast<double>(seen));
        bar_done = b + 1;
      }
      if (budget_s > 0 && elapsed_before + seconds_since(t_start) > budget_s) {
        res.out_of_time = true;
        break;
      }
    }
    check_losses();
    bar.finish();
    const auto losses = step_losses.empty() ? torch::zeros({0}) : torch::stack(step_losses).to(torch::kCPU, torch::kFloat32);
    const double train_secs = seconds_since(t0);
    res.final_train_losses.assign(losses.data_ptr<float>(), losses.data_ptr<float>() + losses.numel());
    const double train_loss = losses.numel() ? losses.mean().item<double>() : std::nan("");
    TORCH_CHECK(losses.numel() == 0 || std::isfinite(train_loss), "training loss became ", train_loss, " in epoch ",
                epoch, " (try a lower train.lr)");
    res.epochs_run = epoch;
    res.steps = step;
    const bool stop_now = res.out_of_time || epoch == tc.epochs ||
                          (hooks.stop_after_epoch > 0 && epoch >= hooks.stop_after_epoch);
    const double ips = static_cast<double>(seen) / std::max(train_secs, 1e-9);
    if (epoch % tc.eval_every == 0 || stop_now) {
      ClassifyEpochRecord rec;
      rec.epoch = epoch;
      rec.train_loss = train_loss;
      rec.lr = lr;
      res.final_val = evaluate_classifier(*model, *val_loader, config.augment, device, tc.precision, tc.max_eval_batches);
      rec.top1 = res.final_val.top1;
      rec.top5 = res.final_val.top5;
      rec.val_loss = res.final_val.loss;
      TORCH_CHECK(std::isfinite(rec.val_loss), "validation loss became ", rec.val_loss, " at epoch ", epoch,
                  " (the model's logits are not finite); nothing of this epoch was written");
      rec.ema_top1 = rec.ema_top5 = std::numeric_limits<double>::quiet_NaN();
      if (tc.ema) {
        res.final_val_ema = evaluate_classifier(*ema, *val_loader, config.augment, device, tc.precision, tc.max_eval_batches);
        rec.ema_top1 = res.final_val_ema.top1;
        rec.ema_top5 = res.final_val_ema.top5;
      }
      rec.images_per_second = ips;
      rec.epoch_seconds = train_secs;
      res.train_seconds = seconds_since(t_start);
      rec.elapsed_seconds = elapsed_before + res.train_seconds;
      res.history.push_back(rec);
      const double score = tc.ema ? std::max(rec.top1, rec.ema_top1) : rec.top1;
      const bool improved = res.best_epoch == 0 || score > res.best_top1;
      if (improved) {
        res.best_top1 = score;
        res.best_epoch = epoch;
        save_checkpoint(best_path, make_checkpoint(false, epoch));
      }
      std::string line = "epoch " + std::to_string(epoch) + "/" + std::to_string(tc.epochs) + ": train_loss " +
                         fmt("%.4f", train_loss) + "  lr " + fmt("%.2e", lr) + "  val top1 " + fmt("%.2f", rec.top1) +
                         " top5 " + fmt("%.2f", rec.top5);
      if (tc.ema) line += "  ema top1 " + fmt("%.2f", rec.ema_top1) + " top5 " + fmt("%.2f", rec.ema_top5);
      line += "  " + fmt("%.0f", ips) + " img/s  " + fmt("%.1f", train_secs) + "s  elapsed " +
              fmt("%.1f", rec.elapsed_seconds) + "s" + (improved ? "  (best)" : "");
      log(line);
    } else {
      log("epoch " + std::to_string(epoch) + "/" + std::to_string(tc.epochs) + ": train_loss " +
          fmt("%.4f", train_loss) + "  lr " + fmt("%.2e", lr) + "  " + fmt("%.0f", ips) + " img/s  " +
          fmt("%.1f", train_secs) + "s");
    }
    res.train_seconds = seconds_since(t_start);
    if (epoch % tc.save_every == 0 || stop_now) save_checkpoint(last_path, make_checkpoint(true, epoch));
    write_metrics();
    if (res.out_of_time) {
      log("time budget of " + fmt("%g", tc.time_budget_minutes) + " minutes reached after " +
          std::to_string(step) + " steps");
      break;
    }
    if (stop_now) break;
  }
  res.train_seconds = seconds_since(t_start);
  write_metrics();
  return res;
}

bool is_classifier_checkpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  unsigned char len_bytes[8];
  if (!in.read(reinterpret_cast<char*>(len_bytes), 8)) return false;
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  if (n == 0 || n > (100u << 20)) return false;
  std::string header(n, '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(n))) return false;
  const json j = json::parse(header, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("__metadata__")) return false;
  const auto& m = j["__metadata__"];
  return m.is_object() && m.contains("format") && m["format"] == kFormat;
}

LoadedClassifier load_classifier(const std::string& path, torch::Device device, bool ema) {
  const Checkpoint ck = load_checkpoint(path);
  auto need = [&](const char* key) -> const std::string& {
    auto it = ck.metadata.find(key);
    if (it == ck.metadata.end())
      throw CheckpointError(path + ": metadata key '" + key + "' missing: not a ViM2 checkpoint written by mmx train");
    return it->second;
  };
  if (need("format") != kFormat)
    throw CheckpointError(path + ": not a ViM2 checkpoint (format '" + need("format") + "')");
  LoadedClassifier out;
  out.config = parse_classify_config(need("config"), path + " (stored config)");
  out.classes = metadata_string_list(ck, "classes", path);
  if (static_cast<int64_t>(out.classes.size()) != out.config.model.num_classes())
    throw CheckpointError(path + ": metadata 'classes' names " + std::to_string(out.classes.size()) +
                          " classes but the stored config has model.num_classes = " +
                          std::to_string(out.config.model.num_classes()));
  out.epoch = metadata_int(ck, "epoch", path, 0, kMaxEpochCount);
  out.ema = ema;
  auto weights = select_weights(ck, ema);
  if (ema && weights.empty())
    throw CheckpointError(path + ": no EMA weights stored (the run had train.ema = false); load without --ema");
  // Every tensor shape the stored config implies, compared with the file before the model is built:
  // an edited config cannot allocate a model the checkpoint does not hold.
  check_state_shapes(models::vim2_parameter_shapes(out.config.model), weights, path);
  out.model = models::ViM2(out.config.model);
  load_module_state(*out.model, weights, path);
  out.model->to(device);
  out.model->eval();
  return out;
}

}  // namespace mmx::train
