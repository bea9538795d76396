// Fuzz target: the safetensors reader, mmx::train::parse_checkpoint (src/train/checkpoint.cpp):
// header length, JSON header (nlohmann::json), tensor entries (dtype, shape, data_offsets),
// `__metadata__`, the tiling of the data section, and the tensors built from it. Input: a whole
// checkpoint file. load_checkpoint(path) runs the same validation on a file.
#include "fuzz_common.h"

#include "mmx/train/checkpoint.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  mmx::fuzz::expect_clean([&] {
    const auto ckpt = mmx::train::parse_checkpoint(bytes, "fuzz.safetensors");
    for (const auto& [name, t] : ckpt.tensors) {
      if (!t.defined() || !t.is_contiguous() || t.nbytes() > size) mmx::fuzz::finding("parse_checkpoint", name.c_str());
    }
  });
  return 0;
}
