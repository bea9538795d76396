// Image decoding inputs found by fuzz/fuzz_image.cpp and the checks in front of stb_image
// (src/data/image_guard.h): the fuzzer's 9-byte JPEG that overflowed stb_image's Huffman tables, a
// table of 257 codes in a real file, files whose other segments or scan data hold FF C4 bytes that
// are not a DHT marker; a PNG chunk length beyond the file (stb_image allocated it), an empty IDAT
// chunk (accepted), a JPEG size behind padding bytes that escaped the pixel limit, and a PNG header
// whose size product overflowed a signed 64-bit integer.
#include "data/image_guard.h"
#include "mmx/data/images.h"

#include <gtest/gtest.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>

#include <cstdint>
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
  stbi_write_png_to_func([](void* ctx, void* data, int size) { append(static_cast<std::vector<uint8_t>*>(ctx), data, size); },
                         &out, 8, 8, 3, px.data(), 8 * 3);
  return out;
}

std::vector<uint8_t> small_jpeg() {
  std::vector<uint8_t> px(16 * 16 * 3);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 37 % 256);
  std::vector<uint8_t> out;
  stbi_write_jpg_to_func([](void* ctx, void* data, int size) { append(static_cast<std::vector<uint8_t>*>(ctx), data, size); },
                         &out, 16, 16, 3, px.data(), 90);
  return out;
}

size_t find_marker(const std::vector<uint8_t>& b, uint8_t marker) {
  for (size_t i = 0; i + 1 < b.size(); ++i)
    if (b[i] == 0xFF && b[i + 1] == marker) return i;
  return std::string::npos;
}

std::string decode_error(const std::vector<uint8_t>& b) {
  try {
    decode_image_bytes(b, "t.jpg");
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

TEST(JpegCheck, FuzzerInputWithA270CodeTableIsRefusedBeforeStb) {
  // fuzz_image, minimised: SOI, DHT of length 256, class 0 table 0, code counts 255 + 15 (the
  // remaining counts lie past the end and read as 0). stb_image 2.27 wrote past its tables.
  const std::vector<uint8_t> b{0xFF, 0xD8, 0xFF, 0xC4, 0x01, 0x00, 0x00, 0xFF, 0x0F};
  EXPECT_EQ(jpeg_huffman_table_problem(b),
            "a Huffman table (DHT segment at byte 2) declares 270 codes, more than 256");
  const std::string msg = decode_error(b);
  EXPECT_NE(msg.find("t.jpg"), std::string::npos) << msg;
  EXPECT_NE(msg.find("the file is truncated or corrupt (a Huffman table (DHT segment at byte 2) declares 270 codes"),
            std::string::npos)
      << msg;
}

TEST(JpegCheck, ValidFileDecodesAnd257CodesAreRefused) {
  std::vector<uint8_t> b = small_jpeg();
  EXPECT_EQ(jpeg_huffman_table_problem(b), "");
  EXPECT_EQ(decode_image_bytes(b, "t.jpg").sizes().vec(), (std::vector<int64_t>{3, 16, 16}));
  const size_t dht = find_marker(b, 0xC4);
  ASSERT_NE(dht, std::string::npos);
  // Counts at dht + 5 .. dht + 20: 15 lengths of 16 codes and one of 17 = 257.
  for (size_t k = 0; k < 16; ++k) b[dht + 5 + k] = 16;
  b[dht + 20] = 17;
  EXPECT_EQ(jpeg_huffman_table_problem(b), "a Huffman table (DHT segment at byte " + std::to_string(dht) +
                                               ") declares 257 codes, more than 256");
  EXPECT_NE(decode_error(b).find("declares 257 codes"), std::string::npos);
}

TEST(JpegCheck, FfC4InsideAQuantisationTableIsNotAMarker) {
  // A DQT whose values read FF C4, then what would be a DHT of 16 x 32 codes: skipped by length.
  std::vector<uint8_t> b = small_jpeg();
  const size_t dqt = find_marker(b, 0xDB);
  ASSERT_NE(dqt, std::string::npos);
  const std::vector<uint8_t> values{0xFF, 0xC4, 0x00, 0x40, 0x00, 32, 32, 32, 32, 32, 32, 32, 32,
                                    32,   32,   32,   32,   32,   32, 32, 32};
  std::copy(values.begin(), values.end(), b.begin() + static_cast<std::ptrdiff_t>(dqt + 5));
  EXPECT_EQ(jpeg_huffman_table_problem(b), "");
  EXPECT_EQ(decode_image_bytes(b, "t.jpg").sizes().vec(), (std::vector<int64_t>{3, 16, 16}));
}

TEST(JpegCheck, FfC4InScanDataIsChecked) {
  // Valid scan data never holds FF C4 (an FF is followed by 00 or a restart marker); where it does,
  // it is checked as the DHT marker stb_image would take it for.
  std::vector<uint8_t> b = small_jpeg();
  const size_t sos = find_marker(b, 0xDA);
  ASSERT_NE(sos, std::string::npos);
  const size_t data = sos + 2 + (size_t{b[sos + 2]} << 8 | b[sos + 3]);
  std::vector<uint8_t> fake{0xFF, 0xC4, 0x00, 0x13, 0x00, 0xFF, 0xFF};  // then 14 zero counts
  fake.resize(fake.size() + 14, 0);
  b.insert(b.begin() + static_cast<std::ptrdiff_t>(data + 3), fake.begin(), fake.end());
  EXPECT_EQ(jpeg_huffman_table_problem(b), "a Huffman table (DHT segment at byte " + std::to_string(data + 3) +
                                               ") declares 510 codes, more than 256");
  EXPECT_EQ(jpeg_huffman_table_problem(std::vector<uint8_t>{0x89, 'P', 'N', 'G'}), "");
}

TEST(ImageFuzzInputs, PngChunkLengthBeyondTheFileIsRefusedBeforeStbAllocatesIt) {
  // fuzz_image: a 154-byte PNG whose IDAT chunk declares 1162757217 bytes; stb_image allocated
  // them (1.16 GB) before reading. The first IDAT of stb_image_write's files is at byte 33.
  std::vector<uint8_t> b = small_png();
  ASSERT_EQ(std::string(b.begin() + 37, b.begin() + 41), "IDAT");
  const uint64_t idat = uint64_t{b[33]} << 24 | uint64_t{b[34]} << 16 | uint64_t{b[35]} << 8 | b[36];
  EXPECT_EQ(png_chunk_problem(b), "");
  const std::vector<uint8_t> cut(b.begin(), b.begin() + 41 + 5);
  EXPECT_EQ(png_chunk_problem(cut), "PNG chunk 'IDAT' at byte 33 declares " + std::to_string(idat) +
                                        " bytes, but only 5 bytes follow its header");
  const std::string msg = decode_error(cut);
  EXPECT_NE(msg.find("cannot decode image (expected a PNG or JPEG file): the file is truncated or corrupt (PNG chunk 'IDAT'"),
            std::string::npos)
      << msg;
  b[33] = 0x45, b[34] = 0x4E, b[35] = 0x44, b[36] = 0x61;
  EXPECT_EQ(png_chunk_problem(b), "PNG chunk 'IDAT' at byte 33 declares 1162757217 bytes, but only " +
                                      std::to_string(b.size() - 41) + " bytes follow its header");
}

TEST(ImageFuzzInputs, EmptyIdatChunkAndBytesAfterIendStillDecode) {
  // fuzz_image: an empty first IDAT chunk made stb_image call memcpy(NULL, src, 0) (benign;
  // tools/sanitizers/ubsan.supp). Such a file is valid and decodes; so does one with bytes after IEND.
  const std::vector<uint8_t> b = small_png();
  const torch::Tensor expected = decode_image_bytes(b, "t.png");
  std::vector<uint8_t> empty_idat(b.begin(), b.begin() + 33);
  for (uint8_t v : std::vector<uint8_t>{0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x35, 0xAF, 0x06, 0x1E}) empty_idat.push_back(v);
  empty_idat.insert(empty_idat.end(), b.begin() + 33, b.end());
  EXPECT_EQ(image_bytes_problem(empty_idat), "");
  EXPECT_TRUE(decode_image_bytes(empty_idat, "t.png").equal(expected));
  std::vector<uint8_t> trailing = b;
  for (uint8_t v : std::vector<uint8_t>{0xFF, 0xFF, 0xFF, 0xFF, 'j', 'u', 'n', 'k'}) trailing.push_back(v);
  EXPECT_EQ(image_bytes_problem(trailing), "");
  EXPECT_TRUE(decode_image_bytes(trailing, "t.png").equal(expected));
}

TEST(ImageFuzzInputs, JpegSizeBehindPaddingBytesIsCheckedAgainstTheLimit) {
  // fuzz_image, minimised: SOI, APP0, one padding byte, then a progressive SOF of 51209x11015
  // (564 M pixels); stb_image allocated 1.1 GB for it before the size had been checked.
  const std::vector<uint8_t> b{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x28, 0x28, 0x28, 0x28, 0x28, 0x28, 0x28,
                               0x28, 0x28, 0x28, 0x28, 0x28, 0x28, 0x28, 0x28, 0xff, 0xc2, 0x00, 0x11, 0x08,
                               0x2b, 0x07, 0xc8, 0x09, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11};
  const std::string msg = decode_error(b);
  EXPECT_NE(msg.find("image is 51209x11015 = 564067135 pixels, more than the limit"), std::string::npos) << msg;
}

TEST(ImageFuzzInputs, PngHeaderSizeProductBeyondInt64IsRefusedByTheLimit) {
  // fuzz_image: IHDR of 0xffffffff x 0xffffff1f (the product overflowed int64_t before the check).
  std::vector<uint8_t> b{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
  for (uint8_t v : {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 8, 6, 0, 0, 0}) b.push_back(v);
  const std::string msg = decode_error(b);
  EXPECT_NE(msg.find("image is 4294967295x4294967071 = 18446743103046942945 pixels, more than the limit"),
            std::string::npos)
      << msg;
}

}  // namespace
}  // namespace mmx::data
