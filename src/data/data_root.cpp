// The one translation unit that sees MMX_DEFAULT_DATA_ROOT (set on this file only, src/CMakeLists.txt).
#include "mmx/data/data_root.h"

#include <cstdlib>

namespace mmx {

std::string default_data_root() {
  if (const char* env = std::getenv("MMX_DATA_ROOT"); env && *env) return env;
  return MMX_DEFAULT_DATA_ROOT;
}

}  // namespace mmx
