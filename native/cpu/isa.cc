#include "isa.h"

#include <cstdlib>
#include <cstring>

namespace tn {
namespace {

Isa initial_isa() {
  const char* env = std::getenv("TN_ISA");
  if (env && std::strcmp(env, "generic") == 0) return Isa::generic;
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

Isa active_isa() { return current; }

bool set_isa(Isa isa) {
  if (isa == Isa::avx2 && !cpu_supports_avx2_fma()) return false;
  current = isa;
  return true;
}

const char* isa_name(Isa isa) { return isa == Isa::avx2 ? "avx2" : "generic"; }

}  // namespace tn
