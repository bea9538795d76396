// Durable TSM2 runs: a training interrupted at every file write (before and after each rename of
// an atomic write) and then resumed ends bit for bit where the uninterrupted run ends, with the
// whole epoch history and no temporary files left; a second run into a locked folder is refused;
// a new run that fails before training leaves an earlier run's files untouched; divergence is an
// error at the step where it happens and writes nothing of that epoch.
#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mmx/core/atomic_file.h"
#include "mmx/train/checkpoint.h"
#include "mmx/train/run_dir.h"
#include "mmx/train/tsm2_trainer.h"

namespace mmx::train {
namespace {

// Not a std::exception: no layer between the hook and the test may catch and rewrap it.
struct Killed {
  std::string where;
};

std::string tmp_dir(const std::string& tag) {
  char tmpl[256];
  std::snprintf(tmpl, sizeof tmpl, "/tmp/mmx-durable-%s-XXXXXX", tag.c_str());
  return mkdtemp(tmpl);
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d))
      if (e->d_name[0] != '.' || std::string(e->d_name).size() > 2) out.push_back(e->d_name);
    ::closedir(d);
  }
  return out;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TrainConfig tiny(int64_t epochs) {
  return parse_config(
      "[data]\ndataset = \"ETTh1\"\nseq_len = 64\npred_len = 16\n"
      "[model]\nd_model = 8\nn_layers = 1\nd_state = 4\npatch_len = 16\nstride = 8\n"
      "[train]\nbatch_size = 32\neval_batch_size = 2048\nmax_batches_per_epoch = 2\nlr = 1e-3\n"
      "threads = 1\nseed = 11\nepochs = " +
          std::to_string(epochs) + "\n",
      "tiny");
}

void expect_same_tensors(const std::string& a, const std::string& b) {
  const Checkpoint x = load_checkpoint(a), y = load_checkpoint(b);
  ASSERT_EQ(x.tensors.size(), y.tensors.size()) << b;
  for (const auto& [name, t] : x.tensors) {
    const auto it = y.tensors.find(name);
    ASSERT_NE(it, y.tensors.end()) << name;
    EXPECT_TRUE(torch::equal(t, it->second)) << b << ": " << name;
  }
}

TEST(DurableRuns, KilledAtEveryWriteThenResumedEqualsTheStraightRun) {
  const TrainConfig c = tiny(2);
  const std::string straight = tmp_dir("straight");
  const TrainResult a = train_tsm2(c, straight, false, {nullptr, false, 0});
  int points = 0;
  for (int k = 1;; ++k) {
    SCOPED_TRACE("killed at hook point " + std::to_string(k));
    const std::string dir = tmp_dir("killed");
    int calls = 0;
    std::string killed_at;
    set_atomic_write_hook([&](const std::string& path, bool renamed) {
      if (++calls == k) {
        killed_at = path + (renamed ? " after the rename" : " before the rename");
        throw Killed{killed_at};
      }
    });
    bool finished = false;
    try {
      train_tsm2(c, dir, false, {nullptr, false, 0});
      finished = true;
    } catch (const Killed&) {
    }
    set_atomic_write_hook(nullptr);
    if (finished) break;  // k is past the last write
    ++points;
    SCOPED_TRACE(killed_at);
    const bool has_last = ::access((dir + "/last.safetensors").c_str(), F_OK) == 0;
    const TrainResult b = train_tsm2(c, dir, has_last, {nullptr, false, 0});
    ASSERT_EQ(b.history.size(), a.history.size());
    for (size_t e = 0; e < a.history.size(); ++e) {
      EXPECT_EQ(b.history[e].epoch, a.history[e].epoch);
      EXPECT_EQ(b.history[e].train_loss, a.history[e].train_loss);
      EXPECT_EQ(b.history[e].val_mse, a.history[e].val_mse);
      EXPECT_EQ(b.history[e].lr, a.history[e].lr);
    }
    EXPECT_EQ(b.test.mse, a.test.mse);
    EXPECT_EQ(b.best_epoch, a.best_epoch);
    expect_same_tensors(straight + "/last.safetensors", dir + "/last.safetensors");
    expect_same_tensors(straight + "/best.safetensors", dir + "/best.safetensors");
    const auto j = nlohmann::json::parse(read_all(dir + "/metrics.json"));
    EXPECT_EQ(j["epochs"].size(), a.history.size());
    EXPECT_EQ(j["best_val_mse"].get<double>(), a.best_val_mse);
    EXPECT_EQ(read_all(dir + "/config.toml"), read_all(straight + "/config.toml"));
    for (const auto& f : files_in(dir)) EXPECT_EQ(f.find(".tmp"), std::string::npos) << f;
  }
  // config.toml, then per epoch best (both improve here), last, metrics.json, metrics.csv, then
  // the final metrics.json and metrics.csv: 11 writes, two interruption points each.
  EXPECT_EQ(points, 22);
}

TEST(DurableRuns, BestValidationMseIsStoredAtFullPrecision) {
  const std::string dir = tmp_dir("precision");
  const TrainResult a = train_tsm2(tiny(1), dir, false, {nullptr, false, 0});
  const Checkpoint last = load_checkpoint(dir + "/last.safetensors");
  EXPECT_EQ(std::stod(last.metadata.at("best_val_mse")), a.best_val_mse);
  EXPECT_EQ(std::stod(load_checkpoint(dir + "/best.safetensors").metadata.at("val_mse")), a.best_val_mse);
}

TEST(DurableRuns, ALockedFolderIsRefusedAndAFailingNewRunTouchesNothing) {
  const std::string dir = tmp_dir("locked");
  train_tsm2(tiny(1), dir, false, {nullptr, false, 0});
  const std::string log_before = read_all(dir + "/train.log"), metrics_before = read_all(dir + "/metrics.json");
  {
    RunLock held(dir);
    try {
      train_tsm2(tiny(1), dir, false, {nullptr, false, 0});
      ADD_FAILURE() << "a second run into a locked folder started";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("is in use by another mmx process (pid " + std::to_string(::getpid())),
                std::string::npos)
          << e.what();
    }
  }
  // A new run whose data cannot be read fails before it opens the log or writes a file.
  TrainConfig bad = tiny(1);
  bad.data.dataset.clear();
  bad.data.path = dir + "/no_such.csv";
  EXPECT_THROW(train_tsm2(bad, dir, false, {nullptr, false, 0}), std::exception);
  EXPECT_EQ(read_all(dir + "/train.log"), log_before);
  EXPECT_EQ(read_all(dir + "/metrics.json"), metrics_before);
}

TEST(DurableRuns, DivergenceIsReportedAtItsStepAndNothingOfTheEpochIsSaved) {
  const std::string dir = tmp_dir("diverge");
  TrainConfig c = tiny(2);
  c.train.lr = 10.0;  // the largest allowed rate blows the tiny model up within a few steps
  c.train.clip_grad = 0.0;
  c.train.max_batches_per_epoch = 50;
  try {
    train_tsm2(c, dir, false, {nullptr, false, 0});
    GTEST_SKIP() << "lr 10 did not diverge in 100 steps; the divergence path was not reached";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("training diverged"), std::string::npos) << msg;
    EXPECT_NE(msg.find("in epoch 1 at step "), std::string::npos) << msg;  // CPU: the exact step
    EXPECT_NE(msg.find("nothing of this epoch was saved"), std::string::npos) << msg;
  }
  EXPECT_NE(::access((dir + "/config.toml").c_str(), F_OK), -1);
  EXPECT_EQ(::access((dir + "/last.safetensors").c_str(), F_OK), -1);
  EXPECT_EQ(::access((dir + "/metrics.json").c_str(), F_OK), -1);
}

}  // namespace
}  // namespace mmx::train
