// The project's one tolerance rule for kernels checked against the float64 reference
// (DESIGN.md "Low-precision tolerance rule"): a kernel's error against the float64 truth may be
// at most 2x the error of the reference itself run on the same (possibly low-precision) inputs,
// plus a small floor relative to the magnitude of the truth (for cases where the reference is
// exact by luck).
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

namespace mmx::test {

inline double max_abs_err(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

/// Asserts |got - truth|_max <= 2 |ref_same_precision - truth|_max + rel_floor * |truth|_max.
/// `truth` is float64; `ref` is the reference run on the same inputs and dtype as `got`.
inline ::testing::AssertionResult within_reference_tolerance(const std::string& what, const torch::Tensor& got,
                                                             const torch::Tensor& ref, const torch::Tensor& truth,
                                                             double rel_floor = 2e-6) {
  if (!got.defined() || !truth.defined())
    return (got.defined() == truth.defined()) ? ::testing::AssertionSuccess()
                                              : ::testing::AssertionFailure()
                                                    << what << ": defined " << got.defined() << " vs truth defined "
                                                    << truth.defined();
  if (got.sizes() != truth.sizes())
    return ::testing::AssertionFailure() << what << ": shape " << got.sizes() << " vs " << truth.sizes();
  const double scale = truth.abs().max().item<double>();
  const double e_got = max_abs_err(got, truth);
  const double e_ref = ref.defined() ? max_abs_err(ref, truth) : 0.0;
  const double bound = 2.0 * e_ref + rel_floor * scale + 1e-12;
  if (!(e_got <= bound))  // also fails on NaN
    return ::testing::AssertionFailure() << what << ": max error " << e_got << " > bound " << bound
                                         << " (reference error " << e_ref << ", scale " << scale << ")";
  return ::testing::AssertionSuccess();
}

}  // namespace mmx::test
