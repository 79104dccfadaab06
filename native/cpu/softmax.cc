#include "softmax.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "isa.h"
#include "threadpool.h"

namespace tn {
namespace {

// About 128 KiB of floats per chunk: less than that is not worth waking another thread for.
constexpr int64_t kGrainElements = 1 << 15;
// With inner > 1, a task is one [dim, width] slab of a single outer index, width <= kColumnBlock columns; the
// per-column running max and sums live on the stack.
constexpr int64_t kColumnBlock = 256;
// Below this many columns (one AVX2 vector), working across columns wastes most of each vector, so each strided
// column is copied into a contiguous buffer and run through the row kernel instead.
constexpr int64_t kMinColumns = 8;

float row_dot(const float* a, const float* b, int64_t n) {
#ifdef TN_HAVE_AVX2
  if (use_avx2_kernels()) return row_dot_avx2(a, b, n);
#endif
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return static_cast<float>(sum);
}

void row_sub_scaled_exp(float* out, const float* a, const float* y, int64_t n, float s) {
#ifdef TN_HAVE_AVX2
  if (use_avx2_kernels()) return row_sub_scaled_exp_avx2(out, a, y, n, s);
#endif
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] - s * std::exp(y[i]);
}

void cols_exp_sum(float* out, float* sum, const float* x, const float* shift, int64_t n) {
#ifdef TN_HAVE_AVX2
  if (use_avx2_kernels()) return cols_exp_sum_avx2(out, sum, x, shift, n);
#endif
  for (int64_t j = 0; j < n; ++j) {
    out[j] = std::exp(x[j] - shift[j]);
    sum[j] += out[j];
  }
}

float row_exp_sum(float* out, const float* x, int64_t n, float shift) {
#ifdef TN_HAVE_AVX2
  if (use_avx2_kernels()) return row_exp_sum_avx2(out, x, n, shift);
#endif
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    out[i] = std::exp(x[i] - shift);
    sum += out[i];
  }
  return static_cast<float>(sum);
}

void cols_sub_scaled_exp(float* out, const float* a, const float* y, const float* s, int64_t n) {
#ifdef TN_HAVE_AVX2
  if (use_avx2_kernels()) return cols_sub_scaled_exp_avx2(out, a, y, s, n);
#endif
  for (int64_t j = 0; j < n; ++j) out[j] = a[j] - s[j] * std::exp(y[j]);
}

// inner == 1: each row is contiguous. One exp per element: softmax keeps exp(x - max) in out and rescales it.
void softmax_forward_row(float* out, const float* x, int64_t dim, bool log) {
  const float max = row_max(x, dim);
  if (log) {
    const float log_sum = std::log(row_sum_exp(x, dim, max));
    for (int64_t i = 0; i < dim; ++i) out[i] = (x[i] - max) - log_sum;
  } else {
    const float inv_sum = 1.0f / row_exp_sum(out, x, dim, max);
    for (int64_t i = 0; i < dim; ++i) out[i] *= inv_sum;
  }
}

void softmax_backward_row(float* dx, const float* y, const float* dy, int64_t dim, bool log) {
  if (log) {
    row_sub_scaled_exp(dx, dy, y, dim, row_sum(dy, dim));
  } else {
    const float dot = row_dot(dy, y, dim);
    for (int64_t i = 0; i < dim; ++i) dx[i] = y[i] * (dy[i] - dot);
  }
}

// inner > 1: a [dim, width] slab with rows `inner` apart; work runs across the columns of each row.
void softmax_forward_columns(float* out, const float* x, int64_t dim, int64_t inner, int64_t width, bool log) {
  float max[kColumnBlock], sum[kColumnBlock];
  for (int64_t j = 0; j < width; ++j) {
    max[j] = x[j];
    sum[j] = 0.0f;
  }
  for (int64_t d = 1; d < dim; ++d) {
    const float* row = x + d * inner;
    for (int64_t j = 0; j < width; ++j) max[j] = row[j] > max[j] ? row[j] : max[j];
  }
  // exp(x - max) goes to out (the final answer for softmax after rescaling; scratch for log-softmax).
  for (int64_t d = 0; d < dim; ++d) cols_exp_sum(out + d * inner, sum, x + d * inner, max, width);
  if (log) {
    for (int64_t j = 0; j < width; ++j) sum[j] = std::log(sum[j]);
    for (int64_t d = 0; d < dim; ++d) {
      const float* row = x + d * inner;
      float* out_row = out + d * inner;
      for (int64_t j = 0; j < width; ++j) out_row[j] = (row[j] - max[j]) - sum[j];
    }
  } else {
    for (int64_t j = 0; j < width; ++j) sum[j] = 1.0f / sum[j];
    for (int64_t d = 0; d < dim; ++d) {
      float* out_row = out + d * inner;
      for (int64_t j = 0; j < width; ++j) out_row[j] *= sum[j];
    }
  }
}

void softmax_backward_columns(float* dx, const float* y, const float* dy, int64_t dim, int64_t inner, int64_t width,
                              bool log) {
  float acc[kColumnBlock];  // sum(dy) for log-softmax, sum(dy * y) for softmax
  for (int64_t j = 0; j < width; ++j) acc[j] = 0.0f;
  for (int64_t d = 0; d < dim; ++d) {
    const float* dy_row = dy + d * inner;
    const float* y_row = y + d * inner;
    if (log)
      for (int64_t j = 0; j < width; ++j) acc[j] += dy_row[j];
    else
      for (int64_t j = 0; j < width; ++j) acc[j] += dy_row[j] * y_row[j];
  }
  for (int64_t d = 0; d < dim; ++d) {
    const float* dy_row = dy + d * inner;
    const float* y_row = y + d * inner;
    float* dx_row = dx + d * inner;
    if (log)
      cols_sub_scaled_exp(dx_row, dy_row, y_row, acc, width);
    else
      for (int64_t j = 0; j < width; ++j) dx_row[j] = y_row[j] * (dy_row[j] - acc[j]);
  }
}

// Calls fn(offset, width) for every [dim, width] slab of [outer, dim, inner] (the whole row when inner == 1),
// spread over threads; offset is where the slab's first element sits.
template <typename Fn>
void for_each_slab(int64_t outer, int64_t dim, int64_t inner, const Fn& fn) {
  const int64_t width = std::min(inner, kColumnBlock);
  const int64_t blocks = (inner + width - 1) / width;
  const int64_t grain = std::max<int64_t>(1, kGrainElements / (dim * width));
  parallel_for(outer * blocks, grain, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t o = task / blocks, j0 = (task % blocks) * width;
      fn(o * dim * inner + j0, std::min(width, inner - j0));
    }
  });
}

// Calls fn(offset, buffer_a, buffer_b) for every column of [outer, dim, inner] (offset: its first element,
// later elements `inner` apart), spread over threads; the two buffers hold dim floats each, for the gathers.
template <typename Fn>
void for_each_column(int64_t outer, int64_t dim, int64_t inner, const Fn& fn) {
  parallel_for(outer * inner, std::max<int64_t>(1, kGrainElements / dim), [&](int64_t begin, int64_t end) {
    std::vector<float> buffers(2 * dim);
    for (int64_t c = begin; c < end; ++c)
      fn((c / inner) * dim * inner + c % inner, buffers.data(), buffers.data() + dim);
  });
}

}  // namespace

float row_max(const float* x, int64_t n) {
#ifdef TN_HAVE_AVX2
  if (use_avx2_kernels()) return row_max_avx2(x, n);
#endif
  float max = x[0];
  for (int64_t i = 1; i < n; ++i) max = x[i] > max ? x[i] : max;
  return max;
}

float row_sum(const float* x, int64_t n) {
#ifdef TN_HAVE_AVX2
  if (use_avx2_kernels()) return row_sum_avx2(x, n);
#endif
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  return static_cast<float>(sum);
}

float row_sum_exp(const float* x, int64_t n, float shift) {
#ifdef TN_HAVE_AVX2
  if (use_avx2_kernels()) return row_sum_exp_avx2(x, n, shift);
#endif
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - shift);
  return static_cast<float>(sum);
}

void row_exp_affine(float* out, const float* x, int64_t n, float shift, float scale, float add) {
#ifdef TN_HAVE_AVX2
  if (use_avx2_kernels()) return row_exp_affine_avx2(out, x, n, shift, scale, add);
#endif
  for (int64_t i = 0; i < n; ++i) out[i] = scale * std::exp(x[i] - shift) + add;
}

void softmax_forward(float* out, const float* x, int64_t outer, int64_t dim, int64_t inner, bool log) {
  if (inner > 1 && inner < kMinColumns) {
    for_each_column(outer, dim, inner, [&](int64_t offset, float* column, float*) {
      for (int64_t d = 0; d < dim; ++d) column[d] = x[offset + d * inner];
      softmax_forward_row(column, column, dim, log);
      for (int64_t d = 0; d < dim; ++d) out[offset + d * inner] = column[d];
    });
    return;
  }
  for_each_slab(outer, dim, inner, [&](int64_t offset, int64_t width) {
    if (inner == 1)
      softmax_forward_row(out + offset, x + offset, dim, log);
    else
      softmax_forward_columns(out + offset, x + offset, dim, inner, width, log);
  });
}

void softmax_backward(float* dx, const float* y, const float* dy, int64_t outer, int64_t dim, int64_t inner, bool log) {
  if (inner > 1 && inner < kMinColumns) {
    for_each_column(outer, dim, inner, [&](int64_t offset, float* y_column, float* dy_column) {
      for (int64_t d = 0; d < dim; ++d) {
        y_column[d] = y[offset + d * inner];
        dy_column[d] = dy[offset + d * inner];
      }
      softmax_backward_row(dy_column, y_column, dy_column, dim, log);
      for (int64_t d = 0; d < dim; ++d) dx[offset + d * inner] = dy_column[d];
    });
    return;
  }
  for_each_slab(outer, dim, inner, [&](int64_t offset, int64_t width) {
    if (inner == 1)
      softmax_backward_row(dx + offset, y + offset, dy + offset, dim, log);
    else
      softmax_backward_columns(dx + offset, y + offset, dy + offset, dim, inner, width, log);
  });
}

}  // namespace tn
