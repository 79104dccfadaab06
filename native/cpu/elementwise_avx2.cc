// The AVX2+FMA build of elementwise_loops.inc: same source, vectorised 8 wide by the compiler; exact GELU, tanh,
// sigmoid and tanh-approximated GELU are written out by hand (below).
#include "elementwise_loops.inc"
#include "vec_avx2.h"

namespace tn {
namespace {

// Exact GELU, x Phi(x) with Phi(x) = erfc(-x / sqrt2) / 2, by the same method as the portable loop (gelu,
// two_phi, erfc_fast, exp_fast above). Compiled from that loop, each 8-lane step was one chain of about 40
// dependent operations, too long for the core to overlap several, with its constants reloaded from the stack (16
// registers): the AVX2 path ran 1.6x slower than the AVX-512 one (16 lanes per chain) and behind PyTorch. Here
// four vectors go through every step side by side, and exp's range checks (for any input) give way to one clamp
// and one mask (every exponent here is at most about 0). Measured in bench/RESULTS.md.

// Every helper below takes kLanes vectors and does each step to all of them before the next step: g++ does not
// interleave independent chains on x86 by itself (its first scheduling pass is off there).
constexpr int kLanes = 4;
using Vec = __m256;
using Vecs = Vec[kLanes];
inline Vec splat(float v) { return _mm256_set1_ps(v); }
inline Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
// Lane masks are vectors of all-ones or zero lanes on AVX2.
using Mask = __m256;
inline Mask less_than(Vec a, Vec b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
inline Mask is_nan(Vec a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
inline Vec select(Mask m, Vec if_set, Vec otherwise) { return _mm256_blendv_ps(otherwise, if_set, m); }
inline Vec abs_vec(Vec a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
inline Vec with_sign_of(Vec magnitude, Vec sign) {
  return _mm256_or_ps(magnitude, _mm256_and_ps(sign, _mm256_set1_ps(-0.0f)));
}

// e^a for a <= ~1: a = k ln2 + r, e^r by its Taylor series to r^7 (truncation < 6e-9 relative for |r| <= ln2/2),
// 2^k in the exponent bits; below ln(FLT_MIN) (and for NaN) 0.
inline void exp_small(const Vecs a, Vecs out) {
  const __m256 lo = _mm256_set1_ps(-87.336544f);
  Vecs in_range, k, r, p;
  for (int u = 0; u < kLanes; ++u) {
    in_range[u] = _mm256_cmp_ps(a[u], lo, _CMP_GE_OQ);
    const __m256 ac = _mm256_max_ps(a[u], lo);
    k[u] =
        _mm256_round_ps(_mm256_mul_ps(ac, _mm256_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    // ln2 in two parts, so k * ln2_hi is exact and r keeps its low bits.
    r[u] =
        _mm256_fmadd_ps(k[u], _mm256_set1_ps(2.12194440e-4f), _mm256_fnmadd_ps(k[u], _mm256_set1_ps(0.693359375f), ac));
  }
  const float taylor[] = {1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f};
  for (int u = 0; u < kLanes; ++u) p[u] = _mm256_set1_ps(1.0f / 5040);
  for (const float c : taylor)
    for (int u = 0; u < kLanes; ++u) p[u] = _mm256_fmadd_ps(p[u], r[u], _mm256_set1_ps(c));
  for (int u = 0; u < kLanes; ++u) {
    const __m256i power = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k[u]), _mm256_set1_epi32(127)), 23);
    out[u] = _mm256_and_ps(_mm256_mul_ps(p[u], _mm256_castsi256_ps(power)), in_range[u]);
  }
}

// Phi(x), the standard normal CDF, and (with kDensity) its density phi(x) = e^(-x^2/2) / sqrt(2 pi). With
// z = |x| / sqrt2, erfc(z) = t e^(P(t) - z^2), t = 1 / (1 + z/2) (erfc_fast's fit, in Horner's form), and
// Phi(x) = erfc(z) / 2 for x <= 0, 1 - erfc(z) / 2 above.
template <bool kDensity>
inline void normal_cdf(const Vecs x, Vecs cdf, Vecs density) {
  const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
  Vecs z2, t, p, e;
  for (int u = 0; u < kLanes; ++u) {
    const __m256 z = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x[u]), _mm256_set1_ps(kSqrtHalf));
    z2[u] = _mm256_mul_ps(z, z);
    t[u] = _mm256_div_ps(one, _mm256_fmadd_ps(half, z, one));
    p[u] = _mm256_set1_ps(0.17087277f);
  }
  const float fit[] = {-0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f, -0.18628806f,
                       0.09678418f,  0.37409196f, 1.00002368f,  -1.26551223f};
  for (const float c : fit)
    for (int u = 0; u < kLanes; ++u) p[u] = _mm256_fmadd_ps(p[u], t[u], _mm256_set1_ps(c));
  for (int u = 0; u < kLanes; ++u) p[u] = _mm256_sub_ps(p[u], z2[u]);
  exp_small(p, e);
  if (kDensity) {
    for (int u = 0; u < kLanes; ++u) p[u] = _mm256_sub_ps(_mm256_setzero_ps(), z2[u]);
    exp_small(p, density);
    for (int u = 0; u < kLanes; ++u) density[u] = _mm256_mul_ps(density[u], _mm256_set1_ps(kInvSqrt2Pi));
  }
  for (int u = 0; u < kLanes; ++u) {
    const __m256 half_tail = _mm256_mul_ps(_mm256_mul_ps(half, t[u]), e[u]);
    const __m256 positive = _mm256_cmp_ps(x[u], _mm256_setzero_ps(), _CMP_GT_OQ);
    cdf[u] = _mm256_blendv_ps(half_tail, _mm256_sub_ps(one, half_tail), positive);
  }
}

// x Phi(x) into y.
inline void gelu_forward(const Vecs x, Vecs y) {
  Vecs cdf;
  normal_cdf<false>(x, cdf, nullptr);
  for (int u = 0; u < kLanes; ++u) y[u] = _mm256_mul_ps(x[u], cdf[u]);
}

// dy times d/dx x Phi(x) = Phi(x) + x phi(x), into dx.
inline void gelu_backward(const Vecs x, const Vecs dy, Vecs dx) {
  Vecs cdf, density;
  normal_cdf<true>(x, cdf, density);
  for (int u = 0; u < kLanes; ++u) dx[u] = _mm256_mul_ps(dy[u], _mm256_fmadd_ps(x[u], density[u], cdf[u]));
}

// Calls step(i, full) for each group of kLanes x 8 floats from i, full while the group lies inside [0, n); the
// last group may be partial (see group_mask).
template <typename Step>
void for_each_group(int64_t n, const Step& step) {
  constexpr int64_t kGroup = 8 * kLanes;
  int64_t i = 0;
  for (; i + kGroup <= n; i += kGroup) step(i, true);
  if (i < n) step(i, false);
}

// The lanes of vector u of the group at i that lie below n (none when the vector starts at n or past it).
inline __m256i group_mask(int64_t i, int u, int64_t n) { return tail_mask(n - i - 8 * u); }

// out = f(x) over [0, n), f a lambda calling one of the Vecs functions (here and in elementwise_vecs.inc; a lambda,
// not the function itself, so each op gets its own copy of the loop with the call inlined).
template <typename F>
void map_groups(const float* x, float* out, int64_t n, const F& f) {
  for_each_group(n, [&](int64_t i, bool full) {
    Vecs xv, yv;
    for (int u = 0; u < kLanes; ++u) xv[u] = load(x + i + 8 * u, full, group_mask(i, u, n));
    f(xv, yv);
    for (int u = 0; u < kLanes; ++u) store(out + i + 8 * u, yv[u], full, group_mask(i, u, n));
  });
}

// dx = f(x, dy) over [0, n).
template <typename F>
void map_groups2(const float* x, const float* dy, float* dx, int64_t n, const F& f) {
  for_each_group(n, [&](int64_t i, bool full) {
    Vecs xv, gv, dxv;
    for (int u = 0; u < kLanes; ++u) {
      xv[u] = load(x + i + 8 * u, full, group_mask(i, u, n));
      gv[u] = load(dy + i + 8 * u, full, group_mask(i, u, n));
    }
    f(xv, gv, dxv);
    for (int u = 0; u < kLanes; ++u) store(dx + i + 8 * u, dxv[u], full, group_mask(i, u, n));
  });
}

#include "elementwise_vecs.inc"

}  // namespace

void binary_range_avx2(BinaryOp op, const float* a, const float* b, float* out, const BroadcastLayout& layout,
                       int64_t begin, int64_t end) {
  binary_range_chunk(op, a, b, out, layout, begin, end);
}

void unary_forward_avx2(UnaryOp op, const float* x, float* out, int64_t n, float param) {
  unary_forward_vecs(op, x, out, n, param);
}

void unary_backward_avx2(UnaryOp op, const float* x, const float* y, const float* dy, float* dx, int64_t n,
                         float param) {
  unary_backward_vecs(op, x, y, dy, dx, n, param);
}

}  // namespace tn
