// ViM2 classification training: an orchestration of the shared training parts (see
// include/mmx/train/vim2_trainer.h).
#include "mmx/train/vim2_trainer.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <thread>

#include "mmx/train/checkpoint.h"
#include "mmx/train/device.h"
#include "mmx/train/lr_schedule.h"
#include "mmx/train/progress.h"
#include "mmx/train/run_dir.h"
#include "mmx/train/run_records.h"

namespace mmx::train {
using json = nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// The epoch table of metrics.json, metrics.csv and the checkpoints' history (metrics.csv order).
const EpochTable<ClassifyEpochRecord>& epoch_table() {
  using R = ClassifyEpochRecord;
  static const EpochTable<R> table(&R::epoch, {{"elapsed_seconds", &R::elapsed_seconds},
                                               {"train_loss", &R::train_loss},
                                               {"lr", &R::lr},
                                               {"top1", &R::top1},
                                               {"top5", &R::top5},
                                               {"val_loss", &R::val_loss},
                                               {"ema_top1", &R::ema_top1, true},
                                               {"ema_top5", &R::ema_top5, true},
                                               {"images_per_second", &R::images_per_second},
                                               {"epoch_seconds", &R::epoch_seconds}});
  return table;
}

void use_threads(int64_t threads) {
  const int64_t cores = std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency()));
  if (threads > cores)
    throw ConfigError("train.threads = " + std::to_string(threads) + " is more than the " + std::to_string(cores) +
                      " hardware threads of this machine; expected 0 (LibTorch's default) to " + std::to_string(cores));
  if (threads > 0) at::set_num_threads(static_cast<int>(threads));
}

ViM2TrainStepOptions step_options(const ClassifyOptimConfig& tc) {
  ViM2TrainStepOptions o;
  o.adamw = {tc.lr, tc.weight_decay, tc.beta1, tc.beta2, tc.eps};
  o.clip_grad = tc.clip_grad;
  o.bf16 = tc.precision == "bf16";
  o.ema.decay = tc.ema_decay;
  o.ema.warmup = tc.ema_warmup;
  return o;
}

// The training part of one epoch: augmented batches (seeded per epoch, so a resumed run repeats the
// uninterrupted one), one step each at the schedule's rate, the losses checked every 20 steps and
// at the end, and the time budget (over the whole run, resumes included).
struct EpochTraining {
  int64_t seen = 0;  // training images
  double lr = 0;     // the rate of the epoch's last step
  bool out_of_time = false;
};

EpochTraining train_epoch(ViM2TrainStep& stepper, data::ImageLoader& loader, const LrSchedule& schedule,
                          const ClassifyConfig& config, torch::Device device, int64_t batches_per_epoch,
                          bool progress_bar, double budget_s, double elapsed_s, Clock::time_point t_start,
                          int64_t epoch) {
  const auto& tc = config.train;
  data::BatchAugment aug(config.augment, static_cast<uint64_t>(tc.seed) * 1000003ULL + static_cast<uint64_t>(epoch));
  loader.start_epoch(epoch);
  ProgressBar bar("epoch " + std::to_string(epoch) + "/" + std::to_string(tc.epochs), batches_per_epoch, progress_bar);
  stepper.begin_epoch(epoch);
  EpochTraining r;
  r.lr = schedule.at(stepper.steps());
  int64_t bar_done = 0;
  for (int64_t b = 0; b < batches_per_epoch; ++b) {
    auto batch = loader.next();
    if (!batch) break;
    r.lr = schedule.at(stepper.steps());
    const auto images = batch->first.to(device, /*non_blocking=*/true);
    const auto labels = batch->second.to(device, /*non_blocking=*/true);
    auto [x, targets] = aug.mix(aug.train(images), labels, config.model.num_classes());
    stepper.step(x, targets, r.lr);
    r.seen += images.size(0);
    // Read the loss back only now and then: every .item() waits for the GPU.
    if (b % 20 == 0 || b + 1 == batches_per_epoch) {
      stepper.check_losses(schedule);
      bar.update(b + 1 - bar_done, "loss " + fmt("%.4f", stepper.last_loss()), static_cast<double>(r.seen));
      bar_done = b + 1;
    }
    if (budget_s > 0 && elapsed_s + seconds_since(t_start) > budget_s) {
      r.out_of_time = true;
      break;
    }
  }
  stepper.check_losses(schedule);
  bar.finish();
  return r;
}

// Validates the model (and the EMA) after epoch `epoch`: its record's accuracies and loss.
// Errors: c10::Error for a non-finite validation loss.
ClassifyEpochRecord validate(models::ViM2Impl& model, models::ViM2Impl* ema, data::ImageLoader& val,
                             const ClassifyConfig& config, torch::Device device, int64_t epoch, ClassifyResult& res) {
  const auto& tc = config.train;
  ClassifyEpochRecord rec;
  res.final_val = evaluate_classifier(model, val, config.augment, device, tc.precision, tc.max_eval_batches);
  rec.top1 = res.final_val.top1;
  rec.top5 = res.final_val.top5;
  rec.val_loss = res.final_val.loss;
  TORCH_CHECK(std::isfinite(rec.val_loss), "validation loss became ", rec.val_loss, " at epoch ", epoch,
              " (the model's logits are not finite); nothing of this epoch was written");
  rec.ema_top1 = rec.ema_top5 = std::numeric_limits<double>::quiet_NaN();
  if (ema) {
    res.final_val_ema = evaluate_classifier(*ema, val, config.augment, device, tc.precision, tc.max_eval_batches);
    rec.ema_top1 = res.final_val_ema.top1;
    rec.ema_top5 = res.final_val_ema.top5;
  }
  return rec;
}

std::string header_line(const ClassifyConfig& config, const ClassifyLoaders& data, const ClassifyResult& res,
                        int64_t batches_per_epoch, torch::Device device) {
  std::ostringstream os;
  os << "ViM2" << (config.preset.empty() ? "" : " (" + config.preset + ")") << " on " << data.name << ": "
     << data.train->size() << " training / " << data.val->size() << " validation images, "
     << data.train->classes().size() << " classes, " << config.model.image_size() << " px; " << res.n_params
     << " parameters; " << batches_per_epoch << " steps/epoch of " << config.train.batch_size << "; device " << device
     << " (" << config.train.precision << "); threads " << at::get_num_threads();
  return os.str();
}

std::string epoch_line(const ClassifyEpochRecord& rec, int64_t epochs, bool evaluated, bool ema, bool improved) {
  std::string line = "epoch " + std::to_string(rec.epoch) + "/" + std::to_string(epochs) + ": train_loss " +
                     fmt("%.4f", rec.train_loss) + "  lr " + fmt("%.2e", rec.lr);
  if (!evaluated)
    return line + "  " + fmt("%.0f", rec.images_per_second) + " img/s  " + fmt("%.1f", rec.epoch_seconds) + "s";
  line += "  val top1 " + fmt("%.2f", rec.top1) + " top5 " + fmt("%.2f", rec.top5);
  if (ema) line += "  ema top1 " + fmt("%.2f", rec.ema_top1) + " top5 " + fmt("%.2f", rec.ema_top5);
  return line + "  " + fmt("%.0f", rec.images_per_second) + " img/s  " + fmt("%.1f", rec.epoch_seconds) +
         "s  elapsed " + fmt("%.1f", rec.elapsed_seconds) + "s" + (improved ? "  (best)" : "");
}

// A checkpoint of the run: weights, EMA weights under "ema.", the optimizer state (last only) and
// what a resume continues from.
Checkpoint run_checkpoint(const RunRecords& records, const std::map<std::string, std::string>& meta,
                          const models::ViM2Impl& model, const models::ViM2Impl* ema, ViM2TrainStep& stepper,
                          const ClassifyResult& res, double elapsed_before, bool with_optimizer, int64_t epoch) {
  Checkpoint ck{module_state(model), meta};
  if (ema)
    for (const auto& [k, v] : module_state(*ema)) ck.tensors.emplace(kEmaPrefix + k, v);
  if (with_optimizer) add_optimizer_state(ck, stepper.optimizer(), stepper.named_parameters());
  ck.metadata["epoch"] = std::to_string(epoch);
  ck.metadata["step"] = std::to_string(stepper.steps());
  ck.metadata["best_top1"] = exact_decimal(res.best_top1);
  ck.metadata["best_epoch"] = std::to_string(res.best_epoch);
  ck.metadata["elapsed_seconds"] = exact_decimal(elapsed_before + res.train_seconds);
  ck.metadata["history"] = records.history_json(epoch_table().rows(res.history));
  return ck;
}

// Continues the run in `records`' folder: weights, EMA, optimizer state, step count, best epoch,
// wall-clock time before and history, logging the changed settings. Returns the epoch to start at.
int64_t resume_vim2(const RunRecords& records, const ClassifyConfig& config, const std::string& config_toml,
                    models::ViM2Impl& model, models::ViM2Impl* ema, ViM2TrainStep& stepper, ClassifyResult& res,
                    double& elapsed_before, RunLog& log) {
  const std::string last = records.last_path();
  const ResumePoint rp = records.resume(kVim2CheckpointFormat, "ViM2");
  ClassifyConfig stored = parse_classify_config(rp.config_toml, last + " (stored config)");
  stored.data = config.data;
  stored.train = config.train;
  stored.model.scan_recompute(config.model.scan_recompute());  // memory knob, not architecture
  if (to_toml(stored) != config_toml)
    throw ConfigError(last +
                      ": the run was trained with other [model]/[augment] settings; "
                      "resume with the run's config.toml");
  for (const auto& note : changed_setting_notes(rp.config_toml, config_toml, {"data", "model", "train"})) log(note);
  load_module_state(model, classifier_weights(rp.checkpoint, false), last);
  if (ema) {
    auto e = classifier_weights(rp.checkpoint, true);
    if (e.empty()) throw CheckpointError(last + ": no EMA weights stored, but train.ema = true");
    load_module_state(*ema, e, last);
  }
  load_optimizer_state(stepper.optimizer(), rp.checkpoint, stepper.named_parameters(), last);
  const int64_t start_epoch = rp.epoch + 1;
  stepper.set_steps(metadata_int(rp.checkpoint, "step", last, 0));
  res.best_top1 = metadata_double(rp.checkpoint, "best_top1", last);
  res.best_epoch = metadata_int(rp.checkpoint, "best_epoch", last, 0, rp.epoch);
  elapsed_before = metadata_double(rp.checkpoint, "elapsed_seconds", last);
  res.history = epoch_table().records(rp.history);
  if (start_epoch > config.train.epochs)
    throw ConfigError(last + ": the run already finished its " + std::to_string(config.train.epochs) +
                      " epochs; raise train.epochs (--set train.epochs=N) to continue it");
  log("resumed from " + last + " at epoch " + std::to_string(start_epoch));
  return start_epoch;
}

}  // namespace

ClassifyResult train_vim2(const ClassifyConfig& config, const std::string& run_dir, bool resume,
                          const ClassifyHooks& hooks) {
  const auto& tc = config.train;
  use_threads(tc.threads);
  const torch::Device device = parse_device(tc.device, "train.device");

  ClassifyLoaders data = make_classify_loaders(config, hooks.train_data, hooks.val_data);
  int64_t batches_per_epoch = data.train->batches_per_epoch();
  if (tc.max_batches_per_epoch > 0) batches_per_epoch = std::min(batches_per_epoch, tc.max_batches_per_epoch);
  if (batches_per_epoch < 1)
    throw ConfigError("train.batch_size = " + std::to_string(tc.batch_size) + " exceeds the " +
                      std::to_string(data.train->size()) + " training images");

  RunLog log = open_run_log(open_run_dir(run_dir, resume), hooks.log);

  // Model, EMA (a second ViM2 that starts as the model's copy), step with its optimizer.
  torch::manual_seed(static_cast<uint64_t>(tc.seed));
  models::ViM2 model(config.model);
  model->to(device);
  models::ViM2 ema{nullptr};
  if (tc.ema) {
    ema = models::ViM2(config.model);
    ema->to(device);
  }
  ViM2TrainStep stepper(model, ema, step_options(tc));
  models::ViM2Impl* ema_model = tc.ema ? ema.get() : nullptr;
  ClassifyResult res;
  res.run_dir = run_dir;
  for (const auto& p : model->parameters()) res.n_params += p.numel();
  const LrSchedule schedule(
      vim2_lr_schedule(tc.lr, tc.min_lr, tc.warmup_lr, tc.warmup_epochs, tc.epochs, batches_per_epoch));

  const RunRecords records(run_dir, epoch_table().columns());
  const std::string config_toml = to_toml(config);
  const auto meta = classifier_metadata(config_toml, data.train->classes());
  double elapsed_before = 0;
  int64_t start_epoch = 1;
  if (resume)
    start_epoch = resume_vim2(records, config, config_toml, *model, ema_model, stepper, res, elapsed_before, log);
  records.write_config(config_toml);
  log(header_line(config, data, res, batches_per_epoch, device));
  auto write_metrics = [&] {
    const json summary{{"model", config.preset.empty() ? "vim2" : config.preset},
                       {"dataset", config.data.dataset},
                       {"n_params", res.n_params},
                       {"best_epoch", res.best_epoch},
                       {"best_top1", res.best_top1},
                       {"train_seconds", res.train_seconds},
                       {"out_of_time", res.out_of_time}};
    records.write_metrics(summary, epoch_table().rows(res.history));
  };
  auto save = [&](const std::string& path, bool with_optimizer, int64_t epoch) {
    save_checkpoint(
        path, run_checkpoint(records, meta, *model, ema_model, stepper, res, elapsed_before, with_optimizer, epoch));
  };

  const auto t_start = Clock::now();
  for (int64_t epoch = start_epoch; epoch <= tc.epochs; ++epoch) {
    // Per-epoch seeds (drop-path, augmentation, loader order): a resumed run repeats the
    // uninterrupted one exactly.
    torch::manual_seed(static_cast<uint64_t>(tc.seed) * 7919ULL + static_cast<uint64_t>(epoch));
    model->train();
    const auto t0 = Clock::now();
    const EpochTraining tr =
        train_epoch(stepper, *data.train, schedule, config, device, batches_per_epoch, hooks.progress_bar,
                    tc.time_budget_minutes * 60.0, elapsed_before, t_start, epoch);
    if (tr.out_of_time) res.out_of_time = true;
    const auto losses = stepper.epoch_losses();
    const double train_secs = seconds_since(t0);
    res.final_train_losses.assign(losses.data_ptr<float>(), losses.data_ptr<float>() + losses.numel());
    const double train_loss = losses.numel() ? losses.mean().item<double>() : std::nan("");
    TORCH_CHECK(losses.numel() == 0 || std::isfinite(train_loss), "training loss became ", train_loss, " in epoch ",
                epoch, " (try a lower train.lr)");
    res.epochs_run = epoch;
    res.steps = stepper.steps();
    const bool stop_now =
        res.out_of_time || epoch == tc.epochs || (hooks.stop_after_epoch > 0 && epoch >= hooks.stop_after_epoch);
    const bool evaluated = epoch % tc.eval_every == 0 || stop_now;
    ClassifyEpochRecord rec =
        evaluated ? validate(*model, ema_model, *data.val, config, device, epoch, res) : ClassifyEpochRecord{};
    rec.epoch = epoch;
    rec.train_loss = train_loss;
    rec.lr = tr.lr;
    rec.images_per_second = static_cast<double>(tr.seen) / std::max(train_secs, 1e-9);
    rec.epoch_seconds = train_secs;
    bool improved = false;
    if (evaluated) {
      res.train_seconds = seconds_since(t_start);
      rec.elapsed_seconds = elapsed_before + res.train_seconds;
      res.history.push_back(rec);
      const double score = tc.ema ? std::max(rec.top1, rec.ema_top1) : rec.top1;
      improved = res.best_epoch == 0 || score > res.best_top1;
      if (improved) {
        res.best_top1 = score;
        res.best_epoch = epoch;
        save(records.best_path(), false, epoch);
      }
    }
    log(epoch_line(rec, tc.epochs, evaluated, tc.ema, improved));
    res.train_seconds = seconds_since(t_start);
    if (epoch % tc.save_every == 0 || stop_now) save(records.last_path(), true, epoch);
    write_metrics();
    if (res.out_of_time) {
      log("time budget of " + fmt("%g", tc.time_budget_minutes) + " minutes reached after " +
          std::to_string(stepper.steps()) + " steps");
      break;
    }
    if (stop_now) break;
  }
  res.train_seconds = seconds_since(t_start);
  write_metrics();
  return res;
}

}  // namespace mmx::train
