// Device names of configs and command lines (see include/mmx/train/device.h).
#include "mmx/train/device.h"

#include <algorithm>

namespace mmx::train {

const std::vector<std::string>& device_names() {
  static const std::vector<std::string> names{"cpu", "cuda"};
  return names;
}

bool is_device_name(const std::string& name) {
  return std::find(device_names().begin(), device_names().end(), name) != device_names().end();
}

bool is_cuda_device_name(const std::string& name) { return name == "cuda"; }

torch::Device parse_device(const std::string& name, const std::string& setting) {
  TORCH_CHECK(is_device_name(name), setting, " = \"", name, "\" is not a device; expected \"cpu\" or \"cuda\"");
  if (!is_cuda_device_name(name)) return torch::kCPU;
  TORCH_CHECK(torch::cuda::is_available(), setting, " = \"", name,
              "\" but no CUDA device is available (mmx info shows the build)");
  return torch::Device(torch::kCUDA, 0);
}

std::string device_settings_problem(const std::string& device, const std::string& precision) {
  if (!is_device_name(device)) return "train.device must be \"cpu\" or \"cuda\", got \"" + device + "\"";
  if (precision != "fp32" && precision != "bf16")
    return "train.precision must be \"fp32\" or \"bf16\", got \"" + precision + "\"";
  if (precision == "bf16" && !is_cuda_device_name(device))
    return "train.precision = \"bf16\" needs train.device = \"cuda\"";
  return "";
}

}  // namespace mmx::train
