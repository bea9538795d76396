# Checkpoints (mmx::train, safetensors layout). The Python interop test uses MMX_TEST_PYTHON (the
# project's interpreter; skipped with the reason when it lacks the `safetensors` package).
if(Python3_EXECUTABLE)
  get_filename_component(MMX_TEST_PYTHON "${Python3_EXECUTABLE}" ABSOLUTE BASE_DIR "${CMAKE_SOURCE_DIR}")
else()
  set(MMX_TEST_PYTHON "${CMAKE_SOURCE_DIR}/.venv/bin/python")
endif()
mmx_test(test_checkpoint LABELS cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_checkpoint.cpp)
target_compile_definitions(test_checkpoint PRIVATE MMX_TEST_PYTHON="${MMX_TEST_PYTHON}")
mmx_test(test_trainer LABELS cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_trainer.cpp)
target_link_libraries(test_trainer PRIVATE nlohmann_json::nlohmann_json)
