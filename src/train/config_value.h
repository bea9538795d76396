// The key-table machinery of the TOML experiment configs, shared by TSM2 (src/train/tsm2_config.cpp)
// and ViM2 (src/train/vim2_config.cpp): the kinds a key can have, reading a value from a TOML node
// or a `--set key=value` override, reading every assignment of a config text, and the schema that
// binds each key to a field of the config struct, with ConfigError messages naming the key.
#pragma once

#include "mmx/train/config_error.h"

#include <toml++/toml.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
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

/// One `key = value` of a config, converted to its key's kind.
struct Assignment {
  std::string key;  ///< "section.key"
  Value value;
  bool from_override = false;  ///< from a `--set` override, else from the TOML text
};

/// The keys of one config type with their kinds, and the sections they live in.
class KeyTable {
 public:
  /// `sections` in the order error messages list them ("[data], [model], [train]").
  explicit KeyTable(std::vector<std::string> sections) : sections_(std::move(sections)) {}
  void add(const std::string& key, Kind kind) { kinds_[key] = kind; }
  /// Every key, "section.key", sorted.
  std::vector<std::string> keys() const;
  /// Every assignment of `toml_text` (table by table, key by key, in toml++'s order), then of
  /// `overrides` ("section.key=value"), each converted to its key's kind. Errors: ConfigError
  /// "<source>:<line>:<column>: <reason>" for TOML syntax; "<source>: unknown key '<k>' (<hint>);
  /// keys live in [data], ..." for a value outside a table; "<source>:<line>: unknown key '<key>'
  /// (did_you_mean)" and "--set: unknown key ..."; "<source>:<line>: <key> must be <kind>";
  /// "--set <o>: expected section.key=value"; "--set <key> must be <kind>, got "<text>"".
  std::vector<Assignment> read(const std::string& toml_text, const std::string& source,
                               const std::vector<std::string>& overrides) const;

 private:
  Kind kind_of(const std::string& key, const std::string& where) const;
  std::vector<std::string> sections_;
  std::map<std::string, Kind> kinds_;
};

/// A config value as the field type T (integers of any width, floating point, bool, string,
/// lists), and back.
template <class T>
T value_as(const Value& v) {
  if constexpr (std::is_same_v<T, bool>)
    return std::get<bool>(v);
  else if constexpr (std::is_floating_point_v<T>)
    return static_cast<T>(std::get<double>(v));
  else if constexpr (std::is_integral_v<T>)
    return static_cast<T>(std::get<int64_t>(v));
  else
    return std::get<T>(v);
}
template <class T>
Value to_value(const T& x) {
  if constexpr (std::is_same_v<T, bool>)
    return Value(x);
  else if constexpr (std::is_floating_point_v<T>)
    return Value(static_cast<double>(x));
  else if constexpr (std::is_integral_v<T>)
    return Value(static_cast<int64_t>(x));
  else
    return Value(x);
}

/// The schema of the config struct `Config`: its KeyTable plus, per key, how the bound field is
/// written and read. Built once (a function-local static) and then only read.
template <class Config>
class Schema {
 public:
  using Set = std::function<void(Config&, const Value&)>;
  using Get = std::function<Value(const Config&)>;

  explicit Schema(std::vector<std::string> sections) : table_(std::move(sections)) {}

  /// Binds `key` through explicit functions (for fields with their own conversion or checks).
  void bind(const std::string& key, Kind kind, Set set, Get get) {
    table_.add(key, kind);
    bindings_[key] = {std::move(set), std::move(get)};
  }
  /// Binds `key` to the plain field that `ref(config)` returns by reference.
  template <class Ref>
  void field(const std::string& key, Kind kind, Ref ref) {
    using T = std::decay_t<decltype(ref(std::declval<Config&>()))>;
    bind(
        key, kind, [ref](Config& c, const Value& v) { ref(c) = value_as<T>(v); },
        [ref](const Config& c) { return to_value(ref(const_cast<Config&>(c))); });
  }
  /// Binds `key` to an accessor pair (TORCH_ARG options): get(config) -> T, set(config, T).
  template <class T, class G, class S>
  void option(const std::string& key, Kind kind, G get, S set) {
    bind(
        key, kind, [set](Config& c, const Value& v) { set(c, value_as<T>(v)); },
        [get](const Config& c) { return to_value(static_cast<T>(get(c))); });
  }

  std::vector<std::string> keys() const { return table_.keys(); }
  /// See KeyTable::read.
  std::vector<Assignment> read(const std::string& toml_text, const std::string& source,
                               const std::vector<std::string>& overrides) const {
    return table_.read(toml_text, source, overrides);
  }
  /// Writes `a` into its field. Errors: ConfigError from a binding's own checks.
  void apply(Config& c, const Assignment& a) const { bindings_.at(a.key).set(c, a.value); }
  /// Every key with the value `c` holds, in key order.
  std::vector<std::pair<std::string, Value>> values(const Config& c) const {
    std::vector<std::pair<std::string, Value>> out;
    for (const auto& [key, b] : bindings_) out.emplace_back(key, b.get(c));
    return out;
  }
  /// `c` as TOML text, every key included (it parses back to the same config).
  std::string to_toml(const Config& c) const {
    toml::table root;
    for (const auto& [key, b] : bindings_) insert_value(root, key, b.get(c));
    return dump_toml(root);
  }

 private:
  struct Binding {
    Set set;
    Get get;
  };
  KeyTable table_;
  std::map<std::string, Binding> bindings_;
};

/// Binds "<section>.<name>" of `schema` to the plain field `config.<section>.<name>`.
#define MMX_CONFIG_FIELD(schema, section, name, kind) \
  (schema).field(                                     \
      #section "." #name, kind, [](auto& c) -> auto& { return c.section.name; })
/// Binds "model.<name>" of `schema` to the TORCH_ARG accessor `config.model.<name>()` of type `type`.
#define MMX_CONFIG_MODEL_OPTION(schema, name, kind, type) \
  (schema).option<type>(                                  \
      "model." #name, kind, [](const auto& c) { return c.model.name(); }, [](auto& c, type v) { c.model.name(v); })

/// Binds the keys every model's config has to the same-named fields of Config::data and
/// Config::train: data.data_root and the [train] keys of the optimisation loop (epochs, batch
/// sizes, learning rates, warm-up, weight decay, clipping, seed, threads, device, precision,
/// batch limit, time budget).
template <class Config>
void bind_shared_keys(Schema<Config>& m) {
  MMX_CONFIG_FIELD(m, data, data_root, Kind::kString);
  MMX_CONFIG_FIELD(m, train, epochs, Kind::kInt);
  MMX_CONFIG_FIELD(m, train, batch_size, Kind::kInt);
  MMX_CONFIG_FIELD(m, train, eval_batch_size, Kind::kInt);
  MMX_CONFIG_FIELD(m, train, lr, Kind::kFloat);
  MMX_CONFIG_FIELD(m, train, min_lr, Kind::kFloat);
  MMX_CONFIG_FIELD(m, train, warmup_epochs, Kind::kFloat);
  MMX_CONFIG_FIELD(m, train, weight_decay, Kind::kFloat);
  MMX_CONFIG_FIELD(m, train, clip_grad, Kind::kFloat);
  MMX_CONFIG_FIELD(m, train, seed, Kind::kInt);
  MMX_CONFIG_FIELD(m, train, threads, Kind::kInt);
  MMX_CONFIG_FIELD(m, train, device, Kind::kString);
  MMX_CONFIG_FIELD(m, train, precision, Kind::kString);
  MMX_CONFIG_FIELD(m, train, max_batches_per_epoch, Kind::kInt);
  MMX_CONFIG_FIELD(m, train, time_budget_minutes, Kind::kFloat);
}

}  // namespace mmx::train::config_value
