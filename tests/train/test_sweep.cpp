// The sweep file and its reports (mmx/train/sweep.h): expansion order and names, the errors of a
// bad sweep file, reading run folders, and selection by validation MSE that never looks at test
// metrics. Running the processes is tested through the CLI (tests/cli/tests.cmake, cli_sweep_*).
#include "mmx/train/sweep.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "mmx/core/source_dir.h"
#include "mmx/train/config_error.h"
#include "mmx/train/tsm2_config.h"

namespace fs = std::filesystem;
using mmx::train::ConfigError;
using mmx::train::RunOutcome;
using mmx::train::SweepRun;

namespace {

std::string tmp_dir() {
  const std::string d = (fs::temp_directory_path() / ("mmx_sweep_" + std::to_string(::getpid()) + "_" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                            .string();
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

std::string tiny() { return mmx::source_dir() + "/tests/cli/tiny.toml"; }

std::string sweep_file(const std::string& dir, const std::string& body) {
  const std::string p = dir + "/s.toml";
  write(p, "base = \"" + tiny() + "\"\n" + body);
  return p;
}

std::string message_of(const std::string& path) {
  try {
    mmx::train::load_sweep(path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

// A finished run's metrics.json as train_tsm2 writes it (the fields the sweep reads).
std::string metrics(double val_mse, double test_mse, double test_mae) {
  return "{\"best_epoch\": 2, \"best_val_mse\": " + std::to_string(val_mse) +
         ", \"epochs\": [{\"epoch\": 1, \"val_mse\": 9, \"val_mae\": 9}, {\"epoch\": 2, \"val_mse\": " +
         std::to_string(val_mse) + ", \"val_mae\": 0.25}], \"test\": {\"mse\": " + std::to_string(test_mse) +
         ", \"mae\": " + std::to_string(test_mae) + ", \"windows\": 2785}}";
}

}  // namespace

TEST(Sweep, ExpandsCombinationsLastKeyFastestSeedsInnermost) {
  const std::string dir = tmp_dir();
  const auto spec = mmx::train::load_sweep(
      sweep_file(dir,
                 "seeds = [1, 2]\njobs = 3\n[set]\ntrain.epochs = 1\n[grid]\ntrain.lr = [1e-3, 5e-4]\n"
                 "\"model.d_model\" = [8, 16]\n"));
  EXPECT_EQ(spec.jobs, 3);
  EXPECT_EQ(spec.out, "runs/sweep-s");
  EXPECT_EQ(spec.base, tiny());
  const auto runs = mmx::train::expand_sweep(spec);
  ASSERT_EQ(runs.size(), 8u);
  EXPECT_EQ(runs[0].name, "d_model-8_lr-0.001_seed-1");
  EXPECT_EQ(runs[1].name, "d_model-8_lr-0.001_seed-2");
  EXPECT_EQ(runs[2].name, "d_model-8_lr-0.0005_seed-1");
  EXPECT_EQ(runs[7].name, "d_model-16_lr-0.0005_seed-2");
  EXPECT_EQ(runs[7].config_index, 3);
  EXPECT_EQ(runs[0].overrides,
            (std::vector<std::string>{"train.epochs=1", "model.d_model=8", "train.lr=0.001", "train.seed=1"}));
  // Nested tables, dotted and quoted keys mean the same keys, taken in alphabetical order.
  const auto nested = mmx::train::expand_sweep(mmx::train::load_sweep(
      sweep_file(dir, "[grid.train]\nlr = [1e-3]\n[grid.model]\ndropout = [0.1]\n[grid.data]\nseq_len = [64]\n")));
  ASSERT_EQ(nested.size(), 1u);
  EXPECT_EQ(nested[0].name, "seq_len-64_dropout-0.1_lr-0.001_seed-1");
}

TEST(Sweep, BadSweepFilesNameTheProblem) {
  const std::string dir = tmp_dir();
  EXPECT_NE(message_of(sweep_file(dir, "[grid]\ntrain.lrr = [1]\n")).find("did you mean 'train.lr'"),
            std::string::npos);
  EXPECT_NE(message_of(sweep_file(dir, "[grid]\ntrain.seed = [1, 2]\n")).find("set by the sweep's `seeds` list"),
            std::string::npos);
  EXPECT_NE(message_of(sweep_file(dir, "[grid]\ntrain.lr = 1e-3\n")).find("[grid] train.lr must be a non-empty array"),
            std::string::npos);
  EXPECT_NE(message_of(sweep_file(dir, "[grid]\ntrain.lr = []\n")).find("non-empty array"), std::string::npos);
  EXPECT_NE(message_of(sweep_file(dir, "seeds = [1, 1]\n")).find("seed 1 is listed twice"), std::string::npos);
  EXPECT_NE(message_of(sweep_file(dir, "jobs = 0\n")).find("jobs must be an integer in [1, 64]"), std::string::npos);
  EXPECT_NE(message_of(sweep_file(dir, "grd = 1\n")).find("unknown key 'grd'"), std::string::npos);
  write(dir + "/nobase.toml", "seeds = [1]\n");
  EXPECT_NE(message_of(dir + "/nobase.toml").find("`base`"), std::string::npos);
  write(dir + "/vim2.toml", "base = \"" + mmx::source_dir() + "/configs/vim2/cifar10_quick.toml\"\n");
  EXPECT_NE(message_of(dir + "/vim2.toml").find("is a ViM2 config"), std::string::npos);
  std::string big = "[grid]\ntrain.lr = [";
  for (int i = 0; i < 101; ++i) big += (i ? ", " : "") + std::to_string(1e-4 * (i + 1));
  big += "]\nmodel.d_model = [";
  for (int i = 0; i < 100; ++i) big += (i ? ", " : "") + std::to_string(8 + i);
  big += "]\n";
  EXPECT_NE(message_of(sweep_file(dir, big)).find("more than 10000 runs"), std::string::npos);
}

TEST(Sweep, ReadsRunFolders) {
  const std::string dir = tmp_dir();
  EXPECT_EQ(mmx::train::read_run_outcome(dir + "/absent").status, RunOutcome::Status::kNotRun);
  write(dir + "/unfinished/metrics.json", "{\"best_epoch\": 1, \"epochs\": []}");
  EXPECT_EQ(mmx::train::read_run_outcome(dir + "/unfinished").status, RunOutcome::Status::kNotRun);
  write(dir + "/torn/metrics.json", "{\"best_epoch\": 1, \"te");
  const auto torn = mmx::train::read_run_outcome(dir + "/torn");
  EXPECT_EQ(torn.status, RunOutcome::Status::kFailed);
  EXPECT_NE(torn.error.find("torn/metrics.json"), std::string::npos);
  write(dir + "/done/metrics.json", metrics(0.5, 0.75, 0.625));
  write(dir + "/done/sweep_run.json", "{\"seconds\": 12.5, \"status\": 0}");
  const auto done = mmx::train::read_run_outcome(dir + "/done");
  ASSERT_EQ(done.status, RunOutcome::Status::kFinished);
  EXPECT_EQ(done.epochs, 2);
  EXPECT_EQ(done.best_epoch, 2);
  EXPECT_DOUBLE_EQ(done.val_mse, 0.5);
  EXPECT_DOUBLE_EQ(done.val_mae, 0.25);
  EXPECT_DOUBLE_EQ(done.test_mse, 0.75);
  EXPECT_DOUBLE_EQ(done.test_mae, 0.625);
  EXPECT_EQ(done.test_windows, 2785);
  EXPECT_DOUBLE_EQ(done.seconds, 12.5);
}

TEST(Sweep, SelectsByMeanValidationMseAndNeverByTest) {
  const std::string dir = tmp_dir();
  const auto spec = mmx::train::load_sweep(sweep_file(dir, "seeds = [1, 2]\n[grid]\ntrain.lr = [1e-3, 5e-4, 1e-4]\n"));
  const auto runs = mmx::train::expand_sweep(spec);
  ASSERT_EQ(runs.size(), 6u);
  std::vector<RunOutcome> o(6);
  auto finished = [](double val, double test) {
    RunOutcome r;
    r.status = RunOutcome::Status::kFinished;
    r.val_mse = val;
    r.test_mse = test;
    r.test_mae = test / 2;
    r.test_windows = 2785;
    return r;
  };
  // lr 1e-3: validation mean 0.6, poor test; lr 5e-4: validation mean 0.65, excellent test;
  // lr 1e-4: the best validation seed, but its other seed failed.
  o[0] = finished(0.5, 0.9);
  o[1] = finished(0.7, 0.8);
  o[2] = finished(0.65, 0.1);
  o[3] = finished(0.65, 0.1);
  o[4] = finished(0.1, 0.1);
  o[5].status = RunOutcome::Status::kFailed;
  o[5].error = "exit 1: mmx: error: training diverged";
  EXPECT_EQ(mmx::train::select_by_validation(runs, o), 0);
  const std::string md = mmx::train::sweep_summary(spec, runs, o);
  EXPECT_NE(md.find("| train.lr = 0.001 | 2/2 | 0.6000 ± 0.1414 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| train.lr = 0.0001 | 1/2 | 0.1000 |"), std::string::npos) << md;
  EXPECT_NE(md.find("## Selected\n\ntrain.lr = 0.001\n"), std::string::npos) << md;
  EXPECT_NE(md.find("| 0.8500 ± 0.0707 | 0.4250 ± 0.0354 | 2785 | 2 |"), std::string::npos) << md;
  EXPECT_NE(md.find("- `lr-0.0001_seed-2`: exit 1: mmx: error: training diverged"), std::string::npos) << md;
  // Changing only test metrics never changes the choice.
  for (auto& r : o) r.test_mse = 1.0 - r.test_mse;
  EXPECT_EQ(mmx::train::select_by_validation(runs, o), 0);
  // Nothing selectable when no configuration finished all seeds.
  for (auto& r : o) r.status = RunOutcome::Status::kNotRun;
  EXPECT_EQ(mmx::train::select_by_validation(runs, o), -1);

  const std::string csv = mmx::train::sweep_csv(spec, runs, o);
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "run,train.lr,seed,status,epochs,best_epoch,val_mse,val_mae,test_mse,test_mae,test_windows,seconds,error");
  EXPECT_NE(csv.find("\nlr-0.0001_seed-2,0.0001,2,not run,,,,,,,,,exit 1: mmx: error: training diverged\n"),
            std::string::npos)
      << csv;
}

TEST(Sweep, CommandLineOverridesJoinEveryRun) {
  const std::string dir = tmp_dir();
  auto spec = mmx::train::load_sweep(sweep_file(dir, "[set]\ntrain.epochs = 1\n[grid]\ntrain.lr = [1e-3]\n"));
  mmx::train::add_fixed_overrides(spec, {"train.epochs=3", "train.device=cuda"});
  const auto runs = mmx::train::expand_sweep(spec);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].overrides,
            (std::vector<std::string>{"train.epochs=3", "train.device=cuda", "train.lr=0.001", "train.seed=1"}));
  auto message = [&](const std::string& o) {
    try {
      mmx::train::add_fixed_overrides(spec, {o});
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(message("train.lr=1").find("train.lr is a [grid] key of"), std::string::npos);
  EXPECT_NE(message("train.lrr=1").find("did you mean 'train.lr'"), std::string::npos);
  EXPECT_NE(message("train.seed=4").find("`seeds` list"), std::string::npos);
  EXPECT_NE(message("epochs").find("expected section.key=value"), std::string::npos);
}

// Every committed sweep file loads, expands, and names the base config its file name promises
// (configs/sweeps/<dataset>_<H>[_<what>].toml -> configs/tsm2/<dataset>_<H>.toml), which loads.
TEST(Sweep, EveryShippedSweepFileLoads) {
  int files = 0;
  for (const auto& entry : fs::directory_iterator(mmx::source_dir() + "/configs/sweeps")) {
    if (entry.path().extension() != ".toml") continue;
    SCOPED_TRACE(entry.path().string());
    ++files;
    const mmx::train::SweepSpec spec = mmx::train::load_sweep(entry.path().string());
    EXPECT_FALSE(mmx::train::expand_sweep(spec).empty());
    const std::string stem = entry.path().stem().string();
    const std::string base = fs::path(spec.base).stem().string();
    EXPECT_EQ(stem.rfind(base, 0), 0u) << "base " << spec.base;
    EXPECT_NO_THROW(mmx::train::load_config(spec.base));
  }
  // 24 table cells, 8 Electricity/Traffic cells, the ETTh1-96 grid, 6 lookback, 4 ablation and 2
  // calendar sweeps.
  EXPECT_GE(files, 45);
}
