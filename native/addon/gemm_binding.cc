#include "args.h"
#include "bindings.h"

namespace tn {

void RegisterGemm(Napi::Env env, Napi::Object exports) {}

}  // namespace tn
