// Binding of the fused AdamW step: checks the hyper-parameters PyTorch would reject.
#include <string>

#include "../cpu/adamw.h"
#include "args.h"
#include "bindings.h"

namespace tn {
namespace {

Napi::Value AdamwStep(const Napi::CallbackInfo& info) {
  Args args(info, "adamwStep", 11);
  const int64_t n = args.integer(4, "n");
  float* param = args.f32(0, "param", 0, n);
  const float* grad = args.f32(1, "grad", 0, n);
  float* m = args.f32(2, "m", 0, n);
  float* v = args.f32(3, "v", 0, n);
  const double lr = args.number(5, "lr"), beta1 = args.number(6, "beta1"), beta2 = args.number(7, "beta2");
  const double eps = args.number(8, "eps"), weight_decay = args.number(9, "weightDecay");
  const int64_t step = args.integer(10, "step", 1, kMaxElements);
  if (lr < 0) args.range_error("lr must be >= 0, got " + std::to_string(lr));
  if (beta1 < 0 || beta1 >= 1) args.range_error("beta1 must be in [0, 1), got " + std::to_string(beta1));
  if (beta2 < 0 || beta2 >= 1) args.range_error("beta2 must be in [0, 1), got " + std::to_string(beta2));
  if (eps < 0) args.range_error("eps must be >= 0, got " + std::to_string(eps));
  if (weight_decay < 0) args.range_error("weightDecay must be >= 0, got " + std::to_string(weight_decay));
  adamw_step(param, grad, m, v, n, static_cast<float>(lr), static_cast<float>(beta1), static_cast<float>(beta2),
             static_cast<float>(eps), static_cast<float>(weight_decay), step);
  return info.Env().Undefined();
}

}  // namespace

void RegisterAdamw(Napi::Env env, Napi::Object exports) {
  exports.Set("adamwStep", Napi::Function::New<AdamwStep>(env, "adamwStep"));
}

}  // namespace tn
