// The run folder of `mmx train` (TSM2 and ViM2): what must exist before a resume, what happens to
// an earlier run in the same folder, and which [train] settings a resume changes.
#pragma once

#include <fstream>
#include <functional>
#include <ios>
#include <string>
#include <vector>

namespace mmx::train {

/// How a trainer opens its run folder.
struct RunDir {
  std::string path;
  /// Non-empty when a new run starts in a folder that already holds one (its checkpoints and
  /// metrics are replaced): one line for the log.
  std::string warning;
  /// train.log: appended to when resuming, started afresh for a new run (no mixed logs).
  std::ios::openmode log_mode = std::ios::trunc;
};

/// Prepares `run_dir` for training. With `resume`, `run_dir`/last.safetensors must exist: otherwise
/// throws CheckpointError "<run_dir>/last.safetensors: no such checkpoint to resume (...)"
/// before anything is created. Without, creates the folder (and parents) and notes an earlier
/// run in it. Throws std::filesystem::filesystem_error when the folder cannot be created.
RunDir open_run_dir(const std::string& run_dir, bool resume);

/// A run's train.log plus an optional sink (the CLI's timestamped stderr lines).
struct RunLog {
  std::ofstream file;
  std::function<void(const std::string&)> sink;
  /// Writes `line` to train.log (flushed) and to the sink.
  void operator()(const std::string& line);
};

/// Opens `rd`'s train.log in its log_mode with `sink`, and logs rd.warning when there is one.
RunLog open_run_log(const RunDir& rd, std::function<void(const std::string&)> sink);

/// "section.key: old -> new" for every key of `section` whose value differs between two resolved
/// config texts (TOML, as to_toml writes them); keys present on one side only are listed with
/// "(absent)". Used to say which [train] settings a resumed run changes.
std::vector<std::string> changed_settings(const std::string& stored_toml, const std::string& new_toml,
                                          const std::string& section);

}  // namespace mmx::train
