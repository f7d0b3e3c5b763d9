// sd_attn_row on AVX2 (see AttentionRow.c for the AVX-512 form and CKernels.h for the contract):
// head sizes 8…128 in 8-lane chunks. With sixteen registers the query is not kept in them: each
// chunk is loaded beside its key chunk (both from L1). Eight keys get an FMA chain each and one
// transposed reduction (14 shuffles, 7 additions) gives their eight scores; then the maximum,
// e_j = exp(s_j − max) with VectorMath.exp's polynomial in FMAs, their sum in eight lanes (then
// sd_hsum8), and out = (Σ_j e_j · v_j) / Σ_j e_j, one accumulator per output chunk (eight chunks
// per sweep over the values), j ascending. Every operation on position j depends only on j, the
// row and `visible`: batch and thread invariant.
#include "CKernels.h"
#include "SimdInternal.h"
#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define SD_AR2_TARGET "avx2,fma"

// Lane u of the result = the sum of the lanes of a[u] (one tree for every lane).
__attribute__((target(SD_AR2_TARGET), always_inline)) static inline __m256 sd_ar8_reduce(const __m256 *a) {
    __m256 t[4];
    for (int m = 0; m < 4; m++)
        t[m] = _mm256_add_ps(_mm256_unpacklo_ps(a[2 * m], a[2 * m + 1]), _mm256_unpackhi_ps(a[2 * m], a[2 * m + 1]));
    const __m256 w0 = _mm256_add_ps(_mm256_shuffle_ps(t[0], t[1], 0x44), _mm256_shuffle_ps(t[0], t[1], 0xEE));
    const __m256 w1 = _mm256_add_ps(_mm256_shuffle_ps(t[2], t[3], 0x44), _mm256_shuffle_ps(t[2], t[3], 0xEE));
    return _mm256_add_ps(_mm256_permute2f128_ps(w0, w1, 0x20), _mm256_permute2f128_ps(w0, w1, 0x31));
}

// AttentionRow.c's exponential on eight lanes: x < −87.33 gives 0.
__attribute__((target(SD_AR2_TARGET), always_inline)) static inline __m256 sd_ar8_exp(__m256 x) {
    const __m256 lo = _mm256_set1_ps(SD_EXP_LO), hi = _mm256_set1_ps(SD_EXP_HI), magic = _mm256_set1_ps(SD_EXP_MAGIC);
    const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    const __m256 shifted = _mm256_fmadd_ps(xc, _mm256_set1_ps(SD_EXP_LOG2E), magic);
    const __m256 k = _mm256_sub_ps(shifted, magic);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(SD_EXP_LN2_HI), xc);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(SD_EXP_LN2_LO), r);
    __m256 p = _mm256_set1_ps(SD_EXP_P0);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SD_EXP_P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SD_EXP_P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SD_EXP_P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SD_EXP_P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SD_EXP_P5));
    p = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    const __m256i ki = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_castps_si256(magic));
    const __m256 scale2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(ki, _mm256_set1_epi32(127)), 23));
    return _mm256_andnot_ps(under, _mm256_mul_ps(p, scale2));
}

// Lanes 0…n−1 set (n clamped to 0…8), as an integer mask for maskload / maskstore and as floats.
__attribute__((target(SD_AR2_TARGET), always_inline)) static inline __m256i sd_ar8_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// H = HS / 8 chunks (1…16), one instantiation each.
__attribute__((target(SD_AR2_TARGET), always_inline)) static inline void sd_ar8_body(
    const int H, const float *q, const float *K, const float *V, int ld, int visible, float scale, float *s, float *out) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 top = ninf;
    for (int j0 = 0; j0 < visible; j0 += 8) {
        const int nk = visible - j0;
        __m256 acc[8];
        for (int u = 0; u < 8; u++) {
            const float *k = K + (size_t)(j0 + (u < nk ? u : 0)) * ld;   // past the end: a valid row, unused
            __m256 a = _mm256_mul_ps(_mm256_loadu_ps(q), _mm256_loadu_ps(k));
            for (int c = 1; c < H; c++) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * c), _mm256_loadu_ps(k + 8 * c), a);
            acc[u] = a;
        }
        const __m256i m = sd_ar8_mask(nk);
        const __m256 x = _mm256_mul_ps(sd_ar8_reduce(acc), _mm256_set1_ps(scale));
        top = _mm256_max_ps(top, _mm256_blendv_ps(ninf, x, _mm256_castsi256_ps(m)));
        _mm256_maskstore_ps(s + j0, m, x);
    }
    __m128 t4 = _mm_max_ps(_mm256_castps256_ps128(top), _mm256_extractf128_ps(top, 1));
    t4 = _mm_max_ps(t4, _mm_movehl_ps(t4, t4));
    const __m256 mx = _mm256_set1_ps(_mm_cvtss_f32(_mm_max_ss(t4, _mm_movehdup_ps(t4))));
    __m256 sum = _mm256_setzero_ps();
    for (int j0 = 0; j0 < visible; j0 += 8) {
        const __m256i m = sd_ar8_mask(visible - j0);
        const __m256 e = _mm256_and_ps(_mm256_castsi256_ps(m), sd_ar8_exp(_mm256_sub_ps(_mm256_maskload_ps(s + j0, m), mx)));
        sum = _mm256_add_ps(sum, e);
        _mm256_maskstore_ps(s + j0, m, e);
    }
    const __m256 inv = _mm256_set1_ps(1.0f / sd_hsum8(sum));
    // At most eight output chunks per sweep over the values (sixteen registers).
    for (int c0 = 0; c0 < H; c0 += 8) {
        const int nc = H - c0 < 8 ? H - c0 : 8;
        __m256 o[8];
        for (int c = 0; c < nc; c++) o[c] = _mm256_setzero_ps();
        for (int j = 0; j < visible; j++) {
            const __m256 e = _mm256_set1_ps(s[j]);
            const float *v = V + (size_t)j * ld + 8 * c0;
            for (int c = 0; c < nc; c++) o[c] = _mm256_fmadd_ps(e, _mm256_loadu_ps(v + 8 * c), o[c]);
        }
        for (int c = 0; c < nc; c++) _mm256_storeu_ps(out + 8 * (c0 + c), _mm256_mul_ps(o[c], inv));
    }
}

#define SD_AR8_CASE(h) \
    case h: sd_ar8_body(h, q, K, V, ld, visible, scale, s, out); return 1;

__attribute__((target(SD_AR2_TARGET))) int sd_attn_row_avx2(int HS, const float *q, const float *K, const float *V, int ld,
                                                            int visible, float scale, float *s, float *out) {
    switch (HS / 8) {
        SD_AR8_CASE(1) SD_AR8_CASE(2) SD_AR8_CASE(3) SD_AR8_CASE(4) SD_AR8_CASE(5) SD_AR8_CASE(6) SD_AR8_CASE(7)
        SD_AR8_CASE(8) SD_AR8_CASE(9) SD_AR8_CASE(10) SD_AR8_CASE(11) SD_AR8_CASE(12) SD_AR8_CASE(13)
        SD_AR8_CASE(14) SD_AR8_CASE(15) SD_AR8_CASE(16)
    default: return 0;
    }
}
#endif
