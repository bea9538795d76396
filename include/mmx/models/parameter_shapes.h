// Parameter shapes computed from a model's options alone (tsm2_parameter_shapes,
// vim2_parameter_shapes) and their element count.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mmx::models {

/// (name, shape) of every parameter and buffer a model registers, in the module_state key format.
using ParameterShapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;

/// Collects (name, shape) pairs for a *_parameter_shapes function, checking that every size and
/// every tensor's element count fits int64 (a stored config may describe any model).
class ShapeList {
 public:
  /// `model` names the model in the errors ("TSM2", "ViM2").
  explicit ShapeList(std::string model) : model_(std::move(model)) {}
  /// a * b; throws c10::Error "<model>: a tensor size (a x b) overflows int64" on overflow.
  int64_t mul(int64_t a, int64_t b) const;
  /// Appends one tensor after checking that the product of its sizes fits (c10::Error as mul).
  void add(const std::string& name, std::vector<int64_t> shape);
  /// The collected list.
  ParameterShapes take() && { return std::move(shapes_); }

 private:
  std::string model_;
  ParameterShapes shapes_;
};

/// The number of elements of all the tensors of `shapes`, saturating at INT64_MAX (a stored
/// config may describe a model far too large to build; the count must still be comparable with
/// a limit). Each shape's own product must fit int64 (the *_parameter_shapes functions check it).
int64_t count_parameters(const ParameterShapes& shapes);

}  // namespace mmx::models
