// Config inputs found by fuzz/fuzz_config.cpp: a `--set` string that is not UTF-8 came back from the
// run's resolved config.toml as another string (toml++ writes byte 0xA3 as U+00A3); such overrides
// are refused, and UTF-8 ones of every length round-trip through to_toml.
#include "mmx/train/tsm2_config.h"
#include "mmx/train/vim2_config.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

namespace mmx::train {
namespace {

std::string config_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ConfigFuzzInputs, OverridesThatAreNotUtf8AreRefused) {
  // fuzz_config, minimised: "\0data.path=\xa3" (no file text, one override).
  EXPECT_EQ(config_error([] { parse_config("", "f.toml", {"data.path=\xa3"}); }),
            "--set data.path must be UTF-8 text, got bytes that are not");
  for (const char* bad : {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ok\xe2\x82", "\xff"})
    EXPECT_EQ(config_error([&] { parse_config("", "f.toml", {std::string("data.target=") + bad}); }),
              "--set data.target must be UTF-8 text, got bytes that are not")
        << bad;
  EXPECT_EQ(config_error([] { parse_classify_config("", "f.toml", {"train.device=\xa3"}); }),
            "--set train.device must be UTF-8 text, got bytes that are not");
}

TEST(ConfigFuzzInputs, Utf8OverridesRoundTripThroughTheResolvedConfig) {
  // One-, two-, three- and four-byte characters in a path and a target column name.
  const TrainConfig c =
      parse_config("", "f.toml", {"data.path=caf\xc3\xa9_\xe2\x82\xac.csv", "data.target=\xf0\x9f\x93\x88"});
  EXPECT_EQ(c.data.target, "\xf0\x9f\x93\x88");
  const std::string text = to_toml(c);
  const TrainConfig back = parse_config(text, "resolved.toml");
  EXPECT_EQ(back.data.path, c.data.path);
  EXPECT_EQ(back.data.target, c.data.target);
  EXPECT_EQ(to_toml(back), text);
}

}  // namespace
}  // namespace mmx::train
