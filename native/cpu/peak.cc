#include "peak.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <vector>

#include "isa.h"
#include "threadpool.h"

namespace tn {

float fma_chains_generic(int64_t iters) {
  float acc[12][8];
  for (int k = 0; k < 12; ++k)
    for (int l = 0; l < 8; ++l) acc[k][l] = 0.001f * static_cast<float>(k);
  for (int64_t i = 0; i < iters; ++i)
    for (int k = 0; k < 12; ++k)
      for (int l = 0; l < 8; ++l) acc[k][l] = acc[k][l] * 0.999999f + 1e-7f;
  float total = 0;
  for (auto& chain : acc)
    for (float v : chain) total += v;
  return total;
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// 12 chains x vector lanes x 2 flops.
int64_t flops_per_round() { return active_isa() == Isa::avx512 ? 12 * 32 : 12 * 16; }

float run_chains(int64_t iters) {
#ifdef TN_HAVE_AVX512
  if (active_isa() == Isa::avx512) return fma_chains_avx512(iters);
#endif
#ifdef TN_HAVE_AVX2
  if (use_avx2_kernels()) return fma_chains_avx2(iters);
#endif
  return fma_chains_generic(iters);
}

}  // namespace

double measure_fma_gflops(int threads, double seconds) {
  // Calibrate one thread's rate, then time all threads running the same count together.
  int64_t iters = 1 << 16;
  auto t0 = Clock::now();
  volatile float sink = run_chains(iters);
  double dt = seconds_since(t0);
  while (dt < 0.02) {
    iters *= 4;
    t0 = Clock::now();
    sink = run_chains(iters);
    dt = seconds_since(t0);
  }
  iters = static_cast<int64_t>(static_cast<double>(iters) * seconds / dt) + 1;
  const int saved = num_threads();
  set_num_threads(threads);
  std::atomic<float> total{0};
  t0 = Clock::now();
  parallel_for(threads, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) total = total + run_chains(iters);
  });
  dt = seconds_since(t0);
  set_num_threads(saved);
  sink = total;
  (void)sink;
  return static_cast<double>(iters) * static_cast<double>(flops_per_round()) * threads / dt / 1e9;
}

double measure_triad_gbs(int threads, int64_t bytes_per_array, int repeats) {
  const int64_t n = bytes_per_array / 4;
  std::vector<float> a(n), b(n, 1.0f), c(n, 2.0f);
  const int saved = num_threads();
  set_num_threads(threads);
  auto triad = [&] {
    parallel_for(n, 1 << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) a[i] = b[i] + 0.5f * c[i];
    });
  };
  triad();  // first touch
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = Clock::now();
    triad();
    best = std::min(best, seconds_since(t0));
  }
  set_num_threads(saved);
  return 3.0 * static_cast<double>(n) * 4 / best / 1e9;
}

}  // namespace tn
