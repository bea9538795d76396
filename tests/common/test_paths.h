// Paths of the test sources, compiled into one translation unit (tests/common/test_paths.cpp).
#pragma once

#include <string>

namespace mmx::test {

/// Absolute path of tests/data (the fixtures live in tests/data/fixtures).
std::string test_data_dir();

}  // namespace mmx::test
