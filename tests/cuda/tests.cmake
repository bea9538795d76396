# CUDA scan tests (label cuda: run by tools/gpu/check.sh on the GPU machine; each test skips with
# "no CUDA device" elsewhere).
mmx_test(test_scan_cuda LABELS cuda SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_scan_cuda.cpp)
target_include_directories(test_scan_cuda PRIVATE ${CMAKE_SOURCE_DIR}/bench)
