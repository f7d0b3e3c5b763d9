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

// q · K_j over the H chunks: acc = q_0 ⊙ k_0, then FMAs (the query chunk loaded beside the key's).
__attribute__((target(SD_AR2_TARGET), always_inline)) static inline __m256 sd_ar8_dot(const int H, const float *q, const float *k) {
    __m256 a = _mm256_mul_ps(_mm256_loadu_ps(q), _mm256_loadu_ps(k));
    for (int c = 1; c < H; c++) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * c), _mm256_loadu_ps(k + 8 * c), a);
    return a;
}

// s[j] = scale · q · K_j for j < visible, eight keys per reduction; returns max_j s[j].
__attribute__((target(SD_AR2_TARGET), always_inline)) static inline float sd_ar8_scores1(
    const int H, const float *q, const float *K, int ld, int visible, float scale, float *s) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 top = ninf;
    for (int j0 = 0; j0 < visible; j0 += 8) {
        const int nk = visible - j0;
        __m256 acc[8];
        for (int u = 0; u < 8; u++) acc[u] = sd_ar8_dot(H, q, K + (size_t)(j0 + (u < nk ? u : 0)) * ld);   // past the end: a valid row, unused
        const __m256i m = sd_ar8_mask(nk);
        const __m256 x = _mm256_mul_ps(sd_ar8_reduce(acc), _mm256_set1_ps(scale));
        top = _mm256_max_ps(top, _mm256_blendv_ps(ninf, x, _mm256_castsi256_ps(m)));
        _mm256_maskstore_ps(s + j0, m, x);
    }
    __m128 t4 = _mm_max_ps(_mm256_castps256_ps128(top), _mm256_extractf128_ps(top, 1));
    t4 = _mm_max_ps(t4, _mm_movehl_ps(t4, t4));
    return _mm_cvtss_f32(_mm_max_ss(t4, _mm_movehdup_ps(t4)));
}

// Two queries over the same keys (visible va ≤ vb), four keys per reduction: slots 0–3 query a's,
// 4–7 query b's. sd_ar8_reduce sums every slot by the same tree, so each score has the bits of
// sd_ar8_scores1; each key chunk is loaded once for both queries.
__attribute__((target(SD_AR2_TARGET), always_inline)) static inline void sd_ar8_scores2(
    const int H, const float *qa, const float *qb, const float *K, int ld, int va, int vb, float scale, float *sa, float *sb,
    float *topa, float *topb) {
    float ta = -INFINITY, tb = -INFINITY, x8[8];
    for (int j0 = 0; j0 < vb; j0 += 4) {
        const int nk = vb - j0;
        __m256 acc[8];
        const float *k[4];
        for (int u = 0; u < 4; u++) k[u] = K + (size_t)(j0 + (u < nk ? u : 0)) * ld;
        for (int u = 0; u < 4; u++) {
            const __m256 kc = _mm256_loadu_ps(k[u]);
            acc[u] = _mm256_mul_ps(_mm256_loadu_ps(qa), kc);
            acc[4 + u] = _mm256_mul_ps(_mm256_loadu_ps(qb), kc);
        }
        for (int c = 1; c < H; c++) {
            const __m256 a = _mm256_loadu_ps(qa + 8 * c), b = _mm256_loadu_ps(qb + 8 * c);
            for (int u = 0; u < 4; u++) {
                const __m256 kc = _mm256_loadu_ps(k[u] + 8 * c);
                acc[u] = _mm256_fmadd_ps(a, kc, acc[u]);
                acc[4 + u] = _mm256_fmadd_ps(b, kc, acc[4 + u]);
            }
        }
        _mm256_storeu_ps(x8, _mm256_mul_ps(sd_ar8_reduce(acc), _mm256_set1_ps(scale)));
        for (int u = 0; u < 4 && j0 + u < va; u++) sa[j0 + u] = x8[u], ta = x8[u] > ta ? x8[u] : ta;
        for (int u = 0; u < 4 && j0 + u < vb; u++) sb[j0 + u] = x8[4 + u], tb = x8[4 + u] > tb ? x8[4 + u] : tb;
    }
    *topa = ta, *topb = tb;
}

// In place s[j] = e^(s[j] − top) for j < visible; returns Σ_j s[j] (eight lanes, then sd_hsum8).
__attribute__((target(SD_AR2_TARGET), always_inline)) static inline float sd_ar8_softmax(float *s, int visible, float top) {
    const __m256 mx = _mm256_set1_ps(top);
    __m256 sum = _mm256_setzero_ps();
    for (int j0 = 0; j0 < visible; j0 += 8) {
        const __m256i m = sd_ar8_mask(visible - j0);
        const __m256 e = _mm256_and_ps(_mm256_castsi256_ps(m), sd_ar8_exp(_mm256_sub_ps(_mm256_maskload_ps(s + j0, m), mx)));
        sum = _mm256_add_ps(sum, e);
        _mm256_maskstore_ps(s + j0, m, e);
    }
    return sd_hsum8(sum);
}

// H = HS / 8 chunks (1…16), one instantiation each.
__attribute__((target(SD_AR2_TARGET), always_inline)) static inline void sd_ar8_body(
    const int H, const float *q, const float *K, const float *V, int ld, int visible, float scale, float *s, float *out) {
    const __m256 inv = _mm256_set1_ps(1.0f / sd_ar8_softmax(s, visible, sd_ar8_scores1(H, q, K, ld, visible, scale, s)));
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

// Two queries (va ≤ vb): the bits of two sd_ar8_body calls (every accumulator sums its own terms
// in the same order), each key and value chunk loaded once where both queries see it.
__attribute__((target(SD_AR2_TARGET), always_inline)) static inline void sd_ar8_body2(
    const int H, const float *qa, const float *qb, const float *K, const float *V, int ld, int va, int vb, float scale,
    float *sa, float *sb, float *outa, float *outb) {
    float topa, topb;
    sd_ar8_scores2(H, qa, qb, K, ld, va, vb, scale, sa, sb, &topa, &topb);
    const __m256 inva = _mm256_set1_ps(1.0f / sd_ar8_softmax(sa, va, topa)), invb = _mm256_set1_ps(1.0f / sd_ar8_softmax(sb, vb, topb));
    // Four output chunks of each query per sweep over the values.
    for (int c0 = 0; c0 < H; c0 += 4) {
        const int nc = H - c0 < 4 ? H - c0 : 4;
        __m256 a[4], b[4];
        for (int c = 0; c < nc; c++) a[c] = b[c] = _mm256_setzero_ps();
        int j = 0;
        for (; j < va; j++) {
            const __m256 ea = _mm256_set1_ps(sa[j]), eb = _mm256_set1_ps(sb[j]);
            const float *v = V + (size_t)j * ld + 8 * c0;
            for (int c = 0; c < nc; c++) {
                const __m256 x = _mm256_loadu_ps(v + 8 * c);
                a[c] = _mm256_fmadd_ps(ea, x, a[c]);
                b[c] = _mm256_fmadd_ps(eb, x, b[c]);
            }
        }
        for (; j < vb; j++) {
            const __m256 eb = _mm256_set1_ps(sb[j]);
            const float *v = V + (size_t)j * ld + 8 * c0;
            for (int c = 0; c < nc; c++) b[c] = _mm256_fmadd_ps(eb, _mm256_loadu_ps(v + 8 * c), b[c]);
        }
        for (int c = 0; c < nc; c++) {
            _mm256_storeu_ps(outa + 8 * (c0 + c), _mm256_mul_ps(a[c], inva));
            _mm256_storeu_ps(outb + 8 * (c0 + c), _mm256_mul_ps(b[c], invb));
        }
    }
}

#define SD_AR8_CASE2(h) \
    case h: sd_ar8_body2(h, qa, qb, K, V, ld, va, vb, scale, sa, sb, outa, outb); return 1;

__attribute__((target(SD_AR2_TARGET))) int sd_attn_row2_avx2(int HS, const float *qa, const float *qb, const float *K,
                                                             const float *V, int ld, int va, int vb, float scale,
                                                             float *sa, float *sb, float *outa, float *outb) {
    switch (HS / 8) {
        SD_AR8_CASE2(1) SD_AR8_CASE2(2) SD_AR8_CASE2(3) SD_AR8_CASE2(4) SD_AR8_CASE2(5) SD_AR8_CASE2(6) SD_AR8_CASE2(7)
        SD_AR8_CASE2(8) SD_AR8_CASE2(9) SD_AR8_CASE2(10) SD_AR8_CASE2(11) SD_AR8_CASE2(12) SD_AR8_CASE2(13)
        SD_AR8_CASE2(14) SD_AR8_CASE2(15) SD_AR8_CASE2(16)
    default: return 0;
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
