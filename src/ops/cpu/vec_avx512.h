// AVX-512 vector of 16 floats for the CPU scan (see vec.h; ATen's vec512/vec512_float.h plays
// this part there). Compiled only in scan_cpu_avx512.cpp (-mavx512f -mavx512dq ...).
#pragma once

#include <immintrin.h>

namespace mmx::cpu::MMX_ISA_NS {
namespace {

constexpr int W = 16;
struct V {
  __m512 v;
};
inline V vzero() { return {_mm512_setzero_ps()}; }
inline V vset1(float a) { return {_mm512_set1_ps(a)}; }
inline V vload(const float* p) { return {_mm512_loadu_ps(p)}; }
inline void vstore(float* p, V a) { _mm512_storeu_ps(p, a.v); }
inline V operator+(V a, V b) { return {_mm512_add_ps(a.v, b.v)}; }
inline V operator-(V a, V b) { return {_mm512_sub_ps(a.v, b.v)}; }
inline V operator*(V a, V b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline V vfma(V a, V b, V c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
/// c - a * b, fused.
inline V vfnmadd(V a, V b, V c) { return {_mm512_fnmadd_ps(a.v, b.v, c.v)}; }
inline float vsum(V a) { return _mm512_reduce_add_ps(a.v); }
inline V vmax(V a, V b) { return {_mm512_max_ps(a.v, b.v)}; }
inline V vmin(V a, V b) { return {_mm512_min_ps(a.v, b.v)}; }
inline V vabs(V a) { return {_mm512_abs_ps(a.v)}; }
inline V vdiv(V a, V b) { return {_mm512_div_ps(a.v, b.v)}; }
/// Round to the nearest integer (ties to even).
inline V vround(V a) { return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
/// p * 2^k for integral k (scalef).
inline V vmul_pow2(V p, V k) { return {_mm512_scalef_ps(p.v, k.v)}; }

}  // namespace
}  // namespace mmx::cpu::MMX_ISA_NS
