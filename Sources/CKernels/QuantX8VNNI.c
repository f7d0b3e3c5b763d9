// AVX-512 VNNI path of the interleaved ("x8") quantised kernels: layout and math in QuantKernels.h.
//
// The same 8-lane accumulators as the AVX2 path (QuantX8AVX2.c): lane i is weight row 8g + i.
// What changes is how the exact int32 block sums are formed: `vpdpbusd` (AVX512-VNNI on 256-bit
// registers, AVX512-VL) adds four u8 · s8 products straight into each int32 lane, where AVX2
// needs maddubs (pairs into int16), int16 adds and a madd. Legacy types: 4-bit weights × the
// activation bytes; Q8_0 with the sign trick |w| · (a · sign w), as on AVX2. K-quants: one int32
// sum per sub-block (Q4_K: 32 elements, Q6_K: 16), times the rows' scales with vpmulld.
// Every integer sum is exact, and the float operations per lane are those of the portable loop
// in the same order, so this path equals the portable loop (and AVX2) bit for bit.
// With 32 vector registers a pass holds up to 8 activation rows (legacy) or 4 (K-quants).
#pragma STDC FP_CONTRACT OFF
#include "QuantInternal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define SD_VNNI_TARGET "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"

__attribute__((target(SD_VNNI_TARGET))) static inline __m256i sd_v_bcast4(const int8_t *p) {
    int v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

// The prefetch distance of the AVX2 path (whole block SD_X8_PF bytes ahead).
#ifndef SD_X8_PF
#define SD_X8_PF 4096
#endif
__attribute__((target(SD_VNNI_TARGET), always_inline)) static inline void sd_v_prefetch(const uint8_t *w, const int bb) {
    const uint8_t *p = w + (SD_X8_PF + bb - 1) / bb * bb;
    for (int l = 0; l < bb; l += 64) _mm_prefetch((const char *)p + l, _MM_HINT_T0);
}

__attribute__((target(SD_VNNI_TARGET), always_inline)) static inline void sd_v_body(
    const int type, const int R, int G, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, float *C, int ldc,
    int accumulate) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const int q8 = type == SD_Q8_0, q1 = type == SD_Q4_1, bb = 8 * sd_block_bytes(type), qs0 = q1 ? 32 : 16;
    for (int g = 0; g < G; g++) {
        const uint8_t *w = W + (size_t)g * nb * bb;
        __m256 acc[8];
        for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++, w += bb) {
            sd_v_prefetch(w, bb);
            const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w));
            __m256i isum[8];
            for (int r = 0; r < R; r++) isum[r] = _mm256_setzero_si256();
            if (q8) {
                _Pragma("clang loop unroll(full)") for (int j = 0; j < 8; j++) {
                    const __m256i wq = _mm256_loadu_si256((const __m256i *)(w + 16 + 32 * j));
                    const __m256i wabs = _mm256_abs_epi8(wq);
                    for (int r = 0; r < R; r++) {
                        const sd_qa32 *a = (const sd_qa32 *)(QA + r * ldqa) + b;
                        isum[r] = _mm256_dpbusd_epi32(isum[r], wabs, _mm256_sign_epi8(sd_v_bcast4(a->q + 4 * j), wq));
                    }
                }
            } else {
                _Pragma("clang loop unroll(full)") for (int k = 0; k < 4; k++) {
                    const __m256i raw = _mm256_loadu_si256((const __m256i *)(w + qs0 + 32 * k));
                    const __m256i lo = _mm256_and_si256(raw, low4);
                    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
                    for (int r = 0; r < R; r++) {
                        const sd_qa32 *a = (const sd_qa32 *)(QA + r * ldqa) + b;
                        isum[r] = _mm256_dpbusd_epi32(isum[r], lo, sd_v_bcast4(a->q + 4 * k));
                        isum[r] = _mm256_dpbusd_epi32(isum[r], hi, sd_v_bcast4(a->q + 16 + 4 * k));
                    }
                }
            }
            // Q4_0: value = d·(q − 8) = d·q + m with m = −8d (exact in float).
            const __m256 mw = q1 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 16)))
                                 : _mm256_mul_ps(dw, _mm256_set1_ps(-8.0f));
            for (int r = 0; r < R; r++) {
                const sd_qa32 *a = (const sd_qa32 *)(QA + r * ldqa) + b;
                const __m256 scale = _mm256_mul_ps(dw, _mm256_broadcast_ss(&a->d));
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r]), scale, acc[r]);
                if (!q8) acc[r] = _mm256_fmadd_ps(mw, _mm256_broadcast_ss(&a->s), acc[r]);
            }
        }
        for (int r = 0; r < R; r++) {
            float *c = C + (size_t)r * ldc + 8 * g;
            _mm256_storeu_ps(c, accumulate ? _mm256_add_ps(_mm256_loadu_ps(c), acc[r]) : acc[r]);
        }
    }
}

// Q4_K: per sub-block j the 8 chunks of 4-bit weights go through vpdpbusd into one int32 sum
// per lane, times the rows' 6-bit scales; the mins against the activation's sub-block sums.
__attribute__((target(SD_VNNI_TARGET), always_inline)) static inline void sd_v_q4k_body(
    const int R, int G, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, float *C, int ldc, int accumulate) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const int bb = 1184;
    for (int g = 0; g < G; g++) {
        const uint8_t *w = W + (size_t)g * nb * bb;
        __m256 acc[4];
        for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++, w += bb) {
            sd_v_prefetch(w, bb);
            __m256i isum[4], msum[4];
            for (int r = 0; r < R; r++) { isum[r] = _mm256_setzero_si256(); msum[r] = _mm256_setzero_si256(); }
            _Pragma("clang loop unroll(full)") for (int j = 0; j < 8; j++) {
                const int c = j / 2, hi = j % 2;
                __m256i s[4];
                for (int r = 0; r < R; r++) s[r] = _mm256_setzero_si256();
                _Pragma("clang loop unroll(full)") for (int k = 0; k < 8; k++) {
                    const __m256i raw = _mm256_loadu_si256((const __m256i *)(w + 160 + 256 * c + 32 * k));
                    const __m256i q = hi ? _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4) : _mm256_and_si256(raw, low4);
                    for (int r = 0; r < R; r++) {
                        const sd_qa256 *a = (const sd_qa256 *)(QA + r * ldqa) + b;
                        s[r] = _mm256_dpbusd_epi32(s[r], q, sd_v_bcast4(a->q + 64 * c + 32 * hi + 4 * k));
                    }
                }
                const __m256i sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(w + 32 + 8 * j)));
                const __m256i mn = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(w + 96 + 8 * j)));
                for (int r = 0; r < R; r++) {
                    const sd_qa256 *a = (const sd_qa256 *)(QA + r * ldqa) + b;
                    isum[r] = _mm256_add_epi32(isum[r], _mm256_mullo_epi32(s[r], sc));
                    const int bs = a->bsums[2 * j] + a->bsums[2 * j + 1];   // |bs| ≤ 32 · 127: one int16
                    msum[r] = _mm256_add_epi32(msum[r], _mm256_madd_epi16(mn, _mm256_set1_epi32(bs & 0xFFFF)));
                }
            }
            const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w));
            const __m256 dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 16)));
            for (int r = 0; r < R; r++) {
                const sd_qa256 *a = (const sd_qa256 *)(QA + r * ldqa) + b;
                const __m256 t = _mm256_mul_ps(dw, _mm256_cvtepi32_ps(isum[r]));
                const __m256 u = _mm256_mul_ps(dm, _mm256_cvtepi32_ps(msum[r]));
                acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(&a->d), _mm256_sub_ps(t, u), acc[r]);
            }
        }
        for (int r = 0; r < R; r++) {
            float *c = C + (size_t)r * ldc + 8 * g;
            _mm256_storeu_ps(c, accumulate ? _mm256_add_ps(_mm256_loadu_ps(c), acc[r]) : acc[r]);
        }
    }
}

// Q6_K: the 6-bit values assembled once per chunk for all rows (as on AVX2); each 16-element
// group's four chunks go through vpdpbusd into one int32 sum, times the rows' signed group scale.
__attribute__((target(SD_VNNI_TARGET), always_inline)) static inline void sd_v_q6k_body(
    const int R, int G, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, float *C, int ldc, int accumulate) {
    const __m256i low4 = _mm256_set1_epi8(0x0F), bits45 = _mm256_set1_epi8(0x30);
    const int bb = 1680;
    for (int g = 0; g < G; g++) {
        const uint8_t *w = W + (size_t)g * nb * bb;
        __m256 acc[4];
        for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++, w += bb) {
            sd_v_prefetch(w, bb);
            __m256i isum[4], msum[4];
            for (int r = 0; r < R; r++) { isum[r] = _mm256_setzero_si256(); msum[r] = _mm256_setzero_si256(); }
            _Pragma("clang loop unroll(full)") for (int h = 0; h < 2; h++) {
                _Pragma("clang loop unroll(full)") for (int j = 0; j < 4; j++) {
                    _Pragma("clang loop unroll(full)") for (int half = 0; half < 2; half++) {   // k 0…3, 4…7: one 16-group
                        const int grp = 8 * h + 2 * j + half;
                        const __m256i sc = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(w + 16 + 8 * grp)));
                        __m256i s[4];
                        for (int r = 0; r < R; r++) {
                            const sd_qa256 *a = (const sd_qa256 *)(QA + r * ldqa) + b;
                            // The −32 offset: Σ_g sc_g · bsum_g (sc in int32 lanes, bsum one int16).
                            msum[r] = _mm256_add_epi32(msum[r], _mm256_mullo_epi32(sc, _mm256_set1_epi32(a->bsums[grp])));
                            s[r] = _mm256_setzero_si256();
                        }
                        _Pragma("clang loop unroll(full)") for (int kk = 0; kk < 4; kk++) {
                            const int k = 4 * half + kk;
                            const __m256i lb = _mm256_loadu_si256((const __m256i *)(w + 144 + 512 * h + 256 * (j % 2) + 32 * k));
                            const __m256i hb = _mm256_loadu_si256((const __m256i *)(w + 1168 + 256 * h + 32 * k));
                            const __m256i lo = j < 2 ? _mm256_and_si256(lb, low4) : _mm256_and_si256(_mm256_srli_epi16(lb, 4), low4);
                            const __m256i up = _mm256_and_si256(j == 0 ? _mm256_slli_epi16(hb, 4) : j == 1 ? _mm256_slli_epi16(hb, 2)
                                                                : j == 2 ? hb : _mm256_srli_epi16(hb, 2), bits45);
                            const __m256i q = _mm256_or_si256(lo, up);
                            for (int r = 0; r < R; r++) {
                                const sd_qa256 *a = (const sd_qa256 *)(QA + r * ldqa) + b;
                                s[r] = _mm256_dpbusd_epi32(s[r], q, sd_v_bcast4(a->q + 128 * h + 32 * j + 4 * k));
                            }
                        }
                        for (int r = 0; r < R; r++) isum[r] = _mm256_add_epi32(isum[r], _mm256_mullo_epi32(s[r], sc));
                    }
                }
            }
            const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w));
            for (int r = 0; r < R; r++) {
                const sd_qa256 *a = (const sd_qa256 *)(QA + r * ldqa) + b;
                const __m256i t = _mm256_sub_epi32(isum[r], _mm256_slli_epi32(msum[r], 5));   // − 32·msum
                acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_broadcast_ss(&a->d)), _mm256_cvtepi32_ps(t), acc[r]);
            }
        }
        for (int r = 0; r < R; r++) {
            float *c = C + (size_t)r * ldc + 8 * g;
            _mm256_storeu_ps(c, accumulate ? _mm256_add_ps(_mm256_loadu_ps(c), acc[r]) : acc[r]);
        }
    }
}

typedef void (*sd_v_fn)(int, int, const uint8_t *, size_t, const uint8_t *, float *, int, int);

#define SD_V_FN(T, R)                                                                                    \
    __attribute__((target(SD_VNNI_TARGET))) static void sd_v_##T##_##R(int G, int nb, const uint8_t *QA,     \
        size_t ldqa, const uint8_t *W, float *C, int ldc, int accumulate) {                                \
        sd_v_body(T, R, G, nb, QA, ldqa, W, C, ldc, accumulate);                                           \
    }
#define SD_V_TYPE(T) SD_V_FN(T, 1) SD_V_FN(T, 2) SD_V_FN(T, 3) SD_V_FN(T, 4) SD_V_FN(T, 5) SD_V_FN(T, 6)     \
    SD_V_FN(T, 7) SD_V_FN(T, 8)                                                                            \
    static const sd_v_fn sd_v_table_##T[9] = {0, sd_v_##T##_1, sd_v_##T##_2, sd_v_##T##_3, sd_v_##T##_4,   \
                                              sd_v_##T##_5, sd_v_##T##_6, sd_v_##T##_7, sd_v_##T##_8};
SD_V_TYPE(2)
SD_V_TYPE(3)
SD_V_TYPE(8)

#define SD_V_K_FN(T, BODY, R)                                                                            \
    __attribute__((target(SD_VNNI_TARGET))) static void sd_v_##T##_##R(int G, int nb, const uint8_t *QA,     \
        size_t ldqa, const uint8_t *W, float *C, int ldc, int accumulate) {                                \
        BODY(R, G, nb, QA, ldqa, W, C, ldc, accumulate);                                                   \
    }
SD_V_K_FN(12, sd_v_q4k_body, 1) SD_V_K_FN(12, sd_v_q4k_body, 2) SD_V_K_FN(12, sd_v_q4k_body, 3) SD_V_K_FN(12, sd_v_q4k_body, 4)
SD_V_K_FN(14, sd_v_q6k_body, 1) SD_V_K_FN(14, sd_v_q6k_body, 2) SD_V_K_FN(14, sd_v_q6k_body, 3) SD_V_K_FN(14, sd_v_q6k_body, 4)
static const sd_v_fn sd_v_table_12[5] = {0, sd_v_12_1, sd_v_12_2, sd_v_12_3, sd_v_12_4};
static const sd_v_fn sd_v_table_14[5] = {0, sd_v_14_1, sd_v_14_2, sd_v_14_3, sd_v_14_4};

int sd_x8_vnni_rows(int type) { return sd_is_k(type) ? 4 : 8; }

void sd_x8_vnni(int type, int R, int G, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, float *C, int ldc,
                int accumulate) {
    if (R < 1 || R > sd_x8_vnni_rows(type)) return;
    const sd_v_fn *t = type == SD_Q8_0 ? sd_v_table_8 : type == SD_Q4_1 ? sd_v_table_3
                      : type == SD_Q4_K ? sd_v_table_12 : type == SD_Q6_K ? sd_v_table_14 : sd_v_table_2;
    t[R](G, nb, QA, ldqa, W, C, ldc, accumulate);
}
#else
int sd_x8_vnni_rows(int type) { (void)type; return 4; }
void sd_x8_vnni(int type, int R, int G, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, float *C, int ldc,
                int accumulate) {
    (void)type; (void)R; (void)G; (void)nb; (void)QA; (void)ldqa; (void)W; (void)C; (void)ldc; (void)accumulate;
}
#endif
