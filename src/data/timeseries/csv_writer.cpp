// format_csv / write_forecast_csv / write_table_csv: plain formatted output, atomic replace.
#include <charconv>

#include "mmx/core/atomic_file.h"
#include "mmx/data/error.h"
#include "mmx/data/timeseries/csv_writer.h"

namespace mmx::data {
namespace {

void append_field(std::string& out, const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) {
    out += s;
    return;
  }
  out += '"';
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

template <typename T>
void append_number(std::string& out, T v) {
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, ptr);
}

}  // namespace

std::string format_csv(const std::string& date_column, const std::vector<std::string>& columns,
                       const std::vector<std::string>& dates, const torch::Tensor& values) {
  const auto n_rows = static_cast<std::int64_t>(dates.size());
  const auto n_vars = static_cast<std::int64_t>(columns.size());
  if (!values.defined() || values.dim() != 2 || values.size(0) != n_rows || values.size(1) != n_vars) {
    throw DataError("format_csv: values of shape " +
                    (values.defined() ? c10::str(values.sizes()) : std::string("(undefined)")) + "; expected (" +
                    std::to_string(n_rows) + ", " + std::to_string(n_vars) + ") = (dates, columns)");
  }
  std::string out;
  out.reserve(static_cast<size_t>(n_rows * (n_vars + 1) * 12 + 64));
  append_field(out, date_column);
  for (const auto& c : columns) {
    out += ',';
    append_field(out, c);
  }
  out += '\n';
  const bool single = values.scalar_type() == torch::kFloat32;
  const torch::Tensor v = values.to(torch::kCPU, single ? torch::kFloat32 : torch::kFloat64).contiguous();
  for (std::int64_t i = 0; i < n_rows; ++i) {
    append_field(out, dates[static_cast<size_t>(i)]);
    for (std::int64_t j = 0; j < n_vars; ++j) {
      out += ',';
      if (single) {
        append_number(out, v.data_ptr<float>()[i * n_vars + j]);
      } else {
        append_number(out, v.data_ptr<double>()[i * n_vars + j]);
      }
    }
    out += '\n';
  }
  return out;
}

void write_forecast_csv(const std::string& path, const std::string& date_column,
                        const std::vector<std::string>& columns, const std::vector<std::string>& dates,
                        const torch::Tensor& values) {
  mmx::write_file_atomic(path, format_csv(date_column, columns, dates, values));
}

void write_table_csv(const std::string& path, const TimeSeriesTable& table) {
  std::vector<std::string> dates;
  dates.reserve(table.timestamps.size());
  for (Timestamp t : table.timestamps) dates.push_back(format_timestamp(t, table.time_format));
  write_forecast_csv(path, table.date_column, table.columns, dates, table.values);
}

}  // namespace mmx::data
