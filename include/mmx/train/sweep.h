// `mmx sweep`: a base TSM2 config, lists of values for any config keys and a list of seeds, run as
// one training per (combination, seed), each in its own folder; the configuration is selected by
// the mean validation MSE over seeds only, and the test metrics are reported for that
// configuration alone (the protocol of validation-selected forecasting results, MambaMixer §6.4).
// This header: the sweep file, the runs it expands to, reading a finished run and the reports.
// Running the processes is the command's part (apps/mmx/cmd_sweep.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mmx::train {

/// The largest number of runs (combinations x seeds) one sweep file may expand to.
inline constexpr int64_t kMaxSweepRuns = 10000;

/// A sweep file (TOML):
///
///     base = "../tsm2/etth1_96.toml"   # the base config, relative to the sweep file (required)
///     seeds = [1, 2, 3]                # train.seed of each repetition (default [1])
///     jobs = 2                         # runs at once (default 1; `--jobs` wins)
///     out = "runs/sweep_etth1"         # folder of the runs (default runs/sweep-<file stem>)
///     [set]                            # overrides applied to every run
///     train.device = "cuda"
///     [grid]                           # every combination of these values
///     train.lr = [1e-4, 5e-4]
///     model.d_model = [16, 32]
///
/// Keys under [set] and [grid] are config keys (`section.key`, as `--set` takes them), written as
/// dotted or quoted keys. Values are TOML values; a grid entry is a non-empty array of them.
struct SweepSpec {
  std::string path;                                                    ///< the sweep file
  std::string base;                                                    ///< base config, resolved
  std::vector<std::pair<std::string, std::string>> fixed;              ///< [set]: key, override text
  std::vector<std::pair<std::string, std::vector<std::string>>> grid;  ///< [grid]: key, value texts
  std::vector<int64_t> seeds{1};
  int64_t jobs = 1;
  std::string out;  ///< resolved against the working directory; never empty after load_sweep
};

/// Reads and checks a sweep file. Errors (ConfigError naming the file and the key): unreadable
/// or not TOML; a missing or unreadable `base`, or a base that is not a valid TSM2 config (ViM2
/// configs are refused); an unknown top-level key; a [set] or [grid] key that is not a TSM2 config
/// key (with the closest key); `train.seed` in [set] or [grid] (use `seeds`); a grid entry that is
/// not a non-empty array; seeds that are empty, repeated or negative; jobs outside [1, 64]; more
/// than kMaxSweepRuns runs.
SweepSpec load_sweep(const std::string& path);

/// Adds `section.key=value` overrides (the command line's `--set`) to every run, after the file's
/// [set] (replacing a [set] value of the same key). Errors (ConfigError naming the override): no
/// `=`, not a TSM2 config key, `train.seed`, or a key the grid varies.
void add_fixed_overrides(SweepSpec& spec, const std::vector<std::string>& overrides);

/// One training of a sweep.
struct SweepRun {
  std::string name;                                         ///< folder name under SweepSpec::out
  int64_t config_index = 0;                                 ///< the combination (0-based)
  std::vector<std::pair<std::string, std::string>> values;  ///< the grid key values of this run
  int64_t seed = 0;
  std::vector<std::string> overrides;  ///< `--set` arguments: [set], grid, seed
};

/// Every (combination, seed) in order: grid keys in alphabetical order (TOML tables are unordered),
/// the last key varying fastest, seeds innermost. Folder names are made of the values (`lr-0.0001_d_model-16_seed-1`;
/// keys by their last part unless two keys share it), so an interrupted or extended sweep finds its runs again.
std::vector<SweepRun> expand_sweep(const SweepSpec& spec);

/// What a run folder says about its run.
struct RunOutcome {
  enum class Status { kFinished, kFailed, kNotRun };
  Status status = Status::kNotRun;
  int64_t epochs = 0;  ///< evaluated epochs
  int64_t best_epoch = 0;
  double val_mse = 0, val_mae = 0;  ///< at the best epoch
  double test_mse = 0, test_mae = 0;
  int64_t test_windows = 0;
  double seconds = 0;  ///< wall time of the run's process (sweep_run.json), 0 when unknown
  std::string error;   ///< why a run failed
};

/// kFinished when `run_dir`/metrics.json holds the test metrics of a finished training (with its
/// best epoch's validation MSE/MAE), else kNotRun; the wall time comes from sweep_run.json when
/// present. A metrics.json that cannot be read or lacks a field is kFailed with the reason.
RunOutcome read_run_outcome(const std::string& run_dir);

/// sweep.csv: one row per run (run, grid keys, seed, status, epochs, best_epoch, val_mse, val_mae,
/// test_mse, test_mae, test_windows, seconds, error). `outcomes` is parallel to `runs`.
std::string sweep_csv(const SweepSpec& spec, const std::vector<SweepRun>& runs,
                      const std::vector<RunOutcome>& outcomes);

/// The configuration chosen by validation: the combination whose runs all finished and whose mean
/// validation MSE over seeds is lowest (ties: the first). Test metrics are never read here.
/// Returns -1 when no combination finished all its seeds.
int64_t select_by_validation(const std::vector<SweepRun>& runs, const std::vector<RunOutcome>& outcomes);

/// summary.md: every combination with its seeds finished and mean ± sd validation MSE (sorted by
/// it), then the selected one's test MSE and MAE (mean ± sd over seeds) and test windows, and the
/// failed runs with their errors.
std::string sweep_summary(const SweepSpec& spec, const std::vector<SweepRun>& runs,
                          const std::vector<RunOutcome>& outcomes);

}  // namespace mmx::train
