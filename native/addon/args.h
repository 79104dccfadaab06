// Argument checking for the N-API boundary: every binding reads its arguments through Args, which throws a
// JS TypeError/RangeError naming the op, the argument and the offending value instead of letting a bad
// value reach a kernel.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tn {

constexpr int64_t kMaxElements = int64_t(1) << 50;    // the largest size, stride or offset the bindings accept
constexpr int64_t kMaxSeed = (int64_t(1) << 53) - 1;  // seeds travel as JS numbers
constexpr int64_t kMaxInt32 = 2147483647;
constexpr size_t kMaxRank = 8;  // dims of a strided view (the element-wise, copy and reduce kernels' limit)

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* op, size_t expected_count);

  // A live Storage holding at least offset + count elements of 4 bytes (float32 or int32).
  float* f32(size_t i, const char* name, int64_t offset, int64_t count) const;
  int32_t* i32(size_t i, const char* name, int64_t offset, int64_t count) const;
  // Same, but null/undefined gives nullptr.
  float* f32_or_null(size_t i, const char* name, int64_t offset, int64_t count) const;
  int32_t* i32_or_null(size_t i, const char* name, int64_t offset, int64_t count) const;

  // An integer-valued finite number in [min, max].
  int64_t integer(size_t i, const char* name, int64_t min = 0, int64_t max = (int64_t(1) << 50)) const;
  double number(size_t i, const char* name) const;  // any finite number
  // Any number, infinities and NaN included (fill with -Infinity builds masks).
  float any_number(size_t i, const char* name) const;
  bool flag(size_t i, const char* name) const;
  std::string string(size_t i, const char* name) const;
  // A JS array of integers, each in [min, max], at most max_len long.
  std::vector<int64_t> integers(size_t i, const char* name, int64_t min, int64_t max, size_t max_len) const;
  bool is_null(size_t i) const;
  // A shape of at most kMaxRank sizes, and strides for it (one per dim, each >= 0).
  std::vector<int64_t> shape(size_t i, const char* name) const;
  std::vector<int64_t> strides(size_t i, const char* name, size_t rank) const;

  [[noreturn]] void type_error(const std::string& msg) const;
  [[noreturn]] void range_error(const std::string& msg) const;

  Napi::Env env() const { return info_.Env(); }
  const char* op() const { return op_; }

 private:
  void* storage(size_t i, const char* name, int64_t offset, int64_t count) const;
  const Napi::CallbackInfo& info_;
  const char* op_;
};

// Product of sizes with overflow and limit checks (throws RangeError naming the op).
int64_t checked_numel(const Args& args, const std::vector<int64_t>& shape, const char* name);

// Elements a strided view spans from its offset: 1 + the offset of its last element (0 when it is empty), so
// a storage of offset + span elements holds every element the view touches.
int64_t view_span(const Args& args, const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                  const char* name);

std::string quoted(const std::string& s);
std::string number_text(double v);  // shortest decimal form, for messages

}  // namespace tn
