// Flash attention on the GPU, FP32 on CUDA cores. Forward: a block per (b, h, 64 queries); 4 threads per query
// row, each scoring 16 consecutive keys of every 64, with an online softmax (running max and sum) so no
// [Tq, Tk] buffer exists. Backward (flash-attention-2): probabilities are recomputed from the saved
// log-sum-exp; one kernel walks the queries for a block of keys (dK, dV), another the keys for a block of
// queries (dQ), so nothing is accumulated with atomics and results are deterministic. Masks, scale and dropout
// follow the CPU kernel (native/cpu/attention.cc) exactly, including the Philox draw of every (b, h, i, j).
// Each thread owns contiguous runs of keys (or queries) and head dims, which it reads from shared memory
// 16 bytes at a time.
#include <string>

#include "../cpu/attention.h"
#include "philox.cuh"
#include "runtime.cuh"

namespace tn {
namespace {

constexpr int kThreads = 256;
constexpr int kChunk = 32;        // head dims staged in shared memory at a time
constexpr int kBlockRows = 64;    // queries per forward / dQ block, keys per dK-dV block
constexpr int kBlockCols = 64;    // keys per forward / dQ tile
constexpr int kKvQueryTile = 32;  // queries per tile of the dK-dV kernel
constexpr int kMaxHeadDim = 256;

struct Problem {
  const float* q;
  const float* k;
  const float* v;
  int64_t B, H, Tq, Tk, D;
  AttnStrides qs, ks, vs, os;
  AttnOptions opt;
};

// Score of query i against key j from the raw dot product: scale, additive mask, key padding, causal mask.
__device__ __forceinline__ float masked_score(const Problem& p, int64_t b, int64_t h, int64_t i, int64_t j, float dot) {
  const AttnOptions& o = p.opt;
  float s = dot * o.scale;
  if (o.mask) s += o.mask[b * o.mask_strides.b + h * o.mask_strides.h + i * o.mask_strides.t + j];
  if (o.key_padding && o.key_padding[b * p.Tk + j] != 0) s = -INFINITY;
  if (o.causal && j > i + o.causal_offset) s = -INFINITY;
  return s;
}

// keep / (1 - p) for element (b, h, i, j): the draw ((b*H + h)*Tq + i)*Tk + j of the attention-dropout stream.
__device__ __forceinline__ float dropout_multiplier(const Problem& p, int64_t b, int64_t h, int64_t i, int64_t j) {
  const uint64_t index =
      (static_cast<uint64_t>((b * p.H + h) * p.Tq + i)) * static_cast<uint64_t>(p.Tk) + static_cast<uint64_t>(j);
  const float u = gpu::philox_uniform(p.opt.seed, gpu::kStreamAttnDropout, index);
  return u >= p.opt.dropout_p ? 1.0f / (1.0f - p.opt.dropout_p) : 0.0f;
}

// Exclusive end of the keys any query in [i0, i0 + nq) may see.
__device__ __forceinline__ int64_t visible_key_end(const Problem& p, int64_t i0, int64_t nq) {
  if (!p.opt.causal) return p.Tk;
  const int64_t end = i0 + nq + p.opt.causal_offset;
  return end < 0 ? 0 : (end > p.Tk ? p.Tk : end);
}

// rows x kChunk elements of a [T, D] view (row stride t_stride) from row r0 and dim d0, zero past T and D:
// load_rows puts element (row, col) at tile[row * ld + col], load_transposed at tile[col * ld + row].
__device__ __forceinline__ void load_rows(float* tile, int ld, int rows, const float* base, int64_t t_stride,
                                          int64_t r0, int64_t T, int64_t d0, int64_t D) {
  for (int e = threadIdx.x; e < rows * kChunk; e += kThreads) {
    const int row = e / kChunk, col = e % kChunk;
    const int64_t r = r0 + row, d = d0 + col;
    tile[row * ld + col] = (r < T && d < D) ? base[r * t_stride + d] : 0.0f;
  }
}
__device__ __forceinline__ void load_transposed(float* tile, int ld, int rows, const float* base, int64_t t_stride,
                                                int64_t r0, int64_t T, int64_t d0, int64_t D) {
  for (int e = threadIdx.x; e < rows * kChunk; e += kThreads) {
    const int row = e / kChunk, col = e % kChunk;
    const int64_t r = r0 + row, d = d0 + col;
    tile[col * ld + row] = (r < T && d < D) ? base[r * t_stride + d] : 0.0f;
  }
}

// a[0..7] += w * (x, y) for two float4 read from shared memory.
__device__ __forceinline__ void axpy8(float* a, float w, float4 x, float4 y) {
  a[0] += w * x.x;
  a[1] += w * x.y;
  a[2] += w * x.z;
  a[3] += w * x.w;
  a[4] += w * y.x;
  a[5] += w * y.y;
  a[6] += w * y.z;
  a[7] += w * y.w;
}

// s[0..3] += w * x.
__device__ __forceinline__ void axpy4(float* s, float w, float4 x) {
  s[0] += w * x.x;
  s[1] += w * x.y;
  s[2] += w * x.z;
  s[3] += w * x.w;
}

// Sum and max over the 4 lanes that share a row (lanes 4g .. 4g+3 of a warp); every lane must call them.
__device__ __forceinline__ float group_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}
__device__ __forceinline__ float group_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}

// ---- forward ---------------------------------------------------------------------------------------------------

// Padded rows of the shared-memory tiles that are read 16 bytes at a time (row lengths multiples of 4 floats).
constexpr int kKeyRow = kBlockCols + 4;      // a transposed K or V chunk: [kChunk dims][64 keys]
constexpr int kValueRow = kChunk + 4;        // a V or K chunk: [64 keys][kChunk dims]
constexpr int kQueryRow = kKvQueryTile + 4;  // a Q or dO chunk of the dK-dV kernel, either orientation

// Thread (g, r) of the forward owns query i0 + g, keys j0 + 16r .. j0 + 16r + 15 of each tile, and output dims
// 32c + 8r .. 32c + 8r + 7 of each 32-dim chunk c: contiguous runs, read from shared memory 16 bytes at a time.
template <int kMaxD>
__global__ void __launch_bounds__(kThreads)
    attention_forward_kernel(Problem p, float* out, AttnStrides os, float* lse, float* weights) {
  constexpr int kChunks = kMaxD / kChunk;
  constexpr int kDimsPerChunk = kChunk / 4;  // output dims of a thread in each chunk
  constexpr int kKeys = kBlockCols / 4;      // keys of a thread in each tile
  __shared__ float Qs[kBlockRows * (kChunk + 1)];
  __shared__ __align__(16) float Kt[kChunk * kKeyRow];
  __shared__ __align__(16) float Vs[kBlockCols * kValueRow];
  __shared__ float Ps[kBlockRows * (kBlockCols + 1)];

  const int64_t bh = blockIdx.x, b = bh / p.H, h = bh % p.H;
  const int64_t i0 = int64_t(blockIdx.y) * kBlockRows;
  const int g = threadIdx.x >> 2, r = threadIdx.x & 3;
  const int64_t i = i0 + g;
  const bool row_valid = i < p.Tq;
  const float* qb = p.q + b * p.qs.b + h * p.qs.h;
  const float* kb = p.k + b * p.ks.b + h * p.ks.h;
  const float* vb = p.v + b * p.vs.b + h * p.vs.h;
  const int64_t nq = p.Tq - i0 < kBlockRows ? p.Tq - i0 : kBlockRows;
  const int64_t key_end = visible_key_end(p, i0, nq);

  // s[t] = q_i . k_j for j = j0 + 16r + t, over every chunk of dims.
  auto scores = [&](int64_t j0, float(&s)[kKeys]) {
#pragma unroll
    for (int t = 0; t < kKeys; ++t) s[t] = 0.0f;
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
      if (c * kChunk < p.D) {
        __syncthreads();
        load_rows(Qs, kChunk + 1, kBlockRows, qb, p.qs.t, i0, p.Tq, c * kChunk, p.D);
        load_transposed(Kt, kKeyRow, kBlockCols, kb, p.ks.t, j0, p.Tk, c * kChunk, p.D);
        __syncthreads();
#pragma unroll 4
        for (int dd = 0; dd < kChunk; ++dd) {
          const float qv = Qs[g * (kChunk + 1) + dd];
          const float4* keys = reinterpret_cast<const float4*>(Kt + dd * kKeyRow + r * kKeys);
#pragma unroll
          for (int q4 = 0; q4 < kKeys / 4; ++q4) axpy4(s + 4 * q4, qv, keys[q4]);
        }
      }
    }
  };

  float acc[kChunks * kDimsPerChunk];
#pragma unroll
  for (int u = 0; u < kChunks * kDimsPerChunk; ++u) acc[u] = 0.0f;
  float m = -INFINITY, l = 0.0f;

  for (int64_t j0 = 0; j0 < key_end; j0 += kBlockCols) {
    float s[kKeys];
    scores(j0, s);
    float tile_max = -INFINITY;
#pragma unroll
    for (int t = 0; t < kKeys; ++t) {
      const int64_t j = j0 + r * kKeys + t;
      s[t] = (row_valid && j < p.Tk) ? masked_score(p, b, h, i, j, s[t]) : -INFINITY;
      tile_max = fmaxf(tile_max, s[t]);
    }
    const float m_new = fmaxf(m, group_max(tile_max));
    const bool visible = m_new != -INFINITY;  // false while every key so far is hidden from this row
    const float shift = visible ? m_new : 0.0f;
    float sum = 0.0f;
#pragma unroll
    for (int t = 0; t < kKeys; ++t) {
      s[t] = visible ? expf(s[t] - shift) : 0.0f;
      sum += s[t];
    }
    sum = group_sum(sum);
    if (visible) {
      const float correction = expf(m - m_new);
      l = l * correction + sum;
      m = m_new;
      if (correction != 1.0f) {
#pragma unroll
        for (int u = 0; u < kChunks * kDimsPerChunk; ++u) acc[u] *= correction;
      }
      if (p.opt.dropout_p > 0.0f) {
#pragma unroll
        for (int t = 0; t < kKeys; ++t) {
          const int64_t j = j0 + r * kKeys + t;
          if (j < p.Tk) s[t] *= dropout_multiplier(p, b, h, i, j);
        }
      }
    }
#pragma unroll
    for (int t = 0; t < kKeys; ++t) Ps[g * (kBlockCols + 1) + r * kKeys + t] = s[t];
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
      if (c * kChunk < p.D) {
        __syncthreads();
        load_rows(Vs, kValueRow, kBlockCols, vb, p.vs.t, j0, p.Tk, c * kChunk, p.D);
        __syncthreads();
#pragma unroll 4
        for (int jj = 0; jj < kBlockCols; ++jj) {
          const float pj = Ps[g * (kBlockCols + 1) + jj];
          const float4* values = reinterpret_cast<const float4*>(Vs + jj * kValueRow + r * kDimsPerChunk);
          axpy8(acc + c * kDimsPerChunk, pj, values[0], values[1]);
        }
      }
    }
  }

  const float row_lse = l == 0.0f ? INFINITY : m + logf(l);
  if (row_valid) {
    float* dst = out + b * os.b + h * os.h + i * os.t;
    const float inv = l == 0.0f ? 0.0f : 1.0f / l;  // every key masked: zero output
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
#pragma unroll
      for (int u = 0; u < kDimsPerChunk; ++u) {
        const int64_t d = c * kChunk + r * kDimsPerChunk + u;
        if (d < p.D) dst[d] = l == 0.0f ? 0.0f : acc[c * kDimsPerChunk + u] * inv;
      }
    }
    if (r == 0) lse[bh * p.Tq + i] = row_lse;
  }
  if (!weights) return;

  // The probabilities need the final lse: a second pass over every key writes them (0 where hidden).
  for (int64_t j0 = 0; j0 < p.Tk; j0 += kBlockCols) {
    float s[kKeys];
    scores(j0, s);
    if (row_valid) {
      float* w = weights + (bh * p.Tq + i) * p.Tk;
#pragma unroll
      for (int t = 0; t < kKeys; ++t) {
        const int64_t j = j0 + r * kKeys + t;
        if (j < p.Tk) w[j] = j < key_end ? expf(masked_score(p, b, h, i, j, s[t]) - row_lse) : 0.0f;
      }
    }
  }
}

// ---- backward --------------------------------------------------------------------------------------------------

// row_dot[bh*Tq + i] = dot(dout row, out row): the D_i of the softmax backward, one warp per row.
__global__ void row_dot_kernel(float* row_dot, const float* dout, const float* out, AttnStrides os, int64_t H,
                               int64_t Tq, int64_t D, int64_t rows) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (int64_t(gridDim.x) * blockDim.x) >> 5;
  for (int64_t row = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) >> 5; row < rows; row += warps) {
    const int64_t bh = row / Tq, i = row % Tq, b = bh / H, h = bh % H;
    const int64_t base = b * os.b + h * os.h + i * os.t;
    float s = 0.0f;
    for (int64_t d = lane; d < D; d += 32) s += dout[base + d] * out[base + d];
    s = warp_sum(s);
    if (lane == 0) row_dot[row] = s;
  }
}

// dK and dV for 64 keys: thread (g, r) owns key j0 + g and, in each 32-dim chunk c, dims 32c + 8r .. 32c + 8r + 7;
// it walks the query tiles that can see these keys, scoring queries i0 + 8r .. i0 + 8r + 7 of each.
// dS = P * (dP * Z - D_i) with dP = dO V^T and Z the dropout multipliers.
template <int kMaxD>
__global__ void __launch_bounds__(kThreads)
    attention_backward_kv_kernel(Problem p, const float* dout, AttnStrides os, const float* lse, const float* row_dot,
                                 float* dk, float* dv) {
  constexpr int kChunks = kMaxD / kChunk;
  constexpr int kDimsPerChunk = kChunk / 4;
  constexpr int kQueries = kKvQueryTile / 4;
  constexpr int kQueryTile = kChunk * kQueryRow;  // a Q or dO chunk, transposed or not
  __shared__ float Ks[kBlockRows * (kChunk + 1)];
  __shared__ float Vs[kBlockRows * (kChunk + 1)];
  // Transposed Q and dO chunks for the scores, then the same chunks row by row for dK and dV.
  __shared__ __align__(16) float query_space[2 * kQueryTile];
  __shared__ float PZs[kBlockRows * (kKvQueryTile + 1)];
  __shared__ float DSs[kBlockRows * (kKvQueryTile + 1)];
  float* const Qs = query_space;
  float* const dOs = query_space + kQueryTile;

  const int64_t bh = blockIdx.x, b = bh / p.H, h = bh % p.H;
  const int64_t j0 = int64_t(blockIdx.y) * kBlockRows;
  const int g = threadIdx.x >> 2, r = threadIdx.x & 3;
  const int64_t j = j0 + g;
  const bool key_valid = j < p.Tk;
  const float* qb = p.q + b * p.qs.b + h * p.qs.h;
  const float* kb = p.k + b * p.ks.b + h * p.ks.h;
  const float* vb = p.v + b * p.vs.b + h * p.vs.h;
  const float* gb = dout + b * os.b + h * os.h;
  const float* lse_h = lse + bh * p.Tq;
  const float* dot_h = row_dot + bh * p.Tq;

  float dk_acc[kChunks * kDimsPerChunk], dv_acc[kChunks * kDimsPerChunk];
#pragma unroll
  for (int u = 0; u < kChunks * kDimsPerChunk; ++u) dk_acc[u] = dv_acc[u] = 0.0f;

  // Under a causal mask, query i sees key j when j <= i + offset: earlier queries see none of these keys.
  int64_t first_query = 0;
  if (p.opt.causal) {
    first_query = j0 - p.opt.causal_offset;
    first_query = first_query < 0 ? 0 : (first_query > p.Tq ? p.Tq : first_query);
    first_query -= first_query % kKvQueryTile;
  }
  for (int64_t i0 = first_query; i0 < p.Tq; i0 += kKvQueryTile) {
    float s[kQueries], dp[kQueries];
#pragma unroll
    for (int t = 0; t < kQueries; ++t) s[t] = dp[t] = 0.0f;
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
      if (c * kChunk < p.D) {
        __syncthreads();
        load_transposed(Qs, kQueryRow, kKvQueryTile, qb, p.qs.t, i0, p.Tq, c * kChunk, p.D);
        load_transposed(dOs, kQueryRow, kKvQueryTile, gb, os.t, i0, p.Tq, c * kChunk, p.D);
        load_rows(Ks, kChunk + 1, kBlockRows, kb, p.ks.t, j0, p.Tk, c * kChunk, p.D);
        load_rows(Vs, kChunk + 1, kBlockRows, vb, p.vs.t, j0, p.Tk, c * kChunk, p.D);
        __syncthreads();
#pragma unroll 4
        for (int dd = 0; dd < kChunk; ++dd) {
          const float kv = Ks[g * (kChunk + 1) + dd], vv = Vs[g * (kChunk + 1) + dd];
          const float4* qr = reinterpret_cast<const float4*>(Qs + dd * kQueryRow + r * kQueries);
          const float4* gr = reinterpret_cast<const float4*>(dOs + dd * kQueryRow + r * kQueries);
#pragma unroll
          for (int q4 = 0; q4 < kQueries / 4; ++q4) {
            axpy4(s + 4 * q4, kv, qr[q4]);
            axpy4(dp + 4 * q4, vv, gr[q4]);
          }
        }
      }
    }
#pragma unroll
    for (int t = 0; t < kQueries; ++t) {
      const int64_t i = i0 + r * kQueries + t;
      const bool valid = key_valid && i < p.Tq;
      const float score = valid ? masked_score(p, b, h, i, j, s[t]) : -INFINITY;
      const float prob = valid ? expf(score - lse_h[i]) : 0.0f;  // lse = +inf (row fully masked) gives 0
      const float z = (valid && p.opt.dropout_p > 0.0f) ? dropout_multiplier(p, b, h, i, j) : 1.0f;
      PZs[g * (kKvQueryTile + 1) + r * kQueries + t] = prob * z;
      DSs[g * (kKvQueryTile + 1) + r * kQueries + t] = valid ? prob * (dp[t] * z - dot_h[i]) : 0.0f;
    }
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
      if (c * kChunk < p.D) {
        __syncthreads();
        load_rows(Qs, kQueryRow, kKvQueryTile, qb, p.qs.t, i0, p.Tq, c * kChunk, p.D);
        load_rows(dOs, kQueryRow, kKvQueryTile, gb, os.t, i0, p.Tq, c * kChunk, p.D);
        __syncthreads();
#pragma unroll 4
        for (int ii = 0; ii < kKvQueryTile; ++ii) {
          const float pz = PZs[g * (kKvQueryTile + 1) + ii], ds = DSs[g * (kKvQueryTile + 1) + ii];
          const float4* gr = reinterpret_cast<const float4*>(dOs + ii * kQueryRow + r * kDimsPerChunk);
          const float4* qr = reinterpret_cast<const float4*>(Qs + ii * kQueryRow + r * kDimsPerChunk);
          axpy8(dv_acc + c * kDimsPerChunk, pz, gr[0], gr[1]);
          axpy8(dk_acc + c * kDimsPerChunk, ds, qr[0], qr[1]);
        }
      }
    }
  }
  if (!key_valid) return;
  float* dk_row = dk + b * p.ks.b + h * p.ks.h + j * p.ks.t;
  float* dv_row = dv + b * p.vs.b + h * p.vs.h + j * p.vs.t;
#pragma unroll
  for (int c = 0; c < kChunks; ++c) {
#pragma unroll
    for (int u = 0; u < kDimsPerChunk; ++u) {
      const int64_t d = c * kChunk + r * kDimsPerChunk + u;
      if (d < p.D) {
        dk_row[d] = dk_acc[c * kDimsPerChunk + u] * p.opt.scale;
        dv_row[d] = dv_acc[c * kDimsPerChunk + u];
      }
    }
  }
}

// dQ for 64 queries: thread (g, r) owns query i0 + g and dims 32c + 8r .. 32c + 8r + 7 of each chunk c, and walks
// the visible key tiles, scoring keys j0 + 16r .. j0 + 16r + 15 of each.
template <int kMaxD>
__global__ void __launch_bounds__(kThreads)
    attention_backward_q_kernel(Problem p, const float* dout, AttnStrides os, const float* lse, const float* row_dot,
                                float* dq) {
  constexpr int kChunks = kMaxD / kChunk;
  constexpr int kDimsPerChunk = kChunk / 4;
  constexpr int kKeys = kBlockCols / 4;
  constexpr int kRowTile = kBlockRows * (kChunk + 1);  // a Q or dO chunk
  constexpr int kKeyTile = kChunk * kKeyRow;           // a transposed K or V chunk
  // Q and dO chunks with transposed K and V chunks for the scores; then dS where Q and dO were, and K chunks row
  // by row where the transposed chunks were.
  __shared__ float row_space[2 * kRowTile];
  __shared__ __align__(16) float key_space[2 * kKeyTile];
  static_assert(kBlockRows * (kBlockCols + 1) <= 2 * kRowTile, "dS must fit where Q and dO were");
  static_assert(kBlockCols * kValueRow <= 2 * kKeyTile, "a K chunk must fit where K and V were");
  float* const Qs = row_space;
  float* const dOs = row_space + kRowTile;
  float* const DSs = row_space;
  float* const Kt = key_space;
  float* const Vt = key_space + kKeyTile;
  float* const Ks = key_space;

  const int64_t bh = blockIdx.x, b = bh / p.H, h = bh % p.H;
  const int64_t i0 = int64_t(blockIdx.y) * kBlockRows;
  const int g = threadIdx.x >> 2, r = threadIdx.x & 3;
  const int64_t i = i0 + g;
  const bool row_valid = i < p.Tq;
  const float* qb = p.q + b * p.qs.b + h * p.qs.h;
  const float* kb = p.k + b * p.ks.b + h * p.ks.h;
  const float* vb = p.v + b * p.vs.b + h * p.vs.h;
  const float* gb = dout + b * os.b + h * os.h;
  const float row_lse = row_valid ? lse[bh * p.Tq + i] : INFINITY;
  const float di = row_valid ? row_dot[bh * p.Tq + i] : 0.0f;
  const int64_t nq = p.Tq - i0 < kBlockRows ? p.Tq - i0 : kBlockRows;
  const int64_t key_end = visible_key_end(p, i0, nq);

  float dq_acc[kChunks * kDimsPerChunk];
#pragma unroll
  for (int u = 0; u < kChunks * kDimsPerChunk; ++u) dq_acc[u] = 0.0f;

  for (int64_t j0 = 0; j0 < key_end; j0 += kBlockCols) {
    float s[kKeys], dp[kKeys];
#pragma unroll
    for (int t = 0; t < kKeys; ++t) s[t] = dp[t] = 0.0f;
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
      if (c * kChunk < p.D) {
        __syncthreads();
        load_rows(Qs, kChunk + 1, kBlockRows, qb, p.qs.t, i0, p.Tq, c * kChunk, p.D);
        load_rows(dOs, kChunk + 1, kBlockRows, gb, os.t, i0, p.Tq, c * kChunk, p.D);
        load_transposed(Kt, kKeyRow, kBlockCols, kb, p.ks.t, j0, p.Tk, c * kChunk, p.D);
        load_transposed(Vt, kKeyRow, kBlockCols, vb, p.vs.t, j0, p.Tk, c * kChunk, p.D);
        __syncthreads();
#pragma unroll 4
        for (int dd = 0; dd < kChunk; ++dd) {
          const float qv = Qs[g * (kChunk + 1) + dd], gv = dOs[g * (kChunk + 1) + dd];
          const float4* kr = reinterpret_cast<const float4*>(Kt + dd * kKeyRow + r * kKeys);
          const float4* vr = reinterpret_cast<const float4*>(Vt + dd * kKeyRow + r * kKeys);
#pragma unroll
          for (int q4 = 0; q4 < kKeys / 4; ++q4) {
            axpy4(s + 4 * q4, qv, kr[q4]);
            axpy4(dp + 4 * q4, gv, vr[q4]);
          }
        }
      }
    }
    __syncthreads();  // every thread is done with Q and dO before dS overwrites them
#pragma unroll
    for (int t = 0; t < kKeys; ++t) {
      const int64_t j = j0 + r * kKeys + t;
      const bool valid = row_valid && j < p.Tk;
      const float score = valid ? masked_score(p, b, h, i, j, s[t]) : -INFINITY;
      const float prob = valid ? expf(score - row_lse) : 0.0f;
      const float z = (valid && p.opt.dropout_p > 0.0f) ? dropout_multiplier(p, b, h, i, j) : 1.0f;
      DSs[g * (kBlockCols + 1) + r * kKeys + t] = valid ? prob * (dp[t] * z - di) : 0.0f;
    }
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
      if (c * kChunk < p.D) {
        __syncthreads();
        load_rows(Ks, kValueRow, kBlockCols, kb, p.ks.t, j0, p.Tk, c * kChunk, p.D);
        __syncthreads();
#pragma unroll 4
        for (int jj = 0; jj < kBlockCols; ++jj) {
          const float ds = DSs[g * (kBlockCols + 1) + jj];
          const float4* kr = reinterpret_cast<const float4*>(Ks + jj * kValueRow + r * kDimsPerChunk);
          axpy8(dq_acc + c * kDimsPerChunk, ds, kr[0], kr[1]);
        }
      }
    }
    __syncthreads();  // dS and K are read by all before the next tile's chunks overwrite them
  }
  if (!row_valid) return;
  float* dq_row = dq + b * p.qs.b + h * p.qs.h + i * p.qs.t;
#pragma unroll
  for (int c = 0; c < kChunks; ++c) {
#pragma unroll
    for (int u = 0; u < kDimsPerChunk; ++u) {
      const int64_t d = c * kChunk + r * kDimsPerChunk + u;
      if (d < p.D) dq_row[d] = dq_acc[c * kDimsPerChunk + u] * p.opt.scale;
    }
  }
}

Problem make_problem(const float* q, const float* k, const float* v, int64_t B, int64_t H, int64_t Tq, int64_t Tk,
                     int64_t D, AttnStrides qs, AttnStrides ks, AttnStrides vs, AttnStrides os, const AttnOptions& opt,
                     const char* op) {
  if (D > kMaxHeadDim)
    throw std::runtime_error(std::string(op) + ": head size D = " + std::to_string(D) + " is above " +
                             std::to_string(kMaxHeadDim) + ", the largest the CUDA kernels support");
  if (B * H > 0x7fffffffLL || ceil_div(Tq, kBlockRows) > 65535 || ceil_div(Tk, kBlockRows) > 65535)
    throw std::runtime_error(std::string(op) + ": B*H = " + std::to_string(B * H) + ", Tq = " + std::to_string(Tq) +
                             ", Tk = " + std::to_string(Tk) + " exceed the CUDA grid");
  return Problem{q, k, v, B, H, Tq, Tk, D, qs, ks, vs, os, opt};
}

}  // namespace

void attention_forward(float* out, float* lse, float* weights, const float* q, const float* k, const float* v,
                       int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, AttnStrides q_strides,
                       AttnStrides k_strides, AttnStrides v_strides, AttnStrides out_strides, const AttnOptions& opt) {
  const Problem p =
      make_problem(q, k, v, B, H, Tq, Tk, D, q_strides, k_strides, v_strides, out_strides, opt, "attentionForward");
  const dim3 grid(static_cast<unsigned>(B * H), static_cast<unsigned>(ceil_div(Tq, kBlockRows)));
  cudaStream_t stream = cuda_stream();
  if (D <= 64)
    attention_forward_kernel<64><<<grid, kThreads, 0, stream>>>(p, out, out_strides, lse, weights);
  else if (D <= 128)
    attention_forward_kernel<128><<<grid, kThreads, 0, stream>>>(p, out, out_strides, lse, weights);
  else
    attention_forward_kernel<256><<<grid, kThreads, 0, stream>>>(p, out, out_strides, lse, weights);
  cuda_check_launch("attentionForward");
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* out, const float* lse, const float* /* probs: recomputed */,
                        int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, AttnStrides q_strides,
                        AttnStrides k_strides, AttnStrides v_strides, AttnStrides out_strides, const AttnOptions& opt) {
  const char* op = "attentionBackward";
  const Problem p = make_problem(q, k, v, B, H, Tq, Tk, D, q_strides, k_strides, v_strides, out_strides, opt, op);
  cudaStream_t stream = cuda_stream();
  const int64_t rows = B * H * Tq;
  auto* row_dot = static_cast<float*>(cuda_scratch(static_cast<size_t>(rows) * sizeof(float), 1, op));
  row_dot_kernel<<<grid_for(rows * 32, 256), 256, 0, stream>>>(row_dot, dout, out, out_strides, H, Tq, D, rows);
  cuda_check_launch(op);
  const dim3 kv_grid(static_cast<unsigned>(B * H), static_cast<unsigned>(ceil_div(Tk, kBlockRows)));
  const dim3 q_grid(static_cast<unsigned>(B * H), static_cast<unsigned>(ceil_div(Tq, kBlockRows)));
  if (D <= 64) {
    attention_backward_kv_kernel<64><<<kv_grid, kThreads, 0, stream>>>(p, dout, out_strides, lse, row_dot, dk, dv);
    attention_backward_q_kernel<64><<<q_grid, kThreads, 0, stream>>>(p, dout, out_strides, lse, row_dot, dq);
  } else if (D <= 128) {
    attention_backward_kv_kernel<128><<<kv_grid, kThreads, 0, stream>>>(p, dout, out_strides, lse, row_dot, dk, dv);
    attention_backward_q_kernel<128><<<q_grid, kThreads, 0, stream>>>(p, dout, out_strides, lse, row_dot, dq);
  } else {
    attention_backward_kv_kernel<256><<<kv_grid, kThreads, 0, stream>>>(p, dout, out_strides, lse, row_dot, dk, dv);
    attention_backward_q_kernel<256><<<q_grid, kThreads, 0, stream>>>(p, dout, out_strides, lse, row_dot, dq);
  }
  cuda_check_launch(op);
}

}  // namespace tn
