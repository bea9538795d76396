// TSM2 training loop, evaluation and checkpoint glue (see include/mmx/train/trainer.h).
#include "mmx/train/trainer.h"
#include "mmx/train/run_dir.h"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mmx/core/atomic_file.h"
#include "mmx/core/build_info.h"
#include "mmx/data/csv.h"
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

data::MissingPolicy fill_policy(const std::string& name) { return data::parse_missing_policy(name); }

data::ForecastData load_data(const TrainConfig& c) {
  data::CsvReadOptions opt;
  opt.missing = fill_policy(c.data.fill);
  const std::string root = c.data.data_root.empty() ? default_data_root() : c.data.data_root;
  return data::load_forecast_data(c.data.dataset, c.data.seq_len, c.data.pred_len, root, opt);
}

json to_json_vec(const torch::Tensor& t) {
  auto c = t.to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// Metadata that lets eval/forecast rebuild the model and the data transform.
std::map<std::string, std::string> forecaster_metadata(const TrainConfig& c,
                                                       const data::ForecastData& fd) {
  return {{"format", "mambamixer.tsm2.v1"},
          {"mmx_version", MMX_VERSION},
          {"config", to_toml(c)},
          {"columns", json(fd.table.columns).dump()},
          {"date_column", fd.table.date_column},
          {"scaler_mean", to_json_vec(fd.scaler.mean).dump()},
          {"scaler_std", to_json_vec(fd.scaler.std).dump()},
          {"n_vars", std::to_string(fd.n_vars())}};
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

EvalMetrics evaluate(models::TSM2& model, const data::WindowDataset& windows, int64_t batch_size,
                     torch::Device device, const data::StandardScaler* scaler) {
  torch::NoGradGuard ng;
  const bool was_training = model->is_training();
  model->eval();
  const int64_t H = windows.pred_len(), M = windows.n_vars();
  auto se = torch::zeros({H}, torch::kFloat64), ae = torch::zeros({H}, torch::kFloat64);
  double se_o = 0, ae_o = 0;
  EvalMetrics m;
  m.windows = data::for_each_batch(windows, batch_size, [&](const data::WindowBatch& b) {
    auto pred = model->forward(b.x.to(device)).to(torch::kCPU, torch::kFloat64);
    auto y = b.y.to(torch::kFloat64);
    auto d = pred - y;
    se += d.pow(2).sum(at::IntArrayRef{0, 2});
    ae += d.abs().sum(at::IntArrayRef{0, 2});
    if (scaler) {
      auto dd = scaler->inverse_transform(pred) - scaler->inverse_transform(y);
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
  if (tc.threads > 0) at::set_num_threads(static_cast<int>(tc.threads));
  const torch::Device device = parse_device(tc.device);

  RunLog log = open_run_log(open_run_dir(run_dir, resume), hooks.log);

  data::ForecastData fd = load_data(config);
  config.model.n_vars(fd.n_vars());
  auto train_set = fd.train();
  auto val_set = fd.val();
  auto test_set = fd.test();

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
  const auto meta = forecaster_metadata(config, fd);
  const std::string best_path = (fs::path(run_dir) / "best.safetensors").string();
  const std::string last_path = (fs::path(run_dir) / "last.safetensors").string();

  if (resume) {
    Checkpoint last = load_checkpoint(last_path);
    const auto format = last.metadata.find("format");
    if (format == last.metadata.end() || format->second != "mambamixer.tsm2.v1")
      throw CheckpointError(last_path + ": not a TSM2 run (format '" +
                            (format == last.metadata.end() ? std::string("none") : format->second) +
                            "'); resume it with the run's own config.toml");
    const TrainConfig stored = parse_config(last.metadata.at("config"), last_path + " (stored config)");
    if (to_toml(TrainConfig{stored.data, stored.model, config.train}) !=
        to_toml(TrainConfig{config.data, config.model, config.train}))
      throw ConfigError(last_path + ": the run was trained with other [data]/[model] settings; "
                        "resume with the run's config.toml");
    for (const auto& change : changed_settings(last.metadata.at("config"), to_toml(config), "train"))
      log("resuming with a changed setting (the new value applies): " + change);
    load_module_state(*model, model_tensors(last), last_path);
    load_optimizer_state(opt, last, params_named, last_path);
    stepper.import_optimizer_state();
    start_epoch = std::stoll(last.metadata.at("epoch")) + 1;
    best = std::stod(last.metadata.at("best_val_mse"));
    bad_epochs = std::stoll(last.metadata.at("bad_epochs"));
    res.best_epoch = std::stoll(last.metadata.at("best_epoch"));
    if (fs::exists(fs::path(run_dir) / "metrics.json")) {
      std::ifstream in(fs::path(run_dir) / "metrics.json");
      json prev = json::parse(in, nullptr, false);
      if (!prev.is_discarded() && prev.contains("epochs"))
        for (const auto& e : prev["epochs"])
          if (e["epoch"].get<int64_t>() < start_epoch)
            res.history.push_back({e["epoch"], e["train_loss"], e["val_mse"], e["val_mae"], e["lr"],
                                   e["seconds"], e["windows_per_second"]});
    }
    log("resumed from " + last_path + " at epoch " + std::to_string(start_epoch));
  }
  write_file_atomic((fs::path(run_dir) / "config.toml").string(), to_toml(config));

  {
    std::ostringstream os;
    os << "TSM2 on " << config.data.dataset << " (" << fd.table.source << "): " << fd.n_vars()
       << " variates, seq_len " << config.data.seq_len << ", pred_len " << config.data.pred_len
       << "; windows train " << train_set.size() << ", val " << val_set.size() << ", test "
       << test_set.size() << "; " << n_params << " parameters; device " << device
       << "; threads " << at::get_num_threads() << (tc.cuda_graph ? "; CUDA graph step" : "");
    log(os.str());
  }

  auto write_metrics = [&]() {
    json j{{"dataset", config.data.dataset}, {"seq_len", config.data.seq_len},
           {"pred_len", config.data.pred_len}, {"n_params", n_params},
           {"best_epoch", res.best_epoch}, {"best_val_mse", best},
           {"train_seconds", res.train_seconds}};
    json ep = json::array();
    for (const auto& e : res.history)
      ep.push_back({{"epoch", e.epoch}, {"train_loss", e.train_loss}, {"val_mse", e.val_mse},
                    {"val_mae", e.val_mae}, {"lr", e.lr}, {"seconds", e.seconds},
                    {"windows_per_second", e.windows_per_second}});
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
    int64_t seen = 0, read_seen = 0, in_epoch = 0;
    std::string loss_text = "loss -";
    // The summed loss stays on the device; reading it every kLossReadEvery steps (and at the end
    // of the epoch) checks that it is finite without a per-step synchronisation.
    auto read_loss = [&]() {
      loss_sum += stepper.take_loss_sum();
      read_seen = seen;
      TORCH_CHECK(std::isfinite(loss_sum), "training loss became ", loss_sum, " at epoch ", epoch,
                  " by step ", step, " (try a lower train.lr)");
      loss_text = "loss " + std::to_string(loss_sum / static_cast<double>(seen)).substr(0, 6);
    };
    for (const auto& idx : batches) {
      stepper.step(idx, lr_at(step++));
      seen += static_cast<int64_t>(idx.size());
      if (++in_epoch % kLossReadEvery == 0) read_loss();
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
    EvalMetrics val = evaluate(model, val_set, tc.eval_batch_size, device);
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
      ck.metadata["val_mse"] = std::to_string(val.mse);
      save_checkpoint(best_path, ck);
    } else {
      ++bad_epochs;
    }
    {
      Checkpoint ck{module_state(*model), meta};
      stepper.export_optimizer_state();
      add_optimizer_state(ck, opt, params_named);
      ck.metadata["epoch"] = std::to_string(epoch);
      ck.metadata["best_val_mse"] = std::to_string(best);
      ck.metadata["best_epoch"] = std::to_string(res.best_epoch);
      ck.metadata["bad_epochs"] = std::to_string(bad_epochs);
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
  res.test = evaluate(model, test_set, tc.eval_batch_size, device, &fd.scaler);
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
  f.config.model.n_vars(std::stoll(need("n_vars")));
  f.columns = json::parse(need("columns")).get<std::vector<std::string>>();
  f.date_column = need("date_column");
  f.scaler.mean = torch::tensor(json::parse(need("scaler_mean")).get<std::vector<double>>(), torch::kFloat64);
  f.scaler.std = torch::tensor(json::parse(need("scaler_std")).get<std::vector<double>>(), torch::kFloat64);
  f.model = models::TSM2(f.config.model);
  load_module_state(*f.model, model_tensors(ck), path);
  f.model->to(device);
  f.model->eval();
  return f;
}

}  // namespace mmx::train
