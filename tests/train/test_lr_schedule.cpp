// The warm-up + cosine schedule (mmx/train/lr_schedule.h): the two variants the trainers use give
// exactly (bit for bit) the rates the trainers' own schedules gave before they shared this one
// (the values below were printed with %.17g from the formulas of src/train/trainer.cpp and
// src/train/classify_trainer.cpp at commit 4ca4c97), and the per-epoch unit follows the closed form.
#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "mmx/train/lr_schedule.h"

namespace mmx::train {
namespace {

// TSM2: lr 1e-4, min_lr 1e-6, warmup_epochs 0.5 of 5 steps (trunc -> 2 steps), 3 epochs (15 steps).
TEST(LrSchedule, Tsm2VariantGivesTheTrainersFormerRatesExactly) {
  const LrSchedule s(tsm2_lr_schedule(1e-4, 1e-6, 0.5, 3, 5));
  EXPECT_EQ(s.warmup_units(), 2);
  EXPECT_EQ(s.total_units(), 15);
  const std::vector<double> expected = {
      5.0000000000000002e-05,  // step 0: lr * 1 / 2
      0.0001,                  // step 1: the warm-up ends at lr
      0.0001,                  // step 2: the cosine starts at lr
      9.8561619962589573e-05,  //
      9.4330073269833885e-05,  //
      8.7551282034469512e-05,  //
      7.8619204963192212e-05,  //
      6.805294190860552e-05,   //
      5.6466565672638489e-05,  //
      4.4533434327361513e-05,  //
      3.2947058091394482e-05,  //
      2.2380795036807794e-05,  //
      1.3448717965530492e-05,  //
      6.6699267301661155e-06,  //
      2.4383800374104253e-06,  // step 14: the run's last step, above min_lr
      9.9999999999999995e-07,  // step 15: min_lr, one step after the run
  };
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(s.at(static_cast<int64_t>(i)), expected[i]) << "step " << i;
  EXPECT_EQ(s.at(100), 1e-6);  // past the end: the floor
}

// ViM2: lr 3e-3, min_lr 1e-4, warmup_lr 1e-4, warmup_epochs 0.5 of 5 steps (round -> 3 steps),
// 3 epochs (15 steps).
TEST(LrSchedule, Vim2VariantGivesTheTrainersFormerRatesExactly) {
  const LrSchedule s(vim2_lr_schedule(3e-3, 1e-4, 1e-4, 0.5, 3, 5));
  EXPECT_EQ(s.warmup_units(), 3);
  EXPECT_EQ(s.total_units(), 15);
  const std::vector<double> expected = {
      0.0001,                  // step 0: warmup_lr
      0.0010666666666666667,   //
      0.0020333333333333336,   //
      0.0030000000000000001,   // step 3: the cosine starts at lr
      0.0029412648117410215,   //
      0.002769817622605213,    //
      0.0024995480642206634,   //
      0.0021523517688527356,   //
      0.0017563565154962639,   //
      0.0013436434845037369,   //
      0.00094764823114726489,  //
      0.00060045193577933683,  //
      0.00033018237739478712,  //
      0.00015873518825897898,  //
      0.0001,                  // step 14: min_lr at the run's last step
      0.0001,                  // step 15
  };
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(s.at(static_cast<int64_t>(i)), expected[i]) << "step " << i;
}

TEST(LrSchedule, WithoutWarmupBothVariantsStartAtThePeakRate) {
  EXPECT_EQ(LrSchedule(tsm2_lr_schedule(1e-3, 0.0, 0.0, 2, 4)).at(0), 1e-3);
  EXPECT_EQ(LrSchedule(vim2_lr_schedule(1e-3, 0.0, 1e-6, 0.0, 2, 4)).at(0), 1e-3);
  // A run of one step: the cosine span is clamped to 1.
  EXPECT_EQ(LrSchedule(vim2_lr_schedule(1e-3, 1e-5, 1e-6, 0.0, 1, 1)).at(0), 1e-3);
}

TEST(LrSchedule, PerEpochUnitHoldsTheRateForAWholeEpoch) {
  LrScheduleOptions o = vim2_lr_schedule(1e-3, 1e-5, 1e-4, 2.0, 6, 10);
  o.unit = LrScheduleOptions::Unit::kEpoch;
  const LrSchedule s(o);
  EXPECT_EQ(s.warmup_units(), 2);
  EXPECT_EQ(s.total_units(), 6);
  // Epoch u (steps 10u .. 10u + 9): warm-up 1e-4 + 9e-4 * u / 2 for u < 2, then the cosine over
  // S = 6 - 2 - 1 = 3 epochs.
  for (int64_t step = 0; step < 60; ++step) {
    const int64_t u = step / 10;
    const double want = u < 2 ? 1e-4 + (1e-3 - 1e-4) * static_cast<double>(u) / 2.0
                              : 1e-5 + 0.5 * (1e-3 - 1e-5) * (1.0 + std::cos(M_PI * std::min(1.0, (u - 2) / 3.0)));
    EXPECT_EQ(s.at(step), want) << "step " << step;
  }
  EXPECT_EQ(s.at(59), 1e-5);
}

TEST(LrSchedule, InvalidOptionsAreErrors) {
  LrScheduleOptions o;
  o.epochs = 0;
  EXPECT_THROW(LrSchedule{o}, c10::Error);
  o = {};
  o.steps_per_epoch = 0;
  EXPECT_THROW(LrSchedule{o}, c10::Error);
  o = {};
  o.warmup_epochs = -1;
  EXPECT_THROW(LrSchedule{o}, c10::Error);
}

}  // namespace
}  // namespace mmx::train
