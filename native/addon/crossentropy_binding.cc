// Bindings of the cross-entropy loss and its backward: targets are checked before any logit is indexed.
#include <string>

#include "../cpu/crossentropy.h"
#include "../cpu/indices.h"
#include "args.h"
#include "bindings.h"

namespace tn {
namespace {

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
  if (!(e >= 0 && e <= 1)) args.range_error("labelSmoothing must be in [0, 1], got " + number_text(e));
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

void RegisterCrossentropy(Napi::Env env, Napi::Object exports) {
  exports.Set("crossEntropyForward", Napi::Function::New<CrossEntropyForward>(env, "crossEntropyForward"));
  exports.Set("crossEntropyBackward", Napi::Function::New<CrossEntropyBackward>(env, "crossEntropyBackward"));
}

}  // namespace tn
