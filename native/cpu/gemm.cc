// Blocked GEMM in the style of Goto/BLIS: C is computed in MC x NC blocks, K in KC slices; each slice of op(B)
// (and of op(A), unless C is narrow) is packed into contiguous micro-panels, which also undoes any transpose so
// NN/NT/TN/TT all run the same inner loop, and a register-tiled micro-kernel computes one MR x NR tile of C per
// call. A single row of C (M = 1) skips all that and streams B once.
#include "gemm.h"

#include <algorithm>
#include <cstdlib>
#include <new>

#include "isa.h"
#include "threadpool.h"

namespace tn {

void gemm_store_tile(const float* acc, int64_t acc_stride, float* C, int64_t ldc, int64_t mr, int64_t nr, float alpha,
                     float beta, const float* bias) {
  for (int64_t i = 0; i < mr; ++i) {
    float* c = C + i * ldc;
    const float* a = acc + i * acc_stride;
    for (int64_t j = 0; j < nr; ++j) {
      float v = alpha * a[j];
      if (beta != 0.0f) v += beta * c[j];
      if (bias) v += bias[j];
      c[j] = v;
    }
  }
}

void gemm_pack_panels_generic(const float* src, int64_t row_step, int64_t col_step, int64_t rows, int64_t cols,
                              int64_t width, float* dst) {
  for (int64_t pr = 0; pr < rows; pr += width) {
    const int64_t h = std::min(width, rows - pr);
    const float* panel = src + pr * row_step;
    if (col_step == 1) {
      // Rows contiguous in memory: read each row straight through, write with a stride of `width`.
      for (int64_t r = 0; r < h; ++r)
        for (int64_t c = 0; c < cols; ++c) dst[c * width + r] = panel[r * row_step + c];
    } else {
      for (int64_t c = 0; c < cols; ++c)
        for (int64_t r = 0; r < h; ++r) dst[c * width + r] = panel[r * row_step + c * col_step];
    }
    for (int64_t r = h; r < width; ++r)
      for (int64_t c = 0; c < cols; ++c) dst[c * width + r] = 0.0f;
    dst += width * cols;
  }
}

namespace {

// Portable micro-kernel: plain loops over a fixed 4 x 8 tile that g++ -O3 keeps in SSE registers (a 6 x 8 tile
// spills).
constexpr int64_t kGenericMR = 4;
constexpr int64_t kGenericNR = 8;

void micro_kernel_generic(int64_t kc, const float* a, int64_t a_row_step, int64_t a_col_step, const float* b_panel,
                          float* C, int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta, const float* bias) {
  float acc[kGenericMR][kGenericNR] = {};
  if (a_row_step == 1 && a_col_step == kGenericMR) {
    for (int64_t p = 0; p < kc; ++p) {
      const float* ap = a + p * kGenericMR;
      const float* b = b_panel + p * kGenericNR;
      for (int64_t i = 0; i < kGenericMR; ++i)
        for (int64_t j = 0; j < kGenericNR; ++j) acc[i][j] += ap[i] * b[j];
    }
  } else {
    // A in place (correct for any steps, but g++ spills this loop, so the generic path always packs A). Rows past
    // mr repeat the last real row, so A is never read past its end.
    const float* rows[kGenericMR];
    for (int64_t i = 0; i < kGenericMR; ++i) rows[i] = a + (i < mr ? i : mr - 1) * a_row_step;
    for (int64_t p = 0; p < kc; ++p) {
      const float* b = b_panel + p * kGenericNR;
      for (int64_t i = 0; i < kGenericMR; ++i)
        for (int64_t j = 0; j < kGenericNR; ++j) acc[i][j] += rows[i][p * a_col_step] * b[j];
    }
  }
  gemm_store_tile(&acc[0][0], kGenericNR, C, ldc, mr, nr, alpha, beta, bias);
}

// M = 1 (one token at inference): C's row straight from op(B) in place. Packing would copy all of B to use each
// element once, and a 6-row tile would waste 5/6 of its work.
void gemm_row_generic(const float* a, const float* B, bool transB, int64_t N, int64_t K, int64_t j_begin, int64_t j_end,
                      float* c, float alpha, float beta, const float* bias) {
  constexpr int64_t kColumns = 64;  // columns accumulated together, so each row of B is read in long runs
  float acc[kColumns];
  for (int64_t j0 = j_begin; j0 < j_end; j0 += kColumns) {
    const int64_t w = std::min(kColumns, j_end - j0);
    if (!transB) {
      for (int64_t j = 0; j < w; ++j) acc[j] = 0.0f;
      for (int64_t p = 0; p < K; ++p) {
        const float* b = B + p * N + j0;
        for (int64_t j = 0; j < w; ++j) acc[j] += a[p] * b[j];
      }
    } else {
      for (int64_t j = 0; j < w; ++j) {
        // Eight partial sums: a float reduction g++ may vectorise without reassociating on its own.
        const float* b = B + (j0 + j) * K;
        float partial[8] = {};
        int64_t p = 0;
        for (; p + 8 <= K; p += 8)
          for (int64_t l = 0; l < 8; ++l) partial[l] += a[p + l] * b[p + l];
        float sum = 0.0f;
        for (; p < K; ++p) sum += a[p] * b[p];
        for (float v : partial) sum += v;
        acc[j] = sum;
      }
    }
    gemm_store_tile(acc, 0, c + j0, 0, 1, w, alpha, beta, bias ? bias + j0 : nullptr);
  }
}

using MicroKernel = void (*)(int64_t kc, const float* a, int64_t a_row_step, int64_t a_col_step, const float* b_panel,
                             float* C, int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta, const float* bias);
using Packer = void (*)(const float* src, int64_t row_step, int64_t col_step, int64_t rows, int64_t cols, int64_t width,
                        float* dst);
using RowKernel = void (*)(const float* a, const float* B, bool transB, int64_t N, int64_t K, int64_t j_begin,
                           int64_t j_end, float* c, float alpha, float beta, const float* bias);

// The kernels of one ISA path and its block sizes. KC x NR (one B micro-panel) stays in L1 or L2 while the
// micro-kernel sweeps the MC x KC block of A held in L2; the KC x NC block of B is reused across all of A's
// blocks from L3.
struct Path {
  int64_t MR, NR, MC, KC, NC;
  // A C block at most this many columns wide reads A in place: each A tile then meets at most a few B panels,
  // too few to repay packing it.
  int64_t in_place_a_max_columns;
  MicroKernel kernel;
  Packer pack;
  RowKernel row;
};

constexpr Path kGenericPath = {
    kGenericMR, kGenericNR, 128, 256, 2048, 0, micro_kernel_generic, gemm_pack_panels_generic, gemm_row_generic};
#ifdef TN_HAVE_AVX2
// KC = 384: a 16-column B micro-panel of 384 rows (24 KiB) still leaves room in a 32 KiB L1 for the A and C lines
// it meets, and the longer slices reload and store each C tile fewer times.
constexpr Path kAvx2Path = {kGemmAvx2MR,           kGemmAvx2NR,  144, 384, 4096, 64, gemm_micro_kernel_avx2,
                            gemm_pack_panels_avx2, gemm_row_avx2};
#endif
#ifdef TN_HAVE_AVX512
// M = 1 reads B at the memory bandwidth, which AVX2 already meets. KC = 512: a 32-column B micro-panel of
// 256 rows already fills a 32 KiB L1, so longer slices lose no reuse there and halve the reloads of the C tile.
constexpr Path kAvx512Path = {kGemmAvx512MR,           kGemmAvx512NR, 144, 512, 4096, 64, gemm_micro_kernel_avx512,
                              gemm_pack_panels_avx512, gemm_row_avx2};
#endif

const Path& active_path() {
#ifdef TN_HAVE_AVX512
  if (active_isa() == Isa::avx512) return kAvx512Path;
#endif
#ifdef TN_HAVE_AVX2
  if (active_isa() == Isa::avx2) return kAvx2Path;
#endif
  return kGenericPath;
}

// One matrix operand: element (r, c) of op(X) lives at data[r * row_step + c * col_step].
struct Operand {
  const float* data;
  int64_t row_step, col_step;
};

// Packing space each thread keeps between calls, so a call allocates nothing once it has warmed up.
class PackBuffer {
 public:
  ~PackBuffer() { std::free(data_); }
  float* get(size_t count) {
    if (count > capacity_) {
      std::free(data_);
      const size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
      data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!data_) throw std::bad_alloc();
      capacity_ = count;
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  size_t capacity_ = 0;
};

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// K in equal slices of at most KC (K = 520 with KC = 384 as two of 264, not 384 + 136): a short last slice would pay
// the per-tile costs (storing C, reloading it) for little work.
int64_t slice_depth(const Path& path, int64_t K) {
  const int64_t slices = (K + path.KC - 1) / path.KC;
  return std::min(K, round_up((K + slices - 1) / slices, 8));
}

// Packs columns [j0, j1) of op(B) for K slice [pc, pc + kc) into NR-wide micro-panels at b_pack.
void pack_b_slice(const Path& path, const Operand& bt, int64_t pc, int64_t kc, int64_t j0, int64_t j1, float* b_pack) {
  path.pack(bt.data + j0 * bt.row_step + pc * bt.col_step, bt.row_step, bt.col_step, j1 - j0, kc, path.NR, b_pack);
}

// Fetches the next block of A into the cache in `steps` equal parts, one per micro-kernel call on the current
// block: the kernel is bound by its FMAs and leaves the memory system idle, while packing a block straight from
// L3 or DRAM stalls on its lines.
class BlockPrefetch {
 public:
  // The block as contiguous runs: its rows, or its columns when those are contiguous (op(A) of TN).
  BlockPrefetch(const float* block, int64_t row_step, int64_t col_step, int64_t rows, int64_t cols, int64_t steps)
      : base_(block),
        run_step_(row_step == 1 ? col_step : row_step),
        run_length_(row_step == 1 ? rows : cols),
        runs_(rows > 0 && cols > 0 ? (row_step == 1 ? cols : rows) : 0),
        steps_(steps) {}

  void step() {
    if (done_ >= runs_) return;
    const int64_t until = ++taken_ >= steps_ ? runs_ : taken_ * runs_ / steps_;
    for (; done_ < until; ++done_) {
      const float* run = base_ + done_ * run_step_;
      for (int64_t e = 0; e < run_length_; e += 16) __builtin_prefetch(run + e);
      __builtin_prefetch(run + run_length_ - 1);
    }
  }

 private:
  const float* base_;
  int64_t run_step_, run_length_, runs_, steps_, taken_ = 0, done_ = 0;
};

// C[i0:i1, j0:j1] (+)= op(A)[i0:i1, pc:pc+kc] times the packed slice of B whose first panel, at b_pack, starts
// at column j0. The first slice (pc = 0) applies beta and the bias; later ones add onto the partial result.
void multiply_slice(const Path& path, const Operand& a, int64_t pc, int64_t kc, const float* b_pack, float* C,
                    int64_t N, const float* bias, int64_t i0, int64_t i1, int64_t j0, int64_t j1, float alpha,
                    float beta) {
  thread_local PackBuffer a_buffer;
  const bool first = pc == 0;
  const bool pack_a = j1 - j0 > path.in_place_a_max_columns;
  float* a_pack =
      pack_a ? a_buffer.get(static_cast<size_t>(round_up(std::min(path.MC, i1 - i0), path.MR) * kc)) : nullptr;
  for (int64_t ic = i0; ic < i1; ic += path.MC) {
    const int64_t mc = std::min(path.MC, i1 - ic);
    const float* a_block = a.data + ic * a.row_step + pc * a.col_step;
    if (pack_a) path.pack(a_block, a.row_step, a.col_step, mc, kc, path.MR, a_pack);
    const int64_t next_mc = pack_a ? std::min(path.MC, i1 - ic - mc) : 0;
    BlockPrefetch next(a.data + (ic + mc) * a.row_step + pc * a.col_step, a.row_step, a.col_step, next_mc, kc,
                       ((j1 - j0 + path.NR - 1) / path.NR) * ((mc + path.MR - 1) / path.MR));
    for (int64_t jr = j0; jr < j1; jr += path.NR) {
      for (int64_t ir = 0; ir < mc; ir += path.MR) {
        const float* a_tile = pack_a ? a_pack + ir * kc : a_block + ir * a.row_step;
        path.kernel(kc, a_tile, pack_a ? 1 : a.row_step, pack_a ? path.MR : a.col_step, b_pack + (jr - j0) * kc,
                    C + (ic + ir) * N + jr, N, std::min(path.MR, mc - ir), std::min(path.NR, j1 - jr), alpha,
                    first ? beta : 1.0f, first && bias ? bias + jr : nullptr);
        next.step();
      }
    }
  }
}

// Space for one packed K slice of B (at most NC columns), kept by each thread between calls.
float* b_slice_buffer(const Path& path, int64_t N, int64_t kc_max) {
  thread_local PackBuffer buffer;
  return buffer.get(static_cast<size_t>(round_up(std::min(path.NC, N), path.NR) * kc_max));
}

// One whole product (K > 0) on this thread.
void gemm_serial(const Path& path, const Operand& a, const Operand& bt, float* C, const float* bias, int64_t M,
                 int64_t N, int64_t K, float alpha, float beta) {
  const int64_t kc_max = slice_depth(path, K);
  float* b_pack = b_slice_buffer(path, N, kc_max);
  for (int64_t jc = 0; jc < N; jc += path.NC) {
    const int64_t nc = std::min(path.NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += kc_max) {
      const int64_t kc = std::min(kc_max, K - pc);
      pack_b_slice(path, bt, pc, kc, jc, jc + nc, b_pack);
      multiply_slice(path, a, pc, kc, b_pack, C, N, bias, 0, M, jc, jc + nc, alpha, beta);
    }
  }
}

// Tiles of C per thread in each K slice of a shared product. They are handed out as threads come free, so a
// thread slowed by a neighbour takes fewer; equal tiles in a multiple of the thread count keep an idle
// machine's threads as evenly loaded as a static split.
constexpr int64_t kTilesPerThread = 4;
// A tile is at least this many MR-row strips tall before C is also cut into column groups: each B micro-panel
// is brought in from L3 once per tile and reused across its strips.
constexpr int64_t kMinStripsPerTile = 4;

// One product (K > 0) split over the pool. Each K slice of B is packed once, by all threads together, into the
// calling thread's buffer, which they share; then the threads take tiles of C, packing their tile's rows of A
// themselves. On an idle machine this runs as fast as fixed halves of C did; when one core is slowed by a
// neighbour, the other takes more tiles.
void gemm_shared(const Path& path, const Operand& a, const Operand& bt, float* C, const float* bias, int64_t M,
                 int64_t N, int64_t K, float alpha, float beta, int64_t threads) {
  const int64_t kc_max = slice_depth(path, K);
  const int64_t strips = (M + path.MR - 1) / path.MR;
  const int64_t tiles_wanted = threads * kTilesPerThread;
  // At least one tile per MC rows, so a tile's rows of A stay one block; a multiple of the thread count.
  const int64_t row_tiles = std::max<int64_t>(
      1, std::min(round_up(std::max(tiles_wanted, (M + path.MC - 1) / path.MC), threads), strips / kMinStripsPerTile));
  float* b_pack = b_slice_buffer(path, N, kc_max);
  for (int64_t jc = 0; jc < N; jc += path.NC) {
    const int64_t nc = std::min(path.NC, N - jc);
    const int64_t panels = (nc + path.NR - 1) / path.NR;
    const int64_t column_tiles = std::min(panels, (tiles_wanted + row_tiles - 1) / row_tiles);
    for (int64_t pc = 0; pc < K; pc += kc_max) {
      const int64_t kc = std::min(kc_max, K - pc);
      // Panels in groups of 8 (a 48 KiB slice of B per group for NR = 16 and kc = 384).
      parallel_for(panels, 8, [&](int64_t p0, int64_t p1) {
        pack_b_slice(path, bt, pc, kc, jc + p0 * path.NR, std::min(jc + nc, jc + p1 * path.NR),
                     b_pack + p0 * path.NR * kc);
      });
      parallel_for(row_tiles * column_tiles, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t rt = t / column_tiles, ct = t % column_tiles;
          // Strips and panels dealt out evenly: tiles differ by at most one of each.
          const int64_t i0 = std::min(M, rt * strips / row_tiles * path.MR);
          const int64_t i1 = std::min(M, (rt + 1) * strips / row_tiles * path.MR);
          const int64_t q0 = ct * panels / column_tiles, q1 = (ct + 1) * panels / column_tiles;
          const int64_t j0 = jc + q0 * path.NR, j1 = std::min(jc + nc, jc + q1 * path.NR);
          if (i0 < i1 && j0 < j1)
            multiply_slice(path, a, pc, kc, b_pack + q0 * path.NR * kc, C, N, bias, i0, i1, j0, j1, alpha, beta);
        }
      });
    }
  }
}

// K = 0: the product is empty, so C = beta * C (+ bias).
void scale_and_add_bias(float* C, const float* bias, int64_t M, int64_t N, float beta) {
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * N;
    for (int64_t j = 0; j < N; ++j) c[j] = (beta != 0.0f ? beta * c[j] : 0.0f) + (bias ? bias[j] : 0.0f);
  }
}

// A few rows of C (decoding a batch of sequences, one token each) go row by row through the single-row kernel,
// over column blocks small enough that their part of B stays in L2 while every row passes over it: B leaves
// DRAM once, not once per row, and each row of C is exactly what the row kernel gives it alone, so a sequence
// decodes to the same tokens in a batch as by itself.
constexpr int64_t kFewRowsMax = 8;
constexpr int64_t kFewRowsBlockBytes = 128 * 1024;

// Columns per block of the few-rows path: about kFewRowsBlockBytes of B, a whole number of NR-column panels.
int64_t few_rows_block(const Path& path, int64_t K) {
  const int64_t columns = kFewRowsBlockBytes / (4 * std::max<int64_t>(K, 1));
  return std::max<int64_t>(path.NR, columns / path.NR * path.NR);
}

void gemm_few_rows(const Path& path, const float* A, const float* B, float* C, const float* bias, bool transB,
                   int64_t M, int64_t N, int64_t K, float alpha, float beta, bool parallel) {
  const int64_t width = few_rows_block(path, K);
  const int64_t blocks = (N + width - 1) / width;
  parallel_for(blocks, parallel ? 1 : blocks, [&](int64_t begin, int64_t end) {
    for (int64_t blk = begin; blk < end; ++blk) {
      const int64_t j0 = blk * width, j1 = std::min(N, j0 + width);
      for (int64_t i = 0; i < M; ++i) path.row(A + i * K, B, transB, N, K, j0, j1, C + i * N, alpha, beta, bias);
    }
  });
}

// Below this many flops in a whole call waking the pool costs more than it saves.
constexpr double kMinParallelFlops = 2.0 * 128 * 128 * 128;
// A single row (M = 1, as in token-by-token decoding) is bound by reading B, not by flops: from 512 KiB of B
// on, a second core's share of the memory bandwidth pays for waking it.
constexpr double kMinParallelRowElements = 128.0 * 1024;

}  // namespace

void gemm(const float* A, const float* B, float* C, const float* bias, bool transA, bool transB, int64_t M, int64_t N,
          int64_t K, int64_t batch, int64_t strideA, int64_t strideB, int64_t strideC, float alpha, float beta) {
  if (M == 0 || N == 0 || batch == 0) return;
  const bool batches_independent = batch == 1 || strideC >= M * N;
  if (K == 0) {
    for (int64_t b = 0; b < batch; ++b) scale_and_add_bias(C + b * strideC, bias, M, N, beta);
    return;
  }
  const Path& path = active_path();
  const int64_t threads = num_threads();
  const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  const bool parallel =
      threads > 1 && (flops * static_cast<double>(batch) >= kMinParallelFlops ||
                      (M == 1 && static_cast<double>(N) * static_cast<double>(K) * static_cast<double>(batch) >=
                                     kMinParallelRowElements));

  // op(A)(i, p) and op(B)^T(j, p) of product b, the two operands as the packer reads them.
  auto operand_a = [&](int64_t b) { return transA ? Operand{A + b * strideA, 1, M} : Operand{A + b * strideA, K, 1}; };
  auto operand_bt = [&](int64_t b) { return transB ? Operand{B + b * strideB, K, 1} : Operand{B + b * strideB, 1, N}; };

  if (batch == 1 && M > 1 && M <= kFewRowsMax && !transA) {
    gemm_few_rows(path, A, B, C, bias, transB, M, N, K, alpha, beta,
                  threads > 1 && M * N * K >= kMinParallelRowElements);
    return;
  }
  // Many independent products go whole, one per thread at a time.
  if (!parallel || (batches_independent && (batch >= 4 * threads || batch % threads == 0))) {
    // Grain: with no parallelism the whole range is one chunk, run on this thread.
    parallel_for(batch, parallel ? 1 : batch, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        float* c = C + b * strideC;
        if (M == 1)
          path.row(A + b * strideA, B + b * strideB, transB, N, K, 0, N, c, alpha, beta, bias);
        else
          gemm_serial(path, operand_a(b), operand_bt(b), c, bias, M, N, K, alpha, beta);
      }
    });
    return;
  }
  // Otherwise each product in turn is split over the threads. A single row (M = 1) is bound by reading B, in
  // place: its columns are cut into one range per thread.
  for (int64_t b = 0; b < batch; ++b) {
    float* c = C + b * strideC;
    if (M == 1) {
      const int64_t blocks = (N + path.NR - 1) / path.NR;  // ranges start on NR-column boundaries
      parallel_for(blocks, (blocks + threads - 1) / threads, [&](int64_t begin, int64_t end) {
        path.row(A + b * strideA, B + b * strideB, transB, N, K, begin * path.NR, std::min(N, end * path.NR), c, alpha,
                 beta, bias);
      });
    } else {
      gemm_shared(path, operand_a(b), operand_bt(b), c, bias, M, N, K, alpha, beta, threads);
    }
  }
}

}  // namespace tn
