// The capturable AdamW (mmx/train/capturable_adamw.h) against torch::optim::AdamW on the CPU: the
// parameter groups of a tiny TSM2 (weight_decay_groups), the same gradients and a varying
// learning rate for 10 steps give the same parameters and moments; the state exports to and
// imports from a torch::optim::AdamW; the device-side clipping matches clip_grad_norm_; the
// graph-mode step run without capture (padded weighted batch, CapturableAdamW, undone warm-up)
// matches the eager step on the CPU; train.cuda_graph needs device cuda.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "mmx/data/timeseries/windows.h"
#include "mmx/models/tsm2.h"
#include "mmx/train/capturable_adamw.h"
#include "mmx/train/grad_clip.h"
#include "mmx/train/param_groups.h"
#include "mmx/train/tsm2_config.h"
#include "mmx/train/tsm2_train_step.h"

namespace mmx::train {
namespace {

models::TSM2 tiny_model() {
  torch::manual_seed(11);
  return models::TSM2(models::TSM2Options().seq_len(64).pred_len(16).n_vars(3).d_model(16));
}

void copy_params(const models::TSM2& from, models::TSM2& to) {
  torch::NoGradGuard no_grad;
  const auto a = from->parameters();
  auto b = to->parameters();
  for (size_t i = 0; i < a.size(); ++i) b[i].copy_(a[i]);
}

void expect_close(const torch::Tensor& got, const torch::Tensor& want, double rtol, double atol,
                  const std::string& what) {
  const auto diff = (got - want).abs();
  const auto bound = want.abs() * rtol + atol;
  EXPECT_TRUE((diff <= bound).all().item<bool>())
      << what << ": max |diff| " << diff.max().item<double>() << " (rtol " << rtol << ", atol " << atol << ")";
}

TEST(CapturableAdamW, MatchesTorchAdamWWithTheWeightDecayGroupsOver10Steps) {
  auto ref = tiny_model();
  auto mine = tiny_model();
  copy_params(ref, mine);
  const double wd = 0.05;
  auto rg = weight_decay_groups(*ref);
  ASSERT_FALSE(rg.decay.empty());
  ASSERT_FALSE(rg.no_decay.empty());
  std::vector<torch::optim::OptimizerParamGroup> pg;
  pg.emplace_back(rg.decay,
                  std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(1e-3).weight_decay(wd)));
  pg.emplace_back(rg.no_decay,
                  std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(1e-3).weight_decay(0.0)));
  torch::optim::AdamW torch_opt(std::move(pg), torch::optim::AdamWOptions(1e-3));
  auto mg = weight_decay_groups(*mine);
  CapturableAdamWOptions o;
  o.lr = 1e-3;
  o.weight_decay = wd;
  CapturableAdamW opt(mg.decay, mg.no_decay, o);

  const auto ref_params = ref->parameters();
  const auto my_params = mine->parameters();
  torch::manual_seed(3);
  for (int step = 0; step < 10; ++step) {
    const double lr = 1e-3 * (1.0 + 0.5 * std::cos(0.7 * step));  // a schedule with ups and downs
    for (auto& g : torch_opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    opt.set_lr(lr);
    for (size_t i = 0; i < ref_params.size(); ++i) {
      // Gradients over several magnitudes, the same for both optimizers.
      auto g = torch::randn_like(ref_params[i]) * std::pow(10.0, static_cast<double>(i % 5) - 3.0);
      ref_params[i].mutable_grad() = g.clone();
      my_params[i].mutable_grad() = g.clone();
    }
    torch_opt.step();
    opt.step();
  }
  for (size_t i = 0; i < ref_params.size(); ++i)
    expect_close(my_params[i].detach(), ref_params[i].detach(), 1e-6, 1e-7, "parameter " + std::to_string(i));
  EXPECT_DOUBLE_EQ(opt.step_count().item<double>(), 10.0);

  // Export into a fresh torch::optim::AdamW over `mine`: the moments equal torch's own.
  std::vector<torch::optim::OptimizerParamGroup> pg2;
  pg2.emplace_back(mg.decay,
                   std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(1e-3).weight_decay(wd)));
  pg2.emplace_back(mg.no_decay,
                   std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(1e-3).weight_decay(0.0)));
  torch::optim::AdamW mirror(std::move(pg2), torch::optim::AdamWOptions(1e-3));
  opt.export_state(mirror);
  for (size_t i = 0; i < ref_params.size(); ++i) {
    const auto& r =
        static_cast<const torch::optim::AdamWParamState&>(*torch_opt.state().at(ref_params[i].unsafeGetTensorImpl()));
    const auto& m =
        static_cast<const torch::optim::AdamWParamState&>(*mirror.state().at(my_params[i].unsafeGetTensorImpl()));
    EXPECT_EQ(m.step(), 10);
    expect_close(m.exp_avg(), r.exp_avg(), 1e-6, 1e-12, "exp_avg " + std::to_string(i));
    expect_close(m.exp_avg_sq(), r.exp_avg_sq(), 1e-6, 1e-15, "exp_avg_sq " + std::to_string(i));
  }

  // Import into a new CapturableAdamW: one more step continues exactly like the original.
  CapturableAdamW again(mg.decay, mg.no_decay, o);
  again.import_state(mirror);
  EXPECT_DOUBLE_EQ(again.step_count().item<double>(), 10.0);
  for (size_t i = 0; i < my_params.size(); ++i) {
    EXPECT_TRUE(torch::equal(again.exp_avg()[i], opt.exp_avg()[i]));
    EXPECT_TRUE(torch::equal(again.exp_avg_sq()[i], opt.exp_avg_sq()[i]));
  }
  EXPECT_DOUBLE_EQ(again.lr().item<double>(), opt.lr().item<double>());
}

TEST(CapturableAdamW, RejectsAParameterWithoutGradient) {
  auto p = torch::zeros({3}, torch::requires_grad());
  CapturableAdamW opt({p}, {}, {});
  EXPECT_THROW(opt.step(), c10::Error);
}

TEST(ClipGradNormDevice, MatchesClipGradNorm) {
  torch::manual_seed(5);
  std::vector<torch::Tensor> a, b;
  for (int i = 0; i < 4; ++i) {
    auto p = torch::zeros({7, i + 1}, torch::requires_grad());
    p.mutable_grad() = torch::randn({7, i + 1}) * 3.0;
    a.push_back(p);
    auto q = torch::zeros({7, i + 1}, torch::requires_grad());
    q.mutable_grad() = p.grad().clone();
    b.push_back(q);
  }
  const double want = torch::nn::utils::clip_grad_norm_(a, 1.0);
  std::vector<torch::Tensor> grads;
  for (const auto& q : b) grads.push_back(q.grad());
  const auto got = clip_grad_norm_device(grads, 1.0);
  EXPECT_NEAR(got.item<double>(), want, 1e-5 * want);
  for (size_t i = 0; i < a.size(); ++i)
    expect_close(b[i].grad(), a[i].grad(), 1e-6, 1e-8, "clipped grad " + std::to_string(i));
  // Under the limit nothing changes.
  const auto before = b[0].grad().clone();
  clip_grad_norm_device(grads, 1e6);
  EXPECT_TRUE(torch::equal(b[0].grad(), before));
}

TEST(GraphStepOnCpu, UncapturedGraphModeStepsMatchEagerSteps) {
  const auto o = models::TSM2Options().seq_len(64).pred_len(16).n_vars(3).d_model(16).dropout(0.0);
  torch::manual_seed(21);
  models::TSM2 eager_model(o);
  torch::manual_seed(99);
  models::TSM2 graph_model(o);
  copy_params(eager_model, graph_model);
  eager_model->train();
  graph_model->train();
  torch::manual_seed(5);
  const int64_t rows = 200;
  auto series = torch::randn({rows, 3}).cumsum(0) * 0.1;
  data::WindowDataset windows(series, {0, rows}, 64, 16);
  TrainStepOptions so;
  so.batch_size = 16;
  so.lr = 1e-3;
  so.weight_decay = 0.05;
  so.clip_grad = 0.5;
  TSM2TrainStep eager(eager_model, so);
  so.cuda_graph = true;
  so.capture = false;
  TSM2TrainStep graph(graph_model, so);
  eager.bind_windows(series, windows);
  graph.bind_windows(series, windows);
  auto batches = data::batch_indices(windows.size(), 16, true, 17);
  std::vector<std::vector<int64_t>> five(batches.begin(), batches.begin() + 4);
  five.push_back(batches.back());
  ASSERT_LT(five.back().size(), 16u);
  for (size_t s = 0; s < five.size(); ++s) {
    eager.step(five[s], 1e-3 * (1.0 - 0.1 * static_cast<double>(s)));
    graph.step(five[s], 1e-3 * (1.0 - 0.1 * static_cast<double>(s)));
  }
  EXPECT_FALSE(graph.graphed());
  EXPECT_NE(graph.fallback_reason().find("capture disabled"), std::string::npos);
  const double le = eager.take_loss_sum(), lg = graph.take_loss_sum();
  EXPECT_NEAR(lg, le, 1e-5 * std::abs(le));
  const auto pe = eager_model->named_parameters();
  const auto pg = graph_model->named_parameters();
  for (const auto& item : pe) expect_close(pg[item.key()].detach(), item.value().detach(), 1e-5, 1e-6, item.key());
  graph.export_optimizer_state();
  for (const auto& p : graph_model->parameters()) {
    const auto& st =
        static_cast<const torch::optim::AdamWParamState&>(*graph.optimizer().state().at(p.unsafeGetTensorImpl()));
    EXPECT_EQ(st.step(), 5);
  }
}

TEST(GraphStepConfig, CudaGraphKeyParsesAndNeedsCuda) {
  const auto c = parse_config("[data]\ndataset = \"ETTh1\"\n[train]\ndevice = \"cuda\"\ncuda_graph = true\n", "g");
  EXPECT_TRUE(c.train.cuda_graph);
  EXPECT_NE(to_toml(c).find("cuda_graph = true"), std::string::npos);
  EXPECT_FALSE(parse_config("[data]\ndataset = \"ETTh1\"\n", "g").train.cuda_graph);
  try {
    parse_config("[train]\ncuda_graph = true\n", "g");
    ADD_FAILURE() << "no ConfigError for cuda_graph on the CPU";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("needs train.device = \"cuda\""), std::string::npos) << e.what();
  }
  try {
    parse_config("", "g", {"train.cuda_graf=true"});
    ADD_FAILURE() << "no ConfigError for a misspelt key";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'train.cuda_graph'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mmx::train
