// ViM2 checkpoint metadata and loading a trained classifier (see include/mmx/train/vim2_checkpoint.h).
#include "mmx/train/vim2_checkpoint.h"

#include <nlohmann/json.hpp>

#include <fstream>

#include "mmx/core/build_info.h"
#include "mmx/train/run_records.h"

namespace mmx::train {
using json = nlohmann::json;

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

}  // namespace

std::map<std::string, std::string> classifier_metadata(const std::string& config_toml,
                                                       const std::vector<std::string>& classes) {
  return {{"format", kVim2CheckpointFormat},
          {"mmx_version", MMX_VERSION},
          {"config", config_toml},
          {"classes", json(classes).dump()}};
}

std::map<std::string, torch::Tensor> classifier_weights(const Checkpoint& ck, bool ema) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [k, v] : ck.tensors) {
    if (starts_with(k, kOptimizerPrefix)) continue;
    const bool is_ema = starts_with(k, kEmaPrefix);
    if (ema && is_ema) out.emplace(k.substr(std::string(kEmaPrefix).size()), v);
    if (!ema && !is_ema) out.emplace(k, v);
  }
  return out;
}

bool is_classifier_checkpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  unsigned char len_bytes[8];
  if (!in.read(reinterpret_cast<char*>(len_bytes), 8)) return false;
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  if (n == 0 || n > (100u << 20)) return false;
  std::string header(n, '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(n))) return false;
  const json j = json::parse(header, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("__metadata__")) return false;
  const auto& m = j["__metadata__"];
  return m.is_object() && m.contains("format") && m["format"] == kVim2CheckpointFormat;
}

LoadedClassifier load_classifier(const std::string& path, torch::Device device, bool ema) {
  const Checkpoint ck = load_checkpoint(path);
  auto need = [&](const char* key) -> const std::string& {
    auto it = ck.metadata.find(key);
    if (it == ck.metadata.end())
      throw CheckpointError(path + ": metadata key '" + key + "' missing: not a ViM2 checkpoint written by mmx train");
    return it->second;
  };
  if (need("format") != kVim2CheckpointFormat)
    throw CheckpointError(path + ": not a ViM2 checkpoint (format '" + need("format") + "')");
  LoadedClassifier out;
  out.config = parse_classify_config(need("config"), path + " (stored config)");
  out.classes = metadata_string_list(ck, "classes", path);
  if (static_cast<int64_t>(out.classes.size()) != out.config.model.num_classes())
    throw CheckpointError(
        path + ": metadata 'classes' names " + std::to_string(out.classes.size()) +
        " classes but the stored config has model.num_classes = " + std::to_string(out.config.model.num_classes()));
  out.epoch = metadata_int(ck, "epoch", path, 0, kMaxEpochCount);
  out.ema = ema;
  auto weights = classifier_weights(ck, ema);
  if (ema && weights.empty())
    throw CheckpointError(path + ": no EMA weights stored (the run had train.ema = false); load without --ema");
  // Every tensor shape the stored config implies, compared with the file before the model is built:
  // an edited config cannot allocate a model the checkpoint does not hold.
  check_state_shapes(models::vim2_parameter_shapes(out.config.model), weights, path);
  out.model = models::ViM2(out.config.model);
  load_module_state(*out.model, weights, path);
  out.model->to(device);
  out.model->eval();
  return out;
}

}  // namespace mmx::train
