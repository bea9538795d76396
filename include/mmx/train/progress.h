// A one-line progress bar on stderr: done/total, a caller-supplied status (loss), speed in
// items/s and the ETA. Redraws at most 4 times a second on a terminal; silent when stderr is not
// a terminal or when disabled (the epoch summary line is logged instead).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace mmx::train {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, bool enabled = true);
  /// Advances by `steps`; `items` is the running count of processed items (for items/s).
  void update(int64_t steps, const std::string& status, double items);
  /// Clears the line.
  void finish();

 private:
  void draw();
  std::string label_, status_;
  int64_t total_, done_ = 0;
  double items_ = 0;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace mmx::train
