// `mmx scan-demo`: runs the selective scan (fused kernel and reference) on a TSM2-sized input and
// prints the agreement and the speed. A first smoke test of a fresh build.
#include <chrono>
#include <iostream>

#include "commands.h"
#include "mmx/ops/selective_scan.h"

namespace mmx::cli {

void add_scan_demo(CLI::App& app) {
  auto* cmd = app.add_subcommand("scan-demo", "Run the selective scan (kernel vs reference) once");
  static int64_t batch = 896, E = 64, L = 63, N = 16;
  cmd->add_option("--batch", batch, "sequences")->capture_default_str();
  cmd->add_option("--channels", E, "channels E")->capture_default_str();
  cmd->add_option("--length", L, "steps L")->capture_default_str();
  cmd->add_option("--state", N, "state size N")->capture_default_str();
  cmd->callback([] {
    torch::manual_seed(0);
    auto u = torch::randn({batch, E, L});
    auto delta = torch::randn({batch, E, L}) * 0.5;
    auto A = -torch::rand({E, N}) - 0.1;
    auto B = torch::randn({batch, 1, N, L});
    auto C = torch::randn({batch, 1, N, L});
    SelectiveScanExtras ex{torch::ones({E}), torch::randn({batch, E, L}), torch::zeros({E}), {}};
    SelectiveScanOptions opt{true, false, false};
    auto t0 = std::chrono::steady_clock::now();
    auto y = selective_scan(u, delta, A, B, C, ex, opt).out;
    auto t1 = std::chrono::steady_clock::now();
    auto yr = selective_scan_ref(u, delta, A, B, C, ex, opt).out;
    auto t2 = std::chrono::steady_clock::now();
    const double ms_k = std::chrono::duration<double, std::milli>(t1 - t0).count();
    const double ms_r = std::chrono::duration<double, std::milli>(t2 - t1).count();
    std::cout << "selective_scan batch=" << batch << " E=" << E << " L=" << L << " N=" << N << "\n"
              << "  kernel    " << ms_k << " ms\n  reference " << ms_r << " ms\n"
              << "  max |kernel - reference| = " << (y - yr).abs().max().item<double>() << "\n";
  });
}

}  // namespace mmx::cli
