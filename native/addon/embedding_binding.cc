// Bindings of the embedding lookup and its backward: ids are checked against the table before any row is read.
#include <string>

#include "../cpu/embedding.h"
#include "../cpu/indices.h"
#include "args.h"
#include "bindings.h"

namespace tn {
namespace {

// Every id in [0, V) (or equal to `allowed`), checked where the ids live before a kernel indexes with them.
void check_ids(const Args& args, const int32_t* ids, int64_t N, int64_t V, int64_t allowed) {
  const int64_t bad = find_invalid_index(ids, N, V, allowed);
  if (bad >= 0)
    args.range_error("ids[" + std::to_string(bad) + "] = " + std::to_string(read_index(ids, bad)) +
                     " is outside [0, V = " + std::to_string(V) + ")");
}

Napi::Value EmbeddingForward(const Napi::CallbackInfo& info) {
  Args args(info, "embeddingForward", 6);
  const int64_t N = args.integer(3, "N"), V = args.integer(4, "V", 0, kMaxInt32), C = args.integer(5, "C");
  const float* weight = args.f32(0, "weight", 0, checked_numel(args, {V, C}, "V*C"));
  const int32_t* ids = args.i32(1, "ids", 0, N);
  float* out = args.f32(2, "out", 0, checked_numel(args, {N, C}, "N*C"));
  check_ids(args, ids, N, V, kNoAllowedIndex);
  embedding_forward(weight, ids, out, N, C);
  return info.Env().Undefined();
}

Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  Args args(info, "embeddingBackward", 7);
  const int64_t N = args.integer(3, "N"), V = args.integer(4, "V", 0, kMaxInt32), C = args.integer(5, "C");
  const int64_t padding_idx = args.integer(6, "paddingIdx", -1, kMaxInt32);
  if (padding_idx >= V && padding_idx != -1)
    args.range_error("paddingIdx = " + std::to_string(padding_idx) + " is outside [-1, V = " + std::to_string(V) + ")");
  const float* dout = args.f32(0, "dout", 0, checked_numel(args, {N, C}, "N*C"));
  const int32_t* ids = args.i32(1, "ids", 0, N);
  float* dweight = args.f32(2, "dweight", 0, checked_numel(args, {V, C}, "V*C"));
  check_ids(args, ids, N, V, padding_idx >= 0 ? padding_idx : kNoAllowedIndex);
  embedding_backward(dout, ids, dweight, N, C, padding_idx);
  return info.Env().Undefined();
}

}  // namespace

void RegisterEmbedding(Napi::Env env, Napi::Object exports) {
  exports.Set("embeddingForward", Napi::Function::New<EmbeddingForward>(env, "embeddingForward"));
  exports.Set("embeddingBackward", Napi::Function::New<EmbeddingBackward>(env, "embeddingBackward"));
}

}  // namespace tn
