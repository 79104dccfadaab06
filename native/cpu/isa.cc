#include "isa.h"

#include <cstdlib>
#include <cstring>

namespace tn {
namespace {

Isa initial_isa() {
  const char* env = std::getenv("TN_ISA");
  if (env && std::strcmp(env, "generic") == 0) return Isa::generic;
  if (cpu_supports_avx512() && !(env && std::strcmp(env, "avx2") == 0)) return Isa::avx512;
  return cpu_supports_avx2_fma() ? Isa::avx2 : Isa::generic;
}

Isa current = initial_isa();

}  // namespace

bool cpu_supports_avx2_fma() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

bool cpu_supports_avx512() {
#if (defined(__x86_64__) || defined(__i386__)) && defined(TN_HAVE_AVX512)
  return cpu_supports_avx2_fma() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

Isa active_isa() { return current; }

bool set_isa(Isa isa) {
  if (isa == Isa::avx2 && !cpu_supports_avx2_fma()) return false;
  if (isa == Isa::avx512 && !cpu_supports_avx512()) return false;
  current = isa;
  return true;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512:
      return "avx512";
    case Isa::avx2:
      return "avx2";
    default:
      return "generic";
  }
}

}  // namespace tn
