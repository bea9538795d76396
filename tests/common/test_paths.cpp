// The one test translation unit that sees MMX_TEST_DATA_DIR (set on this file only,
// tests/CMakeLists.txt): the test binaries' other objects carry no absolute path on their command
// lines, so ccache hits across clones of the repository.
#include "test_paths.h"

namespace mmx::test {

std::string test_data_dir() { return MMX_TEST_DATA_DIR; }

}  // namespace mmx::test
