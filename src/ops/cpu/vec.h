// SIMD vector layer of the fused CPU selective scan: `V`, a vector of `W` floats, with the few
// operations the kernel uses, for the instruction set of the translation unit that includes it
// (MMX_ISA_AVX512, MMX_ISA_AVX2, else scalar). The pattern of PyTorch ATen's
// aten/src/ATen/cpu/vec/vec.h (Vectorized<float> per CPU capability), reduced to what the scan
// needs: one small wrapper header per ISA (vec_avx512.h, vec_avx2.h, vec_scalar.h) for the
// primitive operations, and here the functions written once over them.
//
// Included only by scan_cpu_kernel.h, inside namespace mmx::cpu::<isa>::(anonymous), so each
// ISA's definitions stay local to its own translation unit (compiled with its own flags).
#pragma once

#include <cmath>

#if defined(MMX_ISA_AVX512) || defined(MMX_ISA_AVX2)
#include <immintrin.h>
#endif

#if defined(MMX_ISA_AVX512)
#include "ops/cpu/vec_avx512.h"
#elif defined(MMX_ISA_AVX2)
#include "ops/cpu/vec_avx2.h"
#else
#include "ops/cpu/vec_scalar.h"
#endif

namespace mmx::cpu::MMX_ISA_NS {
namespace {

#if defined(MMX_ISA_AVX512) || defined(MMX_ISA_AVX2)
// exp(x): Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2, degree-7 Taylor for e^r, then
// times 2^k. Relative error < 2e-7 on the clamped range [-87, 88]. (Scalar: std::exp.)
inline V vexp(V x) {
  const V t = vmin(vmax(x, vset1(-87.0f)), vset1(88.0f));
  const V k = vround(t * vset1(1.44269504088896341f));
  V r = vfnmadd(k, vset1(0.693359375f), t);
  r = vfnmadd(k, vset1(-2.12194440e-4f), r);
  V p = vset1(1.0f / 5040.0f);
  p = vfma(p, r, vset1(1.0f / 720.0f));
  p = vfma(p, r, vset1(1.0f / 120.0f));
  p = vfma(p, r, vset1(1.0f / 24.0f));
  p = vfma(p, r, vset1(1.0f / 6.0f));
  p = vfma(p, r, vset1(0.5f));
  p = vfma(p, r, vset1(1.0f));
  p = vfma(p, r, vset1(1.0f));
  return vmul_pow2(p, k);
}
#endif

// log1p(y) for y in [0, 1]: 2 atanh(s), s = y / (2 + y) in [0, 1/3] (no cancellation for small
// y), odd series to s^13: error < 3e-8.
inline V vlog1p_unit(V y) {
  const V s = vdiv(y, vset1(2.0f) + y);
  const V s2 = s * s;
  V p = vset1(1.0f / 13.0f);
  p = vfma(p, s2, vset1(1.0f / 11.0f));
  p = vfma(p, s2, vset1(1.0f / 9.0f));
  p = vfma(p, s2, vset1(1.0f / 7.0f));
  p = vfma(p, s2, vset1(1.0f / 5.0f));
  p = vfma(p, s2, vset1(1.0f / 3.0f));
  p = vfma(p, s2, vset1(1.0f));
  return vset1(2.0f) * s * p;
}
// softplus(x) = max(x, 0) + log1p(exp(-|x|)); equals mamba_ssm's `x <= 20 ? log1p(exp(x)) : x`
// (csrc/selective_scan/selective_scan_fwd_kernel.cuh) to fp32 rounding (above 20 the correction
// is below half an ulp of x).
inline V vsoftplus(V x) { return vmax(x, vzero()) + vlog1p_unit(vexp(vzero() - vabs(x))); }
inline V vsigmoid(V x) { return vdiv(vset1(1.0f), vset1(1.0f) + vexp(vzero() - x)); }

}  // namespace
}  // namespace mmx::cpu::MMX_ISA_NS
