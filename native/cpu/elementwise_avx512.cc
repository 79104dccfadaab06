// The AVX-512 build of elementwise_loops.inc: same source, vectorised 16 wide by the compiler; exact GELU is
// written out by hand (below).
#include "elementwise_loops.inc"
#include "vec_avx512.h"

namespace tn {
namespace {

// Exact GELU as in elementwise_avx2.cc (see there why it is written out), 16 lanes per vector, masks in mask
// registers.
constexpr int kLanes = 4;
using Vecs = __m512[kLanes];

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

// Calls step(i, end) for groups of kLanes x 16 floats, then once for the rest (the lanes at end and past masked).
template <typename Step>
void for_each_group(int64_t n, const Step& step) {
  constexpr int64_t kGroup = 16 * kLanes;
  int64_t i = 0;
  for (; i + kGroup <= n; i += kGroup) step(i, i + kGroup);
  if (i < n) step(i, n);
}

void gelu_forward_avx512(const float* x, float* out, int64_t n) {
  for_each_group(n, [&](int64_t i, int64_t end) {
    Vecs xv, cdf;
    for (int u = 0; u < kLanes; ++u) xv[u] = _mm512_maskz_loadu_ps(lanes16(end - i - 16 * u), x + i + 16 * u);
    normal_cdf<false>(xv, cdf, nullptr);
    for (int u = 0; u < kLanes; ++u)
      _mm512_mask_storeu_ps(out + i + 16 * u, lanes16(end - i - 16 * u), _mm512_mul_ps(xv[u], cdf[u]));
  });
}

// dy (Phi(x) + x phi(x)).
void gelu_backward_avx512(const float* x, const float* dy, float* dx, int64_t n) {
  for_each_group(n, [&](int64_t i, int64_t end) {
    Vecs xv, cdf, density;
    for (int u = 0; u < kLanes; ++u) xv[u] = _mm512_maskz_loadu_ps(lanes16(end - i - 16 * u), x + i + 16 * u);
    normal_cdf<true>(xv, cdf, density);
    for (int u = 0; u < kLanes; ++u) {
      const __mmask16 m = lanes16(end - i - 16 * u);
      const __m512 g = _mm512_maskz_loadu_ps(m, dy + i + 16 * u);
      _mm512_mask_storeu_ps(dx + i + 16 * u, m, _mm512_mul_ps(g, _mm512_fmadd_ps(xv[u], density[u], cdf[u])));
    }
  });
}

}  // namespace

void binary_range_avx512(BinaryOp op, const float* a, const float* b, float* out, const BroadcastLayout& layout,
                         int64_t begin, int64_t end) {
  binary_range_chunk(op, a, b, out, layout, begin, end);
}

void unary_forward_avx512(UnaryOp op, const float* x, float* out, int64_t n, float param) {
  if (op == UnaryOp::gelu) return gelu_forward_avx512(x, out, n);
  unary_forward_chunk(op, x, out, n, param);
}

void unary_backward_avx512(UnaryOp op, const float* x, const float* y, const float* dy, float* dx, int64_t n,
                           float param) {
  if (op == UnaryOp::gelu) return gelu_backward_avx512(x, dy, dx, n);
  unary_backward_chunk(op, x, y, dy, dx, n, param);
}

}  // namespace tn
