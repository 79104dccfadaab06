// Cross-entropy with ignore_index and label smoothing on the GPU: one block per row of logits [N, C].
#include "../cpu/crossentropy.h"
#include "runtime.cuh"

namespace tn {
namespace {

constexpr int kThreads = 256;

__global__ void crossentropy_forward_kernel(float* losses, float* lse, const float* logits, const int32_t* targets,
                                            int64_t N, int64_t C, int64_t ignore_index, float e) {
  __shared__ float partial[32];
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    const float* x = logits + n * C;
    float m = -INFINITY;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) m = fmaxf(m, x[c]);
    m = block_max(m, partial);
    __syncthreads();
    float s = 0.0f, total = 0.0f;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
      s += expf(x[c] - m);
      total += x[c];
    }
    s = block_sum(s, partial);
    __syncthreads();
    if (e > 0.0f) total = block_sum(total, partial);
    __syncthreads();
    if (threadIdx.x == 0) {
      const float log_sum = logf(s);
      lse[n] = m + log_sum;
      const int64_t t = targets[n];
      if (t == ignore_index) {
        losses[n] = 0.0f;
      } else {
        // -log p[c] = (max - x[c]) + log_sum, in that order as on the CPU.
        float loss = (1.0f - e) * ((m - x[t]) + log_sum);
        if (e > 0.0f) loss += e * ((m - total / static_cast<float>(C)) + log_sum);
        losses[n] = loss;
      }
    }
  }
}

// dlogits = dl * (softmax(x) - (1 - e) * onehot(t) - e / C); ignored rows get 0.
__global__ void crossentropy_backward_kernel(float* dlogits, const float* logits, const int32_t* targets,
                                             const float* lse, const float* dlosses, int64_t N, int64_t C,
                                             int64_t ignore_index, float e) {
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    float* dx = dlogits + n * C;
    const int64_t t = targets[n];
    if (t == ignore_index) {
      for (int64_t c = threadIdx.x; c < C; c += blockDim.x) dx[c] = 0.0f;
      continue;
    }
    const float* x = logits + n * C;
    const float dl = dlosses[n], shift = lse[n], add = -dl * e / static_cast<float>(C);
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
      float v = dl * expf(x[c] - shift) + add;
      if (c == t) v -= dl * (1.0f - e);
      dx[c] = v;
    }
  }
}

unsigned row_blocks(int64_t rows) { return static_cast<unsigned>(rows < 65535 * 8 ? rows : 65535 * 8); }

}  // namespace

void crossentropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t N, int64_t C,
                          int64_t ignore_index, float label_smoothing) {
  if (N == 0) return;
  crossentropy_forward_kernel<<<row_blocks(N), kThreads, 0, cuda_stream()>>>(losses, lse, logits, targets, N, C,
                                                                             ignore_index, label_smoothing);
  cuda_check_launch("crossEntropyForward");
}

void crossentropy_backward(float* dlogits, const float* logits, const int32_t* targets, const float* lse,
                           const float* dlosses, int64_t N, int64_t C, int64_t ignore_index, float label_smoothing) {
  if (N == 0) return;
  crossentropy_backward_kernel<<<row_blocks(N), kThreads, 0, cuda_stream()>>>(dlogits, logits, targets, lse, dlosses, N,
                                                                              C, ignore_index, label_smoothing);
  cuda_check_launch("crossEntropyBackward");
}

}  // namespace tn
