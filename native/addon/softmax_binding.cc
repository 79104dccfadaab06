// Bindings of softmax / log-softmax forward and backward over the middle axis of [outer, dim, inner].
#include "../cpu/softmax.h"
#include "args.h"
#include "bindings.h"

namespace tn {
namespace {

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

}  // namespace

void RegisterSoftmax(Napi::Env env, Napi::Object exports) {
  exports.Set("softmaxForward", Napi::Function::New<SoftmaxForward>(env, "softmaxForward"));
  exports.Set("softmaxBackward", Napi::Function::New<SoftmaxBackward>(env, "softmaxBackward"));
}

}  // namespace tn
