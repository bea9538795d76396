// TOML experiment configuration (toml++): a table of keys bound to the fields of TrainConfig.
#include "mmx/train/config.h"

#include "train/config_value.h"

#include <toml++/toml.h>

#include <algorithm>
#include <utility>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <variant>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <thread>

#include "mmx/data/error.h"
#include "mmx/data/timestamps.h"

namespace mmx::train {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

namespace {

// The closest candidate and its distance (full key, or last component + 1, so "lr" finds
// "train.lr").
std::pair<std::string, size_t> closest_with_distance(const std::string& word,
                                                     const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    const auto dot = c.rfind('.');
    const size_t d = std::min(edit_distance(word, c),
                              dot == std::string::npos ? SIZE_MAX
                                                       : edit_distance(word, c.substr(dot + 1)) + 1);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return {best, best_d};
}

}  // namespace

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  return closest_with_distance(word, candidates).first;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  const auto [best, d] = closest_with_distance(word, candidates);
  if (!best.empty() && d <= std::max<size_t>(2, word.size() / 3)) return "did you mean '" + best + "'?";
  const auto dot = word.find('.');
  const std::string section = dot == std::string::npos ? "" : word.substr(0, dot);
  std::string keys, sections;
  for (const auto& c : candidates) {
    const auto cdot = c.find('.');
    const std::string csec = c.substr(0, cdot);
    if (!section.empty() && csec == section) keys += (keys.empty() ? "" : ", ") + c.substr(cdot + 1);
    if (sections.find("[" + csec + "]") == std::string::npos) sections += (sections.empty() ? "" : ", ") + ("[" + csec + "]");
  }
  if (!keys.empty()) return "no similar key; [" + section + "] has: " + keys;
  return "no similar key; keys are section.key with the sections " + sections;
}

namespace {

using namespace config_value;

struct Entry {
  Kind kind;
  std::function<void(TrainConfig&, const Value&)> set;
  std::function<Value(const TrainConfig&)> get;
  std::string help;
};

// The schema: every key of the configuration, bound to its field.
const std::map<std::string, Entry>& schema() {
  static const std::map<std::string, Entry> s = [] {
    std::map<std::string, Entry> m;
    auto i64 = [&](const std::string& key, auto member_ptr_get, const std::string& help) {
      m[key] = {Kind::kInt,
                [member_ptr_get](TrainConfig& c, const Value& v) { member_ptr_get(c) = std::get<int64_t>(v); },
                [member_ptr_get](const TrainConfig& c) {
                  return Value(member_ptr_get(const_cast<TrainConfig&>(c)));
                },
                help};
    };
    auto f64 = [&](const std::string& key, auto get, const std::string& help) {
      m[key] = {Kind::kFloat, [get](TrainConfig& c, const Value& v) { get(c) = std::get<double>(v); },
                [get](const TrainConfig& c) { return Value(get(const_cast<TrainConfig&>(c))); }, help};
    };
    auto str = [&](const std::string& key, auto get, const std::string& help) {
      m[key] = {Kind::kString,
                [get](TrainConfig& c, const Value& v) { get(c) = std::get<std::string>(v); },
                [get](const TrainConfig& c) { return Value(get(const_cast<TrainConfig&>(c))); }, help};
    };
    // TSM2Options fields are TORCH_ARG accessors: bind through getter/setter pairs.
    auto model_i64 = [&](const std::string& key, auto getter, auto setter, const std::string& help) {
      m[key] = {Kind::kInt, [setter](TrainConfig& c, const Value& v) { setter(c.model, std::get<int64_t>(v)); },
                [getter](const TrainConfig& c) { return Value(static_cast<int64_t>(getter(c.model))); }, help};
    };
    auto model_f64 = [&](const std::string& key, auto getter, auto setter, const std::string& help) {
      m[key] = {Kind::kFloat, [setter](TrainConfig& c, const Value& v) { setter(c.model, std::get<double>(v)); },
                [getter](const TrainConfig& c) { return Value(getter(c.model)); }, help};
    };
    auto model_bool = [&](const std::string& key, auto getter, auto setter, const std::string& help) {
      m[key] = {Kind::kBool, [setter](TrainConfig& c, const Value& v) { setter(c.model, std::get<bool>(v)); },
                [getter](const TrainConfig& c) { return Value(getter(c.model)); }, help};
    };
    auto strs = [&](const std::string& key, auto get, const std::string& help) {
      m[key] = {Kind::kStringList,
                [get](TrainConfig& c, const Value& v) { get(c) = std::get<StringList>(v); },
                [get](const TrainConfig& c) { return Value(get(const_cast<TrainConfig&>(c))); }, help};
    };
    auto f64s = [&](const std::string& key, auto get, const std::string& help) {
      m[key] = {Kind::kFloatList,
                [get](TrainConfig& c, const Value& v) { get(c) = std::get<FloatList>(v); },
                [get](const TrainConfig& c) { return Value(get(const_cast<TrainConfig&>(c))); }, help};
    };
    using O = models::TSM2Options;
    str("data.dataset", [](TrainConfig& c) -> std::string& { return c.data.dataset; }, "data set name");
    str("data.path", [](TrainConfig& c) -> std::string& { return c.data.path; }, "own CSV file");
    str("data.date_column", [](TrainConfig& c) -> std::string& { return c.data.date_column; }, "timestamp column");
    strs("data.columns", [](TrainConfig& c) -> std::vector<std::string>& { return c.data.columns; }, "variates");
    str("data.features", [](TrainConfig& c) -> std::string& { return c.data.features; }, "M|S|MS");
    str("data.target", [](TrainConfig& c) -> std::string& { return c.data.target; }, "target column");
    f64s("data.split", [](TrainConfig& c) -> std::vector<double>& { return c.data.split; }, "train/val/test fractions");
    str("data.val_start", [](TrainConfig& c) -> std::string& { return c.data.val_start; }, "first val timestamp");
    str("data.test_start", [](TrainConfig& c) -> std::string& { return c.data.test_start; }, "first test timestamp");
    str("data.freq", [](TrainConfig& c) -> std::string& { return c.data.freq; }, "time step");
    str("data.data_root", [](TrainConfig& c) -> std::string& { return c.data.data_root; }, "data root");
    i64("data.seq_len", [](TrainConfig& c) -> int64_t& { return c.data.seq_len; }, "lookback");
    i64("data.pred_len", [](TrainConfig& c) -> int64_t& { return c.data.pred_len; }, "horizon");
    str("data.fill", [](TrainConfig& c) -> std::string& { return c.data.fill; }, "error|ffill|zero");

    model_i64("model.patch_len", [](const O& o) { return o.patch_len(); }, [](O& o, int64_t v) { o.patch_len(v); }, "");
    model_i64("model.stride", [](const O& o) { return o.stride(); }, [](O& o, int64_t v) { o.stride(v); }, "");
    model_i64("model.d_model", [](const O& o) { return o.d_model(); }, [](O& o, int64_t v) { o.d_model(v); }, "");
    model_i64("model.n_layers", [](const O& o) { return o.n_layers(); }, [](O& o, int64_t v) { o.n_layers(v); }, "");
    model_i64("model.d_state", [](const O& o) { return o.d_state(); }, [](O& o, int64_t v) { o.d_state(v); }, "");
    model_i64("model.d_conv", [](const O& o) { return o.d_conv(); }, [](O& o, int64_t v) { o.d_conv(v); }, "");
    model_i64("model.expand", [](const O& o) { return o.expand(); }, [](O& o, int64_t v) { o.expand(v); }, "");
    model_i64("model.dt_rank", [](const O& o) { return o.dt_rank().value_or(0); },
              [](O& o, int64_t v) { o.dt_rank(v > 0 ? std::optional<int64_t>(v) : std::nullopt); },
              "0 = auto (ceil(d_model/16))");
    model_f64("model.dropout", [](const O& o) { return o.dropout(); }, [](O& o, double v) { o.dropout(v); }, "");
    model_f64("model.drop_path", [](const O& o) { return o.drop_path(); }, [](O& o, double v) { o.drop_path(v); }, "");
    model_f64("model.norm_eps", [](const O& o) { return o.norm_eps(); }, [](O& o, double v) { o.norm_eps(v); }, "");
    model_bool("model.revin", [](const O& o) { return o.revin(); }, [](O& o, bool v) { o.revin(v); }, "");
    model_bool("model.revin_affine", [](const O& o) { return o.revin_affine(); }, [](O& o, bool v) { o.revin_affine(v); }, "");
    m["model.channel_layout"] = {
        Kind::kString,
        [](TrainConfig& c, const Value& v) {
          const auto& s = std::get<std::string>(v);
          if (s != "cell" && s != "literal")
            throw ConfigError("model.channel_layout must be \"cell\" or \"literal\" for TSM2, got \"" + s + "\"");
          c.model.channel_layout(nn::parse_channel_mixer_layout(s));
        },
        [](const TrainConfig& c) { return Value(nn::to_string(c.model.channel_layout())); },
        "cell | literal"};

    i64("train.epochs", [](TrainConfig& c) -> int64_t& { return c.train.epochs; }, "");
    i64("train.batch_size", [](TrainConfig& c) -> int64_t& { return c.train.batch_size; }, "");
    i64("train.eval_batch_size", [](TrainConfig& c) -> int64_t& { return c.train.eval_batch_size; }, "");
    f64("train.lr", [](TrainConfig& c) -> double& { return c.train.lr; }, "");
    f64("train.min_lr", [](TrainConfig& c) -> double& { return c.train.min_lr; }, "");
    f64("train.weight_decay", [](TrainConfig& c) -> double& { return c.train.weight_decay; }, "");
    f64("train.warmup_epochs", [](TrainConfig& c) -> double& { return c.train.warmup_epochs; }, "");
    f64("train.clip_grad", [](TrainConfig& c) -> double& { return c.train.clip_grad; }, "");
    i64("train.patience", [](TrainConfig& c) -> int64_t& { return c.train.patience; }, "");
    i64("train.seed", [](TrainConfig& c) -> int64_t& { return c.train.seed; }, "");
    i64("train.threads", [](TrainConfig& c) -> int64_t& { return c.train.threads; }, "");
    str("train.device", [](TrainConfig& c) -> std::string& { return c.train.device; }, "cpu | cuda");
    str("train.precision", [](TrainConfig& c) -> std::string& { return c.train.precision; }, "fp32 | bf16");
    m["train.cuda_graph"] = {Kind::kBool,
                             [](TrainConfig& c, const Value& v) { c.train.cuda_graph = std::get<bool>(v); },
                             [](const TrainConfig& c) { return Value(c.train.cuda_graph); },
                             "replay training steps from a CUDA graph (device cuda)"};
    i64("train.max_batches_per_epoch", [](TrainConfig& c) -> int64_t& { return c.train.max_batches_per_epoch; }, "");
    f64("train.time_budget_minutes", [](TrainConfig& c) -> double& { return c.train.time_budget_minutes; }, "");
    return m;
  }();
  return s;
}

const Entry& lookup(const std::string& key, const std::string& where) {
  return config_value::find_entry(schema(), key, where, config_keys());
}

void validate(const TrainConfig& c, const std::string& source) {
  auto fail = [&](const std::string& what) { throw ConfigError(source + ": " + what); };
  // Integer keys: a range each (docs/data.md "Limits"); the model's size is bounded as a whole below.
  auto in_range = [&](const char* key, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
      fail(std::string(key) + " = " + std::to_string(v) + " is out of range; expected " + std::to_string(lo) +
           " <= " + key + " <= " + std::to_string(hi));
  };
  auto in_range_f = [&](const char* key, double v, double lo, double hi, bool hi_open = false) {
    if (!(v >= lo) || (hi_open ? !(v < hi) : !(v <= hi))) {
      std::ostringstream os;
      os << key << " = " << v << " is out of range; expected " << lo << " <= " << key << (hi_open ? " < " : " <= ") << hi;
      fail(os.str());
    }
  };
  const DataConfig& d = c.data;
  const bool own = !d.path.empty();
  if (!own && (d.split != DataConfig{}.split || !d.val_start.empty() || !d.test_start.empty()))
    fail("data.split, data.val_start and data.test_start apply to data.path files; the benchmark " + d.dataset +
         " is split as the paper does");
  in_range("data.seq_len", d.seq_len, 1, 100000);
  in_range("data.pred_len", d.pred_len, 1, 100000);
  if (d.fill != "error" && d.fill != "ffill" && d.fill != "zero")
    fail("data.fill must be \"error\", \"ffill\" or \"zero\", got \"" + d.fill + "\"");
  if (d.features != "M" && d.features != "S" && d.features != "MS")
    fail("data.features must be \"M\", \"S\" or \"MS\", got \"" + d.features + "\"");
  if (d.features != "M" && d.target.empty()) fail("data.features = \"" + d.features + "\" needs data.target");
  if (d.split.size() != 3) fail("data.split must hold 3 fractions (train, val, test), got " + std::to_string(d.split.size()));
  double total = 0;
  for (double f : d.split) {
    in_range_f("data.split entries", f, 0.0, 1.0);
    total += f;
  }
  if (!(d.split[0] > 0 && d.split[1] > 0 && d.split[2] > 0) || std::abs(total - 1.0) > 1e-9)
    fail("data.split = [" + std::to_string(d.split[0]) + ", " + std::to_string(d.split[1]) + ", " +
         std::to_string(d.split[2]) + "]; expected three positive fractions that sum to 1");
  if (d.val_start.empty() != d.test_start.empty()) fail("data.val_start and data.test_start go together: set both");
  try {
    if (!d.val_start.empty()) data::parse_timestamp(d.val_start);
    if (!d.test_start.empty()) data::parse_timestamp(d.test_start);
    if (!d.freq.empty()) data::parse_frequency(d.freq);
  } catch (const data::DataError& e) {
    fail(std::string("[data]: ") + e.what());
  }

  const auto& m = c.model;
  in_range("model.patch_len", m.patch_len(), 1, d.seq_len);
  in_range("model.stride", m.stride(), 1, d.seq_len);
  in_range("model.d_model", m.d_model(), 1, 65536);
  in_range("model.n_layers", m.n_layers(), 1, 1024);
  in_range("model.d_state", m.d_state(), 1, 4096);
  in_range("model.d_conv", m.d_conv(), 1, 1024);
  in_range("model.expand", m.expand(), 1, 1024);
  in_range("model.dt_rank", m.dt_rank().value_or(1), 1, 65536);
  in_range_f("model.dropout", m.dropout(), 0.0, 1.0, true);
  in_range_f("model.drop_path", m.drop_path(), 0.0, 1.0, true);
  in_range_f("model.norm_eps", m.norm_eps(), 0.0, 1.0);
  if (!(m.norm_eps() > 0)) fail("model.norm_eps must be > 0");

  const OptimConfig& t = c.train;
  in_range("train.epochs", t.epochs, 1, 1000000);
  in_range("train.batch_size", t.batch_size, 1, 1 << 20);
  in_range("train.eval_batch_size", t.eval_batch_size, 1, 1 << 20);
  if (!(t.lr > 0)) fail("train.lr must be > 0");
  in_range_f("train.lr", t.lr, 0.0, 10.0);
  in_range_f("train.min_lr", t.min_lr, 0.0, t.lr);
  in_range_f("train.weight_decay", t.weight_decay, 0.0, 10.0);
  in_range_f("train.warmup_epochs", t.warmup_epochs, 0.0, static_cast<double>(t.epochs));
  in_range_f("train.clip_grad", t.clip_grad, 0.0, 1e12);
  in_range("train.patience", t.patience, 0, 1000000);
  in_range("train.seed", t.seed, 0, std::numeric_limits<int64_t>::max() / 8192);
  // The upper bound (this machine's hardware threads) is checked when training starts, so that a
  // checkpoint's stored config from a larger machine still loads.
  in_range("train.threads", t.threads, 0, 1 << 16);
  in_range("train.max_batches_per_epoch", t.max_batches_per_epoch, 0, std::numeric_limits<int64_t>::max() / 2);
  in_range_f("train.time_budget_minutes", t.time_budget_minutes, 0.0, 1e9);
  if (t.device != "cpu" && t.device != "cuda")
    fail("train.device must be \"cpu\" or \"cuda\", got \"" + t.device + "\"");
  if (t.precision != "fp32" && t.precision != "bf16")
    fail("train.precision must be \"fp32\" or \"bf16\", got \"" + t.precision + "\"");
  if (t.precision == "bf16" && t.device != "cuda")
    fail("train.precision = \"bf16\" needs train.device = \"cuda\"");
  if (t.cuda_graph && t.device != "cuda")
    fail("train.cuda_graph = true needs train.device = \"cuda\"");
  // Last, so that a config fragment with a wrong value names that value first.
  if (d.dataset.empty() == d.path.empty())
    fail(d.dataset.empty() ? "no data: set data.path (a CSV of your own) or data.dataset (a benchmark: ETTh1, "
                             "ETTh2, ETTm1, ETTm2, Weather, Exchange, ILI, Electricity, Traffic)"
                           : "data.dataset = \"" + d.dataset + "\" and data.path = \"" + d.path +
                                 "\" are both set; expected one of them");
}

}  // namespace

std::vector<std::string> config_keys() {
  std::vector<std::string> keys;
  for (const auto& [k, e] : schema()) keys.push_back(k);
  return keys;
}

void check_model_size(const models::TSM2Options& o, const std::string& what) {
  double n = 0;
  try {
    n = static_cast<double>(models::tsm2_parameter_count(o));  // from the shapes, nothing allocated
  } catch (const c10::Error& e) {
    throw ConfigError(what + ": " + e.what_without_backtrace());
  }
  const char* allow = std::getenv("MMX_ALLOW_LARGE_MODELS");
  if (n > kMaxModelParams && !(allow && std::string(allow) == "1")) {
    char buf[320];
    std::snprintf(buf, sizeof buf,
                  "%s: the [model] settings ask for about %.3g parameters (%.3g GB in float32); the limit "
                  "is %.3g (set MMX_ALLOW_LARGE_MODELS=1 to train larger models)",
                  what.c_str(), n, n * 4e-9, kMaxModelParams);
    throw ConfigError(buf);
  }
}

TrainConfig parse_config(const std::string& toml_text, const std::string& source,
                         const std::vector<std::string>& overrides, const std::string& base_dir) {
  TrainConfig c;
  toml::table tbl;
  try {
    tbl = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << source << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
       << e.description();
    throw ConfigError(os.str());
  }
  for (const auto& [section, node] : tbl) {
    const std::string sec(section.str());
    const auto* t = node.as_table();
    if (!t) {
      throw ConfigError(source + ": unknown key '" + sec + "' (" + did_you_mean(sec, config_keys()) +
                        "); keys live in [data], [model], [train]");
    }
    for (const auto& [key, value] : *t) {
      const std::string full = sec + "." + std::string(key.str());
      const auto line = value.source().begin.line;
      const std::string where = source + ":" + std::to_string(line) + ": " + full;
      const Entry& e = lookup(full, source + ":" + std::to_string(line));
      e.set(c, from_toml(value, e.kind, where));
    }
  }
  namespace fs = std::filesystem;
  if (!c.data.path.empty() && fs::path(c.data.path).is_relative() && !base_dir.empty())
    c.data.path = (fs::path(base_dir) / c.data.path).string();
  for (const auto& o : overrides) {
    const auto eq = o.find('=');
    if (eq == std::string::npos)
      throw ConfigError("--set " + o + ": expected section.key=value");
    const std::string key = o.substr(0, eq);
    const Entry& e = lookup(key, "--set");
    e.set(c, from_string(o.substr(eq + 1), e.kind, "--set " + key));
  }
  if (!c.data.path.empty()) c.data.path = fs::absolute(c.data.path).lexically_normal().string();
  c.model.seq_len(c.data.seq_len);
  c.model.pred_len(c.data.pred_len);
  validate(c, source);
  check_model_size(c.model, source);
  return c;
}

TrainConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return parse_config(read_config_text(path), path, overrides, dir.empty() ? "." : dir);
}

std::string to_toml(const TrainConfig& c) {
  toml::table root;
  for (const auto& [key, e] : schema()) insert_value(root, key, e.get(c));
  return dump_toml(root);
}

}  // namespace mmx::train
