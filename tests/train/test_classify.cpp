// ViM2 classification: the config (presets, overrides, closest-key errors, shipped configs), the
// closed forms of the soft-target cross entropy, the EMA update and top-1/top-5 (the weight-decay
// groups of ViM2: test_param_groups.cpp), a tiny ViM2 trained on 128 real CIFAR-10 images (loss finite and decreasing,
// checkpoint reloads to the reported accuracy, resume = uninterrupted run bitwise) and the
// `mmx classify` command on a generated PNG and on a file that is not an image.
#include <gtest/gtest.h>
#include <unistd.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "common/test_paths.h"
#include "mmx/core/source_dir.h"
#include "mmx/data/data_root.h"
#include "mmx/data/images/cifar10.h"
#include "mmx/data/images/image_loader.h"
#include "mmx/train/checkpoint.h"
#include "mmx/train/vim2_trainer.h"

namespace mmx::train {
namespace {

namespace fs = std::filesystem;

std::string tmp_dir(const std::string& tag) {
  char tmpl[256];
  std::snprintf(tmpl, sizeof tmpl, "/tmp/mmx-classify-%s-XXXXXX", tag.c_str());
  return mkdtemp(tmpl);
}

const char* kBase = "[model]\nname = \"vim2\"\n";

void expect_config_error(const std::string& toml, const std::vector<std::string>& overrides,
                         const std::vector<std::string>& needles) {
  try {
    parse_classify_config(toml, "exp.toml", overrides);
    ADD_FAILURE() << "no ConfigError for:\n" << toml;
  } catch (const ConfigError& e) {
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << "message: " << e.what();
  }
}

TEST(ClassifyConfig, UnknownKeysNameTheKeyAndTheClosestValidOne) {
  expect_config_error(std::string(kBase) + "[train]\nlrr = 1e-3\n", {},
                      {"exp.toml:4", "'train.lrr'", "did you mean 'train.lr'"});
  expect_config_error(std::string(kBase) + "[augment]\nmixup_alfa = 0.2\n", {},
                      {"'augment.mixup_alfa'", "did you mean 'augment.mixup_alpha'"});
  expect_config_error(std::string(kBase) + "depths = [1, 1, 1, 1]\n[modle]\npatch_size = 2\n", {},
                      {"'modle.patch_size'", "did you mean 'model.patch_size'"});
  expect_config_error(kBase, {"train.epoch=3"}, {"--set", "'train.epoch'", "'train.epochs'"});
}

TEST(ClassifyConfig, WrongTypesAndValuesAreRejected) {
  expect_config_error(std::string(kBase) + "dims = [64, \"x\", 256, 512]\n", {},
                      {"exp.toml:3", "model.dims must be an array of integers"});
  expect_config_error(std::string(kBase) + "[train]\nepochs = \"ten\"\n", {}, {"train.epochs must be an integer"});
  expect_config_error("[model]\nname = \"tsm2\"\n", {}, {"model.name must be \"vim2\""});
  expect_config_error(std::string(kBase) + "preset = \"vim2_huge\"\n", {}, {"model.preset", "vim2_tiny"});
  expect_config_error(std::string(kBase) + "[data]\ndataset = \"folder\"\n", {},
                      {"needs data.train_dir and data.val_dir"});
  expect_config_error(std::string(kBase) + "[train]\nprecision = \"bf16\"\n", {}, {"needs train.device = \"cuda\""});
  expect_config_error(std::string(kBase) + "[train]\nema_decay = 1.0\n", {}, {"train.ema_decay must be in [0, 1)"});
  expect_config_error(std::string(kBase) + "image_size = 32\n[augment]\nimage_size = 64\n", {},
                      {"augment.image_size (64)"});
  expect_config_error(std::string(kBase) + "[augment]\nhflip = 1.5\n", {}, {"[augment]"});
  expect_config_error(kBase, {"model.dims=[1,2"}, {"--set model.dims must be an array of integers"});
}

TEST(ClassifyConfig, PresetThenFieldsThenOverridesAndTomlRoundTrip) {
  const ClassifyConfig c =
      parse_classify_config(std::string(kBase) +
                                "drop_path_rate = 0.05\npreset = \"vim2_small\"\nimage_size = 32\npatch_size = 2\n"
                                "num_classes = 10\n[train]\nlr = 2e-3\n",
                            "x",
                            {"model.dims=[32, 64, 128, 256]", "train.ema=false", "augment.mean=[0.5, 0.5, 0.5]",
                             "data.workers=0", "model.scan_recompute=true"});
  // The preset (ViM2-S depths 1/1/9/1) is the base; file keys written before it still apply.
  EXPECT_EQ(c.model.depths(), (std::vector<int64_t>{1, 1, 9, 1}));
  EXPECT_DOUBLE_EQ(c.model.drop_path_rate(), 0.05);
  EXPECT_EQ(c.model.dims(), (std::vector<int64_t>{32, 64, 128, 256}));
  EXPECT_EQ(c.model.image_size(), 32);
  EXPECT_EQ(c.augment.image_size, 32);  // follows the model when not given
  EXPECT_EQ(c.augment.mean, (std::vector<double>{0.5, 0.5, 0.5}));
  EXPECT_DOUBLE_EQ(c.train.lr, 2e-3);
  EXPECT_FALSE(c.train.ema);
  EXPECT_EQ(c.data.workers, 0);
  EXPECT_TRUE(c.model.scan_recompute());
  EXPECT_EQ(c.train.batch_size, 1024);  // §4.7 default
  const ClassifyConfig back = parse_classify_config(to_toml(c), "resolved");
  EXPECT_EQ(to_toml(back), to_toml(c));
  EXPECT_EQ(back.model.depths(), c.model.depths());
  EXPECT_TRUE(back.model.scan_recompute());
}

TEST(ClassifyConfig, ShippedConfigsParseAndAreRecognised) {
  const std::string dir = mmx::source_dir() + "/configs/";
  for (const char* name :
       {"vim2_tiny.toml", "vim2_small.toml", "vim2_base.toml", "cifar10_vim2.toml", "cifar10_quick.toml"}) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(is_classify_config(dir + "vim2/" + name));
    EXPECT_NO_THROW(load_classify_config(dir + "vim2/" + name));
  }
  const ClassifyConfig b = load_classify_config(dir + "vim2/vim2_base.toml");
  EXPECT_EQ(b.model.dims(), (std::vector<int64_t>{128, 256, 512, 1024}));
  EXPECT_DOUBLE_EQ(b.model.drop_path_rate(), 0.5);
  EXPECT_EQ(b.train.epochs, 300);
  EXPECT_DOUBLE_EQ(b.train.warmup_epochs, 20);
  EXPECT_DOUBLE_EQ(b.train.ema_decay, 0.9999);
  EXPECT_FALSE(is_classify_config(dir + "tsm2/etth1_96.toml"));
  EXPECT_FALSE(is_classify_config(dir + "vim2/missing.toml"));
}

TEST(ClassifyMath, SoftTargetCrossEntropyEqualsTheClosedForm) {
  const auto logits = torch::tensor({{1.0, 2.0, 3.0}, {0.5, -1.0, 0.0}}, torch::kFloat32);
  const auto targets = torch::tensor({{0.0, 0.5, 0.5}, {0.8, 0.1, 0.1}}, torch::kFloat32);
  const double lse0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  const double lse1 = std::log(std::exp(0.5) + std::exp(-1.0) + std::exp(0.0));
  const double row0 = -(0.5 * (2.0 - lse0) + 0.5 * (3.0 - lse0));
  const double row1 = -(0.8 * (0.5 - lse1) + 0.1 * (-1.0 - lse1) + 0.1 * (0.0 - lse1));
  EXPECT_NEAR(soft_target_cross_entropy(logits, targets).item<double>(), (row0 + row1) / 2.0, 1e-6);
  // One-hot targets: the ordinary cross entropy.
  const auto onehot = torch::tensor({{0.0, 0.0, 1.0}, {1.0, 0.0, 0.0}}, torch::kFloat32);
  EXPECT_NEAR(soft_target_cross_entropy(logits, onehot).item<double>(),
              torch::nn::functional::cross_entropy(logits, torch::tensor({2, 0})).item<double>(), 1e-6);
  EXPECT_THROW(soft_target_cross_entropy(logits, targets.narrow(1, 0, 2)), c10::Error);
}

TEST(ClassifyMath, EmaUpdateFollowsTheClosedForm) {
  torch::nn::Linear model(3, 2), ema(3, 2);
  {
    torch::NoGradGuard ng;
    model->weight.copy_(torch::arange(6, torch::kFloat32).view({2, 3}));
    model->bias.copy_(torch::tensor({-1.0f, 4.0f}));
    ema->weight.fill_(1.0f);
    ema->bias.fill_(0.0f);
  }
  const double d = 0.9;
  ema_update(*ema, *model, d);
  ema_update(*ema, *model, d);
  // Two steps toward a fixed x from e0: e2 = d^2 e0 + (1 - d^2) x.
  for (int64_t i = 0; i < 6; ++i)
    EXPECT_NEAR(ema->weight.view(-1)[i].item<double>(), d * d * 1.0 + (1 - d * d) * static_cast<double>(i), 1e-6);
  EXPECT_NEAR(ema->bias[0].item<double>(), (1 - d * d) * -1.0, 1e-6);
  EXPECT_NEAR(ema->bias[1].item<double>(), (1 - d * d) * 4.0, 1e-6);
  torch::nn::Linear other(2, 2);
  EXPECT_THROW(ema_update(*other, *model, d), c10::Error);
}

TEST(ClassifyMath, EmaDecayWarmup) {
  EXPECT_DOUBLE_EQ(ema_decay_at(0.998, 1, false), 0.998);
  EXPECT_DOUBLE_EQ(ema_decay_at(0.998, 1, true), 2.0 / 11.0);
  EXPECT_DOUBLE_EQ(ema_decay_at(0.998, 1000, true), 1001.0 / 1010.0);
  EXPECT_DOUBLE_EQ(ema_decay_at(0.998, 100000, true), 0.998);
}

TEST(ClassifyMath, TopOneTopFiveAndLossOnHandMadeLogits) {
  // Six classes. Image 0: label = arg-max (top-1 hit). Image 1: label ranked 3rd (top-5 hit only).
  // Image 2: label ranked last (miss). Image 3: label ranked 5th (top-5 hit only).
  const auto logits = torch::tensor({{0.1, 3.0, 0.2, 0.3, 0.4, 0.5},
                                     {5.0, 4.0, 3.0, 2.0, 1.0, 0.0},
                                     {1.0, 2.0, 3.0, 4.0, 5.0, -1.0},
                                     {0.6, 0.5, 0.4, 0.3, 0.2, 0.1}},
                                    torch::kFloat32);
  const auto labels = torch::tensor({1, 2, 5, 4}, torch::kLong);
  const ClassifyMetrics m = classification_metrics(logits, labels);
  EXPECT_EQ(m.n, 4);
  EXPECT_DOUBLE_EQ(m.top1, 25.0);
  EXPECT_DOUBLE_EQ(m.top5, 75.0);
  double loss = 0;
  auto acc = logits.accessor<float, 2>();
  const auto lab = labels.accessor<int64_t, 1>();
  for (int64_t i = 0; i < 4; ++i) {
    double s = 0;
    for (int64_t k = 0; k < 6; ++k) s += std::exp(static_cast<double>(acc[i][k]));
    loss += std::log(s) - acc[i][lab[i]];
  }
  EXPECT_NEAR(m.loss, loss / 4.0, 1e-5);
  // Fewer than five classes: top-5 counts every image.
  EXPECT_DOUBLE_EQ(classification_metrics(logits.narrow(1, 0, 3), torch::tensor({0, 1, 2, 0})).top5, 100.0);
}

// Slices of the CIFAR-10 test images (128 for training, the next 64 for validation).
std::shared_ptr<data::ImageDataset> cifar_subset(int64_t begin, int64_t count) {
  static std::optional<data::ImageDataset> all;
  if (!all) all = data::load_cifar10(default_data_root() + "/cifar10", /*train=*/false);
  auto d = std::make_shared<data::ImageDataset>();
  d->images = all->images.narrow(0, begin, count).clone();
  d->labels = all->labels.narrow(0, begin, count).clone();
  d->classes = all->classes;
  return d;
}

bool have_cifar() { return fs::exists(default_data_root() + "/cifar10/test_batch.bin.gz"); }

ClassifyConfig tiny_config(int64_t epochs) {
  return parse_classify_config(
      std::string(kBase) +
          "image_size = 32\nnum_classes = 10\npatch_size = 4\ndims = [16, 32, 64, 128]\ndepths = [1, 1, 1, 1]\n"
          "channel_d_inner = [32, 64, 128, 128]\nd_state = 4\ndrop_path_rate = 0.1\n"
          "[data]\nworkers = 1\nprefetch = 2\n"
          "[augment]\nrandom_resized_crop = false\npad_crop = 4\nrandaugment_n = 0\ncolor_jitter = 0.0\n"
          "random_erasing = 0.0\nmixup_alpha = 0.2\ncutmix_alpha = 0.0\nmixup_prob = 0.5\neval_resize_ratio = 1.0\n"
          "[train]\nbatch_size = 32\neval_batch_size = 64\nlr = 3e-3\nwarmup_epochs = 0.5\nwarmup_lr = 1e-4\n"
          "min_lr = 1e-4\nema_decay = 0.9\nthreads = 2\nseed = 11\nepochs = " +
          std::to_string(epochs) + "\n",
      "tiny");
}

ClassifyHooks hooks_with_data(int64_t stop_after = 0) {
  ClassifyHooks h;
  h.progress_bar = false;
  h.stop_after_epoch = stop_after;
  h.train_data = cifar_subset(0, 128);
  h.val_data = cifar_subset(128, 64);
  return h;
}

TEST(ClassifyTrainer, TinyViM2TrainsEvaluatesAndReloads) {
  if (!have_cifar()) GTEST_SKIP() << "CIFAR-10 not found under " << default_data_root() << "/cifar10";
  const std::string dir = tmp_dir("run");
  const ClassifyResult r = train_vim2(tiny_config(2), dir, false, hooks_with_data());
  ASSERT_EQ(r.history.size(), 2u);
  EXPECT_EQ(r.epochs_run, 2);
  EXPECT_EQ(r.steps, 8);  // 128 / 32 per epoch
  for (const auto& e : r.history) {
    EXPECT_TRUE(std::isfinite(e.train_loss));
    EXPECT_TRUE(std::isfinite(e.ema_top1));
    EXPECT_GT(e.images_per_second, 0);
  }
  EXPECT_LT(r.history[1].train_loss, r.history[0].train_loss);
  EXPECT_LT(r.history[0].train_loss, std::log(10.0) + 0.5);
  EXPECT_EQ(r.final_val.n, 64);
  EXPECT_EQ(r.final_val_ema.n, 64);
  for (const char* f :
       {"config.toml", "train.log", "metrics.json", "metrics.csv", "best.safetensors", "last.safetensors"})
    EXPECT_TRUE(fs::exists(dir + "/" + f)) << f;
  std::ifstream mj(dir + "/metrics.json");
  const auto j = nlohmann::json::parse(mj);
  ASSERT_EQ(j["epochs"].size(), 2u);
  EXPECT_DOUBLE_EQ(j["epochs"][1]["top1"].get<double>(), r.history[1].top1);
  std::ifstream csv(dir + "/metrics.csv");
  std::string line;
  int lines = 0;
  while (std::getline(csv, line)) ++lines;
  EXPECT_EQ(lines, 3);

  // The last checkpoint reloads (raw and EMA weights) to exactly the reported accuracies.
  EXPECT_TRUE(is_classifier_checkpoint(dir + "/last.safetensors"));
  EXPECT_FALSE(is_classifier_checkpoint(dir + "/config.toml"));
  const ClassifyConfig c = tiny_config(2);
  for (bool ema : {false, true}) {
    LoadedClassifier lc = load_classifier(dir + "/last.safetensors", torch::kCPU, ema);
    EXPECT_EQ(lc.classes.size(), 10u);
    EXPECT_EQ(lc.epoch, 2);
    data::LoaderOptions lo;
    lo.batch_size = 64;
    lo.shuffle = false;
    lo.drop_last = false;
    lo.workers = 0;
    lo.prefetch = 1;
    data::ImageLoader val(*cifar_subset(128, 64), lo);
    const ClassifyMetrics m = evaluate_classifier(*lc.model, val, c.augment, torch::kCPU);
    EXPECT_DOUBLE_EQ(m.top1, ema ? r.final_val_ema.top1 : r.final_val.top1);
    EXPECT_DOUBLE_EQ(m.top5, ema ? r.final_val_ema.top5 : r.final_val.top5);
  }
  // A TSM2-style checkpoint path that does not exist is no classifier and fails with its name.
  EXPECT_FALSE(is_classifier_checkpoint(dir + "/nope.safetensors"));
  try {
    load_classifier(dir + "/nope.safetensors");
    ADD_FAILURE() << "no error";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("nope.safetensors"), std::string::npos);
  }
}

TEST(ClassifyTrainer, ResumingGivesBitwiseTheSameRunAsTrainingStraightThrough) {
  if (!have_cifar()) GTEST_SKIP() << "CIFAR-10 not found under " << default_data_root() << "/cifar10";
  const std::string straight = tmp_dir("straight"), resumed = tmp_dir("resumed");
  const ClassifyConfig c = tiny_config(2);
  const ClassifyResult a = train_vim2(c, straight, false, hooks_with_data());
  const ClassifyResult first = train_vim2(c, resumed, false, hooks_with_data(1));  // "killed" after epoch 1
  EXPECT_EQ(first.epochs_run, 1);
  // Resumed with the scans' states recomputed (a memory knob): still bitwise the same run.
  ClassifyConfig c_recompute = c;
  c_recompute.model.scan_recompute(true);
  const ClassifyResult b = train_vim2(c_recompute, resumed, true, hooks_with_data());
  EXPECT_EQ(b.epochs_run, 2);
  ASSERT_EQ(b.history.size(), 2u);
  EXPECT_EQ(b.history[1].train_loss, a.history[1].train_loss);
  EXPECT_EQ(b.final_train_losses, a.final_train_losses);
  EXPECT_EQ(b.final_val.top1, a.final_val.top1);
  EXPECT_EQ(b.final_val.loss, a.final_val.loss);
  // Every tensor of the final checkpoints (weights, EMA, AdamW moments) is bitwise equal.
  const Checkpoint ca = load_checkpoint(straight + "/last.safetensors");
  const Checkpoint cb = load_checkpoint(resumed + "/last.safetensors");
  ASSERT_EQ(ca.tensors.size(), cb.tensors.size());
  int64_t ema_tensors = 0;
  for (const auto& [k, v] : ca.tensors) {
    ASSERT_TRUE(cb.tensors.count(k)) << k;
    EXPECT_TRUE(torch::equal(v, cb.tensors.at(k))) << k;
    ema_tensors += k.rfind("ema.", 0) == 0;
  }
  EXPECT_GT(ema_tensors, 0);
  EXPECT_EQ(ca.metadata.at("step"), cb.metadata.at("step"));
  // A config that changes the model cannot resume this run.
  ClassifyConfig other = c;
  other.model.d_state(8);
  EXPECT_THROW(train_vim2(other, resumed, true, hooks_with_data()), ConfigError);
}

// Writes `n` w x h PNGs of one colour family per class into root/<class>/.
void write_png_folder(const std::string& root, const std::vector<std::string>& classes, int n, int w, int h) {
  for (size_t c = 0; c < classes.size(); ++c) {
    fs::create_directories(root + "/" + classes[c]);
    for (int i = 0; i < n; ++i) {
      std::vector<unsigned char> px(static_cast<size_t>(w * h * 3));
      for (int p = 0; p < w * h; ++p)
        for (int ch = 0; ch < 3; ++ch)
          px[static_cast<size_t>(p * 3 + ch)] =
              static_cast<unsigned char>((ch == static_cast<int>(c) ? 200 : 40) + (p * 7 + i * 13) % 50);
      const std::string f = root + "/" + classes[c] + "/img" + std::to_string(i) + ".png";
      ASSERT_TRUE(stbi_write_png(f.c_str(), w, h, 3, px.data(), w * 3)) << f;
    }
  }
}

TEST(ClassifyTrainer, ImageFolderDataTrainsAndChecksTheClassCount) {
  const std::string dir = tmp_dir("folder");
  write_png_folder(dir + "/train", {"blue", "green", "red"}, 8, 40, 36);
  write_png_folder(dir + "/val", {"blue", "green", "red"}, 4, 36, 44);
  const std::string toml =
      std::string(kBase) +
      "image_size = 32\nnum_classes = 3\npatch_size = 4\ndims = [8, 16, 32, 64]\ndepths = [1, 1, 1, 1]\n"
      "channel_d_inner = [16, 32, 64, 64]\nd_state = 4\n"
      "[data]\ndataset = \"folder\"\ntrain_dir = \"" +
      dir + "/train\"\nval_dir = \"" + dir +
      "/val\"\nworkers = 2\n"
      "[augment]\nrandaugment_n = 0\nmixup_alpha = 0.0\ncutmix_alpha = 0.0\nrandom_erasing = 0.0\n"
      "[train]\nepochs = 1\nbatch_size = 8\neval_batch_size = 5\nwarmup_epochs = 0\nthreads = 2\n";
  const ClassifyConfig c = parse_classify_config(toml, "folder.toml");
  auto val = make_classify_loader(c, false);
  EXPECT_EQ(val->size(), 12);
  EXPECT_EQ(val->batches_per_epoch(), 3);  // 5 + 5 + 2: evaluation keeps every image
  EXPECT_EQ(val->classes(), (std::vector<std::string>{"blue", "green", "red"}));
  ClassifyHooks h;
  h.progress_bar = false;
  const ClassifyResult r = train_vim2(c, dir + "/run", false, h);
  EXPECT_EQ(r.steps, 3);  // 24 images / 8
  EXPECT_EQ(r.final_val.n, 12);
  EXPECT_TRUE(std::isfinite(r.history.at(0).train_loss));
  LoadedClassifier lc = load_classifier(dir + "/run/best.safetensors");
  EXPECT_EQ(lc.classes, (std::vector<std::string>{"blue", "green", "red"}));
  // Four classes in the config but three folders: a ConfigError that says so.
  try {
    make_classify_loader(parse_classify_config(toml, "folder.toml", {"model.num_classes=4"}), true);
    ADD_FAILURE() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model.num_classes = 4 but the image folder"), std::string::npos) << e.what();
  }
}

// Runs a shell command; returns (exit status, what it printed on stdout).
std::pair<int, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(ClassifyCli, ClassifyPrintsTopFiveAndJsonAndNamesBadFiles) {
  if (!have_cifar()) GTEST_SKIP() << "CIFAR-10 not found under " << default_data_root() << "/cifar10";
  const std::string dir = tmp_dir("cli");
  ClassifyConfig c = tiny_config(1);
  train_vim2(c, dir, false, hooks_with_data());
  // A 40 x 48 gradient PNG (not 32 x 32: the eval transform resizes and crops it).
  std::vector<unsigned char> px(40 * 48 * 3);
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 48; ++x)
      for (int ch = 0; ch < 3; ++ch)
        px[(y * 48 + x) * 3 + ch] = static_cast<unsigned char>((x * 5 + y * 3 + ch * 70) % 256);
  const std::string png = dir + "/gradient.png";
  ASSERT_TRUE(stbi_write_png(png.c_str(), 48, 40, 3, px.data(), 48 * 3));
  const std::string cli = mmx::test::cli_path() + " classify --checkpoint " + dir + "/best.safetensors ";

  auto [rc, text] = run(cli + png + " 2>&1");
  ASSERT_EQ(rc, 0) << text;
  EXPECT_NE(text.find("gradient.png"), std::string::npos);
  int rows = 0;
  double sum = 0;
  std::istringstream is(text);
  std::string line;
  while (std::getline(is, line)) {
    double pct;
    char name[64];
    if (std::sscanf(line.c_str(), " %lf%% %63s", &pct, name) == 2) {
      ++rows;
      sum += pct / 100.0;
    }
  }
  EXPECT_EQ(rows, 5) << text;
  EXPECT_GT(sum, 0.0);
  EXPECT_LE(sum, 1.0 + 1e-4);

  auto [rcj, js] = run(cli + "--json " + png + " " + png + " 2>/dev/null");
  ASSERT_EQ(rcj, 0) << js;
  const auto j = nlohmann::json::parse(js);
  ASSERT_EQ(j["images"].size(), 2u);
  const auto& top = j["images"][0]["top5"];
  ASSERT_EQ(top.size(), 5u);
  const auto classes = cifar_subset(0, 1)->classes;
  double psum = 0, prev = 1.0;
  for (const auto& t : top) {
    const double p = t["probability"].get<double>();
    EXPECT_LE(p, prev);
    prev = p;
    psum += p;
    EXPECT_EQ(t["class"].get<std::string>(), classes.at(t["index"].get<size_t>()));
  }
  EXPECT_LE(psum, 1.0 + 1e-9);
  EXPECT_EQ(j["images"][0], j["images"][1]);

  // Not an image: non-zero exit, the file named, nothing on stdout.
  const std::string bad = dir + "/notes.png";
  std::ofstream(bad) << "this is not an image\n";
  auto [rcb, msg] = run(cli + png + " " + bad + " 2>&1 >" + dir + "/stdout.txt");
  EXPECT_NE(rcb, 0);
  EXPECT_NE(msg.find("notes.png"), std::string::npos) << msg;
  EXPECT_EQ(fs::file_size(dir + "/stdout.txt"), 0u);
}

}  // namespace
}  // namespace mmx::train
