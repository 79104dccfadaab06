// The fused AdamW optimizer step.
#pragma once
#include <cstdint>

namespace tn {

// One step of torch.optim.AdamW over n parameters (step is 1-based): decoupled weight decay, then the Adam
// update with bias correction. Updates param, m and v in place.
void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                float eps, float weight_decay, int64_t step);

// The per-step scalars of the update param = param * decay - step_size * m / (sqrt(v) / bias2_sqrt + eps).
struct AdamwScalars {
  float decay, step_size, bias2_sqrt, eps;
  float one_minus_beta1, beta2, one_minus_beta2;
};

// AVX2 twin of the element loop (adamw_avx2.cc): 8 parameters per instruction, with the same operation order.
void adamw_range_avx2(float* param, const float* grad, float* m, float* v, int64_t n, const AdamwScalars& s);

}  // namespace tn
