// The image data pipeline of ViM2: CIFAR-10 binary batches, ImageFolder trees of JPEG/PNG files,
// decoding and resizing, batched device-side augmentation (the timm / Swin ImageNet recipe) and a
// threaded, prefetching, deterministic batch loader.
#pragma once

#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "mmx/data/error.h"

namespace mmx::data {

// ---------------------------------------------------------------------------------------------
// Data sets
// ---------------------------------------------------------------------------------------------

/// An in-memory image classification set.
struct ImageDataset {
  torch::Tensor images;              ///< uint8 (N, 3, H, W), RGB, values 0..255, CPU
  torch::Tensor labels;              ///< int64 (N), class indices 0..classes.size()-1, CPU
  std::vector<std::string> classes;  ///< class names; classes[i] is the name of label i
};

/// Reads CIFAR-10 in its binary layout from `dir`: for train the five files
/// `data_batch_1.bin.gz` .. `data_batch_5.bin.gz` (N = 50,000, in file order), for test
/// `test_batch.bin.gz` (N = 10,000); class names from `batches.meta.txt` (one name per line,
/// line i = label i, blank lines ignored, exactly 10 names). Each file is gzip-compressed
/// (decompressed with zlib) and holds 10,000 records of 3,073 bytes: 1 label byte (0..9), then
/// 1,024 red, 1,024 green and 1,024 blue bytes, each a 32x32 plane, row-major, top row first.
/// Returns images uint8 (N, 3, 32, 32) and labels int64 (N) on the CPU.
/// Throws DataError (field `file` = the offending file) when a file is missing or unreadable, the
/// gzip stream is corrupt or truncated, the decompressed size is not a multiple of 3,073 bytes
/// or not 10,000 records (the message gives the byte count), a label byte is > 9 (the message gives
/// the record index), or batches.meta.txt does not hold 10 names.
ImageDataset load_cifar10(const std::string& dir, bool train);

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

// ---------------------------------------------------------------------------------------------
// Decoding and resizing
// ---------------------------------------------------------------------------------------------

/// Decodes a PNG or JPEG file (recognised by content, not by extension) with libpng or
/// libjpeg-turbo, the decoders of torchvision.io and PIL. Returns uint8 (3, H, W), RGB, on the CPU.
/// Grayscale (and grayscale+alpha) images are expanded to three equal channels; the alpha channel
/// of RGBA / GA images and tRNS transparency are dropped (not composited over a background), as
/// PIL's convert("RGB") does; 16-bit PNGs are reduced to 8 bits by keeping the high byte (v >> 8);
/// palette and interlaced PNGs are expanded. Baseline, progressive (at most 500 scans) and
/// arithmetic-coded JPEGs are supported; CMYK and YCCK JPEGs are not. A JPEG that ends before its
/// last scan is refused rather than filled with gray. Thread-safe (no global decoder state). The file is read with
/// mmx::read_input_file (a regular file of at most input_limit(InputKind::kImage) bytes, 256 MiB
/// by default) and its header is checked against image_limits() before any pixel is decoded.
/// Throws DataError (field `file` = path) when the file is missing, not a regular file (directory,
/// FIFO, device), too large, cannot be read, is empty, is not a PNG/JPEG, is corrupt/truncated, or
/// its header declares more pixels or a more extreme aspect ratio than image_limits() allows; the
/// message names the file and gives the decoder's reason or the size and the limit.
torch::Tensor decode_image(const std::string& path);

/// decode_image for bytes held in memory (the file's whole content); `name` stands for the file in
/// error messages (DataError field `file`). decode_image(path) reads the file and calls this.
torch::Tensor decode_image_bytes(std::span<const uint8_t> bytes, const std::string& name);

/// Bounds on the images decode_image accepts and on the sizes the resize functions produce, so
/// that a file of a few hundred bytes whose header claims a huge or extremely thin image cannot
/// allocate gigabytes.
struct ImageLimits {
  /// Largest width * height of a decoded image and of a resize result (per image): 64 Mpx =
  /// 67,108,864 pixels (192 MiB as uint8 RGB). Environment: MMX_MAX_IMAGE_PIXELS.
  int64_t max_pixels = int64_t{1} << 26;
  /// Largest ratio of the longer to the shorter side of a decoded image: 64 (e.g. 64 x 4096).
  /// Environment: MMX_MAX_IMAGE_ASPECT.
  double max_aspect = 64.0;
};

/// The defaults of ImageLimits, each replaced by its environment variable when that is set
/// (MMX_MAX_IMAGE_PIXELS: a positive integer; MMX_MAX_IMAGE_ASPECT: a number >= 1).
/// Throws DataError naming the variable when it is set to anything else.
ImageLimits image_limits();

/// Resizes uint8 (3, H, W) (or a batch uint8 (B, 3, H, W)) to (3, out_h, out_w) (resp.
/// (B, 3, out_h, out_w)) with bilinear interpolation (half-pixel centres, align_corners false),
/// antialiased when downscaling (torch interpolate antialias=true, as PIL / torchvision), rounded
/// to the nearest integer and clamped to 0..255. Returns uint8 on the input's device; the input
/// itself (not a copy) when the size is unchanged.
/// Throws DataError when the input is not uint8 with 3 channels, out_h, out_w < 1, or
/// out_h * out_w exceeds image_limits().max_pixels.
torch::Tensor resize_image(const torch::Tensor& img_u8_chw, int64_t out_h, int64_t out_w);

/// The eval-style resize of one image (or a batch): shorter side to `short_side` (aspect ratio
/// kept, longer side = floor(short_side * long / short) as torchvision's Resize), then a centre
/// crop `short_side` x `short_side` (offsets round((size - crop) / 2) as torchvision). Images
/// smaller than short_side are upscaled. Returns uint8 (3, short_side, short_side) (resp.
/// (B, 3, ...)). This is what ImageLoader does to every ImageFolder image. Throws DataError as
/// resize_image, also when the intermediate resized image (short_side x longer side) would exceed
/// image_limits().max_pixels (checked before anything is allocated).
torch::Tensor resize_shorter_center_crop(const torch::Tensor& img_u8_chw, int64_t short_side);

// ---------------------------------------------------------------------------------------------
// Augmentation
// ---------------------------------------------------------------------------------------------

/// Switches and strengths of BatchAugment. Defaults = the ImageNet-1K recipe of paper-spec §4.7
/// (timm `create_transform` with the Swin / VMamba config). 0 (or false) turns an augmentation off.
struct AugmentOptions {
  int64_t image_size = 224;           ///< S: output side of train() and eval(), pixels
  bool random_resized_crop = true;    ///< RandomResizedCrop(S, scale, ratio)
  double rrc_scale_min = 0.08;        ///< crop area / image area, lower bound
  double rrc_scale_max = 1.0;         ///< crop area / image area, upper bound
  double rrc_ratio_min = 3.0 / 4.0;   ///< crop width / height, lower bound (log-uniform)
  double rrc_ratio_max = 4.0 / 3.0;   ///< crop width / height, upper bound
  /// Interpolation of the random resized crop: "bicubic" (recipe), "bilinear" or "nearest".
  std::string interpolation = "bicubic";
  /// CIFAR-style pad-and-crop: zero-pad by pad_crop pixels on every side, then crop S x S at a
  /// uniformly random offset. Used only when > 0 and random_resized_crop is false.
  int64_t pad_crop = 0;
  double hflip = 0.5;                 ///< probability of a horizontal flip
  int64_t randaugment_n = 2;          ///< RandAugment: ops per image (0 = off)
  double randaugment_m = 9.0;         ///< RandAugment magnitude, 0..10 (0 = off)
  double randaugment_mstd = 0.5;      ///< std of the per-op Gaussian noise on the magnitude
  double randaugment_prob = 0.5;      ///< probability that each chosen op is applied (timm: 0.5)
  /// ColorJitter(brightness = contrast = saturation = color_jitter, hue 0). As in timm, applied
  /// only when RandAugment is off (randaugment_n == 0 or randaugment_m == 0).
  double color_jitter = 0.4;
  double random_erasing = 0.25;       ///< RandomErasing probability (pixel mode, 1 box)
  double mixup_alpha = 0.8;           ///< Mixup Beta(alpha, alpha) (0 = off)
  double cutmix_alpha = 1.0;          ///< CutMix Beta(alpha, alpha) (0 = off)
  double mixup_prob = 1.0;            ///< probability that a batch is mixed at all
  double mixup_switch_prob = 0.5;     ///< probability of CutMix instead of Mixup when both are on
  double label_smoothing = 0.1;       ///< target = one_hot * (1 - s) + s / num_classes
  std::vector<double> mean = {0.485, 0.456, 0.406};  ///< per-channel mean on the 0..1 scale
  std::vector<double> std = {0.229, 0.224, 0.225};   ///< per-channel std on the 0..1 scale
  /// eval(): shorter side resized to floor(S / eval_resize_ratio), then centre crop S
  /// (0.875: 224 -> 256), in (0, 1]. 1.0 with inputs already S x S: no resize.
  double eval_resize_ratio = 0.875;
};

/// Batched, device-agnostic image augmentation: every op works on a whole (B, 3, H, W) batch on
/// the batch's device (CUDA tensors stay on the GPU) with per-sample random parameters drawn on the
/// CPU from a torch::Generator seeded with `seed`, so equal seeds and equal call sequences give
/// equal results (bit-equal on the same device). Not thread-safe (one generator).
///
/// train(): [random resized crop | pad-and-crop | resize to S x S] -> horizontal flip -> RandAugment
/// (or colour jitter) -> /255 -> normalize -> random erasing. RandAugment follows timm's
/// "rand-m9-mstd0.5-inc1": each of randaugment_n layers picks, per sample, one of the 15 ops
/// AutoContrast, Equalize, Invert, Rotate (±30°·m/10), Posterize (4 - ⌊4m/10⌋ bits), Solarize
/// (threshold 256 - ⌊256m/10⌋), SolarizeAdd (+⌊110m/10⌋ below 128), Color, Contrast, Brightness,
/// Sharpness (factor 1 ± 0.9m/10), ShearX/Y (±0.3m/10), TranslateX/Y (±0.45m/10 of the size);
/// applies it with probability randaugment_prob; m ~ N(randaugment_m, randaugment_mstd) clipped
/// to [0, 10] per application. The image is kept on the 0..255 scale and rounded after every op
/// (like PIL's uint8). Exact (PIL's integer formulas as lookup tables): AutoContrast, Equalize,
/// Invert, Posterize, Solarize, SolarizeAdd. PIL's formulas in float32 (integer luma
/// (19595 R + 38470 G + 7471 B + 2^15) >> 16, blends truncated and clipped as ImagingBlend; may
/// differ from PIL by one level where float rounding differs): Color, Contrast, Brightness,
/// Sharpness (its 3x3 smoothing result rounded half up, border pixels kept). Approximate: the
/// geometric ops (bilinear grid_sample instead of PIL's resampling; uncovered pixels take the timm
/// mean colour round(255 * mean) = (124, 116, 104), blended at the border).
/// The random resized crop samples its box as torchvision (10 attempts, then a centre crop of
/// clamped ratio) and resamples with grid_sample in `interpolation` mode, without antialiasing.
/// Colour jitter applies brightness, contrast and saturation with factors U[1-j, 1+j] in a random
/// order per sample. Random erasing follows timm (area 2%..1/3, log-ratio 0.3..3.3, 10 attempts,
/// per-pixel N(0, 1) fill in the normalized space).
class BatchAugment {
 public:
  /// Throws DataError for invalid options (image_size < 1, mean/std not 3 values, a std <= 0,
  /// probabilities outside [0, 1], negative alphas, unknown interpolation, label_smoothing
  /// outside [0, 1)).
  BatchAugment(AugmentOptions options, uint64_t seed);

  /// Training transform. In: uint8 (B, 3, H, W) on any device. Out: float32 (B, 3, S, S),
  /// normalized ((x/255 - mean) / std), on the input's device. Inputs smaller than the crop are
  /// upscaled (the crop box lies inside the image; pad-and-crop pads). Throws DataError when the
  /// input is not uint8 (B, 3, H, W).
  torch::Tensor train(const torch::Tensor& u8_bchw);

  /// Evaluation transform: shorter side resized to floor(S / eval_resize_ratio) (bilinear,
  /// antialiased, rounded to uint8 values as PIL), centre crop S x S, /255, normalize. Deterministic, draws no random numbers.
  /// In: uint8 (B, 3, H, W). Out: float32 (B, 3, S, S) on the input's device.
  torch::Tensor eval(const torch::Tensor& u8_bchw);

  /// Mixup / CutMix in timm's batch mode plus label smoothing. In: images float (B, 3, H, W)
  /// (normalized), labels int64 (B) with values in [0, num_classes). With probability mixup_prob
  /// the batch is mixed with its reverse (images.flip(0)): CutMix with probability
  /// mixup_switch_prob when both alphas are > 0 (lam ~ Beta(cutmix_alpha), box of area
  /// (1 - lam) pasted, lam corrected to the exact pasted area), else Mixup (lam ~ Beta(mixup_alpha),
  /// x = lam x + (1 - lam) x_rev). Targets: lam * smooth(y) + (1 - lam) * smooth(y_rev) with
  /// smooth(y) = one_hot(y) * (1 - s) + s / num_classes. With both alphas 0: images unchanged,
  /// only label smoothing. Returns (images, targets float32 (B, num_classes)) on the images'
  /// device; every target row sums to 1. Throws DataError for bad shapes or labels out of range.
  std::pair<torch::Tensor, torch::Tensor> mix(const torch::Tensor& images,
                                              const torch::Tensor& labels, int64_t num_classes);

  const AugmentOptions& options() const { return options_; }

 private:
  AugmentOptions options_;
  torch::Generator gen_;
};

// ---------------------------------------------------------------------------------------------
// Loader
// ---------------------------------------------------------------------------------------------

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;       ///< permutation per epoch from seed + epoch; false: index order
  bool drop_last = true;     ///< drop the last incomplete batch
  int64_t workers = 4;       ///< decoding threads for ImageFolder (0: decode in next())
  int64_t prefetch = 4;      ///< batches decoded ahead of next() (>= 1)
  uint64_t seed = 0;
  /// ImageFolder images: every image is decoded, its shorter side resized to
  /// R = floor(image_size / resize_ratio) and centre-cropped to R x R (resize_shorter_center_crop),
  /// so batches have a fixed size R (224 -> 256). BatchAugment's
  /// eval() then reproduces the standard resize-256 / centre-crop-224; train() crops within the
  /// R x R square (an approximation of cropping the full image). Smaller images are upscaled.
  /// Ignored for in-memory ImageDataset (batches keep its H x W).
  int64_t image_size = 224;
  double resize_ratio = 0.875;  ///< see image_size; 1.0 gives image_size x image_size
};

/// Batches of (images uint8 (B, 3, R, R), labels int64 (B)) from an in-memory ImageDataset
/// (index_select gathers) or an ImageFolder (decoded by `workers` threads into a bounded queue of
/// `prefetch` batches; each batch is decoded by one worker, and next() hands batches out in
/// order, so the result does not depend on the number of workers). Batches are in pinned memory
/// when CUDA is available. A file that fails to decode makes next() throw its DataError (naming
/// the file) for that batch; the following call continues with the next batch. Not thread-safe:
/// one consumer thread.
class ImageLoader {
 public:
  /// Throws DataError when the data set is empty or inconsistent (labels vs images/paths),
  /// batch_size < 1, workers < 0 or prefetch < 1.
  ImageLoader(ImageDataset data, LoaderOptions options);
  ImageLoader(ImageFolder folder, LoaderOptions options);
  ~ImageLoader();
  ImageLoader(const ImageLoader&) = delete;
  ImageLoader& operator=(const ImageLoader&) = delete;

  /// Starts epoch `epoch` (stops the running one): order = randperm(size) drawn from a generator
  /// seeded with seed + epoch (or 0..size-1 when shuffle is false). next() without a start_epoch
  /// call starts epoch 0.
  void start_epoch(int64_t epoch);

  /// The next batch of the epoch, std::nullopt when the epoch is exhausted.
  std::optional<std::pair<torch::Tensor, torch::Tensor>> next();

  /// size / batch_size, rounded down when drop_last, else up.
  int64_t batches_per_epoch() const;
  /// Number of images (N).
  int64_t size() const;
  /// Class names of the data set.
  const std::vector<std::string>& classes() const { return classes_; }

 private:
  struct Batch {
    torch::Tensor images;
    torch::Tensor labels;
    std::exception_ptr error;
  };
  void init(LoaderOptions options);
  void stop_workers();
  Batch make_batch(int64_t batch_index) const;
  void worker_loop();

  LoaderOptions options_;
  std::vector<std::string> classes_;
  ImageDataset data_;
  std::optional<ImageFolder> folder_;
  int64_t n_ = 0;
  torch::Tensor order_;  // int64 (N): the epoch's permutation
  bool started_ = false;
  int64_t next_batch_ = 0;      // next batch to hand out
  int64_t claimed_ = 0;         // next batch a worker will claim
  std::map<int64_t, Batch> ready_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace mmx::data
