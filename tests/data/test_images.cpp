// Image data pipeline of ViM2: CIFAR-10 reader (synthetic gzip files and the real data set),
// PNG/JPEG decoding, resizing, ImageFolder scanning, BatchAugment and ImageLoader, bad input.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <numeric>
#include <set>

#include "data_test_util.h"
#include "mmx/core/input_file.h"
#include "mmx/data/data_root.h"
#include "mmx/data/images/augment.h"
#include "mmx/data/images/cifar10.h"
#include "mmx/data/images/image_decode.h"
#include "mmx/data/images/image_folder.h"
#include "mmx/data/images/image_loader.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace mmx::data {
namespace {

// ---------------------------------------------------------------------------------------------
// Helpers: a mkdtemp directory removed recursively with POSIX calls, file writers.
// ---------------------------------------------------------------------------------------------

void remove_tree(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (DIR* d = ::opendir(path.c_str())) {
      while (const dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name != "." && name != "..") remove_tree(path + "/" + name);
      }
      ::closedir(d);
    }
    ::rmdir(path.c_str());
  } else {
    ::unlink(path.c_str());
  }
}

struct TempTree {
  std::string path;
  TempTree() {
    char tmpl[] = "/tmp/mmx_images_test_XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    if (p == nullptr) throw std::runtime_error("mkdtemp failed");
    path = p;
  }
  ~TempTree() { remove_tree(path); }
  std::string mkdir(const std::string& rel) const {
    const std::string p = path + "/" + rel;
    ::mkdir(p.c_str(), 0755);
    return p;
  }
};

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = ::gzopen(path.c_str(), "wb1");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(::gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ::gzclose(f);
}

void write_meta(const std::string& dir) {
  std::ofstream out(dir + "/batches.meta.txt");
  for (const char* n : {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}) {
    out << n << "\n";
  }
}

// Interleaved HWC pixels -> PNG via stb_image_write.
void write_png(const std::string& path, int w, int h, int comp, const std::vector<uint8_t>& pixels) {
  ASSERT_NE(stbi_write_png(path.c_str(), w, h, comp, pixels.data(), w * comp), 0);
}

void write_jpg(const std::string& path, int w, int h, int comp, const std::vector<uint8_t>& pixels) {
  ASSERT_NE(stbi_write_jpg(path.c_str(), w, h, comp, pixels.data(), 100), 0);
}

// A 16-bit RGB PNG assembled by hand (zlib for IDAT and the CRCs): one row, filter 0.
void write_png16(const std::string& path, int w, const std::vector<uint16_t>& rgb) {
  auto be32 = [](std::string& s, uint32_t v) {
    for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  auto chunk = [&](std::string& out, const char* type, const std::string& data) {
    be32(out, static_cast<uint32_t>(data.size()));
    const std::string td = std::string(type) + data;
    out += td;
    be32(out, static_cast<uint32_t>(::crc32(0, reinterpret_cast<const Bytef*>(td.data()), td.size())));
  };
  std::string ihdr;
  be32(ihdr, static_cast<uint32_t>(w));
  be32(ihdr, 1);
  ihdr += std::string("\x10\x02\x00\x00\x00", 5);  // depth 16, colour type 2 (RGB)
  std::string raw(1, '\0');
  for (uint16_t v : rgb) {
    raw.push_back(static_cast<char>(v >> 8));
    raw.push_back(static_cast<char>(v & 0xff));
  }
  uLongf zlen = ::compressBound(raw.size());
  std::string z(zlen, '\0');
  ASSERT_EQ(
      ::compress(reinterpret_cast<Bytef*>(z.data()), &zlen, reinterpret_cast<const Bytef*>(raw.data()), raw.size()),
      Z_OK);
  z.resize(zlen);
  std::string png("\x89PNG\r\n\x1a\n", 8);
  chunk(png, "IHDR", ihdr);
  chunk(png, "IDAT", z);
  chunk(png, "IEND", "");
  write_bytes(path, png);
}

// Expects fn to throw a DataError whose message contains every fragment.
void expect_error(const std::function<void()>& fn, std::initializer_list<std::string> fragments) {
  try {
    fn();
    ADD_FAILURE() << "expected a DataError";
  } catch (const DataError& e) {
    const std::string msg = e.what();
    for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "'" << f << "' not in: " << msg;
  }
}

torch::Tensor normalize(const torch::Tensor& u8, const AugmentOptions& o) {
  const torch::Tensor mean = torch::tensor(o.mean, torch::kDouble).to(torch::kFloat32).view({1, 3, 1, 1});
  const torch::Tensor stdv = torch::tensor(o.std, torch::kDouble).to(torch::kFloat32).view({1, 3, 1, 1});
  return u8.to(torch::kFloat32).div(255.0).sub(mean).div(stdv);
}

// Options with every random augmentation off.
AugmentOptions plain_options(int64_t size) {
  AugmentOptions o;
  o.image_size = size;
  o.random_resized_crop = false;
  o.hflip = 0;
  o.randaugment_n = 0;
  o.color_jitter = 0;
  o.random_erasing = 0;
  o.mixup_alpha = 0;
  o.cutmix_alpha = 0;
  o.label_smoothing = 0;
  o.eval_resize_ratio = 1.0;
  return o;
}

torch::Tensor random_u8(std::vector<int64_t> shape, int64_t seed) {
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed));
  return torch::randint(0, 256, shape, g, torch::TensorOptions().dtype(torch::kInt64)).to(torch::kUInt8);
}

// ---------------------------------------------------------------------------------------------
// CIFAR-10
// ---------------------------------------------------------------------------------------------

std::vector<uint8_t> synthetic_cifar(int64_t records) {
  std::vector<uint8_t> bytes(static_cast<size_t>(records * 3073), 0);
  for (int64_t r = 0; r < records; ++r) {
    uint8_t* rec = bytes.data() + r * 3073;
    rec[0] = static_cast<uint8_t>(r % 10);
    rec[1 + 1024] = static_cast<uint8_t>(r % 251);  // green (0, 0) = record index mod 251
  }
  for (int i = 0; i < 1024; ++i) {
    bytes[1 + i] = static_cast<uint8_t>(i % 256);  // record 0: red = (32y + x) mod 256
    bytes[1 + 2048 + i] = 200;                     // record 0: blue = 200
  }
  return bytes;
}

TEST(Cifar10, ParsesSyntheticGzipRecordsExactly) {
  TempTree t;
  write_meta(t.path);
  write_gz(t.path + "/test_batch.bin.gz", synthetic_cifar(10000));
  const ImageDataset ds = load_cifar10(t.path, false);
  ASSERT_EQ(ds.images.sizes(), (std::vector<int64_t>{10000, 3, 32, 32}));
  EXPECT_EQ(ds.images.scalar_type(), torch::kUInt8);
  EXPECT_EQ(ds.labels.scalar_type(), torch::kInt64);
  ASSERT_EQ(ds.classes.size(), 10u);
  EXPECT_EQ(ds.classes[0], "airplane");
  EXPECT_EQ(ds.classes[9], "truck");
  const torch::Tensor expect_red = torch::arange(1024, torch::kInt64).remainder(256).view({32, 32}).to(torch::kUInt8);
  EXPECT_TRUE(torch::equal(ds.images[0][0], expect_red));
  EXPECT_TRUE(torch::equal(ds.images[0][2], torch::full({32, 32}, 200, torch::kUInt8)));
  EXPECT_EQ(ds.images[0][1].sum().item<int64_t>(), 0);
  EXPECT_EQ(ds.images[0][0][1][3].item<int>(), 35);
  for (int64_t r : {1, 7, 9999}) {
    EXPECT_EQ(ds.labels[r].item<int64_t>(), r % 10);
    EXPECT_EQ(ds.images[r][1][0][0].item<int>(), r % 251);
    EXPECT_EQ(ds.images[r].sum().item<int64_t>(), r % 251);
  }
}

TEST(Cifar10, ReadsTheOfficialUncompressedBinAndNamesAMissingFolder) {
  TempTree t;
  write_meta(t.path);
  const std::vector<uint8_t> raw = synthetic_cifar(10000);
  write_bytes(t.path + "/test_batch.bin", std::string(raw.begin(), raw.end()));
  const ImageDataset ds = load_cifar10(t.path, false);
  ASSERT_EQ(ds.images.size(0), 10000);
  EXPECT_EQ(ds.images[7][1][0][0].item<int>(), 7);
  EXPECT_EQ(ds.labels[9999].item<int64_t>(), 9);
  expect_error([&] { load_cifar10(t.path + "/absent", false); },
               {t.path + "/absent", "CIFAR-10 folder not found", "MMX_DATA_ROOT"});
}

TEST(Cifar10, WrongSizeNamesFileAndByteCount) {
  TempTree t;
  write_meta(t.path);
  const std::string f = t.path + "/test_batch.bin.gz";
  std::vector<uint8_t> b = synthetic_cifar(10);
  b.resize(b.size() + 5);
  write_gz(f, b);
  expect_error([&] { load_cifar10(t.path, false); }, {f, "30735 bytes", "multiple of the 3073"});
  write_gz(f, synthetic_cifar(10));
  expect_error([&] { load_cifar10(t.path, false); }, {f, "30730 bytes", "10 records", "expected 10000"});
}

TEST(Cifar10, BadLabelMissingFileTruncatedGzipAndMeta) {
  TempTree t;
  write_meta(t.path);
  const std::string f = t.path + "/test_batch.bin.gz";
  expect_error([&] { load_cifar10(t.path, false); }, {f, "not found"});
  expect_error([&] { load_cifar10(t.path, true); }, {t.path + "/data_batch_1.bin.gz", "not found"});
  std::vector<uint8_t> b = synthetic_cifar(10000);
  b[17 * 3073] = 10;
  write_gz(f, b);
  try {
    load_cifar10(t.path, false);
    ADD_FAILURE() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_EQ(e.file, f);
    EXPECT_NE(std::string(e.what()).find("record 17 has label 10"), std::string::npos) << e.what();
  }
  write_gz(f, synthetic_cifar(10000));
  const std::string full = read_bytes(f);
  write_bytes(f, full.substr(0, full.size() / 2));
  expect_error([&] { load_cifar10(t.path, false); }, {f});
  write_bytes(t.path + "/batches.meta.txt", "a\nb\n");
  expect_error([&] { load_cifar10(t.path, false); }, {"batches.meta.txt", "expected 10 class names", "found 2"});
}

TEST(Cifar10, RealDataCountsAndTestMean) {
  MMX_REQUIRE_DATA_FILE("cifar10/test_batch.bin.gz");
  const std::string dir = mmx::default_data_root() + "/cifar10";
  const ImageDataset test = load_cifar10(dir, false);
  ASSERT_EQ(test.images.sizes(), (std::vector<int64_t>{10000, 3, 32, 32}));
  const torch::Tensor test_counts = torch::bincount(test.labels, {}, 10);
  EXPECT_TRUE(torch::equal(test_counts, torch::full({10}, 1000, torch::kInt64))) << test_counts;
  const torch::Tensor mean = test.images.to(torch::kDouble).div(255.0).mean({0, 2, 3});
  EXPECT_NEAR(mean[0].item<double>(), 0.4942, 1e-3);
  EXPECT_NEAR(mean[1].item<double>(), 0.4851, 1e-3);
  EXPECT_NEAR(mean[2].item<double>(), 0.4504, 1e-3);
  EXPECT_EQ(test.classes[3], "cat");

  MMX_REQUIRE_DATA_FILE("cifar10/data_batch_5.bin.gz");
  const ImageDataset train = load_cifar10(dir, true);
  ASSERT_EQ(train.images.sizes(), (std::vector<int64_t>{50000, 3, 32, 32}));
  const torch::Tensor train_counts = torch::bincount(train.labels, {}, 10);
  EXPECT_TRUE(torch::equal(train_counts, torch::full({10}, 5000, torch::kInt64))) << train_counts;
  const torch::Tensor train_mean = train.images.to(torch::kDouble).div(255.0).mean({0, 2, 3});
  EXPECT_NEAR(train_mean[0].item<double>(), 0.4914, 1e-3);
  EXPECT_NEAR(train_mean[2].item<double>(), 0.4465, 1e-3);
}

// ---------------------------------------------------------------------------------------------
// Decoding and resizing
// ---------------------------------------------------------------------------------------------

TEST(DecodeImage, PngRgbExactValues) {
  TempTree t;
  std::vector<uint8_t> px(4 * 3 * 3);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 7 + 1);
  write_png(t.path + "/a.png", 4, 3, 3, px);
  const torch::Tensor img = decode_image(t.path + "/a.png");
  ASSERT_EQ(img.sizes(), (std::vector<int64_t>{3, 3, 4}));
  EXPECT_EQ(img.scalar_type(), torch::kUInt8);
  for (int y = 0; y < 3; ++y) {
    for (int x = 0; x < 4; ++x) {
      for (int c = 0; c < 3; ++c) EXPECT_EQ(img[c][y][x].item<int>(), px[(y * 4 + x) * 3 + c]);
    }
  }
}

TEST(DecodeImage, GrayscaleExpandedRgbaAlphaDropped16BitReduced) {
  TempTree t;
  const std::vector<uint8_t> gray = {0, 50, 100, 150, 200, 250};
  write_png(t.path + "/g.png", 3, 2, 1, gray);
  const torch::Tensor g = decode_image(t.path + "/g.png");
  ASSERT_EQ(g.sizes(), (std::vector<int64_t>{3, 2, 3}));
  const torch::Tensor expect =
      torch::tensor(std::vector<int64_t>{0, 50, 100, 150, 200, 250}).view({2, 3}).to(torch::kUInt8);
  for (int c = 0; c < 3; ++c) EXPECT_TRUE(torch::equal(g[c], expect));

  const std::vector<uint8_t> rgba = {10, 20, 30, 0, 40, 50, 60, 128, 70, 80, 90, 255};
  write_png(t.path + "/a.png", 3, 1, 4, rgba);
  const torch::Tensor a = decode_image(t.path + "/a.png");
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{3, 1, 3}));
  EXPECT_TRUE(torch::equal(a.flatten(),
                           torch::tensor(std::vector<int64_t>{10, 40, 70, 20, 50, 80, 30, 60, 90}).to(torch::kUInt8)));

  write_png16(t.path + "/d.png", 2, {0xffff, 0x8000, 0x0101, 0x00ff, 0x1234, 0xabcd});
  const torch::Tensor d = decode_image(t.path + "/d.png");
  ASSERT_EQ(d.sizes(), (std::vector<int64_t>{3, 1, 2}));
  EXPECT_TRUE(torch::equal(d.flatten(),
                           torch::tensor(std::vector<int64_t>{0xff, 0x00, 0x80, 0x12, 0x01, 0xab}).to(torch::kUInt8)));
}

TEST(DecodeImage, JpegColourAndGray) {
  TempTree t;
  std::vector<uint8_t> px;
  for (int i = 0; i < 16 * 16; ++i) px.insert(px.end(), {200, 100, 50});
  write_jpg(t.path + "/c.jpg", 16, 16, 3, px);
  const torch::Tensor c = decode_image(t.path + "/c.jpg");
  ASSERT_EQ(c.sizes(), (std::vector<int64_t>{3, 16, 16}));
  const torch::Tensor ref = torch::tensor(std::vector<double>{200, 100, 50}).view({3, 1, 1});
  EXPECT_LE((c.to(torch::kDouble) - ref).abs().max().item<double>(), 3.0);

  std::vector<uint8_t> gray(8 * 8, 77);
  write_jpg(t.path + "/g.JPEG", 8, 8, 1, gray);
  const torch::Tensor g = decode_image(t.path + "/g.JPEG");
  EXPECT_TRUE(torch::equal(g[0], g[1]));
  EXPECT_TRUE(torch::equal(g[0], g[2]));
  EXPECT_LE((g.to(torch::kDouble) - 77).abs().max().item<double>(), 2.0);
}

TEST(DecodeImage, BadInputNamesFileAndReason) {
  TempTree t;
  std::vector<uint8_t> px(32 * 32 * 3);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>((i * 37) % 251);
  write_png(t.path + "/full.png", 32, 32, 3, px);
  const std::string full = read_bytes(t.path + "/full.png");
  const std::string trunc = t.path + "/trunc.png";
  write_bytes(trunc, full.substr(0, full.size() / 2));
  expect_error([&] { decode_image(trunc); }, {trunc, "cannot decode image", "truncated or corrupt"});

  std::string corrupt = full;
  for (size_t i = 41; i < corrupt.size() - 12; ++i) corrupt[i] = static_cast<char>(0xA5);
  write_bytes(t.path + "/corrupt.png", corrupt);
  expect_error([&] { decode_image(t.path + "/corrupt.png"); }, {t.path + "/corrupt.png", "cannot decode image"});

  const std::string text = t.path + "/notes.jpg";
  write_bytes(text, "this is not an image, only text\n");
  expect_error([&] { decode_image(text); }, {text, "expected a PNG or JPEG"});

  write_bytes(t.path + "/empty.png", "");
  expect_error([&] { decode_image(t.path + "/empty.png"); }, {t.path + "/empty.png", "empty"});
  expect_error([&] { decode_image(t.path + "/missing.png"); }, {t.path + "/missing.png", "no such image file"});

  std::vector<uint8_t> jpx(16 * 16 * 3, 90);
  write_jpg(t.path + "/full.jpg", 16, 16, 3, jpx);
  const std::string jfull = read_bytes(t.path + "/full.jpg");
  write_bytes(t.path + "/head.jpg", jfull.substr(0, 20));
  expect_error([&] { decode_image(t.path + "/head.jpg"); }, {t.path + "/head.jpg", "cannot decode image"});
}

TEST(ResizeImage, AntialiasedBilinearValues) {
  const torch::Tensor img = torch::tensor(std::vector<int64_t>{0, 100, 200, 40})
                                .view({1, 2, 2})
                                .expand({3, 2, 2})
                                .to(torch::kUInt8)
                                .contiguous();
  const torch::Tensor one = resize_image(img, 1, 1);
  ASSERT_EQ(one.sizes(), (std::vector<int64_t>{3, 1, 1}));
  EXPECT_EQ(one.scalar_type(), torch::kUInt8);
  EXPECT_EQ(one[0][0][0].item<int>(), 85);  // antialiased 2x downscale = mean of the 2x2
  EXPECT_TRUE(resize_image(img, 2, 2).is_same(img));
  const torch::Tensor up = resize_image(torch::full({3, 1, 1}, 9, torch::kUInt8), 5, 7);
  EXPECT_TRUE(torch::equal(up, torch::full({3, 5, 7}, 9, torch::kUInt8)));
  const torch::Tensor batch = resize_image(random_u8({2, 3, 10, 10}, 1), 4, 6);
  EXPECT_EQ(batch.sizes(), (std::vector<int64_t>{2, 3, 4, 6}));
  expect_error([&] { resize_image(torch::zeros({1, 4, 4}, torch::kUInt8), 2, 2); }, {"expected a uint8 tensor"});
  expect_error([&] { resize_image(img, 0, 2); }, {"output size"});
}

TEST(ResizeImage, TinyImageIsUpscaledBeforeTheCentreCrop) {
  const torch::Tensor tiny = random_u8({3, 2, 3}, 2);
  const torch::Tensor out = resize_shorter_center_crop(tiny, 8);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{3, 8, 8}));
  // Shorter side 2 -> 8, longer 3 -> 12, centre crop columns 2..9.
  EXPECT_TRUE(torch::equal(out, resize_image(tiny, 8, 12).narrow(2, 2, 8)));
}

// ---------------------------------------------------------------------------------------------
// ImageFolder
// ---------------------------------------------------------------------------------------------

TEST(ImageFolderScan, SortedClassesExtensionsAndBadTrees) {
  TempTree t;
  const std::string root = t.mkdir("root");
  t.mkdir("root/zebra");
  t.mkdir("root/ant");
  t.mkdir("root/.hidden");
  const std::vector<uint8_t> px(2 * 2 * 3, 5);
  write_png(root + "/zebra/b.PNG", 2, 2, 3, px);
  write_png(root + "/zebra/a.jpeg", 2, 2, 3, px);
  write_png(root + "/ant/x.Jpg", 2, 2, 3, px);
  write_bytes(root + "/ant/readme.txt", "x");
  write_png(root + "/top.png", 2, 2, 3, px);
  write_png(root + "/.hidden/h.png", 2, 2, 3, px);
  const ImageFolder f = scan_image_folder(root);
  EXPECT_EQ(f.classes, (std::vector<std::string>{"ant", "zebra"}));
  EXPECT_EQ(f.paths, (std::vector<std::string>{root + "/ant/x.Jpg", root + "/zebra/a.jpeg", root + "/zebra/b.PNG"}));
  EXPECT_EQ(f.labels, (std::vector<int64_t>{0, 1, 1}));

  const std::string empty = t.mkdir("root/middle");
  try {
    scan_image_folder(root);
    ADD_FAILURE() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_EQ(e.file, empty);
    EXPECT_NE(std::string(e.what()).find("holds no image file"), std::string::npos) << e.what();
  }
  const std::string none = t.mkdir("none");
  write_png(none + "/loose.png", 2, 2, 3, px);
  expect_error([&] { scan_image_folder(none); }, {none, "no class folders"});
  expect_error([&] { scan_image_folder(t.path + "/absent"); }, {t.path + "/absent", "not a directory"});
}

// ---------------------------------------------------------------------------------------------
// BatchAugment
// ---------------------------------------------------------------------------------------------

TEST(BatchAugment, EvalResizesCentreCropsAndNormalizesExactly) {
  AugmentOptions o = plain_options(4);
  o.eval_resize_ratio = 0.5;  // shorter side -> 8: identity for these inputs
  BatchAugment aug(o, 0);
  const torch::Tensor sq = random_u8({2, 3, 8, 8}, 3);
  const torch::Tensor out = aug.eval(sq);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 3, 4, 4}));
  EXPECT_EQ(out.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::allclose(out, normalize(sq.narrow(2, 2, 4).narrow(3, 2, 4), o), 0, 1e-6));
  EXPECT_NEAR(out[0][1][0][0].item<double>(), (sq[0][1][2][2].item<int>() / 255.0 - 0.456) / 0.224, 1e-5);
  const torch::Tensor wide = random_u8({1, 3, 8, 12}, 4);
  EXPECT_TRUE(torch::allclose(aug.eval(wide), normalize(wide.narrow(2, 2, 4).narrow(3, 4, 4), o), 0, 1e-6));
  // 16x16 -> shorter side 8 with the antialiased triangle filter of support 2 input pixels
  // (weights 1 - |d| / 2 around the output centre, renormalized at the border) -> centre 4x4.
  const torch::Tensor big = random_u8({1, 3, 16, 16}, 5);
  torch::Tensor wts = torch::zeros({8, 16}, torch::kFloat64);
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 16; ++j) wts[i][j] = std::max(0.0, 1.0 - std::fabs(j + 0.5 - 2.0 * (i + 0.5)) / 2.0);
  }
  wts = wts / wts.sum(1, true);
  const torch::Tensor expect = torch::matmul(torch::matmul(wts, big[0].to(torch::kFloat64)), wts.t());
  const torch::Tensor got = aug.eval(big)[0].to(torch::kFloat64);
  const torch::Tensor pixels = (got * torch::tensor(o.std, torch::kDouble).view({3, 1, 1}) +
                                torch::tensor(o.mean, torch::kDouble).view({3, 1, 1})) *
                               255.0;
  EXPECT_LE((pixels - expect.narrow(1, 2, 4).narrow(2, 2, 4)).abs().max().item<double>(), 0.5 + 1e-3);
  EXPECT_LT((pixels - pixels.round()).abs().max().item<double>(), 1e-3);
}

TEST(BatchAugment, IdentityFlipAndPadCrop) {
  const torch::Tensor x = random_u8({6, 3, 8, 8}, 6);
  AugmentOptions o = plain_options(8);
  BatchAugment ident(o, 1);
  EXPECT_TRUE(torch::allclose(ident.train(x), normalize(x, o), 0, 1e-6));
  o.hflip = 1.0;
  BatchAugment flip(o, 1);
  EXPECT_TRUE(torch::allclose(flip.train(x), normalize(x.flip({3}), o), 0, 1e-6));
  o.hflip = 0;
  o.pad_crop = 2;
  BatchAugment pad(o, 1);
  const torch::Tensor out = pad.train(x);
  const torch::Tensor padded = torch::constant_pad_nd(x, {2, 2, 2, 2}, 0);
  std::set<std::pair<int, int>> offsets;
  for (int64_t i = 0; i < 6; ++i) {
    bool found = false;
    for (int dy = 0; dy <= 4 && !found; ++dy) {
      for (int dx = 0; dx <= 4 && !found; ++dx) {
        const torch::Tensor want = normalize(padded[i].narrow(1, dy, 8).narrow(2, dx, 8).unsqueeze(0), o)[0];
        if (torch::allclose(out[i], want, 0, 1e-6)) {
          found = true;
          offsets.insert({dy, dx});
        }
      }
    }
    EXPECT_TRUE(found) << "sample " << i << " is not a crop of the padded image";
  }
  EXPECT_GT(offsets.size(), 1u);
}

TEST(BatchAugment, DefaultRecipeShapesDeterminismAndAllOps) {
  const torch::Tensor x = random_u8({8, 3, 40, 48}, 7);
  AugmentOptions o;
  o.image_size = 32;
  BatchAugment a(o, 42), b(o, 42), c(o, 43);
  const torch::Tensor ya = a.train(x), yb = b.train(x), yc = c.train(x);
  ASSERT_EQ(ya.sizes(), (std::vector<int64_t>{8, 3, 32, 32}));
  EXPECT_EQ(ya.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(ya, yb));
  EXPECT_FALSE(torch::equal(ya, yc));
  EXPECT_TRUE(torch::isfinite(ya).all().item<bool>());
  const torch::Tensor labels = torch::arange(8, torch::kInt64);
  auto ma = a.mix(ya, labels, 10), mb = b.mix(yb, labels, 10);
  EXPECT_TRUE(torch::equal(ma.first, mb.first));
  EXPECT_TRUE(torch::equal(ma.second, mb.second));
  // Every RandAugment op applied many times (3 layers, probability 1), plus colour jitter alone.
  o.randaugment_n = 3;
  o.randaugment_prob = 1.0;
  BatchAugment all(o, 5);
  for (int rep = 0; rep < 4; ++rep) {
    const torch::Tensor y = all.train(random_u8({32, 3, 36, 36}, 10 + rep));
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  }
  o.randaugment_n = 0;
  o.random_erasing = 0;
  BatchAugment jitter(o, 5);
  const torch::Tensor yj = jitter.train(x);
  const torch::Tensor lo = normalize(torch::zeros({1, 3, 1, 1}, torch::kUInt8), o);
  const torch::Tensor hi = normalize(torch::full({1, 3, 1, 1}, 255, torch::kUInt8), o);
  EXPECT_TRUE((yj >= lo - 1e-5).all().item<bool>() && (yj <= hi + 1e-5).all().item<bool>());
}

TEST(BatchAugment, RandAugmentKeepsPixelValuesIntegral) {
  const torch::Tensor x = random_u8({16, 3, 16, 16}, 8);
  AugmentOptions o = plain_options(16);
  o.randaugment_n = 2;
  o.randaugment_m = 9;
  o.randaugment_prob = 1.0;
  BatchAugment aug(o, 3);
  const torch::Tensor y = aug.train(x);
  const torch::Tensor mean = torch::tensor(o.mean, torch::kDouble).view({1, 3, 1, 1});
  const torch::Tensor stdv = torch::tensor(o.std, torch::kDouble).view({1, 3, 1, 1});
  const torch::Tensor pixels = (y.to(torch::kDouble) * stdv + mean) * 255.0;
  EXPECT_LT((pixels - pixels.round()).abs().max().item<double>(), 1e-3);
  EXPECT_GE(pixels.min().item<double>(), -1e-3);
  EXPECT_LE(pixels.max().item<double>(), 255 + 1e-3);
  EXPECT_FALSE(torch::allclose(y, normalize(x, o)));
}

TEST(BatchAugment, RandomErasingFillsOneBoxWithNoise) {
  const torch::Tensor x = torch::full({16, 3, 32, 32}, 128, torch::kUInt8);
  AugmentOptions o = plain_options(32);
  o.random_erasing = 1.0;
  BatchAugment aug(o, 9);
  const torch::Tensor y = aug.train(x);
  const torch::Tensor base = normalize(x, o);
  const torch::Tensor changed = (y - base).abs().gt(1e-6).any(1);  // (B, H, W)
  for (int64_t i = 0; i < 16; ++i) {
    const int64_t area = changed[i].sum().item<int64_t>();
    const torch::Tensor rows = changed[i].any(1).nonzero(), cols = changed[i].any(0).nonzero();
    ASSERT_GT(area, 0) << i;
    const int64_t bh = rows.max().item<int64_t>() - rows.min().item<int64_t>() + 1;
    const int64_t bw = cols.max().item<int64_t>() - cols.min().item<int64_t>() + 1;
    EXPECT_EQ(area, bh * bw) << "erased region of sample " << i << " is not one box";
    EXPECT_GE(area, 0.02 * 1024 - 2 * 32);
    EXPECT_LE(area, 1024 / 3 + 2 * 32);
  }
}

TEST(BatchAugment, MixTargetsAndLabelSmoothing) {
  const torch::Tensor x = torch::randn({6, 3, 8, 8});
  const torch::Tensor labels = torch::tensor(std::vector<int64_t>{0, 1, 2, 3, 4, 5});
  AugmentOptions o = plain_options(8);
  o.label_smoothing = 0.1;
  BatchAugment smooth(o, 0);
  auto [xi, t] = smooth.mix(x, labels, 10);
  EXPECT_TRUE(torch::equal(xi, x));
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{6, 10}));
  EXPECT_TRUE(torch::allclose(t.sum(1), torch::ones({6}), 0, 1e-6));
  EXPECT_NEAR(t.max().item<double>(), 1 - 0.1 + 0.01, 1e-7);
  EXPECT_NEAR(t.min().item<double>(), 0.01, 1e-7);
  EXPECT_TRUE(torch::equal(t.argmax(1), labels));

  o.label_smoothing = 0;
  o.mixup_alpha = 0.8;
  BatchAugment mixup(o, 1);
  auto [xm, tm] = mixup.mix(x, labels, 10);
  const double lam = tm[0][0].item<double>();
  EXPECT_GT(lam, 0.0);
  EXPECT_LT(lam, 1.0);
  EXPECT_NEAR(tm[0][5].item<double>(), 1 - lam, 1e-6);
  EXPECT_TRUE(torch::allclose(tm.sum(1), torch::ones({6}), 0, 1e-6));
  EXPECT_TRUE(torch::allclose(xm, x * lam + x.flip({0}) * (1 - lam), 1e-5, 1e-5));

  o.mixup_alpha = 0;
  o.cutmix_alpha = 1.0;
  o.label_smoothing = 0.1;
  for (uint64_t seed = 0; seed < 4; ++seed) {
    BatchAugment cutmix(o, seed);
    auto [xc, tc] = cutmix.mix(x, labels, 10);
    EXPECT_TRUE(torch::allclose(tc.sum(1), torch::ones({6}), 0, 1e-5));
    const torch::Tensor from_rev = (xc - x).abs().gt(0).any(1).any(0);  // (H, W) pixels pasted
    const double pasted = from_rev.to(torch::kDouble).mean().item<double>();
    const double lam_c = (tc[0][0].item<double>() - 0.01) / 0.9;  // smooth weight of label 0
    EXPECT_NEAR(pasted, 1 - lam_c, 1e-5) << "seed " << seed;
    EXPECT_TRUE(
        torch::equal(xc.masked_select(from_rev.expand_as(xc)), x.flip({0}).masked_select(from_rev.expand_as(xc))));
  }
  expect_error([&] { smooth.mix(x, labels, 5); }, {"labels must lie in [0, 5)"});
}

TEST(BatchAugment, BadInputAndOptions) {
  BatchAugment aug(plain_options(8), 0);
  expect_error([&] { aug.train(torch::zeros({2, 3, 8, 8})); }, {"expected a uint8 batch"});
  expect_error([&] { aug.eval(torch::zeros({3, 8, 8}, torch::kUInt8)); }, {"expected a uint8 batch"});
  AugmentOptions o;
  o.hflip = 1.5;
  expect_error([&] { BatchAugment b(o, 0); }, {"hflip"});
  o = AugmentOptions();
  o.interpolation = "lanczos";
  expect_error([&] { BatchAugment b(o, 0); }, {"interpolation"});
}

TEST(BatchAugment, CudaMatchesCpuForDeterministicOps) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Tensor x = random_u8({4, 3, 20, 20}, 11);
  AugmentOptions o = plain_options(16);
  o.eval_resize_ratio = 0.8;
  o.hflip = 1.0;
  BatchAugment cpu(o, 3), gpu(o, 3);
  EXPECT_TRUE(torch::allclose(cpu.eval(x), gpu.eval(x.cuda()).cpu(), 0, 1e-5));
  o = AugmentOptions();
  o.image_size = 16;
  BatchAugment full(o, 4);
  const torch::Tensor y = full.train(x.cuda());
  EXPECT_TRUE(y.is_cuda());
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{4, 3, 16, 16}));
  auto [xm, tm] = full.mix(y, torch::arange(4, torch::kInt64).cuda(), 4);
  EXPECT_TRUE(tm.is_cuda());
}

// ---------------------------------------------------------------------------------------------
// ImageLoader
// ---------------------------------------------------------------------------------------------

ImageDataset indexed_dataset(int64_t n) {
  ImageDataset ds;
  ds.images = torch::arange(n, torch::kInt64).view({n, 1, 1, 1}).expand({n, 3, 2, 2}).to(torch::kUInt8).contiguous();
  ds.labels = torch::arange(n, torch::kInt64);
  ds.classes = {"c"};
  return ds;
}

std::vector<int64_t> epoch_labels(ImageLoader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<int64_t> out;
  while (auto b = loader.next()) {
    EXPECT_TRUE(torch::equal(b->first.select(1, 0).select(1, 0).select(1, 0).to(torch::kInt64), b->second));
    for (int64_t i = 0; i < b->second.size(0); ++i) out.push_back(b->second[i].item<int64_t>());
  }
  return out;
}

TEST(ImageLoader, InMemoryEpochsCoverEveryIndexOnce) {
  LoaderOptions lo;
  lo.batch_size = 3;
  lo.drop_last = false;
  lo.seed = 7;
  ImageLoader a(indexed_dataset(10), lo), b(indexed_dataset(10), lo);
  EXPECT_EQ(a.size(), 10);
  EXPECT_EQ(a.batches_per_epoch(), 4);
  const std::vector<int64_t> e0 = epoch_labels(a, 0), e1 = epoch_labels(a, 1);
  std::vector<int64_t> s0 = e0, s1 = e1;
  std::sort(s0.begin(), s0.end());
  std::sort(s1.begin(), s1.end());
  std::vector<int64_t> all(10);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(s0, all);
  EXPECT_EQ(s1, all);
  EXPECT_NE(e0, e1);
  EXPECT_EQ(epoch_labels(b, 1), e1);
  EXPECT_EQ(epoch_labels(b, 0), e0);
  lo.drop_last = true;
  ImageLoader c(indexed_dataset(10), lo);
  EXPECT_EQ(c.batches_per_epoch(), 3);
  EXPECT_EQ(epoch_labels(c, 0).size(), 9u);
  lo.shuffle = false;
  ImageLoader d(indexed_dataset(10), lo);
  EXPECT_EQ(epoch_labels(d, 3), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  lo.batch_size = 0;
  expect_error([&] { ImageLoader e(indexed_dataset(10), lo); }, {"batch_size"});
}

// A folder of 2 classes x 7 PNGs of distinct sizes; pixel (0, 0) red = file number.
std::string make_folder(const TempTree& t) {
  const std::string root = t.mkdir("folder");
  int k = 0;
  for (const char* cls : {"cat", "dog"}) {
    t.mkdir(std::string("folder/") + cls);
    for (int i = 0; i < 7; ++i, ++k) {
      const int w = 3 + k, h = 2 + (k * 5) % 9;
      std::vector<uint8_t> px(static_cast<size_t>(w * h * 3), static_cast<uint8_t>(10 * k));
      write_png(root + "/" + cls + "/img" + std::to_string(i) + ".png", w, h, 3, px);
    }
  }
  return root;
}

std::vector<std::pair<torch::Tensor, torch::Tensor>> all_batches(ImageLoader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<std::pair<torch::Tensor, torch::Tensor>> out;
  while (auto b = loader.next()) out.push_back(*b);
  return out;
}

TEST(ImageLoader, FolderWorkersGiveIdenticalOrderedBatches) {
  TempTree t;
  const ImageFolder folder = scan_image_folder(make_folder(t));
  LoaderOptions lo;
  lo.batch_size = 4;
  lo.drop_last = false;
  lo.image_size = 7;
  lo.resize_ratio = 0.875;  // R = floor(8.0) = 8
  lo.prefetch = 2;
  lo.seed = 3;
  lo.workers = 1;
  ImageLoader one(folder, lo);
  lo.workers = 4;
  ImageLoader four(folder, lo);
  lo.workers = 0;
  ImageLoader sync(folder, lo);
  for (int64_t epoch : {0, 1}) {
    const auto b1 = all_batches(one, epoch), b4 = all_batches(four, epoch), b0 = all_batches(sync, epoch);
    ASSERT_EQ(b1.size(), 4u);
    ASSERT_EQ(b4.size(), 4u);
    ASSERT_EQ(b0.size(), 4u);
    std::vector<int64_t> colours;
    for (size_t i = 0; i < b1.size(); ++i) {
      EXPECT_TRUE(torch::equal(b1[i].first, b4[i].first));
      EXPECT_TRUE(torch::equal(b1[i].second, b4[i].second));
      EXPECT_TRUE(torch::equal(b1[i].first, b0[i].first));
      EXPECT_EQ(b1[i].first.size(2), 8);
      EXPECT_EQ(b1[i].first.size(3), 8);
      EXPECT_EQ(b1[i].first.scalar_type(), torch::kUInt8);
      for (int64_t j = 0; j < b1[i].first.size(0); ++j) {
        const int64_t colour = b1[i].first[j][0][0][0].item<int64_t>();
        colours.push_back(colour / 10);
        EXPECT_EQ(b1[i].second[j].item<int64_t>(), colour / 10 >= 7 ? 1 : 0);
        EXPECT_TRUE(torch::equal(b1[i].first[j], torch::full({3, 8, 8}, colour, torch::kUInt8)));
      }
    }
    std::sort(colours.begin(), colours.end());
    std::vector<int64_t> all(14);
    std::iota(all.begin(), all.end(), 0);
    EXPECT_EQ(colours, all);
  }
}

TEST(ImageLoader, CorruptFileRaisesDataErrorAndLoaderContinues) {
  TempTree t;
  const std::string root = make_folder(t);
  const std::string bad = root + "/dog/img3_broken.png";  // index 11 of 15: batch 5 with img3
  write_bytes(bad, "\x89PNG\r\n\x1a\n-- truncated --");
  const ImageFolder folder = scan_image_folder(root);
  for (int64_t workers : {0, 1, 3}) {
    LoaderOptions lo;
    lo.batch_size = 2;
    lo.shuffle = false;
    lo.drop_last = false;
    lo.image_size = 4;
    lo.resize_ratio = 1.0;
    lo.workers = workers;
    lo.prefetch = 2;
    ImageLoader loader(folder, lo);
    loader.start_epoch(0);
    int64_t errors = 0, images = 0;
    for (int64_t k = 0; k < loader.batches_per_epoch(); ++k) {
      try {
        auto b = loader.next();
        ASSERT_TRUE(b.has_value());
        images += b->first.size(0);
      } catch (const DataError& e) {
        ++errors;
        EXPECT_EQ(e.file, bad);
        EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
      }
    }
    EXPECT_FALSE(loader.next().has_value());
    EXPECT_EQ(errors, 1) << "workers " << workers;
    EXPECT_EQ(images, 15 - 2) << "workers " << workers;
  }
  // Destroying a loader mid-epoch with workers running does not hang.
  LoaderOptions lo;
  lo.batch_size = 1;
  lo.workers = 4;
  lo.image_size = 4;
  ImageLoader early(folder, lo);
  EXPECT_TRUE(early.next().has_value());
}

}  // namespace
// ---------------------------------------------------------------------------------------------
// Input files and decoded-size limits (issue 10): only regular files, bounded sizes, no blocking.
// ---------------------------------------------------------------------------------------------

// A PNG of only a signature, an IHDR chunk claiming w x h (RGB, 8 bit) and an IEND: a few dozen
// bytes whose header asks for any size. CRCs are computed with zlib so stb accepts the header.
std::string png_header_only(uint32_t w, uint32_t h) {
  auto be32 = [](uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                       static_cast<char>(v)};
  };
  auto chunk = [&](const std::string& type, const std::string& data) {
    const std::string td = type + data;
    const uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(td.data()), static_cast<uInt>(td.size()));
    return be32(static_cast<uint32_t>(data.size())) + td + be32(static_cast<uint32_t>(crc));
  };
  const std::string ihdr = be32(w) + be32(h) + std::string("\x08\x02\x00\x00\x00", 5);
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) +
         chunk("IDAT", std::string("\x78\x9c\x03\x00\x00\x00\x00\x01", 8)) + chunk("IEND", "");
}

// Sets an environment variable for the scope of one test.
struct ScopedEnv {
  std::string name;
  ScopedEnv(const std::string& n, const std::string& v) : name(n) { ::setenv(n.c_str(), v.c_str(), 1); }
  ~ScopedEnv() { ::unsetenv(name.c_str()); }
};

TEST(InputFile, RegularFilesAreReadWhole) {
  TempTree t;
  const std::string p = t.path + "/a.bin";
  std::string bytes(200000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
  write_bytes(p, bytes);
  EXPECT_EQ(read_input_file(p, 200000, "test file"), bytes);
  EXPECT_EQ(read_input_file(p, InputKind::kCsv), bytes);
}

TEST(InputFile, NonRegularFilesAreRefusedWithoutBlocking) {
  TempTree t;
  const std::string fifo = t.path + "/pipe.csv";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  auto message = [](const std::function<void()>& fn) -> std::string {
    try {
      fn();
    } catch (const InputFileError& e) {
      return e.what();
    }
    return "no error";
  };
  // A FIFO without a writer: refused at once (the test would hang if it were opened for reading).
  EXPECT_EQ(message([&] { read_input_file(fifo, InputKind::kCsv); }),
            fifo + ": is a FIFO (named pipe); expected a CSV file (a regular file)");
  EXPECT_EQ(message([&] { read_input_file("/dev/zero", InputKind::kImage); }),
            "/dev/zero: is a character device; expected an image file (a regular file)");
  EXPECT_EQ(message([&] { read_input_file(t.path, InputKind::kConfig); }),
            t.path + ": is a directory; expected a config file (a regular file)");
  EXPECT_EQ(message([&] { read_input_file(t.path + "/missing.csv", InputKind::kCsv); }),
            t.path + "/missing.csv: no such CSV file");
  // Through decode_image: a DataError naming the file.
  testing::expect_data_error([&] { decode_image("/dev/zero"); }, "/dev/zero", 0, "", {"character device"});
  testing::expect_data_error([&] { decode_image(fifo); }, fifo, 0, "", {"FIFO"});
}

TEST(InputFile, FilesAboveTheLimitAreRefusedNamingSizeLimitAndVariable) {
  TempTree t;
  const std::string p = t.path + "/big.csv";
  write_bytes(p, std::string(5000, 'x'));
  try {
    read_input_file(p, 4096, "CSV file", "MMX_MAX_CSV_BYTES");
    ADD_FAILURE() << "no error";
  } catch (const InputFileError& e) {
    EXPECT_EQ(std::string(e.what()),
              p + ": is 5000 bytes (4.9 KiB), larger than the limit of 4096 bytes (4.0 KiB) for a "
                  "CSV file; set MMX_MAX_CSV_BYTES=<bytes> to raise it");
    EXPECT_EQ(e.path, p);
  }
  // The defaults and their variables.
  EXPECT_EQ(input_limit(InputKind::kCsv).max_bytes, uint64_t{2} << 30);
  EXPECT_EQ(input_limit(InputKind::kImage).max_bytes, uint64_t{256} << 20);
  EXPECT_EQ(input_limit(InputKind::kConfig).max_bytes, uint64_t{16} << 20);
  {
    ScopedEnv env("MMX_MAX_CSV_BYTES", "4999");
    EXPECT_EQ(input_limit(InputKind::kCsv).max_bytes, 4999u);
    EXPECT_THROW(read_input_file(p, InputKind::kCsv), InputFileError);
  }
  {
    ScopedEnv env("MMX_MAX_CSV_BYTES", "5000");
    EXPECT_EQ(read_input_file(p, InputKind::kCsv).size(), 5000u);
  }
  {
    ScopedEnv env("MMX_MAX_CSV_BYTES", "lots");
    try {
      input_limit(InputKind::kCsv);
      ADD_FAILURE() << "no error";
    } catch (const InputFileError& e) {
      EXPECT_EQ(std::string(e.what()),
                "MMX_MAX_CSV_BYTES: = \"lots\" is not a byte count; expected a positive integer");
    }
  }
  // An image above the limit is a DataError naming the file, before any decoding.
  {
    ScopedEnv env("MMX_MAX_IMAGE_BYTES", "1000");
    testing::expect_data_error([&] { decode_image(p); }, p, 0, "",
                               {"is 5000 bytes", "limit of 1000 bytes", "MMX_MAX_IMAGE_BYTES"});
  }
}

TEST(ImageLimits, HugeAndThinHeadersAreRefusedBeforeDecoding) {
  TempTree t;
  const std::string huge = t.path + "/huge.png", thin = t.path + "/thin.png", wide = t.path + "/wide.png";
  write_bytes(huge, png_header_only(100000, 100000));
  write_bytes(thin, png_header_only(1, 100000));
  write_bytes(wide, png_header_only(65, 1));
  EXPECT_LT(read_bytes(huge).size(), 100u);
  EXPECT_EQ(image_limits().max_pixels, int64_t{1} << 26);
  EXPECT_EQ(image_limits().max_aspect, 64.0);
  testing::expect_data_error(
      [&] { decode_image(huge); }, huge, 0, "",
      {"image is 100000x100000 = 10000000000 pixels, more than the limit of 67108864 pixels", "MMX_MAX_IMAGE_PIXELS"});
  testing::expect_data_error(
      [&] { decode_image(thin); }, thin, 0, "",
      {"image is 1x100000, an aspect ratio of 1:100000 beyond the limit of 1:64", "MMX_MAX_IMAGE_ASPECT"});
  testing::expect_data_error([&] { decode_image(wide); }, wide, 0, "", {"image is 65x1, an aspect ratio of 1:65"});
  // A baseline JPEG start-of-frame claiming 60000 x 50000 (after an APP0 segment).
  const std::string jpeg = t.path + "/huge.jpg";
  write_bytes(jpeg, std::string("\xFF\xD8\xFF\xE0\x00\x04\x00\x00\xFF\xC0\x00\x11\x08\xC3\x50\xEA\x60\x03"
                                "\x01\x22\x00\x02\x11\x01\x03\x11\x01\xFF\xD9",
                                29));
  testing::expect_data_error([&] { decode_image(jpeg); }, jpeg, 0, "",
                             {"image is 60000x50000 = 3000000000 pixels, more than the limit of 67108864 pixels"});
  // Raising the limits lets the header through to the decoder, which then finds no pixel data.
  {
    ScopedEnv env("MMX_MAX_IMAGE_ASPECT", "100");
    testing::expect_data_error([&] { decode_image(wide); }, wide, 0, "", {"cannot decode image"});
  }
  {
    ScopedEnv env("MMX_MAX_IMAGE_PIXELS", "-3");
    testing::expect_data_error([&] { image_limits(); }, "", 0, "",
                               {"MMX_MAX_IMAGE_PIXELS = \"-3\": expected a positive number"});
  }
}

TEST(ImageLimits, ResizeTargetsAreBounded) {
  ScopedEnv env("MMX_MAX_IMAGE_PIXELS", "10000");
  const auto thin = torch::zeros({3, 2, 200}, torch::kUInt8);
  // Shorter side 2 -> 64 makes the longer side 6400: 409,600 pixels > 10,000, refused before resizing.
  testing::expect_data_error(
      [&] { resize_shorter_center_crop(thin, 64); }, "", 0, "",
      {"resizing a 200x2 image to shorter side 64 gives 6400 x 64 pixels, more than the limit of 10000"});
  testing::expect_data_error([&] { resize_image(thin, 200, 200); }, "", 0, "",
                             {"the output size 200x200 exceeds the limit of 10000 pixels"});
  // Within the limit the result is exact as before.
  EXPECT_EQ(resize_shorter_center_crop(thin, 4).sizes(), (std::vector<int64_t>{3, 4, 4}));
}

}  // namespace mmx::data
