// `mmx eval --checkpoint CKPT [--split test|val] [--original-units]`: metrics of a trained TSM2 on
// every window of a split, as JSON on stdout. A ViM2 checkpoint ([--ema]) reports top-1/top-5 on
// the CIFAR-10 test set or the config's val_dir (cmd_train_vim2.cpp).
#include <nlohmann/json.hpp>

#include <cmath>
#include <iostream>

#include "commands.h"
#include "mmx/core/build_info.h"
#include "mmx/train/device.h"
#include "mmx/train/tsm2_trainer.h"
#include "mmx/train/vim2_trainer.h"

namespace mmx::cli {

void add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Evaluate a TSM2 or ViM2 checkpoint on the test or validation split");
  static std::string ckpt, split = "test", device = "cpu";
  static bool original = false, ema = false;
  cmd->add_option("--checkpoint", ckpt, "best.safetensors of a run")->required();
  cmd->add_option("--split", split, "test or val")->check(CLI::IsMember({"test", "val"}))->capture_default_str();
  cmd->add_option("--device", device, "cpu or cuda")
      ->check(CLI::IsMember(train::device_names()))
      ->capture_default_str();
  cmd->add_flag("--original-units", original, "also report MSE/MAE in the data's own units");
  cmd->add_flag("--ema", ema, "ViM2: evaluate the EMA weights of the checkpoint");
  cmd->callback([] {
    if (train::is_classifier_checkpoint(ckpt)) {
      if (split != "test" || original) {
        throw std::runtime_error(ckpt +
                                 ": a ViM2 checkpoint is evaluated on its config's validation "
                                 "images (CIFAR-10 test set or data.val_dir); --split and "
                                 "--original-units apply to TSM2 only");
      }
      return eval_vim2_command(ckpt, device, ema);
    }
    if (ema) throw std::runtime_error(ckpt + ": --ema applies to ViM2 checkpoints only");
    const torch::Device dev = train::parse_device(device, "--device");
    train::LoadedForecaster f = train::load_forecaster(ckpt, dev);
    const data::LoadedSeries series =
        data::load_forecast_source(train::forecast_source(f.config), f.config.data.seq_len, f.config.data.pred_len);
    const data::ForecastData& fd = series.data;
    if (fd.table.columns != f.columns)
      throw std::runtime_error(ckpt +
                               ": the data's columns changed since training (the CSV was edited?); "
                               "expected the columns stored in the checkpoint");
    const auto windows = split == "test" ? fd.test() : fd.val();
    const int64_t target = series.features == data::FeatureMode::kMultiSingle ? series.target_index : -1;
    const train::EvalMetrics m =
        train::evaluate(f.model, windows, f.config.train.eval_batch_size, dev, original ? &fd.scaler : nullptr, target);
    if (!std::isfinite(m.mse) || (original && !std::isfinite(m.mse_orig)))
      throw std::runtime_error(ckpt + ": the model gives non-finite forecasts on the " + split + " windows (mse " +
                               std::to_string(m.mse) + "); the checkpoint may be corrupt");
    const std::string name = f.config.data.dataset.empty() ? f.config.data.path : f.config.data.dataset;
    nlohmann::json j{{"checkpoint", ckpt},
                     {"dataset", name},
                     {"split", split},
                     {"seq_len", f.config.data.seq_len},
                     {"pred_len", f.config.data.pred_len},
                     {"mse", m.mse},
                     {"mae", m.mae},
                     {"windows", m.windows},
                     {"mse_per_step", m.mse_per_step},
                     {"mae_per_step", m.mae_per_step}};
    if (original) {
      j["mse_original_units"] = m.mse_orig;
      j["mae_original_units"] = m.mae_orig;
    }
    std::cout << j.dump(2) << "\n";
  });
}

}  // namespace mmx::cli
