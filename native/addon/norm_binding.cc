#include "args.h"
#include "bindings.h"

namespace tn {

void RegisterNorm(Napi::Env env, Napi::Object exports) {}

}  // namespace tn
