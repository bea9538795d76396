// Atomic file replacement: readers see either the old file or the complete new one, never a torn
// write. Used for forecasts (data layer) and checkpoints.
#pragma once

#include <string>
#include <string_view>

namespace mmx {

/// Writes `bytes` to `path` atomically: the bytes go to a temporary file in the same directory
/// (`<name>.tmp.XXXXXX`, so the rename never crosses a file system), which is flushed with
/// fsync, given mode 0644 and renamed over `path`; the directory is then fsync'ed so the rename
/// survives a crash. An existing file at `path` is replaced; the parent directory must exist.
/// Errors: std::runtime_error naming the path, the failing step and the system error; the
/// temporary file is removed on every failure and `path` is left untouched.
/// Source: POSIX rename(2) atomicity within one file system.
void write_file_atomic(const std::string& path, std::string_view bytes);

}  // namespace mmx
