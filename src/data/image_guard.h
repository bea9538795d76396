// Checks of image bytes before stb_image 2.27 (Debian bookworm's libstb-dev) decodes them, for two
// faults fuzz/fuzz_image.cpp found in it: a JPEG Huffman table of more than 256 codes makes it write
// past its tables (stbi__build_huffman; upstream 2.28 added the same bound), and a PNG chunk
// length beyond the end of the file makes it allocate that length (up to 4 GiB) for IDAT data
// before it reads any of it.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace mmx::data {

/// "" when stb_image may decode `bytes`, else what is wrong with them: jpeg_huffman_table_problem,
/// then png_chunk_problem.
std::string image_bytes_problem(std::span<const uint8_t> bytes);

/// "" when `bytes` is not a JPEG or none of its Huffman tables declares more than 256 codes; else
/// what is wrong ("a Huffman table (DHT segment at byte 20) declares 4080 codes, more than 256").
/// Every DHT segment stb_image could read is checked: the marker segments are followed by their
/// lengths as stb_image follows them, and inside entropy-coded data every FF C4 sequence (which a
/// valid file never holds there) is checked too, so no resynchronisation of the decoder escapes.
std::string jpeg_huffman_table_problem(std::span<const uint8_t> bytes);

/// "" when `bytes` is not a PNG or each chunk up to IEND fits in the file; else what is wrong
/// ("PNG chunk 'IDAT' at byte 33 declares 1162757217 bytes, but only 113 bytes follow its header").
/// A whole PNG always passes; a truncated one fails here instead of inside stb_image.
std::string png_chunk_problem(std::span<const uint8_t> bytes);

}  // namespace mmx::data
