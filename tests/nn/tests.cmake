mmx_test(test_nn LABELS cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_modules.cpp
         ${CMAKE_CURRENT_LIST_DIR}/test_tsm2.cpp ${CMAKE_CURRENT_LIST_DIR}/test_tsm2_ablations.cpp
         ${CMAKE_CURRENT_LIST_DIR}/test_tsm2_aux.cpp)
# ViM2 blocks and model: closed forms, parameter counts (Table 8 widths, our arithmetic),
# averaging, FLOPs.
mmx_test(test_vim2 LABELS cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_vim2.cpp)
