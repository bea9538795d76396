// The sweep file, its runs, reading a finished run and the reports (see include/mmx/train/sweep.h).
#include "mmx/train/sweep.h"

#include <toml++/toml.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "mmx/core/input_file.h"
#include "mmx/train/config_error.h"
#include "mmx/train/tsm2_config.h"
#include "mmx/train/vim2_config.h"
#include "train/config_value.h"

namespace mmx::train {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// The shortest text that reads back to v: plain decimals ("0.0005") in the usual range, else
// scientific ("1e-08").
std::string shortest(double v) {
  char buf[512];
  const double a = std::fabs(v);
  const bool plain = a == 0 || (a >= 1e-5 && a < 1e15);
  const auto r = plain ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
                       : std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  return std::string(buf, r.ptr);
}

// A TOML value as `--set` override text (config_value::from_string reads it back).
std::string value_text(const toml::node& node, const std::string& where) {
  if (const auto* s = node.as_string()) return s->get();
  if (const auto* i = node.as_integer()) return std::to_string(i->get());
  if (const auto* f = node.as_floating_point()) {
    if (!std::isfinite(f->get())) throw ConfigError(where + " must be a finite number");
    return shortest(f->get());
  }
  if (const auto* b = node.as_boolean()) return b->get() ? "true" : "false";
  if (const auto* a = node.as_array()) {
    std::string out = "[";
    for (size_t i = 0; i < a->size(); ++i) {
      const toml::node& el = *a->get(i);
      const std::string t = value_text(el, where);
      out += (i ? ", " : "") + (el.is_string() ? "\"" + t + "\"" : t);
    }
    return out + "]";
  }
  throw ConfigError(where + " must be a string, number, boolean or array");
}

// Flattens a table of config keys (dotted, quoted or nested) into "section.key" -> node.
void flatten(const toml::table& t, const std::string& prefix,
             std::vector<std::pair<std::string, const toml::node*>>& out) {
  for (const auto& [k, v] : t) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const auto* sub = v.as_table())
      flatten(*sub, key, out);
    else
      out.emplace_back(key, &v);
  }
}

void check_key(const std::string& key, const std::vector<std::string>& keys, const std::string& where) {
  if (key == "train.seed") throw ConfigError(where + ": train.seed is set by the sweep's `seeds` list");
  if (std::find(keys.begin(), keys.end(), key) == keys.end())
    throw ConfigError(where + ": unknown config key '" + key + "'; " + did_you_mean(key, keys));
}

std::string safe_name(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') ? c : '_';
  return out;
}

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

struct MeanSd {
  double mean = 0, sd = NAN;
};
MeanSd mean_sd(const std::vector<double>& v) {
  MeanSd r;
  if (v.empty()) return {NAN, NAN};
  for (double x : v) r.mean += x;
  r.mean /= static_cast<double>(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - r.mean) * (x - r.mean);
    r.sd = std::sqrt(ss / static_cast<double>(v.size() - 1));
  }
  return r;
}

std::string pm(const MeanSd& m) {
  char buf[64];
  if (std::isnan(m.sd))
    std::snprintf(buf, sizeof buf, "%.4f", m.mean);
  else
    std::snprintf(buf, sizeof buf, "%.4f ± %.4f", m.mean, m.sd);
  return buf;
}

std::string describe(const SweepRun& r) {
  if (r.values.empty()) return "(base config)";
  std::string s;
  for (const auto& [k, v] : r.values) s += (s.empty() ? "" : ", ") + k + " = " + v;
  return s;
}

}  // namespace

SweepSpec load_sweep(const std::string& path) {
  SweepSpec spec;
  spec.path = path;
  toml::table root;
  try {
    root = toml::parse(config_value::read_config_text(path), path);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << e.source().begin;
    throw ConfigError(path + ":" + where.str() + ": " + std::string(e.description()));
  }
  for (const auto& [k, v] : root) {
    const std::string key(k.str());
    if (key != "base" && key != "seeds" && key != "jobs" && key != "out" && key != "set" && key != "grid")
      throw ConfigError(path + ": unknown key '" + key + "' (a sweep file has base, seeds, jobs, out, [set], [grid])");
  }
  const auto* base = root["base"].as_string();
  if (!base) throw ConfigError(path + ": `base` (the base config file, relative to the sweep file) is required");
  const fs::path dir = fs::path(path).parent_path();
  spec.base =
      (fs::path(base->get()).is_absolute() ? fs::path(base->get()) : dir / base->get()).lexically_normal().string();
  if (is_classify_config(spec.base))
    throw ConfigError(path + ": base " + spec.base + " is a ViM2 config; mmx sweep runs TSM2 configs");
  load_config(spec.base);  // a valid TSM2 config (throws ConfigError naming it)

  if (const auto* seeds = root["seeds"].node()) {
    const auto* a = seeds->as_array();
    if (!a || a->empty()) throw ConfigError(path + ": seeds must be a non-empty array of integers");
    spec.seeds.clear();
    for (const auto& el : *a) {
      const auto* i = el.as_integer();
      if (!i || i->get() < 0) throw ConfigError(path + ": seeds must be integers >= 0");
      if (std::find(spec.seeds.begin(), spec.seeds.end(), i->get()) != spec.seeds.end())
        throw ConfigError(path + ": seed " + std::to_string(i->get()) + " is listed twice");
      spec.seeds.push_back(i->get());
    }
  }
  if (const auto* jobs = root["jobs"].node()) {
    const auto* i = jobs->as_integer();
    if (!i || i->get() < 1 || i->get() > 64) throw ConfigError(path + ": jobs must be an integer in [1, 64]");
    spec.jobs = i->get();
  }
  if (const auto* out = root["out"].node()) {
    const auto* s = out->as_string();
    if (!s || s->get().empty()) throw ConfigError(path + ": out must be a folder name");
    spec.out = s->get();
  } else {
    spec.out = "runs/sweep-" + fs::path(path).stem().string();
  }

  const std::vector<std::string> keys = config_keys();
  for (const char* section : {"set", "grid"}) {
    const toml::node* node = root[section].node();
    if (!node) continue;
    const auto* t = node->as_table();
    if (!t) throw ConfigError(path + ": [" + section + "] must be a table of config keys");
    std::vector<std::pair<std::string, const toml::node*>> entries;
    flatten(*t, "", entries);
    for (const auto& [key, v] : entries) {
      const std::string where = path + ": [" + section + "] " + key;
      check_key(key, keys, path + ": [" + section + "]");
      if (std::string(section) == "set") {
        spec.fixed.emplace_back(key, value_text(*v, where));
        continue;
      }
      const auto* a = v->as_array();
      if (!a || a->empty()) throw ConfigError(where + " must be a non-empty array of values");
      std::vector<std::string> values;
      for (const auto& el : *a) values.push_back(value_text(el, where));
      spec.grid.emplace_back(key, std::move(values));
    }
  }
  int64_t n = static_cast<int64_t>(spec.seeds.size());
  for (const auto& [key, values] : spec.grid) {
    n *= static_cast<int64_t>(values.size());
    if (n > kMaxSweepRuns)
      throw ConfigError(path + ": the grid and seeds make more than " + std::to_string(kMaxSweepRuns) + " runs");
  }
  return spec;
}

void add_fixed_overrides(SweepSpec& spec, const std::vector<std::string>& overrides) {
  const std::vector<std::string> keys = config_keys();
  for (const std::string& o : overrides) {
    const size_t eq = o.find('=');
    if (eq == std::string::npos || eq == 0) throw ConfigError("--set " + o + ": expected section.key=value");
    const std::string key = o.substr(0, eq);
    check_key(key, keys, "--set " + o);
    for (const auto& g : spec.grid)
      if (g.first == key) throw ConfigError("--set " + o + ": " + key + " is a [grid] key of " + spec.path);
    auto it = std::find_if(spec.fixed.begin(), spec.fixed.end(), [&](const auto& kv) { return kv.first == key; });
    if (it != spec.fixed.end())
      it->second = o.substr(eq + 1);
    else
      spec.fixed.emplace_back(key, o.substr(eq + 1));
  }
}

std::vector<SweepRun> expand_sweep(const SweepSpec& spec) {
  // Each key's short name: its last part, unless another key shares it.
  std::vector<std::string> names;
  for (const auto& [key, values] : spec.grid) {
    const std::string tail = key.substr(key.rfind('.') + 1);
    int same = 0;
    for (const auto& other : spec.grid) same += other.first.substr(other.first.rfind('.') + 1) == tail;
    names.push_back(same > 1 ? key : tail);
  }
  int64_t combos = 1;
  for (const auto& g : spec.grid) combos *= static_cast<int64_t>(g.second.size());
  std::vector<SweepRun> runs;
  for (int64_t c = 0; c < combos; ++c) {
    std::vector<std::pair<std::string, std::string>> values(spec.grid.size());
    int64_t rest = c;
    for (size_t k = spec.grid.size(); k-- > 0;) {
      const auto& opts = spec.grid[k].second;
      values[k] = {spec.grid[k].first, opts[static_cast<size_t>(rest % static_cast<int64_t>(opts.size()))]};
      rest /= static_cast<int64_t>(opts.size());
    }
    std::string stem;
    for (size_t k = 0; k < values.size(); ++k) stem += safe_name(names[k]) + "-" + safe_name(values[k].second) + "_";
    if (stem.size() > 160) stem = "config-" + std::to_string(c + 1) + "_";
    for (int64_t seed : spec.seeds) {
      SweepRun r;
      r.name = stem + "seed-" + std::to_string(seed);
      r.config_index = c;
      r.values = values;
      r.seed = seed;
      for (const auto& [k, v] : spec.fixed) r.overrides.push_back(k + "=" + v);
      for (const auto& [k, v] : values) r.overrides.push_back(k + "=" + v);
      r.overrides.push_back("train.seed=" + std::to_string(seed));
      runs.push_back(std::move(r));
    }
  }
  return runs;
}

RunOutcome read_run_outcome(const std::string& run_dir) {
  RunOutcome o;
  const std::string metrics = run_dir + "/metrics.json";
  std::error_code ec;
  if (fs::exists(run_dir + "/sweep_run.json", ec)) {
    try {
      const json j = json::parse(read_input_file(run_dir + "/sweep_run.json", InputKind::kConfig));
      o.seconds = j.at("seconds").get<double>();
    } catch (const std::exception&) {
      // the wall time is informative only; a torn record leaves it unknown
    }
  }
  if (!fs::exists(metrics, ec)) return o;
  try {
    const json j = json::parse(read_input_file(metrics, InputKind::kConfig));
    if (!j.contains("test")) return o;  // written at the end of a training: not finished
    const json& epochs = j.at("epochs");
    o.epochs = static_cast<int64_t>(epochs.size());
    o.best_epoch = j.at("best_epoch").get<int64_t>();
    o.val_mse = j.at("best_val_mse").get<double>();
    bool found = false;
    for (const json& e : epochs)
      if (e.at("epoch").get<int64_t>() == o.best_epoch) {
        o.val_mae = e.at("val_mae").get<double>();
        found = true;
      }
    if (!found) throw std::runtime_error("no epoch record for best_epoch " + std::to_string(o.best_epoch));
    const json& t = j.at("test");
    o.test_mse = t.at("mse").get<double>();
    o.test_mae = t.at("mae").get<double>();
    o.test_windows = t.at("windows").get<int64_t>();
    o.status = RunOutcome::Status::kFinished;
  } catch (const std::exception& e) {
    o.status = RunOutcome::Status::kFailed;
    o.error = metrics + ": " + e.what();
  }
  return o;
}

std::string sweep_csv(const SweepSpec& spec, const std::vector<SweepRun>& runs,
                      const std::vector<RunOutcome>& outcomes) {
  std::ostringstream s;
  s << "run";
  for (const auto& g : spec.grid) s << ',' << csv_cell(g.first);
  s << ",seed,status,epochs,best_epoch,val_mse,val_mae,test_mse,test_mae,test_windows,seconds,error\n";
  for (size_t i = 0; i < runs.size(); ++i) {
    const SweepRun& r = runs[i];
    const RunOutcome& o = outcomes[i];
    s << csv_cell(r.name);
    for (const auto& kv : r.values) s << ',' << csv_cell(kv.second);
    s << ',' << r.seed << ',';
    if (o.status == RunOutcome::Status::kFinished)
      s << "finished," << o.epochs << ',' << o.best_epoch << ',' << num(o.val_mse) << ',' << num(o.val_mae) << ','
        << num(o.test_mse) << ',' << num(o.test_mae) << ',' << o.test_windows;
    else
      s << (o.status == RunOutcome::Status::kFailed ? "failed" : "not run") << ",,,,,,,";
    s << ',' << (o.seconds > 0 ? num(o.seconds) : std::string()) << ',' << csv_cell(o.error) << '\n';
  }
  return s.str();
}

int64_t select_by_validation(const std::vector<SweepRun>& runs, const std::vector<RunOutcome>& outcomes) {
  std::map<int64_t, std::vector<double>> val;
  std::set<int64_t> incomplete;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (outcomes[i].status == RunOutcome::Status::kFinished)
      val[runs[i].config_index].push_back(outcomes[i].val_mse);
    else
      incomplete.insert(runs[i].config_index);
  }
  int64_t best = -1;
  double best_mean = INFINITY;
  for (const auto& [c, v] : val) {
    if (incomplete.count(c)) continue;
    const double m = mean_sd(v).mean;
    if (m < best_mean) {
      best_mean = m;
      best = c;
    }
  }
  return best;
}

std::string sweep_summary(const SweepSpec& spec, const std::vector<SweepRun>& runs,
                          const std::vector<RunOutcome>& outcomes) {
  struct Config {
    const SweepRun* first = nullptr;
    int64_t seeds = 0, finished = 0;
    std::vector<double> val;
  };
  std::map<int64_t, Config> configs;
  for (size_t i = 0; i < runs.size(); ++i) {
    Config& c = configs[runs[i].config_index];
    if (!c.first) c.first = &runs[i];
    ++c.seeds;
    if (outcomes[i].status == RunOutcome::Status::kFinished) {
      ++c.finished;
      c.val.push_back(outcomes[i].val_mse);
    }
  }
  std::vector<std::pair<double, int64_t>> order;
  for (const auto& [idx, c] : configs) order.emplace_back(c.val.empty() ? INFINITY : mean_sd(c.val).mean, idx);
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });

  std::ostringstream s;
  s << "# Sweep " << spec.path << "\n\nBase config: `" << spec.base << "`; " << configs.size() << " configuration(s) x "
    << spec.seeds.size() << " seed(s). Selection: the lowest mean validation MSE over "
    << "seeds among configurations whose every seed finished; test metrics are not read to choose.\n\n"
    << "| configuration | seeds finished | val MSE (mean ± sd) |\n|---|---|---|\n";
  for (const auto& [m, idx] : order) {
    const Config& c = configs[idx];
    s << "| " << describe(*c.first) << " | " << c.finished << "/" << c.seeds << " | "
      << (c.val.empty() ? std::string("–") : pm(mean_sd(c.val))) << " |\n";
  }
  const int64_t sel = select_by_validation(runs, outcomes);
  if (sel < 0) {
    s << "\nNo configuration finished all its seeds: nothing selected.\n";
  } else {
    std::vector<double> mse, mae;
    int64_t windows = 0;
    for (size_t i = 0; i < runs.size(); ++i)
      if (runs[i].config_index == sel) {
        mse.push_back(outcomes[i].test_mse);
        mae.push_back(outcomes[i].test_mae);
        windows = outcomes[i].test_windows;
      }
    s << "\n## Selected\n\n"
      << describe(*configs[sel].first) << "\n\n| test MSE | test MAE | test windows | seeds |\n"
      << "|---|---|---|---|\n| " << pm(mean_sd(mse)) << " | " << pm(mean_sd(mae)) << " | " << windows << " | "
      << mse.size() << " |\n";
  }
  bool any_failed = false;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (outcomes[i].status == RunOutcome::Status::kFinished) continue;
    if (!any_failed) s << "\n## Runs that did not finish\n\n";
    any_failed = true;
    s << "- `" << runs[i].name << "`: " << (outcomes[i].error.empty() ? std::string("not run") : outcomes[i].error)
      << "\n";
  }
  return s.str();
}

}  // namespace mmx::train
