// `mmx train CONFIG.toml [--set key=value ...] [--out DIR] [--resume]`: trains TSM2 (or ViM2 for a
// config with `[model] name = "vim2"`, cmd_train_vim2.cpp), prints the test metrics and writes the
// run directory.
#include <chrono>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "mmx/train/classify_config.h"
#include "mmx/train/trainer.h"

namespace mmx::cli {

void add_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train TSM2 or ViM2 from a TOML config (configs/tsm2/*.toml, configs/vim2/*.toml)");
  static std::string config_path, out_dir;
  static std::vector<std::string> overrides;
  static bool resume = false, no_progress = false;
  cmd->add_option("config", config_path, "experiment config (TOML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--set", overrides, "override a config key: section.key=value (repeatable)");
  cmd->add_option("--out", out_dir, "run directory (default runs/<config>-<time>)");
  cmd->add_flag("--resume", resume, "continue the run in --out from its last.safetensors");
  cmd->add_flag("--no-progress", no_progress, "no progress bar");
  cmd->callback([] {
    if (train::is_classify_config(config_path))
      return train_vim2_command(config_path, overrides, out_dir, resume, !no_progress);
    const train::TrainConfig config = train::load_config(config_path, overrides);
    if (resume && out_dir.empty()) throw std::runtime_error("--resume needs --out RUN_DIR");
    if (out_dir.empty()) {
      char stamp[32];
      const std::time_t now = std::time(nullptr);
      std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
      out_dir = "runs/" + std::filesystem::path(config_path).stem().string() + "-" + stamp;
    }
    train::TrainHooks hooks{log_line, !no_progress};
    const train::TrainResult r = train::train_tsm2(config, out_dir, resume, hooks);
    std::cout << "test_mse " << r.test.mse << "\ntest_mae " << r.test.mae << "\ntest_windows "
              << r.test.windows << "\nbest_epoch " << r.best_epoch << "\nrun_dir " << r.run_dir
              << "\n";
  });
}

}  // namespace mmx::cli
