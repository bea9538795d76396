// TSM2 training step, eager or CUDA-graph replayed, and the capturable AdamW
// (see include/mmx/train/graph_step.h).
#include "mmx/train/graph_step.h"

#include <ATen/autocast_mode.h>

#include <cmath>
#include <exception>
#include <mutex>
#include <unordered_set>

#include "mmx/nn/mamba_mixer.h"

#ifdef MMX_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace mmx::train {

namespace {

std::vector<torch::Tensor> defined_only(const std::vector<torch::Tensor>& ts) {
  std::vector<torch::Tensor> out;
  for (const auto& t : ts)
    if (t.defined()) out.push_back(t);
  return out;
}

// bf16 autocast on CUDA for one scope; restores the previous state and drops the cast cache.
// `cache` = false turns the cast cache off (required under graph capture: a cached cast made
// outside the capture would be replayed stale).
class AutocastScope {
 public:
  AutocastScope(bool enable, bool cache) : on_(enable) {
    if (!on_) return;
    was_enabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
    was_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
    was_cache_ = at::autocast::is_autocast_cache_enabled();
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_cache_enabled(cache);
  }
  ~AutocastScope() {
    if (!on_) return;
    at::autocast::set_autocast_enabled(at::kCUDA, was_enabled_);
    at::autocast::set_autocast_dtype(at::kCUDA, was_dtype_);
    at::autocast::set_autocast_cache_enabled(was_cache_);
    at::autocast::clear_cache();
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool on_;
  bool was_enabled_ = false, was_cache_ = true;
  at::ScalarType was_dtype_ = at::kBFloat16;
};

}  // namespace

// -------------------------------------------------------------------------------------------
// Gradient clipping

torch::Tensor clip_grad_norm_device(const std::vector<torch::Tensor>& grads, double max_norm) {
  TORCH_CHECK(max_norm > 0, "clip_grad_norm_device: max_norm must be > 0, got ", max_norm);
  const auto g = defined_only(grads);
  if (g.empty()) return torch::zeros({}, torch::kFloat32);
  for (const auto& t : g)
    TORCH_CHECK(t.device() == g[0].device(), "clip_grad_norm_device: grads on ", g[0].device(),
                " and ", t.device());
  torch::NoGradGuard no_grad;
  const auto norms = at::_foreach_norm(g, 2);
  torch::Tensor total = norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2);
  auto coef = torch::clamp_max(max_norm / (total + 1e-6), 1.0);
  at::_foreach_mul_(g, coef);
  return total;
}

// -------------------------------------------------------------------------------------------
// CapturableAdamW

CapturableAdamW::CapturableAdamW(std::vector<torch::Tensor> decay,
                                 std::vector<torch::Tensor> no_decay,
                                 const CapturableAdamWOptions& options)
    : decay_(std::move(decay)), options_(options) {
  TORCH_CHECK(options.lr >= 0 && options.weight_decay >= 0,
              "CapturableAdamW: lr and weight_decay must be >= 0, got ", options.lr, ", ",
              options.weight_decay);
  params_ = decay_;
  params_.insert(params_.end(), no_decay.begin(), no_decay.end());
  TORCH_CHECK(!params_.empty(), "CapturableAdamW: no parameters");
  const auto dtype = params_[0].scalar_type();
  const auto device = params_[0].device();
  TORCH_CHECK(at::isFloatingType(dtype), "CapturableAdamW: parameters must be floating point, got ",
              dtype);
  torch::NoGradGuard no_grad;
  for (const auto& p : params_) {
    TORCH_CHECK(p.scalar_type() == dtype && p.device() == device,
                "CapturableAdamW: all parameters must share one dtype and device; got ", dtype,
                " on ", device, " and ", p.scalar_type(), " on ", p.device());
    exp_avg_.push_back(torch::zeros_like(p, at::MemoryFormat::Preserve));
    exp_avg_sq_.push_back(torch::zeros_like(p, at::MemoryFormat::Preserve));
  }
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(device);
  step_ = torch::zeros({}, f64);
  lr_ = torch::full({}, options.lr, f64);
}

void CapturableAdamW::set_lr(double lr) {
  torch::NoGradGuard no_grad;
  lr_.fill_(lr);
}

void CapturableAdamW::step() {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  grads.reserve(params_.size());
  for (const auto& p : params_) {
    TORCH_CHECK(p.grad().defined(), "CapturableAdamW::step: a parameter of shape ", p.sizes(),
                " has no gradient");
    grads.push_back(p.grad());
  }
  const auto dtype = params_[0].scalar_type();
  const double b1 = options_.beta1, b2 = options_.beta2;
  step_.add_(1);
  // The scalars of torch::optim::AdamW, in float64 on the device, rounded to the parameters'
  // dtype like the host scalars torch passes to its kernels.
  auto bias1 = torch::rsub(torch::pow(b1, step_), 1.0);
  auto bias2 = torch::rsub(torch::pow(b2, step_), 1.0);
  if (options_.weight_decay != 0 && !decay_.empty())
    at::_foreach_mul_(decay_, torch::rsub(lr_ * options_.weight_decay, 1.0).to(dtype));
  at::_foreach_mul_(exp_avg_, b1);
  at::_foreach_add_(exp_avg_, grads, 1 - b1);
  at::_foreach_mul_(exp_avg_sq_, b2);
  at::_foreach_addcmul_(exp_avg_sq_, grads, grads, 1 - b2);
  auto denom = at::_foreach_sqrt(exp_avg_sq_);
  at::_foreach_div_(denom, bias2.sqrt().to(dtype));
  at::_foreach_add_(denom, options_.eps);
  auto update = at::_foreach_div(exp_avg_, denom);
  at::_foreach_mul_(update, (-lr_ / bias1).to(dtype));
  at::_foreach_add_(params_, update);
}

CapturableAdamW::State CapturableAdamW::snapshot() const {
  torch::NoGradGuard no_grad;
  State s;
  for (const auto& t : exp_avg_) s.exp_avg.push_back(t.clone());
  for (const auto& t : exp_avg_sq_) s.exp_avg_sq.push_back(t.clone());
  s.step = step_.clone();
  s.lr = lr_.clone();
  return s;
}

void CapturableAdamW::restore(const State& state) {
  TORCH_CHECK(state.exp_avg.size() == exp_avg_.size() && state.exp_avg_sq.size() == exp_avg_sq_.size() &&
                  state.step.defined() && state.lr.defined(),
              "CapturableAdamW::restore: a snapshot of another optimizer");
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < exp_avg_.size(); ++i) {
    exp_avg_[i].copy_(state.exp_avg[i]);
    exp_avg_sq_[i].copy_(state.exp_avg_sq[i]);
  }
  step_.copy_(state.step);
  lr_.copy_(state.lr);
}

void CapturableAdamW::export_state(torch::optim::AdamW& optimizer) const {
  torch::NoGradGuard no_grad;
  const auto steps = static_cast<int64_t>(std::llround(step_.item<double>()));
  const double lr = lr_.item<double>();
  std::unordered_set<void*> known;
  for (const auto& g : optimizer.param_groups()) {
    for (const auto& p : g.params()) known.insert(p.unsafeGetTensorImpl());
  }
  auto& state = optimizer.state();
  for (size_t i = 0; i < params_.size(); ++i) {
    void* key = params_[i].unsafeGetTensorImpl();
    TORCH_CHECK(known.count(key), "CapturableAdamW::export_state: a parameter of shape ",
                params_[i].sizes(), " is not in the target optimizer");
    if (steps == 0) {
      state.erase(key);
      continue;
    }
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(steps);
    s->exp_avg(exp_avg_[i].clone());
    s->exp_avg_sq(exp_avg_sq_[i].clone());
    state[key] = std::move(s);
  }
  for (auto& g : optimizer.param_groups())
    static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
}

void CapturableAdamW::import_state(const torch::optim::AdamW& optimizer) {
  torch::NoGradGuard no_grad;
  const auto& state = optimizer.state();
  int64_t steps = -1;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto it = state.find(params_[i].unsafeGetTensorImpl());
    if (it == state.end()) {
      exp_avg_[i].zero_();
      exp_avg_sq_[i].zero_();
      continue;
    }
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    TORCH_CHECK(steps < 0 || steps == s.step(),
                "CapturableAdamW::import_state: parameters were stepped ", steps, " and ",
                s.step(), " times; one shared step count is required");
    steps = s.step();
    TORCH_CHECK(s.exp_avg().sizes() == params_[i].sizes() &&
                    s.exp_avg_sq().sizes() == params_[i].sizes(),
                "CapturableAdamW::import_state: moments of shape ", s.exp_avg().sizes(),
                " for a parameter of shape ", params_[i].sizes());
    exp_avg_[i].copy_(s.exp_avg());
    exp_avg_sq_[i].copy_(s.exp_avg_sq());
  }
  step_.fill_(static_cast<double>(std::max<int64_t>(steps, 0)));
  const auto& groups = optimizer.param_groups();
  if (!groups.empty())
    lr_.fill_(static_cast<const torch::optim::AdamWOptions&>(groups[0].options()).lr());
}

// -------------------------------------------------------------------------------------------
// TSM2TrainStep

#ifdef MMX_WITH_CUDA
namespace {

// at::cuda::CUDAGraph that can back out of a capture which threw midway: ends the stream capture,
// returns the caching allocator to normal allocation for the stream, and clears the capture flag
// of the registered RNG states, so eager steps can run afterwards.
struct AbortableGraph : at::cuda::CUDAGraph {
  void abort_capture() noexcept {
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(capture_stream_.stream(), &status) == cudaSuccess &&
        status != cudaStreamCaptureStatusNone) {
      cudaGraph_t partial = nullptr;
      if (cudaStreamEndCapture(capture_stream_.stream(), &partial) == cudaSuccess && partial)
        cudaGraphDestroy(partial);
    }
    if (capture_dev_ != UNDEFINED_DEVICE && !capture_ended_) {
      try {
        c10::cuda::CUDACachingAllocator::endAllocateToPool(capture_dev_, mempool_id_);
      } catch (const std::exception&) {
      }
    }
    for (auto& entry : captured_generator_states_) entry.first->capturing_ = false;
    (void)cudaGetLastError();
  }
};

}  // namespace

struct TSM2TrainStep::Graph {
  AbortableGraph graph;
};
#else
struct TSM2TrainStep::Graph {};
#endif

TSM2TrainStep::TSM2TrainStep(models::TSM2 model, const TrainStepOptions& options)
    : model_(std::move(model)), options_(options), device_(torch::kCPU) {
  TORCH_CHECK(options.batch_size >= 1, "TSM2TrainStep: batch_size must be >= 1, got ",
              options.batch_size);
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

  const auto groups = nn::split_weight_decay(*model_);
  std::vector<torch::optim::OptimizerParamGroup> pg;
  pg.emplace_back(groups.decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(options.lr).weight_decay(options.weight_decay)));
  pg.emplace_back(groups.no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                       torch::optim::AdamWOptions(options.lr).weight_decay(0.0)));
  torch_opt_ = std::make_unique<torch::optim::AdamW>(std::move(pg), torch::optim::AdamWOptions(options.lr));
  loss_sum_ = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));

  if (!options.cuda_graph) return;
#ifndef MMX_WITH_CUDA
  TORCH_CHECK(!options.capture, "TSM2TrainStep: cuda_graph needs a build with the CUDA kernels");
#endif
  // Which parameters the loss reaches (the eager optimizer skips the others: their grads stay
  // undefined): one probe backward on a zero window.
  for (auto& p : params_) p.mutable_grad() = torch::Tensor();
  {
    auto probe = model_->forward(torch::zeros({1, seq_len_, n_vars_},
                                              torch::TensorOptions().device(device_)));
    probe.sum().backward();
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
  x_ = torch::zeros({B, seq_len_, n_vars_}, f32);
  y_ = torch::zeros({B, pred_len_, n_vars_}, f32);
  starts_ = torch::zeros({B}, torch::TensorOptions().dtype(torch::kLong).device(device_));
  weights_ = torch::ones({B}, f32);
  weights_n_ = B;
}

void TSM2TrainStep::bind_windows(const torch::Tensor& series, const data::WindowDataset& windows) {
  TORCH_CHECK(windows.seq_len() == seq_len_ && windows.pred_len() == pred_len_ &&
                  windows.n_vars() == n_vars_,
              "TSM2TrainStep::bind_windows: windows of (seq_len, pred_len, n_vars) = (",
              windows.seq_len(), ", ", windows.pred_len(), ", ", windows.n_vars(),
              ") for a model of (", seq_len_, ", ", pred_len_, ", ", n_vars_, ")");
  const auto rows = windows.rows();
  TORCH_CHECK(series.dim() == 2 && series.size(1) == n_vars_ && series.size(0) >= rows.end,
              "TSM2TrainStep::bind_windows: series must be (n_rows >= ", rows.end, ", ", n_vars_,
              "), got ", series.sizes());
  // Only the split's rows (no window reads outside them), float32 on the device.
  series_ = series.narrow(0, rows.begin, rows.end - rows.begin)
                .to(torch::kFloat32)
                .contiguous()
                .to(device_);
  rows_begin_ = 0;
  n_windows_ = windows.size();
  window_rows_ = torch::arange(seq_len_ + pred_len_,
                               torch::TensorOptions().dtype(torch::kLong).device(device_));
  // The series must be the one the windows were cut from: compare the first and last window.
  for (const int64_t i : {int64_t{0}, n_windows_ - 1}) {
    const auto b = windows.batch({i});
    const auto w = series_.narrow(0, i, seq_len_ + pred_len_).to(torch::kCPU);
    TORCH_CHECK(torch::equal(w.narrow(0, 0, seq_len_), b.x[0]) &&
                    torch::equal(w.narrow(0, seq_len_, pred_len_), b.y[0]),
                "TSM2TrainStep::bind_windows: window ", i, " of the series differs from the "
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
    TORCH_CHECK(i >= 0 && i < n_windows_, "TSM2TrainStep::step: window index ", i,
                " outside [0, ", n_windows_, ")");
  if (!options_.cuda_graph) {
    std::vector<int64_t> starts(indices.begin(), indices.end());
    for (auto& s : starts) s += rows_begin_;
    auto st = torch::from_blob(starts.data(), {n}, torch::kLong).to(device_, /*non_blocking=*/true);
    auto rows = st.unsqueeze(1) + window_rows_;  // (n, L + H)
    auto x = series_.index_select(0, rows.narrow(1, 0, seq_len_).reshape({-1}))
                 .view({n, seq_len_, n_vars_});
    auto y = series_.index_select(0, rows.narrow(1, seq_len_, pred_len_).reshape({-1}))
                 .view({n, pred_len_, n_vars_});
    run_eager(x, y, lr);
    return;
  }
  TORCH_CHECK(input_ != Input::kBatch, "TSM2TrainStep::step(indices): the graph was captured "
              "for step(x, y)");
  input_ = Input::kIndices;
  load_indices(indices);
  run_graph(lr);
}

void TSM2TrainStep::step(const torch::Tensor& x, const torch::Tensor& y, double lr) {
  TORCH_CHECK(x.dim() == 3 && x.size(1) == seq_len_ && x.size(2) == n_vars_ && x.size(0) >= 1,
              "TSM2TrainStep::step: x must be (n, ", seq_len_, ", ", n_vars_, "), got ", x.sizes());
  TORCH_CHECK(y.dim() == 3 && y.size(0) == x.size(0) && y.size(1) == pred_len_ &&
                  y.size(2) == n_vars_,
              "TSM2TrainStep::step: y must be (", x.size(0), ", ", pred_len_, ", ", n_vars_,
              "), got ", y.sizes());
  if (!options_.cuda_graph) {
    run_eager(x.to(device_, torch::kFloat32, /*non_blocking=*/true),
              y.to(device_, torch::kFloat32, /*non_blocking=*/true), lr);
    return;
  }
  TORCH_CHECK(x.size(0) <= options_.batch_size, "TSM2TrainStep::step: ", x.size(0),
              " windows for a graph of batch_size ", options_.batch_size);
  TORCH_CHECK(input_ != Input::kIndices, "TSM2TrainStep::step(x, y): the graph was captured "
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
    x_.narrow(0, n, B - n).copy_(x_.narrow(0, 0, 1).expand({B - n, seq_len_, n_vars_}));
    y_.narrow(0, n, B - n).copy_(y_.narrow(0, 0, 1).expand({B - n, pred_len_, n_vars_}));
  }
  set_weights(n);
}

void TSM2TrainStep::run_eager(const torch::Tensor& x, const torch::Tensor& y, double lr) {
  for (auto& g : torch_opt_->param_groups())
    static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
  torch::Tensor loss;
  {
    AutocastScope ac(options_.bf16, /*cache=*/true);
    torch::Tensor pred = model_->forward(x).to(torch::kFloat32), truth = y;
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
    x = series_.index_select(0, rows.narrow(1, 0, seq_len_).reshape({-1}))
            .view({B, seq_len_, n_vars_});
    y = series_.index_select(0, rows.narrow(1, seq_len_, pred_len_).reshape({-1}))
            .view({B, pred_len_, n_vars_});
  }
  torch::Tensor pred;
  {
    AutocastScope ac(options_.bf16, /*cache=*/false);
    pred = model_->forward(x);
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
#ifdef MMX_WITH_CUDA
    graph_->graph.replay();
#endif
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
#ifndef MMX_WITH_CUDA
  fallback_ = true;
  fallback_reason_ = "built without the CUDA kernels";
#else
  torch::cuda::synchronize(device_.index());
  // The warm-up's dropout draws are undone too: the first replay uses the generator offset an
  // eager step would (so a resumed run repeats an uninterrupted one).
  auto gen = at::cuda::detail::getDefaultCUDAGenerator(device_.index());
  uint64_t rng_offset = 0;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    rng_offset = gen.get_offset();
  }
  auto side = at::cuda::getStreamFromPool(/*isHighPriority=*/false, device_.index());
  {
    c10::cuda::CUDAStreamGuard guard(side);
    warm_up_and_restore();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_offset(rng_offset);
  }
  side.synchronize();
  c10::cuda::CUDACachingAllocator::emptyCache();
  graph_ = std::make_unique<Graph>();
  try {
    c10::cuda::CUDAStreamGuard guard(side);
    // Dropout and DropPath draw from the default generator: registered so that every replay
    // advances its Philox offset (capture_begin registers it too; this is idempotent).
    graph_->graph.register_generator_state(gen);
    graph_->graph.capture_begin();
    graph_body();
    graph_->graph.capture_end();
  } catch (const std::exception& e) {
    graph_->graph.abort_capture();
    fallback_ = true;
    fallback_reason_ = e.what();
    TORCH_WARN("TSM2TrainStep: CUDA graph capture failed; training steps run eagerly: ",
               fallback_reason_);
  }
  torch::cuda::synchronize(device_.index());
#endif
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
