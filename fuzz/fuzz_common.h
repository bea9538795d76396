// Shared by the fuzz targets: runs one parse and accepts only the project's documented error
// types, each with a message. Anything else (another exception type, an empty message) aborts,
// so libFuzzer records the input as a finding; so do crashes, sanitizer reports, timeouts and
// allocations beyond -malloc_limit_mb.
#pragma once

#include "mmx/data/error.h"
#include "mmx/train/checkpoint.h"
#include "mmx/train/config_error.h"

#include <c10/util/Exception.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace mmx::fuzz {

[[noreturn]] inline void finding(const char* what, const char* message) {
  std::fprintf(stderr, "fuzz finding: %s: '%s'\n", what, message);
  std::abort();
}

inline void check_message(const char* type, const char* message) {
  if (message == nullptr || std::strlen(message) == 0) finding(type, "(empty message)");
}

template <class F>
void expect_clean(F&& parse) {
  try {
    parse();
  } catch (const mmx::data::DataError& e) {
    check_message("DataError", e.what());
  } catch (const mmx::train::ConfigError& e) {
    check_message("ConfigError", e.what());
  } catch (const mmx::train::CheckpointError& e) {
    check_message("CheckpointError", e.what());
  } catch (const c10::Error& e) {
    check_message("c10::Error", e.what_without_backtrace());
  } catch (const std::exception& e) {
    finding("unexpected exception type", e.what());
  }
}

}  // namespace mmx::fuzz
