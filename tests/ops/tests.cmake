mmx_test(test_scan_cpu LABELS cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_scan_cpu.cpp
         ${CMAKE_CURRENT_LIST_DIR}/test_scan_closed_forms.cpp)
target_include_directories(test_scan_cpu PRIVATE ${CMAKE_SOURCE_DIR}/bench)
