// The AVX-512 build of elementwise_loops.inc: same source, vectorised 16 wide by the compiler; exact GELU, tanh,
// sigmoid and tanh-approximated GELU are written out by hand (below).
#include "elementwise_loops.inc"
#include "vec_avx512.h"

namespace tn {
namespace {

// As in elementwise_avx2.cc (see there why these are written out), 16 lanes per vector, masks in mask
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

// sigmoid(u) with e = e^-|u|: 1 / (1 + e) for u >= 0, e / (1 + e) below; NaN stays NaN (sigmoid_vecs in
// elementwise_avx2.cc).
inline void sigmoid_vecs(const Vecs u, Vecs out) {
  const __m512 one = _mm512_set1_ps(1.0f);
  Vecs e;
  for (int v = 0; v < kLanes; ++v) e[v] = _mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(u[v]));
  exp_small(e, e);
  for (int v = 0; v < kLanes; ++v) {
    const __m512 r = _mm512_div_ps(one, _mm512_add_ps(one, e[v]));
    const __mmask16 negative = _mm512_cmp_ps_mask(u[v], _mm512_setzero_ps(), _CMP_LT_OQ);
    const __m512 s = _mm512_mask_mul_ps(r, negative, e[v], r);
    out[v] = _mm512_mask_mov_ps(s, _mm512_cmp_ps_mask(u[v], u[v], _CMP_UNORD_Q), u[v]);
  }
}

// tanh: the odd series to x^15 below |x| = 0.55, 1 - 2e / (1 + e) with e = e^-2|x| above (tanh_vecs in
// elementwise_avx2.cc).
inline void tanh_vecs(const Vecs x, Vecs out) {
  const __m512 one = _mm512_set1_ps(1.0f);
  Vecs e, small;
  for (int v = 0; v < kLanes; ++v) {
    e[v] = _mm512_mul_ps(_mm512_abs_ps(x[v]), _mm512_set1_ps(-2.0f));
    const __m512 x2 = _mm512_mul_ps(x[v], x[v]), x4 = _mm512_mul_ps(x2, x2);
    const __m512 p01 = _mm512_fmadd_ps(x2, _mm512_set1_ps(2.0f / 15), _mm512_set1_ps(-1.0f / 3));
    const __m512 p23 = _mm512_fmadd_ps(x2, _mm512_set1_ps(62.0f / 2835), _mm512_set1_ps(-17.0f / 315));
    const __m512 p45 = _mm512_fmadd_ps(x2, _mm512_set1_ps(21844.0f / 6081075), _mm512_set1_ps(-1382.0f / 155925));
    const __m512 p67 = _mm512_fmadd_ps(x4, _mm512_set1_ps(-929569.0f / 638512875), p45);
    const __m512 p = _mm512_fmadd_ps(_mm512_mul_ps(x4, x4), p67, _mm512_fmadd_ps(x4, p23, p01));
    small[v] = _mm512_fmadd_ps(_mm512_mul_ps(x[v], x2), p, x[v]);
  }
  exp_small(e, e);
  const __m512i sign = _mm512_set1_epi32(INT32_MIN);
  for (int v = 0; v < kLanes; ++v) {
    // 1 - 2e / (1 + e) rather than (1 - e) / (1 + e): one rounding near 1, where tanh' = 1 - tanh^2 is read off it.
    const __m512 t = _mm512_sub_ps(one, _mm512_div_ps(_mm512_add_ps(e[v], e[v]), _mm512_add_ps(one, e[v])));
    const __m512 large =
        _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(t), _mm512_and_si512(_mm512_castps_si512(x[v]), sign)));
    const __mmask16 below = _mm512_cmp_ps_mask(_mm512_abs_ps(x[v]), _mm512_set1_ps(0.55f), _CMP_LT_OQ);
    const __m512 r = _mm512_mask_mov_ps(large, below, small[v]);
    out[v] = _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(x[v], x[v], _CMP_UNORD_Q), x[v]);
  }
}

// The tanh-approximated GELU's gate sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3).
inline void gelu_tanh_gate_vecs(const Vecs x, Vecs gate) {
  Vecs u2;
  for (int v = 0; v < kLanes; ++v) {
    const __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x[v], x[v]), x[v]);
    u2[v] = _mm512_mul_ps(_mm512_set1_ps(2.0f * kGeluTanhK), _mm512_fmadd_ps(_mm512_set1_ps(kGeluTanhC), x3, x[v]));
  }
  sigmoid_vecs(u2, gate);
}

inline void gelu_tanh_forward(const Vecs x, Vecs y) {
  gelu_tanh_gate_vecs(x, y);
  for (int v = 0; v < kLanes; ++v) y[v] = _mm512_mul_ps(x[v], y[v]);
}

// dy (s + 2 x s (1 - s) u'(x)), s the gate, u' = sqrt(2/pi) (1 + 3 0.044715 x^2).
inline void gelu_tanh_backward(const Vecs x, const Vecs dy, Vecs dx) {
  const __m512 one = _mm512_set1_ps(1.0f);
  Vecs s;
  gelu_tanh_gate_vecs(x, s);
  for (int v = 0; v < kLanes; ++v) {
    const __m512 du = _mm512_mul_ps(_mm512_set1_ps(kGeluTanhK),
                                    _mm512_fmadd_ps(_mm512_set1_ps(3.0f * kGeluTanhC), _mm512_mul_ps(x[v], x[v]), one));
    const __m512 slope = _mm512_mul_ps(_mm512_mul_ps(_mm512_add_ps(x[v], x[v]), s[v]), _mm512_sub_ps(one, s[v]));
    dx[v] = _mm512_mul_ps(dy[v], _mm512_fmadd_ps(slope, du, s[v]));
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

// out = f(x) over [0, n), f a lambda calling one of the Vecs functions above (each op its own inlined loop).
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

}  // namespace

void binary_range_avx512(BinaryOp op, const float* a, const float* b, float* out, const BroadcastLayout& layout,
                         int64_t begin, int64_t end) {
  binary_range_chunk(op, a, b, out, layout, begin, end);
}

void unary_forward_avx512(UnaryOp op, const float* x, float* out, int64_t n, float param) {
  switch (op) {
    case UnaryOp::gelu:
      return map_groups(x, out, n, [](const Vecs a, Vecs b) { gelu_forward(a, b); });
    case UnaryOp::gelu_tanh:
      return map_groups(x, out, n, [](const Vecs a, Vecs b) { gelu_tanh_forward(a, b); });
    case UnaryOp::tanh:
      return map_groups(x, out, n, [](const Vecs a, Vecs b) { tanh_vecs(a, b); });
    case UnaryOp::sigmoid:
      return map_groups(x, out, n, [](const Vecs a, Vecs b) { sigmoid_vecs(a, b); });
    default:
      return unary_forward_chunk(op, x, out, n, param);
  }
}

void unary_backward_avx512(UnaryOp op, const float* x, const float* y, const float* dy, float* dx, int64_t n,
                           float param) {
  if (op == UnaryOp::gelu)
    return map_groups2(x, dy, dx, n, [](const Vecs a, const Vecs g, Vecs d) { gelu_backward(a, g, d); });
  if (op == UnaryOp::gelu_tanh)
    return map_groups2(x, dy, dx, n, [](const Vecs a, const Vecs g, Vecs d) { gelu_tanh_backward(a, g, d); });
  unary_backward_chunk(op, x, y, dy, dx, n, param);
}

}  // namespace tn
