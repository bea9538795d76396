// CUDA-graph training steps (mmx/train/tsm2_train_step.h, cuda_graph.h) on the GPU: a tiny TSM2 trained 5 steps
// eagerly and 5 steps from a graph (fp32, dropout 0, the same initial parameters, a partial last
// batch) ends with the same parameters; a bf16 graph run of 20 steps with dropout keeps a finite
// loss; the trainer with train.cuda_graph = true runs, and resuming it repeats the straight run.
// Every test skips on a machine without a CUDA device.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>

#include "mmx/core/build_info.h"
#include "mmx/data/timeseries/windows.h"
#include "mmx/models/tsm2.h"
#include "mmx/train/tsm2_train_step.h"
#include "mmx/train/tsm2_trainer.h"

namespace mmx::train {
namespace {

#define SKIP_WITHOUT_CUDA()                                             \
  do {                                                                  \
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device"; \
  } while (0)

const torch::Device kCuda(torch::kCUDA, 0);

models::TSM2Options tiny_options(double dropout, double drop_path) {
  return models::TSM2Options().seq_len(64).pred_len(16).n_vars(7).d_model(16).dropout(dropout).drop_path(drop_path);
}

models::TSM2 make_model(const models::TSM2Options& o, uint64_t seed) {
  torch::manual_seed(seed);
  models::TSM2 m(o);
  m->to(kCuda);
  m->train();
  return m;
}

void copy_params(const models::TSM2& from, models::TSM2& to) {
  torch::NoGradGuard no_grad;
  const auto a = from->parameters();
  auto b = to->parameters();
  for (size_t i = 0; i < a.size(); ++i) b[i].copy_(a[i]);
}

TEST(GraphStep, FiveGraphStepsGiveTheParametersOfFiveEagerSteps) {
  SKIP_WITHOUT_CUDA();
  const auto o = tiny_options(0.0, 0.0);
  auto eager_model = make_model(o, 21);
  auto graph_model = make_model(o, 99);
  copy_params(eager_model, graph_model);

  // A synthetic standardised series and its stride-1 windows (fixed seed).
  torch::manual_seed(5);
  const int64_t rows = 400;
  auto t = torch::arange(rows, torch::kFloat32).unsqueeze(1);
  auto series = (torch::sin(t * 0.07 + torch::arange(7, torch::kFloat32)) + 0.3 * torch::randn({rows, 7})).contiguous();
  data::WindowDataset windows(series, {0, rows}, 64, 16);

  TrainStepOptions so;
  so.batch_size = 32;
  so.lr = 1e-3;
  so.weight_decay = 0.05;
  so.clip_grad = 0.5;  // small enough to clip
  TSM2TrainStep eager(eager_model, so);
  so.cuda_graph = true;
  TSM2TrainStep graph(graph_model, so);
  eager.bind_windows(series, windows);
  graph.bind_windows(series, windows);

  auto batches = data::batch_indices(windows.size(), 32, true, 17);
  ASSERT_GE(batches.size(), 5u);
  std::vector<std::vector<int64_t>> five(batches.begin(), batches.begin() + 4);
  five.push_back(batches.back());  // the partial batch: padded in the graph
  ASSERT_LT(five.back().size(), 32u);
  for (size_t s = 0; s < five.size(); ++s) {
    const double lr = 1e-3 * (1.0 - 0.1 * static_cast<double>(s));
    eager.step(five[s], lr);
    graph.step(five[s], lr);
  }
  ASSERT_TRUE(graph.graphed()) << "capture failed: " << graph.fallback_reason();
  EXPECT_EQ(graph.steps(), 5);
  const double le = eager.take_loss_sum(), lg = graph.take_loss_sum();
  EXPECT_TRUE(std::isfinite(lg));
  EXPECT_NEAR(lg, le, 1e-5 * std::abs(le));

  const auto pe = eager_model->named_parameters();
  const auto pg = graph_model->named_parameters();
  for (const auto& item : pe) {
    const auto& a = item.value();
    const auto& b = pg[item.key()];
    const auto diff = (a - b).abs();
    const auto bound = a.abs() * 1e-5 + 1e-6;
    EXPECT_TRUE((diff <= bound).all().item<bool>())
        << item.key() << ": max |eager - graph| " << diff.max().item<double>();
  }
  // The graph's optimizer state exports like the eager one (same step count, close moments).
  graph.export_optimizer_state();
  for (const auto& p : graph_model->parameters()) {
    const auto& st =
        static_cast<const torch::optim::AdamWParamState&>(*graph.optimizer().state().at(p.unsafeGetTensorImpl()));
    EXPECT_EQ(st.step(), 5);
  }
}

TEST(GraphStep, Bf16GraphRunOf20StepsKeepsAFiniteLoss) {
  SKIP_WITHOUT_CUDA();
  auto model = make_model(tiny_options(0.1, 0.1), 4);
  TrainStepOptions so;
  so.batch_size = 64;
  so.lr = 1e-3;
  so.bf16 = true;
  so.cuda_graph = true;
  TSM2TrainStep step(model, so);
  torch::manual_seed(8);
  auto x = torch::randn({64, 64, 7});
  auto y = x.narrow(1, 48, 16).flip(1) * 0.5;
  double first = 0;
  for (int s = 0; s < 20; ++s) {
    const int64_t n = s == 19 ? 40 : 64;
    step.step(x.narrow(0, 0, n), y.narrow(0, 0, n), 1e-3);
    if (s == 0) first = step.take_loss_sum() / 64.0;
  }
  ASSERT_TRUE(step.graphed()) << "capture failed: " << step.fallback_reason();
  const double rest = step.take_loss_sum();
  EXPECT_TRUE(std::isfinite(first) && std::isfinite(rest)) << first << " " << rest;
  EXPECT_LT(rest / (18 * 64 + 40), first);  // it learns the fixed batch
  for (const auto& p : model->parameters()) EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
}

std::string tmp_dir(const std::string& tag) {
  char tmpl[256];
  std::snprintf(tmpl, sizeof tmpl, "/tmp/mmx-graph-%s-XXXXXX", tag.c_str());
  return mkdtemp(tmpl);
}

TEST(GraphStep, TrainerWithCudaGraphRunsAndResumes) {
  SKIP_WITHOUT_CUDA();
  const TrainConfig c = parse_config(
      "[data]\ndataset = \"ETTh1\"\nseq_len = 64\npred_len = 16\n"
      "[model]\nd_model = 8\nn_layers = 1\nd_state = 4\n"
      "[train]\nbatch_size = 32\neval_batch_size = 1024\nmax_batches_per_epoch = 4\nlr = 1e-3\n"
      "seed = 7\nepochs = 2\ndevice = \"cuda\"\nprecision = \"bf16\"\ncuda_graph = true\n",
      "graph");
  const std::string straight = tmp_dir("straight"), resumed = tmp_dir("resumed");
  TrainResult a = train_tsm2(c, straight, false, {nullptr, false, 0});
  ASSERT_EQ(a.history.size(), 2u);
  EXPECT_TRUE(std::isfinite(a.history[1].train_loss));
  EXPECT_TRUE(std::isfinite(a.test.mse));
  TrainResult first = train_tsm2(c, resumed, false, {nullptr, false, 1});
  EXPECT_EQ(first.epochs_run, 1);
  TrainResult b = train_tsm2(c, resumed, true, {nullptr, false, 0});
  ASSERT_EQ(b.history.size(), 2u);
  EXPECT_NEAR(b.history[1].train_loss, a.history[1].train_loss, 1e-5 * a.history[1].train_loss);
  EXPECT_NEAR(b.test.mse, a.test.mse, 1e-5 * a.test.mse);
}

}  // namespace
}  // namespace mmx::train
