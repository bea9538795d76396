// Fuzz target: the image decoder, mmx::data::decode_image_bytes (src/data/images/image_decode.cpp:
// format, size limits, RGB conversion; png_decode.cpp over libpng, jpeg_decode.cpp over
// libjpeg-turbo, both in src/data/images/), then
// resize_shorter_center_crop to 32 px as `mmx classify` does before the model. Input: a whole
// image file. The pixel limit is lowered to 4 M (MMX_MAX_IMAGE_PIXELS; default 2^26): a 1 kB JPEG
// may declare 19 M pixels, seconds of decoding under ASan, which would stall the fuzzer.
#include "fuzz_common.h"

#include "mmx/data/images/image_decode.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("MMX_MAX_IMAGE_PIXELS", "4000000", /*overwrite=*/0);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mmx::fuzz::expect_clean([&] {
    const auto img = mmx::data::decode_image_bytes(std::span<const uint8_t>(data, size), "fuzz.img");
    if (img.dim() != 3 || img.size(0) != 3 || img.size(1) < 1 || img.size(2) < 1)
      mmx::fuzz::finding("decode_image_bytes", "not a (3, H, W) image");
    const auto crop = mmx::data::resize_shorter_center_crop(img, 32);
    if (crop.size(1) != 32 || crop.size(2) != 32) mmx::fuzz::finding("resize_shorter_center_crop", "not 32 x 32");
  });
  return 0;
}
