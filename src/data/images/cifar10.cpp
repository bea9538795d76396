// CIFAR-10 binary batches (gzip) -> ImageDataset.
#include <sys/stat.h>
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <memory>

#include "mmx/data/images/cifar10.h"

namespace mmx::data {
namespace {

constexpr int64_t kRecordBytes = 3073;
constexpr int64_t kRecordsPerFile = 10000;
constexpr int64_t kNumClasses = 10;

bool is_regular_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Whole decompressed content of a gzip file (zlib reads plain files transparently).
std::vector<uint8_t> gunzip_file(const std::string& path) {
  if (!is_regular_file(path)) throw DataError(path, 0, "", "CIFAR-10 batch file not found");
  gzFile f = ::gzopen(path.c_str(), "rb");
  if (f == nullptr) throw DataError(path, 0, "", std::string("cannot open for reading: ") + std::strerror(errno));
  std::unique_ptr<gzFile_s, int (*)(gzFile)> guard(f, ::gzclose);
  ::gzbuffer(f, 1 << 20);
  std::vector<uint8_t> out;
  out.reserve(static_cast<size_t>(kRecordBytes * kRecordsPerFile));
  std::vector<uint8_t> chunk(1 << 20);
  for (;;) {
    const int n = ::gzread(f, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) {
      int code = 0;
      const char* msg = ::gzerror(f, &code);
      throw DataError(
          path, 0, "",
          "corrupt gzip stream after " + std::to_string(out.size()) + " bytes: " + (msg ? msg : "unknown zlib error"));
    }
    if (n == 0) break;
    out.insert(out.end(), chunk.begin(), chunk.begin() + n);
  }
  int code = 0;
  const char* msg = ::gzerror(f, &code);
  if (code != Z_OK && code != Z_STREAM_END) {
    throw DataError(path, 0, "",
                    "truncated or corrupt gzip stream after " + std::to_string(out.size()) +
                        " bytes: " + (msg ? msg : "unknown zlib error"));
  }
  return out;
}

std::vector<std::string> read_class_names(const std::string& dir) {
  const std::string path = dir + "/batches.meta.txt";
  if (!is_regular_file(path)) throw DataError(path, 0, "", "CIFAR-10 class-name file not found");
  std::ifstream in(path);
  if (!in) throw DataError(path, 0, "", "cannot open for reading");
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    const auto b = line.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) continue;
    const auto e = line.find_last_not_of(" \t\r\n");
    names.push_back(line.substr(b, e - b + 1));
  }
  if (static_cast<int64_t>(names.size()) != kNumClasses) {
    throw DataError(path, 0, "", "expected 10 class names (one per line), found " + std::to_string(names.size()));
  }
  return names;
}

}  // namespace

ImageDataset load_cifar10(const std::string& dir, bool train) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw DataError(dir, 0, "",
                    "CIFAR-10 folder not found; it must hold data_batch_1..5 and test_batch "
                    "(.bin.gz or the official uncompressed .bin) and batches.meta.txt, under "
                    "<data root>/cifar10 (data root: $MMX_DATA_ROOT, else the build's default)");
  }
  // The gzip files of the shared data set, or the official uncompressed release (gzread reads a
  // file without a gzip header as is).
  const auto batch = [&](const std::string& name) {
    const std::string gz = dir + "/" + name + ".bin.gz", plain = dir + "/" + name + ".bin";
    return !is_regular_file(gz) && is_regular_file(plain) ? plain : gz;
  };
  std::vector<std::string> files;
  if (train) {
    for (int i = 1; i <= 5; ++i) files.push_back(batch("data_batch_" + std::to_string(i)));
  } else {
    files.push_back(batch("test_batch"));
  }
  ImageDataset ds;
  ds.classes = read_class_names(dir);
  const int64_t n = kRecordsPerFile * static_cast<int64_t>(files.size());
  ds.images = torch::empty({n, 3, 32, 32}, torch::kUInt8);
  ds.labels = torch::empty({n}, torch::kInt64);
  uint8_t* img = ds.images.data_ptr<uint8_t>();
  int64_t* lab = ds.labels.data_ptr<int64_t>();
  int64_t base = 0;
  for (const auto& path : files) {
    const std::vector<uint8_t> bytes = gunzip_file(path);
    const auto size = static_cast<int64_t>(bytes.size());
    if (size % kRecordBytes != 0) {
      throw DataError(
          path, 0, "",
          "decompressed size " + std::to_string(size) + " bytes is not a multiple of the 3073-byte CIFAR-10 record");
    }
    if (size / kRecordBytes != kRecordsPerFile) {
      throw DataError(path, 0, "",
                      "decompressed size " + std::to_string(size) + " bytes holds " +
                          std::to_string(size / kRecordBytes) + " records; expected 10000 records (30730000 bytes)");
    }
    for (int64_t r = 0; r < kRecordsPerFile; ++r) {
      const uint8_t* rec = bytes.data() + r * kRecordBytes;
      if (rec[0] >= kNumClasses) {
        throw DataError(path, 0, "",
                        "record " + std::to_string(r) + " has label " + std::to_string(rec[0]) + "; expected 0..9");
      }
      lab[base + r] = rec[0];
      std::memcpy(img + (base + r) * 3072, rec + 1, 3072);
    }
    base += kRecordsPerFile;
  }
  return ds;
}

}  // namespace mmx::data
