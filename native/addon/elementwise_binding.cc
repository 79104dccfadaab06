// Bindings of the element-wise family: element-wise ops, reductions, embedding, strided copies, random fills,
// dropout and AdamW. Each checks every argument (storage sizes against the elements the kernel will touch,
// sizes, strides, indices, op names) before calling the kernel.
#include <limits>
#include <string>
#include <vector>

#include "../cpu/adamw.h"
#include "../cpu/copy.h"
#include "../cpu/elementwise.h"
#include "../cpu/embedding.h"
#include "../cpu/indices.h"
#include "../cpu/random.h"
#include "../cpu/reduce.h"
#include "args.h"
#include "bindings.h"

namespace tn {
namespace {

constexpr int64_t kMaxSize = int64_t(1) << 50;  // the largest size or stride Args accepts
constexpr int64_t kMaxSeed = (int64_t(1) << 53) - 1;
constexpr int64_t kMaxInt32 = std::numeric_limits<int32_t>::max();

// Any number, infinities and NaN included (fill with -Infinity builds masks; scale by NaN is the caller's call).
float any_number(const Napi::CallbackInfo& info, const Args& args, size_t i, const char* name) {
  if (!info[i].IsNumber()) args.type_error(std::string(name) + " must be a number");
  return static_cast<float>(info[i].As<Napi::Number>().DoubleValue());
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

BinaryOp binary_op(const Args& args, size_t i) {
  const std::string name = args.string(i, "op");
  if (name == "add") return BinaryOp::add;
  if (name == "sub") return BinaryOp::sub;
  if (name == "mul") return BinaryOp::mul;
  if (name == "div") return BinaryOp::div;
  if (name == "pow") return BinaryOp::pow;
  if (name == "maximum") return BinaryOp::maximum;
  if (name == "minimum") return BinaryOp::minimum;
  args.type_error("unknown op " + quoted(name));
}

UnaryOp unary_op(const Args& args, size_t i) {
  const std::string name = args.string(i, "op");
  if (name == "neg") return UnaryOp::neg;
  if (name == "exp") return UnaryOp::exp;
  if (name == "log") return UnaryOp::log;
  if (name == "sqrt") return UnaryOp::sqrt;
  if (name == "tanh") return UnaryOp::tanh;
  if (name == "relu") return UnaryOp::relu;
  if (name == "sigmoid") return UnaryOp::sigmoid;
  if (name == "gelu") return UnaryOp::gelu;
  if (name == "geluTanh") return UnaryOp::gelu_tanh;
  if (name == "abs") return UnaryOp::abs;
  if (name == "scale") return UnaryOp::scale;
  if (name == "addScalar") return UnaryOp::add_scalar;
  if (name == "powScalar") return UnaryOp::pow_scalar;
  args.type_error("unknown op " + quoted(name));
}

ReduceOp reduce_op(const Args& args, size_t i) {
  const std::string name = args.string(i, "op");
  if (name == "sum") return ReduceOp::sum;
  if (name == "mean") return ReduceOp::mean;
  if (name == "max") return ReduceOp::max;
  if (name == "min") return ReduceOp::min;
  if (name == "argmax") return ReduceOp::argmax;
  args.type_error("unknown op " + quoted(name));
}

std::vector<int64_t> shape_arg(const Args& args, size_t i, const char* name) {
  return args.integers(i, name, 0, kMaxSize, kMaxDims);
}

std::vector<int64_t> strides_arg(const Args& args, size_t i, const char* name, size_t rank) {
  std::vector<int64_t> strides = args.integers(i, name, 0, kMaxSize, kMaxDims);
  if (strides.size() != rank)
    args.range_error(std::string(name) + " has " + std::to_string(strides.size()) + " entries, the shape has " +
                     std::to_string(rank));
  return strides;
}

// Elements a strided view spans from its offset: 1 + the offset of its last element (0 when it is empty), so
// a storage of offset + span elements holds every element the view touches (strides are >= 0).
int64_t view_span(const Args& args, const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                  const char* name) {
  int64_t last = 0;
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] == 0) return 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (strides[d] != 0 && shape[d] - 1 > (kMaxSize - last) / strides[d])
      args.range_error(std::string(name) + " view reaches too far (strides too large)");
    last += (shape[d] - 1) * strides[d];
  }
  return last + 1;
}

// ---- element-wise ------------------------------------------------------------------------------------------

Napi::Value Binary(const Napi::CallbackInfo& info) {
  Args args(info, "binary", 9);
  const BinaryOp op = binary_op(args, 0);
  const std::vector<int64_t> shape = shape_arg(args, 8, "shape");
  const int64_t n = checked_numel(args, shape, "shape");
  const std::vector<int64_t> a_strides = strides_arg(args, 3, "aStrides", shape.size());
  const std::vector<int64_t> b_strides = strides_arg(args, 6, "bStrides", shape.size());
  const int64_t a_offset = args.integer(2, "aOffset"), b_offset = args.integer(5, "bOffset");
  const float* a = args.f32(1, "a", a_offset, view_span(args, shape, a_strides, "a"));
  const float* b = args.f32(4, "b", b_offset, view_span(args, shape, b_strides, "b"));
  float* out = args.f32(7, "out", 0, n);
  binary_forward(op, a, a_strides.data(), b, b_strides.data(), out, shape.data(), static_cast<int>(shape.size()));
  return info.Env().Undefined();
}

// maskedFill(x, mask, maskOffset, maskStrides, out, shape, value)
Napi::Value MaskedFill(const Napi::CallbackInfo& info) {
  Args args(info, "maskedFill", 7);
  const std::vector<int64_t> shape = shape_arg(args, 5, "shape");
  const int64_t n = checked_numel(args, shape, "shape");
  const std::vector<int64_t> mask_strides = strides_arg(args, 3, "maskStrides", shape.size());
  const int64_t mask_offset = args.integer(2, "maskOffset");
  const float* x = args.f32(0, "x", 0, n);
  const int32_t* mask = args.i32(1, "mask", mask_offset, view_span(args, shape, mask_strides, "mask"));
  float* out = args.f32(4, "out", 0, n);
  const float value = any_number(info, args, 6, "value");
  masked_fill(x, mask, mask_strides.data(), out, shape.data(), static_cast<int>(shape.size()), value);
  return info.Env().Undefined();
}

Napi::Value Unary(const Napi::CallbackInfo& info) {
  Args args(info, "unary", 5);
  const UnaryOp op = unary_op(args, 0);
  const int64_t n = args.integer(3, "n");
  const float* x = args.f32(1, "x", 0, n);
  float* out = args.f32(2, "out", 0, n);
  const float param = any_number(info, args, 4, "param");
  unary_forward(op, x, out, n, param);
  return info.Env().Undefined();
}

Napi::Value UnaryBackward(const Napi::CallbackInfo& info) {
  Args args(info, "unaryBackward", 7);
  const UnaryOp op = unary_op(args, 0);
  const int64_t n = args.integer(5, "n");
  const float* x = args.f32(1, "x", 0, n);
  const float* y = args.f32(2, "y", 0, n);
  const float* dy = args.f32(3, "dy", 0, n);
  float* dx = args.f32(4, "dx", 0, n);
  const float param = any_number(info, args, 6, "param");
  unary_backward(op, x, y, dy, dx, n, param);
  return info.Env().Undefined();
}

Napi::Value Fill(const Napi::CallbackInfo& info) {
  Args args(info, "fill", 4);
  const int64_t offset = args.integer(1, "offset"), n = args.integer(2, "n");
  float* dst = args.f32(0, "dst", offset, n);
  fill(dst, n, any_number(info, args, 3, "value"));
  return info.Env().Undefined();
}

Napi::Value Cast(const Napi::CallbackInfo& info) {
  Args args(info, "cast", 4);
  const int64_t n = args.integer(2, "n");
  const bool to_float = args.flag(3, "toFloat");
  void* src = args.f32(0, "src", 0, n);
  void* dst = args.f32(1, "dst", 0, n);
  if (to_float) cast_int32_to_float(static_cast<const int32_t*>(src), static_cast<float*>(dst), n);
  else cast_float_to_int32(static_cast<const float*>(src), static_cast<int32_t*>(dst), n);
  return info.Env().Undefined();
}

Napi::Value CopyStrided(const Napi::CallbackInfo& info) {
  Args args(info, "copyStrided", 7);
  const std::vector<int64_t> shape = shape_arg(args, 6, "shape");
  checked_numel(args, shape, "shape");
  const std::vector<int64_t> src_strides = strides_arg(args, 2, "srcStrides", shape.size());
  const std::vector<int64_t> dst_strides = strides_arg(args, 5, "dstStrides", shape.size());
  const int64_t src_offset = args.integer(1, "srcOffset"), dst_offset = args.integer(4, "dstOffset");
  const float* src = args.f32(0, "src", src_offset, view_span(args, shape, src_strides, "src"));
  float* dst = args.f32(3, "dst", dst_offset, view_span(args, shape, dst_strides, "dst"));
  copy_strided(reinterpret_cast<const uint32_t*>(src), src_strides.data(), reinterpret_cast<uint32_t*>(dst),
               dst_strides.data(), shape.data(), static_cast<int>(shape.size()));
  return info.Env().Undefined();
}

// ---- reductions --------------------------------------------------------------------------------------------

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
  if (op == ReduceOp::argmax) indices = args.i32(3, "indices", 0, rows);
  else if (picks) indices = args.i32_or_null(3, "indices", 0, rows);
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
  const std::vector<int64_t> x_shape = shape_arg(args, 1, "xShape");
  const std::vector<int64_t> out_shape = shape_arg(args, 3, "outShape");
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

// ---- embedding ---------------------------------------------------------------------------------------------

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
    args.range_error("paddingIdx = " + std::to_string(padding_idx) + " is outside [-1, V = " + std::to_string(V) +
                     ")");
  const float* dout = args.f32(0, "dout", 0, checked_numel(args, {N, C}, "N*C"));
  const int32_t* ids = args.i32(1, "ids", 0, N);
  float* dweight = args.f32(2, "dweight", 0, checked_numel(args, {V, C}, "V*C"));
  check_ids(args, ids, N, V, padding_idx >= 0 ? padding_idx : kNoAllowedIndex);
  embedding_backward(dout, ids, dweight, N, C, padding_idx);
  return info.Env().Undefined();
}

// ---- random, dropout, optimizer ----------------------------------------------------------------------------

Napi::Value RandomFill(const Napi::CallbackInfo& info) {
  Args args(info, "randomFill", 6);
  const int64_t n = args.integer(1, "n");
  float* dst = args.f32(0, "dst", 0, n);
  const std::string dist = args.string(2, "dist");
  const uint64_t seed = static_cast<uint64_t>(args.integer(3, "seed", 0, kMaxSeed));
  const double a = args.number(4, "a"), b = args.number(5, "b");
  if (dist == "uniform") {
    if (!(a <= b)) args.range_error("uniform needs a <= b, got a = " + std::to_string(a) + ", b = " + std::to_string(b));
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

Napi::Value AdamwStep(const Napi::CallbackInfo& info) {
  Args args(info, "adamwStep", 11);
  const int64_t n = args.integer(4, "n");
  float* param = args.f32(0, "param", 0, n);
  const float* grad = args.f32(1, "grad", 0, n);
  float* m = args.f32(2, "m", 0, n);
  float* v = args.f32(3, "v", 0, n);
  const double lr = args.number(5, "lr"), beta1 = args.number(6, "beta1"), beta2 = args.number(7, "beta2");
  const double eps = args.number(8, "eps"), weight_decay = args.number(9, "weightDecay");
  const int64_t step = args.integer(10, "step", 1, kMaxSize);
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

void RegisterElementwise(Napi::Env env, Napi::Object exports) {
  exports.Set("binary", Napi::Function::New<Binary>(env, "binary"));
  exports.Set("unary", Napi::Function::New<Unary>(env, "unary"));
  exports.Set("unaryBackward", Napi::Function::New<UnaryBackward>(env, "unaryBackward"));
  exports.Set("fill", Napi::Function::New<Fill>(env, "fill"));
  exports.Set("maskedFill", Napi::Function::New<MaskedFill>(env, "maskedFill"));
  exports.Set("cast", Napi::Function::New<Cast>(env, "cast"));
  exports.Set("copyStrided", Napi::Function::New<CopyStrided>(env, "copyStrided"));
  exports.Set("reduce", Napi::Function::New<Reduce>(env, "reduce"));
  exports.Set("indexBackward", Napi::Function::New<IndexBackward>(env, "indexBackward"));
  exports.Set("sumToShape", Napi::Function::New<SumToShape>(env, "sumToShape"));
  exports.Set("embeddingForward", Napi::Function::New<EmbeddingForward>(env, "embeddingForward"));
  exports.Set("embeddingBackward", Napi::Function::New<EmbeddingBackward>(env, "embeddingBackward"));
  exports.Set("randomFill", Napi::Function::New<RandomFill>(env, "randomFill"));
  exports.Set("dropout", Napi::Function::New<Dropout>(env, "dropout"));
  exports.Set("adamwStep", Napi::Function::New<AdamwStep>(env, "adamwStep"));
}

}  // namespace tn
