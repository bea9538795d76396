// Typed values of the TOML experiment configs (TSM2: src/train/config.cpp, ViM2:
// src/train/classify_config.cpp): the kinds a key can have, reading one from a TOML node or from a
// `--set key=value` override, with ConfigError messages naming the key.
#pragma once

#include "mmx/train/config.h"

#include <toml++/toml.h>

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace mmx::train::config_value {

using IntList = std::vector<int64_t>;
using FloatList = std::vector<double>;
using StringList = std::vector<std::string>;
using Value = std::variant<int64_t, double, bool, std::string, IntList, FloatList, StringList>;
enum class Kind { kInt, kFloat, kBool, kString, kIntList, kFloatList, kStringList };

/// "an integer", "a number", ... (used in error messages).
const char* kind_name(Kind k);

/// The value of `node` as `kind` (an integer is accepted where a number is expected). Throws
/// ConfigError "<where> must be <kind>" otherwise; numbers must be finite (nan and inf, which
/// TOML allows, are refused for every key).
Value from_toml(const toml::node& node, Kind kind, const std::string& where);

/// An override's value: strings are taken as written (quotes optional); everything else is read
/// as a TOML value, so "1e-3", "true" and "[1, 2, 3]" work as in the file. Throws ConfigError
/// "<where> must be <kind>, got "<text>"".
Value from_string(const std::string& text, Kind kind, const std::string& where);

/// The whole text of a config file, read with mmx::read_input_file (a regular file of at most
/// 16 MiB, MMX_MAX_CONFIG_BYTES). Throws ConfigError "<path>: <reason>" for a missing file, a
/// directory / FIFO / device, a file above the limit or a read error.
std::string read_config_text(const std::string& path);

/// `root` as TOML text (one trailing newline).
std::string dump_toml(const toml::table& root);

/// Writes `value` under "section.name" `key` into `root` (creating the section table); lists
/// become TOML arrays.
void insert_value(toml::table& root, const std::string& key, const Value& value);

/// The schema entry of `key`. Throws ConfigError "<where>: unknown key '<key>' (<did_you_mean>)"
/// when the schema lacks it.
template <typename Schema>
const typename Schema::mapped_type& find_entry(const Schema& schema, const std::string& key,
                                               const std::string& where,
                                               const std::vector<std::string>& valid_keys) {
  auto it = schema.find(key);
  if (it == schema.end())
    throw ConfigError(where + ": unknown key '" + key + "' (" + did_you_mean(key, valid_keys) + ")");
  return it->second;
}

}  // namespace mmx::train::config_value
