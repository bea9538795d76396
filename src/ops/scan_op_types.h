// C++ signatures of the dispatcher ops mmx::selective_scan_fwd / _bwd (schemas in
// selective_scan.cpp), for typed calls through c10::Dispatcher.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <tuple>

namespace mmx::detail {

using ScanFwdFn = std::tuple<torch::Tensor, torch::Tensor, torch::Tensor>(
    const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&,
    const torch::Tensor&, const std::optional<torch::Tensor>&, const std::optional<torch::Tensor>&,
    const std::optional<torch::Tensor>&, const std::optional<torch::Tensor>&, bool, bool, bool);
using ScanBwdFn = std::tuple<torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor,
                             torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor>(
    const torch::Tensor&, const std::optional<torch::Tensor>&, const torch::Tensor&,
    const torch::Tensor&, const torch::Tensor&, const torch::Tensor&, const torch::Tensor&,
    const std::optional<torch::Tensor>&, const std::optional<torch::Tensor>&,
    const std::optional<torch::Tensor>&, const std::optional<torch::Tensor>&,
    const torch::Tensor&, bool, bool);

}  // namespace mmx::detail
