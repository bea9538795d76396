// write_file_atomic: temporary file in the target's directory, fsync, rename, fsync directory.
#include "mmx/core/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace mmx {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& step, int err) {
  throw std::runtime_error("write_file_atomic(" + path + "): " + step + " failed: " + std::strerror(err));
}

AtomicWriteHook& hook() {
  static AtomicWriteHook h;
  return h;
}

}  // namespace

void set_atomic_write_hook(AtomicWriteHook h) { hook() = std::move(h); }

void write_file_atomic(const std::string& path, std::string_view bytes) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmpl = (dir / (target.filename().string() + ".tmp.XXXXXX")).string();
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');

  const int fd = ::mkstemp(name.data());
  if (fd < 0) fail(path, "creating a temporary file in " + dir.string(), errno);
  const std::string tmp(name.data());
  auto abandon = [&](const std::string& step, int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(path, step, err);
  };

  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      abandon("writing " + tmp, errno);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fchmod(fd, 0644) != 0) abandon("fchmod " + tmp, errno);
  if (::fsync(fd) != 0) abandon("fsync " + tmp, errno);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(path, "closing " + tmp, err);
  }
  if (hook()) hook()(path, false);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(path, "renaming " + tmp, err);
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  if (hook()) hook()(path, true);
}

}  // namespace mmx
