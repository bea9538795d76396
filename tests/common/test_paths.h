// Absolute paths the tests need, compiled into one translation unit (tests/common/test_paths.cpp).
#pragma once

#include <string>

namespace mmx::test {

/// tests/data of the source tree (the data-layer fixtures live in tests/data/fixtures).
std::string test_data_dir();

/// tests/train/data of the source tree (golden files of the training tests).
std::string train_test_data_dir();

/// The Python interpreter of the build (CMake's Python3_EXECUTABLE, else <source>/.venv/bin/python).
std::string test_python();

/// The `mmx` command-line binary of this build folder.
std::string cli_path();

}  // namespace mmx::test
