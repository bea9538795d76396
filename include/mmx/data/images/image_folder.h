// Image trees in the torchvision ImageFolder layout (src/data/images/image_folder.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mmx/data/error.h"

namespace mmx::data {

/// An image tree in the torchvision ImageFolder layout: `root/<class>/<file>`.
struct ImageFolder {
  std::string root;                  ///< the scanned directory, as given
  std::vector<std::string> paths;    ///< image file paths (root/class/file), grouped by class, sorted
  std::vector<int64_t> labels;       ///< class index of paths[i]
  std::vector<std::string> classes;  ///< sub-folder names sorted bytewise; index = label
};

/// Lists `root`: every sub-directory whose name does not start with '.' is a class (sorted names,
/// class index = position, as torchvision's ImageFolder); its regular files (symbolic links
/// followed) with extension .jpg, .jpeg or .png (case-insensitive) are its images, sorted by name;
/// other files are ignored, as are files directly in root. Sub-folders of class folders are not
/// searched. Nothing is decoded.
/// Throws DataError when root is not a readable directory, has no class folders, or a class folder
/// holds no image file (the message names that folder; torchvision raises there too).
ImageFolder scan_image_folder(const std::string& root);

}  // namespace mmx::data
