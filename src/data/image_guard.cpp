// Checks of image bytes before stb_image runs (src/data/image_guard.h). The JPEG walk mirrors
// stb_image's marker reading (stbi__get_marker, stbi__process_marker, DHT case), the PNG walk its
// chunk loop (stbi__parse_png_file).
#include "data/image_guard.h"

#include <algorithm>
#include <cctype>

namespace mmx::data {
namespace {

constexpr uint8_t kDHT = 0xC4, kEOI = 0xD9;

bool is_rst(uint8_t m) { return m >= 0xD0 && m <= 0xD7; }

// stb_image's reads past the end give 0.
uint8_t byte_at(std::span<const uint8_t> b, size_t i) { return i < b.size() ? b[i] : 0; }

// The DHT segment whose length field starts at `pos`: "" or the problem. `end` = where stb_image
// goes on after the tables it reads.
std::string check_dht(std::span<const uint8_t> b, size_t pos, size_t& end) {
  int64_t remaining = (int64_t{byte_at(b, pos)} << 8 | byte_at(b, pos + 1)) - 2;
  size_t i = pos + 2;
  while (remaining > 0) {
    const uint8_t q = byte_at(b, i);
    if ((q >> 4) > 1 || (q & 15) > 3) break;  // stb_image stops with "bad DHT header"
    int64_t codes = 0;
    for (size_t k = 0; k < 16; ++k) codes += byte_at(b, i + 1 + k);
    if (codes > 256)
      return "a Huffman table (DHT segment at byte " + std::to_string(pos - 2) + ") declares " +
             std::to_string(codes) + " codes, more than 256";
    i += 17 + static_cast<size_t>(codes);
    remaining -= 17 + codes;
  }
  end = i;
  return "";
}

}  // namespace

std::string jpeg_huffman_table_problem(std::span<const uint8_t> b) {
  // SOI: FF, fill bytes FF, D8 (as stbi__get_marker reads it).
  size_t i = 0;
  if (byte_at(b, 0) != 0xFF) return "";
  while (i < b.size() && b[i] == 0xFF) ++i;
  if (byte_at(b, i) != 0xD8) return "";
  ++i;
  while (i < b.size()) {
    if (b[i] != 0xFF) {  // padding between segments, or entropy-coded data
      ++i;
      continue;
    }
    size_t j = i;
    while (j < b.size() && b[j] == 0xFF) ++j;  // fill bytes
    if (j >= b.size()) break;
    const uint8_t m = b[j];
    if (m == kDHT) {
      size_t end = j + 1;
      if (std::string problem = check_dht(b, j + 1, end); !problem.empty()) return problem;
      i = end;
    } else if (m == 0x00 || is_rst(m) || m == 0x01 || m == 0xD8) {
      i = j + 1;  // stuffed FF, restart marker, or markers without a length
    } else if (m == kEOI) {
      break;
    } else {  // a segment with a length field
      const size_t len = static_cast<size_t>(byte_at(b, j + 1)) << 8 | byte_at(b, j + 2);
      if (len < 2) break;  // stb_image stops with an error
      i = j + 1 + len;  // after SOS: the entropy-coded data, scanned byte by byte above
    }
  }
  return "";
}

std::string png_chunk_problem(std::span<const uint8_t> b) {
  static constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (b.size() < 8 || !std::equal(kSignature, kSignature + 8, b.begin())) return "";
  size_t p = 8;
  while (p + 8 <= b.size()) {
    const uint64_t length = uint64_t{b[p]} << 24 | uint64_t{b[p + 1]} << 16 | uint64_t{b[p + 2]} << 8 | b[p + 3];
    std::string type;
    for (size_t k = 4; k < 8; ++k) type += std::isalpha(b[p + k]) ? static_cast<char>(b[p + k]) : '?';
    const uint64_t after_header = b.size() - (p + 8);
    if (length > after_header)
      return "PNG chunk '" + type + "' at byte " + std::to_string(p) + " declares " + std::to_string(length) +
             " bytes, but only " + std::to_string(after_header) + " bytes follow its header";
    if (type == "IEND") break;  // stb_image reads nothing after it
    p += 12 + static_cast<size_t>(length);  // length, type, data, CRC
  }
  return "";
}

std::string image_bytes_problem(std::span<const uint8_t> bytes) {
  std::string problem = jpeg_huffman_table_problem(bytes);
  return problem.empty() ? png_chunk_problem(bytes) : problem;
}

}  // namespace mmx::data
