#include "args.h"

#include <cmath>
#include <sstream>

#include "storage.h"

namespace tn {
namespace {

std::string describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) {
    std::ostringstream s;
    s << v.As<Napi::Number>().DoubleValue();
    return s.str();
  }
  if (v.IsString()) return "'" + v.As<Napi::String>().Utf8Value() + "'";
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? "true" : "false";
  if (v.IsArray()) return "an array";
  if (v.IsFunction()) return "a function";
  return "an object";
}

}  // namespace

Args::Args(const Napi::CallbackInfo& info, const char* op, size_t expected_count) : info_(info), op_(op) {
  if (info.Length() < expected_count)
    type_error("expected " + std::to_string(expected_count) + " arguments, got " + std::to_string(info.Length()));
}

void Args::type_error(const std::string& msg) const {
  throw Napi::TypeError::New(info_.Env(), std::string(op_) + ": " + msg);
}

void Args::range_error(const std::string& msg) const {
  throw Napi::RangeError::New(info_.Env(), std::string(op_) + ": " + msg);
}

bool Args::is_null(size_t i) const { return info_[i].IsNull() || info_[i].IsUndefined(); }

void* Args::storage(size_t i, const char* name, int64_t offset, int64_t count) const {
  Napi::Value v = info_[i];
  if (!Storage::IsStorage(v)) type_error(std::string(name) + " must be a Storage, got " + describe(v));
  Storage* s = Storage::Unwrap(v.As<Napi::Object>());
  if (s->disposed()) type_error(std::string(name) + " is used after dispose()");
  if (offset < 0 || count < 0) range_error(std::string(name) + " has a negative offset or count");
  const int64_t capacity = static_cast<int64_t>(s->byte_length() / 4);
  if (offset > capacity || count > capacity - offset)
    range_error(std::string(name) + " holds " + std::to_string(capacity) + " elements, needs " + std::to_string(count) +
                " from offset " + std::to_string(offset));
  return static_cast<char*>(s->data()) + offset * 4;
}

float* Args::f32(size_t i, const char* name, int64_t offset, int64_t count) const {
  return static_cast<float*>(storage(i, name, offset, count));
}
int32_t* Args::i32(size_t i, const char* name, int64_t offset, int64_t count) const {
  return static_cast<int32_t*>(storage(i, name, offset, count));
}
float* Args::f32_or_null(size_t i, const char* name, int64_t offset, int64_t count) const {
  return is_null(i) ? nullptr : f32(i, name, offset, count);
}
int32_t* Args::i32_or_null(size_t i, const char* name, int64_t offset, int64_t count) const {
  return is_null(i) ? nullptr : i32(i, name, offset, count);
}

int64_t Args::integer(size_t i, const char* name, int64_t min, int64_t max) const {
  Napi::Value v = info_[i];
  if (!v.IsNumber()) type_error(std::string(name) + " must be a number, got " + describe(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (std::isnan(d) || !std::isfinite(d) || d != std::floor(d))
    range_error(std::string(name) + " must be an integer, got " + describe(v));
  if (d < static_cast<double>(min) || d > static_cast<double>(max))
    range_error(std::string(name) + " must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " +
                describe(v));
  return static_cast<int64_t>(d);
}

double Args::number(size_t i, const char* name) const {
  Napi::Value v = info_[i];
  if (!v.IsNumber()) type_error(std::string(name) + " must be a number, got " + describe(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) range_error(std::string(name) + " must be finite, got " + describe(v));
  return d;
}

float Args::any_number(size_t i, const char* name) const {
  Napi::Value v = info_[i];
  if (!v.IsNumber()) type_error(std::string(name) + " must be a number, got " + describe(v));
  return static_cast<float>(v.As<Napi::Number>().DoubleValue());
}

bool Args::flag(size_t i, const char* name) const {
  Napi::Value v = info_[i];
  if (!v.IsBoolean()) type_error(std::string(name) + " must be a boolean, got " + describe(v));
  return v.As<Napi::Boolean>().Value();
}

std::string Args::string(size_t i, const char* name) const {
  Napi::Value v = info_[i];
  if (!v.IsString()) type_error(std::string(name) + " must be a string, got " + describe(v));
  return v.As<Napi::String>().Utf8Value();
}

std::vector<int64_t> Args::integers(size_t i, const char* name, int64_t min, int64_t max, size_t max_len) const {
  Napi::Value v = info_[i];
  if (!v.IsArray()) type_error(std::string(name) + " must be an array of integers, got " + describe(v));
  auto arr = v.As<Napi::Array>();
  const uint32_t length = arr.Length();
  if (length > max_len)
    range_error(std::string(name) + " has " + std::to_string(length) + " entries, at most " + std::to_string(max_len) +
                " allowed");
  std::vector<int64_t> out(length);
  // Messages are built only on failure: these arrays come with most kernel calls.
  auto what = [&](uint32_t k) { return std::string(name) + "[" + std::to_string(k) + "]"; };
  for (uint32_t k = 0; k < length; ++k) {
    Napi::Value e = arr.Get(k);
    if (!e.IsNumber()) type_error(what(k) + " must be a number, got " + describe(e));
    double d = e.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || d != std::floor(d)) range_error(what(k) + " must be an integer, got " + describe(e));
    if (d < static_cast<double>(min) || d > static_cast<double>(max))
      range_error(what(k) + " must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " +
                  describe(e));
    out[k] = static_cast<int64_t>(d);
  }
  return out;
}

std::vector<int64_t> Args::shape(size_t i, const char* name) const {
  return integers(i, name, 0, kMaxElements, kMaxRank);
}

std::vector<int64_t> Args::strides(size_t i, const char* name, size_t rank) const {
  std::vector<int64_t> strides = integers(i, name, 0, kMaxElements, kMaxRank);
  if (strides.size() != rank)
    range_error(std::string(name) + " has " + std::to_string(strides.size()) + " entries, the shape has " +
                std::to_string(rank));
  return strides;
}

int64_t checked_numel(const Args& args, const std::vector<int64_t>& shape, const char* name) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) args.range_error(std::string(name) + " has a negative size");
    if (d != 0 && n > kMaxElements / d) args.range_error(std::string(name) + " has too many elements");
    n *= d;
  }
  return n;
}

int64_t view_span(const Args& args, const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                  const char* name) {
  for (int64_t d : shape)
    if (d == 0) return 0;
  int64_t last = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (strides[d] != 0 && shape[d] - 1 > (kMaxElements - last) / strides[d])
      args.range_error(std::string(name) + " view reaches too far (strides too large)");
    last += (shape[d] - 1) * strides[d];
  }
  return last + 1;
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

std::string number_text(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace tn
