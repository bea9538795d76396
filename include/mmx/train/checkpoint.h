// Checkpoints in the safetensors layout (weights, buffers and AdamW state), readable by the Python
// `safetensors` package so PyTorch users can load our weights. Format and keys: docs/checkpoints.md.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mmx::train {

/// Any failure to read, validate, write or apply a checkpoint. The message starts with the file
/// (or "checkpoint" where no file is involved) and says what is wrong.
class CheckpointError : public std::runtime_error {
 public:
  explicit CheckpointError(const std::string& message) : std::runtime_error(message) {}
};

/// The contents of one checkpoint file: named tensors and string metadata (`__metadata__`).
struct Checkpoint {
  std::map<std::string, torch::Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

/// The largest JSON header load_checkpoint reads (bytes): 100,000,000, the limit of the Python
/// safetensors reader (MAX_HEADER_SIZE); a larger header length is reported as corrupt before
/// anything is allocated.
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;

/// Key prefix of the optimizer state, in both `tensors` and `metadata`.
inline constexpr const char* kOptimizerPrefix = "optimizer.";

/// Writes `ckpt` to `path` in the safetensors layout (https://github.com/huggingface/safetensors,
/// "Format"): 8-byte little-endian header length N, N bytes of JSON header
/// {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {string: string}}
/// padded with spaces to a multiple of 8, then the tensors' raw little-endian bytes, contiguous,
/// in name order, offsets relative to the data section. `__metadata__` is omitted when empty.
/// Tensors are copied to the CPU (any device, any strides). dtypes: F64, F32, F16, BF16, I64,
/// I32, I16, I8, U8, BOOL. The file is replaced atomically (mmx::write_file_atomic): a failed save
/// leaves an existing file untouched and no partial file behind.
/// Errors: CheckpointError for an undefined tensor, an empty name or "__metadata__" as a name,
/// an unsupported dtype, or a failed write (missing or unwritable directory, full disk).
void save_checkpoint(const std::string& path, const Checkpoint& ckpt);

/// Reads a checkpoint written by save_checkpoint or by Python's `safetensors` (CPU tensors,
/// contiguous). Validation follows the safetensors reader: the header must be a JSON object, the
/// tensors' byte ranges must tile the data section exactly (no gap, no overlap, nothing after the
/// last one) and each range must hold shape x itemsize bytes.
/// Errors: CheckpointError naming `path` for a missing or unreadable file, a file shorter than 8
/// bytes, a header length beyond the file, invalid JSON or a malformed entry, an unknown dtype,
/// offsets out of range, overlapping, leaving gaps or not matching shape x itemsize, and data
/// truncated (fewer bytes than the header declares) or followed by trailing bytes.
Checkpoint load_checkpoint(const std::string& path);

/// load_checkpoint for a whole file's bytes held in memory; `name` stands for the file in error
/// messages. Same validation and errors (the file-system ones aside).
Checkpoint parse_checkpoint(std::string_view bytes, const std::string& name);

/// The module's parameters and buffers (recursively) by their LibTorch names, e.g.
/// `backbone.blocks.0.token_mixer.in_proj.weight`; these are the checkpoint keys. The tensors are
/// the module's own (detached views, not copies); undefined buffers are skipped.
std::map<std::string, torch::Tensor> module_state(const torch::nn::Module& module);

/// The tensors of `ckpt` that are not optimizer state (keys without kOptimizerPrefix).
std::map<std::string, torch::Tensor> model_tensors(const Checkpoint& ckpt);

/// Copies `state` into the module's parameters and buffers, strictly: every parameter and buffer
/// must be present with the same shape, and no other key may be present. Values are converted to
/// each parameter's dtype and device (a floating parameter takes F64/F32/F16/BF16, never an
/// integer or bool tensor; other tensors need their own dtype) and must all be finite; copies
/// run under NoGradGuard. All checks happen before the
/// first copy (in the module's registration order), so a failed load leaves the module unchanged.
/// Errors: CheckpointError naming `source` (the file the state came from) and the key, for a
/// missing key, an unexpected key, an undefined tensor, a dtype that is not converted (an I64
/// tensor for a float parameter), a NaN or inf value (with their count and the first index), or
/// a shape mismatch ("<source>: tensor
/// 'head.weight' has shape [96, 2016] in the checkpoint but the model expects [192, 2016] — was
/// it trained with another config?").
void load_module_state(torch::nn::Module& module, const std::map<std::string, torch::Tensor>& state,
                       const std::string& source);

/// Compares a checkpoint's model tensors with the shapes a model would have (e.g.
/// models::vim2_parameter_shapes of the checkpoint's stored config) before that model is built,
/// so that an edited config cannot make the loader allocate a model the file does not hold.
/// Errors: CheckpointError naming `source` and the tensor for a missing tensor, a different shape
/// ("tensor 'head.weight' has shape [10, 768] in the checkpoint but its stored config implies
/// [1000000, 768]: its config or its tensors were edited") or an unexpected tensor.
void check_state_shapes(const std::vector<std::pair<std::string, std::vector<int64_t>>>& expected,
                        const std::map<std::string, torch::Tensor>& state, const std::string& source);

/// The metadata value of `key`. Errors: CheckpointError "<source>: metadata key '<key>' is
/// missing".
const std::string& metadata_value(const Checkpoint& ckpt, const std::string& key, const std::string& source);

/// The metadata value of `key` as a decimal integer in [min_value, max_value]. Errors:
/// CheckpointError naming `source`, the key and the text when it is missing, not an integer
/// (no sign other than '-', no spaces, no trailing characters) or out of range.
int64_t metadata_int(const Checkpoint& ckpt, const std::string& key, const std::string& source,
                     int64_t min_value = std::numeric_limits<int64_t>::min(),
                     int64_t max_value = std::numeric_limits<int64_t>::max());

/// The metadata value of `key` as a finite decimal number (shortest round-trip or %.17g text).
/// Errors: CheckpointError naming `source`, the key and the text.
double metadata_double(const Checkpoint& ckpt, const std::string& key, const std::string& source);

/// The metadata value of `key`, a JSON array of strings (e.g. column or class names). Errors:
/// CheckpointError naming `source` and the key for invalid JSON, not an array, or an item that
/// is not a string (naming the item).
std::vector<std::string> metadata_string_list(const Checkpoint& ckpt, const std::string& key,
                                              const std::string& source);

/// The metadata value of `key`, a JSON array of finite numbers (e.g. scaler statistics). Errors:
/// CheckpointError naming `source`, the key and the offending item (null, a string, ...).
std::vector<double> metadata_number_list(const Checkpoint& ckpt, const std::string& key, const std::string& source);

/// load_module_state with model_tensors(ckpt): the model part of a checkpoint that may also hold
/// optimizer state.
void load_module_state(torch::nn::Module& module, const Checkpoint& ckpt, const std::string& source);

/// Adds `optimizer`'s AdamW state to `ckpt` for resuming: per parameter with state, tensors
/// `optimizer.<name>.exp_avg`, `optimizer.<name>.exp_avg_sq` (and `optimizer.<name>.max_exp_avg_sq`
/// when its group uses amsgrad); metadata `optimizer.type` = "AdamW", `optimizer.step` (the step
/// count, decimal), `optimizer.param_groups` (the number of groups) and `optimizer.group.<i>.lr`
/// (each group's current lr, shortest round-trip decimal). A parameter whose step differs from
/// the largest one also gets `optimizer.<name>.step`. Parameters without state yet (never
/// stepped) get no entries. The moments are copied to the CPU now (a snapshot, unaffected by
/// later steps). `named_params` names the optimizer's parameters, e.g.
/// module.named_parameters() or the names of weight_decay_groups.
/// Errors: CheckpointError if a parameter is not in `optimizer` or a name repeats.
void add_optimizer_state(Checkpoint& ckpt, const torch::optim::AdamW& optimizer,
                         const std::vector<std::pair<std::string, torch::Tensor>>& named_params);

/// Restores the state written by add_optimizer_state into `optimizer` (whose parameters are
/// `named_params`, e.g. a fresh model's): creates one torch::optim::AdamWParamState per parameter
/// with saved moments (on the parameter's device and dtype), replacing any existing state, and
/// sets each param group's lr. The number of param groups must match.
/// Errors: CheckpointError naming `source` for missing or malformed `optimizer.*` metadata, a
/// parameter with only some of its moments, a moment whose shape differs from its parameter or
/// that is not floating point or holds a NaN or inf (named), a
/// missing max_exp_avg_sq under amsgrad, an `optimizer.*` tensor for no parameter in
/// `named_params`, or a parameter not in `optimizer`.
void load_optimizer_state(torch::optim::AdamW& optimizer, const Checkpoint& ckpt,
                          const std::vector<std::pair<std::string, torch::Tensor>>& named_params,
                          const std::string& source);

}  // namespace mmx::train
