// Configuration parsing and the TSM2 training loop end to end on the embedded ETTh1 (tiny model,
// a few batches): run directory contents, every test window evaluated, the checkpoint reloads to
// the reported metrics, and resuming gives bitwise the same result as an uninterrupted run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "mmx/core/source_dir.h"
#include "mmx/data/data_root.h"
#include "mmx/train/checkpoint.h"
#include "mmx/train/tsm2_trainer.h"

namespace mmx::train {
namespace {

std::string tmp_dir(const std::string& tag) {
  char tmpl[256];
  std::snprintf(tmpl, sizeof tmpl, "/tmp/mmx-trainer-%s-XXXXXX", tag.c_str());
  return mkdtemp(tmpl);
}

void expect_config_error(const std::string& toml, const std::vector<std::string>& overrides,
                         const std::vector<std::string>& needles) {
  try {
    parse_config(toml, "exp.toml", overrides);
    ADD_FAILURE() << "no ConfigError for:\n" << toml;
  } catch (const ConfigError& e) {
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << "message: " << e.what();
  }
}

TEST(Config, UnknownKeysNameTheKeyAndTheClosestValidOne) {
  expect_config_error("[train]\nlrr = 1e-3\n", {}, {"exp.toml:2", "'train.lrr'", "did you mean 'train.lr'"});
  expect_config_error("[modle]\nd_model = 8\n", {}, {"'modle.d_model'", "did you mean 'model.d_model'"});
  expect_config_error("", {"train.epoch=3"}, {"--set", "'train.epoch'", "'train.epochs'"});
}

TEST(Config, WrongTypesAndValuesAreRejected) {
  expect_config_error("[train]\nepochs = \"ten\"\n", {}, {"exp.toml:2", "train.epochs must be an integer"});
  expect_config_error("[train]\nlr = -1.0\n", {}, {"train.lr must be > 0"});
  expect_config_error("[data]\nfill = \"mean\"\n", {}, {"data.fill"});
  expect_config_error("[train]\nprecision = \"bf16\"\n", {}, {"needs train.device = \"cuda\""});
  expect_config_error("", {"train.lr=fast"}, {"--set train.lr must be a number"});
  expect_config_error("[train\n", {}, {"exp.toml:1"});
  expect_config_error("[model]\nvariant = \"mlp\"\n", {}, {"model.variant must be", "tsm2_mlp"});
}

TEST(Config, TheAblationVariantIsAModelKey) {
  const std::string etth1 = "[data]\ndataset = \"ETTh1\"\n";
  EXPECT_EQ(parse_config(etth1, "x").model.variant(), models::TSM2Variant::kTSM2);
  const TrainConfig c = parse_config(etth1, "x", {"model.variant=mamba_linear_time"});
  EXPECT_EQ(c.model.variant(), models::TSM2Variant::kMambaLinearTime);
  EXPECT_NE(to_toml(c).find("variant = 'mamba_linear_time'"), std::string::npos) << to_toml(c);
  EXPECT_EQ(parse_config(to_toml(c), "resolved").model.variant(), models::TSM2Variant::kMambaLinearTime);
}

TEST(Config, DefaultsOverridesAndTomlRoundTrip) {
  const TrainConfig c = parse_config("[data]\ndataset = \"ETTh1\"\npred_len = 192\n[model]\nd_model = 16\n", "x",
                                     {"train.lr=5e-4", "model.revin=false"});
  EXPECT_EQ(c.data.pred_len, 192);
  EXPECT_EQ(c.model.pred_len(), 192);
  EXPECT_EQ(c.model.seq_len(), 512);
  EXPECT_EQ(c.model.d_model(), 16);
  EXPECT_FALSE(c.model.revin());
  EXPECT_DOUBLE_EQ(c.train.lr, 5e-4);
  EXPECT_EQ(c.train.batch_size, 128);  // §5.4 ETT row default
  const TrainConfig back = parse_config(to_toml(c), "resolved");
  EXPECT_EQ(to_toml(back), to_toml(c));
}

TEST(Config, NonFiniteOutOfRangeAndMissingValuesAreRejected) {
  const std::string etth1 = "[data]\ndataset = \"ETTh1\"\n";
  expect_config_error(etth1 + "[train]\nclip_grad = nan\n", {},
                      {"exp.toml:4", "train.clip_grad must be a finite number"});
  expect_config_error(etth1, {"train.warmup_epochs=inf"}, {"--set train.warmup_epochs must be a finite number"});
  expect_config_error(etth1, {"data.split=[0.7, nan, 0.2]"}, {"data.split must be a finite number"});
  expect_config_error(etth1, {"train.warmup_epochs=40"}, {"train.warmup_epochs = 40 is out of range", "<= 15"});
  expect_config_error(etth1, {"model.dropout=1"},
                      {"model.dropout = 1 is out of range; expected 0 <= model.dropout < 1"});
  expect_config_error(etth1, {"model.n_layers=100000"}, {"model.n_layers = 100000 is out of range", "<= 1024"});
  expect_config_error(etth1, {"train.threads=100000"}, {"train.threads = 100000 is out of range", "<= 65536"});
  // Each size within its range, the whole model too large: refused before anything is built.
  expect_config_error(etth1, {"model.d_model=4096", "model.expand=64", "model.n_layers=64"},
                      {"ask for about", "parameters", "MMX_ALLOW_LARGE_MODELS=1"});
  // An empty config names what is missing instead of training built-in defaults.
  expect_config_error("", {}, {"no data: set data.path", "or data.dataset"});
  expect_config_error(etth1, {"data.path=x.csv"}, {"both set"});
  expect_config_error(etth1, {"data.split=[0.8, 0.1, 0.1]"}, {"apply to data.path files"});
  expect_config_error("[data]\npath = \"x.csv\"\nsplit = [0.5, 0.5, 0.5]\n", {}, {"sum to 1"});
  expect_config_error("[data]\npath = \"x.csv\"\nfeatures = \"MM\"\n", {}, {"data.features must be"});
  expect_config_error("[data]\npath = \"x.csv\"\nval_start = \"2020-01-01\"\n", {}, {"set both"});
  expect_config_error("[data]\npath = \"x.csv\"\nfreq = \"fortnightly\"\n", {}, {"as a frequency"});
}

TEST(Config, OwnCsvPathResolvesAgainstTheConfigFolderAndListsParse) {
  const TrainConfig c =
      parse_config("[data]\npath = \"sub/x.csv\"\ncolumns = [\"a\", \"b c\"]\n", "cfg", {}, "/srv/exp");
  EXPECT_EQ(c.data.path, "/srv/exp/sub/x.csv");
  EXPECT_EQ(c.data.columns, (std::vector<std::string>{"a", "b c"}));
  const TrainConfig o = parse_config("", "cfg", {"data.path=/data/../data/y.csv", "data.columns=HUFL, OT"});
  EXPECT_EQ(o.data.path, "/data/y.csv");
  EXPECT_EQ(o.data.columns, (std::vector<std::string>{"HUFL", "OT"}));
  EXPECT_EQ(to_toml(parse_config(to_toml(c), "again")), to_toml(c));
}

TEST(Config, EveryShippedConfigParses) {
  const std::string dir = mmx::source_dir() + "/configs/tsm2/";
  for (const char* name : {"etth1_96.toml", "etth1_96_quick.toml", "ettm2_720.toml", "weather_336.toml",
                           "traffic_96.toml", "ili_24.toml"}) {
    SCOPED_TRACE(name);
    EXPECT_NO_THROW(load_config(dir + name));
  }
}

TrainConfig tiny_config(int64_t epochs) {
  return parse_config(
      "[data]\ndataset = \"ETTh1\"\nseq_len = 64\npred_len = 16\n"
      "[model]\nd_model = 8\nn_layers = 1\nd_state = 4\npatch_len = 16\nstride = 8\n"
      "[train]\nbatch_size = 32\neval_batch_size = 1024\nmax_batches_per_epoch = 3\nlr = 1e-3\n"
      "threads = 2\nseed = 7\nepochs = " +
          std::to_string(epochs) + "\n",
      "tiny");
}

TEST(Trainer, TinyRunWritesTheRunDirectoryAndEvaluatesEveryTestWindow) {
  const std::string dir = tmp_dir("run");
  TrainResult r = train_tsm2(tiny_config(2), dir, false, {nullptr, false});
  // ETTh1 test split at seq_len 64, pred_len 16: rows [11520 - 64, 14400) -> 2880 + 64 - 80 + 1.
  EXPECT_EQ(r.test.windows, 2865);
  EXPECT_EQ(r.epochs_run, 2);
  ASSERT_EQ(r.test.mse_per_step.size(), 16u);
  double mean = 0;
  for (double v : r.test.mse_per_step) mean += v / 16.0;
  EXPECT_NEAR(mean, r.test.mse, 1e-12);
  EXPECT_GT(r.test.mse, 0.0);
  EXPECT_TRUE(std::isfinite(r.test.mse_orig));
  for (const char* f : {"config.toml", "train.log", "metrics.json", "best.safetensors", "last.safetensors"})
    EXPECT_TRUE(std::ifstream(dir + "/" + f).good()) << f;
  std::ifstream m(dir + "/metrics.json");
  const auto j = nlohmann::json::parse(m);
  EXPECT_EQ(j["test"]["windows"].get<int64_t>(), 2865);
  EXPECT_EQ(j["epochs"].size(), 2u);
  // The best checkpoint reloads to exactly the reported test metrics.
  LoadedForecaster f = load_forecaster(dir + "/best.safetensors");
  EXPECT_EQ(f.columns.size(), 7u);
  auto fd = data::load_forecast_data("ETTh1", 64, 16, mmx::default_data_root());
  EvalMetrics again = evaluate(f.model, fd.test(), 1024, torch::kCPU);
  EXPECT_EQ(again.windows, 2865);
  EXPECT_DOUBLE_EQ(again.mse, r.test.mse);
  EXPECT_DOUBLE_EQ(again.mae, r.test.mae);
}

TEST(Trainer, ResumingGivesBitwiseTheSameRunAsTrainingStraightThrough) {
  const std::string straight = tmp_dir("straight"), resumed = tmp_dir("resumed");
  const TrainConfig c = tiny_config(2);
  TrainResult a = train_tsm2(c, straight, false, {nullptr, false, 0});
  TrainResult first = train_tsm2(c, resumed, false, {nullptr, false, 1});  // "killed" after epoch 1
  EXPECT_EQ(first.epochs_run, 1);
  TrainResult b = train_tsm2(c, resumed, true, {nullptr, false, 0});
  EXPECT_EQ(b.epochs_run, 2);
  ASSERT_EQ(b.history.size(), 2u);
  EXPECT_EQ(b.history[1].train_loss, a.history[1].train_loss);
  EXPECT_EQ(b.history[1].val_mse, a.history[1].val_mse);
  EXPECT_EQ(b.test.mse, a.test.mse);
  EXPECT_EQ(b.test.mae, a.test.mae);
  // A config that changes the model cannot resume this run.
  TrainConfig other = c;
  other.model.d_model(16);
  EXPECT_THROW(train_tsm2(other, resumed, true, {nullptr, false, 0}), ConfigError);
}

}  // namespace
}  // namespace mmx::train
