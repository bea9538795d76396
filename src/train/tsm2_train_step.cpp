// TSM2 training step, eager or CUDA-graph replayed (see include/mmx/train/tsm2_train_step.h).
#include "mmx/train/tsm2_train_step.h"

#include <unordered_set>

#include "mmx/train/autocast.h"
#include "mmx/train/grad_clip.h"
#include "mmx/train/param_groups.h"

namespace mmx::train {

TSM2TrainStep::TSM2TrainStep(models::TSM2 model, const TrainStepOptions& options)
    : model_(std::move(model)), options_(options), device_(torch::kCPU) {
  TORCH_CHECK(options.batch_size >= 1, "TSM2TrainStep: batch_size must be >= 1, got ", options.batch_size);
  params_ = model_->parameters();
  TORCH_CHECK(!params_.empty(), "TSM2TrainStep: the model has no parameters");
  device_ = params_[0].device();
  TORCH_CHECK(!options.bf16 || device_.is_cuda(),
              "TSM2TrainStep: bf16 autocast needs the model on a CUDA device, it is on ", device_);
  TORCH_CHECK(!options.cuda_graph || !options.capture || device_.is_cuda(),
              "TSM2TrainStep: cuda_graph needs the model on a CUDA device, it is on ", device_);
  seq_len_ = model_->options.seq_len();
  pred_len_ = model_->options.pred_len();
  n_vars_ = model_->options.n_vars();
  n_cols_ = n_vars_ + model_->options.n_future();

  const auto groups = weight_decay_groups(*model_);
  AdamWGroupOptions eager;
  eager.lr = options.lr;
  eager.weight_decay = options.weight_decay;
  torch_opt_ = make_adamw(groups, eager);
  loss_sum_ = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));

  if (!options.cuda_graph) return;
  TORCH_CHECK(!options.capture || CudaGraph::available(),
              "TSM2TrainStep: cuda_graph needs a build with the CUDA kernels");
  // Which parameters the loss reaches (the eager optimizer skips the others: their grads stay
  // undefined): one probe backward on a zero window.
  for (auto& p : params_) p.mutable_grad() = torch::Tensor();
  {
    const auto on = torch::TensorOptions().device(device_);
    auto probe = forward_window(torch::zeros({1, seq_len_, n_cols_}, on), torch::zeros({1, pred_len_, n_cols_}, on));
    probe.first.sum().backward();
  }
  std::unordered_set<void*> reached;
  {
    torch::NoGradGuard no_grad;
    for (auto& p : params_) {
      if (!p.grad().defined()) continue;
      reached.insert(p.unsafeGetTensorImpl());
      p.mutable_grad() = torch::zeros_like(p, at::MemoryFormat::Contiguous);
      trained_.push_back(p);
      grads_.push_back(p.grad());
    }
  }
  auto keep = [&](const std::vector<torch::Tensor>& v) {
    std::vector<torch::Tensor> out;
    for (const auto& p : v)
      if (reached.count(p.unsafeGetTensorImpl())) out.push_back(p);
    return out;
  };
  CapturableAdamWOptions ao;
  ao.lr = options.lr;
  ao.weight_decay = options.weight_decay;
  adam_ = std::make_unique<CapturableAdamW>(keep(groups.decay), keep(groups.no_decay), ao);
  prepare_graph_buffers();
}

TSM2TrainStep::~TSM2TrainStep() = default;

void TSM2TrainStep::prepare_graph_buffers() {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device_);
  const int64_t B = options_.batch_size;
  x_ = torch::zeros({B, seq_len_, n_cols_}, f32);
  y_ = torch::zeros({B, pred_len_, n_cols_}, f32);
  starts_ = torch::zeros({B}, torch::TensorOptions().dtype(torch::kLong).device(device_));
  weights_ = torch::ones({B}, f32);
  weights_n_ = B;
}

void TSM2TrainStep::bind_windows(const torch::Tensor& series, const data::WindowDataset& windows) {
  TORCH_CHECK(windows.seq_len() == seq_len_ && windows.pred_len() == pred_len_ && windows.n_vars() == n_cols_,
              "TSM2TrainStep::bind_windows: windows of (seq_len, pred_len, columns) = (", windows.seq_len(), ", ",
              windows.pred_len(), ", ", windows.n_vars(), ") for a model of (", seq_len_, ", ", pred_len_, ", ",
              n_vars_, " variates + ", n_cols_ - n_vars_, " future covariates)");
  const auto rows = windows.rows();
  TORCH_CHECK(series.dim() == 2 && series.size(1) == n_cols_ && series.size(0) >= rows.end,
              "TSM2TrainStep::bind_windows: series must be (n_rows >= ", rows.end, ", ", n_cols_, "), got ",
              series.sizes());
  // Only the split's rows (no window reads outside them), float32 on the device.
  series_ = series.narrow(0, rows.begin, rows.end - rows.begin).to(torch::kFloat32).contiguous().to(device_);
  rows_begin_ = 0;
  n_windows_ = windows.size();
  window_rows_ = torch::arange(seq_len_ + pred_len_, torch::TensorOptions().dtype(torch::kLong).device(device_));
  // The series must be the one the windows were cut from: compare the first and last window.
  for (const int64_t i : {int64_t{0}, n_windows_ - 1}) {
    const auto b = windows.batch({i});
    const auto w = series_.narrow(0, i, seq_len_ + pred_len_).to(torch::kCPU);
    TORCH_CHECK(
        torch::equal(w.narrow(0, 0, seq_len_), b.x[0]) && torch::equal(w.narrow(0, seq_len_, pred_len_), b.y[0]),
        "TSM2TrainStep::bind_windows: window ", i,
        " of the series differs from the "
        "dataset's (pass the series the WindowDataset was built from)");
  }
}

void TSM2TrainStep::step(const std::vector<int64_t>& indices, double lr) {
  TORCH_CHECK(series_.defined(), "TSM2TrainStep::step(indices): call bind_windows first");
  const int64_t n = static_cast<int64_t>(indices.size());
  TORCH_CHECK(n >= 1, "TSM2TrainStep::step: empty batch");
  TORCH_CHECK(!options_.cuda_graph || n <= options_.batch_size, "TSM2TrainStep::step: ", n,
              " windows for a graph of batch_size ", options_.batch_size);
  for (const auto i : indices)
    TORCH_CHECK(i >= 0 && i < n_windows_, "TSM2TrainStep::step: window index ", i, " outside [0, ", n_windows_, ")");
  if (!options_.cuda_graph) {
    std::vector<int64_t> starts(indices.begin(), indices.end());
    for (auto& s : starts) s += rows_begin_;
    auto st = torch::from_blob(starts.data(), {n}, torch::kLong).to(device_, /*non_blocking=*/true);
    auto rows = st.unsqueeze(1) + window_rows_;  // (n, L + H)
    auto x = series_.index_select(0, rows.narrow(1, 0, seq_len_).reshape({-1})).view({n, seq_len_, n_cols_});
    auto y = series_.index_select(0, rows.narrow(1, seq_len_, pred_len_).reshape({-1})).view({n, pred_len_, n_cols_});
    run_eager(x, y, lr);
    return;
  }
  TORCH_CHECK(input_ != Input::kBatch,
              "TSM2TrainStep::step(indices): the graph was captured "
              "for step(x, y)");
  input_ = Input::kIndices;
  load_indices(indices);
  run_graph(lr);
}

void TSM2TrainStep::step(const torch::Tensor& x, const torch::Tensor& y, double lr) {
  TORCH_CHECK(x.dim() == 3 && x.size(1) == seq_len_ && x.size(2) == n_cols_ && x.size(0) >= 1,
              "TSM2TrainStep::step: x must be (n, ", seq_len_, ", ", n_cols_, "), got ", x.sizes());
  TORCH_CHECK(y.dim() == 3 && y.size(0) == x.size(0) && y.size(1) == pred_len_ && y.size(2) == n_cols_,
              "TSM2TrainStep::step: y must be (", x.size(0), ", ", pred_len_, ", ", n_cols_, "), got ", y.sizes());
  if (!options_.cuda_graph) {
    run_eager(x.to(device_, torch::kFloat32, /*non_blocking=*/true),
              y.to(device_, torch::kFloat32, /*non_blocking=*/true), lr);
    return;
  }
  TORCH_CHECK(x.size(0) <= options_.batch_size, "TSM2TrainStep::step: ", x.size(0),
              " windows for a graph of batch_size ", options_.batch_size);
  TORCH_CHECK(input_ != Input::kIndices,
              "TSM2TrainStep::step(x, y): the graph was captured "
              "for step(indices)");
  input_ = Input::kBatch;
  load_batch(x, y);
  run_graph(lr);
}

void TSM2TrainStep::set_weights(int64_t n) {
  if (n == weights_n_) return;
  torch::NoGradGuard no_grad;
  const int64_t B = options_.batch_size;
  weights_.narrow(0, 0, n).fill_(1.0);
  if (n < B) weights_.narrow(0, n, B - n).fill_(0.0);
  weights_n_ = n;
}

void TSM2TrainStep::load_indices(const std::vector<int64_t>& indices) {
  const int64_t B = options_.batch_size;
  const int64_t n = static_cast<int64_t>(indices.size());
  std::vector<int64_t> starts(static_cast<size_t>(B));
  for (int64_t i = 0; i < B; ++i)
    starts[static_cast<size_t>(i)] = rows_begin_ + indices[static_cast<size_t>(i < n ? i : 0)];
  torch::NoGradGuard no_grad;
  // A pageable host source: cudaMemcpyAsync returns once the bytes are staged, ordered on the
  // stream before the replay that reads them.
  starts_.copy_(torch::from_blob(starts.data(), {B}, torch::kLong), /*non_blocking=*/true);
  set_weights(n);
}

void TSM2TrainStep::load_batch(const torch::Tensor& x, const torch::Tensor& y) {
  const int64_t B = options_.batch_size;
  const int64_t n = x.size(0);
  torch::NoGradGuard no_grad;
  x_.narrow(0, 0, n).copy_(x, /*non_blocking=*/true);
  y_.narrow(0, 0, n).copy_(y, /*non_blocking=*/true);
  if (n < B) {
    x_.narrow(0, n, B - n).copy_(x_.narrow(0, 0, 1).expand({B - n, seq_len_, n_cols_}));
    y_.narrow(0, n, B - n).copy_(y_.narrow(0, 0, 1).expand({B - n, pred_len_, n_cols_}));
  }
  set_weights(n);
}

std::pair<torch::Tensor, torch::Tensor> TSM2TrainStep::forward_window(const torch::Tensor& x, const torch::Tensor& y) {
  if (n_cols_ == n_vars_) return {model_->forward(x), y};
  const int64_t cz = n_cols_ - n_vars_;
  return {model_->forward(x.narrow(2, 0, n_vars_), y.narrow(2, n_vars_, cz)), y.narrow(2, 0, n_vars_)};
}

void TSM2TrainStep::run_eager(const torch::Tensor& x, const torch::Tensor& y, double lr) {
  for (auto& g : torch_opt_->param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
  torch::Tensor loss;
  {
    AutocastScope ac(options_.bf16, /*cache=*/true);
    auto [pred, truth] = forward_window(x, y);
    pred = pred.to(torch::kFloat32);
    if (options_.target_channel >= 0) {
      pred = pred.narrow(-1, options_.target_channel, 1);
      truth = truth.narrow(-1, options_.target_channel, 1);
    }
    loss = torch::mse_loss(pred, truth);
  }
  torch_opt_->zero_grad();
  loss.backward();
  if (options_.clip_grad > 0) {
    std::vector<torch::Tensor> grads;
    for (const auto& p : params_) grads.push_back(p.grad());
    clip_grad_norm_device(grads, options_.clip_grad);
  }
  torch_opt_->step();
  {
    torch::NoGradGuard no_grad;
    loss_sum_.add_(loss.detach().to(torch::kFloat64) * static_cast<double>(x.size(0)));
  }
  ++steps_;
}

void TSM2TrainStep::graph_body() {
  {
    torch::NoGradGuard no_grad;
    at::_foreach_zero_(grads_);
  }
  torch::Tensor x = x_, y = y_;
  if (input_ == Input::kIndices) {
    const int64_t B = options_.batch_size;
    auto rows = starts_.unsqueeze(1) + window_rows_;
    x = series_.index_select(0, rows.narrow(1, 0, seq_len_).reshape({-1})).view({B, seq_len_, n_cols_});
    y = series_.index_select(0, rows.narrow(1, seq_len_, pred_len_).reshape({-1})).view({B, pred_len_, n_cols_});
  }
  torch::Tensor pred;
  {
    AutocastScope ac(options_.bf16, /*cache=*/false);
    std::tie(pred, y) = forward_window(x, y);
  }
  if (options_.target_channel >= 0) {
    pred = pred.narrow(-1, options_.target_channel, 1);
    y = y.narrow(-1, options_.target_channel, 1);
  }
  // Window-weighted MSE: with weights 1 (real) and 0 (padding), the MSE of the real windows.
  auto per_window = (pred.to(torch::kFloat32) - y).square().mean({1, 2});
  auto n = weights_.sum();
  auto loss = (per_window * weights_).sum() / n;
  loss.backward();
  torch::NoGradGuard no_grad;
  if (options_.clip_grad > 0) clip_grad_norm_device(grads_, options_.clip_grad);
  adam_->step();
  loss_sum_.add_(loss.detach().to(torch::kFloat64) * n.to(torch::kFloat64));
}

void TSM2TrainStep::run_graph(double lr) {
  adam_->set_lr(lr);
  if (!graph_ && !fallback_) capture();
  if (graphed()) {
    graph_->replay();
  } else {
    graph_body();
  }
  ++steps_;
}

void TSM2TrainStep::warm_up_and_restore() {
  // Snapshot what the warm-up steps change; they are undone afterwards.
  std::vector<torch::Tensor> saved_params, saved_buffers;
  const auto buffers = model_->buffers();
  {
    torch::NoGradGuard no_grad;
    for (const auto& p : trained_) saved_params.push_back(p.detach().clone());
    for (const auto& b : buffers) saved_buffers.push_back(b.defined() ? b.clone() : b);
  }
  const auto saved_adam = adam_->snapshot();
  for (int64_t i = 0; i < options_.warmup_iters; ++i) graph_body();
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < trained_.size(); ++i) trained_[i].detach().copy_(saved_params[i]);
  for (size_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].defined()) buffers[i].copy_(saved_buffers[i]);
  adam_->restore(saved_adam);
  loss_sum_.zero_();
}

void TSM2TrainStep::capture() {
  if (!options_.capture) {
    warm_up_and_restore();
    fallback_ = true;
    fallback_reason_ = "capture disabled (TrainStepOptions::capture = false)";
    return;
  }
  if (!CudaGraph::available()) {
    fallback_ = true;
    fallback_reason_ = "built without the CUDA kernels";
    return;
  }
  auto graph = std::make_unique<CudaGraph>();
  const std::string failure = graph->capture(
      device_, [this] { warm_up_and_restore(); }, [this] { graph_body(); });
  graph_ = std::move(graph);
  if (!failure.empty()) {
    fallback_ = true;
    fallback_reason_ = failure;
    TORCH_WARN("TSM2TrainStep: CUDA graph capture failed; training steps run eagerly: ", fallback_reason_);
  }
}

double TSM2TrainStep::take_loss_sum() {
  const double v = loss_sum_.item<double>();
  torch::NoGradGuard no_grad;
  loss_sum_.zero_();
  return v;
}

void TSM2TrainStep::export_optimizer_state() {
  if (adam_) adam_->export_state(*torch_opt_);
}

void TSM2TrainStep::import_optimizer_state() {
  if (adam_) adam_->import_state(*torch_opt_);
}

}  // namespace mmx::train
