// Mixed precision for a scope: CUDA autocast to bfloat16, PyTorch's
// `torch.autocast("cuda", dtype=torch.bfloat16)` as a C++ guard. Used by the training steps and
// the evaluation of both models.
#pragma once

#include <c10/core/ScalarType.h>

namespace mmx::train {

/// Enables CUDA autocast to bfloat16 while it lives, then restores the previous autocast state
/// (enabled flag, dtype, cast-cache flag) and clears the cast cache. With `enable` false it does
/// nothing (fp32 runs, CPU runs). `cache` false turns the cast cache off inside the scope, which
/// CUDA-graph capture requires: a cast cached outside the capture would be replayed stale. The
/// selective scan keeps its state in fp32 under autocast (mmx/ops/selective_scan.h). Not
/// copyable; never throws.
class AutocastScope {
 public:
  explicit AutocastScope(bool enable, bool cache = true);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool on_;
  bool was_enabled_ = false, was_cache_ = true;
  at::ScalarType was_dtype_ = at::kBFloat16;
};

}  // namespace mmx::train
