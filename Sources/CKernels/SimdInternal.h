// Small SIMD helpers shared by the C kernels (not part of the module's public header).
#ifndef SPECDISTILL_SIMD_INTERNAL_H
#define SPECDISTILL_SIMD_INTERNAL_H
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

// The fixed horizontal sum of 8 lanes: ((l0+l4) + (l1+l5)) + ((l2+l6) + (l3+l7)) — the same
// order everywhere, which the kernels' batch invariance relies on.
__attribute__((target("avx2,fma"))) static inline float sd_hsum8(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    __m128 sh = _mm_movehdup_ps(lo);
    __m128 s = _mm_add_ps(lo, sh);
    sh = _mm_movehl_ps(sh, s);
    s = _mm_add_ss(s, sh);
    return _mm_cvtss_f32(s);
}
#endif
#endif
