// The fused AdamW step on the GPU: scalars prepared on the host in double exactly as native/cpu/adamw.cc,
// then the same order of float operations per parameter.
#include <cmath>

#include "../cpu/adamw.h"
#include "runtime.cuh"

namespace tn {
namespace {

__global__ void adamw_kernel(float* param, const float* grad, float* m, float* v, int64_t n, float decay,
                             float step_size, float bias2_sqrt, float one_minus_b1, float beta2, float one_minus_b2,
                             float eps) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float g = grad[i];
    const float mi = m[i] + one_minus_b1 * (g - m[i]);
    const float vi = beta2 * v[i] + one_minus_b2 * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = param[i] * decay - step_size * mi / (sqrtf(vi) / bias2_sqrt + eps);
  }
}

}  // namespace

void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                float eps, float weight_decay, int64_t step) {
  if (n == 0) return;
  const double bias1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bias2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  const float decay = static_cast<float>(1.0 - static_cast<double>(lr) * weight_decay);
  const float step_size = static_cast<float>(lr / bias1);
  const float bias2_sqrt = static_cast<float>(std::sqrt(bias2));
  adamw_kernel<<<grid_for(n, 256), 256, 0, cuda_stream()>>>(param, grad, m, v, n, decay, step_size, bias2_sqrt,
                                                            1.0f - beta1, beta2, 1.0f - beta2, eps);
  cuda_check_launch("adamwStep");
}

}  // namespace tn
