// `mmx sweep SWEEP.toml [--jobs N] [--out DIR]`: every (combination, seed) of a sweep file
// (mmx/train/sweep.h) as its own `mmx train` process, several at once, each in its own run folder;
// finished runs are skipped, so an interrupted sweep continues where it stopped. Writes sweep.csv
// and summary.md (selection by mean validation MSE over seeds) after every finished run.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "mmx/core/atomic_file.h"
#include "mmx/train/sweep.h"

extern char** environ;

namespace mmx::cli {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// The last line of the run's log that says what went wrong (mmx prints "mmx: error: ..."), else
// its last non-empty line.
std::string error_of(const std::string& log_path, int status) {
  std::ifstream in(log_path);
  std::string line, last, err;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    last = line;
    if (line.find("error") != std::string::npos) err = line;
  }
  std::string why = !err.empty() ? err : last;
  if (why.size() > 400) why = why.substr(0, 400) + "...";
  const std::string exit_text = WIFEXITED(status)     ? "exit " + std::to_string(WEXITSTATUS(status))
                                : WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                                      : "ended";
  return exit_text + (why.empty() ? "" : ": " + why);
}

// Starts `mmx train BASE --set ... --out DIR --no-progress` with its output in DIR/sweep.log.
pid_t start_run(const train::SweepSpec& spec, const train::SweepRun& run, const std::string& dir) {
  fs::create_directories(dir);
  std::vector<std::string> args{"mmx", "train", spec.base};
  for (const auto& o : run.overrides) {
    args.push_back("--set");
    args.push_back(o);
  }
  args.insert(args.end(), {"--out", dir, "--no-progress"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string log = dir + "/sweep.log";
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start mmx train for " + dir + ": " + std::strerror(rc));
  return pid;
}

std::string minutes(double s) {
  char buf[32];
  if (s < 90)
    std::snprintf(buf, sizeof buf, "%.0f s", s);
  else
    std::snprintf(buf, sizeof buf, "%.1f min", s / 60);
  return buf;
}

void run_sweep(const std::string& path, int64_t jobs_arg, const std::string& out_arg,
               const std::vector<std::string>& sets) {
  train::SweepSpec spec = train::load_sweep(path);
  train::add_fixed_overrides(spec, sets);
  if (!out_arg.empty()) spec.out = out_arg;
  const int64_t jobs = jobs_arg > 0 ? jobs_arg : spec.jobs;
  const std::vector<train::SweepRun> runs = train::expand_sweep(spec);
  fs::create_directories(spec.out);
  std::vector<train::RunOutcome> outcomes(runs.size());
  std::vector<size_t> todo;
  for (size_t i = 0; i < runs.size(); ++i) {
    outcomes[i] = train::read_run_outcome(spec.out + "/" + runs[i].name);
    if (outcomes[i].status != train::RunOutcome::Status::kFinished) {
      outcomes[i] = {};
      todo.push_back(i);
    }
  }
  const size_t skipped = runs.size() - todo.size();
  log_line("sweep " + path + ": " + std::to_string(runs.size()) + " run(s) in " + spec.out + ", " +
           std::to_string(skipped) + " already finished, " + std::to_string(todo.size()) + " to run, " +
           std::to_string(jobs) + " at once");
  auto write_reports = [&] {
    write_file_atomic(spec.out + "/sweep.csv", train::sweep_csv(spec, runs, outcomes));
    write_file_atomic(spec.out + "/summary.md", train::sweep_summary(spec, runs, outcomes));
  };
  write_reports();

  std::map<pid_t, std::pair<size_t, Clock::time_point>> running;
  size_t next = 0, done = 0, failed = 0;
  double run_seconds = 0;
  const auto t0 = Clock::now();
  while (next < todo.size() || !running.empty()) {
    while (next < todo.size() && static_cast<int64_t>(running.size()) < jobs) {
      const size_t i = todo[next++];
      const std::string dir = spec.out + "/" + runs[i].name;
      running[start_run(spec, runs[i], dir)] = {i, Clock::now()};
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("waitpid: ") + std::strerror(errno));
    }
    const auto it = running.find(pid);
    if (it == running.end()) continue;
    const auto [i, started] = it->second;
    running.erase(it);
    const std::string dir = spec.out + "/" + runs[i].name;
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    write_file_atomic(dir + "/sweep_run.json", nlohmann::json{{"seconds", seconds}, {"status", status}}.dump(2) + "\n");
    train::RunOutcome o = train::read_run_outcome(dir);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) || o.status != train::RunOutcome::Status::kFinished) {
      o.status = train::RunOutcome::Status::kFailed;
      if (o.error.empty()) o.error = error_of(dir + "/sweep.log", status);
      ++failed;
      log_line("run " + runs[i].name + " failed: " + o.error);
    }
    o.seconds = seconds;
    outcomes[i] = o;
    ++done;
    run_seconds += seconds;
    write_reports();
    const size_t left = todo.size() - next;
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    const double eta = static_cast<double>(left + running.size()) * elapsed / static_cast<double>(done);
    log_line("sweep: " + std::to_string(done + skipped) + "/" + std::to_string(runs.size()) + " done" +
             (failed ? " (" + std::to_string(failed) + " failed)" : "") + ", " + std::to_string(running.size()) +
             " running, " + std::to_string(left) + " left" + (left + running.size() ? ", ETA " + minutes(eta) : ""));
  }
  std::cout << train::sweep_summary(spec, runs, outcomes);
  log_line("wrote " + spec.out + "/sweep.csv and " + spec.out + "/summary.md");
  if (failed)
    throw std::runtime_error(std::to_string(failed) + " of " + std::to_string(runs.size()) +
                             " run(s) failed (their errors are in " + spec.out +
                             "/sweep.csv and summary.md); the same command retries them");
}

}  // namespace

void add_sweep(CLI::App& app) {
  auto* cmd = app.add_subcommand("sweep",
                                 "Train every combination of a sweep file (a base TSM2 config, value lists, seeds), "
                                 "select by mean validation MSE; rerun to continue");
  static std::string sweep_path, out_dir;
  static std::vector<std::string> sets;
  static int64_t jobs = 0;
  cmd->add_option("sweep", sweep_path, "sweep file (TOML): base, seeds, jobs, out, [set], [grid]")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--jobs", jobs, "runs at once (default: the file's jobs, else 1; on one GPU they share it)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--out", out_dir, "folder of the runs and reports (default: the file's out, else runs/sweep-<name>)");
  cmd->add_option("--set", sets, "override a config key in every run: section.key=value (repeatable; not a grid key)");
  cmd->callback([] { run_sweep(sweep_path, jobs, out_dir, sets); });
}

}  // namespace mmx::cli
