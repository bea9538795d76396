// read_csv: libcsv tokenises; we check the layout, parse dates and numbers, apply the fill policy.
//
// Line numbers: the text is handed to libcsv one physical line at a time (libcsv keeps its state
// between calls, so quoted fields still work), which tells which line a record started on.
// Callbacks never throw through libcsv's C frames: the first error is stored and rethrown after
// csv_parse returns.
#include <csv.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mmx/core/input_file.h"
#include "mmx/data/error.h"
#include "mmx/data/timeseries/csv_reader.h"

namespace mmx::data {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool is_missing_token(std::string_view s) {
  for (std::string_view t : {"", "nan", "-nan", "+nan", "na", "n/a", "null"}) {
    if (iequals(s, t)) return true;
  }
  return false;
}

enum class Cell { kNumber, kMissing, kBad, kNonFinite };

Cell parse_number(std::string_view s, double& out) {
  s = trim(s);
  if (is_missing_token(s)) return Cell::kMissing;
  std::string_view body = s;
  if (!body.empty() && body.front() == '+') body.remove_prefix(1);
  const char* end = body.data() + body.size();
  auto [ptr, ec] = std::from_chars(body.data(), end, out, std::chars_format::general);
  if (ec != std::errc() || ptr != end) {
    if (ec == std::errc::result_out_of_range && ptr == end) return Cell::kNonFinite;
    return Cell::kBad;
  }
  if (std::isnan(out)) return Cell::kMissing;
  if (!std::isfinite(out)) return Cell::kNonFinite;
  return Cell::kNumber;
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size() || (n == 2 && c < 0xC2)) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

// A header saved by a Windows program (Windows-1252, e.g. "Temp (\xB0C)") re-encoded as UTF-8,
// so names print, compare and travel in checkpoint metadata (JSON) as text.
std::string windows1252_to_utf8(std::string_view s) {
  static const char16_t k80[32] = {0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
                                   0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD,
                                   0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                   0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178};
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    const char32_t u = c < 0x80 ? c : c < 0xA0 ? k80[c - 0x80] : c;
    if (u < 0x80) {
      out += static_cast<char>(u);
    } else if (u < 0x800) {
      out += static_cast<char>(0xC0 | (u >> 6));
      out += static_cast<char>(0x80 | (u & 0x3F));
    } else {
      out += static_cast<char>(0xE0 | (u >> 12));
      out += static_cast<char>(0x80 | ((u >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (u & 0x3F));
    }
  }
  return out;
}

std::string shown(std::string_view s) {
  constexpr size_t kMax = 40;
  if (s.size() <= kMax) return std::string(s);
  return std::string(s.substr(0, kMax)) + "...";
}

struct Reader {
  std::string name;
  CsvReadOptions options;
  TimeSeriesTable table;
  std::vector<double> values;       // row-major (n_rows, n_vars)
  std::vector<std::string> fields;  // current record
  std::int64_t line = 0;            // physical line being fed to libcsv
  std::int64_t record_line = 0;     // line the current record started on
  std::int64_t header_line = 0;
  bool have_header = false;
  bool padded = true;
  bool format_set = false;
  std::exception_ptr error;

  [[noreturn]] void fail(std::int64_t at, const std::string& column, const std::string& msg) {
    throw DataError(name, at, column, msg);
  }

  std::vector<std::string> header;  // every column name, in file order
  size_t date_idx = 0;              // header index of the date column
  std::vector<size_t> var_idx;      // header index of each variate, in table.columns order
  bool columns_final = false;       // false until skip_non_numeric has seen the first row

  std::string expected_layout() const {
    return "expected " + std::to_string(header.size()) + " fields (" + table.date_column + " + " +
           std::to_string(header.size() - 1) + " variates)";
  }

  // "a, b, c" (at most 12 names, then the count), for error messages.
  static std::string name_list(const std::vector<std::string>& names) {
    std::string out;
    for (size_t i = 0; i < names.size() && i < 12; ++i) {
      if (i) out += ", ";
      out += '\'';
      out += shown(names[i]);
      out += '\'';
    }
    if (names.size() > 12) out += ", ... (" + std::to_string(names.size()) + " in all)";
    return out;
  }

  size_t header_index(const std::string& name) const {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return i;
    return header.size();
  }

  void set_columns() {
    table.columns.clear();
    for (size_t i : var_idx) table.columns.push_back(header[i]);
  }

  void on_header() {
    if (!fields.empty() && fields[0].rfind("\xEF\xBB\xBF", 0) == 0) fields[0].erase(0, 3);
    for (auto& f : fields) {
      f = std::string(trim(f));
      if (!valid_utf8(f)) f = windows1252_to_utf8(f);
    }
    if (fields.size() < 2) {
      fail(record_line, "",
           "header has " + std::to_string(fields.size()) +
               " column(s); expected a date column followed by at least one "
               "variate column (e.g. 'date,OT')");
    }
    header = fields;
    for (size_t j = 1; j < header.size(); ++j)
      for (size_t i = 0; i < j; ++i)
        if (header[i] == header[j])
          fail(record_line, header[j],
               "column name appears twice (columns " + std::to_string(i + 1) + " and " + std::to_string(j + 1) +
                   "); expected unique column names");
    if (!options.date_column.empty()) {
      date_idx = header_index(options.date_column);
      if (date_idx == header.size())
        fail(record_line, options.date_column,
             "no such date column in the header (columns: " + name_list(header) +
                 "); expected data.date_column to name the timestamp column");
    } else {
      date_idx = header.size();
      for (std::string_view cand : {"date", "datetime", "timestamp", "time", "ds", "day", "week", "month", "period"})
        for (size_t i = 0; i < header.size() && date_idx == header.size(); ++i)
          if (iequals(header[i], cand)) date_idx = i;
      if (date_idx == header.size()) date_idx = 0;
    }
    table.date_column = header[date_idx];
    if (!options.columns.empty()) {
      for (const auto& name : options.columns) {
        const size_t i = header_index(name);
        if (i == header.size())
          fail(record_line, name, "no such column in the header (columns: " + name_list(header) + ")");
        if (i == date_idx) fail(record_line, name, "is the date column; expected a column of numbers");
        if (std::find(var_idx.begin(), var_idx.end(), i) != var_idx.end())
          fail(record_line, name, "requested twice; expected each column once");
        var_idx.push_back(i);
      }
      columns_final = true;
    } else {
      for (size_t i = 0; i < header.size(); ++i)
        if (i != date_idx) var_idx.push_back(i);
      columns_final = !options.skip_non_numeric;
    }
    set_columns();
    header_line = record_line;
    have_header = true;
  }

  // skip_non_numeric: the first data row decides which columns hold numbers.
  void choose_numeric_columns() {
    std::vector<size_t> keep;
    for (size_t i : var_idx) {
      double v = 0.0;
      if (parse_number(fields[i], v) == Cell::kBad)
        table.skipped_columns.push_back(header[i]);
      else
        keep.push_back(i);
    }
    if (keep.empty())
      fail(record_line, "",
           "no column of numbers (left out as text: " + name_list(table.skipped_columns) +
               "); expected at least one numeric column besides '" + table.date_column + "'");
    var_idx = std::move(keep);
    set_columns();
    columns_final = true;
  }

  void on_row() {
    if (fields.size() < header.size()) {
      fail(record_line, header[fields.size()],
           "ragged row: " + std::to_string(fields.size()) +
               " fields, the row ends before this "
               "column; " +
               expected_layout());
    }
    if (fields.size() > header.size()) {
      fail(record_line, "",
           "ragged row: " + std::to_string(fields.size()) +
               " fields, more than the header "
               "(last column '" +
               header.back() + "'); " + expected_layout());
    }
    if (!columns_final) choose_numeric_columns();
    const size_t n_vars = var_idx.size();
    Timestamp t = 0;
    TimestampFormat f;
    const std::string& date_text = fields[date_idx];
    if (!try_parse_timestamp(date_text, t, &f)) {
      fail(record_line, table.date_column,
           "cannot parse '" + shown(date_text) +
               "' as a timestamp; expected 'YYYY-MM-DD HH:MM:SS', 'YYYY-MM-DD HH:MM', "
               "'YYYY/M/D H:MM' or a date 'YYYY-MM-DD'");
    }
    if (!format_set) {
      table.time_format = f;
      format_set = true;
    } else if (f.date_sep != table.time_format.date_sep || f.has_time != table.time_format.has_time ||
               f.has_seconds != table.time_format.has_seconds || f.time_sep != table.time_format.time_sep) {
      fail(record_line, table.date_column,
           "timestamp '" + shown(date_text) + "' changes layout; expected the layout of '" +
               format_timestamp(table.timestamps.front(), table.time_format) + "' (first data row)");
    }
    if (options.require_increasing && !table.timestamps.empty() && t <= table.timestamps.back()) {
      fail(record_line, table.date_column,
           "timestamp '" + shown(date_text) + "' is " + (t == table.timestamps.back() ? "the same as" : "before") +
               " the previous row's (line " + std::to_string(table.lines.back()) +
               "); expected strictly increasing timestamps (sort the rows by time, drop repeated rows)");
    }
    padded = padded && f.zero_padded;
    table.timestamps.push_back(t);
    table.lines.push_back(record_line);

    const size_t row = table.timestamps.size() - 1;
    for (size_t j = 0; j < n_vars; ++j) {
      double v = 0.0;
      const std::string& cell = fields[var_idx[j]];
      switch (parse_number(cell, v)) {
        case Cell::kNumber:
          break;
        case Cell::kBad:
          fail(record_line, table.columns[j],
               "cannot parse '" + shown(trim(cell)) + "' as a number; expected a decimal number (float64)");
        case Cell::kNonFinite:
          fail(record_line, table.columns[j],
               "non-finite value '" + shown(trim(cell)) + "'; expected a finite decimal number");
        case Cell::kMissing: {
          const std::string what =
              trim(cell).empty() ? std::string("empty cell") : "missing value '" + std::string(trim(cell)) + "'";
          switch (options.missing) {
            case MissingPolicy::kError:
              fail(record_line, table.columns[j],
                   what +
                       "; expected a number (to fill such cells, train with data.fill = "
                       "\"ffill\" or \"zero\"; mmx forecast uses the model's setting)");
            case MissingPolicy::kZero:
              v = 0.0;
              break;
            case MissingPolicy::kForwardFill:
              if (row == 0) {
                fail(record_line, table.columns[j],
                     what +
                         " in the first data row; expected a number (forward fill has no "
                         "earlier value)");
              }
              v = values[(row - 1) * n_vars + j];
              break;
          }
          break;
        }
      }
      values.push_back(v);
    }
  }

  void on_record() {
    if (!have_header) {
      on_header();
    } else {
      on_row();
    }
    fields.clear();
  }
};

extern "C" void on_field_cb(void* s, size_t len, void* data) {
  auto* r = static_cast<Reader*>(data);
  if (r->error) return;
  if (r->fields.empty()) r->record_line = r->line;
  r->fields.emplace_back(static_cast<const char*>(s), len);
}

extern "C" void on_record_cb(int, void* data) {
  auto* r = static_cast<Reader*>(data);
  if (r->error) return;
  try {
    r->on_record();
  } catch (...) {
    r->error = std::current_exception();
  }
}

class Parser {
 public:
  explicit Parser(unsigned char opts) {
    if (csv_init(&p_, opts) != 0) throw DataError("libcsv: csv_init failed");
  }
  ~Parser() { csv_free(&p_); }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;
  csv_parser* get() { return &p_; }

 private:
  csv_parser p_{};
};

}  // namespace

MissingPolicy parse_missing_policy(std::string_view name) {
  if (iequals(name, "error")) return MissingPolicy::kError;
  if (iequals(name, "ffill")) return MissingPolicy::kForwardFill;
  if (iequals(name, "zero")) return MissingPolicy::kZero;
  throw DataError("unknown missing-value policy '" + std::string(name) + "'; expected 'error', 'ffill' or 'zero'");
}

std::string to_string(MissingPolicy policy) {
  switch (policy) {
    case MissingPolicy::kError:
      return "error";
    case MissingPolicy::kForwardFill:
      return "ffill";
    case MissingPolicy::kZero:
      return "zero";
  }
  return "error";
}

std::string TimeSeriesTable::date_string(std::int64_t row) const {
  return format_timestamp(timestamps.at(static_cast<size_t>(row)), time_format);
}

TimeSeriesTable parse_csv(std::string_view text, const std::string& name, const CsvReadOptions& options) {
  Reader r;
  r.name = name;
  r.options = options;
  r.table.source = name;

  if (trim(text).empty() || trim(text) == "\xEF\xBB\xBF") {
    throw DataError(name, 0, "", "empty file; expected a header line 'date,<variate>,...' and data rows");
  }

  Parser parser(CSV_STRICT | CSV_STRICT_FINI);
  csv_set_delim(parser.get(), static_cast<unsigned char>(options.delimiter));
  auto check = [&](size_t fed, size_t want) {
    if (r.error) std::rethrow_exception(r.error);
    if (fed != want) {
      throw DataError(name, r.line, "",
                      std::string("malformed CSV (") + csv_strerror(csv_error(parser.get())) +
                          "); expected fields separated by '" + options.delimiter + "' with balanced double quotes");
    }
  };

  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = pos;
    while (end < text.size() && text[end] != '\n' && text[end] != '\r') ++end;
    if (end < text.size()) {
      if (text[end] == '\r' && end + 1 < text.size() && text[end + 1] == '\n') ++end;
      ++end;
    }
    ++r.line;
    const size_t len = end - pos;
    check(csv_parse(parser.get(), text.data() + pos, len, on_field_cb, on_record_cb, &r), len);
    pos = end;
  }
  if (csv_fini(parser.get(), on_field_cb, on_record_cb, &r) != 0) {
    if (r.error) std::rethrow_exception(r.error);
    throw DataError(name, r.line, "",
                    "malformed CSV: unterminated quoted field at the end of the file; expected a "
                    "closing double quote");
  }
  if (r.error) std::rethrow_exception(r.error);

  if (!r.have_header) {
    throw DataError(name, 0, "", "empty file; expected a header line 'date,<variate>,...' and data rows");
  }
  if (r.table.timestamps.empty()) {
    throw DataError(name, r.header_line, "", "header only, no data rows; expected at least one row after the header");
  }
  r.table.time_format.zero_padded = r.padded;
  const auto n_rows = static_cast<std::int64_t>(r.table.timestamps.size());
  r.table.values =
      torch::from_blob(r.values.data(), {n_rows, r.table.n_vars()}, torch::TensorOptions().dtype(torch::kFloat64))
          .clone();
  return std::move(r.table);
}

TimeSeriesTable read_csv(const std::string& path, const CsvReadOptions& options) {
  std::string text;
  try {
    text = read_input_file(path, InputKind::kCsv);
  } catch (const InputFileError& e) {
    throw DataError(path, 0, "", e.reason);
  }
  return parse_csv(text, path, options);
}

}  // namespace mmx::data
