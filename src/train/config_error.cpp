// "Did you mean" hints of the config errors (see include/mmx/train/config_error.h).
#include "mmx/train/config_error.h"

#include <algorithm>
#include <cstdint>
#include <utility>

namespace mmx::train {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

namespace {

// The closest candidate and its distance (full key, or last component + 1, so "lr" finds
// "train.lr").
std::pair<std::string, size_t> closest_with_distance(const std::string& word,
                                                     const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    const auto dot = c.rfind('.');
    const size_t d = std::min(edit_distance(word, c),
                              dot == std::string::npos ? SIZE_MAX : edit_distance(word, c.substr(dot + 1)) + 1);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return {best, best_d};
}

}  // namespace

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  return closest_with_distance(word, candidates).first;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  const auto [best, d] = closest_with_distance(word, candidates);
  if (!best.empty() && d <= std::max<size_t>(2, word.size() / 3)) return "did you mean '" + best + "'?";
  const auto dot = word.find('.');
  const std::string section = dot == std::string::npos ? "" : word.substr(0, dot);
  std::string keys, sections;
  for (const auto& c : candidates) {
    const auto cdot = c.find('.');
    const std::string csec = c.substr(0, cdot);
    if (!section.empty() && csec == section) keys += (keys.empty() ? "" : ", ") + c.substr(cdot + 1);
    if (sections.find("[" + csec + "]") == std::string::npos)
      sections += (sections.empty() ? "" : ", ") + ("[" + csec + "]");
  }
  if (!keys.empty()) return "no similar key; [" + section + "] has: " + keys;
  return "no similar key; keys are section.key with the sections " + sections;
}

}  // namespace mmx::train
