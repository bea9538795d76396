// Tests of mmx::train checkpoints: the safetensors byte layout, bit-exact round trips, module
// state (TSM2), AdamW resume, every malformed-file case, atomic saves and Python interop.
#include "mmx/train/checkpoint.h"

#include "common/test_paths.h"
#include "mmx/models/tsm2.h"
#include "mmx/train/param_groups.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>

namespace mmx::train {
namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// A fresh directory under /tmp, removed (files only, POSIX calls: libtorch exports its own
// std::filesystem::remove_all) at scope end.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/mmx_ckpt_test_XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    if (!made) throw std::runtime_error("mkdtemp failed");
    path = made;
  }
  ~TempDir() {
    if (DIR* d = ::opendir(path.c_str())) {
      while (const dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        const std::string full = path + "/" + name;
        if (::unlink(full.c_str()) != 0) ::rmdir(full.c_str());
      }
      ::closedir(d);
    }
    ::rmdir(path.c_str());
  }
  std::string file(const std::string& name) const { return path + "/" + name; }
  size_t entries() const {
    size_t n = 0;
    if (DIR* d = ::opendir(path.c_str())) {
      while (const dirent* e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) ++n;
      ::closedir(d);
    }
    return n;
  }
};

// Same dtype, shape and bytes.
::testing::AssertionResult same_bits(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type())
    return ::testing::AssertionFailure() << "dtype " << a.scalar_type() << " vs " << b.scalar_type();
  if (a.sizes() != b.sizes()) return ::testing::AssertionFailure() << "shape " << a.sizes() << " vs " << b.sizes();
  auto ca = a.detach().cpu().contiguous(), cb = b.detach().cpu().contiguous();
  const size_t n = ca.numel() * ca.element_size();
  if (n && std::memcmp(ca.data_ptr(), cb.data_ptr(), n) != 0) return ::testing::AssertionFailure() << "bytes differ";
  return ::testing::AssertionSuccess();
}

// Runs fn and expects a CheckpointError whose message contains every fragment.
void expect_error(const std::function<void()>& fn, std::initializer_list<std::string> fragments) {
  try {
    fn();
    ADD_FAILURE() << "expected a CheckpointError";
  } catch (const CheckpointError& e) {
    const std::string msg = e.what();
    for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "'" << f << "' not in: " << msg;
  }
}

// A file in the safetensors layout from a header text (padded here) and raw data bytes.
std::string raw_file(std::string header, const std::string& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string out;
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return out + header + data;
}

Checkpoint all_dtypes_checkpoint() {
  torch::manual_seed(7);
  Checkpoint c;
  c.tensors["f64"] = torch::randn({2, 3}, torch::kFloat64);
  c.tensors["f32_scalar"] = torch::tensor(3.25f);
  c.tensors["f32_special"] =
      torch::tensor({0.0f, -0.0f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                     std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::denorm_min(),
                     std::numeric_limits<float>::max()});
  c.tensors["f16"] = torch::randn({4, 1, 2}).to(torch::kHalf);
  c.tensors["bf16"] = torch::randn({3, 5}).to(torch::kBFloat16);
  c.tensors["bf16_scalar"] = torch::tensor(-1.5f).to(torch::kBFloat16);
  c.tensors["i64"] = torch::tensor(
      {std::numeric_limits<int64_t>::min(), int64_t{-1}, int64_t{0}, std::numeric_limits<int64_t>::max()});
  c.tensors["i32"] = torch::randint(-1000000, 1000000, {7}, torch::kInt32);
  c.tensors["i16"] = torch::randint(-30000, 30000, {2, 2}, torch::kInt16);
  c.tensors["i8"] = torch::randint(-128, 128, {5}, torch::kInt8);
  c.tensors["u8"] = torch::randint(0, 256, {2, 2, 2}, torch::kUInt8);
  c.tensors["bool"] = torch::tensor({true, false, true});
  c.tensors["empty"] = torch::empty({0, 3});
  c.tensors["transposed"] = torch::arange(12, torch::kFloat32).reshape({3, 4}).t();
  c.tensors["nested.name.with.dots"] = torch::ones({1});
  c.metadata["model"] = "tsm2";
  c.metadata["note"] = "ünïcødé and \"quotes\"\n";
  return c;
}

TEST(Checkpoint, RoundTripAllDtypesBitExact) {
  TempDir dir;
  const auto path = dir.file("all.safetensors");
  const Checkpoint c = all_dtypes_checkpoint();
  save_checkpoint(path, c);
  const Checkpoint r = load_checkpoint(path);
  EXPECT_EQ(r.metadata, c.metadata);
  ASSERT_EQ(r.tensors.size(), c.tensors.size());
  for (const auto& [name, t] : c.tensors) {
    ASSERT_TRUE(r.tensors.count(name)) << name;
    EXPECT_TRUE(same_bits(r.tensors.at(name), t)) << name;
  }
  EXPECT_EQ(r.tensors.at("f32_scalar").dim(), 0);
  EXPECT_EQ(r.tensors.at("f32_scalar").item<float>(), 3.25f);
  EXPECT_EQ(r.tensors.at("bf16_scalar").item<float>(), -1.5f);
  EXPECT_TRUE(std::signbit(r.tensors.at("f32_special")[1].item<float>()));
  EXPECT_TRUE(std::isnan(r.tensors.at("f32_special")[4].item<float>()));
  EXPECT_EQ(r.tensors.at("transposed")[1][2].item<float>(), 9.0f);
  EXPECT_EQ(r.tensors.at("i64")[0].item<int64_t>(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(dir.entries(), 1u);  // no temporary file left behind
}

TEST(Checkpoint, EmptyCheckpointRoundTrips) {
  TempDir dir;
  const auto path = dir.file("empty.safetensors");
  save_checkpoint(path, {});
  // {} padded to 8 bytes.
  EXPECT_EQ(read_bytes(path), std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  const Checkpoint r = load_checkpoint(path);
  EXPECT_TRUE(r.tensors.empty());
  EXPECT_TRUE(r.metadata.empty());
}

TEST(Checkpoint, ExactByteLayoutOfATinyFile) {
  TempDir dir;
  const auto path = dir.file("tiny.safetensors");
  Checkpoint c;
  c.tensors["a"] = torch::tensor({1.0f, -2.0f});
  c.tensors["b"] = torch::tensor(7, torch::kUInt8);
  c.metadata["k"] = "v";
  save_checkpoint(path, c);
  // Header: 130 bytes of JSON (keys sorted, no whitespace) + 6 spaces = 136 = 0x88.
  const std::string json = R"({"__metadata__":{"k":"v"},"a":{"data_offsets":[0,8],"dtype":"F32","shape":[2]},)"
                           R"("b":{"data_offsets":[8,9],"dtype":"U8","shape":[]}})";
  const std::string expected = std::string("\x88\0\0\0\0\0\0\0", 8) + json + "      " +
                               std::string("\x00\x00\x80\x3f", 4) +  // 1.0f
                               std::string("\x00\x00\x00\xc0", 4) +  // -2.0f
                               std::string("\x07", 1);
  EXPECT_EQ(expected.size(), 153u);
  EXPECT_EQ(read_bytes(path), expected);
}

TEST(Checkpoint, NonContiguousTensorsAreSavedContiguously) {
  TempDir dir;
  const auto path = dir.file("view.safetensors");
  auto base = torch::arange(24, torch::kFloat64).reshape({2, 3, 4});
  Checkpoint c;
  c.tensors["slice"] = base.select(2, 1);  // strided view
  save_checkpoint(path, c);
  const auto r = load_checkpoint(path).tensors.at("slice");
  EXPECT_TRUE(same_bits(r, base.select(2, 1).contiguous()));
  EXPECT_EQ(r[1][2].item<double>(), 21.0);
}

TEST(Checkpoint, SaveRejectsUnsupportedDtypesAndNames) {
  TempDir dir;
  const auto path = dir.file("bad.safetensors");
  Checkpoint c;
  c.tensors["z"] = torch::zeros({2}, torch::kComplexFloat);
  expect_error([&] { save_checkpoint(path, c); }, {path, "'z'", "ComplexFloat"});
  Checkpoint m;
  m.tensors["__metadata__"] = torch::zeros({1});
  expect_error([&] { save_checkpoint(path, m); }, {path, "__metadata__"});
  Checkpoint u;
  u.tensors["undef"] = torch::Tensor();
  expect_error([&] { save_checkpoint(path, u); }, {path, "'undef'", "undefined"});
  EXPECT_FALSE(file_exists(path));
}

models::TSM2Options small_tsm2() { return models::TSM2Options().seq_len(64).pred_len(16).n_vars(3).dropout(0.0); }

TEST(Checkpoint, ModuleStateKeysAreLibTorchNames) {
  torch::manual_seed(1);
  models::TSM2 model(small_tsm2());
  const auto state = module_state(*model);
  std::set<std::string> expected;
  for (const auto& p : model->named_parameters()) expected.insert(p.key());
  for (const auto& b : model->named_buffers()) expected.insert(b.key());
  std::set<std::string> keys;
  for (const auto& [k, v] : state) keys.insert(k);
  EXPECT_EQ(keys, expected);
  EXPECT_EQ(state.at("backbone.blocks.0.token_mixer.mixer.in_proj.weight").sizes(), (std::vector<int64_t>{128, 32}));
  EXPECT_EQ(state.at("backbone.blocks.1.channel_mixer.mixer.s6.1.A_log").sizes(), (std::vector<int64_t>{64, 16}));
  EXPECT_EQ(state.at("backbone.averaging.theta_2").sizes(), (std::vector<int64_t>{3}));
  EXPECT_TRUE(state.count("head.weight"));
  EXPECT_TRUE(state.count("patch_embed.weight"));
  EXPECT_EQ(state.at("head.weight").sizes(), (std::vector<int64_t>{16, 7 * 32}));
  // The tensors share storage with the module (views, not copies).
  EXPECT_EQ(state.at("head.weight").data_ptr(), model->head->weight.data_ptr());
}

TEST(Checkpoint, Tsm2SavedAndLoadedGivesIdenticalOutputs) {
  TempDir dir;
  const auto path = dir.file("tsm2.safetensors");
  torch::manual_seed(1);
  models::TSM2 a(small_tsm2());
  torch::manual_seed(2);
  models::TSM2 b(small_tsm2());
  a->eval();
  b->eval();
  const auto x = torch::randn({2, 64, 3});
  torch::NoGradGuard no_grad;
  const auto ya = a->forward(x);
  ASSERT_FALSE(torch::equal(ya, b->forward(x)));  // different initialisations

  Checkpoint c;
  c.tensors = module_state(*a);
  c.metadata["model"] = "tsm2";
  save_checkpoint(path, c);
  const Checkpoint r = load_checkpoint(path);
  EXPECT_EQ(r.metadata.at("model"), "tsm2");
  load_module_state(*b, r, path);
  EXPECT_TRUE(torch::equal(b->forward(x), ya));
  for (const auto& [name, t] : module_state(*a)) EXPECT_TRUE(same_bits(module_state(*b).at(name), t)) << name;
}

TEST(Checkpoint, LoadConvertsDtypeToTheParameters) {
  torch::manual_seed(3);
  torch::nn::Linear src(4, 3), dst(4, 3);
  std::map<std::string, torch::Tensor> state;
  for (const auto& [k, v] : module_state(*src)) state[k] = v.to(torch::kFloat64);
  load_module_state(*dst, state, "f64.safetensors");
  EXPECT_EQ(dst->weight.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(dst->weight, src->weight));
  EXPECT_TRUE(dst->weight.requires_grad());
  for (const auto& [k, v] : module_state(*src)) state[k] = v.to(torch::kBFloat16);
  load_module_state(*dst, state, "bf16.safetensors");
  EXPECT_TRUE(torch::equal(dst->bias, src->bias.to(torch::kBFloat16).to(torch::kFloat32)));
}

TEST(Checkpoint, BuffersAreSavedAndRestored) {
  TempDir dir;
  const auto path = dir.file("bn.safetensors");
  torch::nn::BatchNorm1d a(4), b(4);
  a->train();
  a->forward(torch::randn({8, 4}) * 3 + 1);
  a->forward(torch::randn({8, 4}));
  Checkpoint c;
  c.tensors = module_state(*a);
  EXPECT_EQ(c.tensors.at("num_batches_tracked").scalar_type(), torch::kInt64);
  save_checkpoint(path, c);
  load_module_state(*b, load_checkpoint(path), path);
  EXPECT_EQ(b->num_batches_tracked.item<int64_t>(), 2);
  EXPECT_TRUE(torch::equal(b->running_mean, a->running_mean));
  EXPECT_TRUE(torch::equal(b->running_var, a->running_var));
}

TEST(Checkpoint, StrictLoadErrorsNameFileAndKeyAndLeaveTheModelUnchanged) {
  TempDir dir;
  const auto path = dir.file("tsm2_h16.safetensors");
  torch::manual_seed(1);
  models::TSM2 a(small_tsm2());
  Checkpoint c;
  c.tensors = module_state(*a);
  save_checkpoint(path, c);
  const Checkpoint r = load_checkpoint(path);

  torch::manual_seed(2);
  models::TSM2 wider(small_tsm2().pred_len(32));
  const auto before = wider->patch_embed->weight.clone();
  expect_error([&] { load_module_state(*wider, r, path); },
               {path + ": tensor 'head.weight' has shape [16, 224] in the checkpoint but the model "
                       "expects [32, 224] — was it trained with another config?"});
  // Checked before any copy: nothing was loaded.
  EXPECT_TRUE(torch::equal(wider->patch_embed->weight, before));

  models::TSM2 same(small_tsm2());
  auto missing = r.tensors;
  missing.erase("norm.weight");
  expect_error([&] { load_module_state(*same, missing, path); }, {path + ": ", "'norm.weight'", "has none"});
  auto extra = r.tensors;
  extra["head.extra"] = torch::zeros({1});
  expect_error([&] { load_module_state(*same, extra, path); }, {path + ": ", "unexpected tensor 'head.extra'"});
  // Optimizer entries are ignored by the Checkpoint overload but not by the strict map overload.
  Checkpoint with_opt = r;
  with_opt.tensors["optimizer.head.weight.exp_avg"] = torch::zeros({16, 224});
  EXPECT_NO_THROW(load_module_state(*same, with_opt, path));
  expect_error([&] { load_module_state(*same, with_opt.tensors, path); }, {path, "'optimizer.head.weight.exp_avg'"});
}

// Two AdamW groups as the trainer builds them (weight_decay_groups).
struct Trainee {
  models::TSM2 model{nullptr};
  std::unique_ptr<torch::optim::AdamW> optimizer;
  std::vector<std::pair<std::string, torch::Tensor>> named;

  Trainee(uint64_t seed, bool amsgrad) {
    torch::manual_seed(seed);
    model = models::TSM2(small_tsm2());
    const auto groups = weight_decay_groups(*model);
    for (size_t i = 0; i < groups.decay.size(); ++i) named.emplace_back(groups.decay_names[i], groups.decay[i]);
    for (size_t i = 0; i < groups.no_decay.size(); ++i)
      named.emplace_back(groups.no_decay_names[i], groups.no_decay[i]);
    std::vector<torch::optim::OptimizerParamGroup> pg;
    pg.emplace_back(groups.decay, std::make_unique<torch::optim::AdamWOptions>(
                                      torch::optim::AdamWOptions(1e-3).weight_decay(0.05).amsgrad(amsgrad)));
    pg.emplace_back(groups.no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                         torch::optim::AdamWOptions(1e-3).weight_decay(0.0).amsgrad(amsgrad)));
    optimizer = std::make_unique<torch::optim::AdamW>(pg, torch::optim::AdamWOptions(1e-3));
  }

  void step(const torch::Tensor& x, const torch::Tensor& y) {
    optimizer->zero_grad();
    torch::mse_loss(model->forward(x), y).backward();
    optimizer->step();
  }
};

void check_resume(bool amsgrad) {
  TempDir dir;
  const auto path = dir.file("resume.safetensors");
  torch::manual_seed(11);
  std::vector<torch::Tensor> xs, ys;
  for (int i = 0; i < 5; ++i) {
    xs.push_back(torch::randn({4, 64, 3}));
    ys.push_back(torch::randn({4, 16, 3}));
  }
  Trainee a(1, amsgrad);
  for (int i = 0; i < 3; ++i) a.step(xs[i], ys[i]);
  a.optimizer->param_groups()[0].options().set_lr(4.321e-4);  // a scheduler moved the lr
  a.optimizer->param_groups()[1].options().set_lr(1.0 / 3.0);

  Checkpoint c;
  c.tensors = module_state(*a.model);
  add_optimizer_state(c, *a.optimizer, a.named);
  EXPECT_EQ(c.metadata.at("optimizer.type"), "AdamW");
  EXPECT_EQ(c.metadata.at("optimizer.step"), "3");
  EXPECT_EQ(c.metadata.at("optimizer.param_groups"), "2");
  EXPECT_EQ(c.metadata.at("optimizer.group.0.lr"), "0.0004321");
  EXPECT_TRUE(c.tensors.count("optimizer.head.weight.exp_avg"));
  EXPECT_TRUE(c.tensors.count("optimizer.head.weight.exp_avg_sq"));
  EXPECT_EQ(c.tensors.count("optimizer.head.weight.max_exp_avg_sq"), amsgrad ? 1u : 0u);
  save_checkpoint(path, c);

  Trainee b(2, amsgrad);
  const Checkpoint r = load_checkpoint(path);
  load_module_state(*b.model, r, path);
  load_optimizer_state(*b.optimizer, r, b.named, path);
  EXPECT_EQ(b.optimizer->param_groups()[0].options().get_lr(), 4.321e-4);
  EXPECT_EQ(b.optimizer->param_groups()[1].options().get_lr(), 1.0 / 3.0);
  const auto& head_state = static_cast<const torch::optim::AdamWParamState&>(
      *b.optimizer->state().at(b.model->head->weight.unsafeGetTensorImpl()));
  EXPECT_EQ(head_state.step(), 3);
  EXPECT_TRUE(same_bits(head_state.exp_avg(), static_cast<const torch::optim::AdamWParamState&>(
                                                  *a.optimizer->state().at(a.model->head->weight.unsafeGetTensorImpl()))
                                                  .exp_avg()));

  for (int i = 3; i < 5; ++i) {
    a.step(xs[i], ys[i]);
    b.step(xs[i], ys[i]);
  }
  const auto sa = module_state(*a.model), sb = module_state(*b.model);
  for (const auto& [name, t] : sa) EXPECT_TRUE(same_bits(sb.at(name), t)) << name;
  // The training really moved the parameters after the resume.
  EXPECT_FALSE(torch::equal(sa.at("head.weight"), r.tensors.at("head.weight")));
}

TEST(Checkpoint, AdamWResumeIsBitwiseIdentical) { check_resume(false); }

TEST(Checkpoint, AdamWAmsgradResumeIsBitwiseIdentical) { check_resume(true); }

TEST(Checkpoint, OptimizerStateErrors) {
  Trainee a(1, false);
  a.step(torch::randn({2, 64, 3}), torch::randn({2, 16, 3}));
  Checkpoint c;
  add_optimizer_state(c, *a.optimizer, a.named);
  const std::string src = "run/last.safetensors";

  Trainee ams(2, true);
  expect_error([&] { load_optimizer_state(*ams.optimizer, c, ams.named, src); }, {src, "max_exp_avg_sq", "amsgrad"});

  Trainee b(2, false);
  Checkpoint partial = c;
  partial.tensors.erase("optimizer.head.weight.exp_avg_sq");
  expect_error([&] { load_optimizer_state(*b.optimizer, partial, b.named, src); },
               {src, "'optimizer.head.weight.exp_avg_sq' is missing"});

  Checkpoint shape = c;
  shape.tensors["optimizer.head.bias.exp_avg"] = torch::zeros({3});
  expect_error([&] { load_optimizer_state(*b.optimizer, shape, b.named, src); },
               {src, "'optimizer.head.bias.exp_avg' has shape [3]", "[16]"});

  Checkpoint stray = c;
  stray.tensors["optimizer.nope.exp_avg"] = torch::zeros({3});
  expect_error([&] { load_optimizer_state(*b.optimizer, stray, b.named, src); },
               {src, "unexpected optimizer tensor 'optimizer.nope.exp_avg'"});

  Checkpoint no_meta = c;
  no_meta.metadata.erase("optimizer.step");
  expect_error([&] { load_optimizer_state(*b.optimizer, no_meta, b.named, src); },
               {src, "'optimizer.step' is missing"});

  Checkpoint bad_lr = c;
  bad_lr.metadata["optimizer.group.1.lr"] = "fast";
  expect_error([&] { load_optimizer_state(*b.optimizer, bad_lr, b.named, src); },
               {src, "'optimizer.group.1.lr' = \"fast\""});

  torch::optim::AdamW one_group(b.model->parameters());
  expect_error([&] { load_optimizer_state(one_group, c, b.named, src); }, {src, "2 optimizer param groups", "has 1"});

  // Nothing was applied by the failed loads.
  EXPECT_TRUE(b.optimizer->state().empty());
  EXPECT_EQ(b.optimizer->param_groups()[0].options().get_lr(), 1e-3);

  auto foreign = a.named;
  foreign.emplace_back("stranger", torch::zeros({2}));
  expect_error([&] { add_optimizer_state(c, *a.optimizer, foreign); }, {"'stranger'", "not in the optimizer"});
}

// The bytes of a real checkpoint with several tensors, and its header length.
std::pair<std::string, uint64_t> real_file_bytes(const TempDir& dir) {
  const auto path = dir.file("real.safetensors");
  save_checkpoint(path, all_dtypes_checkpoint());
  const std::string bytes = read_bytes(path);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  return {bytes, n};
}

TEST(Checkpoint, MissingFileIsAnError) {
  expect_error([] { load_checkpoint("/tmp/mmx_no_such_dir/none.safetensors"); },
               {"/tmp/mmx_no_such_dir/none.safetensors: no such checkpoint file"});
  TempDir dir;
  expect_error([&] { load_checkpoint(dir.path); }, {dir.path + ": not a regular file"});
}

TEST(Checkpoint, TruncatedFilesAreErrors) {
  TempDir dir;
  const auto [bytes, n] = real_file_bytes(dir);
  ASSERT_GT(bytes.size(), 8 + n + 16);
  const auto path = dir.file("cut.safetensors");
  for (size_t cut : {size_t{0}, size_t{1}, size_t{7}}) {
    write_bytes(path, bytes.substr(0, cut));
    expect_error([&] { load_checkpoint(path); },
                 {path + ": file is " + std::to_string(cut) + " bytes, shorter than the 8-byte"});
  }
  for (size_t cut : {size_t{8}, size_t{8 + n / 2}, size_t{8 + n - 1}}) {
    write_bytes(path, bytes.substr(0, cut));
    expect_error([&] { load_checkpoint(path); },
                 {path + ": header length " + std::to_string(n) + " is beyond the file"});
  }
  for (size_t cut : {size_t{8 + n}, size_t{8 + n + 5}, bytes.size() - 1}) {
    write_bytes(path, bytes.substr(0, cut));
    expect_error([&] { load_checkpoint(path); }, {path + ": data truncated"});
  }
  write_bytes(path, bytes + "xyz");
  expect_error([&] { load_checkpoint(path); }, {path, "trailing bytes"});
  write_bytes(path, bytes);
  EXPECT_EQ(load_checkpoint(path).tensors.size(), all_dtypes_checkpoint().tensors.size());
}

TEST(Checkpoint, HeaderLengthFarBeyondTheFile) {
  TempDir dir;
  const auto path = dir.file("huge.safetensors");
  write_bytes(path, std::string(8, '\xff') + "{}");
  expect_error([&] { load_checkpoint(path); },
               {path + ": header length 18446744073709551615 is beyond the file (10 bytes)"});
}

TEST(Checkpoint, CorruptHeadersAreErrors) {
  TempDir dir;
  const auto path = dir.file("corrupt.safetensors");
  const std::string f32x2(8, '\0');
  struct Case {
    std::string header, data, fragment;
  };
  const std::vector<Case> cases{
      {"not json", "", "invalid JSON header"},
      // Found by fuzz_checkpoint: a number beyond double range threw nlohmann's out_of_range.
      {R"({"__metadata__":{"a":"b"},"x":1e322})", "", "invalid JSON header: [json.exception.out_of_range.406]"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", f32x2, "invalid JSON header"},
      {"[1, 2]", "", "the JSON header is not an object"},
      {R"({"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", "12",
       "tensor 'a' has unknown dtype \"F8_E4M3\""},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "1234",
       "data_offsets [0, 4] span 4 bytes but shape [2] x 4 bytes (F32) needs 8"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", f32x2, "data_offsets [8, 0] out of range"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       std::string(12, '\0'), "tensor 'b' data_offsets [4, 12] overlap tensor 'a' [0, 8]"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
       std::string(20, '\0'), "tensor 'b' data_offsets start at 12 but the previous tensor ends at 8"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[100,108]}})", f32x2, "tensor 'a' data_offsets start at 100"},
      {R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", f32x2,
       "data truncated: tensor 'a' occupies bytes [0, 16)"},
      {R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", f32x2, "is not a list of non-negative integers"},
      {R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", f32x2, "tensor 'a' has no \"shape\""},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", f32x2, "\"data_offsets\" is not a pair"},
      {R"({"a":[1]})", "", "header entry for tensor 'a' is not a JSON object"},
      {R"({"__metadata__":{"step":3}})", "", "\"__metadata__\" value of 'step' is not a string"},
      {R"({"__metadata__":"x"})", "", "\"__metadata__\" is not a JSON object"},
  };
  for (const auto& c : cases) {
    write_bytes(path, raw_file(c.header, c.data));
    SCOPED_TRACE(c.header);
    expect_error([&] { load_checkpoint(path); }, {path + ": ", c.fragment});
  }
  // A corrupted byte inside a real header.
  const auto [bytes, n] = real_file_bytes(dir);
  std::string broken = bytes;
  broken[8] = 'X';  // the opening brace
  write_bytes(path, broken);
  expect_error([&] { load_checkpoint(path); }, {path + ": invalid JSON header"});
  broken = bytes;
  const size_t dtype_at = broken.find("\"F64\"");
  ASSERT_NE(dtype_at, std::string::npos);
  broken.replace(dtype_at, 5, "\"Q64\"");
  write_bytes(path, broken);
  expect_error([&] { load_checkpoint(path); }, {path + ": tensor 'f64' has unknown dtype \"Q64\""});
}

// parse_checkpoint (the bytes in memory; the fuzz target's entry) reads what load_checkpoint reads
// and fails with the same message on every malformed file.
TEST(Checkpoint, ParseFromMemoryMatchesTheFileReader) {
  TempDir dir;
  const auto [bytes, n] = real_file_bytes(dir);
  const Checkpoint from_memory = parse_checkpoint(bytes, "mem.safetensors");
  const Checkpoint expected = all_dtypes_checkpoint();
  EXPECT_EQ(from_memory.metadata, expected.metadata);
  ASSERT_EQ(from_memory.tensors.size(), expected.tensors.size());
  for (const auto& [name, t] : expected.tensors) {
    ASSERT_TRUE(from_memory.tensors.count(name)) << name;
    EXPECT_TRUE(same_bits(from_memory.tensors.at(name), t)) << name;
  }
  auto message = [](const std::function<void()>& fn) -> std::string {
    try {
      fn();
    } catch (const CheckpointError& e) {
      return e.what();
    }
    return "no error";
  };
  const auto path = dir.file("bad.safetensors");
  const std::vector<std::string> bad{
      bytes.substr(0, 5),
      bytes.substr(0, 8 + n / 2),
      bytes.substr(0, bytes.size() - 1),
      bytes + "xyz",
      std::string(8, '\xff') + "{}",
      raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "1234"),
      raw_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", std::string(8, '\0')),
      raw_file(R"({"__metadata__":{"step":3}})", "")};
  for (const auto& b : bad) {
    write_bytes(path, b);
    const std::string from_file = message([&] { load_checkpoint(path); });
    EXPECT_EQ(from_file.rfind(path + ": ", 0), 0u) << from_file;
    EXPECT_EQ(message([&] { parse_checkpoint(b, path); }), from_file);
  }
}

TEST(Checkpoint, FailedSaveIntoMissingDirectoryLeavesNothing) {
  TempDir dir;
  const auto path = dir.file("missing/sub/ckpt.safetensors");
  Checkpoint c;
  c.tensors["w"] = torch::ones({3});
  expect_error([&] { save_checkpoint(path, c); }, {"cannot save checkpoint", path});
  EXPECT_EQ(dir.entries(), 0u);
}

TEST(Checkpoint, FailedSaveLeavesTheExistingCheckpointIntact) {
  TempDir dir;
  const auto path = dir.file("ckpt.safetensors");
  Checkpoint old;
  old.tensors["w"] = torch::arange(4, torch::kFloat32);
  save_checkpoint(path, old);
  const std::string before = read_bytes(path);

  // Failure while encoding.
  Checkpoint bad;
  bad.tensors["c"] = torch::zeros({2}, torch::kComplexDouble);
  expect_error([&] { save_checkpoint(path, bad); }, {path});
  EXPECT_EQ(read_bytes(path), before);

  // Failure while writing: a file-size limit makes the write fail with EFBIG (as a full disk
  // would); this holds for root too, unlike directory permissions.
  Checkpoint big;
  big.tensors["w"] = torch::randn({4096});
  struct rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto* old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit limited = saved;
  limited.rlim_cur = 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  bool threw = false;
  try {
    save_checkpoint(path, big);
  } catch (const CheckpointError& e) {
    threw = std::string(e.what()).find(path) != std::string::npos;
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_TRUE(threw);
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(dir.entries(), 1u);
  EXPECT_TRUE(same_bits(load_checkpoint(path).tensors.at("w"), old.tensors.at("w")));
}

TEST(Checkpoint, FailedSaveIntoUnwritableDirectoryLeavesTheExistingCheckpointIntact) {
  if (::geteuid() == 0) GTEST_SKIP() << "running as root: directory permissions do not stop root";
  TempDir dir;
  const auto path = dir.file("ckpt.safetensors");
  Checkpoint old;
  old.tensors["w"] = torch::arange(4, torch::kFloat32);
  save_checkpoint(path, old);
  const std::string before = read_bytes(path);
  ASSERT_EQ(::chmod(dir.path.c_str(), 0555), 0);
  Checkpoint next;
  next.tensors["w"] = torch::zeros({4});
  expect_error([&] { save_checkpoint(path, next); }, {"cannot save checkpoint", path});
  ::chmod(dir.path.c_str(), 0755);
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(dir.entries(), 1u);
}

// The interpreter with the `safetensors` package: mmx::test::test_python() (tests/CMakeLists.txt).
std::string python_with_safetensors(std::string* why) {
  const std::string py = mmx::test::test_python();
  if (py.empty() || ::access(py.c_str(), X_OK) != 0) {
    *why = "no Python interpreter at '" + py + "'";
    return "";
  }
  const std::string probe = "'" + py + "' -c 'import safetensors.torch' >/dev/null 2>&1";
  if (std::system(probe.c_str()) != 0) {
    *why = "'" + py + "' cannot import safetensors.torch";
    return "";
  }
  return py;
}

TEST(Checkpoint, PythonSafetensorsReadsOurFilesAndWeReadItsFiles) {
  std::string why;
  const std::string py = python_with_safetensors(&why);
  if (py.empty()) GTEST_SKIP() << why;
  TempDir dir;
  const auto ours = dir.file("ours.safetensors"), theirs = dir.file("theirs.safetensors"),
             report = dir.file("report.txt"), script = dir.file("check.py");
  Checkpoint c = all_dtypes_checkpoint();
  torch::manual_seed(1);
  models::TSM2 model(small_tsm2());
  for (const auto& [k, v] : module_state(*model)) c.tensors["tsm2." + k] = v;
  save_checkpoint(ours, c);
  write_bytes(script, R"PY(
import sys
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
src, dst, report = sys.argv[1:4]
tensors = load_file(src)
with safe_open(src, framework="pt") as f:
    meta = f.metadata()
assert tensors["bf16"].dtype == torch.bfloat16 and tuple(tensors["bf16"].shape) == (3, 5)
assert tensors["f32_scalar"].dim() == 0 and tensors["f32_scalar"].item() == 3.25
assert tensors["bool"].tolist() == [True, False, True]
assert tensors["i64"][0].item() == -2**63
assert tensors["transposed"][1, 2].item() == 9.0
save_file(tensors, dst, metadata=meta)
with open(report, "w") as out:
    out.write(meta["model"] + "\n")
    for k in sorted(tensors):
        out.write(k + " " + str(tensors[k].dtype) + " " + str(list(tensors[k].shape)) + "\n")
)PY");
  const std::string cmd = "'" + py + "' '" + script + "' '" + ours + "' '" + theirs + "' '" + report + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  std::istringstream lines(read_bytes(report));
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line, "tsm2");
  size_t n = 0;
  while (std::getline(lines, line)) {
    const std::string key = line.substr(0, line.find(' '));
    EXPECT_TRUE(c.tensors.count(key)) << line;
    ++n;
  }
  EXPECT_EQ(n, c.tensors.size());
  EXPECT_NE(read_bytes(report).find("tsm2.head.weight torch.float32 [16, 224]"), std::string::npos);

  // And back: the file Python wrote loads here, bit-exact.
  const Checkpoint r = load_checkpoint(theirs);
  EXPECT_EQ(r.metadata, c.metadata);
  ASSERT_EQ(r.tensors.size(), c.tensors.size());
  for (const auto& [name, t] : c.tensors) EXPECT_TRUE(same_bits(r.tensors.at(name), t)) << name;
}

}  // namespace
}  // namespace mmx::train
