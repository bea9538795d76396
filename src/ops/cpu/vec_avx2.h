// AVX2 + FMA vector of 8 floats for the CPU scan (see vec.h; ATen's vec256/vec256_float.h plays
// this part there). Compiled only in scan_cpu_avx2.cpp (-mavx2 -mfma).
#pragma once

#include <immintrin.h>

namespace mmx::cpu::MMX_ISA_NS {
namespace {

constexpr int W = 8;
struct V {
  __m256 v;
};
inline V vzero() { return {_mm256_setzero_ps()}; }
inline V vset1(float a) { return {_mm256_set1_ps(a)}; }
inline V vload(const float* p) { return {_mm256_loadu_ps(p)}; }
inline void vstore(float* p, V a) { _mm256_storeu_ps(p, a.v); }
inline V operator+(V a, V b) { return {_mm256_add_ps(a.v, b.v)}; }
inline V operator-(V a, V b) { return {_mm256_sub_ps(a.v, b.v)}; }
inline V operator*(V a, V b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline V vfma(V a, V b, V c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
/// c - a * b, fused.
inline V vfnmadd(V a, V b, V c) { return {_mm256_fnmadd_ps(a.v, b.v, c.v)}; }
inline V vmax(V a, V b) { return {_mm256_max_ps(a.v, b.v)}; }
inline V vmin(V a, V b) { return {_mm256_min_ps(a.v, b.v)}; }
inline V vabs(V a) { return {_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)}; }
inline V vdiv(V a, V b) { return {_mm256_div_ps(a.v, b.v)}; }
inline float vsum(V a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
/// Round to the nearest integer (ties to even).
inline V vround(V a) { return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
/// p * 2^k for integral k in [-126, 127]: 2^k built in the exponent bits.
inline V vmul_pow2(V p, V k) {
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k.v), _mm256_set1_epi32(127)), 23);
  return {_mm256_mul_ps(p.v, _mm256_castsi256_ps(e))};
}

}  // namespace
}  // namespace mmx::cpu::MMX_ISA_NS
