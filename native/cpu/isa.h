// Which instruction-set path the kernels take. Chosen once at load from cpuid (AVX2+FMA when present),
// forced to the portable path with TN_ISA=generic, and switchable at run time so tests cover both paths.
#pragma once

namespace tn {

enum class Isa { generic, avx2 };

bool cpu_supports_avx2_fma();
Isa active_isa();
// Returns false (and changes nothing) when the CPU cannot run the requested path.
bool set_isa(Isa isa);
const char* isa_name(Isa isa);

}  // namespace tn
