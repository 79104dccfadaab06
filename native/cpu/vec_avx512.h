// AVX-512 helpers shared by the *_avx512.cc kernels. Include this only from files compiled with AVX-512; the
// anonymous namespace gives every such file its own copy, so no AVX-512 code can be linked into another path.
#pragma once
#include <immintrin.h>

#include <cstdint>

// g++ 12's 512-bit intrinsics start many results from an _mm512_undefined_*() value, which it then reports as
// (maybe) used uninitialised wherever they are inlined; the lanes in question are always overwritten.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace tn {
namespace {

// The first n lanes (n clamped to [0, 16]), for the masked loads and stores that keep a tile inside its
// operands at their edges.
inline __mmask16 lanes16(int64_t n) {
  if (n <= 0) return 0;
  if (n >= 16) return 0xFFFF;
  return static_cast<__mmask16>((1u << n) - 1);
}

}  // namespace
}  // namespace tn
