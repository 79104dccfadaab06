// AVX2 helpers shared by the *_avx2.cc kernels: masked partial vectors and a horizontal sum. Include this only
// from files compiled with -mavx2 -mfma; the anonymous namespace gives every such file its own copy, so no
// AVX2 code can be linked into the generic path.
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

}  // namespace
}  // namespace tn
