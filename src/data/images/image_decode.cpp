// Image files to tensors: format detection, the size limits, the PNG and JPEG decoders
// (data/png_decode.h, data/jpeg_decode.h), and antialiased bilinear resizing.
#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "data/images/jpeg_decode.h"
#include "data/images/png_decode.h"
#include "mmx/core/input_file.h"
#include "mmx/data/images/image_decode.h"

namespace mmx::data {
namespace {

// A positive value of an environment variable, or `fallback` when it is unset.
template <typename T>
T env_limit(const char* var, T fallback, T min_value, const char* expected) {
  const char* v = std::getenv(var);
  if (v == nullptr) return fallback;
  const std::string text(v);
  T out{};
  const auto r = std::from_chars(text.data(), text.data() + text.size(), out);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size() || !(out >= min_value) ||
      !std::isfinite(static_cast<double>(out)))
    throw DataError(std::string(var) + " = \"" + text + "\": expected " + expected);
  return out;
}

// The width and height a PNG or JPEG header declares, read from the bytes (PNG: the IHDR chunk
// that must come first; JPEG: the first start-of-frame marker), so that the limits are checked
// before any decoder runs. Where this walk gives up (padding bytes between JPEG segments), the
// decoder's header reader gives the size, checked again before anything is allocated.
bool declared_size(std::span<const uint8_t> b, int64_t& w, int64_t& h) {
  auto be16 = [&](size_t i) { return (static_cast<int64_t>(b[i]) << 8) | b[i + 1]; };
  auto be32 = [&](size_t i) { return (be16(i) << 16) | be16(i + 2); };
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (b.size() >= 24 && std::equal(kPng, kPng + 8, b.begin()) && std::equal(b.begin() + 12, b.begin() + 16, "IHDR")) {
    w = be32(16);
    h = be32(20);
    return true;
  }
  if (b.size() < 4 || b[0] != 0xFF || b[1] != 0xD8) return false;
  size_t i = 2;
  while (i + 4 <= b.size()) {
    if (b[i] != 0xFF) {  // bytes between segments, which decoders skip (found by fuzz_image)
      ++i;
      continue;
    }
    const uint8_t m = b[i + 1];
    if (m == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    const int64_t len = be16(i + 2);
    const bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (sof) {
      if (i + 9 > b.size()) return false;
      h = be16(i + 5);
      w = be16(i + 7);
      return true;
    }
    if (len < 2) return false;
    i += 2 + static_cast<size_t>(len);
  }
  return false;
}

// Refuses an image size above the pixel or aspect-ratio limit (MMX_MAX_IMAGE_PIXELS,
// MMX_MAX_IMAGE_ASPECT) before its pixels are allocated.
void check_image_size(const std::string& name, int64_t dw, int64_t dh) {
  const ImageLimits lim = image_limits();
  // Header sizes are below 2^32 each, so the product fits in 64 unsigned bits (found by fuzz_image:
  // the signed product of 0xffffffff x 0xffffff1f overflowed).
  const uint64_t px = static_cast<uint64_t>(dw) * static_cast<uint64_t>(dh);
  const std::string size = std::to_string(dw) + "x" + std::to_string(dh);
  if (px > static_cast<uint64_t>(lim.max_pixels))
    throw DataError(name, 0, "",
                    "image is " + size + " = " + std::to_string(px) + " pixels, more than the limit of " +
                        std::to_string(lim.max_pixels) + " pixels; set MMX_MAX_IMAGE_PIXELS=<pixels> to raise it");
  const double aspect = static_cast<double>(std::max(dw, dh)) / static_cast<double>(std::min(dw, dh));
  if (aspect > lim.max_aspect) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "image is %s, an aspect ratio of 1:%.6g beyond the limit of 1:%.6g", size.c_str(),
                  aspect, lim.max_aspect);
    throw DataError(name, 0, "", std::string(buf) + "; set MMX_MAX_IMAGE_ASPECT=<ratio> to raise it");
  }
}

// Refuses an output size above the pixel limit before anything is allocated.
void check_resize_target(const char* what, int64_t out_h, int64_t out_w) {
  const ImageLimits lim = image_limits();
  int64_t px = 0;
  if (__builtin_mul_overflow(out_h, out_w, &px) || px > lim.max_pixels)
    throw DataError(std::string(what) + ": the output size " + std::to_string(out_h) + "x" + std::to_string(out_w) +
                    " exceeds the limit of " + std::to_string(lim.max_pixels) +
                    " pixels per image (raise it with MMX_MAX_IMAGE_PIXELS)");
}

void check_u8_rgb(const torch::Tensor& img, const char* what) {
  if (!img.defined() || img.scalar_type() != torch::kUInt8 || (img.dim() != 3 && img.dim() != 4) || img.size(-3) != 3) {
    throw DataError(std::string(what) + ": expected a uint8 tensor (3, H, W) or (B, 3, H, W), got " +
                    (img.defined() ? std::string(c10::toString(img.scalar_type())) + " " + c10::str(img.sizes())
                                   : std::string("an undefined tensor")));
  }
}

}  // namespace

ImageLimits image_limits() {
  ImageLimits l;
  l.max_pixels = env_limit<int64_t>("MMX_MAX_IMAGE_PIXELS", l.max_pixels, 1, "a positive number of pixels");
  l.max_aspect = env_limit<double>("MMX_MAX_IMAGE_ASPECT", l.max_aspect, 1.0, "a number >= 1");
  return l;
}

torch::Tensor decode_image(const std::string& path) {
  std::string bytes;
  try {
    bytes = read_input_file(path, InputKind::kImage);
  } catch (const InputFileError& e) {
    throw DataError(e.path, 0, "", e.reason);
  }
  return decode_image_bytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
                            path);
}

torch::Tensor decode_image_bytes(std::span<const uint8_t> bytes, const std::string& name) {
  const std::string expected = "cannot decode image (expected a PNG or JPEG file): ";
  if (bytes.empty()) throw DataError(name, 0, "", "cannot decode image: the file is empty");
  if (bytes.size() > static_cast<size_t>(INT_MAX))
    throw DataError(name, 0, "", "cannot decode image: the file is larger than 2 GiB");
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  const bool png = bytes.size() >= 8 && std::equal(kPng, kPng + 8, bytes.begin());
  const bool jpeg = bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
  if (!png && !jpeg)
    throw DataError(name, 0, "",
                    expected + "the file starts with neither the PNG signature nor a JPEG start-of-image marker");
  // The header's size, checked before decoding: a few hundred bytes may claim any size.
  if (int64_t dw = 0, dh = 0; declared_size(bytes, dw, dh) && dw > 0 && dh > 0) check_image_size(name, dw, dh);
  torch::Tensor hwc;
  const RgbAllocator allocate = [&](int64_t w, int64_t h) {
    check_image_size(name, w, h);
    hwc = torch::empty({h, w, 3}, torch::kUInt8);
    return hwc.data_ptr<uint8_t>();
  };
  const ImageLimits lim = image_limits();
  // A progressive JPEG keeps its DCT coefficients: 2 bytes per sample, 6 per pixel for 4:4:4 colour;
  // 8 per pixel plus 64 MiB leaves room for MCU padding and odd sampling factors.
  const JpegLimits jpeg_limits{.max_scans = 500,
                               .max_memory = static_cast<size_t>(lim.max_pixels) * 8 + (size_t{64} << 20)};
  const DecodeStatus st = png ? decode_png_rgb(bytes, allocate) : decode_jpeg_rgb(bytes, allocate, jpeg_limits);
  if (!st.ok())
    throw DataError(name, 0, "",
                    expected + (st.corrupt ? "the file is truncated or corrupt (" + st.reason + ")" : st.reason));
  // The decoders give interleaved HWC RGB; the result is planar CHW.
  return hwc.permute({2, 0, 1}).contiguous();
}

torch::Tensor resize_image(const torch::Tensor& img_u8_chw, int64_t out_h, int64_t out_w) {
  check_u8_rgb(img_u8_chw, "resize_image");
  if (out_h < 1 || out_w < 1) {
    throw DataError("resize_image: expected an output size >= 1, got " + std::to_string(out_h) + "x" +
                    std::to_string(out_w));
  }
  const int64_t h = img_u8_chw.size(-2), w = img_u8_chw.size(-1);
  if (h == out_h && w == out_w) return img_u8_chw;
  check_resize_target("resize_image", out_h, out_w);
  const bool batched = img_u8_chw.dim() == 4;
  torch::Tensor x = (batched ? img_u8_chw : img_u8_chw.unsqueeze(0)).to(torch::kFloat32);
  namespace F = torch::nn::functional;
  x = F::interpolate(x, F::InterpolateFuncOptions()
                            .size(std::vector<int64_t>{out_h, out_w})
                            .mode(torch::kBilinear)
                            .align_corners(false)
                            .antialias(out_h < h || out_w < w));
  x = x.round_().clamp_(0, 255).to(torch::kUInt8);
  return batched ? x : x.squeeze(0);
}

torch::Tensor resize_shorter_center_crop(const torch::Tensor& img_u8_chw, int64_t short_side) {
  check_u8_rgb(img_u8_chw, "resize_shorter_center_crop");
  if (short_side < 1)
    throw DataError("resize_shorter_center_crop: expected short_side >= 1, got " + std::to_string(short_side));
  const int64_t h = img_u8_chw.size(-2), w = img_u8_chw.size(-1);
  if (h < 1 || w < 1)
    throw DataError("resize_shorter_center_crop: expected an image of at least 1x1 pixels, got " + std::to_string(w) +
                    "x" + std::to_string(h));
  // The longer side after the resize, computed in double first: short_side * long may overflow.
  const double long_side = std::floor(static_cast<double>(short_side) * static_cast<double>(std::max(h, w)) /
                                      static_cast<double>(std::min(h, w)));
  if (long_side * static_cast<double>(short_side) > static_cast<double>(image_limits().max_pixels))
    throw DataError("resize_shorter_center_crop: resizing a " + std::to_string(w) + "x" + std::to_string(h) +
                    " image to shorter side " + std::to_string(short_side) + " gives " +
                    std::to_string(static_cast<int64_t>(std::min(long_side, 9e18))) + " x " +
                    std::to_string(short_side) + " pixels, more than the limit of " +
                    std::to_string(image_limits().max_pixels) + " (raise it with MMX_MAX_IMAGE_PIXELS)");
  int64_t nh = short_side, nw = short_side;
  if (h < w) {
    nw = std::max<int64_t>(short_side, short_side * w / h);
  } else if (w < h) {
    nh = std::max<int64_t>(short_side, short_side * h / w);
  }
  torch::Tensor r = resize_image(img_u8_chw, nh, nw);
  // torchvision's centre crop: offsets round((size - crop) / 2), halves to even.
  const auto top = static_cast<int64_t>(std::nearbyint((nh - short_side) / 2.0));
  const auto left = static_cast<int64_t>(std::nearbyint((nw - short_side) / 2.0));
  return r.narrow(-2, top, short_side).narrow(-1, left, short_side).contiguous();
}

}  // namespace mmx::data
