// Image decoding (src/data/images/image_decode.cpp, png_decode.cpp, jpeg_decode.cpp) on the inputs
// fuzz/fuzz_image.cpp found while stb_image decoded them (docs/fuzzing.md, findings 2-11), and the
// bounds of the libjpeg-turbo path: progressive scan count, coefficient memory, truncation.
#include "data/data_test_util.h"
#include "data/images/jpeg_decode.h"
#include "mmx/data/error.h"
#include "mmx/data/images/image_decode.h"

#include <gtest/gtest.h>

#include <jpeglib.h>
#include <cstdio>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>
namespace mmx::data {
namespace {

void append(std::vector<uint8_t>* v, void* data, int size) {
  v->insert(v->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
}

std::vector<uint8_t> small_png() {
  std::vector<uint8_t> px(8 * 8 * 3);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 37 % 256);
  std::vector<uint8_t> out;
  stbi_write_png_to_func(
      [](void* ctx, void* data, int size) { append(static_cast<std::vector<uint8_t>*>(ctx), data, size); }, &out, 8, 8,
      3, px.data(), 8 * 3);
  return out;
}

std::vector<uint8_t> small_jpeg() {
  std::vector<uint8_t> px(16 * 16 * 3);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 37 % 256);
  std::vector<uint8_t> out;
  stbi_write_jpg_to_func(
      [](void* ctx, void* data, int size) { append(static_cast<std::vector<uint8_t>*>(ctx), data, size); }, &out, 16,
      16, 3, px.data(), 90);
  return out;
}

size_t find_marker(const std::vector<uint8_t>& b, uint8_t marker) {
  for (size_t i = 0; i + 1 < b.size(); ++i)
    if (b[i] == 0xFF && b[i + 1] == marker) return i;
  return std::string::npos;
}

const std::string kCorrupt =
    "t.jpg: cannot decode image (expected a PNG or JPEG file): the file is truncated or corrupt (";

std::string decode_error(const std::vector<uint8_t>& b, const std::string& name = "t.jpg") {
  try {
    decode_image_bytes(b, name);
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

// A w x h RGB JPEG written by libjpeg, progressive (jpeg_simple_progression: 10 scans) or baseline.
std::vector<uint8_t> libjpeg_file(int w, int h, bool progressive) {
  jpeg_compress_struct c{};
  jpeg_error_mgr err{};
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* out = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &out, &size);
  c.image_width = static_cast<JDIMENSION>(w);
  c.image_height = static_cast<JDIMENSION>(h);
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 90, TRUE);
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  std::vector<uint8_t> row(static_cast<size_t>(w) * 3);
  while (c.next_scanline < c.image_height) {
    for (size_t i = 0; i < row.size(); ++i) row[i] = static_cast<uint8_t>((i * 7 + c.next_scanline * 13) % 256);
    JSAMPROW r = row.data();
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  std::vector<uint8_t> bytes(out, out + size);
  jpeg_destroy_compress(&c);
  std::free(out);
  return bytes;
}

TEST(ImageFuzzInputs, OversizedHuffmanTablesAreRefused) {
  // fuzz_image, minimised (finding 2): SOI, DHT of length 256, class 0 table 0, code counts
  // 255 + 15; stb_image 2.27 wrote past its tables. libjpeg-turbo stops at the end of the file.
  const std::vector<uint8_t> b{0xFF, 0xD8, 0xFF, 0xC4, 0x01, 0x00, 0x00, 0xFF, 0x0F};
  // libjpeg's wording differs between versions (2.1: "Premature end of JPEG file", 3.0 on the GPU
  // machine: "Bogus Huffman table definition"), so the reason itself is not compared.
  EXPECT_EQ(decode_error(b).rfind(kCorrupt, 0), 0u) << decode_error(b);
  // A real file whose first table declares 15 lengths of 16 codes and one of 17 = 257 codes.
  std::vector<uint8_t> j = small_jpeg();
  EXPECT_EQ(decode_image_bytes(j, "t.jpg").sizes().vec(), (std::vector<int64_t>{3, 16, 16}));
  const size_t dht = find_marker(j, 0xC4);
  ASSERT_NE(dht, std::string::npos);
  for (size_t k = 0; k < 16; ++k) j[dht + 5 + k] = 16;
  j[dht + 20] = 17;
  EXPECT_NE(decode_error(j).find("the file is truncated or corrupt (Bogus Huffman table definition)"),
            std::string::npos)
      << decode_error(j);
}

TEST(ImageFuzzInputs, FfC4InsideAQuantisationTableIsNotAMarker) {
  // A DQT whose values read FF C4, then what would be a DHT of 16 x 32 codes: skipped by length.
  std::vector<uint8_t> b = small_jpeg();
  const size_t dqt = find_marker(b, 0xDB);
  ASSERT_NE(dqt, std::string::npos);
  const std::vector<uint8_t> values{0xFF, 0xC4, 0x00, 0x40, 0x00, 32, 32, 32, 32, 32, 32,
                                    32,   32,   32,   32,   32,   32, 32, 32, 32, 32};
  std::copy(values.begin(), values.end(), b.begin() + static_cast<std::ptrdiff_t>(dqt + 5));
  EXPECT_EQ(decode_image_bytes(b, "t.jpg").sizes().vec(), (std::vector<int64_t>{3, 16, 16}));
}

TEST(ImageFuzzInputs, InconsistentProgressiveScansAreRefused) {
  // fuzz_image (finding 11, found by the CI fuzz step): a progressive JPEG whose refinement scans
  // do not follow their first scans; stb_image 2.27 failed an assertion (abort) in its Huffman
  // decoder. libjpeg-turbo checks the scan parameters.
  std::ifstream f(testing::fixture("fuzz_image_finding_11.jpg"), std::ios::binary);
  const std::vector<uint8_t> b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_EQ(b.size(), 702u);
  EXPECT_EQ(decode_error(b),
            "t.jpg: cannot decode image (expected a PNG or JPEG file): the file is truncated or corrupt "
            "(Invalid progressive parameters Ss=0 Se=0 Ah=13 Al=11)");
}

TEST(ImageFuzzInputs, PngChunkLengthBeyondTheFileIsTruncation) {
  // fuzz_image (finding 4): a PNG whose IDAT chunk declares 1162757217 bytes; stb_image allocated
  // them before reading. libpng streams IDAT data and stops at the end of the file. The first
  // IDAT of stb_image_write's files is at byte 33.
  std::vector<uint8_t> b = small_png();
  ASSERT_EQ(std::string(b.begin() + 37, b.begin() + 41), "IDAT");
  const std::vector<uint8_t> cut(b.begin(), b.begin() + 41 + 5);
  EXPECT_EQ(decode_error(cut, "t.png"),
            "t.png: cannot decode image (expected a PNG or JPEG file): the file is truncated "
            "or corrupt (unexpected end of file)");
  b[33] = 0x45, b[34] = 0x4E, b[35] = 0x44, b[36] = 0x61;
  EXPECT_EQ(decode_error(b, "t.png"),
            "t.png: cannot decode image (expected a PNG or JPEG file): the file is truncated "
            "or corrupt (unexpected end of file)");
}

TEST(ImageFuzzInputs, EmptyIdatChunkAndBytesAfterIendStillDecode) {
  // fuzz_image (finding 8): an empty first IDAT chunk (valid PNG) and bytes after IEND decode to
  // the same pixels as the plain file.
  const std::vector<uint8_t> b = small_png();
  const torch::Tensor expected = decode_image_bytes(b, "t.png");
  std::vector<uint8_t> empty_idat(b.begin(), b.begin() + 33);
  for (uint8_t v : std::vector<uint8_t>{0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x35, 0xAF, 0x06, 0x1E})
    empty_idat.push_back(v);
  empty_idat.insert(empty_idat.end(), b.begin() + 33, b.end());
  EXPECT_TRUE(decode_image_bytes(empty_idat, "t.png").equal(expected));
  std::vector<uint8_t> trailing = b;
  for (uint8_t v : std::vector<uint8_t>{0xFF, 0xFF, 0xFF, 0xFF, 'j', 'u', 'n', 'k'}) trailing.push_back(v);
  EXPECT_TRUE(decode_image_bytes(trailing, "t.png").equal(expected));
}

TEST(JpegDecode, ProgressiveScanAndMemoryLimits) {
  const std::vector<uint8_t> prog = libjpeg_file(40, 24, /*progressive=*/true);
  const std::vector<uint8_t> base = libjpeg_file(40, 24, /*progressive=*/false);
  std::vector<uint8_t> buf;
  const RgbAllocator allocate = [&](int64_t w, int64_t h) {
    buf.assign(static_cast<size_t>(w * h * 3), 0);
    return buf.data();
  };
  // The same quantised coefficients whichever the scan order: equal pixels.
  ASSERT_TRUE(decode_jpeg_rgb(prog, allocate, {}).ok());
  const std::vector<uint8_t> from_prog = buf;
  ASSERT_TRUE(decode_jpeg_rgb(base, allocate, {}).ok());
  EXPECT_EQ(from_prog, buf);
  // jpeg_simple_progression writes 10 scans for YCbCr.
  EXPECT_TRUE(decode_jpeg_rgb(prog, allocate, {.max_scans = 10}).ok());
  const DecodeStatus scans = decode_jpeg_rgb(prog, allocate, {.max_scans = 9});
  EXPECT_EQ(scans.reason, "the file holds more than 9 progressive scans");
  EXPECT_FALSE(scans.corrupt);
  // A progressive file keeps all coefficients, 128 bytes per 8x8 block: with 4:2:0 sampling
  // (libjpeg's default) 5 x 4 luma blocks (3 rows padded to the MCU's 2) and 3 x 2 for each
  // chroma plane = 32 blocks = 4096 bytes. A baseline file needs no such buffer.
  EXPECT_TRUE(decode_jpeg_rgb(prog, allocate, {.max_memory = 4096}).ok());
  const DecodeStatus mem = decode_jpeg_rgb(prog, allocate, {.max_memory = 4095});
  EXPECT_EQ(mem.reason,
            "the progressive file needs 4096 bytes for its coefficients, more than the limit of 4095 bytes");
  EXPECT_FALSE(mem.corrupt);
  EXPECT_TRUE(decode_jpeg_rgb(base, allocate, {.max_memory = 1}).ok());
}

TEST(JpegDecode, TruncatedScanIsAnErrorNotGrayPixels) {
  // libjpeg fills the blocks after the end of the file with gray; the decoder refuses instead.
  const std::vector<uint8_t> b = libjpeg_file(64, 64, /*progressive=*/false);
  const std::vector<uint8_t> cut(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(b.size() * 3 / 4));
  // 2.1: "Premature end of JPEG file"; 3.0: "Corrupt JPEG data: premature end of data segment".
  const std::string msg = decode_error(cut);
  EXPECT_EQ(msg.rfind(kCorrupt, 0), 0u) << msg;
  EXPECT_NE(msg.find("remature end of"), std::string::npos) << msg;
}

TEST(DecodeImage, NeitherPngNorJpegIsNamed) {
  EXPECT_EQ(decode_error(std::vector<uint8_t>{'G', 'I', 'F', '8', '9', 'a', 0, 0}, "x.gif"),
            "x.gif: cannot decode image (expected a PNG or JPEG file): the file starts with neither the PNG signature "
            "nor a JPEG start-of-image marker");
}

TEST(ImageFuzzInputs, JpegSizeBehindPaddingBytesIsCheckedAgainstTheLimit) {
  // fuzz_image, minimised (finding 5): SOI, APP0, one padding byte, then a progressive SOF of
  // 51209x11015 (564 M pixels); stb_image allocated 1.1 GB for it before the size was checked.
  const std::vector<uint8_t> b{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x28, 0x28, 0x28, 0x28, 0x28, 0x28, 0x28,
                               0x28, 0x28, 0x28, 0x28, 0x28, 0x28, 0x28, 0x28, 0xff, 0xc2, 0x00, 0x11, 0x08,
                               0x2b, 0x07, 0xc8, 0x09, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11};
  const std::string msg = decode_error(b);
  EXPECT_NE(msg.find("image is 51209x11015 = 564067135 pixels, more than the limit"), std::string::npos) << msg;
}

TEST(ImageFuzzInputs, PngHeaderSizeProductBeyondInt64IsRefusedByTheLimit) {
  // fuzz_image (finding 7): IHDR of 0xffffffff x 0xffffff1f (the product overflowed int64_t).
  std::vector<uint8_t> b{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
  for (uint8_t v : {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 8, 6, 0, 0, 0}) b.push_back(v);
  const std::string msg = decode_error(b);
  EXPECT_NE(msg.find("image is 4294967295x4294967071 = 18446743103046942945 pixels, more than the limit"),
            std::string::npos)
      << msg;
}

}  // namespace
}  // namespace mmx::data
