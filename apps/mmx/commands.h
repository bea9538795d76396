// Subcommands of the `mmx` CLI: each file adds one subcommand to the app and runs it.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace mmx::cli {

void add_info(CLI::App& app);
void add_scan_demo(CLI::App& app);
void add_train(CLI::App& app);
void add_eval(CLI::App& app);
void add_forecast(CLI::App& app);
void add_classify(CLI::App& app);
void add_sweep(CLI::App& app);

/// The ViM2 parts of `train`, `eval` and `info` (cmd_train_vim2.cpp), reached when
/// train::is_classify_config / train::is_classifier_checkpoint say so.
void train_vim2_command(const std::string& config_path, const std::vector<std::string>& overrides, std::string out_dir,
                        bool resume, bool progress);
void eval_vim2_command(const std::string& checkpoint, const std::string& device, bool ema);
void info_vim2_command(const std::string& config_path, const std::vector<std::string>& overrides);

/// A log line on stderr with the wall-clock time, as every subcommand prints progress.
void log_line(const std::string& line);

}  // namespace mmx::cli
