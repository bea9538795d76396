// ImageFolder scan: root/<class>/<image file>.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "mmx/data/images/image_folder.h"

namespace mmx::data {
namespace {

std::vector<std::string> list_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) throw DataError(dir, 0, "", std::string("cannot open directory: ") + std::strerror(errno));
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

bool has_image_extension(const std::string& name) {
  const auto dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = name.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == "jpg" || ext == "jpeg" || ext == "png";
}

}  // namespace

ImageFolder scan_image_folder(const std::string& root) {
  struct stat st {};
  if (::stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw DataError(root, 0, "", "image folder root is not a directory");
  }
  ImageFolder f;
  f.root = root;
  for (const auto& name : list_dir(root)) {
    if (name[0] == '.') continue;
    const std::string dir = root + "/" + name;
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) f.classes.push_back(name);
  }
  if (f.classes.empty()) {
    throw DataError(root, 0, "", "no class folders; expected one sub-folder per class (root/<class>/<image>)");
  }
  for (size_t c = 0; c < f.classes.size(); ++c) {
    const std::string dir = root + "/" + f.classes[c];
    size_t found = 0;
    for (const auto& name : list_dir(dir)) {
      const std::string path = dir + "/" + name;
      if (!has_image_extension(name) || ::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      f.paths.push_back(path);
      f.labels.push_back(static_cast<int64_t>(c));
      ++found;
    }
    if (found == 0) {
      throw DataError(
          dir, 0, "",
          "class folder '" + f.classes[c] + "' holds no image file; expected files with extension .jpg, .jpeg or .png");
    }
  }
  return f;
}

}  // namespace mmx::data
