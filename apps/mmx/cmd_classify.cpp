// `mmx classify --checkpoint CKPT [--ema] [--json] [--device cpu|cuda] IMAGE...`: the top-5
// classes of each PNG/JPEG image under a trained ViM2, with softmax probabilities. Every image is
// decoded before anything is printed, so a bad file fails the whole call with its name and no output.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "commands.h"
#include "mmx/data/images/augment.h"
#include "mmx/data/images/image_decode.h"
#include "mmx/train/device.h"
#include "mmx/train/vim2_trainer.h"

namespace mmx::cli {

void add_classify(CLI::App& app) {
  auto* cmd = app.add_subcommand("classify", "Top-5 classes of PNG/JPEG images under a trained ViM2");
  static std::string ckpt, device = "cpu";
  static std::vector<std::string> images;
  static bool ema = false, as_json = false;
  cmd->add_option("--checkpoint", ckpt, "best.safetensors of a ViM2 run")->required();
  cmd->add_option("images", images, "PNG or JPEG files")->required();
  cmd->add_option("--device", device, "cpu or cuda")
      ->check(CLI::IsMember(train::device_names()))
      ->capture_default_str();
  cmd->add_flag("--ema", ema, "use the EMA weights of the checkpoint");
  cmd->add_flag("--json", as_json, "print one JSON document instead of text");
  cmd->callback([] {
    const torch::Device dev = train::parse_device(device, "--device");
    train::LoadedClassifier c = train::load_classifier(ckpt, dev, ema);
    std::vector<torch::Tensor> decoded;
    for (const auto& path : images) decoded.push_back(data::decode_image(path));

    torch::NoGradGuard ng;
    data::BatchAugment aug(c.config.augment, 0);
    const int64_t k = std::min<int64_t>(5, static_cast<int64_t>(c.classes.size()));
    nlohmann::json out{{"checkpoint", ckpt}, {"weights", ema ? "ema" : "model"}, {"images", nlohmann::json::array()}};
    for (size_t i = 0; i < images.size(); ++i) {
      const auto x = aug.eval(decoded[i].unsqueeze(0).to(dev));
      const auto probs = torch::softmax(c.model->forward(x).to(torch::kFloat64), 1)[0].cpu();
      const auto [p, idx] = probs.topk(k);
      nlohmann::json top = nlohmann::json::array();
      for (int64_t j = 0; j < k; ++j) {
        const int64_t label = idx[j].item<int64_t>();
        top.push_back({{"class", c.classes.at(static_cast<size_t>(label))},
                       {"index", label},
                       {"probability", p[j].item<double>()}});
      }
      out["images"].push_back({{"file", images[i]}, {"top5", top}});
    }
    if (as_json) {
      std::cout << out.dump(2) << "\n";
      return;
    }
    for (const auto& img : out["images"]) {
      std::cout << img["file"].get<std::string>() << "\n";
      for (const auto& t : img["top5"]) {
        char line[64];
        std::snprintf(line, sizeof line, "  %6.2f%%  ", 100.0 * t["probability"].get<double>());
        std::cout << line << t["class"].get<std::string>() << "\n";
      }
    }
  });
}

}  // namespace mmx::cli
