// TOML configuration of ViM2 classification (toml++): a schema of keys bound to the fields of
// ClassifyConfig, with the same error behaviour as the TSM2 config (src/train/config.cpp).
#include "mmx/train/classify_config.h"

#include "mmx/ops/selective_scan.h"
#include "train/config_value.h"

#include <toml++/toml.h>

#include <c10/util/Exception.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <tuple>
#include <map>
#include <sstream>
#include <variant>

namespace mmx::train {
namespace {

using namespace config_value;

struct Entry {
  Kind kind;
  std::function<void(ClassifyConfig&, const Value&)> set;
  std::function<Value(const ClassifyConfig&)> get;
};

using O = models::ViM2Options;

// A schema value as the field's type (integers of any width, float or double, bool, string).
template <class T>
T value_as(const Value& v) {
  if constexpr (std::is_same_v<T, bool>) return std::get<bool>(v);
  else if constexpr (std::is_floating_point_v<T>) return static_cast<T>(std::get<double>(v));
  else if constexpr (std::is_integral_v<T>) return static_cast<T>(std::get<int64_t>(v));
  else return std::get<T>(v);
}
template <class T>
Value to_value(const T& x) {
  if constexpr (std::is_same_v<T, bool>) return Value(x);
  else if constexpr (std::is_floating_point_v<T>) return Value(static_cast<double>(x));
  else if constexpr (std::is_integral_v<T>) return Value(static_cast<int64_t>(x));
  else return Value(x);
}

const std::map<std::string, Entry>& schema() {
  static const std::map<std::string, Entry> s = [] {
    std::map<std::string, Entry> m;
    // Plain struct fields, reached through a function returning a reference.
    auto field = [&](const std::string& key, Kind kind, auto ref) {
      using T = std::decay_t<decltype(ref(std::declval<ClassifyConfig&>()))>;
      m[key] = {kind, [ref](ClassifyConfig& c, const Value& v) { ref(c) = value_as<T>(v); },
                [ref](const ClassifyConfig& c) { return to_value(ref(const_cast<ClassifyConfig&>(c))); }};
    };
    // ViM2Options fields are TORCH_ARG accessors: bind through getter/setter pairs.
    auto model = [&](const std::string& key, Kind kind, auto get, auto set) {
      m[key] = {kind, [set](ClassifyConfig& c, const Value& v) { set(c.model, v); },
                [get](const ClassifyConfig& c) { return Value(get(c.model)); }};
    };
#define MMX_MODEL_FIELD(name, kind, type)                                                \
  model("model." #name, kind, [](const O& o) { return static_cast<type>(o.name()); }, \
        [](O& o, const Value& v) { o.name(std::get<type>(v)); })
    MMX_MODEL_FIELD(image_size, Kind::kInt, int64_t);
    MMX_MODEL_FIELD(num_classes, Kind::kInt, int64_t);
    MMX_MODEL_FIELD(patch_size, Kind::kInt, int64_t);
    MMX_MODEL_FIELD(dims, Kind::kIntList, IntList);
    MMX_MODEL_FIELD(depths, Kind::kIntList, IntList);
    MMX_MODEL_FIELD(channel_d_inner, Kind::kIntList, IntList);
    MMX_MODEL_FIELD(d_state, Kind::kInt, int64_t);
    MMX_MODEL_FIELD(expand, Kind::kInt, int64_t);
    MMX_MODEL_FIELD(d_conv, Kind::kInt, int64_t);
    MMX_MODEL_FIELD(channel_d_conv, Kind::kInt, int64_t);
    MMX_MODEL_FIELD(channel_layout, Kind::kString, std::string);
    MMX_MODEL_FIELD(channel_branches, Kind::kInt, int64_t);
    MMX_MODEL_FIELD(block_order, Kind::kString, std::string);
    MMX_MODEL_FIELD(weighted_average, Kind::kBool, bool);
    MMX_MODEL_FIELD(out_norm, Kind::kBool, bool);
    MMX_MODEL_FIELD(drop_path_rate, Kind::kFloat, double);
    MMX_MODEL_FIELD(norm_eps, Kind::kFloat, double);
    MMX_MODEL_FIELD(scan_recompute, Kind::kBool, bool);
#undef MMX_MODEL_FIELD
    field("model.name", Kind::kString, [](ClassifyConfig& c) -> std::string& { return c.model_name; });
    field("model.preset", Kind::kString, [](ClassifyConfig& c) -> std::string& { return c.preset; });

#define MMX_FIELD(section, member, path, kind) \
  field(section "." #member, kind, [](ClassifyConfig& c) -> auto& { return c.path.member; })
    MMX_FIELD("data", dataset, data, Kind::kString);
    MMX_FIELD("data", data_root, data, Kind::kString);
    MMX_FIELD("data", train_dir, data, Kind::kString);
    MMX_FIELD("data", val_dir, data, Kind::kString);
    MMX_FIELD("data", workers, data, Kind::kInt);
    MMX_FIELD("data", prefetch, data, Kind::kInt);

    MMX_FIELD("augment", image_size, augment, Kind::kInt);
    MMX_FIELD("augment", random_resized_crop, augment, Kind::kBool);
    MMX_FIELD("augment", rrc_scale_min, augment, Kind::kFloat);
    MMX_FIELD("augment", rrc_scale_max, augment, Kind::kFloat);
    MMX_FIELD("augment", rrc_ratio_min, augment, Kind::kFloat);
    MMX_FIELD("augment", rrc_ratio_max, augment, Kind::kFloat);
    MMX_FIELD("augment", interpolation, augment, Kind::kString);
    MMX_FIELD("augment", pad_crop, augment, Kind::kInt);
    MMX_FIELD("augment", hflip, augment, Kind::kFloat);
    MMX_FIELD("augment", randaugment_n, augment, Kind::kInt);
    MMX_FIELD("augment", randaugment_m, augment, Kind::kFloat);
    MMX_FIELD("augment", randaugment_mstd, augment, Kind::kFloat);
    MMX_FIELD("augment", randaugment_prob, augment, Kind::kFloat);
    MMX_FIELD("augment", color_jitter, augment, Kind::kFloat);
    MMX_FIELD("augment", random_erasing, augment, Kind::kFloat);
    MMX_FIELD("augment", mixup_alpha, augment, Kind::kFloat);
    MMX_FIELD("augment", cutmix_alpha, augment, Kind::kFloat);
    MMX_FIELD("augment", mixup_prob, augment, Kind::kFloat);
    MMX_FIELD("augment", mixup_switch_prob, augment, Kind::kFloat);
    MMX_FIELD("augment", label_smoothing, augment, Kind::kFloat);
    MMX_FIELD("augment", mean, augment, Kind::kFloatList);
    MMX_FIELD("augment", std, augment, Kind::kFloatList);
    MMX_FIELD("augment", eval_resize_ratio, augment, Kind::kFloat);

    MMX_FIELD("train", epochs, train, Kind::kInt);
    MMX_FIELD("train", batch_size, train, Kind::kInt);
    MMX_FIELD("train", eval_batch_size, train, Kind::kInt);
    MMX_FIELD("train", lr, train, Kind::kFloat);
    MMX_FIELD("train", min_lr, train, Kind::kFloat);
    MMX_FIELD("train", warmup_lr, train, Kind::kFloat);
    MMX_FIELD("train", warmup_epochs, train, Kind::kFloat);
    MMX_FIELD("train", weight_decay, train, Kind::kFloat);
    MMX_FIELD("train", clip_grad, train, Kind::kFloat);
    MMX_FIELD("train", beta1, train, Kind::kFloat);
    MMX_FIELD("train", beta2, train, Kind::kFloat);
    MMX_FIELD("train", eps, train, Kind::kFloat);
    MMX_FIELD("train", ema, train, Kind::kBool);
    MMX_FIELD("train", ema_decay, train, Kind::kFloat);
    MMX_FIELD("train", ema_warmup, train, Kind::kBool);
    MMX_FIELD("train", seed, train, Kind::kInt);
    MMX_FIELD("train", threads, train, Kind::kInt);
    MMX_FIELD("train", device, train, Kind::kString);
    MMX_FIELD("train", precision, train, Kind::kString);
    MMX_FIELD("train", max_batches_per_epoch, train, Kind::kInt);
    MMX_FIELD("train", max_eval_batches, train, Kind::kInt);
    MMX_FIELD("train", time_budget_minutes, train, Kind::kFloat);
    MMX_FIELD("train", eval_every, train, Kind::kInt);
    MMX_FIELD("train", save_every, train, Kind::kInt);
#undef MMX_FIELD
    return m;
  }();
  return s;
}

const Entry& lookup(const std::string& key, const std::string& where) {
  return config_value::find_entry(schema(), key, where, classify_config_keys());
}

// Upper bounds of the model and batch sizes: generous (several times ViM2-B at 224 px) but finite,
// so that a config cannot ask for absurd memory or time before training starts. The parameter
// limit (2e9, as TSM2's) is lifted by MMX_ALLOW_LARGE_MODELS=1; the per-key
// bounds only keep the parameter count computable and are far above any model within that limit.
constexpr int64_t kMaxImageSize = 8192;       // model.image_size (pixels)
constexpr int64_t kMaxDim = 65536;            // model.dims[s], model.channel_d_inner[s]
constexpr int64_t kMaxDepth = 256;            // model.depths[s] ((T, T, C) units per stage)
constexpr int64_t kMaxExpand = 64;            // model.expand
constexpr int64_t kMaxKernel = 63;            // model.d_conv, model.channel_d_conv
constexpr int64_t kMaxClasses = 1000000;      // model.num_classes
constexpr int64_t kMaxEpochs = 1000000;       // train.epochs
constexpr int64_t kMaxBatch = 65536;          // train.batch_size, train.eval_batch_size
constexpr int64_t kMaxBatchInput = int64_t{1} << 32;  // batch * 3 * image_size^2 (input elements)
constexpr int64_t kMaxWorkers = 1024;         // data.workers
constexpr int64_t kMaxPrefetch = 1024;        // data.prefetch
constexpr double kMaxVim2Params = 2e9;        // exact parameter count (MMX_ALLOW_LARGE_MODELS=1 lifts it)

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
  for (const auto& [key, e] : schema()) {
    const Value v = e.get(c);
    if (const auto* d = std::get_if<double>(&v); d && !std::isfinite(*d))
      fail(key + " = " + num(*d) + "; expected a finite number");
    if (const auto* l = std::get_if<FloatList>(&v))
      for (double d : *l)
        if (!std::isfinite(d)) fail(key + " holds " + num(d) + "; expected finite numbers");
  }
  auto in_range = [&](const std::string& key, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
      fail(key + " = " + std::to_string(v) + "; expected " + std::to_string(lo) + " <= " + key.substr(key.find('.') + 1) +
           " <= " + std::to_string(hi));
  };
  if (c.model_name != "vim2") fail("model.name must be \"vim2\" for an image classification config, got \"" + c.model_name + "\"");
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
  if (!(t.beta1 >= 0 && t.beta1 < 1) || !(t.beta2 >= 0 && t.beta2 < 1)) fail("train.beta1 and train.beta2 must be in [0, 1)");
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
  if (t.device != "cpu" && t.device != "cuda") fail("train.device must be \"cpu\" or \"cuda\", got \"" + t.device + "\"");
  if (t.precision != "fp32" && t.precision != "bf16")
    fail("train.precision must be \"fp32\" or \"bf16\", got \"" + t.precision + "\"");
  if (t.precision == "bf16" && t.device != "cuda") fail("train.precision = \"bf16\" needs train.device = \"cuda\"");

  // Model sizes, each bounded before the parameter count is computed from them.
  const auto& m = c.model;
  in_range("model.image_size", m.image_size(), 1, kMaxImageSize);
  in_range("model.num_classes", m.num_classes(), 1, kMaxClasses);
  in_range("model.patch_size", m.patch_size(), 1, kMaxImageSize);
  in_range("model.d_state", m.d_state(), 1, kMaxDState);
  in_range("model.expand", m.expand(), 1, kMaxExpand);
  in_range("model.d_conv", m.d_conv(), 1, kMaxKernel);
  in_range("model.channel_d_conv", m.channel_d_conv(), 1, kMaxKernel);
  for (const auto& [key, list, hi] : {std::tuple{"model.dims", &m.dims(), kMaxDim},
                                      std::tuple{"model.depths", &m.depths(), kMaxDepth},
                                      std::tuple{"model.channel_d_inner", &m.channel_d_inner(), kMaxDim}})
    for (size_t s = 0; s < list->size(); ++s) in_range(std::string(key) + "[" + std::to_string(s) + "]", (*list)[s], 1, hi);
  if (!(m.norm_eps() > 0 && m.norm_eps() <= 1)) fail("model.norm_eps = " + num(m.norm_eps()) + "; expected 0 < norm_eps <= 1");
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
  for (const auto& [key, batch] : {std::pair{"train.batch_size", t.batch_size}, std::pair{"train.eval_batch_size", t.eval_batch_size}}) {
    const double input = static_cast<double>(batch) * 3.0 * static_cast<double>(m.image_size()) * static_cast<double>(m.image_size());
    if (input > static_cast<double>(kMaxBatchInput))
      fail(std::string(key) + " = " + std::to_string(batch) + " at model.image_size " + std::to_string(m.image_size()) +
           " gives input batches of " + g17(input) + " values, more than the limit of " + std::to_string(kMaxBatchInput) +
           " (2^32); use a smaller batch");
  }
  if (c.augment.image_size != c.model.image_size())
    fail("augment.image_size (" + std::to_string(c.augment.image_size) + ") must equal model.image_size (" +
         std::to_string(c.model.image_size()) + "); leave augment.image_size out to follow the model");
  in_range("augment.pad_crop", c.augment.pad_crop, 0, m.image_size());
  in_range("augment.randaugment_n", c.augment.randaugment_n, 0, 16);
  // The eval resize is to image_size / eval_resize_ratio: a tiny ratio would resize every image to
  // a huge one.
  if (!(c.augment.eval_resize_ratio >= 0.0625 && c.augment.eval_resize_ratio <= 1))
    fail("augment.eval_resize_ratio = " + num(c.augment.eval_resize_ratio) + "; expected 0.0625 <= eval_resize_ratio <= 1");
  try {
    data::BatchAugment check(c.augment, 0);
  } catch (const std::exception& e) {
    fail(std::string("[augment]: ") + e.what());
  }
}

}  // namespace

std::vector<std::string> classify_config_keys() {
  std::vector<std::string> keys;
  for (const auto& [k, e] : schema()) keys.push_back(k);
  return keys;
}

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
  toml::table tbl;
  try {
    tbl = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << source << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
    throw ConfigError(os.str());
  }
  // Every assignment in order (file, then overrides), checked and converted first.
  struct Assignment {
    const Entry* entry;
    std::string key;
    Value value;
  };
  std::vector<Assignment> assignments;
  for (const auto& [section, node] : tbl) {
    const std::string sec(section.str());
    const auto* t = node.as_table();
    if (!t)
      throw ConfigError(source + ": unknown key '" + sec + "' (" + did_you_mean(sec, classify_config_keys()) +
                        "); keys live in [data], [model], [augment], [train]");
    for (const auto& [key, value] : *t) {
      const std::string full = sec + "." + std::string(key.str());
      const std::string line = source + ":" + std::to_string(value.source().begin.line);
      const Entry& e = lookup(full, line);
      assignments.push_back({&e, full, from_toml(value, e.kind, line + ": " + full)});
    }
  }
  for (const auto& o : overrides) {
    const auto eq = o.find('=');
    if (eq == std::string::npos) throw ConfigError("--set " + o + ": expected section.key=value");
    const std::string key = o.substr(0, eq);
    const Entry& e = lookup(key, "--set");
    assignments.push_back({&e, key, from_string(o.substr(eq + 1), e.kind, "--set " + key)});
  }
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
    if (a.key != "model.preset") a.entry->set(c, a.value);
    augment_size_given = augment_size_given || a.key == "augment.image_size";
  }
  if (!augment_size_given) c.augment.image_size = c.model.image_size();
  validate(c, source);
  return c;
}

ClassifyConfig load_classify_config(const std::string& path, const std::vector<std::string>& overrides) {
  return parse_classify_config(read_config_text(path), path, overrides);
}

std::string to_toml(const ClassifyConfig& c) {
  toml::table root;
  for (const auto& [key, e] : schema()) insert_value(root, key, e.get(c));
  return dump_toml(root);
}

}  // namespace mmx::train
