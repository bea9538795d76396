// The key-table machinery shared by the TSM2 and ViM2 configs (see config_value.h).
#include "train/config_value.h"

#include "mmx/core/input_file.h"

#include <cmath>
#include <optional>
#include <sstream>

namespace mmx::train::config_value {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kInt:
      return "an integer";
    case Kind::kFloat:
      return "a number";
    case Kind::kBool:
      return "true or false";
    case Kind::kIntList:
      return "an array of integers";
    case Kind::kFloatList:
      return "an array of numbers";
    case Kind::kStringList:
      return "an array of strings";
    default:
      return "a string";
  }
}

namespace {

double finite(double v, const std::string& where) {
  if (!std::isfinite(v)) throw ConfigError(where + " must be a finite number, got " + std::to_string(v));
  return v;
}

// RFC 3629 UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80)
      n = 0;
    else if (c >= 0xC2 && c <= 0xDF)
      n = 1;
    else if (c >= 0xE0 && c <= 0xEF)
      n = 2, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
      n = 3, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
      return false;
    if (i + n >= s.size() && n > 0) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xBF)) return false;
    }
    i += n + 1;
  }
  return true;
}

// `el` as T when it holds exactly that type.
template <class T>
std::optional<T> exact(const toml::node& el) {
  if (auto v = el.value_exact<T>()) return *v;
  return std::nullopt;
}

// The elements of the array `node`, each read by `element` (std::nullopt for an element of the
// wrong type). Throws ConfigError "<where> must be <kind>" for a wrong element or a non-array.
template <class T, class Element>
Value list_of(const toml::node& node, Kind kind, const std::string& where, Element element) {
  const auto* arr = node.as_array();
  if (!arr) throw ConfigError(where + " must be " + kind_name(kind));
  std::vector<T> out;
  for (const auto& el : *arr) {
    std::optional<T> v = element(el);
    if (!v) throw ConfigError(where + " must be " + kind_name(kind));
    out.push_back(std::move(*v));
  }
  return Value(std::move(out));
}

}  // namespace

Value from_toml(const toml::node& node, Kind kind, const std::string& where) {
  switch (kind) {
    case Kind::kInt:
      if (auto v = node.value_exact<int64_t>()) return *v;
      break;
    case Kind::kFloat:
      if (auto v = node.value_exact<double>()) return finite(*v, where);
      if (auto v = node.value_exact<int64_t>()) return static_cast<double>(*v);
      break;
    case Kind::kBool:
      if (auto v = node.value_exact<bool>()) return *v;
      break;
    case Kind::kString:
      if (auto v = node.value_exact<std::string>()) return *v;
      break;
    case Kind::kIntList:
      return list_of<int64_t>(node, kind, where, exact<int64_t>);
    case Kind::kFloatList:
      return list_of<double>(node, kind, where, [&](const toml::node& el) -> std::optional<double> {
        if (auto d = el.value_exact<double>()) return finite(*d, where);
        if (auto i = el.value_exact<int64_t>()) return static_cast<double>(*i);
        return std::nullopt;
      });
    case Kind::kStringList:
      return list_of<std::string>(node, kind, where, exact<std::string>);
  }
  throw ConfigError(where + " must be " + kind_name(kind));
}

Value from_string(const std::string& text, Kind kind, const std::string& where) {
  // A config file is UTF-8 (toml++ refuses anything else); an override must be too, else the
  // run's resolved config.toml would hold another string (toml++ writes byte 0xA3 as U+00A3,
  // which reads back as C2 A3; found by fuzz_config).
  if (!valid_utf8(text)) throw ConfigError(where + " must be UTF-8 text, got bytes that are not");
  if (kind == Kind::kString) {
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"') return text.substr(1, text.size() - 2);
    return text;
  }
  // Unquoted names (`--set data.columns=HUFL,OT` or `[HUFL, OT]`) are taken as written.
  if (kind == Kind::kStringList && text.find('"') == std::string::npos && text.find('\'') == std::string::npos) {
    std::string body = text;
    if (body.size() >= 2 && body.front() == '[' && body.back() == ']') body = body.substr(1, body.size() - 2);
    StringList out;
    std::stringstream ss(body);
    for (std::string item; std::getline(ss, item, ',');) {
      const auto b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
      if (b == std::string::npos)
        throw ConfigError(where + " must be " + kind_name(kind) + ", got \"" + text + "\" (an empty name)");
      out.push_back(item.substr(b, e - b + 1));
    }
    return out;
  }
  toml::table t;
  try {
    t = toml::parse("v = " + text);
  } catch (const toml::parse_error&) {
    throw ConfigError(where + " must be " + kind_name(kind) + ", got \"" + text + "\"");
  }
  try {
    return from_toml(*t.get("v"), kind, where);
  } catch (const ConfigError& e) {
    if (std::string(e.what()).find("finite") != std::string::npos) throw;
    throw ConfigError(where + " must be " + kind_name(kind) + ", got \"" + text + "\"");
  }
}

std::string read_config_text(const std::string& path) {
  try {
    return read_input_file(path, InputKind::kConfig);
  } catch (const InputFileError& e) {
    throw ConfigError(e.what());
  }
}

std::string dump_toml(const toml::table& root) {
  std::ostringstream os;
  os << root << "\n";
  return os.str();
}

void insert_value(toml::table& root, const std::string& key, const Value& value) {
  const auto dot = key.find('.');
  const std::string sec = key.substr(0, dot), name = key.substr(dot + 1);
  if (!root.contains(sec)) root.insert(sec, toml::table{});
  auto* t = root[sec].as_table();
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, IntList> || std::is_same_v<T, FloatList> || std::is_same_v<T, StringList>) {
          toml::array arr;
          for (const auto& x : v) arr.push_back(x);
          t->insert_or_assign(name, std::move(arr));
        } else {
          t->insert_or_assign(name, v);
        }
      },
      value);
}

std::vector<std::string> KeyTable::keys() const {
  std::vector<std::string> keys;
  for (const auto& [k, kind] : kinds_) keys.push_back(k);
  return keys;
}

Kind KeyTable::kind_of(const std::string& key, const std::string& where) const {
  const auto it = kinds_.find(key);
  if (it == kinds_.end()) throw ConfigError(where + ": unknown key '" + key + "' (" + did_you_mean(key, keys()) + ")");
  return it->second;
}

std::vector<Assignment> KeyTable::read(const std::string& toml_text, const std::string& source,
                                       const std::vector<std::string>& overrides) const {
  toml::table tbl;
  try {
    tbl = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << source << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
    throw ConfigError(os.str());
  }
  std::vector<Assignment> out;
  for (const auto& [section, node] : tbl) {
    const std::string sec(section.str());
    const auto* t = node.as_table();
    if (!t) {
      std::string live;
      for (const auto& s : sections_) live += (live.empty() ? "[" : ", [") + s + "]";
      throw ConfigError(source + ": unknown key '" + sec + "' (" + did_you_mean(sec, keys()) + "); keys live in " +
                        live);
    }
    for (const auto& [key, value] : *t) {
      const std::string full = sec + "." + std::string(key.str());
      const std::string line = source + ":" + std::to_string(value.source().begin.line);
      const Kind kind = kind_of(full, line);
      out.push_back({full, from_toml(value, kind, line + ": " + full), false});
    }
  }
  for (const auto& o : overrides) {
    const auto eq = o.find('=');
    if (eq == std::string::npos) throw ConfigError("--set " + o + ": expected section.key=value");
    const std::string key = o.substr(0, eq);
    const Kind kind = kind_of(key, "--set");
    out.push_back({key, from_string(o.substr(eq + 1), kind, "--set " + key), true});
  }
  return out;
}

}  // namespace mmx::train::config_value
