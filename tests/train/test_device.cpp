// Device names (mmx/train/device.h): parsed in one place for the configs, the trainers and the CLI.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "mmx/train/device.h"

namespace mmx::train {
namespace {

std::string error_of(const std::string& name, const std::string& setting) {
  try {
    parse_device(name, setting);
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "";
}

TEST(Device, CpuAndCudaAreTheNames) {
  EXPECT_EQ(parse_device("cpu", "train.device"), torch::Device(torch::kCPU));
  EXPECT_TRUE(is_device_name("cpu"));
  EXPECT_TRUE(is_device_name("cuda"));
  EXPECT_FALSE(is_device_name("gpu"));
  EXPECT_FALSE(is_device_name("CPU"));
  EXPECT_FALSE(is_device_name("cuda:0"));
  EXPECT_EQ(device_names(), (std::vector<std::string>{"cpu", "cuda"}));
  EXPECT_TRUE(is_cuda_device_name("cuda"));
  EXPECT_FALSE(is_cuda_device_name("cpu"));
}

TEST(Device, OtherNamesAreErrorsNamingTheSetting) {
  EXPECT_EQ(error_of("gpu", "train.device"), "train.device = \"gpu\" is not a device; expected \"cpu\" or \"cuda\"");
  EXPECT_EQ(error_of("", "--device"), "--device = \"\" is not a device; expected \"cpu\" or \"cuda\"");
}

TEST(Device, CudaIsDeviceZeroOrAnErrorWithoutADevice) {
  if (torch::cuda::is_available()) {
    EXPECT_EQ(parse_device("cuda", "train.device"), torch::Device(torch::kCUDA, 0));
  } else {
    EXPECT_EQ(error_of("cuda", "train.device"),
              "train.device = \"cuda\" but no CUDA device is available (mmx info shows the build)");
    EXPECT_EQ(error_of("cuda", "--device"),
              "--device = \"cuda\" but no CUDA device is available (mmx info shows the build)");
  }
}

TEST(Device, SettingsProblemsAreTheConfigsMessages) {
  EXPECT_EQ(device_settings_problem("cpu", "fp32"), "");
  EXPECT_EQ(device_settings_problem("cuda", "bf16"), "");
  EXPECT_EQ(device_settings_problem("tpu", "fp32"), "train.device must be \"cpu\" or \"cuda\", got \"tpu\"");
  EXPECT_EQ(device_settings_problem("cpu", "fp16"), "train.precision must be \"fp32\" or \"bf16\", got \"fp16\"");
  EXPECT_EQ(device_settings_problem("cpu", "bf16"), "train.precision = \"bf16\" needs train.device = \"cuda\"");
}

}  // namespace
}  // namespace mmx::train
