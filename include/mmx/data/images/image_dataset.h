// An in-memory image classification set (the result of load_cifar10, an input of ImageLoader).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace mmx::data {

/// An in-memory image classification set.
struct ImageDataset {
  torch::Tensor images;              ///< uint8 (N, 3, H, W), RGB, values 0..255, CPU
  torch::Tensor labels;              ///< int64 (N), class indices 0..classes.size()-1, CPU
  std::vector<std::string> classes;  ///< class names; classes[i] is the name of label i
};

}  // namespace mmx::data
