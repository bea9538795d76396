// Evaluation of a TSM2 forecaster (see include/mmx/train/tsm2_eval.h).
#include "mmx/train/tsm2_eval.h"

namespace mmx::train {

EvalMetrics evaluate(models::TSM2& model, const data::WindowDataset& windows, int64_t batch_size, torch::Device device,
                     const data::StandardScaler* scaler, int64_t target_channel) {
  torch::NoGradGuard ng;
  const bool was_training = model->is_training();
  model->eval();
  // With future covariates the windows hold the model's variates, then its n_future covariates:
  // the covariates' horizon rows are z, and only the variates are scored.
  const int64_t V = model->options.n_vars(), CZ = model->options.n_future();
  TORCH_CHECK(windows.n_vars() == V + CZ, "evaluate: windows of ", windows.n_vars(), " columns for a model of ", V,
              " variates and ", CZ, " future covariates");
  const int64_t H = windows.pred_len(), M = target_channel >= 0 ? 1 : V;
  data::StandardScaler variates;  // the scaler of the variate columns
  if (scaler) variates = {scaler->mean.narrow(0, 0, V), scaler->std.narrow(0, 0, V)};
  auto se = torch::zeros({H}, torch::kFloat64), ae = torch::zeros({H}, torch::kFloat64);
  double se_o = 0, ae_o = 0;
  EvalMetrics m;
  m.windows = data::for_each_batch(windows, batch_size, [&](const data::WindowBatch& b) {
    auto pred = (CZ > 0 ? model->forward(b.x.narrow(2, 0, V).to(device), b.y.narrow(2, V, CZ).to(device))
                        : model->forward(b.x.to(device)))
                    .to(torch::kCPU, torch::kFloat64);
    auto y = b.y.narrow(2, 0, V).to(torch::kFloat64);
    if (target_channel >= 0) {
      // Metrics and original units of the target alone (a scaler of that one column).
      pred = pred.narrow(-1, target_channel, 1);
      y = y.narrow(-1, target_channel, 1);
    }
    auto d = pred - y;
    se += d.pow(2).sum(at::IntArrayRef{0, 2});
    ae += d.abs().sum(at::IntArrayRef{0, 2});
    if (scaler) {
      auto dd = target_channel >= 0 ? (pred - y) * scaler->std.narrow(0, target_channel, 1)
                                    : variates.inverse_transform(pred) - variates.inverse_transform(y);
      se_o += dd.pow(2).sum().item<double>();
      ae_o += dd.abs().sum().item<double>();
    }
  });
  const double per_step = static_cast<double>(m.windows * M);
  m.mse = se.sum().item<double>() / (per_step * H);
  m.mae = ae.sum().item<double>() / (per_step * H);
  for (int64_t h = 0; h < H; ++h) {
    m.mse_per_step.push_back(se[h].item<double>() / per_step);
    m.mae_per_step.push_back(ae[h].item<double>() / per_step);
  }
  if (scaler) {
    m.mse_orig = se_o / (per_step * H);
    m.mae_orig = ae_o / (per_step * H);
  }
  if (was_training) model->train();
  return m;
}

}  // namespace mmx::train
