// `mmx info`: the build (versions, CUDA, threads, SIMD level).
#include <iostream>

#include "commands.h"
#include "mmx/core/build_info.h"

namespace mmx::cli {

void add_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print the build: versions, CUDA, CPU threads, SIMD level");
  cmd->callback([] {
    const BuildInfo b = build_info();
    std::cout << "mambamixer " << b.mmx_version << "\n"
              << "libtorch   " << b.torch_version << "\n"
              << "cuda       " << (b.cuda_compiled ? "compiled in" : "not compiled in") << ", "
              << (b.cuda_available ? std::to_string(b.cuda_devices) + " device(s) available"
                                   : std::string("no device available"))
              << "\n"
              << "cpu        " << b.cpu_threads << " threads, scan kernel SIMD " << b.cpu_simd
              << "\n"
              << "data root  " << b.data_root << "\n";
  });
}

}  // namespace mmx::cli
