// Fuzz target: the CSV reader, mmx::data::parse_csv (src/data/timeseries/csv_reader.cpp: libcsv
// tokenising, header and cell checks, missing-value policies; src/data/timeseries/timestamps.cpp:
// every timestamp layout).
// Input: byte 0 chooses the options (bits 0-1 missing policy error/ffill/zero, bit 2
// skip_non_numeric, bit 3 require_increasing, bits 4-5 date_column, bits 6-7 columns), byte 1 is
// the delimiter (any byte), the rest is the CSV text. tools/check/fuzz.sh prefixes the seed files with
// these two bytes.
#include "fuzz_common.h"

#include "mmx/data/timeseries/csv_reader.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  using mmx::data::MissingPolicy;
  const uint8_t flags = data[0];
  mmx::data::CsvReadOptions options;
  constexpr MissingPolicy kPolicies[] = {MissingPolicy::kError, MissingPolicy::kForwardFill, MissingPolicy::kZero,
                                         MissingPolicy::kError};
  options.missing = kPolicies[flags & 3];
  options.skip_non_numeric = (flags >> 2) & 1;
  options.require_increasing = (flags >> 3) & 1;
  constexpr const char* kDateColumns[] = {"", "date", "ds", "OT"};
  options.date_column = kDateColumns[(flags >> 4) & 3];
  switch ((flags >> 6) & 3) {
    case 1:
      options.columns = {"OT"};
      break;
    case 2:
      options.columns = {"OT", "HUFL"};
      break;
    case 3:
      options.columns = {"HUFL", "HUFL"};
      break;
    default:
      break;
  }
  options.delimiter = static_cast<char>(data[1]);
  const std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);
  mmx::fuzz::expect_clean([&] {
    const auto table = mmx::data::parse_csv(text, "fuzz.csv", options);
    const auto& v = table.values;
    if (!v.defined() || v.dim() != 2 || v.size(0) != table.n_rows() || v.size(1) != table.n_vars() ||
        table.lines.size() != table.timestamps.size())
      mmx::fuzz::finding("parse_csv", "values shape disagrees with the rows and columns");
  });
  return 0;
}
