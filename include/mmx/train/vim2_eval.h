// Evaluation of a ViM2 classifier: top-1 / top-5 accuracy and cross-entropy loss (the ImageNet-1K
// metrics of arXiv 2403.19888 Table 2), summed on the device and read once at the end.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "mmx/data/images/augment.h"
#include "mmx/data/images/image_loader.h"
#include "mmx/models/vim2.h"

namespace mmx::train {

/// Accuracy and loss over a set of images. top1 / top5: percent of images (0..100) whose label is
/// the arg-max / among the 5 largest logits (among all logits when there are fewer than 5
/// classes); loss: mean cross entropy against the hard labels (nats); n: number of images.
struct ClassifyMetrics {
  double top1 = 0, top5 = 0, loss = 0;
  int64_t n = 0;
};

/// Metrics of one batch: logits float (B, K), labels int64 (B) in [0, K).
/// Throws c10::Error on mismatched shapes.
ClassifyMetrics classification_metrics(const torch::Tensor& logits, const torch::Tensor& labels);

/// Evaluates `model` (eval mode, no grad) on the batches of `loader` (from the start of an epoch,
/// in order), each transformed by BatchAugment::eval with `augment`; at most `max_batches`
/// batches (0 = all). precision "bf16" autocasts on CUDA. The model's train/eval mode is restored.
ClassifyMetrics evaluate_classifier(models::ViM2Impl& model, data::ImageLoader& loader,
                                    const data::AugmentOptions& augment, torch::Device device,
                                    const std::string& precision = "fp32", int64_t max_batches = 0);

}  // namespace mmx::train
