// The AVX-512 build of elementwise_loops.inc: same source, vectorised 16 wide by the compiler.
#include "elementwise_loops.inc"

namespace tn {

void binary_range_avx512(BinaryOp op, const float* a, const float* b, float* out, const BroadcastLayout& layout,
                         int64_t begin, int64_t end) {
  binary_range_chunk(op, a, b, out, layout, begin, end);
}

void unary_forward_avx512(UnaryOp op, const float* x, float* out, int64_t n, float param) {
  unary_forward_chunk(op, x, out, n, param);
}

void unary_backward_avx512(UnaryOp op, const float* x, const float* y, const float* dy, float* dx, int64_t n,
                           float param) {
  unary_backward_chunk(op, x, y, dy, dx, n, param);
}

}  // namespace tn
