// Element count of a model's parameter shapes (see include/mmx/models/parameter_shapes.h).
#include "mmx/models/parameter_shapes.h"

#include <cstdint>

namespace mmx::models {

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
