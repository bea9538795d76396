// Subcommands of the `mmx` CLI: each file adds one subcommand to the app and runs it.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace mmx::cli {

void add_info(CLI::App& app);
void add_scan_demo(CLI::App& app);
void add_train(CLI::App& app);
void add_eval(CLI::App& app);
void add_forecast(CLI::App& app);

/// A log line on stderr with the wall-clock time, as every subcommand prints progress.
void log_line(const std::string& line);

}  // namespace mmx::cli
