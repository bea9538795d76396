// Helpers shared by the data-layer tests.
#pragma once

#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>

#include "common/test_paths.h"
#include "mmx/data/data_root.h"
#include "mmx/data/error.h"

namespace mmx::data::testing {

inline std::string fixture(const std::string& name) { return mmx::test::test_data_dir() + "/fixtures/" + name; }

/// Runs fn, expects a DataError whose file/line/column fields equal the given ones and whose
/// message contains every fragment.
inline void expect_data_error(const std::function<void()>& fn, const std::string& file, std::int64_t line,
                              const std::string& column, std::initializer_list<std::string> fragments) {
  try {
    fn();
    ADD_FAILURE() << "expected a DataError";
  } catch (const DataError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.file, file) << msg;
    EXPECT_EQ(e.line, line) << msg;
    EXPECT_EQ(e.column, column) << msg;
    for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "'" << f << "' not in: " << msg;
  }
}

/// Removes a flat directory (files only) with POSIX calls. std::filesystem::remove_all is avoided:
/// libtorch.so exports its own copy of that symbol, which crashes when it wins symbol resolution.
inline void remove_flat_dir(const std::string& dir) {
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") ::unlink((dir + "/" + name).c_str());
    }
    ::closedir(d);
  }
  ::rmdir(dir.c_str());
}

/// A fresh temporary directory (unique per process and test), removed at scope end.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::path("/tmp") / ("mmx_data_test_" + std::to_string(::getpid()) + "_" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    remove_flat_dir(path.string());
    std::filesystem::create_directories(path);
  }
  ~TempDir() { remove_flat_dir(path.string()); }
};

}  // namespace mmx::data::testing

/// Skips the current test when `relative` is not under the data root.
#define MMX_REQUIRE_DATA_FILE(relative)                                                     \
  do {                                                                                      \
    const std::string mmx_root_ = mmx::default_data_root();                                 \
    if (!std::filesystem::is_directory(mmx_root_)) {                                        \
      GTEST_SKIP() << "data root " << mmx_root_ << " not found";                            \
    }                                                                                       \
    if (!std::filesystem::is_regular_file(std::filesystem::path(mmx_root_) / (relative))) { \
      GTEST_SKIP() << "data root " << mmx_root_ << " lacks " << (relative);                 \
    }                                                                                       \
  } while (0)
