// The AVX-512 build of elementwise_loops.inc: same source, vectorised 16 wide by the compiler; exact GELU, tanh,
// sigmoid and tanh-approximated GELU are written out by hand (below).
#include "elementwise_loops.inc"
#include "vec_avx512.h"

namespace tn {
namespace {

// As in elementwise_avx2.cc (see there why these are written out), 16 lanes per vector, masks in mask
// registers.
constexpr int kLanes = 4;
using Vec = __m512;
using Vecs = Vec[kLanes];
inline Vec splat(float v) { return _mm512_set1_ps(v); }
inline Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
using Mask = __mmask16;
inline Mask less_than(Vec a, Vec b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
inline Mask is_nan(Vec a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
inline Vec select(Mask m, Vec if_set, Vec otherwise) { return _mm512_mask_mov_ps(otherwise, m, if_set); }
inline Vec abs_vec(Vec a) { return _mm512_abs_ps(a); }
inline Vec with_sign_of(Vec magnitude, Vec sign) {
  const __m512i sign_bit = _mm512_set1_epi32(INT32_MIN);
  return _mm512_castsi512_ps(
      _mm512_or_si512(_mm512_castps_si512(magnitude), _mm512_and_si512(_mm512_castps_si512(sign), sign_bit)));
}

// e^a for a <= ~1, 0 below ln(FLT_MIN) and for NaN (exp_small in elementwise_avx2.cc).
inline void exp_small(const Vecs a, Vecs out) {
  const __m512 lo = _mm512_set1_ps(-87.336544f);
  __mmask16 in_range[kLanes];
  Vecs k, r, p;
  for (int u = 0; u < kLanes; ++u) {
    in_range[u] = _mm512_cmp_ps_mask(a[u], lo, _CMP_GE_OQ);
    const __m512 ac = _mm512_max_ps(a[u], lo);
    k[u] = _mm512_roundscale_ps(_mm512_mul_ps(ac, _mm512_set1_ps(1.44269504f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r[u] =
        _mm512_fmadd_ps(k[u], _mm512_set1_ps(2.12194440e-4f), _mm512_fnmadd_ps(k[u], _mm512_set1_ps(0.693359375f), ac));
  }
  const float taylor[] = {1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f};
  for (int u = 0; u < kLanes; ++u) p[u] = _mm512_set1_ps(1.0f / 5040);
  for (const float c : taylor)
    for (int u = 0; u < kLanes; ++u) p[u] = _mm512_fmadd_ps(p[u], r[u], _mm512_set1_ps(c));
  for (int u = 0; u < kLanes; ++u) {
    const __m512i power = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(k[u]), _mm512_set1_epi32(127)), 23);
    out[u] = _mm512_maskz_mul_ps(in_range[u], p[u], _mm512_castsi512_ps(power));
  }
}

// Phi(x) and (with kDensity) phi(x), as normal_cdf in elementwise_avx2.cc.
template <bool kDensity>
inline void normal_cdf(const Vecs x, Vecs cdf, Vecs density) {
  const __m512 one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f);
  Vecs z2, t, p, e;
  for (int u = 0; u < kLanes; ++u) {
    const __m512 z = _mm512_mul_ps(_mm512_abs_ps(x[u]), _mm512_set1_ps(kSqrtHalf));
    z2[u] = _mm512_mul_ps(z, z);
    t[u] = _mm512_div_ps(one, _mm512_fmadd_ps(half, z, one));
    p[u] = _mm512_set1_ps(0.17087277f);
  }
  const float fit[] = {-0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f, -0.18628806f,
                       0.09678418f,  0.37409196f, 1.00002368f,  -1.26551223f};
  for (const float c : fit)
    for (int u = 0; u < kLanes; ++u) p[u] = _mm512_fmadd_ps(p[u], t[u], _mm512_set1_ps(c));
  for (int u = 0; u < kLanes; ++u) p[u] = _mm512_sub_ps(p[u], z2[u]);
  exp_small(p, e);
  if (kDensity) {
    for (int u = 0; u < kLanes; ++u) p[u] = _mm512_sub_ps(_mm512_setzero_ps(), z2[u]);
    exp_small(p, density);
    for (int u = 0; u < kLanes; ++u) density[u] = _mm512_mul_ps(density[u], _mm512_set1_ps(kInvSqrt2Pi));
  }
  for (int u = 0; u < kLanes; ++u) {
    const __m512 half_tail = _mm512_mul_ps(_mm512_mul_ps(half, t[u]), e[u]);
    const __mmask16 positive = _mm512_cmp_ps_mask(x[u], _mm512_setzero_ps(), _CMP_GT_OQ);
    cdf[u] = _mm512_mask_sub_ps(half_tail, positive, one, half_tail);
  }
}

inline void gelu_forward(const Vecs x, Vecs y) {
  normal_cdf<false>(x, y, nullptr);
  for (int v = 0; v < kLanes; ++v) y[v] = _mm512_mul_ps(x[v], y[v]);
}

// dy (Phi(x) + x phi(x)).
inline void gelu_backward(const Vecs x, const Vecs dy, Vecs dx) {
  Vecs cdf, density;
  normal_cdf<true>(x, cdf, density);
  for (int v = 0; v < kLanes; ++v) dx[v] = _mm512_mul_ps(dy[v], _mm512_fmadd_ps(x[v], density[v], cdf[v]));
}

// Calls step(i, end) for groups of kLanes x 16 floats, then once for the rest (the lanes at end and past masked).
template <typename Step>
void for_each_group(int64_t n, const Step& step) {
  constexpr int64_t kGroup = 16 * kLanes;
  int64_t i = 0;
  for (; i + kGroup <= n; i += kGroup) step(i, i + kGroup);
  if (i < n) step(i, n);
}

// out = f(x) over [0, n), f a lambda calling one of the Vecs functions (each op its own inlined loop).
template <typename F>
void map_groups(const float* x, float* out, int64_t n, const F& f) {
  for_each_group(n, [&](int64_t i, int64_t end) {
    Vecs xv, yv;
    for (int u = 0; u < kLanes; ++u) xv[u] = _mm512_maskz_loadu_ps(lanes16(end - i - 16 * u), x + i + 16 * u);
    f(xv, yv);
    for (int u = 0; u < kLanes; ++u) _mm512_mask_storeu_ps(out + i + 16 * u, lanes16(end - i - 16 * u), yv[u]);
  });
}

// dx = f(x, dy) over [0, n).
template <typename F>
void map_groups2(const float* x, const float* dy, float* dx, int64_t n, const F& f) {
  for_each_group(n, [&](int64_t i, int64_t end) {
    Vecs xv, gv, dxv;
    for (int u = 0; u < kLanes; ++u) {
      const __mmask16 m = lanes16(end - i - 16 * u);
      xv[u] = _mm512_maskz_loadu_ps(m, x + i + 16 * u);
      gv[u] = _mm512_maskz_loadu_ps(m, dy + i + 16 * u);
    }
    f(xv, gv, dxv);
    for (int u = 0; u < kLanes; ++u) _mm512_mask_storeu_ps(dx + i + 16 * u, lanes16(end - i - 16 * u), dxv[u]);
  });
}

#include "elementwise_vecs.inc"

}  // namespace

void binary_range_avx512(BinaryOp op, const float* a, const float* b, float* out, const BroadcastLayout& layout,
                         int64_t begin, int64_t end) {
  binary_range_chunk(op, a, b, out, layout, begin, end);
}

void unary_forward_avx512(UnaryOp op, const float* x, float* out, int64_t n, float param) {
  unary_forward_vecs(op, x, out, n, param);
}

void unary_backward_avx512(UnaryOp op, const float* x, const float* y, const float* dy, float* dx, int64_t n,
                           float param) {
  unary_backward_vecs(op, x, y, dy, dx, n, param);
}

}  // namespace tn
