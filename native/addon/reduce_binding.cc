// Bindings of the reductions: reduce over the middle axis, the index scatter that is the backward of max/min,
// and the sum that undoes a broadcast.
#include <string>
#include <vector>

#include "../cpu/indices.h"
#include "../cpu/reduce.h"
#include "args.h"
#include "bindings.h"

namespace tn {
namespace {

ReduceOp reduce_op(const Args& args, size_t i) {
  const std::string name = args.string(i, "op");
  if (name == "sum") return ReduceOp::sum;
  if (name == "mean") return ReduceOp::mean;
  if (name == "max") return ReduceOp::max;
  if (name == "min") return ReduceOp::min;
  if (name == "argmax") return ReduceOp::argmax;
  args.type_error("unknown op " + quoted(name));
}

Napi::Value Reduce(const Napi::CallbackInfo& info) {
  Args args(info, "reduce", 7);
  const ReduceOp op = reduce_op(args, 0);
  const int64_t outer = args.integer(4, "outer"), dim = args.integer(5, "dim"), inner = args.integer(6, "inner");
  const int64_t total = checked_numel(args, {outer, dim, inner}, "outer*dim*inner");
  const int64_t rows = outer * inner;
  const bool picks = op == ReduceOp::max || op == ReduceOp::min || op == ReduceOp::argmax;
  if (picks && dim < 1) args.range_error("dim must be >= 1 for max/min/argmax, got " + std::to_string(dim));
  if (picks && dim > kMaxInt32) args.range_error("dim must fit int32 indices, got " + std::to_string(dim));
  const float* x = args.f32(1, "x", 0, total);
  float* out = op == ReduceOp::argmax ? args.f32_or_null(2, "out", 0, rows) : args.f32(2, "out", 0, rows);
  int32_t* indices = nullptr;
  if (op == ReduceOp::argmax)
    indices = args.i32(3, "indices", 0, rows);
  else if (picks)
    indices = args.i32_or_null(3, "indices", 0, rows);
  reduce_forward(op, x, out, indices, outer, dim, inner);
  return info.Env().Undefined();
}

Napi::Value IndexBackward(const Napi::CallbackInfo& info) {
  Args args(info, "indexBackward", 6);
  const int64_t outer = args.integer(3, "outer"), dim = args.integer(4, "dim"), inner = args.integer(5, "inner");
  const int64_t total = checked_numel(args, {outer, dim, inner}, "outer*dim*inner");
  const int64_t rows = outer * inner;
  const float* dy = args.f32(0, "dy", 0, rows);
  const int32_t* indices = args.i32(1, "indices", 0, rows);
  float* dx = args.f32(2, "dx", 0, total);
  const int64_t bad = find_invalid_index(indices, rows, dim, kNoAllowedIndex);
  if (bad >= 0)
    args.range_error("indices[" + std::to_string(bad) + "] = " + std::to_string(read_index(indices, bad)) +
                     " is outside [0, " + std::to_string(dim) + ")");
  index_backward(dy, indices, dx, outer, dim, inner);
  return info.Env().Undefined();
}

Napi::Value SumToShape(const Napi::CallbackInfo& info) {
  Args args(info, "sumToShape", 4);
  const std::vector<int64_t> x_shape = args.shape(1, "xShape");
  const std::vector<int64_t> out_shape = args.shape(3, "outShape");
  if (x_shape.size() != out_shape.size())
    args.range_error("outShape has rank " + std::to_string(out_shape.size()) + ", xShape has rank " +
                     std::to_string(x_shape.size()));
  for (size_t d = 0; d < x_shape.size(); ++d)
    if (out_shape[d] != x_shape[d] && out_shape[d] != 1)
      args.range_error("outShape[" + std::to_string(d) + "] = " + std::to_string(out_shape[d]) +
                       " must be 1 or xShape[" + std::to_string(d) + "] = " + std::to_string(x_shape[d]));
  const int64_t x_count = checked_numel(args, x_shape, "xShape");
  const int64_t out_count = checked_numel(args, out_shape, "outShape");
  const float* x = args.f32(0, "x", 0, x_count);
  float* out = args.f32(2, "out", 0, out_count);
  sum_to_shape(x, x_shape.data(), out, out_shape.data(), static_cast<int>(x_shape.size()));
  return info.Env().Undefined();
}

}  // namespace

void RegisterReduce(Napi::Env env, Napi::Object exports) {
  exports.Set("reduce", Napi::Function::New<Reduce>(env, "reduce"));
  exports.Set("indexBackward", Napi::Function::New<IndexBackward>(env, "indexBackward"));
  exports.Set("sumToShape", Napi::Function::New<SumToShape>(env, "sumToShape"));
}

}  // namespace tn
