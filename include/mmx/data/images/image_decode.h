// Decoding PNG and JPEG files to RGB tensors, the size limits on them, and resizing
// (src/data/images/image_decode.cpp).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <span>
#include <string>

#include "mmx/data/error.h"

namespace mmx::data {

/// Decodes a PNG or JPEG file (recognised by content, not by extension) with libpng or
/// libjpeg-turbo, the decoders of torchvision.io and PIL. Returns uint8 (3, H, W), RGB, on the CPU.
/// Grayscale (and grayscale+alpha) images are expanded to three equal channels; the alpha channel
/// of RGBA / GA images and tRNS transparency are dropped (not composited over a background), as
/// PIL's convert("RGB") does; 16-bit PNGs are reduced to 8 bits by keeping the high byte (v >> 8);
/// palette and interlaced PNGs are expanded. Baseline, progressive (at most 500 scans) and
/// arithmetic-coded JPEGs are supported; CMYK and YCCK JPEGs are not. A JPEG that ends before its
/// last scan is refused rather than filled with gray. Thread-safe (no global decoder state). The file is read with
/// mmx::read_input_file (a regular file of at most input_limit(InputKind::kImage) bytes, 256 MiB
/// by default) and its header is checked against image_limits() before any pixel is decoded.
/// Throws DataError (field `file` = path) when the file is missing, not a regular file (directory,
/// FIFO, device), too large, cannot be read, is empty, is not a PNG/JPEG, is corrupt/truncated, or
/// its header declares more pixels or a more extreme aspect ratio than image_limits() allows; the
/// message names the file and gives the decoder's reason or the size and the limit.
torch::Tensor decode_image(const std::string& path);

/// decode_image for bytes held in memory (the file's whole content); `name` stands for the file in
/// error messages (DataError field `file`). decode_image(path) reads the file and calls this.
torch::Tensor decode_image_bytes(std::span<const uint8_t> bytes, const std::string& name);

/// Bounds on the images decode_image accepts and on the sizes the resize functions produce, so
/// that a file of a few hundred bytes whose header claims a huge or extremely thin image cannot
/// allocate gigabytes.
struct ImageLimits {
  /// Largest width * height of a decoded image and of a resize result (per image): 64 Mpx =
  /// 67,108,864 pixels (192 MiB as uint8 RGB). Environment: MMX_MAX_IMAGE_PIXELS.
  int64_t max_pixels = int64_t{1} << 26;
  /// Largest ratio of the longer to the shorter side of a decoded image: 64 (e.g. 64 x 4096).
  /// Environment: MMX_MAX_IMAGE_ASPECT.
  double max_aspect = 64.0;
};

/// The defaults of ImageLimits, each replaced by its environment variable when that is set
/// (MMX_MAX_IMAGE_PIXELS: a positive integer; MMX_MAX_IMAGE_ASPECT: a number >= 1).
/// Throws DataError naming the variable when it is set to anything else.
ImageLimits image_limits();

/// Resizes uint8 (3, H, W) (or a batch uint8 (B, 3, H, W)) to (3, out_h, out_w) (resp.
/// (B, 3, out_h, out_w)) with bilinear interpolation (half-pixel centres, align_corners false),
/// antialiased when downscaling (torch interpolate antialias=true, as PIL / torchvision), rounded
/// to the nearest integer and clamped to 0..255. Returns uint8 on the input's device; the input
/// itself (not a copy) when the size is unchanged.
/// Throws DataError when the input is not uint8 with 3 channels, out_h, out_w < 1, or
/// out_h * out_w exceeds image_limits().max_pixels.
torch::Tensor resize_image(const torch::Tensor& img_u8_chw, int64_t out_h, int64_t out_w);

/// The eval-style resize of one image (or a batch): shorter side to `short_side` (aspect ratio
/// kept, longer side = floor(short_side * long / short) as torchvision's Resize), then a centre
/// crop `short_side` x `short_side` (offsets round((size - crop) / 2) as torchvision). Images
/// smaller than short_side are upscaled. Returns uint8 (3, short_side, short_side) (resp.
/// (B, 3, ...)). This is what ImageLoader does to every ImageFolder image. Throws DataError as
/// resize_image, also when the intermediate resized image (short_side x longer side) would exceed
/// image_limits().max_pixels (checked before anything is allocated).
torch::Tensor resize_shorter_center_crop(const torch::Tensor& img_u8_chw, int64_t short_side);

}  // namespace mmx::data
