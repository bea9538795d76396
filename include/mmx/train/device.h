// The device a run or a command computes on, named as in the configs ([train] device) and on the
// command line (--device): "cpu" or "cuda" (the first CUDA device). Parsed here only.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace mmx::train {

/// The device `name` stands for: "cpu" -> torch::kCPU, "cuda" -> CUDA device 0. `setting` names
/// the option in errors ("train.device", "--device").
/// Errors: c10::Error "<setting> = "<name>" is not a device; expected "cpu" or "cuda"" for any
/// other name, and "<setting> = "cuda" but no CUDA device is available (mmx info shows the
/// build)" when this build or machine has no CUDA device.
torch::Device parse_device(const std::string& name, const std::string& setting = "device");

/// The names parse_device accepts: "cpu", "cuda" (for command-line choices).
const std::vector<std::string>& device_names();
/// True for the names parse_device accepts; nothing is checked about the machine.
bool is_device_name(const std::string& name);
/// True when `name` is "cuda" (a setting that needs a CUDA device, e.g. bf16 or CUDA graphs).
bool is_cuda_device_name(const std::string& name);

/// The problems of a [train] table's device and precision settings, as the configs report them:
/// "" when device is "cpu" or "cuda", precision "fp32" or "bf16", and bf16 goes with cuda; else
/// the first problem ("train.device must be "cpu" or "cuda", got "gpu"", ...).
std::string device_settings_problem(const std::string& device, const std::string& precision);

}  // namespace mmx::train
