// TOML experiment configuration of TSM2 (toml++): a key table bound to the fields of TrainConfig,
// read by the machinery both models share (src/train/config_value.h).
#include "mmx/train/tsm2_config.h"

#include "train/config_value.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <optional>
#include <sstream>

#include "mmx/data/error.h"
#include "mmx/data/timeseries/csv_reader.h"
#include "mmx/data/timeseries/timestamps.h"
#include "mmx/train/device.h"

namespace mmx::train {
namespace {

using namespace config_value;

// The schema: every key of the configuration, bound to its field.
const Schema<TrainConfig>& schema() {
  static const Schema<TrainConfig> s = [] {
    Schema<TrainConfig> m({"data", "model", "train"});
    MMX_CONFIG_FIELD(m, data, dataset, Kind::kString);
    MMX_CONFIG_FIELD(m, data, path, Kind::kString);
    MMX_CONFIG_FIELD(m, data, date_column, Kind::kString);
    MMX_CONFIG_FIELD(m, data, columns, Kind::kStringList);
    MMX_CONFIG_FIELD(m, data, future_covariates, Kind::kStringList);
    MMX_CONFIG_FIELD(m, data, calendar, Kind::kStringList);
    MMX_CONFIG_FIELD(m, data, features, Kind::kString);
    MMX_CONFIG_FIELD(m, data, target, Kind::kString);
    MMX_CONFIG_FIELD(m, data, split, Kind::kFloatList);
    MMX_CONFIG_FIELD(m, data, val_start, Kind::kString);
    MMX_CONFIG_FIELD(m, data, test_start, Kind::kString);
    MMX_CONFIG_FIELD(m, data, freq, Kind::kString);
    MMX_CONFIG_FIELD(m, data, seq_len, Kind::kInt);
    MMX_CONFIG_FIELD(m, data, pred_len, Kind::kInt);
    MMX_CONFIG_FIELD(m, data, fill, Kind::kString);

    MMX_CONFIG_MODEL_OPTION(m, patch_len, Kind::kInt, int64_t);
    MMX_CONFIG_MODEL_OPTION(m, stride, Kind::kInt, int64_t);
    MMX_CONFIG_MODEL_OPTION(m, d_model, Kind::kInt, int64_t);
    MMX_CONFIG_MODEL_OPTION(m, n_layers, Kind::kInt, int64_t);
    MMX_CONFIG_MODEL_OPTION(m, d_state, Kind::kInt, int64_t);
    MMX_CONFIG_MODEL_OPTION(m, d_conv, Kind::kInt, int64_t);
    MMX_CONFIG_MODEL_OPTION(m, expand, Kind::kInt, int64_t);
    MMX_CONFIG_MODEL_OPTION(m, dropout, Kind::kFloat, double);
    MMX_CONFIG_MODEL_OPTION(m, drop_path, Kind::kFloat, double);
    MMX_CONFIG_MODEL_OPTION(m, norm_eps, Kind::kFloat, double);
    MMX_CONFIG_MODEL_OPTION(m, revin, Kind::kBool, bool);
    MMX_CONFIG_MODEL_OPTION(m, revin_affine, Kind::kBool, bool);
    // 0 = auto (ceil(d_model / 16)).
    m.bind(
        "model.dt_rank", Kind::kInt,
        [](TrainConfig& c, const Value& v) {
          const int64_t r = std::get<int64_t>(v);
          c.model.dt_rank(r > 0 ? std::optional<int64_t>(r) : std::nullopt);
        },
        [](const TrainConfig& c) { return Value(static_cast<int64_t>(c.model.dt_rank().value_or(0))); });
    m.bind(
        "model.channel_layout", Kind::kString,
        [](TrainConfig& c, const Value& v) {
          const auto& s = std::get<std::string>(v);
          if (s != "cell" && s != "literal")
            throw ConfigError("model.channel_layout must be \"cell\" or \"literal\" for TSM2, got \"" + s + "\"");
          c.model.channel_layout(nn::parse_channel_mixer_layout(s));
        },
        [](const TrainConfig& c) { return Value(nn::to_string(c.model.channel_layout())); });

    m.bind(
        "model.variant", Kind::kString,
        [](TrainConfig& c, const Value& v) {
          const auto& s = std::get<std::string>(v);
          if (s != "tsm2" && s != "tsm2_mlp" && s != "mamba_linear_time")
            throw ConfigError("model.variant must be \"tsm2\", \"tsm2_mlp\" or \"mamba_linear_time\", got \"" + s +
                              "\"");
          c.model.variant(models::parse_tsm2_variant(s));
        },
        [](const TrainConfig& c) { return Value(models::to_string(c.model.variant())); });

    MMX_CONFIG_FIELD(m, train, patience, Kind::kInt);
    MMX_CONFIG_FIELD(m, train, cuda_graph, Kind::kBool);
    bind_shared_keys(m);
    return m;
  }();
  return s;
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
      os << key << " = " << v << " is out of range; expected " << lo << " <= " << key << (hi_open ? " < " : " <= ")
         << hi;
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
  if (d.split.size() != 3)
    fail("data.split must hold 3 fractions (train, val, test), got " + std::to_string(d.split.size()));
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
  if (const std::string problem = device_settings_problem(t.device, t.precision); !problem.empty()) fail(problem);
  if (t.cuda_graph && !is_cuda_device_name(t.device)) fail("train.cuda_graph = true needs train.device = \"cuda\"");
  // Last, so that a config fragment with a wrong value names that value first.
  if (d.dataset.empty() == d.path.empty())
    fail(d.dataset.empty() ? "no data: set data.path (a CSV of your own) or data.dataset (a benchmark: ETTh1, "
                             "ETTh2, ETTm1, ETTm2, Weather, Exchange, ILI, Electricity, Traffic)"
                           : "data.dataset = \"" + d.dataset + "\" and data.path = \"" + d.path +
                                 "\" are both set; expected one of them");
}

}  // namespace

std::vector<std::string> config_keys() { return schema().keys(); }

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
  const std::vector<Assignment> assignments = schema().read(toml_text, source, overrides);
  TrainConfig c;
  for (const auto& a : assignments)
    if (!a.from_override) schema().apply(c, a);
  namespace fs = std::filesystem;
  if (!c.data.path.empty() && fs::path(c.data.path).is_relative() && !base_dir.empty())
    c.data.path = (fs::path(base_dir) / c.data.path).string();
  for (const auto& a : assignments)
    if (a.from_override) schema().apply(c, a);
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

std::string to_toml(const TrainConfig& c) { return schema().to_toml(c); }

data::ForecastSource forecast_source(const TrainConfig& c) {
  data::ForecastSource s;
  s.dataset = c.data.dataset;
  s.data_root = c.data.data_root;
  s.path = c.data.path;
  s.csv.missing = data::parse_missing_policy(c.data.fill);
  s.csv.date_column = c.data.date_column;
  s.csv.columns = c.data.columns;
  s.features = data::parse_feature_mode(c.data.features);
  s.target = c.data.target;
  s.split = c.data.split;
  s.val_start = c.data.val_start;
  s.test_start = c.data.test_start;
  s.freq = c.data.freq;
  s.future_covariates = c.data.future_covariates;
  s.calendar = c.data.calendar;
  return s;
}

}  // namespace mmx::train
