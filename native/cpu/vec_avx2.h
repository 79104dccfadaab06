// AVX2 helpers shared by the *_avx2.cc and *_avx512.cc kernels: masked partial vectors, a horizontal sum and an
// 8 x 8 transpose. Include this only from files compiled with -mavx2 -mfma (or wider); the anonymous namespace
// gives every such file its own copy, so no AVX2 code can be linked into the generic path.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace tn {
namespace {

// Lanes [0, rem) set, so a row's last partial vector is loaded and stored without touching memory past it.
inline __m256i tail_mask(int64_t rem) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rem)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Calls body(i, full, mask) for each 8-float step of [0, n): full steps in the loop, where `full` is a
// constant after inlining, then the partial last step with its lane mask. Masked-off lanes load as 0.
template <typename Body>
inline void for_each_vector(int64_t n, const Body& body) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) body(i, true, _mm256_setzero_si256());
  if (i < n) body(i, false, tail_mask(n - i));
}

inline __m256 load(const float* p, bool full, __m256i mask) {
  return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask);
}

inline void store(float* p, __m256 v, bool full, __m256i mask) {
  if (full)
    _mm256_storeu_ps(p, v);
  else
    _mm256_maskstore_ps(p, mask, v);
}

// v with the masked-off lanes of a partial step zeroed, so they add nothing to a sum.
inline __m256 keep(__m256 v, bool full, __m256i mask) { return full ? v : _mm256_and_ps(v, _mm256_castsi256_ps(mask)); }

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Transposes eight rows of eight floats: afterwards v[k] holds what was column k.
inline void transpose8x8(__m256 v[8]) {
  // Interleave pairs of rows, then pairs of pairs, within each 128-bit half; then swap the halves across.
  const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
  const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
  const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
  const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
  const __m256 q0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 q1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 q2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 q3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 q4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 q5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 q6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 q7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  v[0] = _mm256_permute2f128_ps(q0, q4, 0x20);
  v[1] = _mm256_permute2f128_ps(q1, q5, 0x20);
  v[2] = _mm256_permute2f128_ps(q2, q6, 0x20);
  v[3] = _mm256_permute2f128_ps(q3, q7, 0x20);
  v[4] = _mm256_permute2f128_ps(q0, q4, 0x31);
  v[5] = _mm256_permute2f128_ps(q1, q5, 0x31);
  v[6] = _mm256_permute2f128_ps(q2, q6, 0x31);
  v[7] = _mm256_permute2f128_ps(q3, q7, 0x31);
}

}  // namespace
}  // namespace tn
