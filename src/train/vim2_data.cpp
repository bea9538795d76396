// Image loaders of ViM2 runs (see include/mmx/train/vim2_data.h).
#include "mmx/train/vim2_data.h"

#include <filesystem>

#include "mmx/data/data_root.h"
#include "mmx/data/images/cifar10.h"

namespace mmx::train {
namespace fs = std::filesystem;

namespace {

data::LoaderOptions loader_options(const ClassifyConfig& c, bool train) {
  data::LoaderOptions lo;
  lo.batch_size = train ? c.train.batch_size : c.train.eval_batch_size;
  lo.shuffle = train;
  lo.drop_last = train;
  lo.workers = c.data.workers;
  lo.prefetch = c.data.prefetch;
  lo.seed = static_cast<uint64_t>(c.train.seed);
  lo.image_size = c.model.image_size();
  lo.resize_ratio = c.augment.eval_resize_ratio;
  return lo;
}

void check_classes(const ClassifyConfig& c, const std::vector<std::string>& classes, const std::string& what) {
  if (static_cast<int64_t>(classes.size()) != c.model.num_classes())
    throw ConfigError("model.num_classes = " + std::to_string(c.model.num_classes()) + " but " + what + " has " +
                      std::to_string(classes.size()) + " classes");
}

}  // namespace

std::unique_ptr<data::ImageLoader> make_classify_loader(const ClassifyConfig& c, bool train) {
  const data::LoaderOptions lo = loader_options(c, train);
  if (c.data.dataset == "cifar10") {
    const std::string root = c.data.data_root.empty() ? default_data_root() : c.data.data_root;
    const std::string dir = (fs::path(root) / "cifar10").string();
    data::ImageDataset d = data::load_cifar10(dir, train);
    check_classes(c, d.classes, "CIFAR-10 (" + dir + ")");
    return std::make_unique<data::ImageLoader>(std::move(d), lo);
  }
  const std::string& dir = train ? c.data.train_dir : c.data.val_dir;
  data::ImageFolder f = data::scan_image_folder(dir);
  check_classes(c, f.classes, "the image folder " + dir);
  return std::make_unique<data::ImageLoader>(std::move(f), lo);
}

ClassifyLoaders make_classify_loaders(const ClassifyConfig& config,
                                      const std::shared_ptr<const data::ImageDataset>& train_data,
                                      const std::shared_ptr<const data::ImageDataset>& val_data) {
  ClassifyLoaders l;
  if (train_data || val_data) {
    TORCH_CHECK(train_data && val_data, "ClassifyHooks: give both train_data and val_data, or neither");
    check_classes(config, train_data->classes, "the training set");
    l.train = std::make_unique<data::ImageLoader>(*train_data, loader_options(config, true));
    l.val = std::make_unique<data::ImageLoader>(*val_data, loader_options(config, false));
    l.name = "in-memory images";
  } else {
    l.train = make_classify_loader(config, true);
    l.val = make_classify_loader(config, false);
    l.name = config.data.dataset == "cifar10" ? "CIFAR-10" : config.data.train_dir;
  }
  return l;
}

}  // namespace mmx::train
