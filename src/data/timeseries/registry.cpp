// The benchmark registry: the paper's eight data sets (§6.4, Table 5) plus ILI (docs/decisions.md,
// 'ILI next to the eight benchmarks'); paths as in TSLib's dataset/ folder.
#include "mmx/data/timeseries/registry.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "mmx/core/source_dir.h"
#include "mmx/data/data_root.h"
#include "mmx/data/error.h"

namespace mmx::data {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::string to_string(SplitKind kind) {
  switch (kind) {
    case SplitKind::kEttHour:
      return "ett_hour";
    case SplitKind::kEttMinute:
      return "ett_minute";
    case SplitKind::kRatio:
      return "ratio_70_10_20";
  }
  return "ratio_70_10_20";
}

const std::vector<DatasetInfo>& dataset_registry() {
  constexpr std::int64_t kHour = 3600, kDay = 24 * kHour;
  static const std::vector<DatasetInfo> registry = {
      {"ETTh1", "ETT-small/ETTh1.csv", SplitKind::kEttHour, "1h", kHour, 7, 17420},
      {"ETTh2", "ETT-small/ETTh2.csv", SplitKind::kEttHour, "1h", kHour, 7, 17420},
      {"ETTm1", "ETT-small/ETTm1.csv", SplitKind::kEttMinute, "15min", 15 * 60, 7, 69680},
      {"ETTm2", "ETT-small/ETTm2.csv", SplitKind::kEttMinute, "15min", 15 * 60, 7, 69680},
      {"Weather", "weather/weather.csv", SplitKind::kRatio, "10min", 10 * 60, 21, 52696},
      {"Exchange", "exchange_rate/exchange_rate.csv", SplitKind::kRatio, "1d", kDay, 8, 7588},
      {"ILI", "illness/national_illness.csv", SplitKind::kRatio, "1w", 7 * kDay, 7, 966},
      {"Electricity", "electricity/electricity.csv", SplitKind::kRatio, "1h", kHour, 321, 26304},
      {"Traffic", "traffic/traffic.csv", SplitKind::kRatio, "1h", kHour, 862, 17544},
  };
  return registry;
}

const DatasetInfo& find_dataset(std::string_view name) {
  const auto& reg = dataset_registry();
  const std::string key = lower(name);
  for (const auto& d : reg) {
    if (lower(d.name) == key) return d;
  }
  const DatasetInfo* best = &reg.front();
  size_t best_d = static_cast<size_t>(-1);
  std::string valid;
  for (const auto& d : reg) {
    const size_t dist = edit_distance(key, lower(d.name));
    if (dist < best_d) {
      best_d = dist;
      best = &d;
    }
    valid += (valid.empty() ? "" : ", ") + d.name;
  }
  throw DataError("unknown data set '" + std::string(name) + "'; did you mean '" + best->name + "'? (valid: " + valid +
                  ")");
}

std::string embedded_data_dir() { return mmx::source_dir() + "/data"; }

std::string dataset_path(const DatasetInfo& info, const std::string& data_root) {
  namespace fs = std::filesystem;
  const fs::path p = fs::path(data_root) / info.relative_path;
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return p.string();
  if (info.name == "ETTh1") {
    const fs::path embedded = fs::path(embedded_data_dir()) / "ETTh1.csv";
    if (fs::is_regular_file(embedded, ec)) return embedded.string();
  }
  throw DataError(p.string(), 0, "",
                  "data set '" + info.name + "' not found; expected its CSV under the data root '" + data_root +
                      "' (TSLib layout; set $MMX_DATA_ROOT to change the root)");
}

std::string dataset_path(const DatasetInfo& info) { return dataset_path(info, mmx::default_data_root()); }

}  // namespace mmx::data
