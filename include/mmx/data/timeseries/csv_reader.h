// Reading the benchmark CSV layout: a `date` column, then one column per variate (TSLib /
// Autoformer files: ETT-small, weather, exchange_rate, illness, electricity, traffic).
// Tokenising is done by libcsv (Debian libcsv-dev); timestamps by timestamps.h. Writing: csv_writer.h.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mmx/data/timeseries/timestamps.h"

namespace mmx::data {

/// What to do with an empty cell or a NaN cell (`nan`, `NaN`, `NA`, `N/A`, `null`, any case).
/// None of the benchmark files has one; the policy is for user data.
enum class MissingPolicy {
  kError,        ///< DataError naming file, line and column (default)
  kForwardFill,  ///< repeat the previous row's value of that column ("ffill"); a missing cell in
                 ///< the first data row is still an error (nothing to repeat)
  kZero,         ///< use 0.0 ("zero")
};

/// "error", "ffill" or "zero" -> MissingPolicy. Errors: DataError listing the valid names.
MissingPolicy parse_missing_policy(std::string_view name);
std::string to_string(MissingPolicy policy);

/// Options of read_csv.
struct CsvReadOptions {
  MissingPolicy missing = MissingPolicy::kError;  ///< empty / NaN cells
  char delimiter = ',';
  /// Name of the timestamp column. "" = the first column named `date`, `datetime`, `timestamp`,
  /// `time`, `ds`, `day`, `week`, `month` or `period` (any case, in that order of preference),
  /// else the first column. Errors when a given name is absent.
  std::string date_column;
  /// Variate columns to read, in this order (the others are ignored). Empty = every column but
  /// the date column, in file order.
  std::vector<std::string> columns;
  /// With `columns` empty: leave out the columns whose first data row holds text that is not a
  /// number (ids, categories), listed in TimeSeriesTable::skipped_columns. Off: such a cell is an
  /// error (the benchmark files are read strictly).
  bool skip_non_numeric = false;
  /// Require strictly increasing timestamps (a repeated or earlier timestamp is an error naming
  /// both lines). Off for the benchmark files, read as TSLib reads them (weather.csv repeats one).
  bool require_increasing = false;
};

/// A multivariate series as read from a CSV: timestamps plus values in original units.
struct TimeSeriesTable {
  std::string source;                        ///< the file it was read from ("" when built in memory)
  std::string date_column = "date";          ///< header of the first column
  std::vector<std::string> columns;          ///< variate names, n_vars of them (header bytes kept as-is,
                                             ///< e.g. U+FFFD in weather.csv; surrounding spaces trimmed)
  std::vector<Timestamp> timestamps;         ///< one per row, in file order (duplicates kept)
  TimestampFormat time_format;               ///< layout of the date column, for writing forecasts
  torch::Tensor values;                      ///< (n_rows, n_vars) float64, original units, row = file row
  std::vector<std::int64_t> lines;           ///< 1-based file line of each row (for error messages)
  std::vector<std::string> skipped_columns;  ///< non-numeric columns left out (skip_non_numeric)

  std::int64_t n_rows() const { return static_cast<std::int64_t>(timestamps.size()); }
  std::int64_t n_vars() const { return static_cast<std::int64_t>(columns.size()); }
  /// The timestamp of row `row` formatted like the file (`2016-07-01 00:00:00`).
  std::string date_string(std::int64_t row) const;
};

/// Reads a CSV: a header, then one row per time step; the date column (CsvReadOptions::date_column,
/// by default the column named `date`, ..., else the first) is parsed as a timestamp (any layout of
/// try_parse_timestamp), the selected variate columns as float64.
/// Handles LF or CRLF line ends, a missing final newline, blank lines, a UTF-8 byte-order mark,
/// quoted fields, and arbitrary bytes in header names (a name that is not valid UTF-8 is read as
/// Windows-1252, as Excel writes it, and re-encoded as UTF-8).
/// Errors (DataError; message names the file, the 1-based line number and the column, and what
/// was expected): missing/unreadable file, empty file, header only (no data rows), a header with
/// fewer than 2 columns, two columns of the same name, a requested column that is absent, a row
/// with more or fewer fields than the header (ragged), a cell that
/// is not a decimal number (or is +-inf), an empty or NaN cell under MissingPolicy::kError,
/// an unparsable timestamp, a timestamp not after the previous one (require_increasing),
/// malformed quoting.
/// Source: the TSLib `dataset/` CSV layout; shared/data/README.md lists the quirks.
TimeSeriesTable read_csv(const std::string& path, const CsvReadOptions& options = {});

/// The same for CSV text held in memory; `name` stands for the file name in error messages.
TimeSeriesTable parse_csv(std::string_view text, const std::string& name, const CsvReadOptions& options = {});

}  // namespace mmx::data
