// Bounded, non-blocking reading of input files (include/mmx/core/input_file.h).
#include "mmx/core/input_file.h"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mmx {
namespace {

// "1234 bytes", with a binary-prefixed approximation from 1 KiB on: "3221225472 bytes (3.0 GiB)".
std::string bytes_text(uint64_t n) {
  std::string out = std::to_string(n) + " bytes";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(n);
  int u = -1;
  while (v >= 1024.0 && u < 5) {
    v /= 1024.0;
    ++u;
  }
  if (u >= 0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, " (%.1f %s)", v, units[u]);
    out += buf;
  }
  return out;
}

// "an image file", "a CSV file".
std::string with_article(const std::string& what) {
  const bool vowel = !what.empty() && std::strchr("aeiouAEIOU", what[0]) != nullptr;
  return (vowel ? "an " : "a ") + what;
}

// What a non-regular file is, for the message.
std::string file_type_text(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

[[noreturn]] void not_regular(const std::string& path, mode_t mode, const std::string& what) {
  throw InputFileError(path, "is " + file_type_text(mode) + "; expected " + with_article(what) + " (a regular file)");
}

[[noreturn]] void too_large(const std::string& path, uint64_t size, uint64_t max_bytes, const std::string& what,
                            const std::string& env_var, bool grew) {
  std::string reason = (grew ? "grew past " : "is " + bytes_text(size) + ", larger than ") +
                       std::string("the limit of ") + bytes_text(max_bytes) + " for " + with_article(what);
  reason += env_var.empty() ? std::string(" (the limit is fixed by the caller)")
                            : "; set " + env_var + "=<bytes> to raise it";
  throw InputFileError(path, reason);
}

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

InputFileError::InputFileError(std::string path_, std::string reason_)
    : std::runtime_error(path_ + ": " + reason_), path(std::move(path_)), reason(std::move(reason_)) {}

InputLimit input_limit(InputKind kind) {
  InputLimit l;
  switch (kind) {
    case InputKind::kCsv:
      l = {uint64_t{2} << 30, "CSV file", "MMX_MAX_CSV_BYTES"};
      break;
    case InputKind::kImage:
      l = {uint64_t{256} << 20, "image file", "MMX_MAX_IMAGE_BYTES"};
      break;
    case InputKind::kConfig:
      l = {uint64_t{16} << 20, "config file", "MMX_MAX_CONFIG_BYTES"};
      break;
  }
  if (const char* v = std::getenv(l.env_var.c_str()); v != nullptr) {
    const std::string text(v);
    uint64_t n = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size() || n == 0)
      throw InputFileError(l.env_var, "= \"" + text + "\" is not a byte count; expected a positive integer");
    l.max_bytes = n;
  }
  return l;
}

std::string read_input_file(const std::string& path, uint64_t max_bytes, const std::string& what,
                            const std::string& env_var) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    throw InputFileError(path,
                         err == ENOENT ? "no such " + what : "cannot access the " + what + ": " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) not_regular(path, st.st_mode, what);
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    too_large(path, static_cast<uint64_t>(st.st_size), max_bytes, what, env_var, false);

  FdCloser f{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)};
  if (f.fd < 0) {
    const int err = errno;
    throw InputFileError(path, "cannot open the " + what + ": " + std::strerror(err));
  }
  // The path may have been replaced between stat() and open(): check what was opened.
  if (::fstat(f.fd, &st) != 0) {
    const int err = errno;
    throw InputFileError(path, "cannot access the " + what + ": " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) not_regular(path, st.st_mode, what);
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    too_large(path, static_cast<uint64_t>(st.st_size), max_bytes, what, env_var, false);
  const int flags = ::fcntl(f.fd, F_GETFL);
  if (flags >= 0) ::fcntl(f.fd, F_SETFL, flags & ~O_NONBLOCK);

  std::string bytes;
  bytes.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      throw InputFileError(path, "read error in the " + what + ": " + std::strerror(err));
    }
    if (n == 0) break;
    if (bytes.size() + static_cast<size_t>(n) > max_bytes)
      too_large(path, bytes.size() + static_cast<uint64_t>(n), max_bytes, what, env_var, true);
    bytes.append(buf, static_cast<size_t>(n));
  }
  return bytes;
}

std::string read_input_file(const std::string& path, InputKind kind) {
  const InputLimit l = input_limit(kind);
  return read_input_file(path, l.max_bytes, l.what, l.env_var);
}

}  // namespace mmx
