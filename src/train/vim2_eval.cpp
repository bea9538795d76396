// Evaluation of a ViM2 classifier (see include/mmx/train/vim2_eval.h).
#include "mmx/train/vim2_eval.h"

#include "mmx/train/autocast.h"

namespace mmx::train {

namespace {

// Sums of one evaluation, kept on the device until the end (no per-batch synchronisation).
struct MetricSums {
  torch::Tensor top1, top5, loss;
  int64_t n = 0;
  void add(const torch::Tensor& logits, const torch::Tensor& labels) {
    TORCH_CHECK(logits.dim() == 2 && labels.dim() == 1 && logits.size(0) == labels.size(0),
                "classification metrics: logits (B, K) and labels (B) expected, got ", logits.sizes(), " and ",
                labels.sizes());
    const auto lf = logits.detach().to(torch::kFloat32);
    const auto lab = labels.to(lf.device(), torch::kLong);
    const int64_t k = std::min<int64_t>(5, lf.size(1));
    const auto idx = std::get<1>(lf.topk(k, 1));
    const auto hit = idx.eq(lab.view({-1, 1}));
    auto t1 = hit.select(1, 0).sum().to(torch::kFloat64);
    auto t5 = hit.any(1).sum().to(torch::kFloat64);
    auto l = torch::nn::functional::cross_entropy(
                 lf, lab, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                 .to(torch::kFloat64);
    if (n == 0) {
      top1 = t1, top5 = t5, loss = l;
    } else {
      top1 += t1, top5 += t5, loss += l;
    }
    n += lf.size(0);
  }
  ClassifyMetrics result() const {
    ClassifyMetrics m;
    m.n = n;
    if (n == 0) return m;
    const double d = static_cast<double>(n);
    m.top1 = 100.0 * top1.item<double>() / d;
    m.top5 = 100.0 * top5.item<double>() / d;
    m.loss = loss.item<double>() / d;
    return m;
  }
};

}  // namespace

ClassifyMetrics classification_metrics(const torch::Tensor& logits, const torch::Tensor& labels) {
  torch::NoGradGuard ng;
  MetricSums s;
  s.add(logits, labels);
  return s.result();
}

ClassifyMetrics evaluate_classifier(models::ViM2Impl& model, data::ImageLoader& loader,
                                    const data::AugmentOptions& augment, torch::Device device,
                                    const std::string& precision, int64_t max_batches) {
  torch::NoGradGuard ng;
  const bool was_training = model.is_training();
  model.eval();
  data::BatchAugment aug(augment, 0);
  const bool bf16 = precision == "bf16" && device.is_cuda();
  MetricSums sums;
  loader.start_epoch(0);
  int64_t b = 0;
  while (max_batches <= 0 || b < max_batches) {
    auto batch = loader.next();
    if (!batch) break;
    ++b;
    const auto x = aug.eval(batch->first.to(device, /*non_blocking=*/true));
    torch::Tensor logits;
    {
      AutocastScope ac(bf16);
      logits = model.forward(x);
    }
    sums.add(logits, batch->second.to(device, /*non_blocking=*/true));
  }
  if (was_training) model.train();
  return sums.result();
}

}  // namespace mmx::train
