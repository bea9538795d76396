// Reading a user-supplied input file (CSV, image, config) with bounded memory and without ever
// blocking: only regular files are read, and only up to a size limit.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace mmx {

/// A file that cannot be read as an input: missing, not a regular file (a directory, a FIFO, a
/// socket, a device such as /dev/zero), larger than its limit, or failing to read. what() is
/// "<path>: <reason>"; `path` and `reason` repeat the parts so that callers can rethrow the error
/// as their own type (data::DataError, ConfigError).
class InputFileError : public std::runtime_error {
 public:
  InputFileError(std::string path, std::string reason);
  std::string path;
  std::string reason;
};

/// The kinds of input with a default size limit (see input_limit).
enum class InputKind { kCsv, kImage, kConfig };

/// A size limit: the largest file accepted, what the file is (for messages) and the environment
/// variable that raises the limit ("" = none).
struct InputLimit {
  uint64_t max_bytes = 0;
  std::string what;
  std::string env_var;
};

/// The limit for `kind`: CSV files 2 GiB (MMX_MAX_CSV_BYTES), images 256 MiB
/// (MMX_MAX_IMAGE_BYTES), config files 16 MiB (MMX_MAX_CONFIG_BYTES). The variable, when set,
/// must be a positive decimal byte count and replaces the default.
/// Errors: InputFileError (path = the variable's name) when the variable is set but not a
/// positive integer.
InputLimit input_limit(InputKind kind);

/// The bytes of the regular file at `path`, at most `max_bytes` of them. The file is checked with
/// stat() before it is opened, opened with O_NONBLOCK (so a FIFO that appeared in between never
/// blocks the open) and checked again with fstat() on the open descriptor, then read to its end.
/// `what` names the expected content in messages ("CSV file", "image file", "config file");
/// `env_var`, when not empty, is named in the size error as the way to raise the limit.
/// Errors: InputFileError naming `path`: "no such <what>", permission denied, not a regular file
/// ("is a FIFO (named pipe); expected a CSV file (a regular file)", also a directory, a socket,
/// a character or block device), larger than `max_bytes` ("is 5000 bytes (4.9 KiB), larger than
/// the limit of 4096 bytes (4.0 KiB) for a CSV file; set MMX_MAX_CSV_BYTES=<bytes> to raise it"),
/// a file that grows past the limit while being read, or a read error.
std::string read_input_file(const std::string& path, uint64_t max_bytes, const std::string& what,
                            const std::string& env_var = "");

/// read_input_file with the limit, name and variable of input_limit(kind).
std::string read_input_file(const std::string& path, InputKind kind);

}  // namespace mmx
