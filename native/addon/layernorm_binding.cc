// Bindings of layernorm forward and backward: check every argument, then run the kernel.
#include <string>

#include "../cpu/layernorm.h"
#include "args.h"
#include "bindings.h"

namespace tn {
namespace {

// layerNormForward(x, weight, bias, out, mean, rstd, N, C, eps)
Napi::Value LayerNormForward(const Napi::CallbackInfo& info) {
  Args args(info, "layerNormForward", 9);
  const int64_t N = args.integer(6, "N", 0);
  const int64_t C = args.integer(7, "C", 1);
  const int64_t NC = checked_numel(args, {N, C}, "x");
  const double eps = args.number(8, "eps");
  // Checked as float32, the precision the kernel uses: a tiny double would round to 0 there.
  if (!(static_cast<float>(eps) > 0)) args.range_error("eps must be > 0 as a float32, got " + number_text(eps));
  const float* x = args.f32(0, "x", 0, NC);
  const float* weight = args.f32_or_null(1, "weight", 0, C);
  const float* bias = args.f32_or_null(2, "bias", 0, C);
  float* out = args.f32(3, "out", 0, NC);
  float* mean = args.f32(4, "mean", 0, N);
  float* rstd = args.f32(5, "rstd", 0, N);
  layernorm_forward(out, mean, rstd, x, weight, bias, N, C, static_cast<float>(eps));
  return info.Env().Undefined();
}

// layerNormBackward(dout, x, weight, mean, rstd, dx, dweight, dbias, N, C)
Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  Args args(info, "layerNormBackward", 10);
  const int64_t N = args.integer(8, "N", 0);
  const int64_t C = args.integer(9, "C", 1);
  const int64_t NC = checked_numel(args, {N, C}, "x");
  const float* dout = args.f32(0, "dout", 0, NC);
  const float* x = args.f32(1, "x", 0, NC);
  const float* weight = args.f32_or_null(2, "weight", 0, C);
  const float* mean = args.f32(3, "mean", 0, N);
  const float* rstd = args.f32(4, "rstd", 0, N);
  float* dx = args.f32(5, "dx", 0, NC);
  float* dweight = args.f32_or_null(6, "dweight", 0, C);
  float* dbias = args.f32_or_null(7, "dbias", 0, C);
  layernorm_backward(dx, dweight, dbias, dout, x, weight, mean, rstd, N, C);
  return info.Env().Undefined();
}

}  // namespace

void RegisterLayernorm(Napi::Env env, Napi::Object exports) {
  exports.Set("layerNormForward", Napi::Function::New<LayerNormForward>(env, "layerNormForward"));
  exports.Set("layerNormBackward", Napi::Function::New<LayerNormBackward>(env, "layerNormBackward"));
}

}  // namespace tn
