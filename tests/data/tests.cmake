# Forecasting data layer (mmx::data): CSV reader/writer, timestamps, registry, splits, scaler,
# windows. Fixture CSVs in tests/data/fixtures; the real benchmark files from the data root
# (mmx::default_data_root(), skipped when absent) and the embedded data/ETTh1.csv.
mmx_test(test_data LABELS cpu SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/test_timestamps.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_csv.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_splits_windows.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_real_data.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_atomic_file.cpp)
