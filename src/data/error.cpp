// DataError: location-prefixed messages.
#include "mmx/data/error.h"

#include <cstdio>

namespace mmx::data {
namespace {

std::string compose(const std::string& file, std::int64_t line, const std::string& column, const std::string& message) {
  std::string out;
  if (!file.empty()) out.append(file).append(line > 0 ? ":" : "");
  if (file.empty() && line > 0) out.append("line ");
  if (line > 0) out.append(std::to_string(line));
  if (!file.empty() || line > 0) out.append(": ");
  if (!column.empty()) out.append("column '").append(column).append("': ");
  out.append(message);
  return out;
}

}  // namespace

DataError::DataError(std::string file_, std::int64_t line_, std::string column_, const std::string& message)
    : std::runtime_error(compose(file_, line_, column_, message)),
      file(std::move(file_)),
      line(line_),
      column(std::move(column_)) {}

DataError::DataError(const std::string& message) : std::runtime_error(message) {}

std::string format_value(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace mmx::data
