// The run folder of `mmx train` (TSM2 and ViM2): what must exist before a resume, what happens to
// an earlier run in the same folder, and which [train] settings a resume changes.
#pragma once

#include <cstdint>
#include <fstream>
#include <functional>
#include <ios>
#include <string>
#include <vector>

namespace mmx::train {

/// An exclusive lock on a run folder (flock on `<run_dir>/.lock`), held while a run trains so that
/// two runs never write into one folder. Move-only; released when destroyed (or when the process
/// dies: the kernel drops flock locks).
class RunLock {
 public:
  RunLock() = default;
  /// Locks `run_dir` (which must exist). Throws std::runtime_error "<run_dir> is in use by another
  /// mmx process (pid N)" when another process holds it, without waiting.
  explicit RunLock(const std::string& run_dir);
  ~RunLock();
  RunLock(RunLock&& other) noexcept;
  RunLock& operator=(RunLock&& other) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

/// How a trainer opens its run folder.
struct RunDir {
  std::string path;
  /// Non-empty when a new run starts in a folder that already holds one (its checkpoints and
  /// metrics are replaced): one line for the log.
  std::string warning;
  /// train.log: appended to when resuming, started afresh for a new run (no mixed logs).
  std::ios::openmode log_mode = std::ios::trunc;
  RunLock lock;  ///< held from open_run_dir until the RunLog that takes it is destroyed
  /// Temporary files of interrupted atomic writes (`<name>.tmp.XXXXXX`) removed from the folder.
  std::vector<std::string> removed_temporaries;
};

/// Prepares `run_dir` for training. With `resume`, `run_dir`/last.safetensors must exist: otherwise
/// throws CheckpointError "<run_dir>/last.safetensors: no such checkpoint to resume (...)"
/// before anything is created. Without, creates the folder (and parents) and notes an earlier
/// run in it. Then locks the folder (RunLock; throws when another process trains there) and
/// removes the temporaries that a killed write left behind. Nothing else in the folder is touched:
/// a trainer opens the log (open_run_log) only once its data and model are ready, so a new run
/// that fails early leaves an earlier run's files as they were. Throws
/// std::filesystem::filesystem_error when the folder cannot be created.
RunDir open_run_dir(const std::string& run_dir, bool resume);

/// What the caller of a trainer (the CLI, tests) hooks into a run.
struct RunHooks {
  std::function<void(const std::string&)> log;  ///< receives every log line (also written to train.log)
  bool progress_bar = true;                     ///< draw a progress bar on stderr
  /// Stop (as if interrupted) after this epoch; 0 = never. For tests of resuming.
  int64_t stop_after_epoch = 0;
};

/// A run's train.log plus an optional sink (the CLI's timestamped stderr lines).
struct RunLog {
  RunLock lock;
  std::ofstream file;
  std::function<void(const std::string&)> sink;
  /// Writes `line` to train.log (flushed) and to the sink.
  void operator()(const std::string& line);
};

/// Opens `rd`'s train.log in its log_mode with `sink`, takes over rd's lock, and logs rd.warning and
/// the removed temporaries when there are any.
RunLog open_run_log(RunDir rd, std::function<void(const std::string&)> sink);

/// "section.key: old -> new" for every key of `section` whose value differs between two resolved
/// config texts (TOML, as to_toml writes them); keys present on one side only are listed with
/// "(absent)". Used to say which [train] settings a resumed run changes.
std::vector<std::string> changed_settings(const std::string& stored_toml, const std::string& new_toml,
                                          const std::string& section);

}  // namespace mmx::train
