// Counter-based random fills and dropout: element i is a pure function of (seed, i), so results do not
// depend on the thread count and dropout's backward regenerates its mask from the seed.
#pragma once
#include <cstdint>

namespace tn {

// dst[i] uniform in [lo, hi).
void random_uniform(float* dst, int64_t n, uint64_t seed, float lo, float hi);
// dst[i] normal with the given mean and standard deviation (Box-Muller on pairs of elements).
void random_normal(float* dst, int64_t n, uint64_t seed, float mean, float std);
// out[i] = x[i] / (1 - p) with probability 1 - p, else 0. p = 0 copies, p = 1 zeros. out may alias x.
void dropout_forward(const float* x, float* out, int64_t n, float p, uint64_t seed);

// The most draws one philox_draws call returns.
constexpr int64_t kPhiloxMaxDraws = 512;
// words[j] = draw number start + j of (seed, stream) (draw i is word i % 4 of Philox block i / 4), for
// j < count <= kPhiloxMaxDraws, on the active instruction set.
void philox_draws(uint64_t seed, uint64_t stream, int64_t start, int64_t count, uint32_t* words);

// words[4*i .. 4*i+3] = the Philox block first_block + i of (seed, stream), for i < nblocks: the generator
// behind every draw above, one copy per instruction set (identical numbers).
void philox_blocks_generic(uint64_t seed, uint64_t stream, uint64_t first_block, int64_t nblocks, uint32_t* words);
void philox_blocks_avx2(uint64_t seed, uint64_t stream, uint64_t first_block, int64_t nblocks, uint32_t* words);
void philox_blocks_avx512(uint64_t seed, uint64_t stream, uint64_t first_block, int64_t nblocks, uint32_t* words);

// dropout_forward's loop over elements [begin, end) (0 < p < 1; element i uses draw i of the stream), generating
// and applying the draws in AVX2 registers: the same results as the generic loop.
void dropout_range_avx2(const float* x, float* out, int64_t begin, int64_t end, float p, uint64_t seed,
                        uint64_t stream);
void dropout_range_avx512(const float* x, float* out, int64_t begin, int64_t end, float p, uint64_t seed,
                          uint64_t stream);

}  // namespace tn
