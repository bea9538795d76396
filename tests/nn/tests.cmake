mmx_test(test_nn LABELS cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_modules.cpp
         ${CMAKE_CURRENT_LIST_DIR}/test_tsm2.cpp)
