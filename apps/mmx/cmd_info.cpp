// `mmx info [--config CONFIG.toml]`: the build (versions, CUDA, threads, SIMD level) and, for a
// config, the model summary and parameter count.
#include <unistd.h>

#include <iostream>
#include <optional>

#include "commands.h"
#include "mmx/core/build_info.h"
#include "mmx/data/data_root.h"
#include "mmx/data/timeseries/registry.h"
#include "mmx/train/tsm2_trainer.h"
#include "mmx/train/vim2_config.h"

namespace mmx::cli {

void add_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print the build and, with --config, the model summary");
  static std::string config_path;
  static std::vector<std::string> overrides;
  cmd->add_option("--config", config_path, "experiment config (TOML)")->check(CLI::ExistingFile);
  cmd->add_option("--set", overrides, "override a config key: section.key=value");
  cmd->callback([] {
    // A bad config or --set fails before anything is printed.
    const bool vim2 = !config_path.empty() && train::is_classify_config(config_path);
    std::optional<train::TrainConfig> tsm2;
    if (vim2)
      train::load_classify_config(config_path, overrides);
    else if (!config_path.empty())
      tsm2 = train::load_config(config_path, overrides);
    const BuildInfo b = build_info();
    const std::string data_root = default_data_root();
    std::cout << "mambamixer " << b.mmx_version << "\n"
              << "libtorch   " << b.torch_version << "\n"
              << "cuda       " << (b.cuda_compiled ? "compiled in" : "not compiled in") << ", "
              << (b.cuda_available ? std::to_string(b.cuda_devices) + " device(s) available"
                                   : std::string("no device available"))
              << "\n"
              << "cpu        " << b.cpu_threads << " threads, scan kernel SIMD " << b.cpu_simd << "\n"
              << "data root  " << data_root
              << (::access(data_root.c_str(), F_OK) == 0
                      ? std::string()
                      : std::string(" (not found; set MMX_DATA_ROOT; ETTh1 falls back to data/ETTh1.csv)"))
              << "\n";
    if (config_path.empty()) return;
    if (vim2) return info_vim2_command(config_path, overrides);
    train::TrainConfig& c = *tsm2;
    // A benchmark's width is registered; an own CSV's is known once it is read.
    // Future covariates (named columns and calendar features) are inputs, not variates.
    const auto n_cov = static_cast<int64_t>(c.data.future_covariates.size());
    c.model.n_future(n_cov + static_cast<int64_t>(c.data.calendar.size()));
    if (!c.data.dataset.empty()) {
      c.model.n_vars(data::find_dataset(c.data.dataset).n_vars - n_cov);
    } else {
      const data::LoadedSeries s =
          data::load_forecast_source(train::forecast_source(c), c.data.seq_len, c.data.pred_len);
      c.model.n_vars(s.data.n_targets());
      std::cout << "\ndata       " << s.description << "\n";
    }
    models::TSM2 model(c.model);
    std::cout << "\nconfig     " << config_path << " (data " << (c.data.dataset.empty() ? c.data.path : c.data.dataset)
              << ")\n"
              << model->summary() << "\n";
  });
}

}  // namespace mmx::cli
