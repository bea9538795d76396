// CIFAR-10 in its binary batch layout (src/data/images/cifar10.cpp).
#pragma once

#include <string>

#include "mmx/data/error.h"
#include "mmx/data/images/image_dataset.h"

namespace mmx::data {

/// Reads CIFAR-10 in its binary layout from `dir`: for train the five files
/// `data_batch_1.bin.gz` .. `data_batch_5.bin.gz` (N = 50,000, in file order), for test
/// `test_batch.bin.gz` (N = 10,000); class names from `batches.meta.txt` (one name per line,
/// line i = label i, blank lines ignored, exactly 10 names). Each file is gzip-compressed
/// (decompressed with zlib) and holds 10,000 records of 3,073 bytes: 1 label byte (0..9), then
/// 1,024 red, 1,024 green and 1,024 blue bytes, each a 32x32 plane, row-major, top row first.
/// Returns images uint8 (N, 3, 32, 32) and labels int64 (N) on the CPU.
/// Throws DataError (field `file` = the offending file) when a file is missing or unreadable, the
/// gzip stream is corrupt or truncated, the decompressed size is not a multiple of 3,073 bytes
/// or not 10,000 records (the message gives the byte count), a label byte is > 9 (the message gives
/// the record index), or batches.meta.txt does not hold 10 names.
ImageDataset load_cifar10(const std::string& dir, bool train);

}  // namespace mmx::data
