// The one test translation unit that sees the absolute paths (MMX_TEST_DATA_DIR,
// MMX_TRAIN_TEST_DATA, MMX_TEST_PYTHON, MMX_CLI; set on this file only, tests/CMakeLists.txt): the
// test binaries' other objects carry no absolute path on their command lines, so ccache hits
// across clones of the repository.
#include "test_paths.h"

namespace mmx::test {

std::string test_data_dir() { return MMX_TEST_DATA_DIR; }
std::string train_test_data_dir() { return MMX_TRAIN_TEST_DATA; }
std::string test_python() { return MMX_TEST_PYTHON; }
std::string cli_path() { return MMX_CLI; }

}  // namespace mmx::test
