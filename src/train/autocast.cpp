// CUDA bf16 autocast for one scope (see include/mmx/train/autocast.h).
#include "mmx/train/autocast.h"

#include <ATen/autocast_mode.h>

namespace mmx::train {

AutocastScope::AutocastScope(bool enable, bool cache) : on_(enable) {
  if (!on_) return;
  was_enabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
  was_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
  was_cache_ = at::autocast::is_autocast_cache_enabled();
  at::autocast::set_autocast_enabled(at::kCUDA, true);
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  at::autocast::set_autocast_cache_enabled(cache);
}

AutocastScope::~AutocastScope() {
  if (!on_) return;
  at::autocast::set_autocast_enabled(at::kCUDA, was_enabled_);
  at::autocast::set_autocast_dtype(at::kCUDA, was_dtype_);
  at::autocast::set_autocast_cache_enabled(was_cache_);
  at::autocast::clear_cache();
}

}  // namespace mmx::train
