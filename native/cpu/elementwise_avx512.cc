// The AVX-512 build of elementwise_loops.inc: same source, vectorised 16 wide by the compiler; exact GELU, tanh,
// sigmoid and tanh-approximated GELU are written out by hand (below).
#include "elementwise_loops.inc"
#include "vec_avx512.h"

namespace tn {
namespace {

// The primitives elementwise_vecs.inc computes with, on 16-lane vectors with masks in mask registers.
constexpr int kLanes = 4;
using Vec = __m512;
using Vecs = Vec[kLanes];
inline Vec splat(float v) { return _mm512_set1_ps(v); }
inline Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec max_vec(Vec a, Vec b) { return _mm512_max_ps(a, b); }
inline Vec round_nearest(Vec a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
// 2^k for integral k in [-126, 127], built in the exponent bits.
inline Vec pow2(Vec k) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(k), _mm512_set1_epi32(127)), 23));
}
using Mask = __mmask16;
inline Mask less_than(Vec a, Vec b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
inline Mask at_least(Vec a, Vec b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
inline Mask is_nan(Vec a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
inline Vec select(Mask m, Vec if_set, Vec otherwise) { return _mm512_mask_mov_ps(otherwise, m, if_set); }
inline Vec abs_vec(Vec a) { return _mm512_abs_ps(a); }
inline Vec with_sign_of(Vec magnitude, Vec sign) {
  const __m512i sign_bit = _mm512_set1_epi32(INT32_MIN);
  return _mm512_castsi512_ps(
      _mm512_or_si512(_mm512_castps_si512(magnitude), _mm512_and_si512(_mm512_castps_si512(sign), sign_bit)));
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
