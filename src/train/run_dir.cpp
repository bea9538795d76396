// Run-folder checks shared by the TSM2 and ViM2 trainers (include/mmx/train/run_dir.h).
#include "mmx/train/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <toml++/toml.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <filesystem>
#include <map>
#include <sstream>

#include "mmx/train/checkpoint.h"

namespace fs = std::filesystem;

namespace mmx::train {

RunLock::RunLock(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / ".lock").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error(path + ": cannot create the run folder's lock file: " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {0};
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    ::close(fd_);
    fd_ = -1;
    std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("unknown");
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    throw std::runtime_error(run_dir + " is in use by another mmx process (pid " + pid +
                             "); expected one run per folder (wait for it, or choose another --out)");
  }
  const std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] const ssize_t w = ::pwrite(fd_, me.data(), me.size(), 0);
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);
}

RunLock::RunLock(RunLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

RunLock& RunLock::operator=(RunLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

namespace {

// `<name>.tmp.XXXXXX` (mmx::write_file_atomic) and `.<name>.tmp` (the plot's PNG).
bool is_temporary(const std::string& name) {
  const auto p = name.rfind(".tmp.");
  if (p != std::string::npos && p > 0 && name.size() - (p + 5) == 6) return true;
  return name.size() > 5 && name.front() == '.' && name.compare(name.size() - 4, 4, ".tmp") == 0;
}

void remove_temporaries(RunDir& r) {
  std::error_code ec;
  for (fs::directory_iterator it(r.path, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (is_temporary(name) && it->is_regular_file(ec) && ::unlink(it->path().c_str()) == 0)
      r.removed_temporaries.push_back(name);
  }
}

}  // namespace

RunDir open_run_dir(const std::string& run_dir, bool resume) {
  RunDir r;
  r.path = run_dir;
  const fs::path last = fs::path(run_dir) / "last.safetensors";
  if (resume) {
    std::error_code ec;
    if (!fs::is_regular_file(last, ec))
      throw CheckpointError(last.string() +
                            ": no such checkpoint to resume (train without --resume "
                            "to start a run in " +
                            run_dir + ")");
    r.log_mode = std::ios::app;
    r.lock = RunLock(run_dir);
    remove_temporaries(r);
    return r;
  }
  fs::create_directories(run_dir);
  r.lock = RunLock(run_dir);
  remove_temporaries(r);
  std::vector<std::string> found;
  for (const char* name : {"last.safetensors", "best.safetensors", "metrics.json"})
    if (fs::exists(fs::path(run_dir) / name)) found.push_back(name);
  if (!found.empty()) {
    std::string list;
    for (const auto& f : found) list += (list.empty() ? "" : ", ") + f;
    r.warning = run_dir + " already holds a run (" + list +
                "): starting a new one replaces it (use --resume to continue it instead)";
  }
  return r;
}

void RunLog::operator()(const std::string& line) {
  if (file) file << line << "\n" << std::flush;
  if (sink) sink(line);
}

RunLog open_run_log(RunDir rd, std::function<void(const std::string&)> sink) {
  RunLog log;
  log.lock = std::move(rd.lock);
  log.file.open(fs::path(rd.path) / "train.log", std::ios::out | rd.log_mode);
  log.sink = std::move(sink);
  if (!rd.warning.empty()) log(rd.warning);
  for (const auto& t : rd.removed_temporaries) log("removed " + t + ", left by an interrupted write");
  return log;
}

namespace {

std::map<std::string, std::string> section_values(const std::string& text, const std::string& section) {
  std::map<std::string, std::string> out;
  const toml::table root = toml::parse(text);
  if (const auto* t = root[section].as_table()) {
    for (const auto& [k, v] : *t) {
      std::ostringstream s;
      v.visit([&](const auto& node) { s << node; });
      out[std::string(k.str())] = s.str();
    }
  }
  return out;
}

}  // namespace

std::vector<std::string> changed_settings(const std::string& stored_toml, const std::string& new_toml,
                                          const std::string& section) {
  const auto a = section_values(stored_toml, section);
  const auto b = section_values(new_toml, section);
  std::vector<std::string> out;
  auto name = [&](const std::string& k) { return section + "." + k; };
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end())
      out.push_back(name(k) + ": " + v + " -> (absent)");
    else if (it->second != v)
      out.push_back(name(k) + ": " + v + " -> " + it->second);
  }
  for (const auto& [k, v] : b)
    if (!a.count(k)) out.push_back(name(k) + ": (absent) -> " + v);
  return out;
}

}  // namespace mmx::train
