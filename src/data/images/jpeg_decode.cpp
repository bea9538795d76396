// JPEG decoding with libjpeg-turbo's decompressor.
//
// libjpeg reports errors through error_exit, which here longjmps to the last setjmp. The functions
// holding a setjmp (read_header, read_pixels) keep no object with a destructor and touch no local
// after the jump, so the jump skips nothing; the caller's JpegReader owns the libjpeg state and
// releases it in every case.
#include "data/images/jpeg_decode.h"

#include <cstdio>
// jpeglib.h needs size_t and FILE declared first.
#include <jerror.h>
#include <jpeglib.h>

#include <csetjmp>
#include <string>

namespace mmx::data {
namespace {

struct JpegReader {
  std::span<const uint8_t> bytes;
  jpeg_decompress_struct cinfo{};
  jpeg_error_mgr err{};
  jpeg_progress_mgr progress{};
  std::jmp_buf jump{};
  int max_scans = 0;
  bool created = false;
  bool corrupt = true;
  char message[JMSG_LENGTH_MAX] = "";
  ~JpegReader() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

JpegReader* reader_of(j_common_ptr cinfo) { return static_cast<JpegReader*>(cinfo->client_data); }

[[noreturn]] void fail(j_common_ptr cinfo) {
  JpegReader* r = reader_of(cinfo);
  const int code = cinfo->err->msg_code;
  if (code == JERR_OUT_OF_MEMORY) {
    std::snprintf(r->message, sizeof r->message, "out of memory");
    r->corrupt = false;
  } else {
    (*cinfo->err->format_message)(cinfo, r->message);
    r->corrupt = code != JERR_CONVERSION_NOTIMPL && code != JERR_BAD_J_COLORSPACE;
  }
  std::longjmp(r->jump, 1);
}

// Warnings (level -1) are tolerated except the end of the file before the last scan: libjpeg would
// fill the missing blocks with gray and return an image that is not the file's.
void on_message(j_common_ptr cinfo, int level) {
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) fail(cinfo);
}

// A progressive file may hold thousands of scans, each a pass over the whole image.
void on_progress(j_common_ptr cinfo) {
  JpegReader* r = reader_of(cinfo);
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > r->max_scans) {
    std::snprintf(r->message, sizeof r->message, "the file holds more than %d progressive scans", r->max_scans);
    r->corrupt = false;
    std::longjmp(r->jump, 1);
  }
}

bool read_header(JpegReader& r) {
  if (setjmp(r.jump)) return false;
  // Before jpeg_create_decompress, which keeps it: a library-version mismatch is reported from there.
  r.cinfo.client_data = &r;
  jpeg_create_decompress(&r.cinfo);
  r.created = true;
  jpeg_mem_src(&r.cinfo, r.bytes.data(), static_cast<unsigned long>(r.bytes.size()));
  r.cinfo.progress = &r.progress;
  jpeg_read_header(&r.cinfo, TRUE);
  r.cinfo.out_color_space = JCS_RGB;
  jpeg_calc_output_dimensions(&r.cinfo);
  return true;
}

bool read_pixels(JpegReader& r, uint8_t* out) {
  if (setjmp(r.jump)) return false;
  jpeg_start_decompress(&r.cinfo);
  const size_t stride = static_cast<size_t>(r.cinfo.output_width) * 3;
  while (r.cinfo.output_scanline < r.cinfo.output_height) {
    JSAMPROW row = out + static_cast<size_t>(r.cinfo.output_scanline) * stride;
    jpeg_read_scanlines(&r.cinfo, &row, 1);
  }
  return true;
}

}  // namespace

DecodeStatus decode_jpeg_rgb(std::span<const uint8_t> bytes, const RgbAllocator& allocate, const JpegLimits& limits) {
  JpegReader r;
  r.bytes = bytes;
  r.max_scans = limits.max_scans;
  r.cinfo.err = jpeg_std_error(&r.err);
  r.err.error_exit = fail;
  r.err.emit_message = on_message;
  r.progress.progress_monitor = on_progress;
  if (!read_header(r)) return {r.message, r.corrupt};
  // A progressive file keeps every DCT coefficient of the image until its last scan (libjpeg's
  // whole-image coefficient buffer, padded to whole MCUs); libjpeg-turbo 2.1 has no limit of its own.
  if (r.cinfo.progressive_mode) {
    size_t need = 0;
    for (int c = 0; c < r.cinfo.num_components; ++c) {
      const jpeg_component_info& comp = r.cinfo.comp_info[c];
      const size_t rows = (comp.height_in_blocks + comp.v_samp_factor - 1) / comp.v_samp_factor * comp.v_samp_factor;
      need += static_cast<size_t>(comp.width_in_blocks) * rows * DCTSIZE2 * sizeof(JCOEF);
    }
    if (need > limits.max_memory)
      return {"the progressive file needs " + std::to_string(need) +
                  " bytes for its coefficients, more than the limit of " + std::to_string(limits.max_memory) + " bytes",
              false};
  }
  if (r.cinfo.output_components != 3) return {"the decoder did not produce RGB output", false};
  uint8_t* out = allocate(r.cinfo.output_width, r.cinfo.output_height);
  if (!read_pixels(r, out)) return {r.message, r.corrupt};
  return {};
}

}  // namespace mmx::data
