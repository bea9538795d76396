// Writes the generated part of the fuzz seed corpora (tools/check/fuzz.sh): small checkpoints written by
// mmx::train::save_checkpoint, PNG and JPEG images written by stb_image_write (gray, gray+alpha,
// RGB, RGBA; baseline JPEG at two qualities), and a libFuzzer dictionary of every config key of
// both schemas (so it follows the schemas as keys are added).
// Usage: make_seeds <dir>   writes <dir>/checkpoint/*, <dir>/image/*, <dir>/config_keys.dict
#include "mmx/train/checkpoint.h"
#include "mmx/train/tsm2_config.h"
#include "mmx/train/vim2_config.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>

#include <torch/torch.h>

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace {

void write_checkpoints(const std::string& dir) {
  mmx::train::save_checkpoint(dir + "/empty.safetensors", {});
  mmx::train::Checkpoint c;
  c.tensors["w"] = torch::arange(6, torch::kFloat32).reshape({2, 3});
  c.tensors["b"] = torch::tensor({1.5, -2.0}, torch::kFloat64);
  c.tensors["h"] = torch::ones({2}, torch::kBFloat16);
  c.tensors["steps"] = torch::tensor({int64_t{7}});
  c.tensors["mask"] = torch::tensor({true, false});
  c.tensors["scalar"] = torch::tensor(0.25f);
  c.tensors["none"] = torch::empty({0, 4}, torch::kInt16);
  c.metadata["format"] = "mmx-tsm2";
  c.metadata["optimizer.step"] = "3";
  mmx::train::save_checkpoint(dir + "/tensors.safetensors", c);
  mmx::train::Checkpoint m;
  m.metadata["config"] = mmx::train::to_toml(mmx::train::TrainConfig{});
  mmx::train::save_checkpoint(dir + "/config_metadata.safetensors", m);
}

std::vector<unsigned char> pattern(int w, int h, int channels) {
  std::vector<unsigned char> px(static_cast<size_t>(w * h * channels));
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<unsigned char>(i * 37 % 256);
  return px;
}

void write_images(const std::string& dir) {
  for (int channels = 1; channels <= 4; ++channels) {
    const int w = 3 + channels, h = 2 + channels % 2;
    const std::string png = dir + "/c" + std::to_string(channels) + ".png";
    if (!stbi_write_png(png.c_str(), w, h, channels, pattern(w, h, channels).data(), w * channels))
      throw std::runtime_error("cannot write " + png);
    if (channels == 2 || channels == 4) continue;  // JPEG: gray and RGB only
    for (int quality : {50, 95}) {                 // stb_image_write subsamples chroma below quality 90
      const std::string jpg = dir + "/c" + std::to_string(channels) + "_q" + std::to_string(quality) + ".jpg";
      if (!stbi_write_jpg(jpg.c_str(), 3 * w, 3 * h + 1, channels, pattern(3 * w, 3 * h + 1, channels).data(), quality))
        throw std::runtime_error("cannot write " + jpg);
    }
  }
}

void write_config_dictionary(const std::string& path) {
  std::ofstream out(path);
  std::vector<std::string> keys = mmx::train::config_keys();
  for (const auto& k : mmx::train::classify_config_keys()) keys.push_back(k);
  for (const auto& key : keys) {
    const auto dot = key.find('.');
    out << '"' << key.substr(dot + 1) << "\"\n";  // the key inside its [section]
    out << '"' << key << "=\"\n";                 // a --set override
    out << "\"[" << key.substr(0, dot) << "]\"\n";
  }
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds <dir>\n");
    return 2;
  }
  const std::string dir = argv[1];
  for (const std::string sub : {"", "/checkpoint", "/image"}) ::mkdir((dir + sub).c_str(), 0755);
  write_checkpoints(dir + "/checkpoint");
  write_images(dir + "/image");
  write_config_dictionary(dir + "/config_keys.dict");
  return 0;
}
