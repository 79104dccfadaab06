// Matrix multiply on tensor cores: TF32 inputs for float32 (WMMA m16n16k8) and BF16 inputs (m16n16k16), FP32
// accumulation. 128 x 128 block tiles, 32-deep slices of K staged through shared memory in the layout each
// operand has in global memory (row- or column-major fragments absorb the transposes), double-buffered: the
// next slice is loaded into registers while the current one is multiplied, then stored into the other buffer,
// one barrier per slice. Edge tiles are zero-padded, so any M, N, K works.
#include <cuda_bf16.h>
#include <mma.h>

#include <cstdint>
#include <type_traits>

#include "../cpu/gemm.h"
#include "gemm_bf16.h"
#include "runtime.cuh"

namespace tn {
namespace {

using namespace nvcuda;

constexpr int kBM = 128, kBN = 128, kBK = 32, kThreads = 256;
constexpr int kPerThread = kBM * kBK / kThreads;  // elements of each operand tile a thread loads
static_assert(kBN * kBK / kThreads == kPerThread, "A and B tiles must have the same size");

template <typename T>
struct MmaTraits;
template <>
struct MmaTraits<float> {
  using Input = wmma::precision::tf32;
  static constexpr int kK = 8;
  static constexpr int kPad = 4;  // keeps rows 16-byte aligned and shifts banks between rows
};
template <>
struct MmaTraits<__nv_bfloat16> {
  using Input = __nv_bfloat16;
  static constexpr int kK = 16;
  static constexpr int kPad = 8;
};

// Shared-memory tile layouts: the A tile is [BM][BK] when A is stored M x K, [BK][BM] when stored K x M
// (transA); the B tile likewise. Rows are padded by kPad elements.
template <typename T, bool TA>
__host__ __device__ constexpr int a_ld() {
  return TA ? kBM + MmaTraits<T>::kPad : kBK + MmaTraits<T>::kPad;
}
template <typename T, bool TA>
__host__ __device__ constexpr int a_size() {
  return (TA ? kBK : kBM) * a_ld<T, TA>();
}
template <typename T, bool TB>
__host__ __device__ constexpr int b_ld() {
  return TB ? kBK + MmaTraits<T>::kPad : kBN + MmaTraits<T>::kPad;
}
template <typename T, bool TB>
__host__ __device__ constexpr int b_size() {
  return (TB ? kBN : kBK) * b_ld<T, TB>();
}
// Two buffers of both tiles; the epilogue's 8 staging tiles of 16 x 16 floats fit in the same space.
template <typename T, bool TA, bool TB>
__host__ __device__ constexpr size_t gemm_shared_bytes() {
  return 2 * (a_size<T, TA>() + b_size<T, TB>()) * sizeof(T);
}
static_assert(gemm_shared_bytes<__nv_bfloat16, false, false>() >= (kThreads / 32) * 256 * sizeof(float),
              "the epilogue staging must fit in the tile buffers");

template <typename T, bool TA, bool TB>
__global__ void __launch_bounds__(kThreads)
    gemm_kernel(const T* __restrict__ A, const T* __restrict__ B, float* __restrict__ C, const float* __restrict__ bias,
                int M, int N, int K, int64_t strideA, int64_t strideB, int64_t strideC, float alpha, float beta,
                bool vec_a, bool vec_b) {
  using Tr = MmaTraits<T>;
  constexpr int kALd = a_ld<T, TA>(), kASize = a_size<T, TA>();
  constexpr int kBLd = b_ld<T, TB>(), kBSize = b_size<T, TB>();
  // Two buffers of [A tile, B tile] (dynamic shared memory: more than the 48 KiB of static shared memory);
  // after the main loop the same memory stages the epilogue. Each piece starts on a 128-byte boundary.
  extern __shared__ __align__(128) unsigned char shared_raw[];
  T* const buffers = reinterpret_cast<T*>(shared_raw);
  static_assert((kASize * sizeof(T)) % 128 == 0 && (kBSize * sizeof(T)) % 128 == 0, "tiles must keep alignment");

  const int64_t z = blockIdx.z;
  A += z * strideA;
  B += z * strideB;
  C += z * strideC;
  const int m0 = blockIdx.y * kBM, n0 = blockIdx.x * kBN;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int wm = warp >> 2, wn = warp & 3;  // 2 x 4 warps, each owning a 64 x 32 piece of the tile

  // The next K slice of each operand, in registers: kPerThread values as 16-byte groups.
  constexpr int kVec = 16 / sizeof(T);
  constexpr int kGroups = kPerThread / kVec;
  struct alignas(16) Group {
    T v[kVec];
  };
  Group ra[kGroups], rb[kGroups];
  const T zero = T(0.0f);
  // Element i of the thread's share as a (row, column) of each tile: consecutive threads take consecutive
  // addresses of the operand as stored, whatever its orientation. With 16-byte loads (vec_a / vec_b: the
  // contiguous extent is a multiple of kVec and the rows are 16-byte aligned) a thread takes kVec neighbours
  // at once; a group lies entirely inside or entirely outside the matrix.
  auto a_pos = [&](int i, int& am, int& ak) {
    if (vec_a) {
      const int v = tid + (i / kVec) * kThreads, first = (v % ((TA ? kBM : kBK) / kVec)) * kVec + i % kVec;
      const int row = v / ((TA ? kBM : kBK) / kVec);
      am = TA ? first : row;
      ak = TA ? row : first;
    } else {
      const int e = tid + i * kThreads;
      am = TA ? e % kBM : e / kBK;
      ak = TA ? e / kBM : e % kBK;
    }
  };
  auto b_pos = [&](int i, int& bn, int& bk) {
    if (vec_b) {
      const int v = tid + (i / kVec) * kThreads, first = (v % ((TB ? kBK : kBN) / kVec)) * kVec + i % kVec;
      const int row = v / ((TB ? kBK : kBN) / kVec);
      bn = TB ? row : first;
      bk = TB ? first : row;
    } else {
      const int e = tid + i * kThreads;
      bn = TB ? e / kBK : e % kBN;
      bk = TB ? e % kBK : e / kBN;
    }
  };
  auto load_tiles = [&](int k0) {
    if (vec_a) {
#pragma unroll
      for (int g = 0; g < kGroups; ++g) {
        int am, ak;
        a_pos(g * kVec, am, ak);
        const int gm = m0 + am, gk = k0 + ak;
        if (gm < M && gk < K) {
          ra[g] = *reinterpret_cast<const Group*>(TA ? A + int64_t(gk) * M + gm : A + int64_t(gm) * K + gk);
        } else {
#pragma unroll
          for (int j = 0; j < kVec; ++j) ra[g].v[j] = zero;
        }
      }
    } else {
#pragma unroll
      for (int i = 0; i < kPerThread; ++i) {
        int am, ak;
        a_pos(i, am, ak);
        const int gm = m0 + am, gk = k0 + ak;
        ra[i / kVec].v[i % kVec] = (gm < M && gk < K) ? (TA ? A[int64_t(gk) * M + gm] : A[int64_t(gm) * K + gk]) : zero;
      }
    }
    if (vec_b) {
#pragma unroll
      for (int g = 0; g < kGroups; ++g) {
        int bn, bk;
        b_pos(g * kVec, bn, bk);
        const int gn = n0 + bn, gk = k0 + bk;
        if (gn < N && gk < K) {
          rb[g] = *reinterpret_cast<const Group*>(TB ? B + int64_t(gn) * K + gk : B + int64_t(gk) * N + gn);
        } else {
#pragma unroll
          for (int j = 0; j < kVec; ++j) rb[g].v[j] = zero;
        }
      }
    } else {
#pragma unroll
      for (int i = 0; i < kPerThread; ++i) {
        int bn, bk;
        b_pos(i, bn, bk);
        const int gn = n0 + bn, gk = k0 + bk;
        rb[i / kVec].v[i % kVec] = (gn < N && gk < K) ? (TB ? B[int64_t(gn) * K + gk] : B[int64_t(gk) * N + gn]) : zero;
      }
    }
  };
  auto store_tiles = [&](int buffer) {
    T* As = buffers + buffer * (kASize + kBSize);
    T* Bs = As + kASize;
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      int am, ak, bn, bk;
      a_pos(i, am, ak);
      b_pos(i, bn, bk);
      As[TA ? ak * kALd + am : am * kALd + ak] = ra[i / kVec].v[i % kVec];
      Bs[TB ? bn * kBLd + bk : bk * kBLd + bn] = rb[i / kVec].v[i % kVec];
    }
  };

  using LayoutA = std::conditional_t<TA, wmma::col_major, wmma::row_major>;
  using LayoutB = std::conditional_t<TB, wmma::col_major, wmma::row_major>;
  wmma::fragment<wmma::accumulator, 16, 16, Tr::kK, float> acc[4][2];
#pragma unroll
  for (int fm = 0; fm < 4; ++fm)
#pragma unroll
    for (int fn = 0; fn < 2; ++fn) wmma::fill_fragment(acc[fm][fn], 0.0f);

  const int k_tiles = (K + kBK - 1) / kBK;
  if (k_tiles > 0) {
    load_tiles(0);
    store_tiles(0);
  }
  __syncthreads();
  for (int kt = 0; kt < k_tiles; ++kt) {
    const T* As = buffers + (kt & 1) * (kASize + kBSize);
    const T* Bs = As + kASize;
    if (kt + 1 < k_tiles) load_tiles((kt + 1) * kBK);  // in flight while this slice is multiplied
#pragma unroll
    for (int kk = 0; kk < kBK; kk += Tr::kK) {
      wmma::fragment<wmma::matrix_a, 16, 16, Tr::kK, typename Tr::Input, LayoutA> a[4];
      wmma::fragment<wmma::matrix_b, 16, 16, Tr::kK, typename Tr::Input, LayoutB> b[2];
#pragma unroll
      for (int fm = 0; fm < 4; ++fm) {
        const int m = wm * 64 + fm * 16;
        wmma::load_matrix_sync(a[fm], TA ? As + kk * kALd + m : As + m * kALd + kk, kALd);
        if constexpr (std::is_same_v<T, float>) {
#pragma unroll
          for (int t = 0; t < a[fm].num_elements; ++t) a[fm].x[t] = wmma::__float_to_tf32(a[fm].x[t]);
        }
      }
#pragma unroll
      for (int fn = 0; fn < 2; ++fn) {
        const int n = wn * 32 + fn * 16;
        wmma::load_matrix_sync(b[fn], TB ? Bs + n * kBLd + kk : Bs + kk * kBLd + n, kBLd);
        if constexpr (std::is_same_v<T, float>) {
#pragma unroll
          for (int t = 0; t < b[fn].num_elements; ++t) b[fn].x[t] = wmma::__float_to_tf32(b[fn].x[t]);
        }
      }
#pragma unroll
      for (int fm = 0; fm < 4; ++fm)
#pragma unroll
        for (int fn = 0; fn < 2; ++fn) wmma::mma_sync(acc[fm][fn], a[fm], b[fn], acc[fm][fn]);
    }
    // The other buffer was last read in the previous slice, which every thread finished before the barrier.
    if (kt + 1 < k_tiles) store_tiles((kt + 1) & 1);
    __syncthreads();
  }

  // Epilogue through a per-warp 16 x 16 staging tile: C = alpha * acc + beta * C (+ bias), C unread at beta 0.
  float* st = reinterpret_cast<float*>(shared_raw) + warp * 16 * 16;
#pragma unroll
  for (int fm = 0; fm < 4; ++fm) {
#pragma unroll
    for (int fn = 0; fn < 2; ++fn) {
      wmma::store_matrix_sync(st, acc[fm][fn], 16, wmma::mem_row_major);
      __syncwarp();
      const int row0 = m0 + wm * 64 + fm * 16, col0 = n0 + wn * 32 + fn * 16;
      for (int e = lane; e < 256; e += 32) {
        const int gm = row0 + (e >> 4), gn = col0 + (e & 15);
        if (gm < M && gn < N) {
          float* cp = C + int64_t(gm) * N + gn;
          float v = alpha * st[e];
          if (beta != 0.0f) v += beta * *cp;
          if (bias) v += bias[gn];
          *cp = v;
        }
      }
      __syncwarp();
    }
  }
}

template <typename T, bool TA, bool TB>
void launch(const T* A, const T* B, float* C, const float* bias, int M, int N, int K, int64_t batch, int64_t sA,
            int64_t sB, int64_t sC, float alpha, float beta) {
  // 16-byte loads need every row (and every batch) of an operand to start on a 16-byte boundary.
  constexpr int kVec = 16 / sizeof(T);
  auto aligned = [](const T* p, int64_t row, int64_t stride, int64_t batch) {
    return reinterpret_cast<uintptr_t>(p) % 16 == 0 && row % kVec == 0 && (batch == 1 || stride % kVec == 0);
  };
  const bool vec_a = aligned(A, TA ? M : K, sA, batch), vec_b = aligned(B, TB ? K : N, sB, batch);
  const dim3 grid(static_cast<unsigned>(ceil_div(N, kBN)), static_cast<unsigned>(ceil_div(M, kBM)),
                  static_cast<unsigned>(batch));
  const size_t shared = gemm_shared_bytes<T, TA, TB>();
  static bool shared_allowed = false;  // once per kernel variant
  if (!shared_allowed) {
    cuda_allow_shared_memory(reinterpret_cast<const void*>(gemm_kernel<T, TA, TB>), shared, "gemm");
    shared_allowed = true;
  }
  gemm_kernel<T, TA, TB>
      <<<grid, kThreads, shared, cuda_stream()>>>(A, B, C, bias, M, N, K, sA, sB, sC, alpha, beta, vec_a, vec_b);
}

template <typename T>
void gemm_any(const T* A, const T* B, float* C, const float* bias, bool transA, bool transB, int64_t M, int64_t N,
              int64_t K, int64_t batch, int64_t strideA, int64_t strideB, int64_t strideC, float alpha, float beta,
              const char* op) {
  if (M == 0 || N == 0 || batch == 0) return;
  if (ceil_div(M, kBM) > 65535)
    throw std::runtime_error(std::string(op) + ": M = " + std::to_string(M) + " exceeds the CUDA kernel's limit of " +
                             std::to_string(int64_t(65535) * kBM) + " rows");
  // Batches whose C regions overlap (strideC < M*N, e.g. 0 to accumulate) must run one after another.
  const bool overlapping = batch > 1 && strideC < M * N;
  const int64_t per_launch = overlapping ? 1 : 65535;
  for (int64_t b0 = 0; b0 < batch; b0 += per_launch) {
    const int64_t nb = batch - b0 < per_launch ? batch - b0 : per_launch;
    const T* a = A + b0 * strideA;
    const T* b = B + b0 * strideB;
    float* c = C + b0 * strideC;
    const int m = static_cast<int>(M), n = static_cast<int>(N), k = static_cast<int>(K);
    using Launch = void (*)(const T*, const T*, float*, const float*, int, int, int, int64_t, int64_t, int64_t, int64_t,
                            float, float);
    const Launch variants[2][2] = {{launch<T, false, false>, launch<T, false, true>},
                                   {launch<T, true, false>, launch<T, true, true>}};
    variants[transA][transB](a, b, c, bias, m, n, k, nb, strideA, strideB, strideC, alpha, beta);
    cuda_check_launch(op);
  }
}

__global__ void float_to_bf16_kernel(const float* src, __nv_bfloat16* dst, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = __float2bfloat16_rn(src[i]);
}

__global__ void bf16_to_float_kernel(const __nv_bfloat16* src, float* dst, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = __bfloat162float(src[i]);
}

}  // namespace

void gemm(const float* A, const float* B, float* C, const float* bias, bool transA, bool transB, int64_t M, int64_t N,
          int64_t K, int64_t batch, int64_t strideA, int64_t strideB, int64_t strideC, float alpha, float beta) {
  gemm_any<float>(A, B, C, bias, transA, transB, M, N, K, batch, strideA, strideB, strideC, alpha, beta, "gemm");
}

void gemm_bf16(const uint16_t* A, const uint16_t* B, float* C, const float* bias, bool transA, bool transB, int64_t M,
               int64_t N, int64_t K, int64_t batch, int64_t strideA, int64_t strideB, int64_t strideC, float alpha,
               float beta) {
  gemm_any<__nv_bfloat16>(reinterpret_cast<const __nv_bfloat16*>(A), reinterpret_cast<const __nv_bfloat16*>(B), C, bias,
                          transA, transB, M, N, K, batch, strideA, strideB, strideC, alpha, beta, "gemmBf16");
}

void cast_float_to_bf16(const float* src, uint16_t* dst, int64_t n) {
  if (n == 0) return;
  float_to_bf16_kernel<<<grid_for(n, 256), 256, 0, cuda_stream()>>>(src, reinterpret_cast<__nv_bfloat16*>(dst), n);
  cuda_check_launch("castToBf16");
}

void cast_bf16_to_float(const uint16_t* src, float* dst, int64_t n) {
  if (n == 0) return;
  const auto* halves = reinterpret_cast<const __nv_bfloat16*>(src);
  bf16_to_float_kernel<<<grid_for(n, 256), 256, 0, cuda_stream()>>>(halves, dst, n);
  cuda_check_launch("castFromBf16");
}

}  // namespace tn
