// Progress bar for training epochs (see include/mmx/train/progress.h).
#include "mmx/train/progress.h"

#include <unistd.h>

#include <cstdio>

namespace mmx::train {

ProgressBar::ProgressBar(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled && isatty(STDERR_FILENO)) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

void ProgressBar::update(int64_t steps, const std::string& status, double items) {
  done_ += steps;
  status_ = status;
  items_ = items;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done_ < total_ && now - last_draw_ < std::chrono::milliseconds(250)) return;
  last_draw_ = now;
  draw();
}

void ProgressBar::draw() {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double frac = total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  const int width = 24, filled = static_cast<int>(frac * width);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(width, '.');
  const double eta = done_ > 0 ? elapsed * static_cast<double>(total_ - done_) / static_cast<double>(done_) : 0.0;
  std::fprintf(stderr, "\r%s [%s] %lld/%lld  %s  %.0f/s  ETA %.0fs   ", label_.c_str(), bar.c_str(),
               static_cast<long long>(done_), static_cast<long long>(total_), status_.c_str(),
               elapsed > 0 ? items_ / elapsed : 0.0, eta);
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (!enabled_) return;
  std::fprintf(stderr, "\r%*s\r", 110, "");
  std::fflush(stderr);
}

}  // namespace mmx::train
