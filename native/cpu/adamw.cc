#include "adamw.h"

#include <cmath>

#include "isa.h"
#include "threadpool.h"

namespace tn {
namespace {

constexpr int64_t kGrain = 16384;  // parameters per thread below which splitting costs more than it saves

void adamw_range(float* param, const float* grad, float* m, float* v, int64_t n, const AdamwScalars& s) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    const float mi = m[i] + s.one_minus_beta1 * (g - m[i]);
    const float vi = s.beta2 * v[i] + s.one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = param[i] * s.decay - s.step_size * mi / (std::sqrt(vi) / s.bias2_sqrt + s.eps);
  }
}

}  // namespace

void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                float eps, float weight_decay, int64_t step) {
  // Scalars in double as PyTorch computes them on the host, then its order of float operations:
  // param *= 1 - lr*wd; m += (1-b1)(g-m); v = b2 v + (1-b2) g^2; param -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps).
  const double bias1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bias2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  const AdamwScalars s{static_cast<float>(1.0 - static_cast<double>(lr) * weight_decay),
                       static_cast<float>(lr / bias1),
                       static_cast<float>(std::sqrt(bias2)),
                       eps,
                       1.0f - beta1,
                       beta2,
                       1.0f - beta2};
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
#ifdef TN_HAVE_AVX2
    if (use_avx2_kernels()) return adamw_range_avx2(param + begin, grad + begin, m + begin, v + begin, end - begin, s);
#endif
    adamw_range(param + begin, grad + begin, m + begin, v + begin, end - begin, s);
  });
}

}  // namespace tn
