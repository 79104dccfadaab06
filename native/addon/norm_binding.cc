// JS bindings of layernorm, softmax/log-softmax and cross-entropy: check every argument, then run the kernel.
#include <sstream>
#include <string>

#include "../cpu/crossentropy.h"
#include "../cpu/indices.h"
#include "../cpu/layernorm.h"
#include "../cpu/softmax.h"
#include "args.h"
#include "bindings.h"

namespace tn {
namespace {

std::string to_text(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// layerNormForward(x, weight, bias, out, mean, rstd, N, C, eps)
Napi::Value LayerNormForward(const Napi::CallbackInfo& info) {
  Args args(info, "layerNormForward", 9);
  const int64_t N = args.integer(6, "N", 0);
  const int64_t C = args.integer(7, "C", 1);
  const int64_t NC = checked_numel(args, {N, C}, "x");
  const double eps = args.number(8, "eps");
  // Checked as float32, the precision the kernel uses: a tiny double would round to 0 there.
  if (!(static_cast<float>(eps) > 0)) args.range_error("eps must be > 0 as a float32, got " + to_text(eps));
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

// softmaxForward(x, out, outer, dim, inner, log)
Napi::Value SoftmaxForward(const Napi::CallbackInfo& info) {
  Args args(info, "softmaxForward", 6);
  const int64_t outer = args.integer(2, "outer", 0);
  const int64_t dim = args.integer(3, "dim", 1);
  const int64_t inner = args.integer(4, "inner", 1);
  const bool log = args.flag(5, "log");
  const int64_t numel = checked_numel(args, {outer, dim, inner}, "x");
  const float* x = args.f32(0, "x", 0, numel);
  float* out = args.f32(1, "out", 0, numel);
  softmax_forward(out, x, outer, dim, inner, log);
  return info.Env().Undefined();
}

// softmaxBackward(y, dy, dx, outer, dim, inner, log)
Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  Args args(info, "softmaxBackward", 7);
  const int64_t outer = args.integer(3, "outer", 0);
  const int64_t dim = args.integer(4, "dim", 1);
  const int64_t inner = args.integer(5, "inner", 1);
  const bool log = args.flag(6, "log");
  const int64_t numel = checked_numel(args, {outer, dim, inner}, "y");
  const float* y = args.f32(0, "y", 0, numel);
  const float* dy = args.f32(1, "dy", 0, numel);
  float* dx = args.f32(2, "dx", 0, numel);
  softmax_backward(dx, y, dy, outer, dim, inner, log);
  return info.Env().Undefined();
}

// Shared by both cross-entropy bindings: ignoreIndex, labelSmoothing and every target, checked up front so
// the kernels can index logits[n, target] blindly.
struct CrossEntropyOptions {
  int64_t ignore_index;
  float label_smoothing;
};

CrossEntropyOptions cross_entropy_options(const Args& args, size_t ignore_arg, size_t smoothing_arg,
                                          const int32_t* targets, int64_t N, int64_t C) {
  const int64_t limit = int64_t(1) << 53;
  const int64_t ignore_index = args.integer(ignore_arg, "ignoreIndex", -limit, limit);
  const double e = args.number(smoothing_arg, "labelSmoothing");
  if (!(e >= 0 && e <= 1)) args.range_error("labelSmoothing must be in [0, 1], got " + to_text(e));
  const int64_t bad = find_invalid_index(targets, N, C, ignore_index);
  if (bad >= 0)
    args.range_error("targets[" + std::to_string(bad) + "] = " + std::to_string(read_index(targets, bad)) +
                     " is outside [0, C = " + std::to_string(C) + ") and is not ignoreIndex (" +
                     std::to_string(ignore_index) + ")");
  return {ignore_index, static_cast<float>(e)};
}

// crossEntropyForward(logits, targets, losses, lse, N, C, ignoreIndex, labelSmoothing)
Napi::Value CrossEntropyForward(const Napi::CallbackInfo& info) {
  Args args(info, "crossEntropyForward", 8);
  const int64_t N = args.integer(4, "N", 0);
  const int64_t C = args.integer(5, "C", 1);
  const int64_t NC = checked_numel(args, {N, C}, "logits");
  const float* logits = args.f32(0, "logits", 0, NC);
  const int32_t* targets = args.i32(1, "targets", 0, N);
  float* losses = args.f32(2, "losses", 0, N);
  float* lse = args.f32(3, "lse", 0, N);
  const CrossEntropyOptions opt = cross_entropy_options(args, 6, 7, targets, N, C);
  crossentropy_forward(losses, lse, logits, targets, N, C, opt.ignore_index, opt.label_smoothing);
  return info.Env().Undefined();
}

// crossEntropyBackward(logits, targets, lse, dlosses, dlogits, N, C, ignoreIndex, labelSmoothing)
Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  Args args(info, "crossEntropyBackward", 9);
  const int64_t N = args.integer(5, "N", 0);
  const int64_t C = args.integer(6, "C", 1);
  const int64_t NC = checked_numel(args, {N, C}, "logits");
  const float* logits = args.f32(0, "logits", 0, NC);
  const int32_t* targets = args.i32(1, "targets", 0, N);
  const float* lse = args.f32(2, "lse", 0, N);
  const float* dlosses = args.f32(3, "dlosses", 0, N);
  float* dlogits = args.f32(4, "dlogits", 0, NC);
  const CrossEntropyOptions opt = cross_entropy_options(args, 7, 8, targets, N, C);
  crossentropy_backward(dlogits, logits, targets, lse, dlosses, N, C, opt.ignore_index, opt.label_smoothing);
  return info.Env().Undefined();
}

}  // namespace

void RegisterNorm(Napi::Env env, Napi::Object exports) {
  exports.Set("layerNormForward", Napi::Function::New<LayerNormForward>(env, "layerNormForward"));
  exports.Set("layerNormBackward", Napi::Function::New<LayerNormBackward>(env, "layerNormBackward"));
  exports.Set("softmaxForward", Napi::Function::New<SoftmaxForward>(env, "softmaxForward"));
  exports.Set("softmaxBackward", Napi::Function::New<SoftmaxBackward>(env, "softmaxBackward"));
  exports.Set("crossEntropyForward", Napi::Function::New<CrossEntropyForward>(env, "crossEntropyForward"));
  exports.Set("crossEntropyBackward", Napi::Function::New<CrossEntropyBackward>(env, "crossEntropyBackward"));
}

}  // namespace tn
