#include "args.h"
#include "bindings.h"

namespace tn {

void RegisterElementwise(Napi::Env env, Napi::Object exports) {}

}  // namespace tn
