// Batched, device-agnostic augmentation (timm / Swin ImageNet recipe). Random parameters are drawn
// per sample on the CPU from the augmenter's generator and moved to the batch's device; the
// pixel work runs on the whole batch (or on the subset of samples an op applies to).
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "mmx/data/images/augment.h"
#include "mmx/data/images/image_decode.h"

namespace mmx::data {
namespace {

namespace F = torch::nn::functional;

constexpr double kPi = 3.14159265358979323846;
constexpr double kMaxMagnitude = 10.0;

enum RandOp : int {
  kAutoContrast = 0,
  kEqualize,
  kInvert,
  kRotate,
  kPosterize,
  kSolarize,
  kSolarizeAdd,
  kColor,
  kContrast,
  kBrightness,
  kSharpness,
  kShearX,
  kShearY,
  kTranslateX,
  kTranslateY,
  kNumRandOps
};

bool is_geometric(int op) {
  return op == kRotate || op == kShearX || op == kShearY || op == kTranslateX || op == kTranslateY;
}

std::vector<double> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

std::vector<double> draw_uniform(at::Generator& g, int64_t n) {
  return to_vector(torch::rand({n}, g, torch::TensorOptions().dtype(torch::kDouble)));
}

std::vector<double> draw_normal(at::Generator& g, int64_t n) {
  return to_vector(torch::randn({n}, g, torch::TensorOptions().dtype(torch::kDouble)));
}

// N(0, 1) noise of `shape` on `device`. On CUDA it is drawn there by a fresh generator seeded from
// the CPU generator (no host-to-device copy of the noise; still reproducible for a seed).
torch::Tensor draw_noise(at::Generator& g, at::IntArrayRef shape, const torch::Device& device) {
  const auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  if (device.is_cuda()) {
    const int64_t seed =
        torch::randint(0, std::numeric_limits<int64_t>::max(), {1}, g, torch::TensorOptions().dtype(torch::kInt64))
            .item<int64_t>();
    at::Generator dg = at::detail::getCUDAHooks().getNewGenerator(device.index());
    dg.set_current_seed(static_cast<uint64_t>(seed));
    return torch::randn(shape, dg, opts.device(device));
  }
  return torch::randn(shape, g, opts).to(device);
}

// Beta(a, a) from two standard Gamma(a) draws.
double draw_beta(at::Generator& g, double a) {
  const std::vector<double> gam = to_vector(at::_standard_gamma(torch::full({2}, a, torch::kDouble), g));
  const double s = gam[0] + gam[1];
  return s > 0 ? gam[0] / s : 0.5;
}

// Uniform integer in [lo, hi] (inclusive) from a uniform u in [0, 1).
int64_t uniform_int(double u, int64_t lo, int64_t hi) {
  return std::min(hi, lo + static_cast<int64_t>(std::floor(u * static_cast<double>(hi - lo + 1))));
}

torch::Tensor per_sample(const std::vector<double>& v, const torch::Device& device) {
  return torch::tensor(v, torch::kDouble).to(torch::kFloat32).to(device).view({-1, 1, 1, 1});
}

torch::Tensor index_tensor(const std::vector<int64_t>& idx, const torch::Device& device) {
  return torch::tensor(idx, torch::kInt64).to(device);
}

// PIL's uint8 store of a float result: truncation, clipped to 0..255 (PIL ImagingBlend).
torch::Tensor clip8_trunc(torch::Tensor x) { return x.floor_().clamp_(0, 255); }
// Round half up and clip (resampling results).
torch::Tensor clip8_round(torch::Tensor x) { return x.add_(0.5).floor_().clamp_(0, 255); }

// PIL's "L" conversion of integral RGB values: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.
// Every intermediate is an integer below 2^24, so float32 is exact.
torch::Tensor luma(const torch::Tensor& x) {
  const torch::Tensor s = x.select(1, 0) * 19595 + x.select(1, 1) * 38470 + x.select(1, 2) * 7471 + 32768;
  return s.div(65536).floor_().unsqueeze(1);
}

// PIL Image.blend(degenerate, img, f) = degenerate + f * (img - degenerate), truncated and clipped.
torch::Tensor blend(const torch::Tensor& degenerate, const torch::Tensor& img, const torch::Tensor& f) {
  return clip8_trunc(degenerate + f * (img - degenerate));
}

// Applies a per-channel lookup table: x integral float (n, 3, H, W), lut int64 (n * 3, 256).
torch::Tensor apply_lut(const torch::Tensor& x, const torch::Tensor& lut) {
  const int64_t n = x.size(0);
  const torch::Tensor idx = x.to(torch::kInt64).reshape({n * 3, -1});
  return lut.gather(1, idx).view(x.sizes()).to(x.scalar_type());
}

// PIL ImageOps.autocontrast(cutoff 0): per channel, stretch [lo, hi] to [0, 255] with
// int(i * scale + offset) in double precision.
torch::Tensor auto_contrast(const torch::Tensor& x) {
  const int64_t n = x.size(0);
  const torch::Tensor flat = x.reshape({n * 3, -1}).to(torch::kDouble);
  const torch::Tensor lo = std::get<0>(flat.min(1, true)), hi = std::get<0>(flat.max(1, true));
  const torch::Tensor scale = 255.0 / (hi - lo).clamp_min(1.0);
  const torch::Tensor offset = -lo * scale;
  const torch::Tensor i = torch::arange(256, flat.options()).unsqueeze(0);
  torch::Tensor lut = (i * scale + offset).trunc_().clamp_(0, 255);
  lut = torch::where(hi > lo, lut, i.expand_as(lut));
  return apply_lut(x, lut.to(torch::kInt64));
}

// PIL ImageOps.equalize: per channel, lut[i] = (step / 2 + cumulative count below i) / step with
// step = (pixels - count of the last used level) / 255 (integer divisions); identity when
// step == 0 or a single level is used.
torch::Tensor equalize(const torch::Tensor& x) {
  const int64_t n = x.size(0);
  const torch::Tensor idx = x.to(torch::kInt64).reshape({n * 3, -1});
  torch::Tensor hist = torch::zeros({n * 3, 256}, idx.options());
  hist.scatter_add_(1, idx, torch::ones_like(idx));
  const torch::Tensor last = std::get<0>(idx.max(1, true));
  const torch::Tensor total = hist.sum(1, true);
  const torch::Tensor step = torch::div(total - hist.gather(1, last), 255, "floor");
  const torch::Tensor used = (hist > 0).sum(1, true);
  const torch::Tensor below = hist.cumsum(1) - hist;
  const torch::Tensor i = torch::arange(256, idx.options()).unsqueeze(0).expand_as(hist);
  torch::Tensor lut = torch::div(torch::div(step, 2, "floor") + below, step.clamp_min(1), "floor").clamp_(0, 255);
  lut = torch::where((step > 0) & (used > 1), lut, i);
  return apply_lut(x, lut);
}

// PIL ImageFilter.SMOOTH (3x3 kernel [1 1 1; 1 5 1; 1 1 1] / 13, border pixels unchanged).
torch::Tensor smooth(const torch::Tensor& x) {
  if (x.size(2) < 3 || x.size(3) < 3) return x;
  torch::Tensor k = torch::ones({3, 1, 3, 3}, x.options());
  k.select(2, 1).select(2, 1).fill_(5);
  k.div_(13);
  torch::Tensor out = x.clone();
  out.slice(2, 1, -1).slice(3, 1, -1).copy_(clip8_round(F::conv2d(x, k, F::Conv2dFuncOptions().groups(3))));
  return out;
}

// Resamples x (n, 3, H, W) through per-sample affine maps theta (n * 6 values: output normalized
// coordinates -> input normalized coordinates, align_corners false) to (n, 3, out_h, out_w).
// With `fill` (3 values) uncovered pixels take that colour; else the border is extended.
torch::Tensor affine_resample(const torch::Tensor& x, const std::vector<float>& theta, int64_t out_h, int64_t out_w,
                              const std::string& mode, const std::vector<double>* fill) {
  const int64_t n = x.size(0);
  const torch::Tensor th =
      torch::from_blob(const_cast<float*>(theta.data()), {n, 2, 3}, torch::kFloat32).clone().to(x.device());
  const torch::Tensor grid = F::affine_grid(th, {n, 3, out_h, out_w}, false);
  auto opts = F::GridSampleFuncOptions().align_corners(false);
  if (mode == "bicubic") {
    opts.mode(torch::kBicubic);
  } else if (mode == "nearest") {
    opts.mode(torch::kNearest);
  } else {
    opts.mode(torch::kBilinear);
  }
  torch::Tensor out;
  if (fill != nullptr) {
    const torch::Tensor f = torch::tensor(*fill, torch::kDouble).to(x.options()).view({1, 3, 1, 1});
    out = F::grid_sample(x - f, grid, opts.padding_mode(torch::kZeros)) + f;
  } else {
    out = F::grid_sample(x, grid, opts.padding_mode(torch::kBorder));
  }
  return clip8_round(out);
}

// Runs fn on the samples `idx` of x and writes the result back in place.
void apply_subset(torch::Tensor& x, const std::vector<int64_t>& idx,
                  const std::function<torch::Tensor(const torch::Tensor&)>& fn) {
  if (idx.empty()) return;
  const torch::Tensor it = index_tensor(idx, x.device());
  x.index_copy_(0, it, fn(x.index_select(0, it)));
}

void check_batch(const torch::Tensor& x, const char* what) {
  if (!x.defined() || x.scalar_type() != torch::kUInt8 || x.dim() != 4 || x.size(1) != 3 || x.size(0) < 1 ||
      x.size(2) < 1 || x.size(3) < 1) {
    throw DataError(std::string("BatchAugment::") + what + ": expected a uint8 batch (B, 3, H, W) with B >= 1, got " +
                    (x.defined() ? std::string(c10::toString(x.scalar_type())) + " " + c10::str(x.sizes())
                                 : std::string("an undefined tensor")));
  }
}

// Colour enhancement of PIL ImageEnhance: 0 brightness, 1 contrast, 2 saturation (Color),
// 3 sharpness, with per-sample factors f (n, 1, 1, 1).
torch::Tensor enhance(const torch::Tensor& x, int kind, const torch::Tensor& f) {
  switch (kind) {
    case 0:
      return clip8_trunc(x * f);
    case 1: {
      const torch::Tensor mean = luma(x).mean({1, 2, 3}, true).add_(0.5).floor_();
      return blend(mean.expand_as(x), x, f);
    }
    case 2:
      return blend(luma(x).expand_as(x), x, f);
    default:
      return blend(smooth(x), x, f);
  }
}

}  // namespace

BatchAugment::BatchAugment(AugmentOptions options, uint64_t seed)
    : options_(std::move(options)), gen_(at::make_generator<at::CPUGeneratorImpl>(seed)) {
  const auto& o = options_;
  auto bad = [](const std::string& m) { throw DataError("AugmentOptions: " + m); };
  auto prob = [&](double p, const char* name) {
    if (!(p >= 0.0 && p <= 1.0))
      bad(std::string(name) + " = " + std::to_string(p) + "; expected a probability in [0, 1]");
  };
  if (o.image_size < 1) bad("image_size = " + std::to_string(o.image_size) + "; expected >= 1");
  if (o.mean.size() != 3 || o.std.size() != 3) bad("mean and std must hold 3 values (R, G, B)");
  for (double s : o.std) {
    if (!(s > 0)) bad("std values must be > 0");
  }
  if (o.interpolation != "bicubic" && o.interpolation != "bilinear" && o.interpolation != "nearest") {
    bad("interpolation = '" + o.interpolation + "'; expected bicubic, bilinear or nearest");
  }
  if (!(o.rrc_scale_min > 0 && o.rrc_scale_min <= o.rrc_scale_max && o.rrc_scale_max <= 1.0)) {
    bad("expected 0 < rrc_scale_min <= rrc_scale_max <= 1");
  }
  if (!(o.rrc_ratio_min > 0 && o.rrc_ratio_min <= o.rrc_ratio_max)) bad("expected 0 < rrc_ratio_min <= rrc_ratio_max");
  if (o.pad_crop < 0) bad("pad_crop must be >= 0");
  prob(o.hflip, "hflip");
  prob(o.randaugment_prob, "randaugment_prob");
  prob(o.random_erasing, "random_erasing");
  prob(o.mixup_prob, "mixup_prob");
  prob(o.mixup_switch_prob, "mixup_switch_prob");
  if (o.randaugment_n < 0) bad("randaugment_n must be >= 0");
  if (!(o.randaugment_m >= 0 && o.randaugment_m <= kMaxMagnitude)) bad("randaugment_m must lie in [0, 10]");
  if (!(o.randaugment_mstd >= 0)) bad("randaugment_mstd must be >= 0");
  if (!(o.color_jitter >= 0)) bad("color_jitter must be >= 0");
  if (!(o.mixup_alpha >= 0) || !(o.cutmix_alpha >= 0)) bad("mixup_alpha and cutmix_alpha must be >= 0");
  if (!(o.label_smoothing >= 0 && o.label_smoothing < 1)) bad("label_smoothing must lie in [0, 1)");
  if (!(o.eval_resize_ratio > 0 && o.eval_resize_ratio <= 1)) bad("eval_resize_ratio must lie in (0, 1]");
}

torch::Tensor BatchAugment::train(const torch::Tensor& u8_bchw) {
  check_batch(u8_bchw, "train");
  const auto& o = options_;
  const int64_t b = u8_bchw.size(0), h = u8_bchw.size(2), w = u8_bchw.size(3), s = o.image_size;
  const torch::Device dev = u8_bchw.device();
  torch::Tensor x;

  // 1. Geometry: random resized crop, pad-and-crop, or a plain resize to S x S.
  if (o.random_resized_crop) {
    const std::vector<double> u = draw_uniform(gen_, b * 22);
    const double area = static_cast<double>(h) * w;
    const double lr0 = std::log(o.rrc_ratio_min), lr1 = std::log(o.rrc_ratio_max);
    std::vector<float> theta(b * 6);
    for (int64_t i = 0; i < b; ++i) {
      const double* ui = u.data() + i * 22;
      int64_t ch = 0, cw = 0, top = 0, left = 0;
      bool found = false;
      for (int a = 0; a < 10 && !found; ++a) {
        const double target = area * (o.rrc_scale_min + (o.rrc_scale_max - o.rrc_scale_min) * ui[2 * a]);
        const double aspect = std::exp(lr0 + (lr1 - lr0) * ui[2 * a + 1]);
        cw = std::llround(std::sqrt(target * aspect));
        ch = std::llround(std::sqrt(target / aspect));
        if (cw > 0 && ch > 0 && cw <= w && ch <= h) {
          top = uniform_int(ui[20], 0, h - ch);
          left = uniform_int(ui[21], 0, w - cw);
          found = true;
        }
      }
      if (!found) {
        const double in_ratio = static_cast<double>(w) / h;
        if (in_ratio < o.rrc_ratio_min) {
          cw = w;
          ch = std::llround(cw / o.rrc_ratio_min);
        } else if (in_ratio > o.rrc_ratio_max) {
          ch = h;
          cw = std::llround(ch * o.rrc_ratio_max);
        } else {
          cw = w;
          ch = h;
        }
        top = (h - ch) / 2;
        left = (w - cw) / 2;
      }
      float* t = theta.data() + i * 6;
      t[0] = static_cast<float>(static_cast<double>(cw) / w);
      t[1] = 0.f;
      t[2] = static_cast<float>((2.0 * left + cw) / w - 1.0);
      t[3] = 0.f;
      t[4] = static_cast<float>(static_cast<double>(ch) / h);
      t[5] = static_cast<float>((2.0 * top + ch) / h - 1.0);
    }
    x = affine_resample(u8_bchw.to(torch::kFloat32), theta, s, s, o.interpolation, nullptr);
  } else {
    x = resize_image(u8_bchw, s, s).to(torch::kFloat32);
    if (o.pad_crop > 0) {
      const int64_t p = o.pad_crop;
      const std::vector<double> u = draw_uniform(gen_, b * 2);
      std::vector<int64_t> tops(b), lefts(b);
      for (int64_t i = 0; i < b; ++i) {
        tops[i] = uniform_int(u[2 * i], 0, 2 * p);
        lefts[i] = uniform_int(u[2 * i + 1], 0, 2 * p);
      }
      const torch::Tensor padded = torch::constant_pad_nd(x, {p, p, p, p}, 0);
      const torch::Tensor ar = torch::arange(s, torch::TensorOptions().dtype(torch::kInt64).device(dev));
      const torch::Tensor rows = index_tensor(tops, dev).view({b, 1}) + ar.view({1, s});
      const torch::Tensor cols = index_tensor(lefts, dev).view({b, 1}) + ar.view({1, s});
      const torch::Tensor bi = torch::arange(b, ar.options()).view({b, 1, 1});
      // Channels last, then (B, S, S) index tensors gather (B, S, S, 3).
      x = padded.permute({0, 2, 3, 1})
              .index({bi, rows.view({b, s, 1}), cols.view({b, 1, s})})
              .permute({0, 3, 1, 2})
              .contiguous();
    }
  }

  // 2. Horizontal flip.
  if (o.hflip > 0) {
    const std::vector<double> u = draw_uniform(gen_, b);
    std::vector<int64_t> flip;
    for (int64_t i = 0; i < b; ++i) {
      if (u[i] < o.hflip) flip.push_back(i);
    }
    apply_subset(x, flip, [](const torch::Tensor& t) { return t.flip({3}); });
  }

  // 3. RandAugment, or colour jitter when RandAugment is off.
  const bool rand_augment = o.randaugment_n > 0 && o.randaugment_m > 0;
  if (rand_augment) {
    std::vector<double> fill(3);
    for (int c = 0; c < 3; ++c) fill[c] = std::min(255.0, std::nearbyint(255.0 * o.mean[c]));
    for (int64_t layer = 0; layer < o.randaugment_n; ++layer) {
      const std::vector<double> u = draw_uniform(gen_, b * 3);
      const std::vector<double> z = draw_normal(gen_, b);
      std::vector<int> op(b);
      std::vector<double> level(b);  // signed magnitude / 10
      std::vector<std::vector<int64_t>> members(kNumRandOps);
      for (int64_t i = 0; i < b; ++i) {
        op[i] = static_cast<int>(uniform_int(u[3 * i], 0, kNumRandOps - 1));
        double m = o.randaugment_m + (o.randaugment_mstd > 0 ? o.randaugment_mstd * z[i] : 0.0);
        m = std::clamp(m, 0.0, kMaxMagnitude) / kMaxMagnitude;
        level[i] = u[3 * i + 2] > 0.5 ? -m : m;
        if (u[3 * i + 1] < o.randaugment_prob) members[op[i]].push_back(static_cast<int64_t>(i));
      }
      // Geometric ops: one resampling for all samples that drew one.
      std::vector<int64_t> geo;
      std::vector<float> theta;
      // The images are S x S here, so the normalized coordinates of x and y share one scale.
      for (int64_t i = 0; i < b; ++i) {
        if (!is_geometric(op[i]) || !(u[3 * i + 1] < o.randaugment_prob)) continue;
        geo.push_back(i);
        const double v = level[i];
        double t[6] = {1, 0, 0, 0, 1, 0};
        switch (op[i]) {
          case kRotate: {
            const double a = -v * 30.0 * kPi / 180.0;
            t[0] = std::cos(a);
            t[1] = std::sin(a);
            t[3] = -std::sin(a);
            t[4] = std::cos(a);
            break;
          }
          case kShearX:
            t[1] = 0.3 * v;
            t[2] = 0.3 * v;
            break;
          case kShearY:
            t[3] = 0.3 * v;
            t[5] = 0.3 * v;
            break;
          case kTranslateX:
            t[2] = 2.0 * 0.45 * v;
            break;
          default:
            t[5] = 2.0 * 0.45 * v;
            break;
        }
        for (double e : t) theta.push_back(static_cast<float>(e));
      }
      apply_subset(x, geo, [&](const torch::Tensor& t) { return affine_resample(t, theta, s, s, "bilinear", &fill); });
      auto levels_of = [&](const std::vector<int64_t>& idx) {
        std::vector<double> v;
        for (int64_t i : idx) v.push_back(level[i]);
        return v;
      };
      apply_subset(x, members[kAutoContrast], auto_contrast);
      apply_subset(x, members[kEqualize], equalize);
      apply_subset(x, members[kInvert], [](const torch::Tensor& t) { return 255.0 - t; });
      apply_subset(x, members[kPosterize], [&](const torch::Tensor& t) {
        std::vector<double> q;
        for (double v : levels_of(members[kPosterize]))
          q.push_back(std::ldexp(1.0, 8 - (4 - static_cast<int>(std::fabs(v) * 4))));
        const torch::Tensor qt = per_sample(q, dev);
        return t.div(qt).floor_().mul_(qt).clamp_(0, 255);
      });
      apply_subset(x, members[kSolarize], [&](const torch::Tensor& t) {
        std::vector<double> thr;
        for (double v : levels_of(members[kSolarize])) thr.push_back(256 - static_cast<int>(std::fabs(v) * 256));
        return torch::where(t >= per_sample(thr, dev), 255.0 - t, t);
      });
      apply_subset(x, members[kSolarizeAdd], [&](const torch::Tensor& t) {
        std::vector<double> add;
        for (double v : levels_of(members[kSolarizeAdd])) add.push_back(static_cast<int>(std::fabs(v) * 110));
        return torch::where(t < 128, (t + per_sample(add, dev)).clamp_max_(255), t);
      });
      const int enhance_ops[4] = {kBrightness, kContrast, kColor, kSharpness};
      for (int kind = 0; kind < 4; ++kind) {
        const int opk = enhance_ops[kind];
        apply_subset(x, members[opk], [&](const torch::Tensor& t) {
          std::vector<double> f;
          for (double v : levels_of(members[opk])) f.push_back(1.0 + 0.9 * v);
          return enhance(t, kind, per_sample(f, dev));
        });
      }
    }
  } else if (o.color_jitter > 0) {
    const std::vector<double> u = draw_uniform(gen_, b * 6);
    const double lo = std::max(0.0, 1.0 - o.color_jitter), hi = 1.0 + o.color_jitter;
    for (int pos = 0; pos < 3; ++pos) {
      for (int kind = 0; kind < 3; ++kind) {
        std::vector<int64_t> idx;
        std::vector<double> f;
        for (int64_t i = 0; i < b; ++i) {
          // The order of the three ops: argsort of three uniforms.
          const double* k = u.data() + 6 * i + 3;
          const int rank = (k[kind] > k[(kind + 1) % 3]) + (k[kind] > k[(kind + 2) % 3]);
          if (rank != pos) continue;
          idx.push_back(i);
          f.push_back(lo + (hi - lo) * u[6 * i + kind]);
        }
        apply_subset(x, idx, [&](const torch::Tensor& t) { return enhance(t, kind, per_sample(f, dev)); });
      }
    }
  }

  // 4. To 0..1, normalize.
  const auto fopt = torch::TensorOptions().dtype(torch::kFloat32).device(dev);
  const torch::Tensor mean = torch::tensor(o.mean, torch::kDouble).to(fopt).view({1, 3, 1, 1});
  const torch::Tensor stdv = torch::tensor(o.std, torch::kDouble).to(fopt).view({1, 3, 1, 1});
  x = x.div(255.0).sub_(mean).div_(stdv);

  // 5. Random erasing (timm, pixel mode, one box).
  if (o.random_erasing > 0) {
    const std::vector<double> u = draw_uniform(gen_, b * 23);
    std::vector<int64_t> idx;
    std::vector<int64_t> box;  // top, left, h, w per erased sample
    const double area = static_cast<double>(s) * s;
    const double lr0 = std::log(0.3), lr1 = std::log(1.0 / 0.3);
    for (int64_t i = 0; i < b; ++i) {
      const double* ui = u.data() + i * 23;
      if (!(ui[0] < o.random_erasing)) continue;
      for (int a = 0; a < 10; ++a) {
        const double target = area * (0.02 + (1.0 / 3.0 - 0.02) * ui[1 + 2 * a]);
        const double aspect = std::exp(lr0 + (lr1 - lr0) * ui[2 + 2 * a]);
        const int64_t eh = std::llround(std::sqrt(target * aspect));
        const int64_t ew = std::llround(std::sqrt(target / aspect));
        if (ew < s && eh < s) {
          idx.push_back(i);
          box.insert(box.end(), {uniform_int(ui[21], 0, s - eh), uniform_int(ui[22], 0, s - ew), eh, ew});
          break;
        }
      }
    }
    if (!idx.empty()) {
      const auto n = static_cast<int64_t>(idx.size());
      const torch::Tensor noise = draw_noise(gen_, {n, 3, s, s}, dev);
      const torch::Tensor bx = torch::tensor(box, torch::kInt64).view({n, 4}).to(dev);
      const torch::Tensor ar = torch::arange(s, bx.options());
      const torch::Tensor top = bx.select(1, 0).view({n, 1}), left = bx.select(1, 1).view({n, 1});
      const torch::Tensor rin = (ar.view({1, s}) >= top) & (ar.view({1, s}) < top + bx.select(1, 2).view({n, 1}));
      const torch::Tensor cin = (ar.view({1, s}) >= left) & (ar.view({1, s}) < left + bx.select(1, 3).view({n, 1}));
      const torch::Tensor mask = (rin.view({n, 1, s, 1}) & cin.view({n, 1, 1, s}));
      apply_subset(x, idx, [&](const torch::Tensor& t) { return torch::where(mask, noise, t); });
    }
  }
  return x;
}

torch::Tensor BatchAugment::eval(const torch::Tensor& u8_bchw) {
  check_batch(u8_bchw, "eval");
  const auto& o = options_;
  const int64_t s = o.image_size;
  const auto r = static_cast<int64_t>(std::floor(static_cast<double>(s) / o.eval_resize_ratio + 1e-9));
  const int64_t h = u8_bchw.size(2), w = u8_bchw.size(3);
  int64_t nh = r, nw = r;
  if (h < w) {
    nw = std::max<int64_t>(r, r * w / h);
  } else if (w < h) {
    nh = std::max<int64_t>(r, r * h / w);
  }
  const torch::Tensor resized = resize_image(u8_bchw, nh, nw);
  const auto top = static_cast<int64_t>(std::nearbyint((nh - s) / 2.0));
  const auto left = static_cast<int64_t>(std::nearbyint((nw - s) / 2.0));
  const auto fopt = torch::TensorOptions().dtype(torch::kFloat32).device(u8_bchw.device());
  const torch::Tensor mean = torch::tensor(o.mean, torch::kDouble).to(fopt).view({1, 3, 1, 1});
  const torch::Tensor stdv = torch::tensor(o.std, torch::kDouble).to(fopt).view({1, 3, 1, 1});
  return resized.narrow(2, top, s).narrow(3, left, s).to(torch::kFloat32).div(255.0).sub_(mean).div_(stdv);
}

std::pair<torch::Tensor, torch::Tensor> BatchAugment::mix(const torch::Tensor& images, const torch::Tensor& labels,
                                                          int64_t num_classes) {
  const auto& o = options_;
  if (!images.defined() || images.dim() != 4 || !images.is_floating_point()) {
    throw DataError("BatchAugment::mix: expected float images (B, C, H, W)");
  }
  const int64_t b = images.size(0);
  if (!labels.defined() || labels.dim() != 1 || labels.size(0) != b || labels.scalar_type() != torch::kInt64) {
    throw DataError("BatchAugment::mix: expected int64 labels (B) with B = " + std::to_string(b));
  }
  if (num_classes < 1) throw DataError("BatchAugment::mix: expected num_classes >= 1");
  if (b > 0) {
    const int64_t lo = labels.min().item<int64_t>(), hi = labels.max().item<int64_t>();
    if (lo < 0 || hi >= num_classes) {
      throw DataError("BatchAugment::mix: labels must lie in [0, " + std::to_string(num_classes) + "), got " +
                      std::to_string(lo) + ".." + std::to_string(hi));
    }
  }
  double lam = 1.0;
  bool use_cutmix = false;
  const bool enabled = o.mixup_alpha > 0 || o.cutmix_alpha > 0;
  torch::Tensor x = images;
  if (enabled) {
    const std::vector<double> u = draw_uniform(gen_, 4);
    if (u[0] < o.mixup_prob) {
      if (o.mixup_alpha > 0 && o.cutmix_alpha > 0) {
        use_cutmix = u[1] < o.mixup_switch_prob;
        lam = draw_beta(gen_, use_cutmix ? o.cutmix_alpha : o.mixup_alpha);
      } else if (o.mixup_alpha > 0) {
        lam = draw_beta(gen_, o.mixup_alpha);
      } else {
        use_cutmix = true;
        lam = draw_beta(gen_, o.cutmix_alpha);
      }
    }
    if (lam < 1.0) {
      if (use_cutmix) {
        const int64_t h = images.size(2), w = images.size(3);
        const double ratio = std::sqrt(1.0 - lam);
        const auto cut_h = static_cast<int64_t>(h * ratio), cut_w = static_cast<int64_t>(w * ratio);
        const int64_t cy = uniform_int(u[2], 0, h - 1), cx = uniform_int(u[3], 0, w - 1);
        const int64_t yl = std::clamp<int64_t>(cy - cut_h / 2, 0, h), yh = std::clamp<int64_t>(cy + cut_h / 2, 0, h);
        const int64_t xl = std::clamp<int64_t>(cx - cut_w / 2, 0, w), xh = std::clamp<int64_t>(cx + cut_w / 2, 0, w);
        x = images.clone();
        if (yh > yl && xh > xl) {
          x.slice(2, yl, yh).slice(3, xl, xh).copy_(images.flip({0}).slice(2, yl, yh).slice(3, xl, xh));
        }
        lam = 1.0 - static_cast<double>((yh - yl) * (xh - xl)) / static_cast<double>(h * w);
      } else {
        x = images * lam + images.flip({0}) * (1.0 - lam);
      }
    }
  }
  const double off = o.label_smoothing / static_cast<double>(num_classes);
  const double on = 1.0 - o.label_smoothing + off;
  const auto topt = torch::TensorOptions().dtype(torch::kFloat32).device(images.device());
  const torch::Tensor lab = labels.to(images.device());
  auto smooth_one_hot = [&](const torch::Tensor& y) {
    return torch::full({b, num_classes}, off, topt).scatter_(1, y.view({b, 1}), on);
  };
  torch::Tensor target = smooth_one_hot(lab);
  if (lam < 1.0) target = target * lam + smooth_one_hot(lab.flip({0})) * (1.0 - lam);
  return {x, target};
}

}  // namespace mmx::data
