#include "args.h"
#include "bindings.h"

namespace tn {

void RegisterAttention(Napi::Env env, Napi::Object exports) {}

}  // namespace tn
