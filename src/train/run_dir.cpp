// Run-folder checks shared by the TSM2 and ViM2 trainers (include/mmx/train/run_dir.h).
#include "mmx/train/run_dir.h"

#include <toml++/toml.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "mmx/train/checkpoint.h"

namespace fs = std::filesystem;

namespace mmx::train {

RunDir open_run_dir(const std::string& run_dir, bool resume) {
  RunDir r;
  r.path = run_dir;
  const fs::path last = fs::path(run_dir) / "last.safetensors";
  if (resume) {
    std::error_code ec;
    if (!fs::is_regular_file(last, ec))
      throw CheckpointError(last.string() + ": no such checkpoint to resume (train without --resume "
                                            "to start a run in " + run_dir + ")");
    r.log_mode = std::ios::app;
    return r;
  }
  fs::create_directories(run_dir);
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

RunLog open_run_log(const RunDir& rd, std::function<void(const std::string&)> sink) {
  RunLog log;
  log.file.open(fs::path(rd.path) / "train.log", std::ios::out | rd.log_mode);
  log.sink = std::move(sink);
  if (!rd.warning.empty()) log(rd.warning);
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
    if (it == b.end()) out.push_back(name(k) + ": " + v + " -> (absent)");
    else if (it->second != v) out.push_back(name(k) + ": " + v + " -> " + it->second);
  }
  for (const auto& [k, v] : b)
    if (!a.count(k)) out.push_back(name(k) + ": (absent) -> " + v);
  return out;
}

}  // namespace mmx::train
