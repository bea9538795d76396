// Bad checkpoints and configs (issue 10): the header size bound, integer or non-finite tensors,
// metadata numbers, stored configs edited to imply another (huge) model, the model shapes computed
// without building a model, the ViM2 config bounds, and ViM2 runs that lose nothing when killed
// between writing last.safetensors and metrics.json or that diverge.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "mmx/data/data_root.h"
#include "mmx/data/images/cifar10.h"
#include "mmx/models/tsm2.h"
#include "mmx/models/vim2.h"
#include "mmx/train/checkpoint.h"
#include "mmx/train/tsm2_trainer.h"
#include "mmx/train/vim2_trainer.h"

namespace mmx::train {
namespace {

namespace fs = std::filesystem;

std::string tmp_dir(const std::string& tag) {
  char tmpl[256];
  std::snprintf(tmpl, sizeof tmpl, "/tmp/mmx-limits-%s-XXXXXX", tag.c_str());
  return mkdtemp(tmpl);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The message of the exception `fn` throws (of type E), or "no error".
template <class E = std::exception>
std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const E& e) {
    if constexpr (std::is_same_v<E, c10::Error>) return e.what_without_backtrace();
    return e.what();
  }
  return "no error";
}

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "'" << (needle) << "' not in: " << (haystack)

std::map<std::string, std::vector<int64_t>> shapes_of(const torch::nn::Module& m) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& [k, v] : module_state(m)) out[k] = v.sizes().vec();
  return out;
}

template <class List>
std::map<std::string, std::vector<int64_t>> as_map(const List& l) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& [k, v] : l) EXPECT_TRUE(out.emplace(k, v).second) << "repeated " << k;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Model shapes without a model

TEST(ModelShapes, Vim2ShapesEqualTheBuiltModel) {
  using O = models::ViM2Options;
  const auto small = [] {
    return O()
        .image_size(32)
        .num_classes(10)
        .patch_size(4)
        .dims({8, 16, 32, 64})
        .depths({1, 2, 1, 1})
        .channel_d_inner({16, 32, 64, 64})
        .d_state(4);
  };
  std::vector<O> cases{small(),
                       small().channel_layout("token_wise"),
                       small().channel_branches(2),
                       small().block_order("TCT"),
                       small().weighted_average(false).out_norm(false),
                       small().image_size(40).patch_size(2).expand(3).d_conv(5).channel_d_conv(3)};
  for (const auto& o : cases) {
    models::ViM2 m(o);
    EXPECT_EQ(as_map(models::vim2_parameter_shapes(o)), shapes_of(*m));
    int64_t n = 0;
    for (const auto& p : m->parameters()) n += p.numel();
    EXPECT_EQ(models::vim2_parameter_count(o), n);
  }
  models::ViM2 tiny(O::tiny());
  int64_t n_tiny = 0;
  for (const auto& p : tiny->parameters()) n_tiny += p.numel();
  EXPECT_EQ(models::vim2_parameter_count(O::tiny()), n_tiny);
  EXPECT_EQ(n_tiny, 25006105);  // "25.0 M" of the README
}

TEST(ModelShapes, Tsm2ShapesEqualTheBuiltModel) {
  using O = models::TSM2Options;
  const auto small = [] {
    return O().seq_len(64).pred_len(16).n_vars(5).patch_len(8).stride(4).d_model(16).n_layers(3);
  };
  std::vector<O> cases{small(),
                       small().channel_layout(nn::ChannelMixerLayout::kLiteral),
                       small().revin_affine(true),
                       small().revin(false).dt_rank(3).expand(3).d_state(6).d_conv(2),
                       O(),
                       small().variant(models::TSM2Variant::kMLP),
                       small().variant(models::TSM2Variant::kMambaLinearTime),
                       small().n_future(2),
                       small().n_static(3).n_future(1).dt_rank(2),
                       O().n_future(4)};
  for (const auto& o : cases) {
    models::TSM2 m(o);
    EXPECT_EQ(as_map(models::tsm2_parameter_shapes(o)), shapes_of(*m));
  }
  EXPECT_EQ(models::tsm2_parameter_count(O()), 241742);  // docs/checkpoint_keys.md
  EXPECT_EQ(models::tsm2_parameter_count(O().pred_len(720)), 1500350);
}

TEST(ModelShapes, CountParametersSumsProductsAndSaturates) {
  EXPECT_EQ(models::count_parameters({}), 0);
  EXPECT_EQ(models::count_parameters({{"a", {3, 4}}, {"b", {5}}, {"scalar", {}}}), 3 * 4 + 5 + 1);
  const int64_t half = std::numeric_limits<int64_t>::max() / 2 + 1;                             // 2^62
  EXPECT_EQ(models::count_parameters({{"a", {half - 1}}, {"b", {half - 1}}}), 2 * (half - 1));  // fits: no saturation
  EXPECT_EQ(models::count_parameters({{"a", {half}}, {"b", {half}}}), std::numeric_limits<int64_t>::max());
}

TEST(ModelShapes, ShapeListRefusesSizesBeyondInt64) {
  models::ShapeList list("TSM2");
  list.add("w", {3, 4});
  EXPECT_EQ(list.mul(1 << 20, 1 << 20), int64_t{1} << 40);
  const int64_t big = int64_t{1} << 32;
  try {
    list.add("huge", {big, big});
    FAIL() << "no error for a 2^64-element tensor";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("TSM2: a tensor size (4294967296 x 4294967296) overflows int64"),
              std::string::npos)
        << e.what();
  }
  const models::ParameterShapes shapes = std::move(list).take();
  ASSERT_EQ(shapes.size(), 1u);  // the refused tensor was not added
  EXPECT_EQ(shapes[0].second, (std::vector<int64_t>{3, 4}));
}

// ---------------------------------------------------------------------------------------------
// Checkpoint reading

TEST(CheckpointLimits, HeaderLengthAboveTheLimitIsRefusedBeforeReading) {
  const std::string dir = tmp_dir("hdr");
  const std::string path = dir + "/big_header.safetensors";
  std::string bytes(8, '\0');
  const uint64_t n = kMaxHeaderBytes + 8;
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  bytes += "{}      ";
  write_file(path, bytes);
  // A small file: its header length is beyond the file.
  EXPECT_EQ(message_of<CheckpointError>([&] { load_checkpoint(path); }),
            path + ": header length 100000008 is beyond the file (16 bytes): truncated, or not a safetensors file");
  // A (sparse) file long enough to hold that header: the limit refuses it before reading it.
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(n + 16)), 0);
  EXPECT_EQ(message_of<CheckpointError>([&] { load_checkpoint(path); }),
            path +
                ": header length 100000008 exceeds the limit of 100000000 bytes (the safetensors reader's "
                "limit): corrupt, or not a safetensors file");
  ::unlink(path.c_str());
}

TEST(CheckpointLimits, IntegerAndNonFiniteTensorsAreErrorsNamingTheTensor) {
  torch::nn::Linear model(3, 2);
  const auto before = model->weight.clone();
  auto state = module_state(*model);
  std::map<std::string, torch::Tensor> ints = state;
  ints["weight"] = torch::ones({2, 3}, torch::kInt64);
  EXPECT_EQ(message_of<CheckpointError>([&] { load_module_state(*model, ints, "c.safetensors"); }),
            "c.safetensors: tensor 'weight' has dtype I64 but the model expects floating-point values (F32; F64, "
            "F32, F16 or BF16 are converted): not a weight tensor of this model");
  std::map<std::string, torch::Tensor> nans = state;
  nans["bias"] = torch::tensor({0.5f, std::numeric_limits<float>::quiet_NaN()});
  EXPECT_EQ(message_of<CheckpointError>([&] { load_module_state(*model, nans, "c.safetensors"); }),
            "c.safetensors: tensor 'bias' holds 1 non-finite value(s) (NaN or inf; first at flat index 1, value "
            "nan): the checkpoint is corrupt or the training diverged");
  std::map<std::string, torch::Tensor> infs = state;
  infs["weight"] = torch::full({2, 3}, std::numeric_limits<double>::infinity(), torch::kFloat64);
  EXPECT_CONTAINS(message_of<CheckpointError>([&] { load_module_state(*model, infs, "c.safetensors"); }),
                  "tensor 'weight' holds 6 non-finite value(s) (NaN or inf; first at flat index 0, value inf)");
  EXPECT_TRUE(torch::equal(model->weight, before));  // nothing copied
  // BF16 and F64 still convert.
  std::map<std::string, torch::Tensor> bf16 = state;
  for (auto& [k, v] : bf16) v = v.to(torch::kBFloat16);
  EXPECT_NO_THROW(load_module_state(*model, bf16, "c.safetensors"));
}

TEST(CheckpointLimits, NonFiniteOptimizerMomentsAreErrors) {
  torch::nn::Linear model(2, 2);
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& p : model->named_parameters()) named.emplace_back(p.key(), p.value());
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(1e-3));
  model->forward(torch::ones({1, 2})).sum().backward();
  opt.step();
  Checkpoint ck;
  add_optimizer_state(ck, opt, named);
  ck.tensors["optimizer.weight.exp_avg_sq"][0][1] = std::numeric_limits<float>::infinity();
  EXPECT_CONTAINS(message_of<CheckpointError>([&] { load_optimizer_state(opt, ck, named, "o.safetensors"); }),
                  "o.safetensors: tensor 'optimizer.weight.exp_avg_sq' holds 1 non-finite value(s)");
}

TEST(CheckpointLimits, MetadataNumbersHaveClearErrors) {
  Checkpoint ck;
  ck.metadata = {{"epoch", "12"}, {"bad", "12abc"},        {"neg", "-3"},           {"x", "0.1"},
                 {"inf", "inf"},  {"list", R"(["a", 3])"}, {"nums", "[1.5, null]"}, {"json", "{oops"}};
  EXPECT_EQ(metadata_int(ck, "epoch", "f"), 12);
  EXPECT_EQ(message_of<CheckpointError>([&] { metadata_int(ck, "bad", "f", 0, 10); }),
            "f: metadata 'bad' = \"12abc\" is not an integer in [0, 10]");
  EXPECT_EQ(message_of<CheckpointError>([&] { metadata_int(ck, "neg", "f", 0, 10); }),
            "f: metadata 'neg' = \"-3\" is not an integer in [0, 10]");
  EXPECT_EQ(message_of<CheckpointError>([&] { metadata_int(ck, "nope", "f"); }), "f: metadata key 'nope' is missing");
  EXPECT_EQ(metadata_double(ck, "x", "f"), 0.1);
  EXPECT_EQ(message_of<CheckpointError>([&] { metadata_double(ck, "inf", "f"); }),
            "f: metadata 'inf' = \"inf\" is not a finite decimal number");
  EXPECT_EQ(message_of<CheckpointError>([&] { metadata_string_list(ck, "list", "f"); }),
            "f: metadata 'list' item 1 is 3, not a string");
  EXPECT_EQ(message_of<CheckpointError>([&] { metadata_number_list(ck, "nums", "f"); }),
            "f: metadata 'nums' item 1 is null, not a finite number");
  EXPECT_CONTAINS(message_of<CheckpointError>([&] { metadata_number_list(ck, "json", "f"); }),
                  "f: metadata 'json' is not valid JSON");
}

TEST(CheckpointLimits, StateShapesAreComparedWithTheImpliedModel) {
  const std::vector<std::pair<std::string, std::vector<int64_t>>> expected{{"a", {2, 3}}, {"b", {4}}};
  std::map<std::string, torch::Tensor> state{{"a", torch::zeros({2, 3})}, {"b", torch::zeros({4})}};
  EXPECT_NO_THROW(check_state_shapes(expected, state, "s"));
  state["b"] = torch::zeros({5});
  EXPECT_EQ(message_of<CheckpointError>([&] { check_state_shapes(expected, state, "s"); }),
            "s: tensor 'b' has shape [5] in the checkpoint but its stored config implies [4]: its config or its "
            "tensors were edited");
  state.erase("b");
  EXPECT_CONTAINS(message_of<CheckpointError>([&] { check_state_shapes(expected, state, "s"); }),
                  "s: the stored config implies tensor 'b' (shape [4]) but the checkpoint has none");
  state["b"] = torch::zeros({4});
  state["c"] = torch::zeros({1});
  EXPECT_CONTAINS(message_of<CheckpointError>([&] { check_state_shapes(expected, state, "s"); }),
                  "s: unexpected tensor 'c' in the checkpoint");
}

// A ViM2 classifier checkpoint as train_vim2 writes it (format, config, classes, epoch), without
// training.
std::string write_vim2_checkpoint(const std::string& dir, const std::string& config_toml, const models::ViM2& model) {
  Checkpoint ck;
  ck.tensors = module_state(*model);
  ck.metadata = {{"format", "mambamixer.vim2.v1"},
                 {"config", config_toml},
                 {"classes", nlohmann::json(std::vector<std::string>{"a", "b", "c"}).dump()},
                 {"epoch", "1"},
                 {"step", "4"},
                 {"best_top1", "50"},
                 {"best_epoch", "1"},
                 {"elapsed_seconds", "1.5"}};
  const std::string path = dir + "/vim2.safetensors";
  save_checkpoint(path, ck);
  return path;
}

const char* kTinyVim2 =
    "[model]\nname = \"vim2\"\nimage_size = 32\nnum_classes = 3\npatch_size = 4\ndims = [8, 16, 32, 64]\n"
    "depths = [1, 1, 1, 1]\nchannel_d_inner = [16, 32, 64, 64]\nd_state = 4\n";

TEST(CheckpointLimits, Vim2CheckpointWithAnEditedConfigIsRejectedBeforeTheModelIsBuilt) {
  const std::string dir = tmp_dir("vim2edit");
  const ClassifyConfig c = parse_classify_config(kTinyVim2, "tiny");
  models::ViM2 model(c.model);
  std::string path = write_vim2_checkpoint(dir, to_toml(c), model);
  EXPECT_NO_THROW(load_classifier(path));
  // num_classes 3 -> 1,000,000 (and as many class names): the model would hold a 64 x 1e6 head
  // (256 MB); the shapes are compared first, naming the tensor.
  ClassifyConfig edited = c;
  edited.model.num_classes(1000000);
  {
    Checkpoint ck = load_checkpoint(path);
    ck.metadata["config"] = to_toml(edited);
    ck.metadata["classes"] = nlohmann::json(std::vector<std::string>(1000000, "x")).dump();
    save_checkpoint(path, ck);
  }
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(message_of<CheckpointError>([&] { load_classifier(path); }),
            path +
                ": tensor 'head.weight' has shape [3, 64] in the checkpoint but its stored config implies "
                "[1000000, 64]: its config or its tensors were edited");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0);
  // Stored config with deeper stages: a missing tensor is named.
  edited = c;
  edited.model.depths({1, 1, 2, 1});
  {
    Checkpoint ck = load_checkpoint(path);
    ck.metadata["config"] = to_toml(edited);
    ck.metadata["classes"] = nlohmann::json(std::vector<std::string>{"a", "b", "c"}).dump();
    save_checkpoint(path, ck);
  }
  EXPECT_CONTAINS(message_of<CheckpointError>([&] { load_classifier(path); }),
                  "the stored config implies tensor 'stages.2.blocks.3.norm.weight' (shape [32]) but the checkpoint "
                  "has none");
  // A stored config beyond the model limits is a config error naming the key.
  edited = c;
  {
    Checkpoint ck = load_checkpoint(path);
    std::string toml = to_toml(c);
    ck.metadata["config"] = toml.replace(toml.find("expand = 2"), 10, "expand = 100000");
    save_checkpoint(path, ck);
  }
  EXPECT_CONTAINS(message_of<ConfigError>([&] { load_classifier(path); }),
                  "model.expand = 100000; expected 1 <= expand <= 64");
  // Metadata numbers and names with clear errors.
  path = write_vim2_checkpoint(dir, to_toml(c), model);
  {
    Checkpoint ck = load_checkpoint(path);
    ck.metadata["epoch"] = "one";
    save_checkpoint(path, ck);
  }
  EXPECT_EQ(message_of<CheckpointError>([&] { load_classifier(path); }),
            path + ": metadata 'epoch' = \"one\" is not an integer in [0, 1000000]");
  // An integer tensor where a weight is expected, and a NaN weight.
  for (const bool nan : {false, true}) {
    path = write_vim2_checkpoint(dir, to_toml(c), model);
    Checkpoint ck = load_checkpoint(path);
    auto& t = ck.tensors.at("stages.1.blocks.0.mixer.s6.A_logs");
    if (nan) {
      t[2][1] = std::numeric_limits<float>::quiet_NaN();
    } else {
      t = t.to(torch::kInt32);
    }
    save_checkpoint(path, ck);
    EXPECT_CONTAINS(message_of<CheckpointError>([&] { load_classifier(path); }),
                    nan ? "tensor 'stages.1.blocks.0.mixer.s6.A_logs' holds 1 non-finite value(s) (NaN or inf; first "
                          "at flat index 9, value nan)"
                        : "tensor 'stages.1.blocks.0.mixer.s6.A_logs' has dtype I32 but the model expects "
                          "floating-point values");
  }
}

TEST(CheckpointLimits, Tsm2CheckpointWithAnEditedConfigIsRejectedBeforeTheModelIsBuilt) {
  const std::string dir = tmp_dir("tsm2edit");
  TrainConfig c = parse_config(
      "[model]\nd_model = 8\nn_layers = 1\n[data]\ndataset = \"ETTh1\"\nseq_len = 32\npred_len = 8\n", "tiny");
  c.model.n_vars(3);
  models::TSM2 model(c.model);
  Checkpoint ck;
  ck.tensors = module_state(*model);
  ck.metadata = {{"format", "mambamixer.tsm2.v1"}, {"config", to_toml(c)},  {"n_vars", "3"},
                 {"columns", R"(["a","b","c"])"},  {"date_column", "date"}, {"scaler_mean", "[0,0,0]"},
                 {"scaler_std", "[1,1,1]"}};
  const std::string path = dir + "/tsm2.safetensors";
  save_checkpoint(path, ck);
  LoadedForecaster f = load_forecaster(path);
  EXPECT_EQ(f.columns, (std::vector<std::string>{"a", "b", "c"}));

  auto with = [&](const std::function<void(Checkpoint&)>& edit) {
    Checkpoint e = ck;
    edit(e);
    save_checkpoint(path, e);
    return message_of<CheckpointError>([&] { load_forecaster(path); });
  };
  // d_model 8 -> 4096 (4096 x 32 patch embedding, a head of 8 x 4096 P, ...): named before building.
  EXPECT_EQ(with([&](Checkpoint& e) {
              TrainConfig big = c;
              big.model.d_model(4096);
              e.metadata["config"] = to_toml(big);
            }),
            path +
                ": tensor 'patch_embed.weight' has shape [8, 16] in the checkpoint but its stored config implies "
                "[4096, 16]: its config or its tensors were edited");
  EXPECT_CONTAINS(with([&](Checkpoint& e) {
                    TrainConfig deep = c;
                    deep.model.n_layers(8);
                    e.metadata["config"] = to_toml(deep);
                  }),
                  "the stored config implies tensor 'backbone.blocks.1.token_mixer.norm.weight' (shape [8]) but the "
                  "checkpoint has none");
  EXPECT_EQ(with([](Checkpoint& e) { e.metadata["n_vars"] = "3x"; }),
            path + ": metadata 'n_vars' = \"3x\" is not an integer in [1, 2147483647]");
  EXPECT_EQ(with([](Checkpoint& e) { e.metadata["scaler_std"] = "[1, null, 1]"; }),
            path + ": metadata 'scaler_std' item 1 is null, not a finite number");
  EXPECT_EQ(with([](Checkpoint& e) { e.metadata["columns"] = "[\"a\", 2]"; }),
            path + ": metadata 'columns' item 1 is 2, not a string");
  EXPECT_CONTAINS(with([](Checkpoint& e) { e.tensors["head.weight"] = e.tensors["head.weight"].to(torch::kInt64); }),
                  "tensor 'head.weight' has dtype I64 but the model expects floating-point values");
  EXPECT_CONTAINS(with([](Checkpoint& e) {
                    e.tensors["head.bias"] = e.tensors["head.bias"].clone();
                    e.tensors["head.bias"][3] = std::numeric_limits<float>::infinity();
                  }),
                  "tensor 'head.bias' holds 1 non-finite value(s) (NaN or inf; first at flat index 3, value inf)");
}

// ---------------------------------------------------------------------------------------------
// ViM2 config bounds

void expect_vim2_config_error(const std::vector<std::string>& overrides, const std::string& needle) {
  EXPECT_CONTAINS(message_of<ConfigError>([&] { parse_classify_config(kTinyVim2, "exp.toml", overrides); }), needle);
}

TEST(ClassifyConfigLimits, FloatsMustBeFiniteAndInRange) {
  expect_vim2_config_error({"train.lr=0"}, "exp.toml: train.lr = 0; expected 0 < lr <= 10");
  expect_vim2_config_error({"train.lr=100"}, "train.lr = 100; expected 0 < lr <= 10");
  expect_vim2_config_error({"train.warmup_epochs=-1"}, "train.warmup_epochs must be in [0, train.epochs]");
  expect_vim2_config_error({"train.weight_decay=-0.1"}, "train.weight_decay must be >= 0");
  expect_vim2_config_error({"train.clip_grad=-1"}, "train.clip_grad must be >= 0");
  expect_vim2_config_error({"train.ema_decay=1"}, "train.ema_decay must be in [0, 1)");
  expect_vim2_config_error({"model.drop_path_rate=1"}, "drop_path_rate must be in [0, 1)");
  expect_vim2_config_error({"model.norm_eps=0"}, "model.norm_eps = 0; expected 0 < norm_eps <= 1");
  expect_vim2_config_error({"augment.hflip=1.5"}, "hflip = 1.500000; expected a probability in [0, 1]");
  expect_vim2_config_error({"train.time_budget_minutes=-1"}, "train.time_budget_minutes must be >= 0");
}

TEST(ClassifyConfigLimits, ModelAndBatchSizesAreBounded) {
  expect_vim2_config_error({"model.dims=[8, 16, 32, 100000]"},
                           "model.dims[3] = 100000; expected 1 <= dims[3] <= 65536");
  expect_vim2_config_error({"model.depths=[1, 1, 1000, 1]"}, "model.depths[2] = 1000; expected 1 <= depths[2] <= 256");
  expect_vim2_config_error({"model.d_state=1000"}, "model.d_state = 1000; expected 1 <= d_state <= 256");
  expect_vim2_config_error({"model.expand=65"}, "model.expand = 65; expected 1 <= expand <= 64");
  expect_vim2_config_error({"model.image_size=100000"}, "model.image_size = 100000; expected 1 <= image_size <= 8192");
  expect_vim2_config_error({"train.batch_size=1000000"},
                           "train.batch_size = 1000000; expected 1 <= batch_size <= 65536");
  expect_vim2_config_error({"train.epochs=10000000000"}, "train.epochs = 10000000000; expected 1 <= epochs <= 1000000");
  expect_vim2_config_error({"data.workers=100000"}, "data.workers = 100000; expected 0 <= workers <= 1024");
  expect_vim2_config_error({"augment.eval_resize_ratio=1e-9"},
                           "augment.eval_resize_ratio = 1e-09; expected 0.0625 <= eval_resize_ratio <= 1");
  expect_vim2_config_error({"augment.pad_crop=100"}, "augment.pad_crop = 100; expected 0 <= pad_crop <= 32");
  // Each size within its bound, but the whole model above 2e9 parameters.
  expect_vim2_config_error({"model.dims=[8192, 16384, 32768, 65536]", "model.channel_d_inner=[64, 64, 64, 64]"},
                           "parameters (");
  expect_vim2_config_error({"model.dims=[8192, 16384, 32768, 65536]", "model.channel_d_inner=[64, 64, 64, 64]"},
                           "GiB as float32), more than the limit of 2000000000 (set MMX_ALLOW_LARGE_MODELS=1 to "
                           "train larger models)");
  expect_vim2_config_error({"model.image_size=4096", "train.batch_size=1024"},
                           "train.batch_size = 1024 at model.image_size 4096 gives input batches of");
  // The parameter limit is lifted through the environment (the config is only parsed here).
  ::setenv("MMX_ALLOW_LARGE_MODELS", "1", 1);
  EXPECT_NO_THROW(parse_classify_config(
      kTinyVim2, "exp.toml", {"model.dims=[8192, 16384, 32768, 65536]", "model.channel_d_inner=[64, 64, 64, 64]"}));
  ::unsetenv("MMX_ALLOW_LARGE_MODELS");
}

TEST(ClassifyConfigLimits, ThreadsAboveTheMachineAreRefusedBeforeAnythingIsWritten) {
  const std::string dir = tmp_dir("threads");
  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  const ClassifyConfig c = parse_classify_config(kTinyVim2, "exp.toml", {"train.threads=" + std::to_string(cores + 1)});
  EXPECT_EQ(message_of<ConfigError>([&] { train_vim2(c, dir + "/run"); }),
            "train.threads = " + std::to_string(cores + 1) + " is more than the " + std::to_string(cores) +
                " hardware threads of this machine; expected 0 (LibTorch's default) to " + std::to_string(cores));
  EXPECT_FALSE(fs::exists(dir + "/run"));
  expect_vim2_config_error({"train.threads=-1"}, "train.threads = -1; expected 0 <= threads <= 1024");
}

// ---------------------------------------------------------------------------------------------
// ViM2 runs: a kill between last.safetensors and metrics.json, divergence

bool have_cifar() { return fs::exists(default_data_root() + "/cifar10/test_batch.bin.gz"); }

std::shared_ptr<data::ImageDataset> cifar_subset(int64_t begin, int64_t count) {
  static std::optional<data::ImageDataset> all;
  if (!all) all = data::load_cifar10(default_data_root() + "/cifar10", /*train=*/false);
  auto d = std::make_shared<data::ImageDataset>();
  d->images = all->images.narrow(0, begin, count).clone();
  d->labels = all->labels.narrow(0, begin, count).clone();
  d->classes = all->classes;
  return d;
}

ClassifyConfig run_config(int64_t epochs, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> o{"model.num_classes=10",
                             "data.workers=0",
                             "augment.random_resized_crop=false",
                             "augment.randaugment_n=0",
                             "augment.random_erasing=0",
                             "augment.mixup_alpha=0",
                             "augment.cutmix_alpha=0",
                             "augment.eval_resize_ratio=1",
                             "train.batch_size=32",
                             "train.eval_batch_size=64",
                             "train.warmup_epochs=0",
                             "train.threads=1",
                             "train.epochs=" + std::to_string(epochs)};
  o.insert(o.end(), extra.begin(), extra.end());
  return parse_classify_config(kTinyVim2, "run", o);
}

ClassifyHooks quiet_hooks(int64_t stop_after = 0) {
  ClassifyHooks h;
  h.progress_bar = false;
  h.log = [](const std::string&) {};
  h.stop_after_epoch = stop_after;
  h.train_data = cifar_subset(0, 64);
  h.val_data = cifar_subset(64, 64);
  return h;
}

TEST(ClassifyDurableRuns, AKillBetweenTheCheckpointAndMetricsLosesNoEpoch) {
  if (!have_cifar()) GTEST_SKIP() << "CIFAR-10 not found under " << default_data_root() << "/cifar10";
  const std::string straight = tmp_dir("straight"), killed = tmp_dir("killed");
  const ClassifyConfig c = run_config(3);
  const ClassifyResult a = train_vim2(c, straight, false, quiet_hooks());
  ASSERT_EQ(a.history.size(), 3u);
  // The interrupted run: two epochs, then metrics.json of epoch 1 put back, as if the process had
  // been killed after writing last.safetensors of epoch 2 but before metrics.json.
  train_vim2(c, killed, false, quiet_hooks(1));
  const std::string metrics_after_epoch1 = read_file(killed + "/metrics.json");
  train_vim2(c, killed, true, quiet_hooks(2));
  write_file(killed + "/metrics.json", metrics_after_epoch1);
  const ClassifyResult b = train_vim2(c, killed, true, quiet_hooks());
  ASSERT_EQ(b.history.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(b.history[i].epoch, static_cast<int64_t>(i + 1));
    EXPECT_EQ(b.history[i].train_loss, a.history[i].train_loss) << i;
    EXPECT_EQ(b.history[i].top1, a.history[i].top1) << i;
    EXPECT_EQ(b.history[i].val_loss, a.history[i].val_loss) << i;
  }
  const auto j = nlohmann::json::parse(read_file(killed + "/metrics.json"));
  ASSERT_EQ(j["epochs"].size(), 3u);
  EXPECT_EQ(j["epochs"][1]["epoch"].get<int64_t>(), 2);
  EXPECT_EQ(j["epochs"][1]["val_loss"].get<double>(), a.history[1].val_loss);
  // The best metric is stored at full precision: it reads back to the same double.
  const Checkpoint last = load_checkpoint(killed + "/last.safetensors");
  EXPECT_EQ(metadata_double(last, "best_top1", "last"), b.best_top1);
  EXPECT_EQ(b.best_top1, a.best_top1);
  // A finished run cannot be resumed without more epochs.
  EXPECT_CONTAINS(message_of<ConfigError>([&] { train_vim2(c, killed, true, quiet_hooks()); }),
                  "the run already finished its 3 epochs; raise train.epochs");
}

TEST(ClassifyDurableRuns, DivergenceIsReportedAtItsStepAndWritesNoMetrics) {
  if (!have_cifar()) GTEST_SKIP() << "CIFAR-10 not found under " << default_data_root() << "/cifar10";
  const std::string dir = tmp_dir("diverge");
  // An absurd learning rate without clipping: the weights blow up within the first steps.
  const ClassifyConfig c = run_config(2, {"train.lr=10", "train.warmup_lr=10", "train.min_lr=10", "train.clip_grad=0",
                                          "train.weight_decay=0", "train.ema=false"});
  const std::string msg = message_of<c10::Error>([&] { train_vim2(c, dir, false, quiet_hooks()); });
  EXPECT_CONTAINS(msg, "training loss became ");
  EXPECT_CONTAINS(msg, " at epoch 1, step ");
  EXPECT_CONTAINS(msg, "with lr 10; nothing of this epoch was written");
  EXPECT_FALSE(fs::exists(dir + "/metrics.json"));
  EXPECT_FALSE(fs::exists(dir + "/last.safetensors"));
  EXPECT_FALSE(fs::exists(dir + "/best.safetensors"));
}

}  // namespace
}  // namespace mmx::train
