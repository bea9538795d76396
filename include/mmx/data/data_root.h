// The default root of the benchmark data sets.
#pragma once

#include <string>

namespace mmx {

/// Root of the benchmark data sets: $MMX_DATA_ROOT, else the configured default (CMake cache
/// variable MMX_DATA_ROOT, by default ../shared/data next to the source tree). The configured
/// path is compiled into src/data/data_root.cpp alone (ccache hits across clones elsewhere).
std::string default_data_root();

}  // namespace mmx
