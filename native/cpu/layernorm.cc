#include "layernorm.h"

#include <algorithm>
#include <cmath>

#include "chunk_rows.h"
#include "isa.h"
#include "threadpool.h"

namespace tn {
namespace {

// About 128 KiB of floats per chunk: less than that is not worth waking another thread for.
constexpr int64_t kGrainElements = 1 << 15;

int64_t rows_per_grain(int64_t C) { return std::max<int64_t>(1, kGrainElements / C); }

void forward_row(float* out, float* mean_out, float* rstd_out, const float* x, const float* weight, const float* bias,
                 int64_t C, float eps) {
  // Sums of (x - x[0]) instead of x, so E[d^2] - E[d]^2 does not cancel when |mean| >> std. One pass for the
  // statistics, one for the output.
  const double shift = x[0];
  double sum = 0, sum_sq = 0;
  for (int64_t i = 0; i < C; ++i) {
    const double d = x[i] - shift;
    sum += d;
    sum_sq += d * d;
  }
  const double mean_d = sum / static_cast<double>(C);
  const double var = std::max(0.0, sum_sq / static_cast<double>(C) - mean_d * mean_d);
  const float mean = static_cast<float>(shift + mean_d);
  const float rstd = static_cast<float>(1.0 / std::sqrt(var + eps));
  for (int64_t i = 0; i < C; ++i) {
    float v = (x[i] - mean) * rstd;
    if (weight) v *= weight[i];
    if (bias) v += bias[i];
    out[i] = v;
  }
  *mean_out = mean;
  *rstd_out = rstd;
}

void backward_row(float* dx, float* dweight_acc, float* dbias_acc, const float* dout, const float* x,
                  const float* weight, float mean, float rstd, int64_t C) {
  // With xhat = (x - mean) * rstd and g = dout * weight:
  // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
  double sum_g = 0, sum_g_xhat = 0;
  for (int64_t i = 0; i < C; ++i) {
    const float xhat = (x[i] - mean) * rstd;
    const float g = weight ? dout[i] * weight[i] : dout[i];
    sum_g += g;
    sum_g_xhat += g * xhat;
    if (dweight_acc) dweight_acc[i] += dout[i] * xhat;
    if (dbias_acc) dbias_acc[i] += dout[i];
  }
  const float mean_g = static_cast<float>(sum_g / static_cast<double>(C));
  const float mean_g_xhat = static_cast<float>(sum_g_xhat / static_cast<double>(C));
  for (int64_t i = 0; i < C; ++i) {
    const float xhat = (x[i] - mean) * rstd;
    const float g = weight ? dout[i] * weight[i] : dout[i];
    dx[i] = rstd * (g - mean_g - xhat * mean_g_xhat);
  }
}

// AVX-512 rows are faster while a call's rows come from cache, but the AVX2 rows stream them from DRAM faster on
// one core: above this many bytes per array the AVX2 rows run.
constexpr int64_t kAvx512MaxBytes = int64_t(16) << 20;

bool use_avx512_rows(int64_t N, int64_t C) {
#ifdef TN_HAVE_AVX512
  return active_isa() == Isa::avx512 && N * C * 4 <= kAvx512MaxBytes;
#else
  (void)N;
  (void)C;
  return false;
#endif
}

// The row kernels of the active path for N rows of C.
struct RowKernels {
  decltype(&forward_row) forward;
  decltype(&backward_row) backward;
};

RowKernels row_kernels(int64_t N, int64_t C) {
#ifdef TN_HAVE_AVX512
  if (use_avx512_rows(N, C)) return {layernorm_forward_row_avx512, layernorm_backward_row_avx512};
#endif
#ifdef TN_HAVE_AVX2
  if (use_avx2_kernels()) return {layernorm_forward_row_avx2, layernorm_backward_row_avx2};
#endif
  return {forward_row, backward_row};
}

}  // namespace

void layernorm_forward(float* out, float* mean, float* rstd, const float* x, const float* weight, const float* bias,
                       int64_t N, int64_t C, float eps) {
  const auto row = row_kernels(N, C).forward;
  parallel_for(N, rows_per_grain(C), [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) row(out + n * C, mean + n, rstd + n, x + n * C, weight, bias, C, eps);
  });
}

void layernorm_backward(float* dx, float* dweight, float* dbias, const float* dout, const float* x, const float* weight,
                        const float* mean, const float* rstd, int64_t N, int64_t C) {
  // Rows are split into a fixed number of chunks, each summing dweight/dbias into its own buffer; the buffers
  // are then added in chunk order, so the result depends only on the thread count, not on timing.
  const int64_t chunks =
      std::max<int64_t>(1, std::min<int64_t>(num_threads(), (N + rows_per_grain(C) - 1) / rows_per_grain(C)));
  const int64_t rows_per_chunk = (N + chunks - 1) / chunks;
  ChunkRows partial_dweight(dweight ? chunks : 0, C);
  ChunkRows partial_dbias(dbias ? chunks : 0, C);
  const auto row = row_kernels(N, C).backward;
  parallel_for(chunks, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
    for (int64_t k = chunk_begin; k < chunk_end; ++k) {
      float* dweight_acc = dweight ? partial_dweight.row(k) : nullptr;
      float* dbias_acc = dbias ? partial_dbias.row(k) : nullptr;
      const int64_t row_end = std::min(N, (k + 1) * rows_per_chunk);
      for (int64_t n = k * rows_per_chunk; n < row_end; ++n)
        row(dx + n * C, dweight_acc, dbias_acc, dout + n * C, x + n * C, weight, mean[n], rstd[n], C);
    }
  });
  for (int64_t c = 0; c < C; ++c) {
    float dw = 0, db = 0;
    for (int64_t k = 0; k < chunks; ++k) {
      if (dweight) dw += partial_dweight.row(k)[c];
      if (dbias) db += partial_dbias.row(k)[c];
    }
    if (dweight) dweight[c] = dw;
    if (dbias) dbias[c] = db;
  }
}

}  // namespace tn
