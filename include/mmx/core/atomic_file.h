// Atomic file replacement: readers see either the old file or the complete new one, never a torn
// write. Used for forecasts (data layer) and checkpoints.
#pragma once

#include <functional>
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

/// A test hook called inside every write_file_atomic with the target path: once when the bytes are
/// staged in the fsync'ed temporary file (`renamed` false) and once after the rename (`renamed`
/// true). A hook that throws simulates a kill at that point: the exception propagates, and at the
/// first point the temporary file stays behind as after a real kill. Used by the tests that
/// interrupt a training at every write; empty = none (the default).
using AtomicWriteHook = std::function<void(const std::string& path, bool renamed)>;
void set_atomic_write_hook(AtomicWriteHook hook);

}  // namespace mmx
