// The shape-list builder of the *_parameter_shapes functions and the element count (see
// include/mmx/models/parameter_shapes.h).
#include "mmx/models/parameter_shapes.h"

#include <c10/util/Exception.h>

#include <cstdint>

namespace mmx::models {

int64_t ShapeList::mul(int64_t a, int64_t b) const {
  int64_t r = 0;
  TORCH_CHECK(!__builtin_mul_overflow(a, b, &r), model_, ": a tensor size (", a, " x ", b, ") overflows int64");
  return r;
}

void ShapeList::add(const std::string& name, std::vector<int64_t> shape) {
  int64_t n = 1;
  for (auto d : shape) n = mul(n, d);
  shapes_.emplace_back(name, std::move(shape));
}

int64_t count_parameters(const ParameterShapes& shapes) {
  int64_t total = 0;
  for (const auto& [name, shape] : shapes) {
    int64_t n = 1;
    for (auto d : shape) n *= d;  // each shape's product fits (checked where the shapes are made)
    if (__builtin_add_overflow(total, n, &total)) return INT64_MAX;
  }
  return total;
}

}  // namespace mmx::models
