// Errors of the TOML experiment configs (TSM2 and ViM2) and the "did you mean" hint that names
// the closest valid key of an unknown one.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace mmx::train {

/// Bad configuration (unknown key, wrong type, invalid value, unreadable file).
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Levenshtein distance, used for "did you mean" suggestions.
size_t edit_distance(const std::string& a, const std::string& b);
/// The candidate closest to `word` by edit distance.
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);
/// The hint after an unknown key: "did you mean 'train.lr'?" when a candidate is close (edit
/// distance <= max(2, |word| / 3), against the full key or its last component), else the valid
/// keys of the word's section ("no similar key; [model] has: d_model, ...") or the sections.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace mmx::train
