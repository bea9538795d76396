// PNG / JPEG decoding (stb_image, compiled here) and antialiased bilinear resizing.
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "mmx/data/images.h"

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace mmx::data {
namespace {

std::vector<uint8_t> read_whole_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw DataError(path, 0, "", std::string("cannot open image file: ") + std::strerror(errno));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> guard(f, std::fclose);
  std::vector<uint8_t> bytes;
  uint8_t buf[1 << 16];
  for (;;) {
    const size_t n = std::fread(buf, 1, sizeof(buf), f);
    bytes.insert(bytes.end(), buf, buf + n);
    if (n < sizeof(buf)) {
      if (std::ferror(f)) throw DataError(path, 0, "", std::string("read error: ") + std::strerror(errno));
      break;
    }
  }
  return bytes;
}

void check_u8_rgb(const torch::Tensor& img, const char* what) {
  if (!img.defined() || img.scalar_type() != torch::kUInt8 || (img.dim() != 3 && img.dim() != 4) ||
      img.size(-3) != 3) {
    throw DataError(std::string(what) + ": expected a uint8 tensor (3, H, W) or (B, 3, H, W), got " +
                    (img.defined() ? std::string(c10::toString(img.scalar_type())) + " " + c10::str(img.sizes())
                                   : std::string("an undefined tensor")));
  }
}

}  // namespace

torch::Tensor decode_image(const std::string& path) {
  const std::vector<uint8_t> bytes = read_whole_file(path);
  return decode_image_bytes(bytes, path);
}

torch::Tensor decode_image_bytes(std::span<const uint8_t> bytes, const std::string& name) {
  if (bytes.empty()) throw DataError(name, 0, "", "cannot decode image: the file is empty");
  if (bytes.size() > static_cast<size_t>(INT_MAX))
    throw DataError(name, 0, "", "cannot decode image: the file is larger than 2 GiB");
  int w = 0, h = 0, channels_in_file = 0;
  stbi_uc* pixels = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h,
                                          &channels_in_file, 3);
  if (pixels == nullptr) {
    const std::string reason = stbi_failure_reason() ? stbi_failure_reason() : "unknown decoder error";
    // stb's terse codes for a cut-off file, spelled out.
    const bool cut = reason == "outofdata" || reason == "bad zlib header" || reason == "no IEND";
    throw DataError(name, 0, "", "cannot decode image (expected a PNG or JPEG file): " +
                                     (cut ? "the file is truncated or corrupt (" + reason + ")" : reason));
  }
  std::unique_ptr<stbi_uc, void (*)(void*)> guard(pixels, stbi_image_free);
  // stb gives interleaved HWC RGB; the result is planar CHW.
  return torch::from_blob(pixels, {h, w, 3}, torch::kUInt8).permute({2, 0, 1}).contiguous();
}

torch::Tensor resize_image(const torch::Tensor& img_u8_chw, int64_t out_h, int64_t out_w) {
  check_u8_rgb(img_u8_chw, "resize_image");
  if (out_h < 1 || out_w < 1) {
    throw DataError("resize_image: expected an output size >= 1, got " + std::to_string(out_h) + "x" +
                    std::to_string(out_w));
  }
  const int64_t h = img_u8_chw.size(-2), w = img_u8_chw.size(-1);
  if (h == out_h && w == out_w) return img_u8_chw;
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
  if (short_side < 1) throw DataError("resize_shorter_center_crop: expected short_side >= 1, got " + std::to_string(short_side));
  const int64_t h = img_u8_chw.size(-2), w = img_u8_chw.size(-1);
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
