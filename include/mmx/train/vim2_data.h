// The image loaders of a ViM2 classification run: CIFAR-10 or an ImageFolder tree as its config
// says, or in-memory data sets (tests), with the class count checked against the model.
#pragma once

#include <memory>
#include <string>

#include "mmx/data/images/image_dataset.h"
#include "mmx/data/images/image_folder.h"
#include "mmx/data/images/image_loader.h"
#include "mmx/train/vim2_config.h"

namespace mmx::train {

/// The loader of one split of `config`'s data: cifar10 -> <data_root>/cifar10 (train: the 50,000
/// training images; otherwise the 10,000 test images); folder -> data.train_dir / data.val_dir.
/// Training loaders shuffle (seed train.seed) and drop the last incomplete batch; evaluation
/// loaders keep the order and every image. Errors: data::DataError naming the file or folder;
/// ConfigError when the data set's class count differs from model.num_classes.
std::unique_ptr<data::ImageLoader> make_classify_loader(const ClassifyConfig& config, bool train);

/// The training and validation loaders of a run and the name its log gives the data.
struct ClassifyLoaders {
  std::unique_ptr<data::ImageLoader> train, val;
  std::string name;  ///< "CIFAR-10", the training folder, or "in-memory images"
};

/// make_classify_loader for both splits, or loaders over `train_data` / `val_data` when given
/// (both or neither; tests). Errors: those of make_classify_loader; c10::Error when only one
/// in-memory set is given; ConfigError when an in-memory set's class count differs from
/// model.num_classes.
ClassifyLoaders make_classify_loaders(const ClassifyConfig& config,
                                      const std::shared_ptr<const data::ImageDataset>& train_data,
                                      const std::shared_ptr<const data::ImageDataset>& val_data);

}  // namespace mmx::train
