// The records a training run keeps in its folder, for every trainer: config.toml (the resolved
// config), metrics.json and metrics.csv (one row per evaluated epoch), and the epoch history and
// resume point stored in last.safetensors. The folder itself (lock, train.log) is
// mmx/train/run_dir.h; the file formats are in docs/checkpoints.md and docs/cli.md.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "mmx/train/checkpoint.h"

namespace mmx::train {

/// The largest epoch number read from a checkpoint (train.epochs is bounded by the same value).
inline constexpr int64_t kMaxEpochCount = 1000000;

/// A column of the epoch table: a key of each metrics.json "epochs" object and of a checkpoint's
/// "history", and a metrics.csv column.
struct EpochColumn {
  enum class Kind {
    kInteger,         ///< written as an integer (the epoch)
    kNumber,          ///< a finite number (NaN is written as JSON null and CSV "nan")
    kOptionalNumber,  ///< NaN = absent: JSON null, an empty CSV cell
  };
  std::string name;
  Kind kind = Kind::kNumber;
};

/// One epoch's values in column order (integers as exact doubles).
using EpochRow = std::vector<double>;

/// A model's epoch record struct R as table rows: the int64_t epoch member, then double members
/// in column order (metrics.csv order).
template <class R>
class EpochTable {
 public:
  struct Field {
    const char* name;
    double R::*member;
    bool optional = false;  ///< NaN means "not measured" (EpochColumn::Kind::kOptionalNumber)
  };
  EpochTable(int64_t R::*epoch, std::vector<Field> fields) : epoch_(epoch), fields_(std::move(fields)) {}

  std::vector<EpochColumn> columns() const {
    std::vector<EpochColumn> c{{"epoch", EpochColumn::Kind::kInteger}};
    for (const auto& f : fields_)
      c.push_back({f.name, f.optional ? EpochColumn::Kind::kOptionalNumber : EpochColumn::Kind::kNumber});
    return c;
  }
  std::vector<EpochRow> rows(const std::vector<R>& records) const {
    std::vector<EpochRow> out;
    for (const R& r : records) {
      EpochRow row{static_cast<double>(r.*epoch_)};
      for (const auto& f : fields_) row.push_back(r.*(f.member));
      out.push_back(std::move(row));
    }
    return out;
  }
  std::vector<R> records(const std::vector<EpochRow>& rows) const {
    std::vector<R> out;
    for (const EpochRow& row : rows) {
      R r{};
      r.*epoch_ = static_cast<int64_t>(row.at(0));
      for (size_t i = 0; i < fields_.size(); ++i) r.*(fields_[i].member) = row.at(i + 1);
      out.push_back(r);
    }
    return out;
  }

 private:
  int64_t R::*epoch_;
  std::vector<Field> fields_;
};

/// Where a resumed run continues: its last.safetensors, read and checked by RunRecords::resume.
struct ResumePoint {
  Checkpoint checkpoint;          ///< the whole file (weights, optimizer state, metadata)
  std::string config_toml;        ///< the resolved config stored in it
  int64_t epoch = 0;              ///< the last epoch it holds; the run continues at epoch + 1
  std::vector<EpochRow> history;  ///< the evaluated epochs up to `epoch`
};

/// The record files of one run folder.
class RunRecords {
 public:
  /// `columns` must start with the integer "epoch" column. Nothing is read or written yet.
  RunRecords(std::string run_dir, std::vector<EpochColumn> columns);

  const std::string& dir() const { return dir_; }
  std::string best_path() const;  ///< <run_dir>/best.safetensors
  std::string last_path() const;  ///< <run_dir>/last.safetensors

  /// Writes config.toml (the resolved config) atomically (mmx::write_file_atomic).
  void write_config(const std::string& toml) const;
  /// Writes metrics.json: `summary` (a JSON object) with "epochs" set to the rows as objects,
  /// indented by 2 with a final newline; then metrics.csv: a header of the column names and one
  /// line per row (integers in decimal, numbers as %.10g, optional NaN as an empty cell). Each
  /// file is replaced atomically. Errors: std::runtime_error from the writes.
  void write_metrics(const nlohmann::json& summary, const std::vector<EpochRow>& rows) const;
  /// The rows as a compact JSON array of objects: the "history" metadata of a checkpoint.
  std::string history_json(const std::vector<EpochRow>& rows) const;

  /// Reads last.safetensors to continue a run: its metadata "format" must be `format` (else
  /// CheckpointError "<last>: not a <model> run (format '<found>'); resume it with the run's own
  /// config.toml"), and it must hold "config", "epoch" (an integer in [0, kMaxEpochCount]) and the
  /// history: "history" (a JSON array of epoch records with every column, finite numbers or null
  /// for optional ones, integer epochs increasing and at most "epoch"), or, in checkpoints that
  /// predate it, the rows of metrics.json before the next epoch. Errors: CheckpointError naming
  /// the file and the key or record.
  ResumePoint resume(const std::string& format, const std::string& model) const;

 private:
  std::string dir_;
  std::vector<EpochColumn> columns_;
};

/// The log lines of the [section] settings a resume changes ("resuming with a changed setting
/// (the new value applies): train.lr: 0.001 -> 0.0005"), for each of `sections` in order.
/// Errors: toml::parse_error for texts that are not TOML.
std::vector<std::string> changed_setting_notes(const std::string& stored_toml, const std::string& new_toml,
                                               const std::vector<std::string>& sections);

/// `v` as "%.17g" text, which reads back to the same double (checkpoint metadata numbers).
std::string exact_decimal(double v);

}  // namespace mmx::train
