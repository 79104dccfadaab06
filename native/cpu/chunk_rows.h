// Scratch rows that threads fill side by side (one row of partial sums per chunk of work, added in chunk order
// afterwards): every row starts on its own 64-byte cache line, so no two threads write the same line. Rows
// packed back to back from a 16-byte aligned vector shared their boundary lines, and accumulating into them row
// after row made the line bounce between the cores (the layernorm backward ran slower on two threads than on
// one).
#pragma once
#include <cstdint>
#include <vector>

namespace tn {

class ChunkRows {
 public:
  // `rows` zeroed rows of `width` floats.
  ChunkRows(int64_t rows, int64_t width)
      : stride_((width + kLineFloats - 1) / kLineFloats * kLineFloats),
        storage_(static_cast<size_t>(rows * stride_ + kLineFloats - 1), 0.0f) {
    const auto address = reinterpret_cast<uintptr_t>(storage_.data());
    const uintptr_t line = kLineFloats * sizeof(float);
    first_ = storage_.data() + ((line - address % line) % line) / sizeof(float);
  }

  float* row(int64_t r) { return first_ + r * stride_; }
  const float* row(int64_t r) const { return first_ + r * stride_; }
  // Floats from one row to the next.
  int64_t stride() const { return stride_; }

 private:
  static constexpr int64_t kLineFloats = 16;  // a 64-byte cache line
  int64_t stride_;
  std::vector<float> storage_;
  float* first_;
};

}  // namespace tn
