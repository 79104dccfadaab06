// GEMM entry points of the CUDA build that have no CPU twin: BF16 x BF16 -> FP32 on tensor cores (for
// autocast), and the float32 <-> bfloat16 conversions that feed it. bfloat16 values are passed as their 16-bit
// patterns so host code needs no CUDA headers; every pointer is a device pointer.
#pragma once
#include <cstdint>

namespace tn {

// Same contract as tn::gemm (native/cpu/gemm.h) with A and B in bfloat16 and C, bias, alpha, beta in float32;
// products are exact in FP32 and accumulated in FP32.
void gemm_bf16(const uint16_t* A, const uint16_t* B, float* C, const float* bias, bool transA, bool transB, int64_t M,
               int64_t N, int64_t K, int64_t batch, int64_t strideA, int64_t strideB, int64_t strideC, float alpha,
               float beta);

// Round-to-nearest-even float32 -> bfloat16 (NaN stays NaN), and the exact widening back.
void cast_float_to_bf16(const float* src, uint16_t* dst, int64_t n);
void cast_bf16_to_float(const uint16_t* src, float* dst, int64_t n);

}  // namespace tn
