// Fuzz target: the TOML experiment configs with `--set` overrides: mmx::train::parse_config (TSM2,
// src/train/tsm2_config.cpp) and mmx::train::parse_classify_config (ViM2, src/train/vim2_config.cpp),
// both through src/train/config_value.cpp (typed values, override parsing, key lookup) and
// toml++. Input: the TOML text, then optional overrides, each after a NUL byte
// ("<toml>\0train.lr=1e-3\0model.d_model=16"). Every input goes to both parsers; a config that
// parses must also serialise (to_toml) and parse back.
#include "fuzz_common.h"

#include "mmx/train/tsm2_config.h"
#include "mmx/train/vim2_config.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t nul = input.find('\0', start);
    parts.push_back(input.substr(start, nul == std::string::npos ? std::string::npos : nul - start));
    if (nul == std::string::npos) break;
    start = nul + 1;
  }
  const std::string toml = parts.front();
  const std::vector<std::string> overrides(parts.begin() + 1, parts.end());

  mmx::fuzz::expect_clean([&] {
    const auto c = mmx::train::parse_config(toml, "fuzz.toml", overrides);
    const std::string text = mmx::train::to_toml(c);
    if (mmx::train::to_toml(mmx::train::parse_config(text, "resolved.toml")) != text)
      mmx::fuzz::finding("parse_config", "to_toml does not parse back to the same config");
  });
  mmx::fuzz::expect_clean([&] {
    const auto c = mmx::train::parse_classify_config(toml, "fuzz.toml", overrides);
    const std::string text = mmx::train::to_toml(c);
    if (mmx::train::to_toml(mmx::train::parse_classify_config(text, "resolved.toml")) != text)
      mmx::fuzz::finding("parse_classify_config", "to_toml does not parse back to the same config");
  });
  return 0;
}
