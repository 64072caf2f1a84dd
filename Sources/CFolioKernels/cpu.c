#include "cpu.h"

int folio_cpu_features(void) {
    static int features = -1;  // benign race: every thread computes the same value
    if (features < 0) {
        int f = 0;
#if defined(__x86_64__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2")) f |= CPU_AVX2;
        if (__builtin_cpu_supports("fma")) f |= CPU_FMA;
        if (__builtin_cpu_supports("f16c")) f |= CPU_F16C;
        if (__builtin_cpu_supports("avx512f")) f |= CPU_AVX512F;
        if (__builtin_cpu_supports("avx512bw")) f |= CPU_AVX512BW;
        if (__builtin_cpu_supports("avx512vl")) f |= CPU_AVX512VL;
        if (__builtin_cpu_supports("avx512dq")) f |= CPU_AVX512DQ;
        if (__builtin_cpu_supports("avx512vnni")) f |= CPU_AVX512VNNI;
#endif
        features = f;
    }
    return features;
}
