// TSM2 training loop, evaluation and checkpoint glue (see include/mmx/train/trainer.h).
#include "mmx/train/trainer.h"
#include "mmx/train/run_dir.h"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "mmx/core/atomic_file.h"
#include "mmx/core/build_info.h"
#include "mmx/data/csv.h"
#include "mmx/data/error.h"
#include "mmx/nn/mamba_mixer.h"
#include "mmx/train/checkpoint.h"
#include "mmx/train/graph_step.h"
#include "mmx/train/progress.h"

namespace mmx::train {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

torch::Device parse_device(const std::string& name) {
  if (name == "cuda") {
    TORCH_CHECK(torch::cuda::is_available(),
                "train.device = \"cuda\" but no CUDA device is available (mmx info shows the build)");
    return torch::Device(torch::kCUDA, 0);
  }
  return torch::kCPU;
}

// Training steps between two reads of the summed loss (each read synchronises with the device).
constexpr int64_t kLossReadEvery = 25;

std::vector<std::pair<std::string, torch::Tensor>> named_params(const torch::nn::Module& m) {
  std::vector<std::pair<std::string, torch::Tensor>> v;
  for (const auto& p : m.named_parameters()) v.emplace_back(p.key(), p.value());
  return v;
}

std::string full_precision(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

json record_json(const EpochRecord& e) {
  return {{"epoch", e.epoch}, {"train_loss", e.train_loss}, {"val_mse", e.val_mse}, {"val_mae", e.val_mae},
          {"lr", e.lr}, {"seconds", e.seconds}, {"windows_per_second", e.windows_per_second}};
}

EpochRecord record_from_json(const json& e) {
  return {e.at("epoch").get<int64_t>(), e.at("train_loss").get<double>(), e.at("val_mse").get<double>(),
          e.at("val_mae").get<double>(), e.at("lr").get<double>(), e.at("seconds").get<double>(),
          e.at("windows_per_second").get<double>()};
}

json to_json_vec(const torch::Tensor& t) {
  auto c = t.to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// Metadata that lets eval/forecast rebuild the model and the data transform.
std::map<std::string, std::string> forecaster_metadata(const TrainConfig& c, const data::LoadedSeries& s) {
  const data::ForecastData& fd = s.data;
  return {{"format", "mambamixer.tsm2.v1"},
          {"mmx_version", MMX_VERSION},
          {"config", to_toml(c)},
          {"columns", json(fd.table.columns).dump()},
          {"date_column", fd.table.date_column},
          {"scaler_mean", to_json_vec(fd.scaler.mean).dump()},
          {"scaler_std", to_json_vec(fd.scaler.std).dump()},
          {"n_vars", std::to_string(fd.n_vars())},
          {"target_index", std::to_string(s.target_index)},
          {"freq", data::to_string(s.freq)}};
}

json metrics_json(const EvalMetrics& m) {
  json j{{"mse", m.mse}, {"mae", m.mae}, {"windows", m.windows},
         {"mse_per_step", m.mse_per_step}, {"mae_per_step", m.mae_per_step}};
  if (!std::isnan(m.mse_orig)) {
    j["mse_original_units"] = m.mse_orig;
    j["mae_original_units"] = m.mae_orig;
  }
  return j;
}

}  // namespace

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
  return s;
}

static data::LoadedSeries load_series(const TrainConfig& c) {
  return data::load_forecast_source(forecast_source(c), c.data.seq_len, c.data.pred_len);
}

EvalMetrics evaluate(models::TSM2& model, const data::WindowDataset& windows, int64_t batch_size,
                     torch::Device device, const data::StandardScaler* scaler, int64_t target_channel) {
  torch::NoGradGuard ng;
  const bool was_training = model->is_training();
  model->eval();
  const int64_t H = windows.pred_len(), M = target_channel >= 0 ? 1 : windows.n_vars();
  auto se = torch::zeros({H}, torch::kFloat64), ae = torch::zeros({H}, torch::kFloat64);
  double se_o = 0, ae_o = 0;
  EvalMetrics m;
  m.windows = data::for_each_batch(windows, batch_size, [&](const data::WindowBatch& b) {
    auto pred = model->forward(b.x.to(device)).to(torch::kCPU, torch::kFloat64);
    auto y = b.y.to(torch::kFloat64);
    if (target_channel >= 0) {
      // Metrics and original units of the target alone (a scaler of that one column).
      pred = pred.narrow(-1, target_channel, 1);
      y = y.narrow(-1, target_channel, 1);
    }
    auto d = pred - y;
    se += d.pow(2).sum(at::IntArrayRef{0, 2});
    ae += d.abs().sum(at::IntArrayRef{0, 2});
    if (scaler) {
      auto dd = target_channel >= 0 ? (pred - y) * scaler->std.narrow(0, target_channel, 1)
                                    : scaler->inverse_transform(pred) - scaler->inverse_transform(y);
      se_o += dd.pow(2).sum().item<double>();
      ae_o += dd.abs().sum().item<double>();
    }
  });
  const double per_step = static_cast<double>(m.windows * M);
  m.mse = se.sum().item<double>() / (per_step * H);
  m.mae = ae.sum().item<double>() / (per_step * H);
  for (int64_t h = 0; h < H; ++h) {
    m.mse_per_step.push_back(se[h].item<double>() / per_step);
    m.mae_per_step.push_back(ae[h].item<double>() / per_step);
  }
  if (scaler) {
    m.mse_orig = se_o / (per_step * H);
    m.mae_orig = ae_o / (per_step * H);
  }
  if (was_training) model->train();
  return m;
}

TrainResult train_tsm2(const TrainConfig& config_in, const std::string& run_dir, bool resume,
                       const TrainHooks& hooks) {
  TrainConfig config = config_in;
  const auto& tc = config.train;
  const auto cores = static_cast<int64_t>(std::max(1u, std::thread::hardware_concurrency()));
  if (tc.threads > cores)
    throw ConfigError("train.threads = " + std::to_string(tc.threads) + " is out of range; expected 0 (LibTorch's "
                      "default) to " + std::to_string(cores) + " (this machine's hardware threads)");
  if (tc.threads > 0) at::set_num_threads(static_cast<int>(tc.threads));
  const torch::Device device = parse_device(tc.device);

  // Locks the folder; nothing in it is written until the data, the model and a resumed state are
  // ready, so a run that fails early leaves an earlier run's files as they were.
  RunDir rd = open_run_dir(run_dir, resume);

  data::LoadedSeries series = load_series(config);
  const data::ForecastData& fd = series.data;
  config.model.n_vars(fd.n_vars());
  check_model_size(config.model, "model");
  auto train_set = fd.train();
  auto val_set = fd.val();
  auto test_set = fd.test();
  // MS: every variate in, the target (the last column) scored; M and S: every column.
  const int64_t target = series.features == data::FeatureMode::kMultiSingle ? series.target_index : -1;

  torch::manual_seed(static_cast<uint64_t>(tc.seed));
  models::TSM2 model(config.model);
  model->to(device);
  int64_t n_params = 0;
  for (const auto& p : model->parameters()) n_params += p.numel();

  // The step: AdamW with the no-decay groups, clipping, bf16 autocast, optionally a CUDA graph;
  // the training windows are gathered on the device.
  TrainStepOptions so;
  so.batch_size = tc.batch_size;
  so.lr = tc.lr;
  so.weight_decay = tc.weight_decay;
  so.clip_grad = tc.clip_grad;
  so.bf16 = tc.precision == "bf16";
  so.cuda_graph = tc.cuda_graph;
  so.target_channel = target;
  TSM2TrainStep stepper(model, so);
  stepper.bind_windows(fd.scaled, train_set);
  torch::optim::AdamW& opt = stepper.optimizer();
  const auto params_named = named_params(*model);

  int64_t batches_per_epoch = (train_set.size() + tc.batch_size - 1) / tc.batch_size;
  if (tc.max_batches_per_epoch > 0) batches_per_epoch = std::min(batches_per_epoch, tc.max_batches_per_epoch);
  const int64_t total_steps = batches_per_epoch * tc.epochs;
  const int64_t warmup_steps = static_cast<int64_t>(tc.warmup_epochs * static_cast<double>(batches_per_epoch));
  auto lr_at = [&](int64_t step) {
    if (step < warmup_steps) return tc.lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
    const double span = std::max<int64_t>(1, total_steps - warmup_steps);
    const double t = std::min(1.0, static_cast<double>(step - warmup_steps) / span);
    return tc.min_lr + 0.5 * (tc.lr - tc.min_lr) * (1.0 + std::cos(M_PI * t));
  };

  TrainResult res;
  res.run_dir = run_dir;
  res.n_params = n_params;
  int64_t start_epoch = 1, bad_epochs = 0;
  double best = std::numeric_limits<double>::infinity();
  const auto meta = forecaster_metadata(config, series);
  const std::string best_path = (fs::path(run_dir) / "best.safetensors").string();
  const std::string last_path = (fs::path(run_dir) / "last.safetensors").string();
  std::vector<std::string> resume_notes;

  if (resume) {
    Checkpoint last = load_checkpoint(last_path);
    const auto format = last.metadata.find("format");
    if (format == last.metadata.end() || format->second != "mambamixer.tsm2.v1")
      throw CheckpointError(last_path + ": not a TSM2 run (format '" +
                            (format == last.metadata.end() ? std::string("none") : format->second) +
                            "'); resume it with the run's own config.toml");
    auto need = [&](const char* key) -> const std::string& {
      const auto it = last.metadata.find(key);
      if (it == last.metadata.end())
        throw CheckpointError(last_path + ": metadata key '" + key + "' missing; expected a checkpoint written by mmx train");
      return it->second;
    };
    auto number = [&](const char* key) {
      const std::string& text = need(key);
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (text.empty() || end != text.c_str() + text.size() || std::isnan(v))
        throw CheckpointError(last_path + ": metadata '" + key + "' = '" + text + "'; expected a number");
      return v;
    };
    const TrainConfig stored = parse_config(need("config"), last_path + " (stored config)");
    if (to_toml(TrainConfig{stored.data, stored.model, config.train}) !=
        to_toml(TrainConfig{config.data, config.model, config.train}))
      throw ConfigError(last_path + ": the run was trained with other [data]/[model] settings; "
                        "resume with the run's config.toml");
    for (const auto& change : changed_settings(need("config"), to_toml(config), "train"))
      resume_notes.push_back("resuming with a changed setting (the new value applies): " + change);
    load_module_state(*model, model_tensors(last), last_path);
    load_optimizer_state(opt, last, params_named, last_path);
    stepper.import_optimizer_state();
    start_epoch = static_cast<int64_t>(number("epoch")) + 1;
    best = number("best_val_mse");
    bad_epochs = static_cast<int64_t>(number("bad_epochs"));
    res.best_epoch = static_cast<int64_t>(number("best_epoch"));
    // The epoch records travel inside the checkpoint they describe, so a kill between writing it
    // and metrics.json loses nothing.
    const json hist = json::parse(need("history"), nullptr, false);
    if (!hist.is_array())
      throw CheckpointError(last_path + ": metadata 'history' is not a JSON array of epoch records");
    try {
      for (const auto& e : hist) res.history.push_back(record_from_json(e));
    } catch (const json::exception& e) {
      throw CheckpointError(last_path + ": metadata 'history' holds a malformed epoch record (" + e.what() + ")");
    }
    resume_notes.push_back("resumed from " + last_path + " at epoch " + std::to_string(start_epoch));
  }

  RunLog log = open_run_log(std::move(rd), hooks.log);
  for (const auto& note : resume_notes) log(note);
  write_file_atomic((fs::path(run_dir) / "config.toml").string(), to_toml(config));

  {
    std::ostringstream os;
    os << "TSM2 on " << (config.data.dataset.empty() ? fs::path(config.data.path).filename().string() : config.data.dataset)
       << ": " << series.description << "; seq_len " << config.data.seq_len << ", pred_len "
       << config.data.pred_len << "; windows train " << train_set.size() << ", val " << val_set.size()
       << ", test " << test_set.size() << "; " << n_params << " parameters; device " << device << "; threads "
       << at::get_num_threads() << (tc.cuda_graph ? "; CUDA graph step" : "");
    log(os.str());
  }

  auto write_metrics = [&]() {
    json j{{"dataset", config.data.dataset.empty() ? config.data.path : config.data.dataset},
           {"seq_len", config.data.seq_len}, {"pred_len", config.data.pred_len}, {"n_params", n_params},
           {"features", config.data.features}, {"best_epoch", res.best_epoch}, {"best_val_mse", best},
           {"train_seconds", res.train_seconds}};
    if (target >= 0 || series.features == data::FeatureMode::kSingle) j["target"] = config.data.target;
    json ep = json::array();
    for (const auto& e : res.history) ep.push_back(record_json(e));
    j["epochs"] = ep;
    if (res.test.windows > 0) j["test"] = metrics_json(res.test);
    write_file_atomic((fs::path(run_dir) / "metrics.json").string(), j.dump(2) + "\n");
    // The same epochs as a table (one row per epoch), as ViM2 runs write it.
    std::ostringstream csv;
    csv.precision(10);
    csv << "epoch,train_loss,val_mse,val_mae,lr,seconds,windows_per_second\n";
    for (const auto& e : res.history)
      csv << e.epoch << "," << e.train_loss << "," << e.val_mse << "," << e.val_mae << "," << e.lr << ","
          << e.seconds << "," << e.windows_per_second << "\n";
    write_file_atomic((fs::path(run_dir) / "metrics.csv").string(), csv.str());
  };

  // Reading the device-side loss synchronises; on the CPU that costs nothing, so divergence is
  // caught at the step where it happens; on a GPU every kLossReadEvery steps.
  const int64_t read_every = device.is_cpu() ? 1 : kLossReadEvery;
  const auto t_start = Clock::now();
  int64_t step = (start_epoch - 1) * batches_per_epoch;
  for (int64_t epoch = start_epoch; epoch <= tc.epochs; ++epoch) {
    // Re-seed per epoch (dropout, drop path): a resumed run repeats the uninterrupted one exactly.
    torch::manual_seed(static_cast<uint64_t>(tc.seed) * 7919ULL + static_cast<uint64_t>(epoch));
    model->train();
    const auto t0 = Clock::now();
    auto batches = data::batch_indices(train_set.size(), tc.batch_size, true,
                                       static_cast<uint64_t>(tc.seed) * 1000003ULL + static_cast<uint64_t>(epoch));
    batches.resize(static_cast<size_t>(batches_per_epoch));
    ProgressBar bar("epoch " + std::to_string(epoch) + "/" + std::to_string(tc.epochs),
                    batches_per_epoch, hooks.progress_bar);
    double loss_sum = 0;
    int64_t seen = 0, read_seen = 0, in_epoch = 0, read_step = step;
    std::string loss_text = "loss -";
    auto read_loss = [&]() {
      const double part = stepper.take_loss_sum();
      if (!std::isfinite(part)) {
        const std::string where = step - read_step == 1
                                      ? "at step " + std::to_string(step)
                                      : "between steps " + std::to_string(read_step + 1) + " and " + std::to_string(step);
        char lr_text[32];
        std::snprintf(lr_text, sizeof lr_text, "%.3g", lr_at(step - 1));
        throw std::runtime_error("training diverged: the loss became " + std::to_string(part) + " in epoch " +
                                 std::to_string(epoch) + " " + where + " (lr " + lr_text +
                                 "); nothing of this epoch was saved: try a lower train.lr or train.clip_grad, "
                                 "or check the data for extreme values");
      }
      loss_sum += part;
      read_seen = seen;
      read_step = step;
      loss_text = "loss " + std::to_string(loss_sum / static_cast<double>(seen)).substr(0, 6);
    };
    for (const auto& idx : batches) {
      stepper.step(idx, lr_at(step++));
      seen += static_cast<int64_t>(idx.size());
      if (++in_epoch % read_every == 0) read_loss();
      bar.update(1, loss_text, static_cast<double>(seen));
      if (tc.time_budget_minutes > 0 && seconds_since(t_start) > tc.time_budget_minutes * 60) {
        res.out_of_time = true;
        break;
      }
    }
    if (seen > read_seen) read_loss();
    bar.finish();
    if (epoch == start_epoch && tc.cuda_graph)
      log(stepper.graphed() ? std::string("training step captured in a CUDA graph")
                            : "CUDA graph capture failed, training eagerly: " + stepper.fallback_reason());
    const double train_secs = seconds_since(t0);
    EvalMetrics val = evaluate(model, val_set, tc.eval_batch_size, device, nullptr, target);
    if (!std::isfinite(val.mse) || !std::isfinite(val.mae))
      throw std::runtime_error("validation after epoch " + std::to_string(epoch) + " gave mse " +
                               std::to_string(val.mse) + ": the model outputs non-finite values; nothing of "
                               "this epoch was saved (try a lower train.lr)");
    EpochRecord rec{epoch, loss_sum / std::max<int64_t>(1, seen), val.mse, val.mae,
                    lr_at(step - 1), seconds_since(t0), static_cast<double>(seen) / train_secs};
    res.history.push_back(rec);
    res.epochs_run = epoch;
    bool improved = val.mse < best;
    if (improved) {
      best = val.mse;
      res.best_epoch = epoch;
      bad_epochs = 0;
      Checkpoint ck{module_state(*model), meta};
      ck.metadata["epoch"] = std::to_string(epoch);
      ck.metadata["val_mse"] = full_precision(val.mse);
      save_checkpoint(best_path, ck);
    } else {
      ++bad_epochs;
    }
    {
      Checkpoint ck{module_state(*model), meta};
      stepper.export_optimizer_state();
      add_optimizer_state(ck, opt, params_named);
      json hist = json::array();
      for (const auto& e : res.history) hist.push_back(record_json(e));
      ck.metadata["epoch"] = std::to_string(epoch);
      ck.metadata["best_val_mse"] = full_precision(best);
      ck.metadata["best_epoch"] = std::to_string(res.best_epoch);
      ck.metadata["bad_epochs"] = std::to_string(bad_epochs);
      ck.metadata["history"] = hist.dump();
      save_checkpoint(last_path, ck);
    }
    char line[256];
    std::snprintf(line, sizeof line,
                  "epoch %lld: train_loss %.5f  val_mse %.5f  val_mae %.5f  lr %.2e  %.1fs  %.0f windows/s%s",
                  static_cast<long long>(epoch), rec.train_loss, val.mse, val.mae, rec.lr,
                  rec.seconds, rec.windows_per_second, improved ? "  (best)" : "");
    log(line);
    res.train_seconds = seconds_since(t_start);
    write_metrics();
    if (tc.patience > 0 && bad_epochs >= tc.patience) {
      res.stopped_early = true;
      log("early stopping: no validation improvement for " + std::to_string(bad_epochs) + " epochs");
      break;
    }
    if (res.out_of_time) {
      log("time budget of " + std::to_string(tc.time_budget_minutes) + " minutes reached");
      break;
    }
    if (hooks.stop_after_epoch > 0 && epoch >= hooks.stop_after_epoch) break;
  }
  res.best_val_mse = best;
  // Restore the best weights, then test on every window.
  Checkpoint bestck = load_checkpoint(best_path);
  load_module_state(*model, bestck.tensors, best_path);
  res.test = evaluate(model, test_set, tc.eval_batch_size, device, &fd.scaler, target);
  if (!std::isfinite(res.test.mse) || !std::isfinite(res.test.mse_orig))
    throw std::runtime_error("test of the best epoch gave mse " + std::to_string(res.test.mse) + " (original units " +
                             std::to_string(res.test.mse_orig) + "): non-finite forecasts; metrics.json keeps "
                             "the epochs without a test entry");
  char line[256];
  std::snprintf(line, sizeof line,
                "test (best epoch %lld): mse %.4f  mae %.4f  on %lld windows (standardised); "
                "original units mse %.4g mae %.4g",
                static_cast<long long>(res.best_epoch), res.test.mse, res.test.mae,
                static_cast<long long>(res.test.windows), res.test.mse_orig, res.test.mae_orig);
  log(line);
  res.train_seconds = seconds_since(t_start);
  write_metrics();
  return res;
}

LoadedForecaster load_forecaster(const std::string& path, torch::Device device) {
  Checkpoint ck = load_checkpoint(path);
  auto need = [&](const char* key) -> const std::string& {
    auto it = ck.metadata.find(key);
    if (it == ck.metadata.end())
      throw CheckpointError(path + ": metadata key '" + key +
                            "' missing: not a TSM2 checkpoint written by mmx train");
    return it->second;
  };
  if (need("format") != "mambamixer.tsm2.v1")
    throw CheckpointError(path + ": unsupported checkpoint format '" + need("format") + "'");
  LoadedForecaster f;
  f.config = parse_config(need("config"), path + " (stored config)");
  need("n_vars");
  f.config.model.n_vars(metadata_int(ck, "n_vars", path, 1, std::numeric_limits<int32_t>::max()));
  need("columns");
  f.columns = metadata_string_list(ck, "columns", path);
  f.date_column = need("date_column");
  if (const auto it = ck.metadata.find("target_index"); it != ck.metadata.end()) {
    char* end = nullptr;
    f.target_index = std::strtoll(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end != '\0' || f.target_index < -1 ||
        f.target_index >= static_cast<int64_t>(f.columns.size()))
      throw CheckpointError(path + ": metadata 'target_index' = '" + it->second + "'; expected -1 or a column index");
  }
  if (const auto it = ck.metadata.find("freq"); it != ck.metadata.end()) {
    try {
      f.freq = data::parse_frequency(it->second);
    } catch (const data::DataError& e) {
      throw CheckpointError(path + ": metadata 'freq': " + e.what());
    }
  }
  need("scaler_mean");
  need("scaler_std");
  f.scaler.mean = torch::tensor(metadata_number_list(ck, "scaler_mean", path), torch::kFloat64);
  f.scaler.std = torch::tensor(metadata_number_list(ck, "scaler_std", path), torch::kFloat64);
  // Every tensor shape the stored config implies, compared with the file before the model is
  // built: an edited config cannot allocate a model the checkpoint does not hold.
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  try {
    shapes = models::tsm2_parameter_shapes(f.config.model);
  } catch (const c10::Error& e) {
    throw CheckpointError(path + ": the stored config: " + e.what_without_backtrace());
  }
  check_state_shapes(shapes, model_tensors(ck), path);
  f.model = models::TSM2(f.config.model);
  load_module_state(*f.model, model_tensors(ck), path);
  f.model->to(device);
  f.model->eval();
  return f;
}

}  // namespace mmx::train
