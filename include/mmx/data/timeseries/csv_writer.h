// Writing the benchmark CSV layout (forecasts, whole tables), atomically
// (src/data/timeseries/csv_writer.cpp).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "mmx/data/timeseries/csv_reader.h"
#include "mmx/data/timeseries/timestamps.h"

namespace mmx::data {

/// CSV text of a table in the benchmark layout: header `date_column,columns...`, then per row the
/// formatted date and the values (LF line ends, final newline). `values` is (rows, n_vars),
/// float32 or float64, any device; numbers are written in the shortest form that reads back to
/// the same value of that dtype. Header names holding the delimiter, a quote or a line break are
/// quoted. Errors: DataError when dates.size(), columns.size() and the shape of values disagree.
std::string format_csv(const std::string& date_column, const std::vector<std::string>& columns,
                       const std::vector<std::string>& dates, const torch::Tensor& values);

/// Writes format_csv(...) to `path` atomically (mmx::write_file_atomic: temporary file in the
/// same directory, then rename), so a reader never sees a half-written forecast.
/// Errors: DataError as format_csv; std::runtime_error from write_file_atomic on I/O failure.
void write_forecast_csv(const std::string& path, const std::string& date_column,
                        const std::vector<std::string>& columns, const std::vector<std::string>& dates,
                        const torch::Tensor& values);

/// Writes a whole table (its own dates, formatted in table.time_format) atomically; read_csv
/// reads it back to the same timestamps and values.
void write_table_csv(const std::string& path, const TimeSeriesTable& table);

}  // namespace mmx::data
