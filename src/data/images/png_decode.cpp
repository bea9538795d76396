// PNG decoding with libpng's progressive-free reader (png_read_info / png_read_row).
//
// libpng reports errors by longjmp to the last setjmp. The functions holding a setjmp
// (read_header, read_rows) keep no object with a destructor and touch no local after the jump, so
// the jump skips nothing; the caller's PngReader owns the libpng state and releases it in every case.
#include "data/images/png_decode.h"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>

namespace mmx::data {
namespace {

struct PngReader {
  std::span<const uint8_t> bytes;
  size_t pos = 0;
  int passes = 1;
  char message[256] = "";
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngReader() {
    if (png != nullptr) png_destroy_read_struct(&png, info != nullptr ? &info : nullptr, nullptr);
  }
};

[[noreturn]] void on_error(png_structp png, png_const_charp msg) {
  auto* r = static_cast<PngReader*>(png_get_error_ptr(png));
  std::snprintf(r->message, sizeof r->message, "%s", msg);
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}  // ancillary-chunk problems: the image still decodes

void on_read(png_structp png, png_bytep out, size_t n) {
  auto* r = static_cast<PngReader*>(png_get_io_ptr(png));
  if (n > r->bytes.size() - r->pos) png_error(png, "unexpected end of file");
  std::memcpy(out, r->bytes.data() + r->pos, n);
  r->pos += n;
}

bool read_header(PngReader& r, png_uint_32& width, png_uint_32& height) {
  if (setjmp(png_jmpbuf(r.png))) return false;
  png_read_info(r.png, r.info);
  const int color = png_get_color_type(r.png, r.info);
  const int depth = png_get_bit_depth(r.png, r.info);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(r.png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(r.png);
  if (depth == 16) png_set_strip_16(r.png);
  if ((color & PNG_COLOR_MASK_ALPHA) != 0) png_set_strip_alpha(r.png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(r.png);
  r.passes = png_set_interlace_handling(r.png);
  png_read_update_info(r.png, r.info);
  width = png_get_image_width(r.png, r.info);
  height = png_get_image_height(r.png, r.info);
  if (png_get_rowbytes(r.png, r.info) != static_cast<size_t>(width) * 3)
    png_error(r.png, "the RGB conversion gave an unexpected row size");
  return true;
}

bool read_rows(PngReader& r, uint8_t* out, png_uint_32 width, png_uint_32 height) {
  if (setjmp(png_jmpbuf(r.png))) return false;
  for (int pass = 0; pass < r.passes; ++pass)
    for (png_uint_32 y = 0; y < height; ++y) png_read_row(r.png, out + static_cast<size_t>(y) * width * 3, nullptr);
  return true;
}

}  // namespace

DecodeStatus decode_png_rgb(std::span<const uint8_t> bytes, const RgbAllocator& allocate) {
  PngReader r;
  r.bytes = bytes;
  r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, on_error, on_warning);
  if (r.png == nullptr) return {"libpng could not start (out of memory)", false};
  r.info = png_create_info_struct(r.png);
  if (r.info == nullptr) return {"libpng could not start (out of memory)", false};
  // The caller bounds the size (pixels and aspect ratio); libpng's own 1,000,000-pixel side limit
  // would refuse some images the caller accepts.
  png_set_user_limits(r.png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
  png_set_read_fn(r.png, &r, on_read);
  png_uint_32 width = 0, height = 0;
  if (!read_header(r, width, height)) return {r.message};
  uint8_t* out = allocate(width, height);
  if (!read_rows(r, out, width, height)) return {r.message};
  return {};
}

}  // namespace mmx::data
