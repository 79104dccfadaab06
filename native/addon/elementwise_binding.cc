// Bindings of the element-wise family: binary ops with broadcasting, unary ops and their backward, masked fill,
// fill, int32/float32 casts and comparisons with a scalar. Each checks sizes, strides and op names before calling the
// kernel.
#include <string>
#include <vector>

#include "../cpu/elementwise.h"
#include "args.h"
#include "bindings.h"

static_assert(tn::kMaxRank == tn::kMaxDims, "strided views and the element-wise kernels agree on the rank limit");

namespace tn {
namespace {

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

Napi::Value Binary(const Napi::CallbackInfo& info) {
  Args args(info, "binary", 9);
  const BinaryOp op = binary_op(args, 0);
  const std::vector<int64_t> shape = args.shape(8, "shape");
  const int64_t n = checked_numel(args, shape, "shape");
  const std::vector<int64_t> a_strides = args.strides(3, "aStrides", shape.size());
  const std::vector<int64_t> b_strides = args.strides(6, "bStrides", shape.size());
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
  const std::vector<int64_t> shape = args.shape(5, "shape");
  const int64_t n = checked_numel(args, shape, "shape");
  const std::vector<int64_t> mask_strides = args.strides(3, "maskStrides", shape.size());
  const int64_t mask_offset = args.integer(2, "maskOffset");
  const float* x = args.f32(0, "x", 0, n);
  const int32_t* mask = args.i32(1, "mask", mask_offset, view_span(args, shape, mask_strides, "mask"));
  float* out = args.f32(4, "out", 0, n);
  const float value = args.any_number(6, "value");
  masked_fill(x, mask, mask_strides.data(), out, shape.data(), static_cast<int>(shape.size()), value);
  return info.Env().Undefined();
}

Napi::Value Unary(const Napi::CallbackInfo& info) {
  Args args(info, "unary", 5);
  const UnaryOp op = unary_op(args, 0);
  const int64_t n = args.integer(3, "n");
  const float* x = args.f32(1, "x", 0, n);
  float* out = args.f32(2, "out", 0, n);
  const float param = args.any_number(4, "param");
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
  const float param = args.any_number(6, "param");
  unary_backward(op, x, y, dy, dx, n, param);
  return info.Env().Undefined();
}

Napi::Value Fill(const Napi::CallbackInfo& info) {
  Args args(info, "fill", 4);
  const int64_t offset = args.integer(1, "offset"), n = args.integer(2, "n");
  float* dst = args.f32(0, "dst", offset, n);
  fill(dst, n, args.any_number(3, "value"));
  return info.Env().Undefined();
}

Napi::Value Cast(const Napi::CallbackInfo& info) {
  Args args(info, "cast", 4);
  const int64_t n = args.integer(2, "n");
  const bool to_float = args.flag(3, "toFloat");
  void* src = args.f32(0, "src", 0, n);
  void* dst = args.f32(1, "dst", 0, n);
  if (to_float)
    cast_int32_to_float(static_cast<const int32_t*>(src), static_cast<float*>(dst), n);
  else
    cast_float_to_int32(static_cast<const float*>(src), static_cast<int32_t*>(dst), n);
  return info.Env().Undefined();
}

// compareScalar(op, src, dst, n, srcIsInt, value): dst[i] = src[i] op value ? 1 : 0 (int32), op 'eq' or 'ne'.
Napi::Value CompareScalar(const Napi::CallbackInfo& info) {
  Args args(info, "compareScalar", 6);
  const std::string name = args.string(0, "op");
  CompareOp op;
  if (name == "eq")
    op = CompareOp::eq;
  else if (name == "ne")
    op = CompareOp::ne;
  else
    args.type_error("unknown op " + quoted(name) + " (expected 'eq' or 'ne')");
  const int64_t n = args.integer(3, "n");
  const bool src_is_int = args.flag(4, "srcIsInt");
  const void* src = args.f32(1, "src", 0, n);
  int32_t* dst = args.i32(2, "dst", 0, n);
  compare_scalar(op, src, src_is_int, args.number(5, "value"), dst, n);
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
  exports.Set("compareScalar", Napi::Function::New<CompareScalar>(env, "compareScalar"));
}

}  // namespace tn
