// Run records: config.toml, metrics.json / metrics.csv and the resume point
// (see include/mmx/train/run_records.h).
#include "mmx/train/run_records.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "mmx/core/atomic_file.h"
#include "mmx/train/run_dir.h"

namespace mmx::train {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

using Kind = EpochColumn::Kind;

std::string format_g10(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

json row_json(const std::vector<EpochColumn>& columns, const EpochRow& row) {
  json j = json::object();
  for (size_t i = 0; i < columns.size(); ++i) {
    const double v = row.at(i);
    if (columns[i].kind == Kind::kInteger)
      j[columns[i].name] = static_cast<int64_t>(v);
    else if (columns[i].kind == Kind::kOptionalNumber && std::isnan(v))
      j[columns[i].name] = nullptr;
    else
      j[columns[i].name] = v;
  }
  return j;
}

// One epoch record read back from JSON (a checkpoint's "history" or metrics.json); `source` names
// where it came from in errors.
EpochRow row_from_json(const std::vector<EpochColumn>& columns, const json& j, const std::string& source) {
  if (!j.is_object()) throw CheckpointError(source + ": an epoch record is not a JSON object: " + j.dump());
  EpochRow row;
  for (const auto& c : columns) {
    const char* key = c.name.c_str();
    if (c.kind == Kind::kInteger) {
      if (!j.contains(key) || !j.at(key).is_number_integer())
        throw CheckpointError(source + ": epoch record " + j.dump() + " has no integer '" + c.name + "'");
      row.push_back(static_cast<double>(j.at(key).get<int64_t>()));
      continue;
    }
    if (!j.contains(key)) throw CheckpointError(source + ": epoch record " + j.dump() + " has no '" + c.name + "'");
    const json& v = j.at(key);
    if (c.kind == Kind::kOptionalNumber && v.is_null()) {
      row.push_back(std::numeric_limits<double>::quiet_NaN());
    } else if (!v.is_number() || !std::isfinite(v.get<double>())) {
      throw CheckpointError(source + ": epoch record '" + c.name + "' = " + v.dump() + " is not a finite number");
    } else {
      row.push_back(v.get<double>());
    }
  }
  return row;
}

}  // namespace

std::string exact_decimal(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

RunRecords::RunRecords(std::string run_dir, std::vector<EpochColumn> columns)
    : dir_(std::move(run_dir)), columns_(std::move(columns)) {}

std::string RunRecords::best_path() const { return (fs::path(dir_) / "best.safetensors").string(); }

std::string RunRecords::last_path() const { return (fs::path(dir_) / "last.safetensors").string(); }

void RunRecords::write_config(const std::string& toml) const {
  write_file_atomic((fs::path(dir_) / "config.toml").string(), toml);
}

void RunRecords::write_metrics(const json& summary, const std::vector<EpochRow>& rows) const {
  json j = summary;
  json epochs = json::array();
  for (const auto& r : rows) epochs.push_back(row_json(columns_, r));
  j["epochs"] = epochs;
  write_file_atomic((fs::path(dir_) / "metrics.json").string(), j.dump(2) + "\n");
  // The same epochs as a table, one line per epoch.
  std::ostringstream csv;
  csv.precision(10);
  for (size_t i = 0; i < columns_.size(); ++i) csv << (i ? "," : "") << columns_[i].name;
  csv << "\n";
  for (const auto& r : rows) {
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (i) csv << ",";
      const double v = r.at(i);
      if (columns_[i].kind == Kind::kInteger)
        csv << static_cast<int64_t>(v);
      else if (columns_[i].kind == Kind::kOptionalNumber)
        csv << (std::isnan(v) ? std::string() : format_g10(v));
      else
        csv << v;
    }
    csv << "\n";
  }
  write_file_atomic((fs::path(dir_) / "metrics.csv").string(), csv.str());
}

std::string RunRecords::history_json(const std::vector<EpochRow>& rows) const {
  json hist = json::array();
  for (const auto& r : rows) hist.push_back(row_json(columns_, r));
  return hist.dump();
}

ResumePoint RunRecords::resume(const std::string& format, const std::string& model) const {
  const std::string path = last_path();
  ResumePoint rp;
  rp.checkpoint = load_checkpoint(path);
  const Checkpoint& ck = rp.checkpoint;
  const auto found = ck.metadata.find("format");
  if (found == ck.metadata.end() || found->second != format)
    throw CheckpointError(path + ": not a " + model + " run (format '" +
                          (found == ck.metadata.end() ? std::string("none") : found->second) +
                          "'); resume it with the run's own config.toml");
  rp.config_toml = metadata_value(ck, "config", path);
  rp.epoch = metadata_int(ck, "epoch", path, 0, kMaxEpochCount);
  // The epoch records travel inside the checkpoint they describe, so a kill between writing it
  // and metrics.json loses nothing. Checkpoints written before the history was stored in them
  // fall back to metrics.json.
  if (ck.metadata.count("history")) {
    const json h = json::parse(metadata_value(ck, "history", path), nullptr, false);
    if (h.is_discarded() || !h.is_array()) throw CheckpointError(path + ": metadata 'history' is not a JSON array");
    for (const auto& e : h) {
      EpochRow r = row_from_json(columns_, e, path + " (metadata 'history')");
      if (r[0] > static_cast<double>(rp.epoch) || (!rp.history.empty() && r[0] <= rp.history.back()[0]))
        throw CheckpointError(path + ": metadata 'history' holds epoch " + std::to_string(static_cast<int64_t>(r[0])) +
                              " out of order or after the checkpoint's epoch " + std::to_string(rp.epoch));
      rp.history.push_back(std::move(r));
    }
  } else {
    std::ifstream in(fs::path(dir_) / "metrics.json");
    const json prev = json::parse(in, nullptr, false);
    if (!prev.is_discarded() && prev.contains("epochs") && prev["epochs"].is_array())
      for (const auto& e : prev["epochs"]) {
        EpochRow r = row_from_json(columns_, e, dir_ + "/metrics.json");
        if (r[0] <= static_cast<double>(rp.epoch)) rp.history.push_back(std::move(r));
      }
  }
  return rp;
}

std::vector<std::string> changed_setting_notes(const std::string& stored_toml, const std::string& new_toml,
                                               const std::vector<std::string>& sections) {
  std::vector<std::string> notes;
  for (const auto& section : sections)
    for (const auto& change : changed_settings(stored_toml, new_toml, section))
      notes.push_back("resuming with a changed setting (the new value applies): " + change);
  return notes;
}

}  // namespace mmx::train
