// The ViM2 side of `mmx train`, `mmx eval` and `mmx info`: the shared subcommands dispatch here
// when the config has `[model] name = "vim2"` (train, info) or the checkpoint is a ViM2 one (eval).
#include <nlohmann/json.hpp>

#include <ctime>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "mmx/train/device.h"
#include "mmx/train/vim2_trainer.h"

namespace mmx::cli {

void train_vim2_command(const std::string& config_path, const std::vector<std::string>& overrides, std::string out_dir,
                        bool resume, bool progress) {
  const train::ClassifyConfig config = train::load_classify_config(config_path, overrides);
  if (resume && out_dir.empty()) throw std::runtime_error("--resume needs --out RUN_DIR");
  if (out_dir.empty()) {
    char stamp[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
    out_dir = "runs/" + std::filesystem::path(config_path).stem().string() + "-" + stamp;
  }
  train::ClassifyHooks hooks;
  hooks.log = log_line;
  hooks.progress_bar = progress;
  const train::ClassifyResult r = train::train_vim2(config, out_dir, resume, hooks);
  std::cout << "val_top1 " << r.final_val.top1 << "\nval_top5 " << r.final_val.top5 << "\n";
  if (config.train.ema)
    std::cout << "ema_top1 " << r.final_val_ema.top1 << "\nema_top5 " << r.final_val_ema.top5 << "\n";
  std::cout << "val_images " << r.final_val.n << "\nbest_epoch " << r.best_epoch << "\nbest_top1 " << r.best_top1
            << "\nepochs_run " << r.epochs_run << "\ntrain_seconds " << r.train_seconds << "\nrun_dir " << r.run_dir
            << "\n";
}

void eval_vim2_command(const std::string& checkpoint, const std::string& device, bool ema) {
  const torch::Device dev = train::parse_device(device, "--device");
  train::LoadedClassifier c = train::load_classifier(checkpoint, dev, ema);
  auto loader = train::make_classify_loader(c.config, /*train=*/false);
  const std::string precision = dev.is_cuda() ? c.config.train.precision : "fp32";
  const train::ClassifyMetrics m = train::evaluate_classifier(*c.model, *loader, c.config.augment, dev, precision);
  const bool cifar = c.config.data.dataset == "cifar10";
  nlohmann::json j{{"checkpoint", checkpoint},
                   {"model", c.config.preset.empty() ? "vim2" : c.config.preset},
                   {"weights", ema ? "ema" : "model"},
                   {"epoch", c.epoch},
                   {"dataset", c.config.data.dataset},
                   {"split", cifar ? "test" : c.config.data.val_dir},
                   {"top1", m.top1},
                   {"top5", m.top5},
                   {"loss", m.loss},
                   {"images", m.n}};
  std::cout << j.dump(2) << "\n";
}

void info_vim2_command(const std::string& config_path, const std::vector<std::string>& overrides) {
  const train::ClassifyConfig c = train::load_classify_config(config_path, overrides);
  models::ViM2 model(c.model);
  std::cout << "\nconfig     " << config_path << " (ViM2" << (c.preset.empty() ? "" : " preset " + c.preset)
            << ", data set " << c.data.dataset << ", " << c.model.image_size() << " px, " << c.model.num_classes()
            << " classes)\n"
            << model->summary() << "\n";
}

}  // namespace mmx::cli
