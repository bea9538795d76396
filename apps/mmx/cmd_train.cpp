// `mmx train [CONFIG.toml] [--data FILE.csv ...] [--set key=value ...] [--out DIR] [--resume]`:
// trains TSM2 (or ViM2 for a config with `[model] name = "vim2"`, cmd_train_vim2.cpp), prints the
// test metrics and writes the run directory. `--data` starts from one's own CSV without a config.
#include <chrono>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "mmx/train/tsm2_trainer.h"
#include "mmx/train/vim2_config.h"

namespace mmx::cli {

void add_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train",
                                 "Train TSM2 on a CSV of your own (--data) or from a TOML config (configs/tsm2/*.toml, "
                                 "configs/vim2/*.toml)");
  static std::string config_path, out_dir, data_path, target, features;
  static int64_t seq_len = 0, pred_len = 0;
  static std::vector<std::string> overrides;
  static bool resume = false, no_progress = false;
  cmd->add_option("config", config_path, "experiment config (TOML); optional with --data")->check(CLI::ExistingFile);
  cmd->add_option("--data", data_path, "your CSV: a timestamp column and numeric columns (sets data.path)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--seq-len", seq_len, "lookback in rows (data.seq_len; default 96 with --data alone)");
  cmd->add_option("--pred-len", pred_len, "horizon in rows (data.pred_len; default 96)");
  cmd->add_option("--target", target, "column to forecast (data.target; alone it selects --features MS)");
  cmd->add_option("--features", features, "M: all columns in and out; S: the target alone; MS: all in, the target out")
      ->check(CLI::IsMember({"M", "S", "MS"}));
  cmd->add_option("--set", overrides, "override a config key: section.key=value (repeatable)");
  cmd->add_option("--out", out_dir, "run directory (default runs/<config or CSV name>-<time>)");
  cmd->add_flag("--resume", resume, "continue the run in --out from its last.safetensors");
  cmd->add_flag("--no-progress", no_progress, "no progress bar");
  cmd->callback([] {
    if (config_path.empty() && data_path.empty())
      throw CLI::ValidationError("train", "give a config file or --data YOUR.csv");
    if (!config_path.empty() && train::is_classify_config(config_path)) {
      if (!data_path.empty() || seq_len || pred_len || !target.empty() || !features.empty())
        throw std::runtime_error("--data, --seq-len, --pred-len, --target and --features apply to TSM2 configs");
      return train_vim2_command(config_path, overrides, out_dir, resume, !no_progress);
    }
    // The shortcuts become overrides placed before the user's --set ones (which win).
    std::vector<std::string> all;
    if (!data_path.empty()) {
      all.push_back("data.dataset=");
      all.push_back("data.path=" + data_path);
      if (config_path.empty() && seq_len == 0) all.push_back("data.seq_len=96");
    }
    if (seq_len) all.push_back("data.seq_len=" + std::to_string(seq_len));
    if (pred_len) all.push_back("data.pred_len=" + std::to_string(pred_len));
    if (!target.empty()) {
      all.push_back("data.target=" + target);
      if (features.empty()) all.push_back("data.features=MS");
    }
    if (!features.empty()) all.push_back("data.features=" + features);
    all.insert(all.end(), overrides.begin(), overrides.end());
    const train::TrainConfig config = config_path.empty() ? train::parse_config("", "--data " + data_path, all)
                                                          : train::load_config(config_path, all);
    if (resume && out_dir.empty()) throw std::runtime_error("--resume needs --out RUN_DIR");
    if (out_dir.empty()) {
      char stamp[32];
      const std::time_t now = std::time(nullptr);
      std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
      const std::string from = config_path.empty() ? data_path : config_path;
      out_dir = "runs/" + std::filesystem::path(from).stem().string() + "-" + stamp;
    }
    train::TrainHooks hooks{log_line, !no_progress};
    const train::TrainResult r = train::train_tsm2(config, out_dir, resume, hooks);
    std::cout << "test_mse " << r.test.mse << "\ntest_mae " << r.test.mae << "\ntest_windows " << r.test.windows
              << "\nbest_epoch " << r.best_epoch << "\nrun_dir " << r.run_dir << "\n";
  });
}

}  // namespace mmx::cli
