// Which instruction-set path the kernels take. Chosen once at load from cpuid (the widest the CPU runs:
// AVX-512, else AVX2+FMA), forced with TN_ISA=generic or TN_ISA=avx2, and switchable at run time so tests
// cover every path.
#pragma once

namespace tn {

enum class Isa { generic, avx2, avx512 };

bool cpu_supports_avx2_fma();
// AVX-512 F, VL, BW and DQ (every AVX-512 server core since Skylake-SP), with AVX2+FMA.
bool cpu_supports_avx512();
Isa active_isa();
// The avx512 path runs the AVX2 kernels of every family that has no AVX-512 one (GEMM, attention, layernorm,
// element-wise, Philox and the FMA peak loop have one; the others are bound by memory, which 256-bit vectors
// already meet).
inline bool use_avx2_kernels() { return active_isa() != Isa::generic; }
// Returns false (and changes nothing) when the CPU cannot run the requested path.
bool set_isa(Isa isa);
const char* isa_name(Isa isa);

}  // namespace tn
