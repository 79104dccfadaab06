// Philox4x32-10 for device code: the same math as native/cpu/philox.h (same constants, rounds, word order
// and stream numbers), so a seed draws identical numbers on the CPU and the GPU.
#pragma once
#include <cstdint>

namespace tn {
namespace gpu {

struct Philox4 {
  uint32_t v[4];
};

__host__ __device__ __forceinline__ Philox4 philox4x32(uint64_t seed, uint64_t stream, uint64_t counter) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32);
  uint32_t c2 = static_cast<uint32_t>(stream), c3 = static_cast<uint32_t>(stream >> 32);
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
#pragma unroll
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(0xD2511F53u) * c0;
    const uint64_t p1 = uint64_t(0xCD9E8D57u) * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Philox4{{c0, c1, c2, c3}};
}

__host__ __device__ __forceinline__ uint32_t philox_u32(uint64_t seed, uint64_t stream, uint64_t index) {
  return philox4x32(seed, stream, index >> 2).v[index & 3];
}

// Uniform in [0, 1) with 24 bits, exactly representable in float32.
__host__ __device__ __forceinline__ float philox_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
  return static_cast<float>(philox_u32(seed, stream, index) >> 8) * (1.0f / 16777216.0f);
}

constexpr uint64_t kStreamFill = 1;
constexpr uint64_t kStreamDropout = 2;
constexpr uint64_t kStreamAttnDropout = 3;

}  // namespace gpu
}  // namespace tn
