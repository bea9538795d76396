// PNG decoding to 8-bit RGB with libpng (Debian libpng-dev), the decoder torchvision.io uses.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>

namespace mmx::data {

/// Called once the header is read and the output size is known; returns the buffer for
/// height * width * 3 bytes (interleaved RGB, rows top to bottom). May throw (a size limit): the
/// decoder's state is released and the exception passes to the caller.
using RgbAllocator = std::function<uint8_t*(int64_t width, int64_t height)>;

/// A decoder's outcome: ok() when the image was decoded; else the decoder's reason, and whether the
/// bytes are corrupt or truncated (false: a valid file this decoder does not support or a limit).
struct DecodeStatus {
  std::string reason;
  bool corrupt = true;
  bool ok() const { return reason.empty(); }
};

/// Decodes a PNG file held in `bytes` into the buffer `allocate` returns. Palette, gray and
/// low-bit-depth images are expanded to RGB, 16-bit samples keep their high byte, an alpha
/// channel or tRNS transparency is dropped (not composited), interlaced images are deinterlaced:
/// the pixel values PIL's `Image.convert("RGB")` gives. No gamma or colour-profile correction.
/// libpng's reason on failure ("IDAT: CRC error", "unexpected end of file").
DecodeStatus decode_png_rgb(std::span<const uint8_t> bytes, const RgbAllocator& allocate);

}  // namespace mmx::data
