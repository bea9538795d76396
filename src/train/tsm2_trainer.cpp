// TSM2 training: an orchestration of the shared training parts (see include/mmx/train/tsm2_trainer.h).
#include "mmx/train/tsm2_trainer.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <sstream>
#include <thread>

#include "mmx/train/checkpoint.h"
#include "mmx/train/device.h"
#include "mmx/train/lr_schedule.h"
#include "mmx/train/param_groups.h"
#include "mmx/train/progress.h"
#include "mmx/train/run_dir.h"
#include "mmx/train/run_records.h"
#include "mmx/train/tsm2_train_step.h"

namespace mmx::train {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Training steps between two reads of the summed loss (each read synchronises with the device).
constexpr int64_t kLossReadEvery = 25;

// The epoch table of metrics.json, metrics.csv and the checkpoints' history.
const EpochTable<EpochRecord>& epoch_table() {
  static const EpochTable<EpochRecord> table(&EpochRecord::epoch,
                                             {{"train_loss", &EpochRecord::train_loss},
                                              {"val_mse", &EpochRecord::val_mse},
                                              {"val_mae", &EpochRecord::val_mae},
                                              {"lr", &EpochRecord::lr},
                                              {"seconds", &EpochRecord::seconds},
                                              {"windows_per_second", &EpochRecord::windows_per_second}});
  return table;
}

void use_threads(int64_t threads) {
  const auto cores = static_cast<int64_t>(std::max(1u, std::thread::hardware_concurrency()));
  if (threads > cores)
    throw ConfigError("train.threads = " + std::to_string(threads) +
                      " is out of range; expected 0 (LibTorch's "
                      "default) to " +
                      std::to_string(cores) + " (this machine's hardware threads)");
  if (threads > 0) at::set_num_threads(static_cast<int>(threads));
}

// The training part of one epoch: the shuffled training windows (seeded per epoch, so a resumed
// run repeats the uninterrupted one), one step each at the schedule's rate, the device-side loss
// sum read every `read_every` steps and checked for divergence, and the time budget.
struct EpochTraining {
  double loss_sum = 0;
  int64_t seen = 0;  // training windows
  bool out_of_time = false;
};

EpochTraining train_epoch(TSM2TrainStep& stepper, const LrSchedule& schedule, const OptimConfig& tc, int64_t n_windows,
                          int64_t batches_per_epoch, int64_t read_every, bool progress_bar, Clock::time_point t_start,
                          int64_t epoch, int64_t& step) {
  auto batches = data::batch_indices(n_windows, tc.batch_size, true,
                                     static_cast<uint64_t>(tc.seed) * 1000003ULL + static_cast<uint64_t>(epoch));
  batches.resize(static_cast<size_t>(batches_per_epoch));
  ProgressBar bar("epoch " + std::to_string(epoch) + "/" + std::to_string(tc.epochs), batches_per_epoch, progress_bar);
  EpochTraining r;
  int64_t read_seen = 0, in_epoch = 0, read_step = step;
  std::string loss_text = "loss -";
  auto read_loss = [&]() {
    const double part = stepper.take_loss_sum();
    if (!std::isfinite(part)) {
      const std::string where = step - read_step == 1
                                    ? "at step " + std::to_string(step)
                                    : "between steps " + std::to_string(read_step + 1) + " and " + std::to_string(step);
      char lr_text[32];
      std::snprintf(lr_text, sizeof lr_text, "%.3g", schedule.at(step - 1));
      throw std::runtime_error("training diverged: the loss became " + std::to_string(part) + " in epoch " +
                               std::to_string(epoch) + " " + where + " (lr " + lr_text +
                               "); nothing of this epoch was saved: try a lower train.lr or train.clip_grad, "
                               "or check the data for extreme values");
    }
    r.loss_sum += part;
    read_seen = r.seen;
    read_step = step;
    loss_text = "loss " + std::to_string(r.loss_sum / static_cast<double>(r.seen)).substr(0, 6);
  };
  for (const auto& idx : batches) {
    stepper.step(idx, schedule.at(step++));
    r.seen += static_cast<int64_t>(idx.size());
    if (++in_epoch % read_every == 0) read_loss();
    bar.update(1, loss_text, static_cast<double>(r.seen));
    if (tc.time_budget_minutes > 0 && seconds_since(t_start) > tc.time_budget_minutes * 60) {
      r.out_of_time = true;
      break;
    }
  }
  if (r.seen > read_seen) read_loss();
  bar.finish();
  return r;
}

json metrics_json(const EvalMetrics& m) {
  json j{{"mse", m.mse},
         {"mae", m.mae},
         {"windows", m.windows},
         {"mse_per_step", m.mse_per_step},
         {"mae_per_step", m.mae_per_step}};
  if (!std::isnan(m.mse_orig)) {
    j["mse_original_units"] = m.mse_orig;
    j["mae_original_units"] = m.mae_orig;
  }
  return j;
}

// metrics.json's fields besides the epochs.
json metrics_summary(const TrainConfig& config, const TrainResult& res, bool with_target) {
  json j{{"dataset", config.data.dataset.empty() ? config.data.path : config.data.dataset},
         {"seq_len", config.data.seq_len},
         {"pred_len", config.data.pred_len},
         {"n_params", res.n_params},
         {"features", config.data.features},
         {"best_epoch", res.best_epoch},
         {"best_val_mse", res.best_val_mse},
         {"train_seconds", res.train_seconds}};
  if (with_target) j["target"] = config.data.target;
  if (res.test.windows > 0) j["test"] = metrics_json(res.test);
  return j;
}

std::string header_line(const TrainConfig& config, const data::LoadedSeries& series, const TrainResult& res,
                        torch::Device device) {
  const data::ForecastData& fd = series.data;
  std::ostringstream os;
  os << "TSM2 on "
     << (config.data.dataset.empty() ? fs::path(config.data.path).filename().string() : config.data.dataset) << ": "
     << series.description << "; seq_len " << config.data.seq_len << ", pred_len " << config.data.pred_len
     << "; windows train " << fd.train().size() << ", val " << fd.val().size() << ", test " << fd.test().size() << "; "
     << res.n_params << " parameters; device " << device << "; threads " << at::get_num_threads()
     << (config.train.cuda_graph ? "; CUDA graph step" : "");
  return os.str();
}

std::string epoch_line(const EpochRecord& rec, bool improved) {
  char line[256];
  std::snprintf(line, sizeof line,
                "epoch %lld: train_loss %.5f  val_mse %.5f  val_mae %.5f  lr %.2e  %.1fs  %.0f windows/s%s",
                static_cast<long long>(rec.epoch), rec.train_loss, rec.val_mse, rec.val_mae, rec.lr, rec.seconds,
                rec.windows_per_second, improved ? "  (best)" : "");
  return line;
}

std::string test_line(const TrainResult& res) {
  char line[256];
  std::snprintf(line, sizeof line,
                "test (best epoch %lld): mse %.4f  mae %.4f  on %lld windows (standardised); "
                "original units mse %.4g mae %.4g",
                static_cast<long long>(res.best_epoch), res.test.mse, res.test.mae,
                static_cast<long long>(res.test.windows), res.test.mse_orig, res.test.mae_orig);
  return line;
}

TrainStepOptions step_options(const OptimConfig& tc, int64_t target) {
  TrainStepOptions so;
  so.batch_size = tc.batch_size;
  so.lr = tc.lr;
  so.weight_decay = tc.weight_decay;
  so.clip_grad = tc.clip_grad;
  so.bf16 = tc.precision == "bf16";
  so.cuda_graph = tc.cuda_graph;
  so.target_channel = target;
  return so;
}

// best.safetensors: the weights of the best epoch so far.
void save_best(const RunRecords& records, const models::TSM2Impl& model, const std::map<std::string, std::string>& meta,
               int64_t epoch, double val_mse) {
  Checkpoint ck{module_state(model), meta};
  ck.metadata["epoch"] = std::to_string(epoch);
  ck.metadata["val_mse"] = exact_decimal(val_mse);
  save_checkpoint(records.best_path(), ck);
}

// last.safetensors: the weights, the optimizer state and what a resume continues from.
void save_last(const RunRecords& records, const models::TSM2Impl& model, TSM2TrainStep& stepper,
               const std::map<std::string, std::string>& meta, const TrainResult& res, int64_t bad_epochs,
               int64_t epoch) {
  Checkpoint ck{module_state(model), meta};
  stepper.export_optimizer_state();
  add_optimizer_state(ck, stepper.optimizer(), named_parameter_list(model));
  ck.metadata["epoch"] = std::to_string(epoch);
  ck.metadata["best_val_mse"] = exact_decimal(res.best_val_mse);
  ck.metadata["best_epoch"] = std::to_string(res.best_epoch);
  ck.metadata["bad_epochs"] = std::to_string(bad_epochs);
  ck.metadata["history"] = records.history_json(epoch_table().rows(res.history));
  save_checkpoint(records.last_path(), ck);
}

// Continues the run in `records`' folder: model and optimizer state, the best epoch so far, the
// early-stopping count, the history and the epoch to start at. Returns the log lines of the resume.
std::vector<std::string> resume_tsm2(const RunRecords& records, const TrainConfig& config, models::TSM2& model,
                                     TSM2TrainStep& stepper, TrainResult& res, int64_t& bad_epochs,
                                     int64_t& start_epoch) {
  const std::string last = records.last_path();
  const ResumePoint rp = records.resume(kTsm2CheckpointFormat, "TSM2");
  const TrainConfig stored = parse_config(rp.config_toml, last + " (stored config)");
  if (to_toml(TrainConfig{stored.data, stored.model, config.train}) !=
      to_toml(TrainConfig{config.data, config.model, config.train}))
    throw ConfigError(last +
                      ": the run was trained with other [data]/[model] settings; "
                      "resume with the run's config.toml");
  std::vector<std::string> notes = changed_setting_notes(rp.config_toml, to_toml(config), {"train"});
  load_module_state(*model, model_tensors(rp.checkpoint), last);
  load_optimizer_state(stepper.optimizer(), rp.checkpoint, named_parameter_list(*model), last);
  stepper.import_optimizer_state();
  res.best_val_mse = metadata_double(rp.checkpoint, "best_val_mse", last);
  bad_epochs = metadata_int(rp.checkpoint, "bad_epochs", last, 0);
  res.best_epoch = metadata_int(rp.checkpoint, "best_epoch", last, 0, rp.epoch);
  res.history = epoch_table().records(rp.history);
  start_epoch = rp.epoch + 1;
  notes.push_back("resumed from " + last + " at epoch " + std::to_string(start_epoch));
  return notes;
}

}  // namespace

TrainResult train_tsm2(const TrainConfig& config_in, const std::string& run_dir, bool resume, const TrainHooks& hooks) {
  TrainConfig config = config_in;
  const auto& tc = config.train;
  use_threads(tc.threads);
  const torch::Device device = parse_device(tc.device, "train.device");

  // Locks the folder; nothing in it is written until the data, the model and a resumed state are
  // ready, so a run that fails early leaves an earlier run's files as they were.
  RunDir rd = open_run_dir(run_dir, resume);
  const data::LoadedSeries series =
      data::load_forecast_source(forecast_source(config), config.data.seq_len, config.data.pred_len);
  const data::ForecastData& fd = series.data;
  config.model.n_vars(fd.n_targets()).n_future(fd.n_future);
  check_model_size(config.model, "model");
  const auto train_set = fd.train(), val_set = fd.val(), test_set = fd.test();
  // MS: every variate in, the target (the last column) scored; M and S: every column.
  const int64_t target = series.features == data::FeatureMode::kMultiSingle ? series.target_index : -1;

  torch::manual_seed(static_cast<uint64_t>(tc.seed));
  models::TSM2 model(config.model);
  model->to(device);
  TrainResult res;
  res.run_dir = run_dir;
  for (const auto& p : model->parameters()) res.n_params += p.numel();
  res.best_val_mse = std::numeric_limits<double>::infinity();

  // The step: AdamW with the no-decay groups, clipping, bf16 autocast, optionally a CUDA graph;
  // the training windows are gathered on the device.
  TSM2TrainStep stepper(model, step_options(tc, target));
  stepper.bind_windows(fd.scaled, train_set);

  int64_t batches_per_epoch = (train_set.size() + tc.batch_size - 1) / tc.batch_size;
  if (tc.max_batches_per_epoch > 0) batches_per_epoch = std::min(batches_per_epoch, tc.max_batches_per_epoch);
  const LrSchedule schedule(tsm2_lr_schedule(tc.lr, tc.min_lr, tc.warmup_epochs, tc.epochs, batches_per_epoch));

  const RunRecords records(run_dir, epoch_table().columns());
  const auto meta = forecaster_metadata(config, series);
  int64_t start_epoch = 1, bad_epochs = 0;
  std::vector<std::string> resume_notes;
  if (resume) resume_notes = resume_tsm2(records, config, model, stepper, res, bad_epochs, start_epoch);

  RunLog log = open_run_log(std::move(rd), hooks.log);
  for (const auto& note : resume_notes) log(note);
  records.write_config(to_toml(config));
  log(header_line(config, series, res, device));
  const bool with_target = target >= 0 || series.features == data::FeatureMode::kSingle;
  auto write_metrics = [&] {
    records.write_metrics(metrics_summary(config, res, with_target), epoch_table().rows(res.history));
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
    const EpochTraining tr = train_epoch(stepper, schedule, tc, train_set.size(), batches_per_epoch, read_every,
                                         hooks.progress_bar, t_start, epoch, step);
    if (tr.out_of_time) res.out_of_time = true;
    if (epoch == start_epoch && tc.cuda_graph)
      log(stepper.graphed() ? std::string("training step captured in a CUDA graph")
                            : "CUDA graph capture failed, training eagerly: " + stepper.fallback_reason());
    const double train_secs = seconds_since(t0);
    const EvalMetrics val = evaluate(model, val_set, tc.eval_batch_size, device, nullptr, target);
    if (!std::isfinite(val.mse) || !std::isfinite(val.mae))
      throw std::runtime_error("validation after epoch " + std::to_string(epoch) + " gave mse " +
                               std::to_string(val.mse) +
                               ": the model outputs non-finite values; nothing of "
                               "this epoch was saved (try a lower train.lr)");
    const EpochRecord rec{epoch,
                          tr.loss_sum / std::max<int64_t>(1, tr.seen),
                          val.mse,
                          val.mae,
                          schedule.at(step - 1),
                          seconds_since(t0),
                          static_cast<double>(tr.seen) / train_secs};
    res.history.push_back(rec);
    res.epochs_run = epoch;
    const bool improved = val.mse < res.best_val_mse;
    if (improved) {
      res.best_val_mse = val.mse;
      res.best_epoch = epoch;
      bad_epochs = 0;
      save_best(records, *model, meta, epoch, val.mse);
    } else {
      ++bad_epochs;
    }
    save_last(records, *model, stepper, meta, res, bad_epochs, epoch);
    log(epoch_line(rec, improved));
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
  // Restore the best weights, then test on every window.
  load_module_state(*model, load_checkpoint(records.best_path()).tensors, records.best_path());
  res.test = evaluate(model, test_set, tc.eval_batch_size, device, &fd.scaler, target);
  if (!std::isfinite(res.test.mse) || !std::isfinite(res.test.mse_orig))
    throw std::runtime_error("test of the best epoch gave mse " + std::to_string(res.test.mse) + " (original units " +
                             std::to_string(res.test.mse_orig) +
                             "): non-finite forecasts; metrics.json keeps "
                             "the epochs without a test entry");
  log(test_line(res));
  res.train_seconds = seconds_since(t_start);
  write_metrics();
  return res;
}

}  // namespace mmx::train
