// TOML configuration of ViM2 classification (toml++): a key table bound to the fields of
// ClassifyConfig, read by the machinery both models share (src/train/config_value.h).
#include "mmx/train/vim2_config.h"

#include "mmx/ops/selective_scan.h"
#include "train/config_value.h"

#include <toml++/toml.h>

#include <c10/util/Exception.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <tuple>

#include "mmx/train/device.h"

namespace mmx::train {
namespace {

using namespace config_value;

const Schema<ClassifyConfig>& schema() {
  static const Schema<ClassifyConfig> s = [] {
    Schema<ClassifyConfig> m({"data", "model", "augment", "train"});
    MMX_CONFIG_MODEL_OPTION(m, image_size, Kind::kInt, int64_t);
    MMX_CONFIG_MODEL_OPTION(m, num_classes, Kind::kInt, int64_t);
    MMX_CONFIG_MODEL_OPTION(m, patch_size, Kind::kInt, int64_t);
    MMX_CONFIG_MODEL_OPTION(m, dims, Kind::kIntList, IntList);
    MMX_CONFIG_MODEL_OPTION(m, depths, Kind::kIntList, IntList);
    MMX_CONFIG_MODEL_OPTION(m, channel_d_inner, Kind::kIntList, IntList);
    MMX_CONFIG_MODEL_OPTION(m, d_state, Kind::kInt, int64_t);
    MMX_CONFIG_MODEL_OPTION(m, expand, Kind::kInt, int64_t);
    MMX_CONFIG_MODEL_OPTION(m, d_conv, Kind::kInt, int64_t);
    MMX_CONFIG_MODEL_OPTION(m, channel_d_conv, Kind::kInt, int64_t);
    MMX_CONFIG_MODEL_OPTION(m, channel_layout, Kind::kString, std::string);
    MMX_CONFIG_MODEL_OPTION(m, channel_branches, Kind::kInt, int64_t);
    MMX_CONFIG_MODEL_OPTION(m, block_order, Kind::kString, std::string);
    MMX_CONFIG_MODEL_OPTION(m, weighted_average, Kind::kBool, bool);
    MMX_CONFIG_MODEL_OPTION(m, out_norm, Kind::kBool, bool);
    MMX_CONFIG_MODEL_OPTION(m, drop_path_rate, Kind::kFloat, double);
    MMX_CONFIG_MODEL_OPTION(m, norm_eps, Kind::kFloat, double);
    MMX_CONFIG_MODEL_OPTION(m, scan_recompute, Kind::kBool, bool);
    m.field("model.name", Kind::kString, [](ClassifyConfig& c) -> std::string& { return c.model_name; });
    m.field("model.preset", Kind::kString, [](ClassifyConfig& c) -> std::string& { return c.preset; });

    MMX_CONFIG_FIELD(m, data, dataset, Kind::kString);
    MMX_CONFIG_FIELD(m, data, train_dir, Kind::kString);
    MMX_CONFIG_FIELD(m, data, val_dir, Kind::kString);
    MMX_CONFIG_FIELD(m, data, workers, Kind::kInt);
    MMX_CONFIG_FIELD(m, data, prefetch, Kind::kInt);

    MMX_CONFIG_FIELD(m, augment, image_size, Kind::kInt);
    MMX_CONFIG_FIELD(m, augment, random_resized_crop, Kind::kBool);
    MMX_CONFIG_FIELD(m, augment, rrc_scale_min, Kind::kFloat);
    MMX_CONFIG_FIELD(m, augment, rrc_scale_max, Kind::kFloat);
    MMX_CONFIG_FIELD(m, augment, rrc_ratio_min, Kind::kFloat);
    MMX_CONFIG_FIELD(m, augment, rrc_ratio_max, Kind::kFloat);
    MMX_CONFIG_FIELD(m, augment, interpolation, Kind::kString);
    MMX_CONFIG_FIELD(m, augment, pad_crop, Kind::kInt);
    MMX_CONFIG_FIELD(m, augment, hflip, Kind::kFloat);
    MMX_CONFIG_FIELD(m, augment, randaugment_n, Kind::kInt);
    MMX_CONFIG_FIELD(m, augment, randaugment_m, Kind::kFloat);
    MMX_CONFIG_FIELD(m, augment, randaugment_mstd, Kind::kFloat);
    MMX_CONFIG_FIELD(m, augment, randaugment_prob, Kind::kFloat);
    MMX_CONFIG_FIELD(m, augment, color_jitter, Kind::kFloat);
    MMX_CONFIG_FIELD(m, augment, random_erasing, Kind::kFloat);
    MMX_CONFIG_FIELD(m, augment, mixup_alpha, Kind::kFloat);
    MMX_CONFIG_FIELD(m, augment, cutmix_alpha, Kind::kFloat);
    MMX_CONFIG_FIELD(m, augment, mixup_prob, Kind::kFloat);
    MMX_CONFIG_FIELD(m, augment, mixup_switch_prob, Kind::kFloat);
    MMX_CONFIG_FIELD(m, augment, label_smoothing, Kind::kFloat);
    MMX_CONFIG_FIELD(m, augment, mean, Kind::kFloatList);
    MMX_CONFIG_FIELD(m, augment, std, Kind::kFloatList);
    MMX_CONFIG_FIELD(m, augment, eval_resize_ratio, Kind::kFloat);

    MMX_CONFIG_FIELD(m, train, warmup_lr, Kind::kFloat);
    MMX_CONFIG_FIELD(m, train, beta1, Kind::kFloat);
    MMX_CONFIG_FIELD(m, train, beta2, Kind::kFloat);
    MMX_CONFIG_FIELD(m, train, eps, Kind::kFloat);
    MMX_CONFIG_FIELD(m, train, ema, Kind::kBool);
    MMX_CONFIG_FIELD(m, train, ema_decay, Kind::kFloat);
    MMX_CONFIG_FIELD(m, train, ema_warmup, Kind::kBool);
    MMX_CONFIG_FIELD(m, train, max_eval_batches, Kind::kInt);
    MMX_CONFIG_FIELD(m, train, eval_every, Kind::kInt);
    MMX_CONFIG_FIELD(m, train, save_every, Kind::kInt);
    bind_shared_keys(m);
    return m;
  }();
  return s;
}

// Upper bounds of the model and batch sizes: generous (several times ViM2-B at 224 px) but finite,
// so that a config cannot ask for absurd memory or time before training starts. The parameter
// limit (2e9, as TSM2's) is lifted by MMX_ALLOW_LARGE_MODELS=1; the per-key
// bounds only keep the parameter count computable and are far above any model within that limit.
constexpr int64_t kMaxImageSize = 8192;               // model.image_size (pixels)
constexpr int64_t kMaxDim = 65536;                    // model.dims[s], model.channel_d_inner[s]
constexpr int64_t kMaxDepth = 256;                    // model.depths[s] ((T, T, C) units per stage)
constexpr int64_t kMaxExpand = 64;                    // model.expand
constexpr int64_t kMaxKernel = 63;                    // model.d_conv, model.channel_d_conv
constexpr int64_t kMaxClasses = 1000000;              // model.num_classes
constexpr int64_t kMaxEpochs = 1000000;               // train.epochs
constexpr int64_t kMaxBatch = 65536;                  // train.batch_size, train.eval_batch_size
constexpr int64_t kMaxBatchInput = int64_t{1} << 32;  // batch * 3 * image_size^2 (input elements)
constexpr int64_t kMaxWorkers = 1024;                 // data.workers
constexpr int64_t kMaxPrefetch = 1024;                // data.prefetch
constexpr double kMaxVim2Params = 2e9;                // exact parameter count (MMX_ALLOW_LARGE_MODELS=1 lifts it)

bool large_models_allowed() {
  const char* v = std::getenv("MMX_ALLOW_LARGE_MODELS");
  return v != nullptr && std::string(v) == "1";
}

// The shortest text that reads back to x ("0.1", "1e-09", "nan").
std::string num(double x) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

std::string g17(double x) {
  std::ostringstream os;
  os.precision(17);
  os << x;
  return os.str();
}

void validate(const ClassifyConfig& c, const std::string& source) {
  auto fail = [&](const std::string& what) { throw ConfigError(source + ": " + what); };
  // Every float key finite (NaN compares false with everything, so the ranges below would let it
  // through where they test for the bad side).
  for (const auto& [key, v] : schema().values(c)) {
    if (const auto* d = std::get_if<double>(&v); d && !std::isfinite(*d))
      fail(key + " = " + num(*d) + "; expected a finite number");
    if (const auto* l = std::get_if<FloatList>(&v))
      for (double d : *l)
        if (!std::isfinite(d)) fail(key + " holds " + num(d) + "; expected finite numbers");
  }
  auto in_range = [&](const std::string& key, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
      fail(key + " = " + std::to_string(v) + "; expected " + std::to_string(lo) +
           " <= " + key.substr(key.find('.') + 1) + " <= " + std::to_string(hi));
  };
  if (c.model_name != "vim2")
    fail("model.name must be \"vim2\" for an image classification config, got \"" + c.model_name + "\"");
  if (c.data.dataset != "cifar10" && c.data.dataset != "folder")
    fail("data.dataset must be \"cifar10\" or \"folder\", got \"" + c.data.dataset + "\"");
  if (c.data.dataset == "folder" && (c.data.train_dir.empty() || c.data.val_dir.empty()))
    fail("data.dataset = \"folder\" needs data.train_dir and data.val_dir");
  in_range("data.workers", c.data.workers, 0, kMaxWorkers);
  in_range("data.prefetch", c.data.prefetch, 1, kMaxPrefetch);
  const auto& t = c.train;
  in_range("train.epochs", t.epochs, 1, kMaxEpochs);
  in_range("train.batch_size", t.batch_size, 1, kMaxBatch);
  in_range("train.eval_batch_size", t.eval_batch_size, 1, kMaxBatch);
  if (!(t.lr > 0 && t.lr <= 10)) fail("train.lr = " + num(t.lr) + "; expected 0 < lr <= 10");
  if (!(t.min_lr >= 0 && t.min_lr <= t.lr)) fail("train.min_lr must be in [0, train.lr]");
  if (!(t.warmup_lr >= 0 && t.warmup_lr <= t.lr)) fail("train.warmup_lr must be in [0, train.lr]");
  if (!(t.warmup_epochs >= 0 && t.warmup_epochs <= static_cast<double>(t.epochs)))
    fail("train.warmup_epochs must be in [0, train.epochs]");
  if (!(t.weight_decay >= 0)) fail("train.weight_decay must be >= 0");
  if (!(t.clip_grad >= 0)) fail("train.clip_grad must be >= 0 (0 = off)");
  if (!(t.beta1 >= 0 && t.beta1 < 1) || !(t.beta2 >= 0 && t.beta2 < 1))
    fail("train.beta1 and train.beta2 must be in [0, 1)");
  if (!(t.eps > 0)) fail("train.eps must be > 0");
  if (!(t.ema_decay >= 0 && t.ema_decay < 1)) fail("train.ema_decay must be in [0, 1)");
  if (t.max_batches_per_epoch < 0 || t.max_eval_batches < 0)
    fail("train.max_batches_per_epoch and train.max_eval_batches must be >= 0 (0 = all)");
  if (!(t.time_budget_minutes >= 0)) fail("train.time_budget_minutes must be >= 0 (0 = none)");
  if (t.eval_every < 1) fail("train.eval_every must be >= 1");
  if (t.save_every < 1) fail("train.save_every must be >= 1");
  // The upper bound (this machine's hardware threads) is checked by train_vim2: a checkpoint's
  // stored config from a larger machine must still load here.
  in_range("train.threads", t.threads, 0, kMaxWorkers);
  if (const std::string problem = device_settings_problem(t.device, t.precision); !problem.empty()) fail(problem);

  // Model sizes, each bounded before the parameter count is computed from them.
  const auto& m = c.model;
  in_range("model.image_size", m.image_size(), 1, kMaxImageSize);
  in_range("model.num_classes", m.num_classes(), 1, kMaxClasses);
  in_range("model.patch_size", m.patch_size(), 1, kMaxImageSize);
  in_range("model.d_state", m.d_state(), 1, kMaxDState);
  in_range("model.expand", m.expand(), 1, kMaxExpand);
  in_range("model.d_conv", m.d_conv(), 1, kMaxKernel);
  in_range("model.channel_d_conv", m.channel_d_conv(), 1, kMaxKernel);
  for (const auto& [key, list, hi] :
       {std::tuple{"model.dims", &m.dims(), kMaxDim}, std::tuple{"model.depths", &m.depths(), kMaxDepth},
        std::tuple{"model.channel_d_inner", &m.channel_d_inner(), kMaxDim}})
    for (size_t s = 0; s < list->size(); ++s)
      in_range(std::string(key) + "[" + std::to_string(s) + "]", (*list)[s], 1, hi);
  if (!(m.norm_eps() > 0 && m.norm_eps() <= 1))
    fail("model.norm_eps = " + num(m.norm_eps()) + "; expected 0 < norm_eps <= 1");
  try {
    m.validate();
  } catch (const c10::Error& e) {
    fail(std::string("[model]: ") + e.what_without_backtrace());
  }
  const int64_t params = models::vim2_parameter_count(m);
  if (static_cast<double>(params) > kMaxVim2Params && !large_models_allowed()) {
    char gib[32];
    std::snprintf(gib, sizeof gib, "%.1f", static_cast<double>(params) * 4.0 / (1 << 30));
    fail("the [model] settings give " + std::to_string(params) + " parameters (" + gib +
         " GiB as float32), more than the limit of " + g17(kMaxVim2Params) +
         " (set MMX_ALLOW_LARGE_MODELS=1 to train larger models)");
  }
  for (const auto& [key, batch] :
       {std::pair{"train.batch_size", t.batch_size}, std::pair{"train.eval_batch_size", t.eval_batch_size}}) {
    const double input =
        static_cast<double>(batch) * 3.0 * static_cast<double>(m.image_size()) * static_cast<double>(m.image_size());
    if (input > static_cast<double>(kMaxBatchInput))
      fail(std::string(key) + " = " + std::to_string(batch) + " at model.image_size " + std::to_string(m.image_size()) +
           " gives input batches of " + g17(input) + " values, more than the limit of " +
           std::to_string(kMaxBatchInput) + " (2^32); use a smaller batch");
  }
  if (c.augment.image_size != c.model.image_size())
    fail("augment.image_size (" + std::to_string(c.augment.image_size) + ") must equal model.image_size (" +
         std::to_string(c.model.image_size()) + "); leave augment.image_size out to follow the model");
  in_range("augment.pad_crop", c.augment.pad_crop, 0, m.image_size());
  in_range("augment.randaugment_n", c.augment.randaugment_n, 0, 16);
  // The eval resize is to image_size / eval_resize_ratio: a tiny ratio would resize every image to
  // a huge one.
  if (!(c.augment.eval_resize_ratio >= 0.0625 && c.augment.eval_resize_ratio <= 1))
    fail("augment.eval_resize_ratio = " + num(c.augment.eval_resize_ratio) +
         "; expected 0.0625 <= eval_resize_ratio <= 1");
  try {
    data::BatchAugment check(c.augment, 0);
  } catch (const std::exception& e) {
    fail(std::string("[augment]: ") + e.what());
  }
}

}  // namespace

std::vector<std::string> classify_config_keys() { return schema().keys(); }

bool is_classify_config(const std::string& path) {
  try {
    const toml::table t = toml::parse_file(path);
    const auto name = t["model"]["name"].value<std::string>();
    return name && *name == "vim2";
  } catch (const std::exception&) {
    return false;
  }
}

ClassifyConfig parse_classify_config(const std::string& toml_text, const std::string& source,
                                     const std::vector<std::string>& overrides) {
  // Every assignment in order (file, then overrides), checked and converted first.
  const std::vector<Assignment> assignments = schema().read(toml_text, source, overrides);
  // The preset (the last one given) first, then every other key on top of it.
  ClassifyConfig c;
  for (const auto& a : assignments)
    if (a.key == "model.preset") c.preset = std::get<std::string>(a.value);
  if (!c.preset.empty()) {
    try {
      c.model = models::vim2_preset(c.preset);
    } catch (const c10::Error& e) {
      throw ConfigError(source + ": model.preset: " + e.what_without_backtrace());
    }
  }
  bool augment_size_given = false;
  for (const auto& a : assignments) {
    if (a.key != "model.preset") schema().apply(c, a);
    augment_size_given = augment_size_given || a.key == "augment.image_size";
  }
  if (!augment_size_given) c.augment.image_size = c.model.image_size();
  validate(c, source);
  return c;
}

ClassifyConfig load_classify_config(const std::string& path, const std::vector<std::string>& overrides) {
  return parse_classify_config(read_config_text(path), path, overrides);
}

std::string to_toml(const ClassifyConfig& c) { return schema().to_toml(c); }

}  // namespace mmx::train
