// CPU feature detection shared by every kernel file (private to CFolioKernels): detected once, one bit per feature.
#ifndef CFOLIO_CPU_H
#define CFOLIO_CPU_H

enum {
    CPU_AVX2 = 1 << 0, CPU_FMA = 1 << 1, CPU_F16C = 1 << 2, CPU_AVX512F = 1 << 3, CPU_AVX512BW = 1 << 4,
    CPU_AVX512VL = 1 << 5, CPU_AVX512DQ = 1 << 6, CPU_AVX512VNNI = 1 << 7,
};

/// The features of this CPU (the bits above); 0 off x86-64.
int folio_cpu_features(void);

/// Whether the CPU has every feature in `mask`.
static inline int cpu_has(int mask) { return (folio_cpu_features() & mask) == mask; }

#endif
