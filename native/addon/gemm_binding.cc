// gemm(a, aOffset, b, bOffset, c, cOffset, bias, biasOffset, transA, transB, M, N, K, batch,
//      strideA, strideB, strideC, alpha, beta): checks every size against the storages, then runs tn::gemm.
#include <string>

#include "../cpu/gemm.h"
#include "args.h"
#include "bindings.h"
#include "storage.h"

namespace tn {
namespace {

// Elements a batched operand spans: (batch - 1) * stride + rows * cols, or 0 when no batch touches it.
int64_t batched_extent(const Args& args, const char* name, int64_t rows, int64_t cols, int64_t batch, int64_t stride) {
  const int64_t per_matrix = checked_numel(args, {rows, cols}, name);
  if (per_matrix == 0 || batch == 0) return 0;
  if (stride > 0 && batch - 1 > (kMaxElements - per_matrix) / stride)
    args.range_error(std::string(name) + " spans more than 2^50 elements (batch=" + std::to_string(batch) +
                     ", stride=" + std::to_string(stride) + ")");
  return (batch - 1) * stride + per_matrix;
}

// A live storage with `needed` elements from `offset`; the error says which sizes asked for them.
float* operand(const Napi::CallbackInfo& info, const Args& args, size_t i, const char* name, int64_t offset,
               int64_t needed, const std::string& sizes) {
  float* data = args.f32(i, name, offset, 0);  // type, dispose and offset checks
  const int64_t held = static_cast<int64_t>(Storage::Unwrap(info[i].As<Napi::Object>())->byte_length() / 4) - offset;
  if (needed > held)
    args.range_error(std::string(name) + " holds " + std::to_string(held) + " elements" +
                     (offset ? " past offset " + std::to_string(offset) : std::string()) + ", needs " +
                     std::to_string(needed) + " (" + sizes + ")");
  return data;
}

std::string flag_text(bool v) { return v ? "true" : "false"; }

Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Args args(info, "gemm", 19);
  const int64_t a_offset = args.integer(1, "aOffset");
  const int64_t b_offset = args.integer(3, "bOffset");
  const int64_t c_offset = args.integer(5, "cOffset");
  const int64_t bias_offset = args.integer(7, "biasOffset");
  const bool trans_a = args.flag(8, "transA");
  const bool trans_b = args.flag(9, "transB");
  const int64_t M = args.integer(10, "M", 0, kMaxInt32);
  const int64_t N = args.integer(11, "N", 0, kMaxInt32);
  const int64_t K = args.integer(12, "K", 0, kMaxInt32);
  const int64_t batch = args.integer(13, "batch", 0, kMaxInt32);
  const int64_t stride_a = args.integer(14, "strideA");
  const int64_t stride_b = args.integer(15, "strideB");
  const int64_t stride_c = args.integer(16, "strideC");
  const double alpha = args.number(17, "alpha");
  const double beta = args.number(18, "beta");

  const std::string b_text = ", batch=" + std::to_string(batch);
  const std::string a_sizes = "M=" + std::to_string(M) + ", K=" + std::to_string(K) + ", transA=" + flag_text(trans_a) +
                              b_text + ", strideA=" + std::to_string(stride_a);
  const std::string b_sizes = "K=" + std::to_string(K) + ", N=" + std::to_string(N) + ", transB=" + flag_text(trans_b) +
                              b_text + ", strideB=" + std::to_string(stride_b);
  const std::string c_sizes =
      "M=" + std::to_string(M) + ", N=" + std::to_string(N) + b_text + ", strideC=" + std::to_string(stride_c);

  // A and B are read only when the product is not empty.
  const bool product = M > 0 && N > 0;
  const int64_t a_needed = product ? batched_extent(args, "A", M, K, batch, stride_a) : 0;
  const int64_t b_needed = product ? batched_extent(args, "B", K, N, batch, stride_b) : 0;
  const int64_t c_needed = batched_extent(args, "C", M, N, batch, stride_c);
  const float* a = operand(info, args, 0, "A", a_offset, a_needed, a_sizes);
  const float* b = operand(info, args, 2, "B", b_offset, b_needed, b_sizes);
  float* c = operand(info, args, 4, "C", c_offset, c_needed, c_sizes);
  const float* bias =
      args.is_null(6) ? nullptr : operand(info, args, 6, "bias", bias_offset, N, "N=" + std::to_string(N));

  gemm(a, b, c, bias, trans_a, trans_b, M, N, K, batch, stride_a, stride_b, stride_c, static_cast<float>(alpha),
       static_cast<float>(beta));
  return info.Env().Undefined();
}

}  // namespace

void RegisterGemm(Napi::Env env, Napi::Object exports) { exports.Set("gemm", Napi::Function::New<Gemm>(env, "gemm")); }

}  // namespace tn
