// Binding of the strided copy: checks both views against their storages, then copies.
#include <vector>

#include "../cpu/copy.h"
#include "args.h"
#include "bindings.h"

namespace tn {
namespace {

Napi::Value CopyStrided(const Napi::CallbackInfo& info) {
  Args args(info, "copyStrided", 7);
  const std::vector<int64_t> shape = args.shape(6, "shape");
  checked_numel(args, shape, "shape");
  const std::vector<int64_t> src_strides = args.strides(2, "srcStrides", shape.size());
  const std::vector<int64_t> dst_strides = args.strides(5, "dstStrides", shape.size());
  const int64_t src_offset = args.integer(1, "srcOffset"), dst_offset = args.integer(4, "dstOffset");
  const float* src = args.f32(0, "src", src_offset, view_span(args, shape, src_strides, "src"));
  float* dst = args.f32(3, "dst", dst_offset, view_span(args, shape, dst_strides, "dst"));
  copy_strided(reinterpret_cast<const uint32_t*>(src), src_strides.data(), reinterpret_cast<uint32_t*>(dst),
               dst_strides.data(), shape.data(), static_cast<int>(shape.size()));
  return info.Env().Undefined();
}

}  // namespace

void RegisterCopy(Napi::Env env, Napi::Object exports) {
  exports.Set("copyStrided", Napi::Function::New<CopyStrided>(env, "copyStrided"));
}

}  // namespace tn
