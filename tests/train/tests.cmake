# Checkpoints (mmx::train, safetensors layout). The Python interop test uses
# mmx::test::test_python() (tests/CMakeLists.txt; skipped with the reason when it lacks the
# `safetensors` package).
mmx_test(test_checkpoint LABELS cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_checkpoint.cpp)
mmx_test(test_trainer LABELS cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_trainer.cpp)
target_link_libraries(test_trainer PRIVATE nlohmann_json::nlohmann_json)
# ViM2 classification: config, loss/EMA/accuracy closed forms, tiny training on CIFAR-10 images
# (skipped with the reason when the data is absent), bitwise resume, and `mmx classify` (runs the
# CLI binary, hence the dependency).
mmx_test(test_classify LABELS cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_classify.cpp)
target_link_libraries(test_classify PRIVATE nlohmann_json::nlohmann_json)
target_include_directories(test_classify SYSTEM PRIVATE ${MMX_STB_INCLUDE_DIR})
add_dependencies(test_classify mmx_cli)
# The training step: the capturable AdamW against torch::optim::AdamW (CPU); eager against
# CUDA-graph steps and a bf16 graph run (CUDA; skipped without a device).
mmx_test(test_adamw LABELS cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_adamw.cpp)
mmx_test(test_graph_step LABELS cuda SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_graph_step.cpp)
# Bad checkpoints and configs (issue 10): header bound, integer / non-finite tensors, metadata
# numbers, stored configs edited to imply another model (shapes compared before building), ViM2
# config bounds, and ViM2 runs killed between checkpoint and metrics or diverging (CIFAR-10
# cases skipped with the reason when the data is absent).
mmx_test(test_limits LABELS cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_limits.cpp)
target_link_libraries(test_limits PRIVATE nlohmann_json::nlohmann_json)
# Config inputs found by fuzz/fuzz_config.cpp (overrides that are not UTF-8).
mmx_test(test_config_fuzz_inputs LABELS cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_config_fuzz_inputs.cpp)
# Durable runs: a TSM2 training interrupted at every atomic write and resumed equals the straight
# run bit for bit; the run-folder lock; divergence caught at its step.
mmx_test(test_durable_runs LABELS cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_durable_runs.cpp)
target_link_libraries(test_durable_runs PRIVATE nlohmann_json::nlohmann_json)
# The shared training parts: the learning-rate schedule (both trainers' former rates, exactly), the
# weight-decay groups (identical to the former ones for the default TSM2 and ViM2 configs), device
# names, run records (metrics files byte for byte, history, resume checks), the autocast scope, the
# model EMA, the ViM2 step and the CUDA-graph helper's refusals on the CPU.
mmx_test(test_train_parts LABELS cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_lr_schedule.cpp
         ${CMAKE_CURRENT_LIST_DIR}/test_param_groups.cpp ${CMAKE_CURRENT_LIST_DIR}/test_device.cpp
         ${CMAKE_CURRENT_LIST_DIR}/test_run_records.cpp ${CMAKE_CURRENT_LIST_DIR}/test_train_parts.cpp)
target_link_libraries(test_train_parts PRIVATE nlohmann_json::nlohmann_json)
# The sweep file of `mmx sweep`: expansion, errors, run folders, selection by validation only.
mmx_test(test_sweep LABELS cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sweep.cpp)
# Future covariates and calendar features (MambaMixer §5.5): calendar values by hand, the data
# path's column order and errors, and a generated series whose future is a known covariate.
mmx_test(test_covariates LABELS cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_covariates.cpp)
