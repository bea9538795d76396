// Batched, device-side image augmentation: the timm / DeiT / Swin ImageNet training recipe
// (src/data/images/augment.cpp).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "mmx/data/error.h"

namespace mmx::data {

/// Switches and strengths of BatchAugment. Defaults = the DeiT / Swin / VMamba ImageNet-1K recipe
/// (timm `create_transform`: RandAugment rand-m9-mstd0.5-inc1, Mixup 0.8, CutMix 1.0, random
/// erasing 0.25, label smoothing 0.1), the pipeline the paper follows for its ImageNet results
/// (§6.1: VMamba's setup, i.e. Swin's pipeline). 0 (or false) turns an augmentation off.
struct AugmentOptions {
  int64_t image_size = 224;          ///< S: output side of train() and eval(), pixels
  bool random_resized_crop = true;   ///< RandomResizedCrop(S, scale, ratio)
  double rrc_scale_min = 0.08;       ///< crop area / image area, lower bound
  double rrc_scale_max = 1.0;        ///< crop area / image area, upper bound
  double rrc_ratio_min = 3.0 / 4.0;  ///< crop width / height, lower bound (log-uniform)
  double rrc_ratio_max = 4.0 / 3.0;  ///< crop width / height, upper bound
  /// Interpolation of the random resized crop: "bicubic" (recipe), "bilinear" or "nearest".
  std::string interpolation = "bicubic";
  /// CIFAR-style pad-and-crop: zero-pad by pad_crop pixels on every side, then crop S x S at a
  /// uniformly random offset. Used only when > 0 and random_resized_crop is false.
  int64_t pad_crop = 0;
  double hflip = 0.5;             ///< probability of a horizontal flip
  int64_t randaugment_n = 2;      ///< RandAugment: ops per image (0 = off)
  double randaugment_m = 9.0;     ///< RandAugment magnitude, 0..10 (0 = off)
  double randaugment_mstd = 0.5;  ///< std of the per-op Gaussian noise on the magnitude
  double randaugment_prob = 0.5;  ///< probability that each chosen op is applied (timm: 0.5)
  /// ColorJitter(brightness = contrast = saturation = color_jitter, hue 0). As in timm, applied
  /// only when RandAugment is off (randaugment_n == 0 or randaugment_m == 0).
  double color_jitter = 0.4;
  double random_erasing = 0.25;                      ///< RandomErasing probability (pixel mode, 1 box)
  double mixup_alpha = 0.8;                          ///< Mixup Beta(alpha, alpha) (0 = off)
  double cutmix_alpha = 1.0;                         ///< CutMix Beta(alpha, alpha) (0 = off)
  double mixup_prob = 1.0;                           ///< probability that a batch is mixed at all
  double mixup_switch_prob = 0.5;                    ///< probability of CutMix instead of Mixup when both are on
  double label_smoothing = 0.1;                      ///< target = one_hot * (1 - s) + s / num_classes
  std::vector<double> mean = {0.485, 0.456, 0.406};  ///< per-channel mean on the 0..1 scale
  std::vector<double> std = {0.229, 0.224, 0.225};   ///< per-channel std on the 0..1 scale
  /// eval(): shorter side resized to floor(S / eval_resize_ratio), then centre crop S
  /// (0.875: 224 -> 256), in (0, 1]. 1.0 with inputs already S x S: no resize.
  double eval_resize_ratio = 0.875;
};

/// Batched, device-agnostic image augmentation: every op works on a whole (B, 3, H, W) batch on
/// the batch's device (CUDA tensors stay on the GPU) with per-sample random parameters drawn on the
/// CPU from a torch::Generator seeded with `seed`, so equal seeds and equal call sequences give
/// equal results (bit-equal on the same device). Not thread-safe (one generator).
///
/// train(): [random resized crop | pad-and-crop | resize to S x S] -> horizontal flip -> RandAugment
/// (or colour jitter) -> /255 -> normalize -> random erasing. RandAugment follows timm's
/// "rand-m9-mstd0.5-inc1": each of randaugment_n layers picks, per sample, one of the 15 ops
/// AutoContrast, Equalize, Invert, Rotate (±30°·m/10), Posterize (4 - ⌊4m/10⌋ bits), Solarize
/// (threshold 256 - ⌊256m/10⌋), SolarizeAdd (+⌊110m/10⌋ below 128), Color, Contrast, Brightness,
/// Sharpness (factor 1 ± 0.9m/10), ShearX/Y (±0.3m/10), TranslateX/Y (±0.45m/10 of the size);
/// applies it with probability randaugment_prob; m ~ N(randaugment_m, randaugment_mstd) clipped
/// to [0, 10] per application. The image is kept on the 0..255 scale and rounded after every op
/// (like PIL's uint8). Exact (PIL's integer formulas as lookup tables): AutoContrast, Equalize,
/// Invert, Posterize, Solarize, SolarizeAdd. PIL's formulas in float32 (integer luma
/// (19595 R + 38470 G + 7471 B + 2^15) >> 16, blends truncated and clipped as ImagingBlend; may
/// differ from PIL by one level where float rounding differs): Color, Contrast, Brightness,
/// Sharpness (its 3x3 smoothing result rounded half up, border pixels kept). Approximate: the
/// geometric ops (bilinear grid_sample instead of PIL's resampling; uncovered pixels take the timm
/// mean colour round(255 * mean) = (124, 116, 104), blended at the border).
/// The random resized crop samples its box as torchvision (10 attempts, then a centre crop of
/// clamped ratio) and resamples with grid_sample in `interpolation` mode, without antialiasing.
/// Colour jitter applies brightness, contrast and saturation with factors U[1-j, 1+j] in a random
/// order per sample. Random erasing follows timm (area 2%..1/3, log-ratio 0.3..3.3, 10 attempts,
/// per-pixel N(0, 1) fill in the normalized space).
class BatchAugment {
 public:
  /// Throws DataError for invalid options (image_size < 1, mean/std not 3 values, a std <= 0,
  /// probabilities outside [0, 1], negative alphas, unknown interpolation, label_smoothing
  /// outside [0, 1)).
  BatchAugment(AugmentOptions options, uint64_t seed);

  /// Training transform. In: uint8 (B, 3, H, W) on any device. Out: float32 (B, 3, S, S),
  /// normalized ((x/255 - mean) / std), on the input's device. Inputs smaller than the crop are
  /// upscaled (the crop box lies inside the image; pad-and-crop pads). Throws DataError when the
  /// input is not uint8 (B, 3, H, W).
  torch::Tensor train(const torch::Tensor& u8_bchw);

  /// Evaluation transform: shorter side resized to floor(S / eval_resize_ratio) (bilinear,
  /// antialiased, rounded to uint8 values as PIL), centre crop S x S, /255, normalize. Deterministic, draws no random
  /// numbers. In: uint8 (B, 3, H, W). Out: float32 (B, 3, S, S) on the input's device.
  torch::Tensor eval(const torch::Tensor& u8_bchw);

  /// Mixup / CutMix in timm's batch mode plus label smoothing. In: images float (B, 3, H, W)
  /// (normalized), labels int64 (B) with values in [0, num_classes). With probability mixup_prob
  /// the batch is mixed with its reverse (images.flip(0)): CutMix with probability
  /// mixup_switch_prob when both alphas are > 0 (lam ~ Beta(cutmix_alpha), box of area
  /// (1 - lam) pasted, lam corrected to the exact pasted area), else Mixup (lam ~ Beta(mixup_alpha),
  /// x = lam x + (1 - lam) x_rev). Targets: lam * smooth(y) + (1 - lam) * smooth(y_rev) with
  /// smooth(y) = one_hot(y) * (1 - s) + s / num_classes. With both alphas 0: images unchanged,
  /// only label smoothing. Returns (images, targets float32 (B, num_classes)) on the images'
  /// device; every target row sums to 1. Throws DataError for bad shapes or labels out of range.
  std::pair<torch::Tensor, torch::Tensor> mix(const torch::Tensor& images, const torch::Tensor& labels,
                                              int64_t num_classes);

  const AugmentOptions& options() const { return options_; }

 private:
  AugmentOptions options_;
  torch::Generator gen_;
};

}  // namespace mmx::data
