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

/// The number of elements of all the tensors of `shapes`, saturating at INT64_MAX (a stored
/// config may describe a model far too large to build; the count must still be comparable with
/// a limit). Each shape's own product must fit int64 (the *_parameter_shapes functions check it).
int64_t count_parameters(const ParameterShapes& shapes);

}  // namespace mmx::models
