# Forecasting data layer (mmx::data): CSV reader/writer, timestamps, registry, splits, scaler,
# windows. Fixture CSVs in tests/data/fixtures; the real benchmark files from the data root
# (mmx::default_data_root(), skipped when absent) and the embedded data/ETTh1.csv.
mmx_test(test_data LABELS cpu SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/test_timestamps.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_csv.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_splits_windows.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_real_data.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_atomic_file.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_forecast_source.cpp)

# Image pipeline of ViM2 (include/mmx/data/images/): CIFAR-10 reader, decode/resize, ImageFolder,
# BatchAugment, ImageLoader. Fixtures (gzip batches, PNG/JPEG files) are written by the test with
# zlib and stb_image_write; the real CIFAR-10 from the data root (skipped when absent).
mmx_test(test_images LABELS cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_images.cpp
         ${CMAKE_CURRENT_LIST_DIR}/test_image_fuzz_inputs.cpp)
target_include_directories(test_images SYSTEM PRIVATE ${MMX_STB_INCLUDE_DIR} ${MMX_ZLIB_INCLUDE_DIR})
target_link_libraries(test_images PRIVATE ${MMX_ZLIB_LIBRARY} JPEG::JPEG)
