// A check of JPEG bytes before stb_image decodes them: stb_image 2.27 (Debian bookworm's libstb-dev)
// writes past its Huffman tables when a DHT segment declares more than 256 codes in one table
// (stbi__build_huffman; fixed upstream in 2.28 by the same bound). Found by fuzz/fuzz_image.cpp.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace mmx::data {

/// "" when `bytes` is not a JPEG or none of its Huffman tables declares more than 256 codes; else
/// what is wrong ("a Huffman table (DHT segment at byte 20) declares 4080 codes, more than 256").
/// Every DHT segment stb_image could read is checked: the marker segments are followed by their
/// lengths as stb_image follows them, and inside entropy-coded data every FF C4 sequence (which a
/// valid file never holds there) is checked too, so no resynchronisation of the decoder escapes.
std::string jpeg_huffman_table_problem(std::span<const uint8_t> bytes);

}  // namespace mmx::data
