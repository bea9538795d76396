// TSM2 checkpoint metadata and loading a trained forecaster (see include/mmx/train/tsm2_checkpoint.h).
#include "mmx/train/tsm2_checkpoint.h"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <limits>

#include "mmx/core/build_info.h"
#include "mmx/data/error.h"
#include "mmx/train/checkpoint.h"

namespace mmx::train {
using json = nlohmann::json;

namespace {

json to_json_vec(const torch::Tensor& t) {
  auto c = t.to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

}  // namespace

std::map<std::string, std::string> forecaster_metadata(const TrainConfig& c, const data::LoadedSeries& s) {
  const data::ForecastData& fd = s.data;
  return {{"format", kTsm2CheckpointFormat},
          {"mmx_version", MMX_VERSION},
          {"config", to_toml(c)},
          {"columns", json(fd.table.columns).dump()},
          {"date_column", fd.table.date_column},
          {"scaler_mean", to_json_vec(fd.scaler.mean).dump()},
          {"scaler_std", to_json_vec(fd.scaler.std).dump()},
          {"n_vars", std::to_string(fd.n_targets())},
          {"target_index", std::to_string(s.target_index)},
          {"freq", data::to_string(s.freq)}};
}

LoadedForecaster load_forecaster(const std::string& path, torch::Device device) {
  Checkpoint ck = load_checkpoint(path);
  auto need = [&](const char* key) -> const std::string& {
    auto it = ck.metadata.find(key);
    if (it == ck.metadata.end())
      throw CheckpointError(path + ": metadata key '" + key + "' missing: not a TSM2 checkpoint written by mmx train");
    return it->second;
  };
  if (need("format") != kTsm2CheckpointFormat)
    throw CheckpointError(path + ": unsupported checkpoint format '" + need("format") + "'");
  LoadedForecaster f;
  f.config = parse_config(need("config"), path + " (stored config)");
  need("n_vars");
  f.config.model.n_vars(metadata_int(ck, "n_vars", path, 1, std::numeric_limits<int32_t>::max()));
  // Future covariates (MambaMixer §5.5) follow the variates in `columns` and the scaler.
  f.config.model.n_future(static_cast<int64_t>(f.config.data.future_covariates.size() + f.config.data.calendar.size()));
  need("columns");
  f.columns = metadata_string_list(ck, "columns", path);
  if (static_cast<int64_t>(f.columns.size()) != f.config.model.n_vars() + f.config.model.n_future())
    throw CheckpointError(path + ": metadata 'columns' has " + std::to_string(f.columns.size()) + " names; expected " +
                          std::to_string(f.config.model.n_vars()) + " variates + " +
                          std::to_string(f.config.model.n_future()) + " future covariates");
  f.date_column = need("date_column");
  if (const auto it = ck.metadata.find("target_index"); it != ck.metadata.end()) {
    char* end = nullptr;
    f.target_index = std::strtoll(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end != '\0' || f.target_index < -1 ||
        f.target_index >= static_cast<int64_t>(f.columns.size()))
      throw CheckpointError(path + ": metadata 'target_index' = '" + it->second + "'; expected -1 or a column index");
  }
  if (const auto it = ck.metadata.find("freq"); it != ck.metadata.end()) {
    try {
      f.freq = data::parse_frequency(it->second);
    } catch (const data::DataError& e) {
      throw CheckpointError(path + ": metadata 'freq': " + e.what());
    }
  }
  need("scaler_mean");
  need("scaler_std");
  f.scaler.mean = torch::tensor(metadata_number_list(ck, "scaler_mean", path), torch::kFloat64);
  f.scaler.std = torch::tensor(metadata_number_list(ck, "scaler_std", path), torch::kFloat64);
  if (f.scaler.mean.numel() != static_cast<int64_t>(f.columns.size()) || f.scaler.std.numel() != f.scaler.mean.numel())
    throw CheckpointError(path + ": metadata 'scaler_mean' / 'scaler_std' hold " +
                          std::to_string(f.scaler.mean.numel()) + " / " + std::to_string(f.scaler.std.numel()) +
                          " values for " + std::to_string(f.columns.size()) + " columns");
  // Every tensor shape the stored config implies, compared with the file before the model is
  // built: an edited config cannot allocate a model the checkpoint does not hold.
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  try {
    shapes = models::tsm2_parameter_shapes(f.config.model);
  } catch (const c10::Error& e) {
    throw CheckpointError(path + ": the stored config: " + e.what_without_backtrace());
  }
  check_state_shapes(shapes, model_tensors(ck), path);
  f.model = models::TSM2(f.config.model);
  load_module_state(*f.model, model_tensors(ck), path);
  f.model->to(device);
  f.model->eval();
  return f;
}

}  // namespace mmx::train
