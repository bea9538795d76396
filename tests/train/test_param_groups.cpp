// Weight-decay groups (mmx/train/param_groups.h): for the default TSM2 and ViM2 configs the groups
// are identical, name by name and in order, to those the trainers used before the rule moved to
// train/ (tests/train/data/*_groups.txt, written at commit 4ca4c97 from nn::split_weight_decay,
// which TSM2TrainStep used, and train::vim2_weight_decay_groups, which train_vim2 used); the
// per-model checks that tests/nn and test_classify held; and the grouped AdamW.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/test_paths.h"
#include "common/vim2_test_options.h"
#include "mmx/models/tsm2.h"
#include "mmx/models/vim2.h"
#include "mmx/train/param_groups.h"
#include "mmx/train/tsm2_config.h"
#include "mmx/train/vim2_config.h"

namespace mmx::train {
namespace {

// "decay <name>" lines, then "no_decay <name>" lines, each group in named_parameters() order.
std::string describe(const WeightDecayGroups& g) {
  std::ostringstream os;
  for (const auto& n : g.decay_names) os << "decay " << n << "\n";
  for (const auto& n : g.no_decay_names) os << "no_decay " << n << "\n";
  return os.str();
}

std::string golden(const std::string& name) {
  std::ifstream in(mmx::test::train_test_data_dir() + "/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The tensors of each group are the named parameters, in the same order.
void expect_tensors_match_names(const torch::nn::Module& model, const WeightDecayGroups& g) {
  const auto params = model.named_parameters();
  ASSERT_EQ(g.decay.size(), g.decay_names.size());
  ASSERT_EQ(g.no_decay.size(), g.no_decay_names.size());
  for (size_t i = 0; i < g.decay.size(); ++i) EXPECT_TRUE(g.decay[i].is_same(params[g.decay_names[i]]));
  for (size_t i = 0; i < g.no_decay.size(); ++i) EXPECT_TRUE(g.no_decay[i].is_same(params[g.no_decay_names[i]]));
}

TEST(ParamGroups, Tsm2DefaultConfigGroupsAreTheFormerOnes) {
  TrainConfig c;  // the defaults; parse_config fills seq_len / pred_len from [data]
  c.model.seq_len(c.data.seq_len).pred_len(c.data.pred_len);
  models::TSM2 model(c.model);
  const auto g = weight_decay_groups(*model);
  EXPECT_EQ(describe(g), golden("tsm2_default_groups.txt"));
  expect_tensors_match_names(*model, g);
}

TEST(ParamGroups, Vim2DefaultConfigGroupsAreTheFormerOnes) {
  const ClassifyConfig c;
  models::ViM2 model(c.model);
  const auto g = weight_decay_groups(*model);
  EXPECT_EQ(describe(g), golden("vim2_default_groups.txt"));
  expect_tensors_match_names(*model, g);
}

TEST(ParamGroups, Tsm2WeightDecaySplit) {
  models::TSM2 model(models::TSM2Options().n_layers(2).revin_affine(true));
  auto groups = weight_decay_groups(*model);
  const std::set<std::string> decay(groups.decay_names.begin(), groups.decay_names.end());
  const std::set<std::string> no_decay(groups.no_decay_names.begin(), groups.no_decay_names.end());
  EXPECT_EQ(groups.decay.size(), groups.decay_names.size());
  EXPECT_EQ(groups.no_decay.size(), groups.no_decay_names.size());
  EXPECT_EQ(decay.size() + no_decay.size(), model->parameters().size());
  for (const auto& name : decay) {
    const bool weight_matrix = name.size() >= 7 && name.compare(name.size() - 7, 7, ".weight") == 0 &&
                               name.find("norm.") == std::string::npos && name.find("revin.") == std::string::npos;
    EXPECT_TRUE(weight_matrix) << name;
  }
  for (const char* key :
       {"revin.weight", "revin.bias", "patch_embed.bias", "norm.weight", "norm.bias", "head.bias",
        "backbone.blocks.1.token_mixer.norm.weight", "backbone.blocks.1.token_mixer.norm.bias",
        "backbone.blocks.0.token_mixer.mixer.conv1d.0.bias", "backbone.blocks.0.token_mixer.mixer.s6.0.dt_proj.bias",
        "backbone.blocks.0.token_mixer.mixer.s6.0.A_log", "backbone.blocks.0.token_mixer.mixer.s6.0.D",
        "backbone.blocks.1.channel_mixer.mixer.s6.1.A_log", "backbone.blocks.1.channel_mixer.mixer.s6.1.D",
        "backbone.averaging.alpha_1", "backbone.averaging.theta_2", "backbone.averaging.gamma_2"}) {
    EXPECT_TRUE(no_decay.count(key)) << key;
  }
  for (const char* key : {"patch_embed.weight", "head.weight", "backbone.blocks.0.token_mixer.mixer.in_proj.weight",
                          "backbone.blocks.0.token_mixer.mixer.conv1d.0.weight",
                          "backbone.blocks.0.channel_mixer.mixer.s6.1.x_proj.weight",
                          "backbone.blocks.0.channel_mixer.mixer.s6.1.dt_proj.weight",
                          "backbone.blocks.1.channel_mixer.mixer.out_proj.weight"}) {
    EXPECT_TRUE(decay.count(key)) << key;
  }
}

// The ViM2 checks of tests/nn/test_vim2.cpp (micro model) and test_classify.cpp (tiny model).
void expect_vim2_groups(const models::ViM2Options& options) {
  models::ViM2 model(options);
  const auto g = weight_decay_groups(*model);
  EXPECT_EQ(g.decay.size() + g.no_decay.size(), model->parameters().size());
  auto contains = [](const std::vector<std::string>& names, const std::string& needle) {
    for (const auto& n : names)
      if (n.find(needle) != std::string::npos) return true;
    return false;
  };
  for (const char* n :
       {"A_logs", ".Ds", "averaging.w_1", "stem_norm.weight", "head.bias", "dt_projs_bias", "conv_bias"})
    EXPECT_TRUE(contains(g.no_decay_names, n)) << n;
  for (const auto& n : g.decay_names) {
    EXPECT_EQ(n.find("bias"), std::string::npos) << n;
    EXPECT_EQ(n.find("norm"), std::string::npos) << n;
    EXPECT_EQ(n.find("A_log"), std::string::npos) << n;
    EXPECT_EQ(n.find("averaging"), std::string::npos) << n;
  }
  EXPECT_TRUE(contains(g.decay_names, "head.weight"));
  EXPECT_TRUE(contains(g.decay_names, "in_proj.weight"));
  int64_t matrices = 0;
  for (const auto& t : g.decay) matrices += t.dim() >= 2 ? 1 : 0;
  EXPECT_EQ(matrices, static_cast<int64_t>(g.decay.size()));  // only matrices / conv kernels decay
}

TEST(ParamGroups, Vim2NoDecayOnStateParametersNormsBiasesAndAveraging) {
  expect_vim2_groups(test_options::vim2_micro());
  expect_vim2_groups(test_options::vim2_wide(0.1));
}

TEST(ParamGroups, GroupedAdamWHasTheDecayGroupFirstAndNoDecayOnTheSecond) {
  models::TSM2 model(models::TSM2Options().n_layers(1).d_model(8));
  const auto g = weight_decay_groups(*model);
  AdamWGroupOptions o;
  o.lr = 3e-4;
  o.weight_decay = 0.05;
  o.beta1 = 0.8;
  o.eps = 1e-7;
  const auto opt = make_adamw(g, o);
  ASSERT_EQ(opt->param_groups().size(), 2u);
  const auto& d = static_cast<const torch::optim::AdamWOptions&>(opt->param_groups()[0].options());
  const auto& n = static_cast<const torch::optim::AdamWOptions&>(opt->param_groups()[1].options());
  EXPECT_EQ(opt->param_groups()[0].params().size(), g.decay.size());
  EXPECT_EQ(opt->param_groups()[1].params().size(), g.no_decay.size());
  EXPECT_EQ(d.weight_decay(), 0.05);
  EXPECT_EQ(n.weight_decay(), 0.0);
  for (const auto* x : {&d, &n}) {
    EXPECT_EQ(x->lr(), 3e-4);
    EXPECT_EQ(std::get<0>(x->betas()), 0.8);
    EXPECT_EQ(std::get<1>(x->betas()), 0.999);
    EXPECT_EQ(x->eps(), 1e-7);
    EXPECT_FALSE(x->amsgrad());
  }
  const auto named = named_parameter_list(*model);
  ASSERT_EQ(named.size(), model->parameters().size());
  EXPECT_TRUE(named[0].second.is_same(model->parameters()[0]));
}

}  // namespace
}  // namespace mmx::train
