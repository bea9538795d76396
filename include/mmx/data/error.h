// The one exception type of the forecasting data layer.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace mmx::data {

/// Thrown by every function of mmx::data for bad input: a missing or malformed CSV, an unknown
/// data set, a split or window request the table is too short for. Derives from
/// std::runtime_error; what() is the full message, e.g.
///   `data/x.csv:5: column 'OT': cannot parse 'abc' as a number; expected a decimal number`.
/// The fields repeat the location for programmatic use: `file` (empty when no file is
/// involved), `line` (1-based physical line number in the file, 0 when not about one line) and
/// `column` (column name from the header, empty when not about one column).
class DataError : public std::runtime_error {
 public:
  DataError(std::string file, std::int64_t line, std::string column, const std::string& message);
  /// An error not tied to a file position (e.g. an unknown data set name).
  explicit DataError(const std::string& message);

  std::string file;
  std::int64_t line = 0;
  std::string column;
};

/// A number for an error message: six significant digits, exponent form when large or small
/// (1e+300, 2.5e-07, 1234.5), "nan" / "inf" as printf writes them.
std::string format_value(double v);

}  // namespace mmx::data
