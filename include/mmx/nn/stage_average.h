// Stage-wise weighted averaging of earlier sub-block outputs (MambaMixer §3.2, confined to a
// stage as in §4.1).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace mmx::nn {

/// Options of StageAverage.
struct StageAverageOptions {
  StageAverageOptions(int64_t n_subblocks = 3) : n_subblocks_(n_subblocks) {}
  /// n, the number of sub-blocks S_1..S_n of the stage.
  TORCH_ARG(int64_t, n_subblocks) = 3;
};

/// Weighted averaging of earlier features (MambaMixer §3.2), confined to one ViM2 stage (§4.1),
/// written for any sequence of sub-blocks (our generalisation: docs/decisions.md, "Stage-wise
/// averaging"): with o_0 = x (stage input) and o_j the output of sub-block j,
///   input(S_k) = (w'_{k,0} + w_{k,0}) x + Σ_{j=1}^{k-1} w_{k,j} o_j,   k = 1..n,
/// k+1 learnable scalars per sub-block (n(n+3)/2 in all; = the 𝓛(2𝓛+3) of §3.3 when n = 2𝓛).
/// Init: w_{k,k-1} = 1, all others 0 (a plain sequential stack; DenseFormer-style init, see
/// docs/decisions.md, "Averaging weights").
///
/// Parameters: w_{k} (k+1) for k = 1..n; entry 0 is w'_{k,0}, entry j+1 is w_{k,j}.
class StageAverageImpl : public torch::nn::Module {
 public:
  /// Throws c10::Error if n_subblocks < 1.
  explicit StageAverageImpl(const StageAverageOptions& options = {});
  void reset();
  /// Input of sub-block k (1-based) from outputs = [o_0, ..., o_{k-1}] (at least k tensors of
  /// one shape). Throws c10::Error if k is outside [1, n] or outputs is too short.
  torch::Tensor input(int64_t k, const std::vector<torch::Tensor>& outputs) const;
  /// n(n+3)/2.
  int64_t num_scalars() const;

  StageAverageOptions options;
  std::vector<torch::Tensor> weights;  ///< index k-1 holds w_{k}
};
TORCH_MODULE(StageAverage);

}  // namespace mmx::nn
