// The one translation unit that sees MMX_SOURCE_DIR (set on this file only, src/CMakeLists.txt).
#include "mmx/core/source_dir.h"

namespace mmx {

std::string source_dir() { return MMX_SOURCE_DIR; }

}  // namespace mmx
