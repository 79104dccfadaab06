// Strided copy of 4-byte elements: permute/contiguous, slices, concatenation and expand are all this.
#pragma once
#include <cstdint>

namespace tn {

// dst[dst_strides . idx] = src[src_strides . idx] for every index idx of `shape` (ndim <= 8 dims, strides in
// elements, >= 0). Copies bits, so it serves float32 and int32 alike.
void copy_strided(const uint32_t* src, const int64_t* src_strides, uint32_t* dst, const int64_t* dst_strides,
                  const int64_t* shape, int ndim);

}  // namespace tn
