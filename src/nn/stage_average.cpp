// Stage-wise weighted averaging of earlier sub-block outputs (MambaMixer §3.2, confined to a
// stage as in §4.1; generalised to any sub-block sequence: docs/decisions.md, "Stage-wise
// averaging").
#include "mmx/nn/stage_average.h"

#include <string>

namespace mmx::nn {

StageAverageImpl::StageAverageImpl(const StageAverageOptions& options_) : options(options_) {
  TORCH_CHECK(options.n_subblocks() >= 1, "StageAverage: n_subblocks must be >= 1, got ", options.n_subblocks());
  reset();
}

void StageAverageImpl::reset() {
  weights.clear();
  for (int64_t k = 1; k <= options.n_subblocks(); ++k) {
    auto w = torch::zeros({k + 1});
    w[k] = 1.0;  // w_{k,k-1} = 1: sub-block k starts by reading its predecessor only
    weights.push_back(register_parameter("w_" + std::to_string(k), w));
  }
}

torch::Tensor StageAverageImpl::input(int64_t k, const std::vector<torch::Tensor>& outputs) const {
  TORCH_CHECK(k >= 1 && k <= options.n_subblocks(), "StageAverage: sub-block ", k, " outside [1, ",
              options.n_subblocks(), "]");
  TORCH_CHECK(static_cast<int64_t>(outputs.size()) >= k, "StageAverage: sub-block ", k, " needs outputs o_0..o_", k - 1,
              ", got ", outputs.size());
  const auto& w = weights[k - 1];
  // Coefficients of o_0..o_{k-1}: the two weights on the stage input are summed.
  auto coeff = torch::cat({(w[0] + w[1]).unsqueeze(0), w.narrow(0, 2, k - 1)});
  // acc += c_j * o_j term by term (addcmul): autograd keeps references to the o_j, which are
  // alive anyway, instead of a stacked copy per sub-block (O(n) memory, not O(n^2)).
  auto acc = coeff[0] * outputs[0];
  for (int64_t j = 1; j < k; ++j) acc = torch::addcmul(acc, outputs[j], coeff[j]);
  return acc;
}

int64_t StageAverageImpl::num_scalars() const {
  const int64_t n = options.n_subblocks();
  return n * (n + 3) / 2;
}

}  // namespace mmx::nn
