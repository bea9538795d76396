// K stacked S6 parameter sets run as one grouped selective scan (the scan orders of MambaMixer
// §3.2 / §4.1; stacked as in VMamba SS2D).
#pragma once

#include "mmx/nn/s6.h"

#include <torch/torch.h>

#include <cstdint>

namespace mmx::nn {

/// Options of StackedS6.
struct StackedS6Options {
  StackedS6Options(int64_t d_inner = 64, int64_t n_directions = 4) : d_inner_(d_inner), n_directions_(n_directions) {}
  /// E, the channels of one direction.
  TORCH_ARG(int64_t, d_inner) = 64;
  /// K, the number of directions (scan orders), each with its own parameters.
  TORCH_ARG(int64_t, n_directions) = 4;
  TORCH_ARG(int64_t, d_state) = 16;
  /// R of every direction (VMamba: ceil(C / 16) for a token mixer of width C).
  TORCH_ARG(int64_t, dt_rank) = 1;
  /// Initial values of every direction's dt projection, A_log and D (see S6InitOptions).
  TORCH_ARG(S6InitOptions, s6_init) = {};
  /// Rebuild the scan's saved states in the backward instead of keeping them (training memory;
  /// SelectiveScanOptions::recompute_states).
  TORCH_ARG(bool, scan_recompute) = false;
};

/// K independent S6 layers (one parameter set per scan order, as the d-directional token mixer of
/// MambaMixer §3.2) stored stacked so that several directions run as ONE selective-scan call with
/// G = count groups of B/C (the layout of VMamba SS2D).
///
/// Parameters: x_proj_weight (K, R+2N, E), dt_projs_weight (K, E, R), dt_projs_bias (K, E),
/// A_logs (K*E, N), Ds (K*E). Init: x_proj U(+-1/sqrt(E)) (torch Linear default), then
/// init_s6_parameters per direction, as S6 (state-spaces/mamba `Mamba` init).
class StackedS6Impl : public torch::nn::Module {
 public:
  explicit StackedS6Impl(const StackedS6Options& options = {});
  void reset();

  /// Runs directions [first, first+count): u (B, count*E, L), channel block j holding the input
  /// of direction first+j -> (B, count*E, L) in u's dtype. `reverse` scans every sequence from
  /// the last step to the first (equal to flip(scan(flip(u)))). Throws c10::Error on a shape
  /// mismatch or a direction range outside [0, K).
  torch::Tensor forward(const torch::Tensor& u, int64_t first, int64_t count, bool reverse);

  StackedS6Options options;
  torch::Tensor x_proj_weight, dt_projs_weight, dt_projs_bias, A_logs, Ds;
};
TORCH_MODULE(StackedS6);

}  // namespace mmx::nn
