// One TSM2 training step (forward, MSE loss, backward, global-norm clipping, AdamW with the
// weight-decay groups of mmx::train::weight_decay_groups) run eagerly or replayed from a CUDA graph
// (mmx/train/cuda_graph.h).
//
// Graph mode (TrainStepOptions::cuda_graph, CUDA only): the first step fills static device
// buffers with its batch, runs `warmup_iters` eager steps on a side stream (cuBLAS/cuDNN
// workspaces, kernel attributes), restores the parameters and optimizer state, then captures one
// whole step: grads zeroed in place, forward (bf16 autocast with its cast cache off), loss,
// backward accumulating into preallocated grads, clipping with the norm kept on the device, and
// CapturableAdamW whose step count and learning rate are device tensors. Every later step copies
// the window indices (or the batch) into the static buffers, writes the learning rate with a fill
// kernel and replays the graph: no host synchronisation. A batch smaller than batch_size (an
// epoch's last) is padded with copies of its first window carrying weight 0, so the loss and the
// gradients are those of the real windows. The summed loss stays on the device until read.
// If capture fails, the step reports why (fallback_reason) and runs the same body eagerly.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mmx/data/timeseries/windows.h"
#include "mmx/models/tsm2.h"
#include "mmx/train/capturable_adamw.h"
#include "mmx/train/cuda_graph.h"

namespace mmx::train {

/// How TSM2TrainStep trains.
struct TrainStepOptions {
  int64_t batch_size = 128;  ///< graph mode: the static batch (smaller batches are padded)
  double lr = 1e-4;          ///< initial learning rate (step() sets each step's)
  double weight_decay = 0.01;
  double clip_grad = 1.0;   ///< max global grad norm; 0 = off
  bool bf16 = false;        ///< bf16 autocast (CUDA only)
  bool cuda_graph = false;  ///< capture and replay (CUDA only)
  /// The one variate the loss scores (TSLib's "MS" features: all variates in, the target
  /// scored); -1 = every variate.
  int64_t target_channel = -1;
  int64_t warmup_iters = 3;  ///< eager steps on a side stream before capture (undone)
  /// Graph mode only: false runs the graph-mode step (static buffers, padding, CapturableAdamW,
  /// the undone warm-up) without capturing it, on any device (tests of its semantics on the CPU).
  bool capture = true;
};

/// A TSM2 training step, eager or CUDA-graph replayed (see the file comment). Eager mode is the
/// trainer's reference step: torch::optim::AdamW, torch::mse_loss, clip_grad_norm_device. Graph
/// mode uses CapturableAdamW and the padded, window-weighted MSE (equal to the MSE of the real
/// windows). Both accumulate sum(loss * windows) in a float64 device tensor (loss_sum).
class TSM2TrainStep {
 public:
  /// `model` must already live on its training device. Errors: c10::Error for bf16, or
  /// cuda_graph with capture, on a CPU model (or a build without the CUDA kernels), or a
  /// batch_size < 1.
  TSM2TrainStep(models::TSM2 model, const TrainStepOptions& options);
  ~TSM2TrainStep();
  TSM2TrainStep(const TSM2TrainStep&) = delete;
  TSM2TrainStep& operator=(const TSM2TrainStep&) = delete;

  /// Columns: a window holds the model's n_vars variates followed by its n_future future
  /// covariates (MambaMixer §5.5; none by default); the covariates' horizon rows are the model's
  /// z, and only the variates are scored.
  ///
  /// Uploads the rows of `windows`' split of `series` (n_rows, columns), the tensor the windows
  /// were cut from (e.g. ForecastData::scaled), to the model's device once; step(indices, lr) then
  /// gathers windows there (bitwise the tensors of windows.batch(indices)). Errors: c10::Error
  /// when the window shape differs from the model's (seq_len, pred_len, n_vars), or when `series`
  /// is not the windows' series (its first and last windows are compared).
  void bind_windows(const torch::Tensor& series, const data::WindowDataset& windows);
  /// One step on the bound windows `indices` (1..batch_size of them) at learning rate `lr`.
  /// Errors: c10::Error without bind_windows, for an empty or too long list or an index out of
  /// range, or (graph mode) after step(x, y, lr) captured the other input form.
  void step(const std::vector<int64_t>& indices, double lr);
  /// One step on a batch x (n, seq_len, columns), y (n, pred_len, columns), float32, any device,
  /// 1 <= n <= batch_size. Errors: c10::Error for other shapes, or (graph mode) after
  /// step(indices, lr) captured the other input form.
  void step(const torch::Tensor& x, const torch::Tensor& y, double lr);

  /// sum over steps of (batch loss * windows in the batch), float64 0-dim on the device.
  const torch::Tensor& loss_sum() const { return loss_sum_; }
  /// Reads loss_sum to the host (synchronises) and resets it to zero.
  double take_loss_sum();

  /// True once the step is captured and replayed from a graph.
  bool graphed() const { return graph_ != nullptr && !fallback_; }
  /// Why graph mode fell back to eager steps ("" when it did not).
  const std::string& fallback_reason() const { return fallback_reason_; }
  /// Number of steps taken.
  int64_t steps() const { return steps_; }

  /// The torch::optim::AdamW of the eager step; in graph mode a mirror holding the same groups
  /// whose state export_optimizer_state fills (for checkpoints) and import_optimizer_state reads.
  torch::optim::AdamW& optimizer() { return *torch_opt_; }
  /// Graph mode: copies CapturableAdamW's state into optimizer() (synchronises). Eager: no-op.
  void export_optimizer_state();
  /// Graph mode: copies optimizer()'s state into CapturableAdamW. Eager: no-op.
  void import_optimizer_state();

 private:
  void prepare_graph_buffers();
  void load_indices(const std::vector<int64_t>& indices);
  void load_batch(const torch::Tensor& x, const torch::Tensor& y);
  void set_weights(int64_t n);
  void run_eager(const torch::Tensor& x, const torch::Tensor& y, double lr);
  /// The model's forecast of windows x (n, L, columns), y (n, H, columns) and the truth it is
  /// scored against: with future covariates, x's variates in, y's covariate columns as z, y's
  /// variates as truth.
  std::pair<torch::Tensor, torch::Tensor> forward_window(const torch::Tensor& x, const torch::Tensor& y);
  void run_graph(double lr);
  void graph_body();
  void warm_up_and_restore();
  void capture();

  models::TSM2 model_;
  TrainStepOptions options_;
  torch::Device device_;
  int64_t seq_len_ = 0, pred_len_ = 0, n_vars_ = 0;
  /// Columns of a window: the variates, then the model's n_future future covariates (their
  /// horizon rows are the model's z).
  int64_t n_cols_ = 0;
  std::vector<torch::Tensor> params_;
  std::unique_ptr<torch::optim::AdamW> torch_opt_;
  std::unique_ptr<CapturableAdamW> adam_;
  std::vector<torch::Tensor> trained_, grads_;  // graph mode: parameters with grads, their grads

  // Bound windows: the series on the device and the row offsets of a window.
  torch::Tensor series_, window_rows_;
  int64_t rows_begin_ = 0, n_windows_ = 0;

  // Graph-mode static inputs.
  enum class Input { kNone, kIndices, kBatch };
  Input input_ = Input::kNone;
  torch::Tensor starts_, x_, y_, weights_, loss_sum_;
  int64_t weights_n_ = -1;
  std::unique_ptr<CudaGraph> graph_;
  bool fallback_ = false;
  std::string fallback_reason_;
  int64_t steps_ = 0;
};

}  // namespace mmx::train
