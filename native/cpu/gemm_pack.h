// The packing driver of the vector GEMM paths: each supplies its own column and row packers (anonymous-namespace
// functions compiled with its flags), and this header, in an anonymous namespace like vec_avx2.h, gives each
// file its own copy of the driver, so no instruction set's code is linked into another path.
#pragma once
#include <cstdint>

#include "gemm.h"

namespace tn {
namespace {

using ColumnPacker = void (*)(const float* src, int64_t col_step, int64_t rows, int64_t cols, int64_t width,
                              float* dst);
using RowPacker = int64_t (*)(const float* panel, int64_t row_step, int64_t h, int64_t cols, int64_t width, float* dst);

// gemm_pack_panels for a path whose packers handle panels of width mr or nr: columns contiguous go to
// pack_columns; rows contiguous to pack_rows, panel by panel, up to the columns it covers; the rest (other widths,
// strided views, a last partial group of columns) to the generic packer.
inline void pack_panels_with(ColumnPacker pack_columns, RowPacker pack_rows, int64_t mr, int64_t nr, const float* src,
                             int64_t row_step, int64_t col_step, int64_t rows, int64_t cols, int64_t width,
                             float* dst) {
  const bool fast_width = width == mr || width == nr;
  if (fast_width && row_step == 1) return pack_columns(src, col_step, rows, cols, width, dst);
  for (int64_t pr = 0; pr < rows; pr += width) {
    const float* panel = src + pr * row_step;
    const int64_t h = rows - pr < width ? rows - pr : width;
    const int64_t done = fast_width && col_step == 1 ? pack_rows(panel, row_step, h, cols, width, dst) : 0;
    if (done < cols)
      gemm_pack_panels_generic(panel + done * col_step, row_step, col_step, h, cols - done, width, dst + done * width);
    dst += width * cols;
  }
}

}  // namespace
}  // namespace tn
