// One query row of cached attention in one pass: scores, softmax and the value sum (see
// CKernels.h, sd_attn_row).
//
// The general path (Attention.forwardCached) computes a block of scores with sd_attn_scores,
// then the softmax in Swift, then the value product with sd_rows_times_w, and pays for each
// output's horizontal sum separately. Here, on AVX-512 and for head sizes of 16…128:
// - scores: the query stays in registers; sixteen keys at a time each get an FMA chain over the
//   head's 16-lane chunks, and one transposed reduction (30 shuffles, 15 additions) turns the
//   sixteen partial vectors into the sixteen scores in one register;
// - softmax: the maximum while scoring, then e_j = exp(s_j − max) (the polynomial of
//   VectorMath.exp, in FMAs) and their sum in sixteen lanes;
// - values: out = (Σ_j e_j · v_j) / Σ_j e_j, two interleaved accumulator sets (even and odd j)
//   against the FMA latency.
// Every operation on key j depends only on j, the row and `visible`, so a row gets the same bits
// whatever other rows or heads are computed with it (batch invariance), and whatever the thread.
// sd_attn_row2 runs two queries over the same cache with those same bits, sharing the loads; the
// AVX2 forms of both are in AttentionRowAVX2.c.
#include "CKernels.h"
#include "SimdInternal.h"
#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define SD_AR_TARGET "avx512f,avx2,fma"   // the AVX-512 path needs F only (sd_rows_times_wt_isa() == 2)

// Lane u of the result = the sum of the lanes of a[u] (fixed tree: pairs within 128-bit lanes,
// then the four 128-bit quarters).
__attribute__((target(SD_AR_TARGET), always_inline)) static inline __m512 sd_ar_reduce16(const __m512 *a) {
    __m512 t[8], w[4];
    for (int m = 0; m < 8; m++)
        t[m] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * m], a[2 * m + 1]), _mm512_unpackhi_ps(a[2 * m], a[2 * m + 1]));
    for (int m = 0; m < 4; m++)
        w[m] = _mm512_add_ps(_mm512_shuffle_ps(t[2 * m], t[2 * m + 1], 0x44), _mm512_shuffle_ps(t[2 * m], t[2 * m + 1], 0xEE));
    const __m512 x01 = _mm512_add_ps(_mm512_shuffle_f32x4(w[0], w[1], 0x44), _mm512_shuffle_f32x4(w[0], w[1], 0xEE));
    const __m512 x23 = _mm512_add_ps(_mm512_shuffle_f32x4(w[2], w[3], 0x44), _mm512_shuffle_f32x4(w[2], w[3], 0xEE));
    return _mm512_add_ps(_mm512_shuffle_f32x4(x01, x23, 0x88), _mm512_shuffle_f32x4(x01, x23, 0xDD));
}

// e^x with VectorMath.exp's clamp, rounding trick and polynomial (FMAs here); x < −87.33 gives 0.
__attribute__((target(SD_AR_TARGET), always_inline)) static inline __m512 sd_ar_exp(__m512 x) {
    const __m512 lo = _mm512_set1_ps(SD_EXP_LO), hi = _mm512_set1_ps(SD_EXP_HI);
    const __m512 magic = _mm512_set1_ps(SD_EXP_MAGIC);
    const __mmask16 under = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
    const __m512 xc = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
    const __m512 shifted = _mm512_fmadd_ps(xc, _mm512_set1_ps(SD_EXP_LOG2E), magic);
    const __m512 k = _mm512_sub_ps(shifted, magic);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(SD_EXP_LN2_HI), xc);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(SD_EXP_LN2_LO), r);
    __m512 p = _mm512_set1_ps(SD_EXP_P0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(SD_EXP_P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(SD_EXP_P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(SD_EXP_P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(SD_EXP_P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(SD_EXP_P5));
    p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    const __m512i ki = _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_castps_si512(magic));
    const __m512 scale2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(ki, _mm512_set1_epi32(127)), 23));
    return _mm512_maskz_mov_ps((__mmask16)~under, _mm512_mul_ps(p, scale2));
}

static inline __mmask16 sd_ar_mask(int n) { return (__mmask16)(n >= 16 ? 0xFFFF : n <= 0 ? 0 : (1u << n) - 1); }

// q · K_j for the 16 lanes' keys/queries: acc = q_0 ⊙ k_0, then FMAs over the H chunks.
__attribute__((target(SD_AR_TARGET), always_inline)) static inline __m512 sd_ar_dot(const int H, const __m512 *qv, const float *k) {
    __m512 a = _mm512_mul_ps(qv[0], _mm512_loadu_ps(k));
    for (int c = 1; c < H; c++) a = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(k + 16 * c), a);
    return a;
}

// s[j] = scale · q · K_j for j < visible, sixteen keys per reduction; returns max_j s[j].
__attribute__((target(SD_AR_TARGET), always_inline)) static inline float sd_ar_scores1(
    const int H, const float *q, const float *K, int ld, int visible, float scale, float *s) {
    __m512 qv[8];
    for (int c = 0; c < H; c++) qv[c] = _mm512_loadu_ps(q + 16 * c);
    __m512 top = _mm512_set1_ps(-INFINITY);
    for (int j0 = 0; j0 < visible; j0 += 16) {
        const int nk = visible - j0;
        __m512 acc[16];
        for (int u = 0; u < 16; u++) acc[u] = sd_ar_dot(H, qv, K + (size_t)(j0 + (u < nk ? u : 0)) * ld);   // past the end: a valid row, unused
        const __mmask16 m = sd_ar_mask(nk);
        const __m512 x = _mm512_mul_ps(sd_ar_reduce16(acc), _mm512_set1_ps(scale));
        top = _mm512_mask_max_ps(top, m, top, x);
        _mm512_mask_storeu_ps(s + j0, m, x);
    }
    return _mm512_reduce_max_ps(top);
}

// Two queries over the same keys (visible a ≤ visible b), eight keys per reduction: lanes 0–7
// are query a's, 8–15 query b's. Every score is computed exactly as in sd_ar_scores1 (each lane
// of the reduction sums its own vector by the same tree), so the bits are the same; each key
// row is loaded once for both queries.
__attribute__((target(SD_AR_TARGET), always_inline)) static inline void sd_ar_scores2(
    const int H, const float *qa, const float *qb, const float *K, int ld, int va, int vb, float scale, float *sa, float *sb,
    float *topa, float *topb) {
    __m512 qv[2][8];
    for (int c = 0; c < H; c++) qv[0][c] = _mm512_loadu_ps(qa + 16 * c), qv[1][c] = _mm512_loadu_ps(qb + 16 * c);
    __m512 top = _mm512_set1_ps(-INFINITY);
    float x16[16];
    for (int j0 = 0; j0 < vb; j0 += 8) {
        const int nk = vb - j0;
        __m512 acc[16];
        for (int u = 0; u < 8; u++) {
            const float *k = K + (size_t)(j0 + (u < nk ? u : 0)) * ld;
            acc[u] = sd_ar_dot(H, qv[0], k);
            acc[8 + u] = sd_ar_dot(H, qv[1], k);
        }
        const __mmask16 m = (__mmask16)((sd_ar_mask(va - j0) & 0xFF) | (sd_ar_mask(nk) & 0xFF) << 8);
        const __m512 x = _mm512_mul_ps(sd_ar_reduce16(acc), _mm512_set1_ps(scale));
        top = _mm512_mask_max_ps(top, m, top, x);
        _mm512_storeu_ps(x16, x);
        for (int u = 0; u < 8 && j0 + u < va; u++) sa[j0 + u] = x16[u];
        for (int u = 0; u < 8 && j0 + u < vb; u++) sb[j0 + u] = x16[8 + u];
    }
    float t[16];
    _mm512_storeu_ps(t, top);
    *topa = *topb = -INFINITY;
    for (int u = 0; u < 8; u++) *topa = t[u] > *topa ? t[u] : *topa, *topb = t[8 + u] > *topb ? t[8 + u] : *topb;
}

// In place s[j] = e^(s[j] − top) for j < visible; returns Σ_j s[j] (sixteen lanes, then a fixed tree).
__attribute__((target(SD_AR_TARGET), always_inline)) static inline float sd_ar_softmax(float *s, int visible, float top) {
    const __m512 mx = _mm512_set1_ps(top);
    __m512 sum = _mm512_setzero_ps();
    for (int j0 = 0; j0 < visible; j0 += 16) {
        const __mmask16 m = sd_ar_mask(visible - j0);
        const __m512 e = _mm512_maskz_mov_ps(m, sd_ar_exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + j0), mx)));
        sum = _mm512_add_ps(sum, e);
        _mm512_mask_storeu_ps(s + j0, m, e);
    }
    const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(sum), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(sum), 1)));
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

// o[parity j] += e_j · V_j over j in [j, end) (even j into o0, odd into o1), ascending.
__attribute__((target(SD_AR_TARGET), always_inline)) static inline void sd_ar_values(
    const int H, const float *V, int ld, const float *e, int j, int end, __m512 *o0, __m512 *o1) {
    for (; j + 2 <= end; j += 2) {
        const __m512 e0 = _mm512_set1_ps(e[j]), e1 = _mm512_set1_ps(e[j + 1]);
        const float *v0 = V + (size_t)j * ld, *v1 = v0 + ld;
        for (int c = 0; c < H; c++) {
            o0[c] = _mm512_fmadd_ps(e0, _mm512_loadu_ps(v0 + 16 * c), o0[c]);
            o1[c] = _mm512_fmadd_ps(e1, _mm512_loadu_ps(v1 + 16 * c), o1[c]);
        }
    }
    if (j < end) {
        const __m512 e0 = _mm512_set1_ps(e[j]);
        for (int c = 0; c < H; c++) o0[c] = _mm512_fmadd_ps(e0, _mm512_loadu_ps(V + (size_t)j * ld + 16 * c), o0[c]);
    }
}

__attribute__((target(SD_AR_TARGET), always_inline)) static inline void sd_ar_store(const int H, const __m512 *o0, const __m512 *o1,
                                                                                   float total, float *out) {
    const __m512 inv = _mm512_set1_ps(1.0f / total);
    for (int c = 0; c < H; c++) _mm512_storeu_ps(out + 16 * c, _mm512_mul_ps(_mm512_add_ps(o0[c], o1[c]), inv));
}

// H = HS / 16 chunks (1…8), one instantiation each so the chunk loops unroll.
__attribute__((target(SD_AR_TARGET), always_inline)) static inline void sd_ar_body(
    const int H, const float *q, const float *K, const float *V, int ld, int visible, float scale, float *s, float *out) {
    const float total = sd_ar_softmax(s, visible, sd_ar_scores1(H, q, K, ld, visible, scale, s));
    __m512 o0[8], o1[8];
    for (int c = 0; c < H; c++) o0[c] = o1[c] = _mm512_setzero_ps();
    sd_ar_values(H, V, ld, s, 0, visible, o0, o1);
    sd_ar_store(H, o0, o1, total, out);
}

// Two queries (va ≤ vb): the bits of two sd_ar_body calls, with the key and value rows loaded
// once for both where both see them.
__attribute__((target(SD_AR_TARGET), always_inline)) static inline void sd_ar_body2(
    const int H, const float *qa, const float *qb, const float *K, const float *V, int ld, int va, int vb, float scale,
    float *sa, float *sb, float *outa, float *outb) {
    float topa, topb;
    sd_ar_scores2(H, qa, qb, K, ld, va, vb, scale, sa, sb, &topa, &topb);
    const float ta = sd_ar_softmax(sa, va, topa), tb = sd_ar_softmax(sb, vb, topb);
    __m512 a0[4], a1[4], b0[4], b1[4];
    for (int c = 0; c < H; c++) a0[c] = a1[c] = b0[c] = b1[c] = _mm512_setzero_ps();
    int j = 0;
    for (; j + 2 <= va; j += 2) {
        const __m512 ea0 = _mm512_set1_ps(sa[j]), ea1 = _mm512_set1_ps(sa[j + 1]);
        const __m512 eb0 = _mm512_set1_ps(sb[j]), eb1 = _mm512_set1_ps(sb[j + 1]);
        const float *v0 = V + (size_t)j * ld, *v1 = v0 + ld;
        for (int c = 0; c < H; c++) {
            const __m512 x0 = _mm512_loadu_ps(v0 + 16 * c), x1 = _mm512_loadu_ps(v1 + 16 * c);
            a0[c] = _mm512_fmadd_ps(ea0, x0, a0[c]);
            a1[c] = _mm512_fmadd_ps(ea1, x1, a1[c]);
            b0[c] = _mm512_fmadd_ps(eb0, x0, b0[c]);
            b1[c] = _mm512_fmadd_ps(eb1, x1, b1[c]);
        }
    }
    sd_ar_values(H, V, ld, sa, j, va, a0, a1);
    sd_ar_values(H, V, ld, sb, j, vb, b0, b1);
    sd_ar_store(H, a0, a1, ta, outa);
    sd_ar_store(H, b0, b1, tb, outb);
}

#define SD_AR2_CASE(h) \
    case h: sd_ar_body2(h, qa, qb, K, V, ld, va, vb, scale, sa, sb, outa, outb); return 1;

__attribute__((target(SD_AR_TARGET))) static int sd_attn_row2_avx512(int HS, const float *qa, const float *qb, const float *K,
                                                                     const float *V, int ld, int va, int vb, float scale,
                                                                     float *sa, float *sb, float *outa, float *outb) {
    switch (HS / 16) {
        SD_AR2_CASE(1) SD_AR2_CASE(2) SD_AR2_CASE(3) SD_AR2_CASE(4)
    default: return 0;
    }
}

#define SD_AR_CASE(h) \
    case h: sd_ar_body(h, q, K, V, ld, visible, scale, s, out); return 1;

__attribute__((target(SD_AR_TARGET))) static int sd_attn_row_avx512(int HS, const float *q, const float *K, const float *V,
                                                                    int ld, int visible, float scale, float *s, float *out) {
    switch (HS / 16) {
        SD_AR_CASE(1) SD_AR_CASE(2) SD_AR_CASE(3) SD_AR_CASE(4) SD_AR_CASE(5) SD_AR_CASE(6) SD_AR_CASE(7) SD_AR_CASE(8)
    default: return 0;
    }
}
#endif

#if defined(__x86_64__)
// The AVX2 form (AttentionRowAVX2.c): head sizes 8…128 in multiples of 8.
int sd_attn_row_avx2(int HS, const float *q, const float *K, const float *V, int ld, int visible, float scale, float *s,
                     float *out);
#endif

int sd_attn_row_available_with(int isa, int HS) {
#if defined(__x86_64__)
    return isa >= 1 && HS > 0 && HS % 8 == 0 && HS <= 128;
#else
    (void)isa; (void)HS;
    return 0;
#endif
}

int sd_attn_row_available(int HS) { return sd_attn_row_available_with(sd_rows_times_wt_isa(), HS); }

#if defined(__x86_64__)
int sd_attn_row2_avx2(int HS, const float *qa, const float *qb, const float *K, const float *V, int ld, int va, int vb,
                      float scale, float *sa, float *sb, float *outa, float *outb);
#endif

// The pair takes the single row's path (AVX-512 where HS is a multiple of 16, else AVX2), so that
// it can give that path's bits: on AVX-512 up to HS 64 (with 32 registers two 128-wide queries and
// sixteen partial scores do not fit; measured no faster), on AVX2 up to 128.
int sd_attn_row2_available_with(int isa, int HS) {
    if (!sd_attn_row_available_with(isa, HS)) return 0;
    return isa >= 2 && HS % 16 == 0 ? HS <= 64 : 1;
}

int sd_attn_row2_available(int HS) { return sd_attn_row2_available_with(sd_rows_times_wt_isa(), HS); }

int sd_attn_row2_with(int isa, int HS, const float *qa, const float *qb, const float *K, const float *V, int ld, int va,
                      int vb, float scale, float *sa, float *sb, float *outa, float *outb) {
    if (va <= 0 || vb < va || !sd_attn_row2_available_with(isa, HS)) return 0;
#if defined(__x86_64__)
    if (isa >= 2 && HS % 16 == 0) return sd_attn_row2_avx512(HS, qa, qb, K, V, ld, va, vb, scale, sa, sb, outa, outb);
    return sd_attn_row2_avx2(HS, qa, qb, K, V, ld, va, vb, scale, sa, sb, outa, outb);
#else
    (void)qa; (void)qb; (void)K; (void)V; (void)ld; (void)scale; (void)sa; (void)sb; (void)outa; (void)outb;
    return 0;
#endif
}

int sd_attn_row2(int HS, const float *qa, const float *qb, const float *K, const float *V, int ld, int va, int vb,
                 float scale, float *sa, float *sb, float *outa, float *outb) {
    return sd_attn_row2_with(sd_rows_times_wt_isa(), HS, qa, qb, K, V, ld, va, vb, scale, sa, sb, outa, outb);
}

int sd_attn_row_with(int isa, int HS, const float *q, const float *K, const float *V, int ld, int visible, float scale,
                     float *s, float *out) {
    if (visible <= 0 || !sd_attn_row_available_with(isa, HS)) return 0;
#if defined(__x86_64__)
    if (isa >= 2 && HS % 16 == 0) return sd_attn_row_avx512(HS, q, K, V, ld, visible, scale, s, out);
    return sd_attn_row_avx2(HS, q, K, V, ld, visible, scale, s, out);
#else
    (void)q; (void)K; (void)V; (void)ld; (void)scale; (void)s; (void)out;
    return 0;
#endif
}

int sd_attn_row(int HS, const float *q, const float *K, const float *V, int ld, int visible, float scale, float *s,
                float *out) {
    return sd_attn_row_with(sd_rows_times_wt_isa(), HS, q, K, V, ld, visible, scale, s, out);
}
