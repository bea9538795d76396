// mmx::write_file_atomic: content, replacement, no leftovers, errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "data_test_util.h"
#include "mmx/core/atomic_file.h"

namespace mmx {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

TEST(AtomicFile, WritesAndReplacesWithoutLeftovers) {
  mmx::data::testing::TempDir dir;
  const auto p = dir.path / "out.bin";
  const std::string bytes("a\0b\r\n", 5);
  write_file_atomic(p.string(), bytes);
  EXPECT_EQ(slurp(p), bytes);
  write_file_atomic(p.string(), "second");
  EXPECT_EQ(slurp(p), "second");
  write_file_atomic(p.string(), "");
  EXPECT_EQ(slurp(p), "");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path), {}), 1);
  const auto perms = std::filesystem::status(p).permissions();
  EXPECT_EQ(perms & std::filesystem::perms::owner_read, std::filesystem::perms::owner_read);
  EXPECT_EQ(perms & std::filesystem::perms::others_read, std::filesystem::perms::others_read);
}

TEST(AtomicFile, MissingDirectoryThrowsAndLeavesNothing) {
  mmx::data::testing::TempDir dir;
  const auto p = dir.path / "no_such_dir" / "out.csv";
  try {
    write_file_atomic(p.string(), "x");
    ADD_FAILURE() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("creating a temporary file"), std::string::npos) << msg;
    EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
  }
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path), {}), 0);
}

}  // namespace
}  // namespace mmx
