// A threaded, prefetching, deterministic batch loader over an in-memory image set or an
// ImageFolder tree (src/data/images/image_loader.cpp).
#pragma once

#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "mmx/data/error.h"
#include "mmx/data/images/image_dataset.h"
#include "mmx/data/images/image_folder.h"

namespace mmx::data {

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;    ///< permutation per epoch from seed + epoch; false: index order
  bool drop_last = true;  ///< drop the last incomplete batch
  int64_t workers = 4;    ///< decoding threads for ImageFolder (0: decode in next())
  int64_t prefetch = 4;   ///< batches decoded ahead of next() (>= 1)
  uint64_t seed = 0;
  /// ImageFolder images: every image is decoded, its shorter side resized to
  /// R = floor(image_size / resize_ratio) and centre-cropped to R x R (resize_shorter_center_crop),
  /// so batches have a fixed size R (224 -> 256). BatchAugment's
  /// eval() then reproduces the standard resize-256 / centre-crop-224; train() crops within the
  /// R x R square (an approximation of cropping the full image). Smaller images are upscaled.
  /// Ignored for in-memory ImageDataset (batches keep its H x W).
  int64_t image_size = 224;
  double resize_ratio = 0.875;  ///< see image_size; 1.0 gives image_size x image_size
};

/// Batches of (images uint8 (B, 3, R, R), labels int64 (B)) from an in-memory ImageDataset
/// (index_select gathers) or an ImageFolder (decoded by `workers` threads into a bounded queue of
/// `prefetch` batches; each batch is decoded by one worker, and next() hands batches out in
/// order, so the result does not depend on the number of workers). Batches are in pinned memory
/// when CUDA is available. A file that fails to decode makes next() throw its DataError (naming
/// the file) for that batch; the following call continues with the next batch. Not thread-safe:
/// one consumer thread.
class ImageLoader {
 public:
  /// Throws DataError when the data set is empty or inconsistent (labels vs images/paths),
  /// batch_size < 1, workers < 0 or prefetch < 1.
  ImageLoader(ImageDataset data, LoaderOptions options);
  ImageLoader(ImageFolder folder, LoaderOptions options);
  ~ImageLoader();
  ImageLoader(const ImageLoader&) = delete;
  ImageLoader& operator=(const ImageLoader&) = delete;

  /// Starts epoch `epoch` (stops the running one): order = randperm(size) drawn from a generator
  /// seeded with seed + epoch (or 0..size-1 when shuffle is false). next() without a start_epoch
  /// call starts epoch 0.
  void start_epoch(int64_t epoch);

  /// The next batch of the epoch, std::nullopt when the epoch is exhausted.
  std::optional<std::pair<torch::Tensor, torch::Tensor>> next();

  /// size / batch_size, rounded down when drop_last, else up.
  int64_t batches_per_epoch() const;
  /// Number of images (N).
  int64_t size() const;
  /// Class names of the data set.
  const std::vector<std::string>& classes() const { return classes_; }

 private:
  struct Batch {
    torch::Tensor images;
    torch::Tensor labels;
    std::exception_ptr error;
  };
  void init(LoaderOptions options);
  void stop_workers();
  Batch make_batch(int64_t batch_index) const;
  void worker_loop();

  LoaderOptions options_;
  std::vector<std::string> classes_;
  ImageDataset data_;
  std::optional<ImageFolder> folder_;
  int64_t n_ = 0;
  torch::Tensor order_;  // int64 (N): the epoch's permutation
  bool started_ = false;
  int64_t next_batch_ = 0;  // next batch to hand out
  int64_t claimed_ = 0;     // next batch a worker will claim
  std::map<int64_t, Batch> ready_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace mmx::data
