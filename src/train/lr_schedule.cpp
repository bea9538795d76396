// Warm-up + cosine learning-rate schedule (see include/mmx/train/lr_schedule.h).
#include "mmx/train/lr_schedule.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>

namespace mmx::train {

namespace {

LrScheduleOptions schedule_options(double lr, double min_lr, double warmup_lr, double warmup_epochs, int64_t epochs,
                                   int64_t steps_per_epoch) {
  LrScheduleOptions o;
  o.lr = lr;
  o.min_lr = min_lr;
  o.warmup_lr = warmup_lr;
  o.warmup_epochs = warmup_epochs;
  o.epochs = epochs;
  o.steps_per_epoch = steps_per_epoch;
  return o;
}

}  // namespace

LrScheduleOptions tsm2_lr_schedule(double lr, double min_lr, double warmup_epochs, int64_t epochs,
                                   int64_t steps_per_epoch) {
  LrScheduleOptions o = schedule_options(lr, min_lr, 0.0, warmup_epochs, epochs, steps_per_epoch);
  o.warmup_rounding = LrScheduleOptions::Rounding::kTruncate;
  o.warmup_from_first_unit = true;
  o.cosine_ends_at_last_unit = false;
  return o;
}

LrScheduleOptions vim2_lr_schedule(double lr, double min_lr, double warmup_lr, double warmup_epochs, int64_t epochs,
                                   int64_t steps_per_epoch) {
  LrScheduleOptions o = schedule_options(lr, min_lr, warmup_lr, warmup_epochs, epochs, steps_per_epoch);
  o.warmup_rounding = LrScheduleOptions::Rounding::kNearest;
  o.warmup_from_first_unit = false;
  o.cosine_ends_at_last_unit = true;
  return o;
}

LrSchedule::LrSchedule(const LrScheduleOptions& options) : options_(options) {
  TORCH_CHECK(options.epochs >= 1 && options.steps_per_epoch >= 1,
              "LrSchedule: epochs and steps_per_epoch must be >= 1, got ", options.epochs, " and ",
              options.steps_per_epoch);
  TORCH_CHECK(options.warmup_epochs >= 0, "LrSchedule: warmup_epochs must be >= 0, got ", options.warmup_epochs);
  const bool per_step = options.unit == LrScheduleOptions::Unit::kStep;
  const int64_t per_epoch = per_step ? options.steps_per_epoch : 1;
  const double warmup = options.warmup_epochs * static_cast<double>(per_epoch);
  warmup_ = options.warmup_rounding == LrScheduleOptions::Rounding::kNearest ? std::llround(warmup)
                                                                             : static_cast<int64_t>(warmup);
  total_ = per_epoch * options.epochs;
}

double LrSchedule::at(int64_t step) const {
  const LrScheduleOptions& o = options_;
  const int64_t u = o.unit == LrScheduleOptions::Unit::kStep ? step : step / o.steps_per_epoch;
  if (u < warmup_) {
    const int64_t k = o.warmup_from_first_unit ? u + 1 : u;
    return o.warmup_lr + (o.lr - o.warmup_lr) * static_cast<double>(k) / static_cast<double>(warmup_);
  }
  const int64_t last = o.cosine_ends_at_last_unit ? 1 : 0;
  const double span = static_cast<double>(std::max<int64_t>(1, total_ - warmup_ - last));
  const double t = std::min(1.0, static_cast<double>(u - warmup_) / span);
  return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1.0 + std::cos(M_PI * t));
}

}  // namespace mmx::train
