// Small SIMD helpers shared by the C kernels (not part of the module's public header).
#ifndef SPECDISTILL_SIMD_INTERNAL_H
#define SPECDISTILL_SIMD_INTERNAL_H
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

// VectorMath.exp's constants (Swift, Sources/Tensor/VectorMath.swift), for the C kernels' vector
// exponentials (AttentionRow.c, AttentionRowAVX2.c): clamp to [LO, HI] (x < LO gives 0), k =
// round(x·log2 e) by adding 1.5·2^23, r = x − k·ln2 (two parts), e^r by the degree-7 polynomial
// 1 + r + r²·(P5 + r·(P4 + r·(P3 + r·(P2 + r·(P1 + r·P0))))), times 2^k.
#define SD_EXP_LO (-87.33f)
#define SD_EXP_HI 88.3f
#define SD_EXP_LOG2E 1.44269504f
#define SD_EXP_MAGIC 12582912.0f
#define SD_EXP_LN2_HI 0.693359375f
#define SD_EXP_LN2_LO (-2.1219444e-4f)
#define SD_EXP_P0 1.98756915e-4f
#define SD_EXP_P1 1.39819995e-3f
#define SD_EXP_P2 8.3334519e-3f
#define SD_EXP_P3 4.16657959e-2f
#define SD_EXP_P4 1.66666655e-1f
#define SD_EXP_P5 5.00000012e-1f

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
