// Subcommands of the `mmx` CLI: each file adds one subcommand to the app and runs it.
#pragma once

#include <CLI/CLI.hpp>

namespace mmx::cli {

void add_info(CLI::App& app);
void add_scan_demo(CLI::App& app);

}  // namespace mmx::cli
