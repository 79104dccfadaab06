// The AVX2 build of the row sum (reduce_sum.inc): the same partial sums in four 8-float chains instead of eight
// 4-float ones.
#include "reduce.h"
#include "reduce_sum.inc"

namespace tn {

float sum_contiguous_avx2(const float* x, int64_t n) { return sum_contiguous(x, n); }

}  // namespace tn
