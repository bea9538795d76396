// Where the source tree of this build is (the embedded data/ and configs/ folders live there).
#pragma once

#include <string>

namespace mmx {

/// Absolute path of the source tree this library was built from (CMake's CMAKE_SOURCE_DIR).
/// The path is compiled into src/core/source_dir.cpp alone, so that every other translation
/// unit's command line is free of absolute paths and ccache hits across clones.
std::string source_dir();

}  // namespace mmx
