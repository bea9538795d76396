// The learning-rate schedule of the trainers: a linear warm-up, then a cosine decay to a floor
// (SGDR without restarts, Loshchilov & Hutter 2017, as timm's CosineLRScheduler), evaluated per
// optimizer step or per epoch. TSM2 and ViM2 use two variants of it that differ in where the
// warm-up and the cosine start and end; both are kept exactly (tests/train/test_lr_schedule.cpp).
#pragma once

#include <cstdint>

namespace mmx::train {

/// A warm-up + cosine schedule. Units are optimizer steps (Unit::kStep) or epochs (Unit::kEpoch,
/// the rate held for a whole epoch). With W warm-up units and T units in all, unit u runs at
///   warmup_lr + (lr - warmup_lr) * (u + o) / W                     for u < W (o = 1 or 0, below),
///   min_lr + (lr - min_lr) * (1 + cos(pi * min(1, (u - W) / S))) / 2   otherwise,
/// with S = max(1, T - W - 1) when cosine_ends_at_last_unit (min_lr at the last unit), else
/// S = max(1, T - W) (min_lr one unit after the last).
struct LrScheduleOptions {
  enum class Unit { kStep, kEpoch };
  enum class Rounding { kTruncate, kNearest };

  double lr = 1e-3;            ///< peak rate, at the end of the warm-up
  double min_lr = 0.0;         ///< floor of the cosine
  double warmup_lr = 0.0;      ///< rate the linear warm-up starts from
  double warmup_epochs = 0.0;  ///< warm-up length in epochs (fractions allowed)
  int64_t epochs = 1;          ///< the run's length
  int64_t steps_per_epoch = 1;
  Unit unit = Unit::kStep;
  /// How warmup_epochs becomes whole units: W = trunc or round(warmup_epochs * units per epoch).
  Rounding warmup_rounding = Rounding::kNearest;
  /// o = 1: the first unit already takes one warm-up increment and the last warm-up unit runs at
  /// lr; o = 0: the first unit runs at warmup_lr (timm's warmup_t convention).
  bool warmup_from_first_unit = false;
  /// S as above: true gives S = T - W - 1 (min_lr at the run's last unit); false S = T - W
  /// (min_lr one unit after the run's end).
  bool cosine_ends_at_last_unit = true;
};

/// TSM2's schedule (mmx train, forecasting): warm-up of trunc(warmup_epochs * steps_per_epoch)
/// steps from 0 in which step k runs at lr * (k + 1) / W, then the cosine with S = T - W.
LrScheduleOptions tsm2_lr_schedule(double lr, double min_lr, double warmup_epochs, int64_t epochs,
                                   int64_t steps_per_epoch);
/// ViM2's schedule (the Swin / VMamba ImageNet recipe that arXiv 2403.19888 follows): warm-up of
/// round(warmup_epochs * steps_per_epoch) steps from warmup_lr in which step k runs at
/// warmup_lr + (lr - warmup_lr) * k / W, then the cosine reaching min_lr at the last step.
LrScheduleOptions vim2_lr_schedule(double lr, double min_lr, double warmup_lr, double warmup_epochs, int64_t epochs,
                                   int64_t steps_per_epoch);

class LrSchedule {
 public:
  /// Errors: c10::Error for epochs < 1, steps_per_epoch < 1 or a negative warmup_epochs.
  explicit LrSchedule(const LrScheduleOptions& options);
  /// The rate of optimizer step `step` (0-based, counted over the whole run; resumed runs go on
  /// counting); steps past the end stay at the end of the cosine.
  double at(int64_t step) const;
  /// W and T of the formula, in units.
  int64_t warmup_units() const { return warmup_; }
  int64_t total_units() const { return total_; }
  const LrScheduleOptions& options() const { return options_; }

 private:
  LrScheduleOptions options_;
  int64_t warmup_ = 0, total_ = 0;
};

}  // namespace mmx::train
