// Token embedding lookup and its backward.
#pragma once
#include <cstdint>

namespace tn {

// out[n, :] = weight[ids[n], :] for weight [V, C]; every id must lie in [0, V).
void embedding_forward(const float* weight, const int32_t* ids, float* out, int64_t N, int64_t C);

// dweight[ids[n], :] += dout[n, :], skipping ids equal to padding_idx (-1: none). Deterministic: each thread
// owns a range of columns and walks the tokens in order.
void embedding_backward(const float* dout, const int32_t* ids, float* dweight, int64_t N, int64_t C,
                        int64_t padding_idx);

}  // namespace tn
