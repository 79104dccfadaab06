#include "attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <limits>
#include <new>
#include <vector>

#include "chunk_rows.h"
#include "isa.h"
#include "philox.h"
#include "random.h"
#include "threadpool.h"

namespace tn {

// ---- generic tile kernels (plain loops the compiler vectorises) ------------------------------------------------

void attn_pack_transposed_generic(float* Bt, const float* B, int64_t ldb, int64_t N, int64_t K) {
  const int64_t NP = (N + 7) / 8 * 8;
  for (int64_t k = 0; k < K; ++k) {
    float* dst = Bt + k * NP;
    for (int64_t n = 0; n < N; ++n) dst[n] = B[n * ldb + k];
    for (int64_t n = N; n < NP; ++n) dst[n] = 0.0f;
  }
}

void attn_scores_generic(float* C, int64_t ldc, const float* A, int64_t lda, const float* Bt, int64_t ldbt, int64_t M,
                         int64_t N, int64_t K, float alpha) {
  // With B^T packed the innermost loop runs over contiguous n without a reduction.
  for (int64_t m = 0; m < M; ++m) {
    float* c = C + m * ldc;
    const float* a = A + m * lda;
    for (int64_t n = 0; n < N; ++n) c[n] = 0.0f;
    for (int64_t k = 0; k < K; ++k) {
      const float ak = a[k];
      const float* bt = Bt + k * ldbt;
      for (int64_t n = 0; n < N; ++n) c[n] += ak * bt[n];
    }
    for (int64_t n = 0; n < N; ++n) c[n] *= alpha;
  }
}

void attn_matmul_generic(float* C, int64_t ldc, const float* A, int64_t a_row, int64_t a_col, const float* B,
                         int64_t ldb, int64_t M, int64_t N, int64_t K, bool accumulate) {
  for (int64_t m = 0; m < M; ++m) {
    float* c = C + m * ldc;
    if (!accumulate) std::fill(c, c + N, 0.0f);
    for (int64_t k = 0; k < K; ++k) {
      const float a = A[m * a_row + k * a_col];
      const float* b = B + k * ldb;
      for (int64_t n = 0; n < N; ++n) c[n] += a * b[n];
    }
  }
}

float attn_row_max_generic(const float* x, int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n; ++j) m = std::max(m, x[j]);
  return m;
}

float attn_exp_sum_generic(float* x, int64_t n, float shift) {
  float sum = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    x[j] = std::exp(x[j] - shift);
    sum += x[j];
  }
  return sum;
}

void attn_row_dots_generic(float* out, const float* a, const float* b, int64_t lda, int64_t rows, int64_t n) {
  for (int64_t i = 0; i < rows; ++i) {
    float sum = 0.0f;
    for (int64_t d = 0; d < n; ++d) sum += a[i * lda + d] * b[i * lda + d];
    out[i] = sum;
  }
}

void attn_scale_rows_generic(float* dst, int64_t ld_dst, const float* src, int64_t ld_src, int64_t rows, int64_t n,
                             float scale) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t d = 0; d < n; ++d) dst[i * ld_dst + d] = src[i * ld_src + d] * scale;
}

namespace {

// Tile sizes: a 64 x 64 score tile, its packed K block and the output accumulator stay in L1/L2.
constexpr int64_t kBlockQ = 64;
constexpr int64_t kBlockK = 64;
// Tiles on the causal diagonal are cut into slices of this many query rows.
constexpr int64_t kDiagonalSlice = 16;
// Below this many flops a chunk of work is not worth waking another thread for.
constexpr int64_t kMinFlopsPerChunk = int64_t(1) << 21;
// What reading one byte of K or V costs, in flops, when sizing chunks: about the FMA peak over the bandwidth a
// core streams from L3 or DRAM.
constexpr int64_t kFlopsPerByte = 8;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr float kPosInf = std::numeric_limits<float>::infinity();

struct TileOps {
  decltype(&attn_pack_transposed_generic) pack_transposed;
  decltype(&attn_scores_generic) scores;
  decltype(&attn_matmul_generic) matmul;
  decltype(&attn_row_max_generic) row_max;
  decltype(&attn_exp_sum_generic) exp_sum;
  decltype(&attn_row_dots_generic) row_dots;
  decltype(&attn_scale_rows_generic) scale_rows;
};

TileOps tile_ops() {
#ifdef TN_HAVE_AVX512
  if (active_isa() == Isa::avx512)
    return {attn_pack_transposed_avx2, attn_scores_avx512,   attn_matmul_avx512,    attn_row_max_avx512,
            attn_exp_sum_avx512,       attn_row_dots_avx512, attn_scale_rows_avx512};
#endif
#ifdef TN_HAVE_AVX2
  if (use_avx2_kernels())
    return {attn_pack_transposed_avx2, attn_scores_avx2,   attn_matmul_avx2,    attn_row_max_avx2,
            attn_exp_sum_avx2,         attn_row_dots_avx2, attn_scale_rows_avx2};
#endif
  return {attn_pack_transposed_generic, attn_scores_generic,   attn_matmul_generic,    attn_row_max_generic,
          attn_exp_sum_generic,         attn_row_dots_generic, attn_scale_rows_generic};
}

// Sizes, inputs and options shared by every tile of one call.
struct Problem {
  const float* q;
  const float* k;
  const float* v;
  int64_t B, H, Tq, Tk, D;
  AttnStrides qs, ks, vs;
  const AttnOptions& opt;
  TileOps ops;
  const float* probs = nullptr;  // backward only: the forward's probabilities [B, H, Tq, Tk], or null
};

// One (b, h) pair: where its rows start in every input.
struct Head {
  int64_t b, h;
  const float* q;
  const float* k;
  const float* v;
  const int32_t* key_padding;  // this batch row's Tk flags, or null
  const float* mask;           // this head's [Tq, Tk] additive mask (row stride mask_strides.t), or null
  uint64_t dropout_first;      // draw number of element (i = 0, j = 0)
};

Head head_of(const Problem& p, int64_t b, int64_t h) {
  const AttnOptions& o = p.opt;
  return Head{b,
              h,
              p.q + b * p.qs.b + h * p.qs.h,
              p.k + b * p.ks.b + h * p.ks.h,
              p.v + b * p.vs.b + h * p.vs.h,
              o.key_padding ? o.key_padding + b * p.Tk : nullptr,
              o.mask ? o.mask + b * o.mask_strides.b + h * o.mask_strides.h : nullptr,
              static_cast<uint64_t>((b * p.H + h) * p.Tq) * static_cast<uint64_t>(p.Tk)};
}

// End (exclusive) of the keys that any query in [i0, i0 + nq) may see: the causal mask hides everything after.
int64_t visible_key_end(const Problem& p, int64_t i0, int64_t nq) {
  if (!p.opt.causal) return p.Tk;
  return std::clamp<int64_t>(i0 + nq + p.opt.causal_offset, 0, p.Tk);
}

// Row stride of a block of nk keys packed by pack_transposed.
int64_t packed_stride(int64_t nk) { return (nk + 7) / 8 * 8; }

// S[i][j] (row stride kBlockK) = scaled, masked score of query i0 + i against key j0 + j; hidden ones -inf.
// kt_blk: keys from j0 on, packed by pack_transposed with row stride ldkt.
void score_tile(const Problem& p, const Head& hd, int64_t i0, int64_t nq, int64_t j0, int64_t nk, const float* kt_blk,
                int64_t ldkt, float* S) {
  const AttnOptions& o = p.opt;
  p.ops.scores(S, kBlockK, hd.q + i0 * p.qs.t, p.qs.t, kt_blk, ldkt, nq, nk, p.D, o.scale);
  if (hd.mask) {
    for (int64_t i = 0; i < nq; ++i) {
      const float* m = hd.mask + (i0 + i) * o.mask_strides.t + j0;
      float* s = S + i * kBlockK;
      for (int64_t j = 0; j < nk; ++j) s[j] += m[j];
    }
  }
  if (hd.key_padding) {
    for (int64_t j = 0; j < nk; ++j)
      if (hd.key_padding[j0 + j] != 0)
        for (int64_t i = 0; i < nq; ++i) S[i * kBlockK + j] = kNegInf;
  }
  if (o.causal && j0 + nk - 1 > i0 + o.causal_offset) {  // the tile crosses the diagonal
    for (int64_t i = 0; i < nq; ++i) {
      const int64_t first_hidden = std::max<int64_t>(0, i0 + i + o.causal_offset + 1 - j0);
      for (int64_t j = first_hidden; j < nk; ++j) S[i * kBlockK + j] = kNegInf;
    }
  }
}

// Calls fn(r0, nr, nk_r) over the tile of queries i0 .. i0+nq-1 and keys j0 .. j0+nk-1: once for the whole
// tile, or, when it crosses the causal diagonal, for slices of kDiagonalSlice rows, each cut at the last key
// those rows may see, so that little of the hidden triangle is computed.
template <typename Fn>
void for_each_slice(const Problem& p, int64_t i0, int64_t nq, int64_t j0, int64_t nk, Fn fn) {
  if (!p.opt.causal || j0 + nk - 1 <= i0 + p.opt.causal_offset) {
    fn(0, nq, nk);
    return;
  }
  for (int64_t r0 = 0; r0 < nq; r0 += kDiagonalSlice) {
    const int64_t nr = std::min(kDiagonalSlice, nq - r0);
    const int64_t nk_r = std::min(nk, visible_key_end(p, i0 + r0, nr) - j0);
    if (nk_r > 0) fn(r0, nr, nk_r);
  }
}

// dst[j] = keep/(1 - p) for draws first .. first + n - 1 of the attention-dropout stream; keep when u >= p.
void dropout_multipliers(float* dst, uint64_t seed, uint64_t first, int64_t n, float p) {
  const float kept = 1.0f / (1.0f - p);
  const int32_t threshold = philox_keep_threshold(p);
  uint32_t words[kBlockK];
  philox_draws(seed, kStreamAttnDropout, static_cast<int64_t>(first), n, words);
  for (int64_t j = 0; j < n; ++j) dst[j] = philox_keeps(words[j], threshold) ? kept : 0.0f;
}

// keep[i * kBlockK + j] = the multipliers of draws first + i * row_stride + j, for the nr x nk rows of one tile.
// Short rows (a few dozen keys) are drawn in one run across the tile, skipped draws included: each philox_draws
// call costs at least 64 draws on the vector generators.
void dropout_tile_multipliers(float* keep, uint64_t seed, uint64_t first, int64_t row_stride, int64_t nr, int64_t nk,
                              float p) {
  const int64_t span = (nr - 1) * row_stride + nk;
  if (span > 2 * nr * nk) {
    for (int64_t i = 0; i < nr; ++i)
      dropout_multipliers(keep + i * kBlockK, seed, first + static_cast<uint64_t>(i * row_stride), nk, p);
    return;
  }
  const float kept = 1.0f / (1.0f - p);
  const int32_t threshold = philox_keep_threshold(p);
  uint32_t words[kPhiloxMaxDraws];
  for (int64_t s0 = 0; s0 < span; s0 += kPhiloxMaxDraws) {
    const int64_t count = std::min(kPhiloxMaxDraws, span - s0);
    philox_draws(seed, kStreamAttnDropout, static_cast<int64_t>(first) + s0, count, words);
    // Rows whose draws [i * row_stride, i * row_stride + nk) meet this run [s0, s0 + count).
    for (int64_t i = s0 / row_stride; i < nr && i * row_stride < s0 + count; ++i) {
      const int64_t j_begin = std::max<int64_t>(0, s0 - i * row_stride);
      const int64_t j_end = std::min(nk, s0 + count - i * row_stride);
      const uint32_t* w = words + (i * row_stride - s0);
      float* dst = keep + i * kBlockK;
      for (int64_t j = j_begin; j < j_end; ++j) dst[j] = philox_keeps(w[j], threshold) ? kept : 0.0f;
    }
  }
}

// The t-th block of n in the order 0, n-1, 1, n-2, ...: under a causal mask the cost of a block grows (query
// blocks) or shrinks (key blocks) with its index, so runs of consecutive blocks in this order cost about the same.
int64_t zigzag(int64_t t, int64_t n) { return t % 2 == 0 ? t / 2 : n - 1 - t / 2; }

// Fewest units of `flops_per_unit` each worth handing to a thread: tiny problems stay on the calling thread.
int64_t grain_for(int64_t flops_per_unit) {
  return std::max<int64_t>(1, kMinFlopsPerChunk / std::max<int64_t>(1, flops_per_unit));
}

// parallel_for whose workers may fail to allocate scratch: the failure is rethrown on the calling thread as
// std::bad_alloc, since an exception escaping a pool thread would end the process.
void parallel_for_allocating(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  std::atomic<bool> out_of_memory{false};
  parallel_for(n, grain, [&](int64_t begin, int64_t end) {
    try {
      fn(begin, end);
    } catch (const std::bad_alloc&) {
      out_of_memory = true;
    }
  });
  if (out_of_memory) throw std::bad_alloc();
}

// ---- forward --------------------------------------------------------------------------------------------------

// Keys in the block starting at j0.
int64_t block_keys(const Problem& p, int64_t j0) { return std::min(kBlockK, p.Tk - j0); }

// Scratch is per thread and kept from call to call (it only grows): decoding and short sequences make calls so
// small that allocating and zeroing fresh tiles cost as much as the tiles' arithmetic.
struct ForwardScratch {
  std::vector<float> S, pack, acc, row_max, row_sum, keep;
  // Every key block of one head, packed the first time a query block of that head needs it: a thread's units
  // are mostly consecutive query blocks of the same head, which then share the packing.
  std::vector<float> head_pack;
  std::vector<char> head_packed;
  const float* head_k = nullptr;

  static ForwardScratch& of_this_thread(int64_t D, int64_t Tk) {
    thread_local ForwardScratch s;
    const int64_t k_blocks = (Tk + kBlockK - 1) / kBlockK;
    s.S.resize(kBlockQ * kBlockK);
    s.pack.resize(D * kBlockK);
    s.acc.resize(kBlockQ * D);
    s.row_max.resize(kBlockQ);
    s.row_sum.resize(kBlockQ);
    s.keep.resize(kBlockQ * kBlockK);
    s.head_pack.resize(k_blocks * kBlockK * D);
    s.head_packed.resize(k_blocks);
    s.head_k = nullptr;  // keys at the same address in the last call may hold other values now
    return s;
  }

  // The key block starting at j0 of head hd, packed by pack_transposed with row stride
  // packed_stride(block_keys(p, j0)): always the whole block, since query blocks may need different parts of it.
  const float* packed_keys(const Problem& p, const Head& hd, int64_t j0) {
    if (head_k != hd.k) {
      head_k = hd.k;
      std::fill(head_packed.begin(), head_packed.end(), 0);
    }
    const int64_t block = j0 / kBlockK;
    float* dst = head_pack.data() + block * kBlockK * p.D;
    if (!head_packed[block]) {
      p.ops.pack_transposed(dst, hd.k + j0 * p.ks.t, p.ks.t, block_keys(p, j0), p.D);
      head_packed[block] = 1;
    }
    return dst;
  }
};

// Queries i0 .. i0+nq-1 against keys [0, key_end) in blocks, with the online softmax: each row keeps its running
// max m and sum l of exp(score - m), and its accumulator is rescaled when m grows. Writes the output rows (ld_out
// apart) and the rows' lse.
void forward_key_blocks(const Problem& p, const Head& hd, int64_t i0, int64_t nq, int64_t key_end, float* out_rows,
                        int64_t ld_out, float* lse_rows, ForwardScratch& s) {
  const int64_t D = p.D, Tk = p.Tk;
  const AttnOptions& o = p.opt;
  float* S = s.S.data();
  float* acc = s.acc.data();
  float* m = s.row_max.data();
  float* l = s.row_sum.data();
  std::fill(acc, acc + nq * D, 0.0f);
  std::fill(m, m + nq, kNegInf);
  std::fill(l, l + nq, 0.0f);
  for (int64_t j0 = 0; j0 < key_end; j0 += kBlockK) {
    const int64_t nk = std::min(kBlockK, key_end - j0);
    const float* kt = s.packed_keys(p, hd, j0);
    const int64_t ldkt = packed_stride(block_keys(p, j0));
    for_each_slice(p, i0, nq, j0, nk, [&](int64_t r0, int64_t nr, int64_t nk_r) {
      float* S_r = S + r0 * kBlockK;
      score_tile(p, hd, i0 + r0, nr, j0, nk_r, kt, ldkt, S_r);
      if (o.dropout_p > 0.0f)
        dropout_tile_multipliers(s.keep.data(), o.seed, hd.dropout_first + (i0 + r0) * Tk + j0, Tk, nr, nk_r,
                                 o.dropout_p);
      for (int64_t i = r0; i < r0 + nr; ++i) {
        float* row = S + i * kBlockK;
        const float m_new = std::max(m[i], p.ops.row_max(row, nk_r));
        if (m_new == kNegInf) {  // nothing visible yet in this row
          std::fill(row, row + nk_r, 0.0f);
          continue;
        }
        const float correction = std::exp(m[i] - m_new);
        l[i] = l[i] * correction + p.ops.exp_sum(row, nk_r, m_new);
        m[i] = m_new;
        if (correction != 1.0f) {
          float* a = acc + i * D;
          for (int64_t d = 0; d < D; ++d) a[d] *= correction;
        }
        if (o.dropout_p > 0.0f) {
          const float* keep = s.keep.data() + (i - r0) * kBlockK;
          for (int64_t j = 0; j < nk_r; ++j) row[j] *= keep[j];
        }
      }
      p.ops.matmul(acc + r0 * D, D, S_r, kBlockK, 1, hd.v + j0 * p.vs.t, p.vs.t, nr, D, nk_r, true);
    });
  }
  for (int64_t i = 0; i < nq; ++i) {
    float* dst = out_rows + i * ld_out;
    if (l[i] == 0.0f) {  // every key masked: zero output, and lse = +inf makes exp(score - lse) = 0
      std::fill(dst, dst + D, 0.0f);
      lse_rows[i] = kPosInf;
      continue;
    }
    p.ops.scale_rows(dst, 0, acc + i * D, 0, 1, D, 1.0f / l[i]);
    lse_rows[i] = m[i] + std::log(l[i]);
  }
}

// forward_key_blocks when every key the query block sees is in the first block (short sequences, and the first
// query block under a causal mask): each row's softmax is complete after that block, so its probabilities are
// normalised before the product, which then writes the output rows in place. No accumulator to zero, rescale and
// copy out: at such lengths those passes are a visible share of the forward.
void forward_one_key_block(const Problem& p, const Head& hd, int64_t i0, int64_t nq, int64_t key_end, float* out_rows,
                           int64_t ld_out, float* lse_rows, float* weight_rows, ForwardScratch& s) {
  const int64_t D = p.D, Tk = p.Tk;
  const AttnOptions& o = p.opt;
  float* S = s.S.data();
  float* m = s.row_max.data();
  float* l = s.row_sum.data();
  std::fill(l, l + nq, 0.0f);  // rows that no slice reaches see no key
  if (weight_rows) std::fill(weight_rows, weight_rows + nq * Tk, 0.0f);
  const float* kt = s.packed_keys(p, hd, 0);
  const int64_t ldkt = packed_stride(block_keys(p, 0));
  for_each_slice(p, i0, nq, 0, key_end, [&](int64_t r0, int64_t nr, int64_t nk_r) {
    float* S_r = S + r0 * kBlockK;
    score_tile(p, hd, i0 + r0, nr, 0, nk_r, kt, ldkt, S_r);
    if (o.dropout_p > 0.0f)
      dropout_tile_multipliers(s.keep.data(), o.seed, hd.dropout_first + (i0 + r0) * Tk, Tk, nr, nk_r, o.dropout_p);
    // Phase by phase over the rows (maxima, exponentials, then the rest) rather than row by row: the rows of a
    // phase are independent, so their reductions overlap instead of making one long chain of latencies per row.
    for (int64_t i = r0; i < r0 + nr; ++i) m[i] = p.ops.row_max(S + i * kBlockK, nk_r);
    for (int64_t i = r0; i < r0 + nr; ++i) {
      float* row = S + i * kBlockK;
      if (m[i] == kNegInf)  // every key of this row masked
        std::fill(row, row + nk_r, 0.0f);
      else
        l[i] = p.ops.exp_sum(row, nk_r, m[i]);
    }
    for (int64_t i = r0; i < r0 + nr; ++i) {
      if (l[i] == 0.0f) continue;
      float* row = S + i * kBlockK;
      lse_rows[i] = m[i] + std::log(l[i]);
      p.ops.scale_rows(row, 0, row, 0, 1, nk_r, 1.0f / l[i]);
      if (weight_rows) std::copy(row, row + nk_r, weight_rows + i * Tk);
      if (o.dropout_p > 0.0f) {
        const float* keep = s.keep.data() + (i - r0) * kBlockK;
        for (int64_t j = 0; j < nk_r; ++j) row[j] *= keep[j];
      }
    }
    p.ops.matmul(out_rows + r0 * ld_out, ld_out, S_r, kBlockK, 1, hd.v, p.vs.t, nr, D, nk_r, false);
  });
  for (int64_t i = 0; i < nq; ++i) {
    if (l[i] != 0.0f) continue;
    // Every key masked: zero output, and lse = +inf makes exp(score - lse) = 0.
    std::fill(out_rows + i * ld_out, out_rows + i * ld_out + D, 0.0f);
    lse_rows[i] = kPosInf;
  }
}

// The attention probabilities of queries i0 .. i0+nq-1 (rows of Tk, zero past key_end), from the final lse: a
// second pass over the visible keys.
void write_weights(const Problem& p, const Head& hd, int64_t i0, int64_t nq, int64_t key_end, const float* lse_rows,
                   float* weights, ForwardScratch& s) {
  const int64_t D = p.D, Tk = p.Tk;
  float* S = s.S.data();
  float* w_rows = weights + ((hd.b * p.H + hd.h) * p.Tq + i0) * Tk;
  for (int64_t j0 = 0; j0 < key_end; j0 += kBlockK) {
    const int64_t nk = std::min(kBlockK, key_end - j0);
    p.ops.pack_transposed(s.pack.data(), hd.k + j0 * p.ks.t, p.ks.t, nk, D);
    score_tile(p, hd, i0, nq, j0, nk, s.pack.data(), packed_stride(nk), S);
    for (int64_t i = 0; i < nq; ++i) {
      float* row = S + i * kBlockK;
      p.ops.exp_sum(row, nk, lse_rows[i]);
      std::copy(row, row + nk, w_rows + i * Tk + j0);
    }
  }
  for (int64_t i = 0; i < nq; ++i) std::fill(w_rows + i * Tk + key_end, w_rows + (i + 1) * Tk, 0.0f);
}

void forward_query_block(const Problem& p, const Head& hd, int64_t i0, float* out, AttnStrides os, float* lse,
                         float* weights, ForwardScratch& s) {
  const int64_t nq = std::min(kBlockQ, p.Tq - i0);
  const int64_t key_end = visible_key_end(p, i0, nq);
  float* out_rows = out + hd.b * os.b + hd.h * os.h + i0 * os.t;
  float* lse_rows = lse + (hd.b * p.H + hd.h) * p.Tq + i0;
  if (key_end <= kBlockK) {
    float* weight_rows = weights ? weights + ((hd.b * p.H + hd.h) * p.Tq + i0) * p.Tk : nullptr;
    forward_one_key_block(p, hd, i0, nq, key_end, out_rows, os.t, lse_rows, weight_rows, s);
    return;
  }
  forward_key_blocks(p, hd, i0, nq, key_end, out_rows, os.t, lse_rows, s);
  if (weights) write_weights(p, hd, i0, nq, key_end, lse_rows, weights, s);
}

// ---- backward -------------------------------------------------------------------------------------------------

// Per thread and kept between calls, as ForwardScratch.
struct BackwardScratch {
  std::vector<float> S, dS, kt, vt, keep, dropped, dk_acc, dv_acc, row_dot, dq_acc;

  static BackwardScratch& of_this_thread(int64_t Tq, int64_t D) {
    thread_local BackwardScratch s;
    for (auto* tile : {&s.S, &s.dS, &s.keep, &s.dropped}) tile->resize(kBlockQ * kBlockK);
    for (auto* block : {&s.kt, &s.vt, &s.dk_acc, &s.dv_acc}) block->resize(kBlockK * D);
    s.row_dot.resize(Tq);
    s.dq_acc.resize(Tq * D);
    return s;
  }
};

// Where a backward tile puts one gradient: rows `ld` floats apart, either an accumulator added to (scaled and
// written out later) or, when this tile alone makes the gradient, its own rows, overwritten.
struct GradRows {
  float* rows;
  int64_t ld;
  bool accumulate;
};

// One tile of the backward: queries i0 .. i0+nq-1 against keys j0 .. j0+nk-1 (packed in s.kt and s.vt).
// dq holds rows i0 .. i0+nq-1 (its first row is query i0's), dk and dv rows 0 .. nk-1. dS is multiplied by
// ds_scale: the score scale, when the gradients are written in place and no later pass applies it.
void backward_tile(const Problem& p, const Head& hd, int64_t i0, int64_t nq, int64_t j0, int64_t nk, int64_t ld_packed,
                   const float* dO, AttnStrides os, const float* lse_h, GradRows dq, GradRows dk, GradRows dv,
                   float ds_scale, BackwardScratch& s) {
  const int64_t D = p.D;
  const AttnOptions& o = p.opt;
  float* S = s.S.data();
  float* dS = s.dS.data();
  const float* q_blk = hd.q + i0 * p.qs.t;
  const float* dO_blk = dO + i0 * os.t;
  // P: the forward's probabilities read in place (rows Tk apart), or recomputed into S.
  const float* P = S;
  int64_t ldp = kBlockK;
  if (p.probs) {
    P = p.probs + ((hd.b * p.H + hd.h) * p.Tq + i0) * p.Tk + j0;
    ldp = p.Tk;
  } else {
    score_tile(p, hd, i0, nq, j0, nk, s.kt.data(), ld_packed, S);
    for (int64_t i = 0; i < nq; ++i) p.ops.exp_sum(S + i * kBlockK, nk, lse_h[i0 + i]);  // S now holds P
  }

  // The forward multiplied V by the dropped probabilities P * keep/(1-p).
  const float* P_used = P;
  int64_t ld_used = ldp;
  if (o.dropout_p > 0.0f) {
    const float* keep = s.keep.data();
    float* dropped = s.dropped.data();
    dropout_tile_multipliers(s.keep.data(), o.seed, hd.dropout_first + i0 * p.Tk + j0, p.Tk, nq, nk, o.dropout_p);
    for (int64_t i = 0; i < nq; ++i)
      for (int64_t j = 0; j < nk; ++j) dropped[i * kBlockK + j] = P[i * ldp + j] * keep[i * kBlockK + j];
    P_used = dropped;
    ld_used = kBlockK;
  }
  // dV (+)= P_used^T dO
  p.ops.matmul(dv.rows, dv.ld, P_used, 1, ld_used, dO_blk, os.t, nk, D, nq, dv.accumulate);
  // dP = dO V^T (through the dropout multipliers), then dS = P * (dP - row_dot)
  p.ops.scores(dS, kBlockK, dO_blk, os.t, s.vt.data(), ld_packed, nq, nk, D, 1.0f);
  for (int64_t i = 0; i < nq; ++i) {
    float* ds = dS + i * kBlockK;
    const float* pr = P + i * ldp;
    const float di = s.row_dot[i0 + i];
    if (o.dropout_p > 0.0f) {
      const float* kr = s.keep.data() + i * kBlockK;
      for (int64_t j = 0; j < nk; ++j) ds[j] = pr[j] * (ds[j] * kr[j] - di) * ds_scale;
    } else {
      for (int64_t j = 0; j < nk; ++j) ds[j] = pr[j] * (ds[j] - di) * ds_scale;
    }
  }
  // dQ (+)= dS K and dK (+)= dS^T Q.
  p.ops.matmul(dq.rows, dq.ld, dS, kBlockK, 1, hd.k + j0 * p.ks.t, p.ks.t, nq, D, nk, dq.accumulate);
  p.ops.matmul(dk.rows, dk.ld, dS, 1, kBlockK, q_blk, p.qs.t, nk, D, nq, dk.accumulate);
}

// Key blocks zigzag(t) for t in [t_begin, t_end) of one head: writes their dK and dV rows, and adds the
// (unscaled) contributions of those keys to dq_acc [Tq, D].
void backward_key_blocks(const Problem& p, const Head& hd, int64_t t_begin, int64_t t_end, float* dk, float* dv,
                         float* dq_acc, const float* dout, const float* out, AttnStrides os, const float* lse,
                         BackwardScratch& s) {
  const int64_t D = p.D, Tq = p.Tq, Tk = p.Tk;
  const float* dO = dout + hd.b * os.b + hd.h * os.h;
  const float* O = out + hd.b * os.b + hd.h * os.h;
  const float* lse_h = lse + (hd.b * p.H + hd.h) * Tq;
  float* dk_acc = s.dk_acc.data();
  float* dv_acc = s.dv_acc.data();

  // row_dot[i] = dO_i . O_i = sum_j P_ij dP_ij: the softmax backward's per-row term.
  p.ops.row_dots(s.row_dot.data(), dO, O, os.t, Tq, D);

  const int64_t k_blocks = (Tk + kBlockK - 1) / kBlockK;
  for (int64_t t = t_begin; t < t_end; ++t) {
    const int64_t j0 = zigzag(t, k_blocks) * kBlockK;
    const int64_t nk = std::min(kBlockK, Tk - j0);
    // Packed once per key block, then used by every query block.
    if (!p.probs) p.ops.pack_transposed(s.kt.data(), hd.k + j0 * p.ks.t, p.ks.t, nk, D);
    p.ops.pack_transposed(s.vt.data(), hd.v + j0 * p.vs.t, p.vs.t, nk, D);
    std::fill(dk_acc, dk_acc + nk * D, 0.0f);
    std::fill(dv_acc, dv_acc + nk * D, 0.0f);
    for (int64_t i0 = 0; i0 < Tq; i0 += kBlockQ) {
      const int64_t nq = std::min(kBlockQ, Tq - i0);
      if (j0 >= visible_key_end(p, i0, nq)) continue;  // the whole tile is above the causal diagonal
      for_each_slice(p, i0, nq, j0, nk, [&](int64_t r0, int64_t nr, int64_t nk_r) {
        // The score scale is applied once, when the sums are written out.
        backward_tile(p, hd, i0 + r0, nr, j0, nk_r, packed_stride(nk), dO, os, lse_h, {dq_acc + (i0 + r0) * D, D, true},
                      {dk_acc, D, true}, {dv_acc, D, true}, 1.0f, s);
      });
    }
    float* dk_rows = dk + hd.b * p.ks.b + hd.h * p.ks.h + j0 * p.ks.t;
    float* dv_rows = dv + hd.b * p.vs.b + hd.h * p.vs.h + j0 * p.vs.t;
    p.ops.scale_rows(dk_rows, p.ks.t, dk_acc, D, nk, D, p.opt.scale);
    p.ops.scale_rows(dv_rows, p.vs.t, dv_acc, D, nk, D, 1.0f);
  }
}

// A head whose queries and keys fit one tile (short sequences, as in translation or G2P): the tile alone makes
// dQ, dK and dV, so its products write them in place, with the score scale folded into dS, instead of into
// accumulators that are zeroed before and copied out after.
bool one_tile_per_head(const Problem& p) { return p.Tq <= kBlockQ && p.Tk <= kBlockK; }

void backward_one_tile(const Problem& p, const Head& hd, float* dq, float* dk, float* dv, const float* dout,
                       const float* out, AttnStrides os, const float* lse, BackwardScratch& s) {
  const int64_t D = p.D, Tq = p.Tq, Tk = p.Tk;
  const float* dO = dout + hd.b * os.b + hd.h * os.h;
  const float* O = out + hd.b * os.b + hd.h * os.h;
  const float* lse_h = lse + (hd.b * p.H + hd.h) * Tq;
  p.ops.row_dots(s.row_dot.data(), dO, O, os.t, Tq, D);
  if (!p.probs) p.ops.pack_transposed(s.kt.data(), hd.k, p.ks.t, Tk, D);
  p.ops.pack_transposed(s.vt.data(), hd.v, p.vs.t, Tk, D);
  float* dq_rows = dq + hd.b * p.qs.b + hd.h * p.qs.h;
  float* dk_rows = dk + hd.b * p.ks.b + hd.h * p.ks.h;
  float* dv_rows = dv + hd.b * p.vs.b + hd.h * p.vs.h;
  const bool crosses_diagonal = p.opt.causal && Tk - 1 > p.opt.causal_offset;
  if (!crosses_diagonal) {
    backward_tile(p, hd, 0, Tq, 0, Tk, packed_stride(Tk), dO, os, lse_h, {dq_rows, p.qs.t, false},
                  {dk_rows, p.ks.t, false}, {dv_rows, p.vs.t, false}, p.opt.scale, s);
    return;
  }
  // Cut into row slices under the causal diagonal (for_each_slice): each slice writes its own rows of dQ, but
  // their rows of dK and dV overlap, so those are summed first. Rows that see no key at all are in no slice.
  const int64_t blind_rows = std::clamp<int64_t>(-p.opt.causal_offset, 0, Tq);
  for (int64_t i = 0; i < blind_rows; ++i) std::fill(dq_rows + i * p.qs.t, dq_rows + i * p.qs.t + D, 0.0f);
  float* dk_acc = s.dk_acc.data();
  float* dv_acc = s.dv_acc.data();
  std::fill(dk_acc, dk_acc + Tk * D, 0.0f);
  std::fill(dv_acc, dv_acc + Tk * D, 0.0f);
  for_each_slice(p, 0, Tq, 0, Tk, [&](int64_t r0, int64_t nr, int64_t nk_r) {
    backward_tile(p, hd, r0, nr, 0, nk_r, packed_stride(Tk), dO, os, lse_h, {dq_rows + r0 * p.qs.t, p.qs.t, false},
                  {dk_acc, D, true}, {dv_acc, D, true}, p.opt.scale, s);
  });
  p.ops.scale_rows(dk_rows, p.ks.t, dk_acc, D, Tk, D, 1.0f);
  p.ops.scale_rows(dv_rows, p.vs.t, dv_acc, D, Tk, D, 1.0f);
}

// dq rows of one head = scale * the sum of `parts` [Tq, D] partial sums `part_stride` apart.
void write_dq(const Problem& p, const Head& hd, float* dq, const float* parts, int64_t n_parts, int64_t part_stride) {
  float* dq_rows = dq + hd.b * p.qs.b + hd.h * p.qs.h;
  if (n_parts == 1) return p.ops.scale_rows(dq_rows, p.qs.t, parts, p.D, p.Tq, p.D, p.opt.scale);
  for (int64_t i = 0; i < p.Tq; ++i)
    for (int64_t d = 0; d < p.D; ++d) {
      float sum = 0.0f;
      for (int64_t g = 0; g < n_parts; ++g) sum += parts[g * part_stride + i * p.D + d];
      dq_rows[i * p.qs.t + d] = sum * p.opt.scale;
    }
}

}  // namespace

void attention_forward(float* out, float* lse, float* weights, const float* q, const float* k, const float* v,
                       int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, AttnStrides q_strides,
                       AttnStrides k_strides, AttnStrides v_strides, AttnStrides out_strides, const AttnOptions& opt) {
  const Problem p{q, k, v, B, H, Tq, Tk, D, q_strides, k_strides, v_strides, opt, tile_ops()};
  // Units are query blocks, in zigzag order per head so that the contiguous ranges parallel_for hands out
  // balance the threads under a causal mask.
  const int64_t q_blocks = (Tq + kBlockQ - 1) / kBlockQ;
  // A unit's cost is its flops plus its reads of K and V at kFlopsPerByte: decoding (one query per head) does
  // little arithmetic on keys and values it mostly reads from memory, and still gains from a second thread.
  const int64_t cost_per_block = 4 * std::min(kBlockQ, Tq) * Tk * D + kFlopsPerByte * 2 * Tk * D * 4;
  parallel_for_allocating(B * H * q_blocks, grain_for(cost_per_block), [&](int64_t begin, int64_t end) {
    ForwardScratch& s = ForwardScratch::of_this_thread(D, Tk);
    for (int64_t u = begin; u < end; ++u) {
      const int64_t bh = u / q_blocks, t = u % q_blocks;
      forward_query_block(p, head_of(p, bh / H, bh % H), zigzag(t, q_blocks) * kBlockQ, out, out_strides, lse, weights,
                          s);
    }
  });
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* out, const float* lse, const float* probs, int64_t B, int64_t H,
                        int64_t Tq, int64_t Tk, int64_t D, AttnStrides q_strides, AttnStrides k_strides,
                        AttnStrides v_strides, AttnStrides out_strides, const AttnOptions& opt) {
  const Problem p{q, k, v, B, H, Tq, Tk, D, q_strides, k_strides, v_strides, opt, tile_ops(), probs};
  const int64_t k_blocks = (Tk + kBlockK - 1) / kBlockK;
  const int64_t threads = num_threads();
  const int64_t flops_per_head = 10 * Tq * Tk * D;
  if (threads == 1 || B * H >= 4 * threads || k_blocks == 1) {
    // Each (b, h) is owned by one thread, so dQ (summed over key blocks) and dK/dV need no synchronisation.
    parallel_for_allocating(B * H, grain_for(flops_per_head), [&](int64_t begin, int64_t end) {
      BackwardScratch& s = BackwardScratch::of_this_thread(Tq, D);
      float* dq_acc = s.dq_acc.data();
      const bool one_tile = one_tile_per_head(p);
      for (int64_t bh = begin; bh < end; ++bh) {
        const Head hd = head_of(p, bh / H, bh % H);
        if (one_tile) {
          backward_one_tile(p, hd, dq, dk, dv, dout, out, out_strides, lse, s);
          continue;
        }
        std::fill(dq_acc, dq_acc + Tq * D, 0.0f);
        backward_key_blocks(p, hd, 0, k_blocks, dk, dv, dq_acc, dout, out, out_strides, lse, s);
        write_dq(p, hd, dq, dq_acc, 1, 0);
      }
    });
    return;
  }
  // Too few heads to balance the threads: each head's key blocks (in zigzag order) are split into `groups`
  // ranges, which write disjoint dK/dV rows and their own partial dQ, summed at the end.
  const int64_t groups = std::min(k_blocks, (4 * threads + B * H - 1) / (B * H));
  const int64_t units = B * H * groups;
  ChunkRows dq_parts(units, Tq * D);
  parallel_for_allocating(units, grain_for(flops_per_head / groups), [&](int64_t begin, int64_t end) {
    BackwardScratch& s = BackwardScratch::of_this_thread(Tq, D);
    for (int64_t u = begin; u < end; ++u) {
      const int64_t bh = u / groups, g = u % groups;
      backward_key_blocks(p, head_of(p, bh / H, bh % H), g * k_blocks / groups, (g + 1) * k_blocks / groups, dk, dv,
                          dq_parts.row(u), dout, out, out_strides, lse, s);
    }
  });
  parallel_for(B * H, grain_for(groups * Tq * D), [&](int64_t begin, int64_t end) {
    for (int64_t bh = begin; bh < end; ++bh)
      write_dq(p, head_of(p, bh / H, bh % H), dq, dq_parts.row(bh * groups), groups, dq_parts.stride());
  });
}

}  // namespace tn
