// mmx: the mambamixer command line. Parses arguments (CLI11), dispatches to one subcommand per
// file; errors print one clear line and exit non-zero.
#include <c10/util/Exception.h>

#include <malloc.h>

#include <ctime>
#include <exception>
#include <iostream>

#include "commands.h"

namespace mmx::cli {
void log_line(const std::string& line) {
  const std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", std::localtime(&now));
  std::cerr << "[" << stamp << "] " << line << "\n";
}
}  // namespace mmx::cli

int main(int argc, char** argv) {
  // Keep freed memory in the heap: training allocates the same large activations every step, and
  // glibc would otherwise return them to the OS and page-fault them back in (measured: ~30% of
  // CPU time went to clearing fresh pages).
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  CLI::App app{"mambamixer: selective state-space models mixing tokens and channels (TSM2, ViM2)"};
  app.require_subcommand(1);
  mmx::cli::add_info(app);
  mmx::cli::add_scan_demo(app);
  mmx::cli::add_train(app);
  mmx::cli::add_eval(app);
  mmx::cli::add_forecast(app);
  mmx::cli::add_classify(app);
  mmx::cli::add_sweep(app);
  // An unknown first word is a mistyped command, not a missing one (CLI11 would say "A
  // subcommand is required").
  if (argc > 1 && argv[1][0] != '-') {
    std::string names;
    bool known = false;
    for (const auto* sub : app.get_subcommands([](CLI::App*) { return true; })) {
      names += (names.empty() ? "" : ", ") + sub->get_name();
      known = known || sub->get_name() == argv[1];
    }
    if (!known) {
      std::cerr << "mmx: error: unknown command '" << argv[1] << "' (commands: " << names
                << ")\nRun with --help for more information.\n";
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Usage errors (unknown option, missing argument, file that does not exist): one line in the
    // same form as every other error, exit status 2 (the argparse / getopt convention).
    std::cerr << "mmx: error: " << e.what() << "\nRun with --help for more information.\n";
    return 2;
  } catch (const c10::Error& e) {
    std::cerr << "mmx: error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "mmx: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
