// The fused AdamW optimizer step.
#pragma once
#include <cstdint>

namespace tn {

// One step of torch.optim.AdamW over n parameters (step is 1-based): decoupled weight decay, then the Adam
// update with bias correction. Updates param, m and v in place.
void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                float eps, float weight_decay, int64_t step);

}  // namespace tn
