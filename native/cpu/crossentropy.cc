#include "crossentropy.h"

#include <algorithm>
#include <cmath>

#include "softmax.h"
#include "threadpool.h"

namespace tn {
namespace {

// About 128 KiB of floats per chunk: less than that is not worth waking another thread for.
constexpr int64_t kGrainElements = 1 << 15;

int64_t rows_per_grain(int64_t C) { return std::max<int64_t>(1, kGrainElements / C); }

}  // namespace

void crossentropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t N, int64_t C,
                          int64_t ignore_index, float label_smoothing) {
  const float e = label_smoothing;
  parallel_for(N, rows_per_grain(C), [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      const float* x = logits + n * C;
      const float max = row_max(x, C);
      const float log_sum = std::log(row_sum_exp(x, C, max));
      lse[n] = max + log_sum;
      if (targets[n] == ignore_index) {
        losses[n] = 0.0f;
        continue;
      }
      // -log p[c] = (max - x[c]) + log_sum, kept in that order so large logits do not lose the small terms.
      float loss = (1.0f - e) * ((max - x[targets[n]]) + log_sum);
      if (e > 0.0f) loss += e * ((max - row_sum(x, C) / static_cast<float>(C)) + log_sum);
      losses[n] = loss;
    }
  });
}

void crossentropy_backward(float* dlogits, const float* logits, const int32_t* targets, const float* lse,
                           const float* dlosses, int64_t N, int64_t C, int64_t ignore_index, float label_smoothing) {
  const float e = label_smoothing;
  parallel_for(N, rows_per_grain(C), [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      float* dx = dlogits + n * C;
      if (targets[n] == ignore_index) {
        std::fill(dx, dx + C, 0.0f);
        continue;
      }
      const float dl = dlosses[n];
      row_exp_affine(dx, logits + n * C, C, lse[n], dl, -dl * e / static_cast<float>(C));
      dx[targets[n]] -= dl * (1.0f - e);
    }
  });
}

}  // namespace tn
