// Batch loader: in-memory gathers or threaded ImageFolder decoding with an ordered, bounded queue.
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "mmx/data/images/image_decode.h"
#include "mmx/data/images/image_loader.h"

namespace mmx::data {

ImageLoader::ImageLoader(ImageDataset data, LoaderOptions options) : data_(std::move(data)) {
  const torch::Tensor& im = data_.images;
  const torch::Tensor& lb = data_.labels;
  if (!im.defined() || im.scalar_type() != torch::kUInt8 || im.dim() != 4 || im.size(1) != 3 || im.size(0) < 1) {
    throw DataError("ImageLoader: expected ImageDataset.images uint8 (N, 3, H, W) with N >= 1");
  }
  if (!lb.defined() || lb.scalar_type() != torch::kInt64 || lb.dim() != 1 || lb.size(0) != im.size(0)) {
    throw DataError("ImageLoader: expected ImageDataset.labels int64 (N) with N = " + std::to_string(im.size(0)));
  }
  data_.images = im.cpu().contiguous();
  data_.labels = lb.cpu().contiguous();
  classes_ = data_.classes;
  n_ = data_.images.size(0);
  init(options);
}

ImageLoader::ImageLoader(ImageFolder folder, LoaderOptions options) {
  if (folder.paths.empty() || folder.paths.size() != folder.labels.size()) {
    throw DataError(folder.root, 0, "",
                    "ImageLoader: image folder '" + folder.root + "' has " + std::to_string(folder.paths.size()) +
                        " paths and " + std::to_string(folder.labels.size()) + " labels; expected equal, >= 1");
  }
  classes_ = folder.classes;
  n_ = static_cast<int64_t>(folder.paths.size());
  folder_ = std::move(folder);
  init(options);
}

void ImageLoader::init(LoaderOptions options) {
  if (options.batch_size < 1) throw DataError("LoaderOptions: batch_size must be >= 1");
  if (options.workers < 0) throw DataError("LoaderOptions: workers must be >= 0");
  if (options.prefetch < 1) throw DataError("LoaderOptions: prefetch must be >= 1");
  if (options.image_size < 1) throw DataError("LoaderOptions: image_size must be >= 1");
  if (!(options.resize_ratio > 0 && options.resize_ratio <= 1))
    throw DataError("LoaderOptions: resize_ratio must lie in (0, 1]");
  options_ = options;
}

ImageLoader::~ImageLoader() { stop_workers(); }

int64_t ImageLoader::size() const { return n_; }

int64_t ImageLoader::batches_per_epoch() const {
  const int64_t bs = options_.batch_size;
  return options_.drop_last ? n_ / bs : (n_ + bs - 1) / bs;
}

void ImageLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  stop_ = false;
}

void ImageLoader::start_epoch(int64_t epoch) {
  stop_workers();
  if (options_.shuffle) {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(options_.seed + static_cast<uint64_t>(epoch));
    order_ = torch::randperm(n_, gen, torch::TensorOptions().dtype(torch::kInt64));
  } else {
    order_ = torch::arange(n_, torch::kInt64);
  }
  next_batch_ = 0;
  claimed_ = 0;
  ready_.clear();
  started_ = true;
  if (folder_ && options_.workers > 0) {
    for (int64_t i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { worker_loop(); });
  }
}

ImageLoader::Batch ImageLoader::make_batch(int64_t batch_index) const {
  Batch out;
  try {
    const int64_t start = batch_index * options_.batch_size;
    const int64_t end = std::min(n_, start + options_.batch_size);
    const torch::Tensor idx = order_.slice(0, start, end);
    const bool pin = torch::cuda::is_available();
    if (!folder_) {
      out.images = data_.images.index_select(0, idx);
      out.labels = data_.labels.index_select(0, idx);
    } else {
      const auto r =
          static_cast<int64_t>(std::floor(static_cast<double>(options_.image_size) / options_.resize_ratio + 1e-9));
      const int64_t m = end - start;
      out.images = torch::empty({m, 3, r, r}, torch::kUInt8);
      out.labels = torch::empty({m}, torch::kInt64);
      const int64_t* ip = idx.data_ptr<int64_t>();
      for (int64_t j = 0; j < m; ++j) {
        const auto k = static_cast<size_t>(ip[j]);
        out.images[j].copy_(resize_shorter_center_crop(decode_image(folder_->paths[k]), r));
        out.labels[j] = folder_->labels[k];
      }
    }
    if (pin) {
      out.images = out.images.pin_memory();
      out.labels = out.labels.pin_memory();
    }
  } catch (...) {
    out.error = std::current_exception();
  }
  return out;
}

void ImageLoader::worker_loop() {
  const int64_t nb = batches_per_epoch();
  for (;;) {
    int64_t k = 0;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || claimed_ >= nb || claimed_ < next_batch_ + options_.prefetch; });
      if (stop_ || claimed_ >= nb) return;
      k = claimed_++;
    }
    Batch b = make_batch(k);
    {
      std::lock_guard<std::mutex> lk(mu_);
      ready_[k] = std::move(b);
    }
    cv_.notify_all();
  }
}

std::optional<std::pair<torch::Tensor, torch::Tensor>> ImageLoader::next() {
  if (!started_) start_epoch(0);
  if (next_batch_ >= batches_per_epoch()) return std::nullopt;
  Batch b;
  if (folder_ && options_.workers > 0) {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return ready_.count(next_batch_) > 0; });
    auto it = ready_.find(next_batch_);
    b = std::move(it->second);
    ready_.erase(it);
    ++next_batch_;
    lk.unlock();
    cv_.notify_all();
  } else {
    b = make_batch(next_batch_);
    ++next_batch_;
  }
  if (b.error) std::rethrow_exception(b.error);
  return std::make_pair(b.images, b.labels);
}

}  // namespace mmx::data
