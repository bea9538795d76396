// Checkpoints in the safetensors layout (include/mmx/train/checkpoint.h, docs/checkpoints.md).
#include "mmx/train/checkpoint.h"

#include "mmx/core/atomic_file.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <string_view>
#include <system_error>
#include <unordered_map>

#include <sys/stat.h>

namespace mmx::train {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the safetensors layout stores little-endian bytes; this code copies host memory");

using nlohmann::json;

struct DtypeInfo {
  const char* name;
  c10::ScalarType type;
  uint64_t itemsize;
};

// safetensors dtype names (safetensors/src/tensor.rs, enum Dtype) for the LibTorch types we store.
constexpr DtypeInfo kDtypes[] = {
    {"F64", c10::ScalarType::Double, 8},    {"F32", c10::ScalarType::Float, 4}, {"F16", c10::ScalarType::Half, 2},
    {"BF16", c10::ScalarType::BFloat16, 2}, {"I64", c10::ScalarType::Long, 8},  {"I32", c10::ScalarType::Int, 4},
    {"I16", c10::ScalarType::Short, 2},     {"I8", c10::ScalarType::Char, 1},   {"U8", c10::ScalarType::Byte, 1},
    {"BOOL", c10::ScalarType::Bool, 1},
};

const DtypeInfo* dtype_by_type(c10::ScalarType type) {
  for (const auto& d : kDtypes)
    if (d.type == type) return &d;
  return nullptr;
}

const DtypeInfo* dtype_by_name(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

std::string shape_str(c10::IntArrayRef shape) {
  std::ostringstream s;
  s << '[';
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << ']';
  return s.str();
}

[[noreturn]] void fail(const std::string& file, const std::string& what) { throw CheckpointError(file + ": " + what); }

// One tensor entry of a header, validated on its own.
struct Entry {
  std::string name;
  const DtypeInfo* dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

Entry parse_entry(const std::string& path, const std::string& name, const json& v) {
  const std::string where = "tensor '" + name + "'";
  if (!v.is_object()) fail(path, "header entry for " + where + " is not a JSON object");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!v.contains(field)) fail(path, where + " has no \"" + field + "\" in the header");
  Entry e{name, nullptr, {}, 0, 0};
  const json& dt = v.at("dtype");
  if (!dt.is_string()) fail(path, where + ": \"dtype\" is not a string");
  e.dtype = dtype_by_name(dt.get<std::string>());
  if (!e.dtype)
    fail(path, where + " has unknown dtype \"" + dt.get<std::string>() +
                   "\" (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
  const json& shape = v.at("shape");
  if (!shape.is_array()) fail(path, where + ": \"shape\" is not an array");
  uint64_t nbytes = e.dtype->itemsize;
  for (const json& d : shape) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      fail(path, where + ": \"shape\" " + shape.dump() + " is not a list of non-negative integers");
    const uint64_t n = d.get<uint64_t>();
    e.shape.push_back(static_cast<int64_t>(n));
    if (__builtin_mul_overflow(nbytes, n, &nbytes)) fail(path, where + ": shape " + shape.dump() + " is too large");
  }
  const json& off = v.at("data_offsets");
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
    fail(path, where + ": \"data_offsets\" is not a pair of non-negative integers");
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  if (e.end < e.begin)
    fail(path, where + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                   "] out of range (end before begin)");
  if (e.end - e.begin != nbytes)
    fail(path, where + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "] span " +
                   std::to_string(e.end - e.begin) + " bytes but shape " + shape_str(e.shape) + " x " +
                   std::to_string(e.dtype->itemsize) + " bytes (" + e.dtype->name + ") needs " +
                   std::to_string(nbytes));
  return e;
}

std::string format_value(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  std::ostringstream os;
  os << x;
  return os.str();
}

// A checkpoint tensor about to be copied into a tensor of dtype `target`: a floating target takes
// any floating dtype (F64/F32/F16/BF16, converted) but no integer or bool tensor (that would be a
// silent cast of what is probably not a weight), and every value must be finite (a NaN or inf
// weight makes every output NaN); other targets need exactly their own dtype.
void check_values(const torch::Tensor& t, c10::ScalarType target, const std::string& name, const std::string& source) {
  const DtypeInfo* have = dtype_by_type(t.scalar_type());
  const DtypeInfo* want = dtype_by_type(target);
  const std::string have_name = have ? have->name : std::string(c10::toString(t.scalar_type()));
  const std::string want_name = want ? want->name : std::string(c10::toString(target));
  if (c10::isFloatingType(target)) {
    if (!t.is_floating_point())
      fail(source, "tensor '" + name + "' has dtype " + have_name + " but the model expects floating-point values (" +
                       want_name + "; F64, F32, F16 or BF16 are converted): not a weight tensor of this model");
    const auto finite = torch::isfinite(t);
    if (!finite.all().item<bool>()) {
      const int64_t bad = t.numel() - finite.sum().item<int64_t>();
      const int64_t first = (~finite).flatten().nonzero().flatten()[0].item<int64_t>();
      fail(source, "tensor '" + name + "' holds " + std::to_string(bad) +
                       " non-finite value(s) (NaN or inf; first at flat index " + std::to_string(first) + ", value " +
                       format_value(t.flatten()[first].item<double>()) +
                       "): the checkpoint is corrupt or the training diverged");
    }
  } else if (t.scalar_type() != target) {
    fail(source, "tensor '" + name + "' has dtype " + have_name + " but the model expects " + want_name);
  }
}

std::string format_double(double x) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

template <typename T>
bool parse_number(const std::string& s, T& out) {
  const char* end = s.data() + s.size();
  auto r = std::from_chars(s.data(), end, out);
  return r.ec == std::errc() && r.ptr == end && !s.empty();
}

std::string meta_or_fail(const Checkpoint& ckpt, const std::string& key, const std::string& source) {
  auto it = ckpt.metadata.find(key);
  if (it == ckpt.metadata.end()) fail(source, "no optimizer state: metadata '" + key + "' is missing");
  return it->second;
}

// The param group index of every parameter of `optimizer`, by TensorImpl (the key of state()).
std::unordered_map<const void*, size_t> group_of_params(const torch::optim::Optimizer& optimizer) {
  std::unordered_map<const void*, size_t> out;
  const auto& groups = optimizer.param_groups();
  for (size_t g = 0; g < groups.size(); ++g)
    for (const auto& p : groups[g].params()) out.emplace(p.unsafeGetTensorImpl(), g);
  return out;
}

bool group_amsgrad(const torch::optim::OptimizerParamGroup& group) {
  return static_cast<const torch::optim::AdamWOptions&>(group.options()).amsgrad();
}

}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& ckpt) {
  json header = json::object();
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : ckpt.tensors) {
    if (name.empty() || name == "__metadata__") fail(path, "cannot save a tensor named \"" + name + "\"");
    if (!tensor.defined()) fail(path, "cannot save tensor '" + name + "': it is undefined");
    const DtypeInfo* dtype = dtype_by_type(tensor.scalar_type());
    if (!dtype)
      fail(path, "cannot save tensor '" + name + "': dtype " + std::string(c10::toString(tensor.scalar_type())) +
                     " has no safetensors equivalent here");
    auto cpu = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t nbytes = static_cast<uint64_t>(cpu.numel()) * dtype->itemsize;
    header[name] = {{"dtype", dtype->name}, {"shape", cpu.sizes().vec()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    data.push_back(std::move(cpu));
  }
  if (!ckpt.metadata.empty()) header["__metadata__"] = ckpt.metadata;
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {
    fail(path, std::string("cannot encode the header (names and metadata must be UTF-8): ") + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  std::string bytes;
  bytes.reserve(8 + text.size() + offset);
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  bytes += text;
  for (const auto& t : data) bytes.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  try {
    write_file_atomic(path, bytes);
  } catch (const std::runtime_error& e) {
    throw CheckpointError("cannot save checkpoint: " + std::string(e.what()));
  }
}

namespace {

// A safetensors header, validated against the size of the data section that follows it.
struct Layout {
  std::vector<Entry> entries;
  std::map<std::string, std::string> metadata;
};

void check_file_size(const std::string& file, uint64_t size) {
  if (size < 8)
    fail(file,
         "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length of the safetensors layout");
}

// The little-endian header length of the first 8 bytes, checked against the file size.
uint64_t header_length(const std::string& file, const unsigned char* len_bytes, uint64_t size) {
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(len_bytes[i]) << (8 * i);
  if (n > size - 8)
    fail(file, "header length " + std::to_string(n) + " is beyond the file (" + std::to_string(size) +
                   " bytes): truncated, or not a safetensors file");
  if (n > kMaxHeaderBytes)
    fail(file, "header length " + std::to_string(n) + " exceeds the limit of " + std::to_string(kMaxHeaderBytes) +
                   " bytes (the safetensors reader's limit): corrupt, or not a safetensors file");
  return n;
}

// Parses the JSON header and checks that the tensors' byte ranges tile the `available` bytes
// of the data section exactly.
Layout parse_layout(const std::string& file, std::string_view text, uint64_t available) {
  json header;
  try {
    header = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number beyond double
    fail(file, std::string("invalid JSON header: ") + e.what());
  }
  if (!header.is_object()) fail(file, "the JSON header is not an object");

  Layout layout;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) fail(file, "\"__metadata__\" is not a JSON object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) fail(file, "\"__metadata__\" value of '" + m.key() + "' is not a string");
        layout.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    layout.entries.push_back(parse_entry(file, it.key(), *it));
  }

  // The byte ranges must tile [0, data size) exactly, as the safetensors reader requires.
  std::vector<const Entry*> order;
  for (const auto& e : layout.entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry* e : order) {
    if (e->begin < pos)
      fail(file, "tensor '" + e->name + "' data_offsets [" + std::to_string(e->begin) + ", " + std::to_string(e->end) +
                     "] overlap tensor '" + prev->name + "' [" + std::to_string(prev->begin) + ", " +
                     std::to_string(prev->end) + "]");
    if (e->begin > pos)
      fail(file, "tensor '" + e->name + "' data_offsets start at " + std::to_string(e->begin) +
                     " but the previous tensor ends at " + std::to_string(pos) + " (a gap: offsets out of range)");
    if (e->end > available)
      fail(file, "data truncated: tensor '" + e->name + "' occupies bytes [" + std::to_string(e->begin) + ", " +
                     std::to_string(e->end) + ") of the data section but the file holds only " +
                     std::to_string(available) + " bytes after the header");
    pos = e->end;
    prev = e;
  }
  if (pos != available)
    fail(file, "the header declares " + std::to_string(pos) + " bytes of tensor data but " + std::to_string(available) +
                   " bytes follow it (trailing bytes)");
  return layout;
}

torch::Tensor empty_tensor(const Entry& e) {
  return torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype->type));
}

}  // namespace

Checkpoint load_checkpoint(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    fail(path, errno == ENOENT ? std::string("no such checkpoint file")
                               : std::string("cannot access: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, std::string("cannot open: ") + std::strerror(errno));
  check_file_size(path, size);

  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  if (!in) fail(path, "cannot read the header length");
  const uint64_t n = header_length(path, len_bytes, size);
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  if (!in) fail(path, "cannot read the " + std::to_string(n) + "-byte header");
  Layout layout = parse_layout(path, text, size - 8 - n);

  Checkpoint ckpt;
  ckpt.metadata = std::move(layout.metadata);
  for (const auto& e : layout.entries) {
    auto t = empty_tensor(e);
    const uint64_t nbytes = e.end - e.begin;
    if (nbytes > 0) {
      in.seekg(static_cast<std::streamoff>(8 + n + e.begin));
      in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(nbytes));
      if (!in || static_cast<uint64_t>(in.gcount()) != nbytes)
        fail(path, "data truncated: cannot read the " + std::to_string(nbytes) + " bytes of tensor '" + e.name + "'");
    }
    ckpt.tensors.emplace(e.name, std::move(t));
  }
  return ckpt;
}

Checkpoint parse_checkpoint(std::string_view bytes, const std::string& name) {
  const uint64_t size = bytes.size();
  check_file_size(name, size);
  const uint64_t n = header_length(name, reinterpret_cast<const unsigned char*>(bytes.data()), size);
  Layout layout = parse_layout(name, bytes.substr(8, n), size - 8 - n);

  Checkpoint ckpt;
  ckpt.metadata = std::move(layout.metadata);
  const char* data = bytes.data() + 8 + n;
  for (const auto& e : layout.entries) {
    auto t = empty_tensor(e);
    if (e.end > e.begin) std::memcpy(t.data_ptr(), data + e.begin, e.end - e.begin);
    ckpt.tensors.emplace(e.name, std::move(t));
  }
  return ckpt;
}

std::map<std::string, torch::Tensor> module_state(const torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& item : module.named_parameters(/*recurse=*/true))
    if (item.value().defined()) out.emplace(item.key(), item.value().detach());
  for (const auto& item : module.named_buffers(/*recurse=*/true))
    if (item.value().defined()) out.emplace(item.key(), item.value().detach());
  return out;
}

std::map<std::string, torch::Tensor> model_tensors(const Checkpoint& ckpt) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, t] : ckpt.tensors)
    if (name.rfind(kOptimizerPrefix, 0) != 0) out.emplace(name, t);
  return out;
}

void load_module_state(torch::nn::Module& module, const std::map<std::string, torch::Tensor>& state,
                       const std::string& source) {
  // Model order (registration order), so the first fault reported is the first in the module.
  std::vector<std::pair<std::string, torch::Tensor>> targets;
  std::set<std::string> names;
  for (const auto& item : module.named_parameters(/*recurse=*/true))
    if (item.value().defined()) targets.emplace_back(item.key(), item.value().detach());
  for (const auto& item : module.named_buffers(/*recurse=*/true))
    if (item.value().defined()) targets.emplace_back(item.key(), item.value().detach());
  for (const auto& [name, target] : targets) {
    names.insert(name);
    auto it = state.find(name);
    if (it == state.end())
      fail(source, "the model expects tensor '" + name + "' (shape " + shape_str(target.sizes()) +
                       ") but the checkpoint has none — was it trained with another config?");
    if (!it->second.defined()) fail(source, "tensor '" + name + "' is undefined");
    if (it->second.sizes() != target.sizes())
      fail(source, "tensor '" + name + "' has shape " + shape_str(it->second.sizes()) +
                       " in the checkpoint but the model expects " + shape_str(target.sizes()) +
                       " — was it trained with another config?");
    check_values(it->second, target.scalar_type(), name, source);
  }
  for (const auto& [name, t] : state)
    if (!names.count(name))
      fail(source, "unexpected tensor '" + name +
                       "' in the checkpoint: the model has no such parameter or buffer — was it "
                       "trained with another config?");
  torch::NoGradGuard no_grad;
  for (auto& [name, target] : targets) target.copy_(state.at(name));
}

void load_module_state(torch::nn::Module& module, const Checkpoint& ckpt, const std::string& source) {
  load_module_state(module, model_tensors(ckpt), source);
}

void add_optimizer_state(Checkpoint& ckpt, const torch::optim::AdamW& optimizer,
                         const std::vector<std::pair<std::string, torch::Tensor>>& named_params) {
  const std::string prefix = kOptimizerPrefix;
  const auto group_of = group_of_params(optimizer);
  const auto& state = optimizer.state();
  std::set<std::string> seen;
  struct Found {
    const std::string* name;
    const torch::optim::AdamWParamState* state;
    bool amsgrad;
  };
  std::vector<Found> found;
  int64_t step = 0;
  for (const auto& [name, p] : named_params) {
    if (!seen.insert(name).second) fail("checkpoint", "add_optimizer_state: parameter name '" + name + "' repeats");
    auto g = group_of.find(p.unsafeGetTensorImpl());
    if (g == group_of.end())
      fail("checkpoint", "add_optimizer_state: parameter '" + name + "' is not in the optimizer");
    auto s = state.find(p.unsafeGetTensorImpl());
    if (s == state.end()) continue;
    const auto* adamw = dynamic_cast<const torch::optim::AdamWParamState*>(s->second.get());
    if (!adamw) fail("checkpoint", "add_optimizer_state: the state of '" + name + "' is not AdamW state");
    found.push_back({&name, adamw, group_amsgrad(optimizer.param_groups()[g->second])});
    step = std::max(step, adamw->step());
  }
  auto snapshot = [](const torch::Tensor& t) {
    return t.detach().to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true);
  };
  for (const auto& f : found) {
    const std::string key = prefix + *f.name;
    ckpt.tensors[key + ".exp_avg"] = snapshot(f.state->exp_avg());
    ckpt.tensors[key + ".exp_avg_sq"] = snapshot(f.state->exp_avg_sq());
    if (f.amsgrad && f.state->max_exp_avg_sq().defined())
      ckpt.tensors[key + ".max_exp_avg_sq"] = snapshot(f.state->max_exp_avg_sq());
    if (f.state->step() != step) ckpt.metadata[key + ".step"] = std::to_string(f.state->step());
  }
  const auto& groups = optimizer.param_groups();
  ckpt.metadata[prefix + "type"] = "AdamW";
  ckpt.metadata[prefix + "step"] = std::to_string(step);
  ckpt.metadata[prefix + "param_groups"] = std::to_string(groups.size());
  for (size_t g = 0; g < groups.size(); ++g)
    ckpt.metadata[prefix + "group." + std::to_string(g) + ".lr"] = format_double(groups[g].options().get_lr());
}

void load_optimizer_state(torch::optim::AdamW& optimizer, const Checkpoint& ckpt,
                          const std::vector<std::pair<std::string, torch::Tensor>>& named_params,
                          const std::string& source) {
  const std::string prefix = kOptimizerPrefix;
  const std::string type = meta_or_fail(ckpt, prefix + "type", source);
  if (type != "AdamW") fail(source, "optimizer state is for '" + type + "', not AdamW");
  int64_t step = 0;
  const std::string step_text = meta_or_fail(ckpt, prefix + "step", source);
  if (!parse_number(step_text, step) || step < 0)
    fail(source, "metadata '" + prefix + "step' = \"" + step_text + "\" is not a step count");
  size_t n_groups = 0;
  const std::string groups_text = meta_or_fail(ckpt, prefix + "param_groups", source);
  if (!parse_number(groups_text, n_groups))
    fail(source, "metadata '" + prefix + "param_groups' = \"" + groups_text + "\" is not a number");
  auto& groups = optimizer.param_groups();
  if (n_groups != groups.size())
    fail(source, "the checkpoint has " + std::to_string(n_groups) + " optimizer param groups but the optimizer has " +
                     std::to_string(groups.size()));
  std::vector<double> lrs(n_groups);
  for (size_t g = 0; g < n_groups; ++g) {
    const std::string key = prefix + "group." + std::to_string(g) + ".lr";
    const std::string text = meta_or_fail(ckpt, key, source);
    if (!parse_number(text, lrs[g]) || !(lrs[g] >= 0))
      fail(source, "metadata '" + key + "' = \"" + text + "\" is not a learning rate");
  }

  // Every optimizer tensor must belong to a named parameter.
  std::map<std::string, const torch::Tensor*> params;
  for (const auto& [name, p] : named_params)
    if (!params.emplace(name, &p).second) fail(source, "load_optimizer_state: parameter name '" + name + "' repeats");
  for (const auto& [key, t] : ckpt.tensors) {
    if (key.rfind(prefix, 0) != 0) continue;
    std::string rest = key.substr(prefix.size());
    bool known = false;
    for (const char* suffix : {".max_exp_avg_sq", ".exp_avg_sq", ".exp_avg"}) {
      const size_t len = std::strlen(suffix);
      if (rest.size() > len && rest.compare(rest.size() - len, len, suffix) == 0) {
        known = params.count(rest.substr(0, rest.size() - len)) > 0;
        break;
      }
    }
    if (!known) fail(source, "unexpected optimizer tensor '" + key + "': no such parameter moment in this model");
  }

  const auto group_of = group_of_params(optimizer);
  std::vector<std::pair<void*, std::unique_ptr<torch::optim::AdamWParamState>>> restored;
  std::vector<void*> cleared;
  for (const auto& [name, p] : named_params) {
    auto g = group_of.find(p.unsafeGetTensorImpl());
    if (g == group_of.end()) fail(source, "load_optimizer_state: parameter '" + name + "' is not in the optimizer");
    const std::string key = prefix + name;
    auto get = [&](const std::string& suffix) -> const torch::Tensor* {
      auto it = ckpt.tensors.find(key + suffix);
      if (it == ckpt.tensors.end()) return nullptr;
      if (!it->second.defined() || it->second.sizes() != p.sizes())
        fail(source, "optimizer tensor '" + key + suffix + "' has shape " +
                         (it->second.defined() ? shape_str(it->second.sizes()) : "undefined") + " but parameter '" +
                         name + "' has shape " + shape_str(p.sizes()));
      return &it->second;
    };
    const torch::Tensor* exp_avg = get(".exp_avg");
    const torch::Tensor* exp_avg_sq = get(".exp_avg_sq");
    const torch::Tensor* max_sq = get(".max_exp_avg_sq");
    void* impl = p.unsafeGetTensorImpl();
    if (!exp_avg && !exp_avg_sq && !max_sq) {
      cleared.push_back(impl);
      continue;
    }
    if (!exp_avg || !exp_avg_sq)
      fail(source, "optimizer state of '" + name + "' is incomplete: '" + key + (exp_avg ? ".exp_avg_sq" : ".exp_avg") +
                       "' is missing");
    const bool amsgrad = group_amsgrad(groups[g->second]);
    if (amsgrad && !max_sq)
      fail(source,
           "optimizer state of '" + name + "' has no '" + key + ".max_exp_avg_sq' but the optimizer uses amsgrad");
    int64_t own_step = step;
    auto own = ckpt.metadata.find(key + ".step");
    if (own != ckpt.metadata.end() && (!parse_number(own->second, own_step) || own_step < 0))
      fail(source, "metadata '" + key + ".step' = \"" + own->second + "\" is not a step count");
    check_values(*exp_avg, p.scalar_type(), key + ".exp_avg", source);
    check_values(*exp_avg_sq, p.scalar_type(), key + ".exp_avg_sq", source);
    if (amsgrad) check_values(*max_sq, p.scalar_type(), key + ".max_exp_avg_sq", source);
    auto onto_param = [&](const torch::Tensor& t) {
      return t.detach().to(p.device(), p.scalar_type(), /*non_blocking=*/false, /*copy=*/true);
    };
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(own_step);
    s->exp_avg(onto_param(*exp_avg));
    s->exp_avg_sq(onto_param(*exp_avg_sq));
    if (amsgrad) s->max_exp_avg_sq(onto_param(*max_sq));
    restored.emplace_back(impl, std::move(s));
  }

  auto& state = optimizer.state();
  for (void* impl : cleared) state.erase(impl);
  for (auto& [impl, s] : restored) state[impl] = std::move(s);
  for (size_t g = 0; g < n_groups; ++g) groups[g].options().set_lr(lrs[g]);
}

void check_state_shapes(const std::vector<std::pair<std::string, std::vector<int64_t>>>& expected,
                        const std::map<std::string, torch::Tensor>& state, const std::string& source) {
  std::set<std::string> names;
  for (const auto& [name, shape] : expected) {
    names.insert(name);
    auto it = state.find(name);
    if (it == state.end())
      fail(source, "the stored config implies tensor '" + name + "' (shape " + shape_str(shape) +
                       ") but the checkpoint has none: its config or its tensors were edited");
    if (!it->second.defined()) fail(source, "tensor '" + name + "' is undefined");
    if (it->second.sizes() != c10::IntArrayRef(shape))
      fail(source, "tensor '" + name + "' has shape " + shape_str(it->second.sizes()) +
                       " in the checkpoint but its stored config implies " + shape_str(shape) +
                       ": its config or its tensors were edited");
  }
  for (const auto& [name, t] : state)
    if (!names.count(name))
      fail(source, "unexpected tensor '" + name +
                       "' in the checkpoint: the model of its stored config has no such parameter or "
                       "buffer");
}

const std::string& metadata_value(const Checkpoint& ckpt, const std::string& key, const std::string& source) {
  auto it = ckpt.metadata.find(key);
  if (it == ckpt.metadata.end()) fail(source, "metadata key '" + key + "' is missing");
  return it->second;
}

int64_t metadata_int(const Checkpoint& ckpt, const std::string& key, const std::string& source, int64_t min_value,
                     int64_t max_value) {
  const std::string& text = metadata_value(ckpt, key, source);
  int64_t v = 0;
  if (!parse_number(text, v) || v < min_value || v > max_value)
    fail(source, "metadata '" + key + "' = \"" + text + "\" is not an integer in [" + std::to_string(min_value) + ", " +
                     std::to_string(max_value) + "]");
  return v;
}

double metadata_double(const Checkpoint& ckpt, const std::string& key, const std::string& source) {
  const std::string& text = metadata_value(ckpt, key, source);
  double v = 0;
  if (!parse_number(text, v) || !std::isfinite(v))
    fail(source, "metadata '" + key + "' = \"" + text + "\" is not a finite decimal number");
  return v;
}

static json metadata_json(const Checkpoint& ckpt, const std::string& key, const std::string& source) {
  const std::string& text = metadata_value(ckpt, key, source);
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    fail(source, "metadata '" + key + "' is not valid JSON (" + std::to_string(text.size()) + " bytes starting \"" +
                     text.substr(0, 40) + "\")");
  return j;
}

std::vector<std::string> metadata_string_list(const Checkpoint& ckpt, const std::string& key,
                                              const std::string& source) {
  const json j = metadata_json(ckpt, key, source);
  if (!j.is_array()) fail(source, "metadata '" + key + "' is not a JSON array of strings");
  std::vector<std::string> out;
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_string())
      fail(source, "metadata '" + key + "' item " + std::to_string(i) + " is " + j[i].dump() + ", not a string");
    out.push_back(j[i].get<std::string>());
  }
  return out;
}

std::vector<double> metadata_number_list(const Checkpoint& ckpt, const std::string& key, const std::string& source) {
  const json j = metadata_json(ckpt, key, source);
  if (!j.is_array()) fail(source, "metadata '" + key + "' is not a JSON array of numbers");
  std::vector<double> out;
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_number() || !std::isfinite(j[i].get<double>()))
      fail(source, "metadata '" + key + "' item " + std::to_string(i) + " is " + j[i].dump() + ", not a finite number");
    out.push_back(j[i].get<double>());
  }
  return out;
}

}  // namespace mmx::train
