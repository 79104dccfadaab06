#include "adamw.h"

#include <cmath>

#include "threadpool.h"

namespace tn {

constexpr int64_t kGrain = 16384;  // parameters per thread below which splitting costs more than it saves

void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                float eps, float weight_decay, int64_t step) {
  // Scalars in double as PyTorch computes them on the host, then the same order of float operations:
  // param *= 1 - lr*wd; m += (1-b1)(g-m); v = b2 v + (1-b2) g^2; param -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps).
  const double bias1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bias2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  const float decay = static_cast<float>(1.0 - static_cast<double>(lr) * weight_decay);
  const float step_size = static_cast<float>(lr / bias1);
  const float bias2_sqrt = static_cast<float>(std::sqrt(bias2));
  const float one_minus_b1 = 1.0f - beta1, one_minus_b2 = 1.0f - beta2;
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float g = grad[i];
      const float mi = m[i] + one_minus_b1 * (g - m[i]);
      const float vi = beta2 * v[i] + one_minus_b2 * g * g;
      m[i] = mi;
      v[i] = vi;
      param[i] = param[i] * decay - step_size * mi / (std::sqrt(vi) / bias2_sqrt + eps);
    }
  });
}

}  // namespace tn
