#include "embedding.h"

#include <algorithm>
#include <cstring>

#include "threadpool.h"

namespace tn {

constexpr int64_t kGrain = 32768;  // floats moved per thread below which splitting costs more than it saves

void embedding_forward(const float* weight, const int32_t* ids, float* out, int64_t N, int64_t C) {
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, C));
  parallel_for(N, grain, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) std::memcpy(out + n * C, weight + ids[n] * C, C * sizeof(float));
  });
}

void embedding_backward(const float* dout, const int32_t* ids, float* dweight, int64_t N, int64_t C,
                        int64_t padding_idx) {
  // Splitting the columns (not the tokens) means two threads never add into the same element, and each
  // element receives its tokens' gradients in token order whatever the thread count. The columns go in blocks
  // of 16 (a 64-byte line of a row that starts on one): split at any other column, two threads wrote into the
  // same lines of every row they touched, and 2 threads ran 5x slower than one (1,536 ids of 256 columns).
  constexpr int64_t kColumnBlock = 16;
  const int64_t blocks = (C + kColumnBlock - 1) / kColumnBlock;
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, N * kColumnBlock));
  parallel_for(blocks, grain, [&](int64_t b0, int64_t b1) {
    const int64_t c0 = b0 * kColumnBlock, c1 = std::min(C, b1 * kColumnBlock);
    for (int64_t n = 0; n < N; ++n) {
      if (ids[n] == padding_idx) continue;
      const float* src = dout + n * C;
      float* dst = dweight + ids[n] * C;
      for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
    }
  });
}

}  // namespace tn
