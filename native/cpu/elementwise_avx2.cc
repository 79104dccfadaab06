// The AVX2+FMA build of elementwise_loops.inc: same source, vectorised 8 wide by the compiler; exact GELU, tanh,
// sigmoid and tanh-approximated GELU are written out by hand (below).
#include "elementwise_loops.inc"
#include "vec_avx2.h"

namespace tn {
namespace {

// The primitives elementwise_vecs.inc computes with, on 8-lane vectors; its ops take kLanes of them at a time.
constexpr int kLanes = 4;
using Vec = __m256;
using Vecs = Vec[kLanes];
inline Vec splat(float v) { return _mm256_set1_ps(v); }
inline Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec max_vec(Vec a, Vec b) { return _mm256_max_ps(a, b); }
inline Vec round_nearest(Vec a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
// 2^k for integral k in [-126, 127], built in the exponent bits.
inline Vec pow2(Vec k) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23));
}
// Lane masks are vectors of all-ones or zero lanes on AVX2.
using Mask = __m256;
inline Mask less_than(Vec a, Vec b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
inline Mask at_least(Vec a, Vec b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
inline Mask is_nan(Vec a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
inline Vec select(Mask m, Vec if_set, Vec otherwise) { return _mm256_blendv_ps(otherwise, if_set, m); }
inline Vec abs_vec(Vec a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
inline Vec with_sign_of(Vec magnitude, Vec sign) {
  return _mm256_or_ps(magnitude, _mm256_and_ps(sign, _mm256_set1_ps(-0.0f)));
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
