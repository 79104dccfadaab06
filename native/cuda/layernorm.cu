// LayerNorm on the GPU, llm.c style: one warp per row for the forward and for dx; dweight/dbias are column
// sums over all rows, computed deterministically by blocks that each own 32 columns.
#include "../cpu/layernorm.h"
#include "runtime.cuh"

namespace tn {
namespace {

constexpr int kThreads = 256;
constexpr int kWarpsPerBlock = kThreads / 32;

// Two passes over the row (mean, then the mean of squared deviations): no cancellation when |mean| >> std.
__global__ void layernorm_forward_kernel(float* out, float* mean_out, float* rstd_out, const float* x,
                                         const float* weight, const float* bias, int64_t N, int64_t C, float eps) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (int64_t(gridDim.x) * blockDim.x) >> 5;
  for (int64_t row = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) >> 5; row < N; row += warps) {
    const float* xr = x + row * C;
    float sum = 0.0f;
    for (int64_t c = lane; c < C; c += 32) sum += xr[c];
    const float mean = warp_sum(sum) / static_cast<float>(C);
    float sq = 0.0f;
    for (int64_t c = lane; c < C; c += 32) {
      const float d = xr[c] - mean;
      sq += d * d;
    }
    const float var = warp_sum(sq) / static_cast<float>(C);
    const float rstd = 1.0f / sqrtf(var + eps);
    float* o = out + row * C;
    for (int64_t c = lane; c < C; c += 32) {
      float v = (xr[c] - mean) * rstd;
      if (weight) v *= weight[c];
      if (bias) v += bias[c];
      o[c] = v;
    }
    if (lane == 0) {
      mean_out[row] = mean;
      rstd_out[row] = rstd;
    }
  }
}

// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dout * weight.
__global__ void layernorm_dx_kernel(float* dx, const float* dout, const float* x, const float* weight,
                                    const float* mean, const float* rstd, int64_t N, int64_t C) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (int64_t(gridDim.x) * blockDim.x) >> 5;
  for (int64_t row = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) >> 5; row < N; row += warps) {
    const float* xr = x + row * C;
    const float* dr = dout + row * C;
    const float m = mean[row], r = rstd[row];
    float sum_g = 0.0f, sum_gx = 0.0f;
    for (int64_t c = lane; c < C; c += 32) {
      const float g = weight ? dr[c] * weight[c] : dr[c];
      sum_g += g;
      sum_gx += g * ((xr[c] - m) * r);
    }
    const float mean_g = warp_sum(sum_g) / static_cast<float>(C);
    const float mean_gx = warp_sum(sum_gx) / static_cast<float>(C);
    float* out = dx + row * C;
    for (int64_t c = lane; c < C; c += 32) {
      const float g = weight ? dr[c] * weight[c] : dr[c];
      const float xhat = (xr[c] - m) * r;
      out[c] = r * (g - mean_g - xhat * mean_gx);
    }
  }
}

// Block (32 x 8 threads) per 32 columns: each of the 8 thread rows sums every 8th row, then shared memory
// adds the 8 partial sums in a fixed order.
__global__ void layernorm_params_kernel(float* dweight, float* dbias, const float* dout, const float* x,
                                        const float* mean, const float* rstd, int64_t N, int64_t C) {
  __shared__ float part_w[8][33];
  __shared__ float part_b[8][33];
  const int tx = threadIdx.x & 31, ty = threadIdx.x >> 5;
  const int64_t c = blockIdx.x * int64_t(32) + tx;
  float sw = 0.0f, sb = 0.0f;
  if (c < C) {
    for (int64_t row = ty; row < N; row += 8) {
      const float d = dout[row * C + c];
      sb += d;
      sw += d * ((x[row * C + c] - mean[row]) * rstd[row]);
    }
  }
  part_w[ty][tx] = sw;
  part_b[ty][tx] = sb;
  __syncthreads();
  if (ty == 0 && c < C) {
    float w = 0.0f, b = 0.0f;
    for (int k = 0; k < 8; ++k) {
      w += part_w[k][tx];
      b += part_b[k][tx];
    }
    if (dweight) dweight[c] = w;
    if (dbias) dbias[c] = b;
  }
}

}  // namespace

void layernorm_forward(float* out, float* mean, float* rstd, const float* x, const float* weight, const float* bias,
                       int64_t N, int64_t C, float eps) {
  if (N == 0) return;
  layernorm_forward_kernel<<<grid_for(N, kWarpsPerBlock), kThreads, 0, cuda_stream()>>>(out, mean, rstd, x, weight,
                                                                                        bias, N, C, eps);
  cuda_check_launch("layerNormForward");
}

void layernorm_backward(float* dx, float* dweight, float* dbias, const float* dout, const float* x, const float* weight,
                        const float* mean, const float* rstd, int64_t N, int64_t C) {
  if (N > 0) {
    layernorm_dx_kernel<<<grid_for(N, kWarpsPerBlock), kThreads, 0, cuda_stream()>>>(dx, dout, x, weight, mean, rstd, N,
                                                                                     C);
    cuda_check_launch("layerNormBackward");
  }
  if (dweight || dbias) {
    layernorm_params_kernel<<<static_cast<unsigned>(ceil_div(C, 32)), 256, 0, cuda_stream()>>>(dweight, dbias, dout, x,
                                                                                               mean, rstd, N, C);
    cuda_check_launch("layerNormBackward");
  }
}

}  // namespace tn
