// AVX2 path of the quantised row kernels (math and summation order: QuantKernels.h).
//
// One weight row at a time, block by block in ascending order: the block is decoded once into
// registers and multiplied into each of the R ≤ 8 activation rows of the group with
// _mm256_maddubs_epi16 (unsigned weight bytes × signed activation bytes; signed weights use the
// sign trick |w| · (a · sign w)) and _mm256_madd_epi16. No saturation: activations are in
// [−127, 127], so a byte pair sums to at most 2 · 128 · 127 = 32512 < 32767.
// Legacy types: acc_m += (d_w·d_a) · (float)Σ lane-wise (one FMA on 8 lanes; a fixed horizontal
// sum at the end, then + Σ m_w·s_a). K-quants: the exact int32 super-block sum, then the same
// scalar float expression as the portable path (contraction off), so Q4_K/Q5_K/Q6_K results equal
// the portable path's bit for bit. (F16 / BF16: QuantRowsHalf.c.)
#pragma STDC FP_CONTRACT OFF
#include "QuantInternal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "SimdInternal.h"


// IEEE half → float with F16C (exact, so the same value as sd_f16).
__attribute__((target("avx2,fma,f16c"))) static inline float sd_q_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

__attribute__((target("avx2,fma,f16c"))) static inline int sd_q_hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

// Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 for R rows (type and R are constants in each instantiation).
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void sd_legacy_body(
    const int type, const int R, int N, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, size_t ldw,
    float *C, int ldc, int accumulate) {
    const int bytes = sd_block_bytes(type);
    const __m256i ones = _mm256_set1_epi16(1), low4 = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8);
    const __m256i sixteen = _mm256_set1_epi8(16), bits = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    const __m256i pick = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    for (int n = 0; n < N; n++) {
        const uint8_t *w = W + (size_t)n * ldw;
        __m256 acc[8];
        float summ[8];
        for (int r = 0; r < R; r++) { acc[r] = _mm256_setzero_ps(); summ[r] = 0; }
        for (int b = 0; b < nb; b++, w += bytes) {
            const float d = sd_q_f16(w);
            float mw = 0;
            __m256i wq;
            if (type == SD_Q8_0) {
                wq = _mm256_loadu_si256((const __m256i *)(w + 2));
            } else {
                const uint8_t *qs = w + (type == SD_Q4_0 ? 2 : type == SD_Q4_1 ? 4 : type == SD_Q5_0 ? 6 : 8);   // after d (m) (qh)
                __m128i t = _mm_loadu_si128((const __m128i *)qs);
                wq = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), low4);   // elements 0…15, 16…31
                if (type == SD_Q5_0 || type == SD_Q5_1) {
                    // Bit j of qh is the 5th bit of element j: byte j of `spread` is byte j/8 of qh,
                    // tested against 1 << (j mod 8).
                    uint32_t qh;
                    memcpy(&qh, w + (type == SD_Q5_0 ? 2 : 4), 4);
                    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), pick);
                    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bits), bits);
                    wq = _mm256_or_si256(wq, _mm256_and_si256(set, sixteen));
                }
                if (type == SD_Q4_0) wq = _mm256_sub_epi8(wq, eight);
                else if (type == SD_Q5_0) wq = _mm256_sub_epi8(wq, sixteen);
                else mw = sd_q_f16(w + 2);
            }
            const int unsig = type == SD_Q4_1 || type == SD_Q5_1;
            const __m256i wabs = unsig ? wq : _mm256_sign_epi8(wq, wq);
            for (int r = 0; r < R; r++) {
                const sd_qa32 *a = (const sd_qa32 *)(QA + r * ldqa) + b;
                __m256i qa = _mm256_loadu_si256((const __m256i *)a->q);
                if (!unsig) qa = _mm256_sign_epi8(qa, wq);
                const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(wabs, qa), ones);
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d * a->d), _mm256_cvtepi32_ps(p), acc[r]);
                if (unsig) summ[r] += mw * a->s;
            }
        }
        for (int r = 0; r < R; r++) {
            float v = sd_hsum8(acc[r]) + summ[r];
            float *c = C + (size_t)r * ldc + n;
            *c = accumulate ? *c + v : v;
        }
    }
}

// Q4_K, Q5_K and Q6_K for R rows. Q5_K is Q4_K with a fifth bit per element: bit j of qh[l] is
// bit 4 of element l of sub-block j, so chunk c ORs in bits 2c (low nibbles) and 2c + 1 (high);
// weights ≤ 31, so a maddubs pair sums to ≤ 2 · 31 · 127 and the int32 sums stay exact.
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void sd_k_body(
    const int type, const int R, int N, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, size_t ldw,
    float *C, int ldc, int accumulate) {
    const int bytes = sd_block_bytes(type);
    const __m256i low4 = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    for (int n = 0; n < N; n++) {
        const uint8_t *w = W + (size_t)n * ldw;
        float acc[8];
        for (int r = 0; r < R; r++) acc[r] = 0;
        for (int b = 0; b < nb; b++, w += bytes) {
            __m256i isum[8];
            for (int r = 0; r < R; r++) isum[r] = _mm256_setzero_si256();
            if (type == SD_Q4_K || type == SD_Q5_K) {
                const float d = sd_q_f16(w), dmin = sd_q_f16(w + 2);
                int sc[8], mn[8];
                for (int j = 0; j < 8; j++) sd_scale_min_k4(w + 4, j, &sc[j], &mn[j]);
                const int five = type == SD_Q5_K;
                const __m256i qh = five ? _mm256_loadu_si256((const __m256i *)(w + 16)) : _mm256_setzero_si256();
                for (int c = 0; c < 4; c++) {
                    const __m256i q = _mm256_loadu_si256((const __m256i *)(w + (five ? 48 : 16) + 32 * c));
                    __m256i lo = _mm256_and_si256(q, low4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
                    if (five) {   // per-byte bits: the 16-bit shifts' carry-in from the next byte is masked off
                        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one), 4));
                        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one), 4));
                    }
                    const __m256i slo = _mm256_set1_epi16((short)sc[2 * c]), shi = _mm256_set1_epi16((short)sc[2 * c + 1]);
                    for (int r = 0; r < R; r++) {
                        const sd_qa256 *a = (const sd_qa256 *)(QA + r * ldqa) + b;
                        const __m256i alo = _mm256_loadu_si256((const __m256i *)(a->q + 64 * c));
                        const __m256i ahi = _mm256_loadu_si256((const __m256i *)(a->q + 64 * c + 32));
                        const __m256i plo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, alo), slo);
                        const __m256i phi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, ahi), shi);
                        isum[r] = _mm256_add_epi32(isum[r], _mm256_add_epi32(plo, phi));
                    }
                }
                for (int r = 0; r < R; r++) {
                    const sd_qa256 *a = (const sd_qa256 *)(QA + r * ldqa) + b;
                    int msum = 0;
                    for (int j = 0; j < 8; j++) msum += mn[j] * (a->bsums[2 * j] + a->bsums[2 * j + 1]);
                    acc[r] += a->d * (d * (float)sd_q_hsum_i32(isum[r]) - dmin * (float)msum);
                }
            } else {
                const uint8_t *ql = w, *qh = w + 128;
                const int8_t *sc = (const int8_t *)(w + 192);
                const float d = sd_q_f16(w + 208);
                for (int h = 0; h < 2; h++) {
                    const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(ql + 64 * h));
                    const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(ql + 64 * h + 32));
                    const __m256i qhv = _mm256_loadu_si256((const __m256i *)(qh + 32 * h));
                    for (int j = 0; j < 4; j++) {
                        const __m256i src = j % 2 == 0 ? ql0 : ql1;
                        const __m256i low = j < 2 ? _mm256_and_si256(src, low4) : _mm256_and_si256(_mm256_srli_epi16(src, 4), low4);
                        const __m256i high = _mm256_and_si256(_mm256_srli_epi16(qhv, 2 * j), three);
                        const __m256i q = _mm256_or_si256(low, _mm256_slli_epi16(high, 4));   // 0…63
                        const int g = 8 * h + 2 * j;
                        const __m256i sv = _mm256_set_m128i(_mm_set1_epi16(sc[g + 1]), _mm_set1_epi16(sc[g]));
                        for (int r = 0; r < R; r++) {
                            const sd_qa256 *a = (const sd_qa256 *)(QA + r * ldqa) + b;
                            const __m256i av = _mm256_loadu_si256((const __m256i *)(a->q + 128 * h + 32 * j));
                            isum[r] = _mm256_add_epi32(isum[r], _mm256_madd_epi16(_mm256_maddubs_epi16(q, av), sv));
                        }
                    }
                }
                for (int r = 0; r < R; r++) {
                    const sd_qa256 *a = (const sd_qa256 *)(QA + r * ldqa) + b;
                    int msum = 0;
                    for (int g = 0; g < 16; g++) msum += sc[g] * a->bsums[g];
                    acc[r] += (d * a->d) * (float)(sd_q_hsum_i32(isum[r]) - 32 * msum);
                }
            }
        }
        for (int r = 0; r < R; r++) {
            float *c = C + (size_t)r * ldc + n;
            *c = accumulate ? *c + acc[r] : acc[r];
        }
    }
}

// One block of n activations (n a multiple of 32: 32 for the legacy types, 256 for the K-quants)
// quantised exactly as sd_quant_block in QuantRows.c: amax by max (NaN ignored, as fmaxf),
// q = nearbyint(a · id) with NaN → 0 and clamping to ±127; sum16[g] = Σ q over elements
// 16g … 16g + 15, exact. Returns max|a|.
__attribute__((target("avx2,fma,f16c"))) float sd_quant_block_avx2(const float *a, int n, int8_t *q, int *sum16) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(a + i), absmask), m);   // NaN lanes keep m
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float amax = _mm_cvtss_f32(h), id = amax > 0 ? 127.0f / amax : 0.0f;
    const __m256 vid = _mm256_set1_ps(id), hi = _mm256_set1_ps(127.0f), lo = _mm256_set1_ps(-127.0f);
    for (int c = 0; c < n; c += 32) {
        __m256i qi[4];
        for (int i = 0; i < 4; i++) {
            __m256 r = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(a + c + 8 * i), vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            r = _mm256_and_ps(r, _mm256_cmp_ps(r, r, _CMP_ORD_Q));   // NaN → 0
            r = _mm256_min_ps(_mm256_max_ps(r, lo), hi);
            qi[i] = _mm256_cvtps_epi32(r);
        }
        sum16[c / 16] = sd_q_hsum_i32(_mm256_add_epi32(qi[0], qi[1]));
        sum16[c / 16 + 1] = sd_q_hsum_i32(_mm256_add_epi32(qi[2], qi[3]));
        // int32 → int8 (values fit): packs interleave 128-bit lanes; the permute restores the order.
        const __m256i p16a = _mm256_packs_epi32(qi[0], qi[1]), p16b = _mm256_packs_epi32(qi[2], qi[3]);
        const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
        _mm256_storeu_si256((__m256i *)(q + c), _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    }
    return amax;
}

typedef void (*sd_q_fn)(int, int, const uint8_t *, size_t, const uint8_t *, size_t, float *, int, int);

#define SD_Q_FN(BODY, T, R)                                                                          \
    __attribute__((target("avx2,fma,f16c"))) static void sd_q_##T##_##R(int N, int nb, const uint8_t *QA,   \
        size_t ldqa, const uint8_t *W, size_t ldw, float *C, int ldc, int accumulate) {                \
        BODY(T, R, N, nb, QA, ldqa, W, ldw, C, ldc, accumulate);                                     \
    }
#define SD_Q_TYPE(BODY, T) SD_Q_FN(BODY, T, 1) SD_Q_FN(BODY, T, 2) SD_Q_FN(BODY, T, 3) SD_Q_FN(BODY, T, 4) \
    SD_Q_FN(BODY, T, 5) SD_Q_FN(BODY, T, 6) SD_Q_FN(BODY, T, 7) SD_Q_FN(BODY, T, 8)                    \
    static const sd_q_fn sd_q_table_##T[9] = {0, sd_q_##T##_1, sd_q_##T##_2, sd_q_##T##_3, sd_q_##T##_4,  \
                                              sd_q_##T##_5, sd_q_##T##_6, sd_q_##T##_7, sd_q_##T##_8};

SD_Q_TYPE(sd_legacy_body, 8)
SD_Q_TYPE(sd_legacy_body, 2)
SD_Q_TYPE(sd_legacy_body, 3)
SD_Q_TYPE(sd_legacy_body, 6)
SD_Q_TYPE(sd_legacy_body, 7)
SD_Q_TYPE(sd_k_body, 12)
SD_Q_TYPE(sd_k_body, 13)
SD_Q_TYPE(sd_k_body, 14)

static const sd_q_fn *sd_q_table(int type) {
    switch (type) {
    case SD_Q8_0: return sd_q_table_8;
    case SD_Q4_0: return sd_q_table_2;
    case SD_Q4_1: return sd_q_table_3;
    case SD_Q5_0: return sd_q_table_6;
    case SD_Q5_1: return sd_q_table_7;
    case SD_Q4_K: return sd_q_table_12;
    case SD_Q5_K: return sd_q_table_13;
    case SD_Q6_K: return sd_q_table_14;
    default: return 0;
    }
}

int sd_quant_avx2_has(int type) { return sd_q_table(type) != 0 || sd_is_half(type); }

int sd_quant_avx2_group(int type, int R, int N, int nb, const void *QA, size_t ldqa, const uint8_t *W, size_t ldw,
                        float *C, int ldc, int accumulate) {
    if (sd_is_half(type)) {
        if (R < 1 || R > sd_quant_avx2_group_max(type)) return 0;
        sd_half_avx2_group(type, R, N, nb, (const float *)QA, (int)(ldqa / sizeof(float)), W, ldw, C, ldc, accumulate);
        return 1;
    }
    const sd_q_fn *t = sd_q_table(type);
    if (!t || R < 1 || R > 8) return 0;
    t[R](N, nb, (const uint8_t *)QA, ldqa, W, ldw, C, ldc, accumulate);
    return 1;
}
#else
int sd_quant_avx2_has(int type) { (void)type; return 0; }
int sd_quant_avx2_group(int type, int R, int N, int nb, const void *QA, size_t ldqa, const uint8_t *W, size_t ldw,
                        float *C, int ldc, int accumulate) {
    (void)type; (void)R; (void)N; (void)nb; (void)QA; (void)ldqa; (void)W; (void)ldw; (void)C; (void)ldc; (void)accumulate;
    return 0;
}
#endif
