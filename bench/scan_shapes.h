// Named selective-scan shapes shared by the tests and the benchmarks: the real TSM2 and ViM2
// shapes (issue #2, #4) and the awkward sizes the kernels must get right.
#pragma once

#include <cstdint>
#include <vector>

namespace mmx::shapes {

struct ScanShape {
  const char* name;
  int64_t batch, E, L, N, G;
};

/// Shapes MambaMixer actually runs (benchmarked on CPU and GPU).
inline const std::vector<ScanShape>& model_shapes() {
  static const std::vector<ScanShape> s = {
      {"tsm2_time", 896, 64, 63, 16, 1},    // time mixer: batch 128 x 7 variates, 63 patches
      {"tsm2_chan", 8064, 64, 7, 16, 1},    // variate mixer: batch 128 x 63 patches, 7 variates
      {"vim2_s1", 8, 768, 3136, 16, 4},     // ViM2 stage 1: 4 directions x 192 channels, 56x56
      {"vim2_s1_b1", 1, 768, 3136, 16, 4},  // the same for one image (CPU inference)
      {"vim2_s3", 64, 3072, 196, 16, 4},   {"mamba_lm", 8, 1536, 2048, 16, 1}, {"vim2_s1_n1", 8, 768, 3136, 1, 4},
  };
  return s;
}

/// Awkward sizes for correctness tests (L = 1, 2, 127, 3136; N = 1, 16, 64 and above the chunk
/// switch; G = 1, 2, 4; batch 1; E not a multiple of 8 or 16).
inline const std::vector<ScanShape>& test_shapes() {
  static const std::vector<ScanShape> s = {
      {"L1", 2, 5, 1, 16, 1},        {"L2_G2", 2, 6, 2, 16, 2},        {"L127_G4", 1, 12, 127, 16, 4},
      {"N64_G2", 2, 20, 127, 64, 2}, {"N1", 1, 10, 33, 1, 1},          {"E17_chunks", 3, 17, 70, 16, 1},
      {"N100", 1, 9, 40, 100, 1},    {"L3136_G4", 1, 24, 3136, 16, 4},
  };
  return s;
}

}  // namespace mmx::shapes
