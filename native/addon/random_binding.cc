// Bindings of the counter-based random fills and dropout.
#include <string>

#include "../cpu/random.h"
#include "args.h"
#include "bindings.h"

namespace tn {
namespace {

Napi::Value RandomFill(const Napi::CallbackInfo& info) {
  Args args(info, "randomFill", 6);
  const int64_t n = args.integer(1, "n");
  float* dst = args.f32(0, "dst", 0, n);
  const std::string dist = args.string(2, "dist");
  const uint64_t seed = static_cast<uint64_t>(args.integer(3, "seed", 0, kMaxSeed));
  const double a = args.number(4, "a"), b = args.number(5, "b");
  if (dist == "uniform") {
    if (!(a <= b))
      args.range_error("uniform needs a <= b, got a = " + std::to_string(a) + ", b = " + std::to_string(b));
    random_uniform(dst, n, seed, static_cast<float>(a), static_cast<float>(b));
  } else if (dist == "normal") {
    if (b < 0) args.range_error("normal needs a standard deviation b >= 0, got " + std::to_string(b));
    random_normal(dst, n, seed, static_cast<float>(a), static_cast<float>(b));
  } else {
    args.type_error("unknown dist " + quoted(dist) + " (expected 'uniform' or 'normal')");
  }
  return info.Env().Undefined();
}

Napi::Value Dropout(const Napi::CallbackInfo& info) {
  Args args(info, "dropout", 5);
  const int64_t n = args.integer(2, "n");
  const float* x = args.f32(0, "x", 0, n);
  float* out = args.f32(1, "out", 0, n);
  const double p = args.number(3, "p");
  if (p < 0 || p > 1) args.range_error("p must be in [0, 1], got " + std::to_string(p));
  const uint64_t seed = static_cast<uint64_t>(args.integer(4, "seed", 0, kMaxSeed));
  dropout_forward(x, out, n, static_cast<float>(p), seed);
  return info.Env().Undefined();
}

}  // namespace

void RegisterRandom(Napi::Env env, Napi::Object exports) {
  exports.Set("randomFill", Napi::Function::New<RandomFill>(env, "randomFill"));
  exports.Set("dropout", Napi::Function::New<Dropout>(env, "dropout"));
}

}  // namespace tn
