// The small ViM2 configurations several test files build (32 x 32 inputs, 10 classes, patch 4,
// d_state 4): small enough for CPU tests, with every stage present.
#pragma once

#include "mmx/models/vim2.h"

namespace mmx::test_options {

/// Widths 8/16/32/64, depths 1/1/2/1 (15 sub-blocks), channel d_inner 16/32/64/64, drop-path 0.1.
inline models::ViM2Options vim2_micro() {
  return models::ViM2Options()
      .image_size(32)
      .patch_size(4)
      .dims({8, 16, 32, 64})
      .depths({1, 1, 2, 1})
      .channel_d_inner({16, 32, 64, 64})
      .num_classes(10)
      .d_state(4)
      .drop_path_rate(0.1);
}

/// Widths 16/32/64/128, one block per stage, channel d_inner 32/64/128/128.
inline models::ViM2Options vim2_wide(double drop_path_rate) {
  return models::ViM2Options()
      .image_size(32)
      .num_classes(10)
      .patch_size(4)
      .dims({16, 32, 64, 128})
      .depths({1, 1, 1, 1})
      .channel_d_inner({32, 64, 128, 128})
      .d_state(4)
      .drop_path_rate(drop_path_rate);
}

}  // namespace mmx::test_options
