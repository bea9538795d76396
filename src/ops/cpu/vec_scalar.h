// Scalar "vector" of one float for the CPU scan (see vec.h): the same operations as the SIMD
// wrappers, so the kernel is written once; exp is std::exp. Compiled in scan_cpu_scalar.cpp.
#pragma once

#include <cmath>

namespace mmx::cpu::MMX_ISA_NS {
namespace {

constexpr int W = 1;
struct V {
  float v;
};
inline V vzero() { return {0.0f}; }
inline V vset1(float a) { return {a}; }
inline V vload(const float* p) { return {*p}; }
inline void vstore(float* p, V a) { *p = a.v; }
inline V operator+(V a, V b) { return {a.v + b.v}; }
inline V operator-(V a, V b) { return {a.v - b.v}; }
inline V operator*(V a, V b) { return {a.v * b.v}; }
inline V vfma(V a, V b, V c) { return {std::fma(a.v, b.v, c.v)}; }
inline float vsum(V a) { return a.v; }
inline V vexp(V x) { return {std::exp(x.v)}; }
inline V vmax(V a, V b) { return {a.v > b.v ? a.v : b.v}; }
inline V vabs(V a) { return {std::fabs(a.v)}; }
inline V vdiv(V a, V b) { return {a.v / b.v}; }

}  // namespace
}  // namespace mmx::cpu::MMX_ISA_NS
