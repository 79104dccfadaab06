// Row-group dispatch shared by the vector tile kernels: M rows as full groups of MR, then the remainder, each
// with its row count as a compile-time constant so that the tile's accumulators stay in registers. ISA-neutral,
// but in an anonymous namespace like vec_avx2.h: every kernel file gets its own copy, compiled with its own
// flags, so no copy made for one instruction set can be linked into another's path.
#pragma once
#include <cstdint>
#include <type_traits>

namespace tn {
namespace {

template <int R, typename Rows>
inline void row_group_remainder(int64_t remainder, int64_t m, const Rows& rows) {
  if constexpr (R > 0) {
    if (remainder == R)
      rows(std::integral_constant<int, R>{}, m);
    else
      row_group_remainder<R - 1>(remainder, m, rows);
  }
}

// Calls rows(std::integral_constant<int, count>{}, m) for rows m .. m + count - 1, count = MR but for the last.
template <int MR, typename Rows>
inline void for_each_row_group(int64_t M, const Rows& rows) {
  int64_t m = 0;
  for (; m + MR <= M; m += MR) rows(std::integral_constant<int, MR>{}, m);
  row_group_remainder<MR - 1>(M - m, m, rows);
}

}  // namespace
}  // namespace tn
