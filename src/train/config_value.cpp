// Typed config values shared by the TSM2 and ViM2 configs (see config_value.h).
#include "train/config_value.h"

#include "mmx/core/input_file.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <type_traits>

namespace mmx::train::config_value {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kInt: return "an integer";
    case Kind::kFloat: return "a number";
    case Kind::kBool: return "true or false";
    case Kind::kIntList: return "an array of integers";
    case Kind::kFloatList: return "an array of numbers";
    case Kind::kStringList: return "an array of strings";
    default: return "a string";
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
    if (c < 0x80) n = 0;
    else if (c >= 0xC2 && c <= 0xDF) n = 1;
    else if (c >= 0xE0 && c <= 0xEF) n = 2, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4) n = 3, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else return false;
    if (i + n >= s.size() && n > 0) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xBF)) return false;
    }
    i += n + 1;
  }
  return true;
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
      if (const auto* arr = node.as_array()) {
        IntList out;
        for (const auto& el : *arr) {
          auto v = el.value_exact<int64_t>();
          if (!v) throw ConfigError(where + " must be " + kind_name(kind));
          out.push_back(*v);
        }
        return out;
      }
      break;
    case Kind::kFloatList:
      if (const auto* arr = node.as_array()) {
        FloatList out;
        for (const auto& el : *arr) {
          if (auto v = el.value_exact<double>()) out.push_back(finite(*v, where));
          else if (auto i = el.value_exact<int64_t>()) out.push_back(static_cast<double>(*i));
          else throw ConfigError(where + " must be " + kind_name(kind));
        }
        return out;
      }
      break;
    case Kind::kStringList:
      if (const auto* arr = node.as_array()) {
        StringList out;
        for (const auto& el : *arr) {
          auto v = el.value_exact<std::string>();
          if (!v) throw ConfigError(where + " must be " + kind_name(kind));
          out.push_back(*v);
        }
        return out;
      }
      break;
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
      if (b == std::string::npos) throw ConfigError(where + " must be " + kind_name(kind) + ", got \"" + text + "\" (an empty name)");
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
        if constexpr (std::is_same_v<T, IntList> || std::is_same_v<T, FloatList> ||
                      std::is_same_v<T, StringList>) {
          toml::array arr;
          for (const auto x : v) arr.push_back(x);
          t->insert_or_assign(name, std::move(arr));
        } else {
          t->insert_or_assign(name, v);
        }
      },
      value);
}

}  // namespace mmx::train::config_value
