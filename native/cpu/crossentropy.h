// Cross-entropy of logits [N, C] against int32 class targets, with PyTorch's ignore_index and label smoothing.
#pragma once
#include <cstdint>

namespace tn {

// loss[n] = (1 - e) * (lse - x[t]) + e / C * sum_c (lse - x[c]) with lse = log(sum_c exp(x[c])); rows whose
// target equals ignore_index get loss 0. Writes losses [N] and lse [N]. Every other target must be in [0, C)
// (the caller checks).
void crossentropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t N, int64_t C,
                          int64_t ignore_index, float label_smoothing);
// dlogits[n] = dlosses[n] * (softmax(x) - (1 - e) * onehot(t) - e / C); ignored rows get 0. Overwrites dlogits.
void crossentropy_backward(float* dlogits, const float* logits, const int32_t* targets, const float* lse,
                           const float* dlosses, int64_t N, int64_t C, int64_t ignore_index, float label_smoothing);

}  // namespace tn
