// The smaller shared training parts: the autocast scope restores what it changed, the model EMA
// starts as a copy and follows the closed form, the ViM2 step equals its parts composed by hand
// and reports a non-finite loss at its step, and the CUDA-graph helper says when it cannot run.
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/vim2_test_options.h"
#include "mmx/models/vim2.h"
#include "mmx/train/autocast.h"
#include "mmx/train/checkpoint.h"
#include "mmx/train/cuda_graph.h"
#include "mmx/train/ema.h"
#include "mmx/train/grad_clip.h"
#include "mmx/train/param_groups.h"
#include "mmx/train/vim2_train_step.h"

namespace mmx::train {
namespace {

models::ViM2Options micro() { return test_options::vim2_wide(0.0); }

TEST(AutocastScope, EnablesBf16AndRestoresThePreviousState) {
  ASSERT_FALSE(at::autocast::is_autocast_enabled(at::kCUDA));
  const auto dtype = at::autocast::get_autocast_dtype(at::kCUDA);
  {
    AutocastScope off(false);
    EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCUDA));
  }
  {
    AutocastScope on(true, /*cache=*/false);
    EXPECT_TRUE(at::autocast::is_autocast_enabled(at::kCUDA));
    EXPECT_EQ(at::autocast::get_autocast_dtype(at::kCUDA), at::kBFloat16);
    EXPECT_FALSE(at::autocast::is_autocast_cache_enabled());
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCUDA));
  EXPECT_EQ(at::autocast::get_autocast_dtype(at::kCUDA), dtype);
  EXPECT_TRUE(at::autocast::is_autocast_cache_enabled());
}

TEST(ModelEma, StartsAsACopyWithoutGradientsAndFollowsTheClosedForm) {
  torch::manual_seed(3);
  models::ViM2 model(micro());
  models::ViM2 ema(micro());  // other random weights, replaced by the model's
  ModelEma m(ema.ptr(), *model, {0.9, /*warmup=*/true});
  for (const auto& p : ema->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), model->named_parameters()[p.key()])) << p.key();
    EXPECT_FALSE(p.value().requires_grad());
  }
  EXPECT_FALSE(ema->is_training());
  const auto before = ema->named_parameters()["head.weight"].clone();
  {
    torch::NoGradGuard ng;
    model->named_parameters()["head.weight"].add_(1.0);
  }
  m.update(*model, 1);  // warm-up: min(0.9, 2 / 11)
  const double d = 2.0 / 11.0;
  EXPECT_TRUE(torch::allclose(ema->named_parameters()["head.weight"],
                              d * before + (1 - d) * model->named_parameters()["head.weight"], 0, 1e-6));
  EXPECT_EQ(&m.module(), ema.get());
}

TEST(ViM2TrainStep, OneStepEqualsItsPartsComposedByHand) {
  torch::manual_seed(5);
  models::ViM2 model(micro());
  models::ViM2 ref(micro());
  load_module_state(*ref, module_state(*model), "the model");
  models::ViM2 ema(micro());
  ViM2TrainStepOptions o;
  o.adamw.lr = 1e-2;
  o.clip_grad = 0.5;
  o.ema = {0.5, false};
  ViM2TrainStep step(model, ema, o);
  const auto x = torch::randn({4, 3, 32, 32});
  const auto targets = torch::one_hot(torch::tensor({0, 1, 2, 3}), 10).to(torch::kFloat32);

  auto ref_opt = make_adamw(weight_decay_groups(*ref), o.adamw);
  const auto ref_loss = soft_target_cross_entropy(ref->forward(x), targets);
  ref_opt->zero_grad();
  ref_loss.backward();
  std::vector<torch::Tensor> grads;
  for (const auto& p : ref->parameters())
    if (p.grad().defined()) grads.push_back(p.grad());
  clip_grad_norm_device(grads, 0.5);
  ref_opt->step();

  const auto loss = step.step(x, targets, 1e-2);
  EXPECT_EQ(loss.item<float>(), ref_loss.item<float>());
  EXPECT_EQ(step.steps(), 1);
  const auto mine = model->named_parameters();
  for (const auto& p : ref->named_parameters()) EXPECT_TRUE(torch::equal(mine[p.key()], p.value())) << p.key();
  // EMA after one step with decay 0.5: the average of the initial and the stepped weights.
  const auto e = ema->named_parameters()["head.weight"];
  EXPECT_FALSE(torch::equal(e, mine["head.weight"]));
  EXPECT_EQ(step.named_parameters().size(), model->parameters().size());
  EXPECT_EQ(step.optimizer().param_groups().size(), 2u);
  EXPECT_EQ(step.epoch_losses().numel(), 1);
}

TEST(ViM2TrainStep, ANonFiniteLossIsReportedAtItsStepWithItsRate) {
  torch::manual_seed(6);
  models::ViM2 model(micro());
  ViM2TrainStep step(model, nullptr, {});
  step.set_steps(10);
  step.begin_epoch(3);
  const auto targets = torch::one_hot(torch::tensor({0, 1}), 10).to(torch::kFloat32);
  step.step(torch::randn({2, 3, 32, 32}), targets, 1e-3);
  step.check_losses(LrSchedule({}));
  step.step(torch::full({2, 3, 32, 32}, std::nan("")), targets, 1e-3);
  LrScheduleOptions so;
  so.lr = 0.25;
  so.min_lr = 0.25;
  so.steps_per_epoch = 100;
  try {
    step.check_losses(LrSchedule(so));
    ADD_FAILURE() << "no error for a NaN loss";
  } catch (const c10::Error& err) {
    const std::string msg = err.what_without_backtrace();
    EXPECT_EQ(msg.find("training loss became "), 0u) << msg;
    EXPECT_NE(msg.find("nan at epoch 3, step 12 (batch 2 of the epoch) with lr 0.25; nothing of this epoch was "
                       "written"),
              std::string::npos)
        << msg;
  }
  EXPECT_EQ(step.steps(), 12);
}

TEST(CudaGraph, CaptureNeedsACudaBuildAndDevice) {
  CudaGraph g;
  EXPECT_FALSE(g.captured());
  EXPECT_THROW(g.replay(), c10::Error);
  if (!CudaGraph::available()) {
    EXPECT_THROW(g.capture(
                     torch::kCPU, [] {}, [] {}),
                 c10::Error);
  }
}

}  // namespace
}  // namespace mmx::train
