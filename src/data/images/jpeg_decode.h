// JPEG decoding to 8-bit RGB with libjpeg-turbo (Debian libjpeg62-turbo-dev), the decoder
// torchvision.io and PIL use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "data/images/png_decode.h"

namespace mmx::data {

/// Bounds on the work one JPEG may ask for, whatever its header says.
struct JpegLimits {
  int max_scans = 500;                  ///< progressive scans (libjpeg-turbo's own advice for untrusted files)
  size_t max_memory = size_t{1} << 32;  ///< bytes of DCT coefficients a progressive file may need
};

/// Decodes a baseline or progressive JPEG held in `bytes` into the buffer `allocate` returns,
/// converting gray and YCbCr to RGB with libjpeg's defaults (islow IDCT, fancy upsampling). A file
/// that ends before its last scan is complete fails ("Premature end of JPEG file") instead of being
/// filled with gray; other corrupt-data warnings are tolerated as PIL and torchvision tolerate
/// them. CMYK and YCCK files fail ("Unsupported color conversion request").
/// libjpeg's reason on failure; `corrupt` is false for an unsupported colour space and the limits.
DecodeStatus decode_jpeg_rgb(std::span<const uint8_t> bytes, const RgbAllocator& allocate, const JpegLimits& limits);

}  // namespace mmx::data
