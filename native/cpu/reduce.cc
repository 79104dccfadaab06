#include "reduce.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "chunk_rows.h"
#include "isa.h"
#include "reduce_sum.inc"
#include "threadpool.h"

namespace tn {
namespace {

constexpr int64_t kGrain = 32768;  // elements read per thread below which splitting costs more than it saves
constexpr int64_t kBlock = 256;    // columns of the inner axis one task reduces side by side
// A sum over the middle axis adds whole rows of up to kSumColumns (16 KiB of sums, kept in L1), so x is read
// straight through; 256-column blocks read it in short strided runs at a fraction of the memory bandwidth
// (bias gradients are such sums). The rows are cut into chunks of kSumRows,
// each chunk's partial sums added in chunk order: threads share the work and the result does not depend on
// their number.
constexpr int64_t kSumColumns = 4096;
constexpr int64_t kSumRows = 256;

// The row sum of the active path (the same bits on every path).
float row_sum(const float* x, int64_t n) {
#ifdef TN_HAVE_AVX2
  if (use_avx2_kernels()) return sum_contiguous_avx2(x, n);
#endif
  return sum_contiguous(x, n);
}

// v replaces best when strictly better, or when it is the first NaN: ties keep the first winner.
inline bool beats_max(float v, float best) { return v > best || (v != v && best == best); }
inline bool beats_min(float v, float best) { return v < best || (v != v && best == best); }

template <bool is_max>
void extreme_row(const float* x, int64_t dim, float* out, int32_t* index) {
  float best = x[0];
  int32_t at = 0;
  for (int64_t d = 1; d < dim; ++d) {
    const float v = x[d];
    if (is_max ? beats_max(v, best) : beats_min(v, best)) {
      best = v;
      at = static_cast<int32_t>(d);
    }
  }
  if (out) *out = best;
  if (index) *index = at;
}

// Columns [0, len) of the block starting at x (row stride `inner`), reduced over dim rows.
template <bool is_max>
void extreme_block(const float* x, int64_t dim, int64_t inner, int64_t len, float* out, int32_t* index) {
  float best[kBlock];
  int32_t at[kBlock];
  for (int64_t i = 0; i < len; ++i) {
    best[i] = x[i];
    at[i] = 0;
  }
  for (int64_t d = 1; d < dim; ++d) {
    const float* row = x + d * inner;
    for (int64_t i = 0; i < len; ++i) {
      const float v = row[i];
      if (is_max ? beats_max(v, best[i]) : beats_min(v, best[i])) {
        best[i] = v;
        at[i] = static_cast<int32_t>(d);
      }
    }
  }
  if (out) std::memcpy(out, best, len * sizeof(float));
  if (index) std::memcpy(index, at, len * sizeof(int32_t));
}

void sum_block(const float* __restrict x, int64_t dim, int64_t inner, int64_t len, float* __restrict out) {
  for (int64_t i = 0; i < len; ++i) out[i] = 0.0f;
  for (int64_t d = 0; d < dim; ++d) {
    const float* row = x + d * inner;
    for (int64_t i = 0; i < len; ++i) out[i] += row[i];
  }
}

}  // namespace

void reduce_forward(ReduceOp op, const float* x, float* out, int32_t* indices, int64_t outer, int64_t dim,
                    int64_t inner) {
  const bool is_sum = op == ReduceOp::sum || op == ReduceOp::mean;
  const bool is_max = op == ReduceOp::max || op == ReduceOp::argmax;
  if (op == ReduceOp::argmax) out = nullptr;
  // mean divides (rather than multiplies by 1/dim) to match a float division exactly; dim 0 gives NaN as 0/0.
  const float count = static_cast<float>(dim);
  if (inner == 1) {
    const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, dim));
    parallel_for(outer, grain, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) {
        const float* row = x + o * dim;
        if (is_sum) {
          const float s = row_sum(row, dim);
          out[o] = op == ReduceOp::mean ? s / count : s;
        } else if (is_max) {
          extreme_row<true>(row, dim, out ? out + o : nullptr, indices ? indices + o : nullptr);
        } else {
          extreme_row<false>(row, dim, out ? out + o : nullptr, indices ? indices + o : nullptr);
        }
      }
    });
    return;
  }
  if (is_sum) {
    const int64_t blocks = (inner + kSumColumns - 1) / kSumColumns;
    const int64_t chunks = std::max<int64_t>(1, (dim + kSumRows - 1) / kSumRows);
    ChunkRows partial(chunks > 1 ? outer * chunks : 0, inner);
    const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, kSumRows * std::min(inner, kSumColumns)));
    parallel_for(outer * blocks * chunks, grain, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t o = task / (blocks * chunks), b = task / chunks % blocks, c = task % chunks;
        const int64_t i0 = b * kSumColumns, len = std::min(kSumColumns, inner - i0);
        const int64_t d0 = c * kSumRows, rows = std::min(kSumRows, dim - d0);
        float* dst = chunks > 1 ? partial.row(o * chunks + c) + i0 : out + o * inner + i0;
        sum_block(x + (o * dim + d0) * inner + i0, rows, inner, len, dst);
      }
    });
    if (chunks == 1 && op == ReduceOp::sum) return;
    const int64_t combine_grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, chunks * inner));
    parallel_for(outer, combine_grain, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) {
        float* os = out + o * inner;
        if (chunks > 1) {
          const float* first = partial.row(o * chunks);
          std::copy(first, first + inner, os);
          for (int64_t c = 1; c < chunks; ++c) {
            const float* ps = partial.row(o * chunks + c);
            for (int64_t i = 0; i < inner; ++i) os[i] += ps[i];
          }
        }
        if (op == ReduceOp::mean)
          for (int64_t i = 0; i < inner; ++i) os[i] /= count;
      }
    });
    return;
  }
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, dim * std::min(inner, kBlock)));
  parallel_for(outer * blocks, grain, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t o = task / blocks, i0 = (task % blocks) * kBlock;
      const int64_t len = std::min(kBlock, inner - i0);
      const float* xs = x + o * dim * inner + i0;
      float* os = out ? out + o * inner + i0 : nullptr;
      int32_t* is = indices ? indices + o * inner + i0 : nullptr;
      if (is_max) {
        extreme_block<true>(xs, dim, inner, len, os, is);
      } else {
        extreme_block<false>(xs, dim, inner, len, os, is);
      }
    }
  });
}

void index_backward(const float* dy, const int32_t* indices, float* dx, int64_t outer, int64_t dim, int64_t inner) {
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, dim * inner));
  parallel_for(outer, grain, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      float* dxo = dx + o * dim * inner;
      std::fill(dxo, dxo + dim * inner, 0.0f);
      for (int64_t i = 0; i < inner; ++i) dxo[indices[o * inner + i] * inner + i] = dy[o * inner + i];
    }
  });
}

namespace {

struct Axis {
  int64_t size;
  int64_t stride;  // in x, which is contiguous
};

// Offset in x of the k-th combination (row-major) of the given axes.
int64_t offset_of(int64_t k, const std::vector<Axis>& axes) {
  int64_t offset = 0;
  for (size_t a = axes.size(); a-- > 0;) {
    offset += (k % axes[a].size) * axes[a].stride;
    k /= axes[a].size;
  }
  return offset;
}

int64_t count_of(const std::vector<Axis>& axes) {
  int64_t n = 1;
  for (const Axis& a : axes) n *= a.size;
  return n;
}

}  // namespace

void sum_to_shape(const float* x, const int64_t* x_shape, float* out, const int64_t* out_shape, int ndim) {
  int64_t x_count = 1, out_count = 1;
  for (int d = 0; d < ndim; ++d) {
    x_count *= x_shape[d];
    out_count *= out_shape[d];
  }
  if (x_count == 0) {  // summing nothing
    std::fill(out, out + out_count, 0.0f);
    return;
  }
  // Drop size-1 dims and merge neighbours that are both kept or both summed; x is contiguous, and so is out
  // over its kept dims, so each merged group is one longer axis in both.
  std::vector<int64_t> sizes;
  std::vector<bool> summed;
  for (int d = 0; d < ndim; ++d) {
    if (x_shape[d] == 1) continue;
    const bool s = out_shape[d] == 1;
    if (!sizes.empty() && summed.back() == s) {
      sizes.back() *= x_shape[d];
    } else {
      sizes.push_back(x_shape[d]);
      summed.push_back(s);
    }
  }
  if (sizes.empty()) {  // a single element
    sizes.push_back(1);
    summed.push_back(false);
  }
  // Split the axes into kept and summed ones, all but the innermost, which is contiguous in x.
  const size_t axes = sizes.size();
  std::vector<int64_t> strides(axes, 1);
  for (size_t k = axes - 1; k-- > 0;) strides[k] = strides[k + 1] * sizes[k + 1];
  std::vector<Axis> kept, reduced;
  for (size_t k = 0; k + 1 < axes; ++k) (summed[k] ? reduced : kept).push_back(Axis{sizes[k], strides[k]});
  const int64_t inner = sizes.back();
  const bool inner_summed = summed.back();
  std::vector<int64_t> reduced_offsets(count_of(reduced));
  for (size_t r = 0; r < reduced_offsets.size(); ++r) reduced_offsets[r] = offset_of(static_cast<int64_t>(r), reduced);
  const int64_t work_per_out = x_count / out_count;
  if (inner_summed) {
    // Each out element sums contiguous runs of `inner` at every summed offset, in a fixed order.
    const int64_t grain = std::max<int64_t>(1, kGrain / work_per_out);
    parallel_for(out_count, grain, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) {
        const float* base = x + offset_of(o, kept);
        float total = 0.0f;
        for (int64_t r : reduced_offsets) total += row_sum(base + r, inner);
        out[o] = total;
      }
    });
    return;
  }
  // The innermost axis is kept: each task adds whole rows of up to kBlock columns, vectorised along them.
  const int64_t rows = out_count / inner, blocks = (inner + kBlock - 1) / kBlock;
  const int64_t grain = std::max<int64_t>(1, kGrain / (work_per_out * std::min(inner, kBlock)));
  parallel_for(rows * blocks, grain, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t row = task / blocks, c0 = (task % blocks) * kBlock, len = std::min(kBlock, inner - c0);
      const float* base = x + offset_of(row, kept) + c0;
      float* o = out + row * inner + c0;
      std::fill(o, o + len, 0.0f);
      for (int64_t r : reduced_offsets) {
        const float* src = base + r;
        for (int64_t i = 0; i < len; ++i) o[i] += src[i];
      }
    }
  });
}

}  // namespace tn
