// F16 and BF16 weight rows times float32 activation rows: the portable reference and the AVX2
// path (math and summation order: QuantKernels.h; dispatch: QuantRows.c).
//
// Weights are converted to float32 on the fly, exactly (F16: IEEE half → single, F16C
// _mm256_cvtph_ps on AVX2; BF16: the 16 bits shifted into the top of a binary32), and multiplied
// into the activations as they are. Per output two accumulators of 8 float lanes, s0 and s1; block
// b holds elements 16b…16b+15 and adds, lane l, s0[l] = fma(w[16b+l], a[16b+l], s0[l]) and
// s1[l] = fma(w[16b+8+l], a[16b+8+l], s1[l]), blocks in ascending order; the output is sd_hsum8's
// fixed horizontal sum of s0 + s1. Conversion is exact and every step is one IEEE operation, so
// the portable loop and the AVX2 path give the same bits.
//
// As in RowsTimesWT.c, the AVX2 path walks one weight row at a time and multiplies each vector
// into every activation row of the group (≤ 6 rows: 12 accumulators and 2 weight vectors of the
// 16 registers), so verifying up to 6 tokens reads every weight once. Measured here (AMD EPYC,
// one thread, 230 MB of F16 rows, K = 576, M = 1, medians of 9 on a shared machine): 13–14 GB/s
// as it is; 4 accumulators per output the same (the loop waits for memory, not for FMA
// latency); 2 or 4 weight rows at a time 11 GB/s; software prefetch 2 KB ahead 11.6 GB/s (equal
// at M = 2, 4), so there is none.
#pragma STDC FP_CONTRACT OFF
#include <math.h>
#include "QuantInternal.h"

static inline float sd_bf16(const uint8_t *p) {
    const uint32_t bits = ((uint32_t)p[0] | (uint32_t)p[1] << 8) << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// The reference loop: M ≤ 16 rows per call from the dispatch, any M here (groups of 16); each
// block of a weight row is converted once and used for every row of the group.
void sd_half_portable(int type, int M, int N, int nb, const float *A, int lda, const uint8_t *W, size_t ldw,
                      float *C, int ldc, int accumulate) {
    for (int m0 = 0; m0 < M; m0 += 16) {
        const int R = M - m0 < 16 ? M - m0 : 16;
        for (int n = 0; n < N; n++) {
            const uint8_t *w = W + (size_t)n * ldw;
            float s[16][16] = {{0}};   // s[r][l]: lanes 0…7 are s0, 8…15 are s1
            for (int b = 0; b < nb; b++) {
                float x[16];
                for (int l = 0; l < 16; l++) x[l] = type == SD_F16 ? sd_f16(w + 32 * b + 2 * l) : sd_bf16(w + 32 * b + 2 * l);
                for (int r = 0; r < R; r++) {
                    const float *a = A + (size_t)(m0 + r) * lda + 16 * b;
                    for (int l = 0; l < 16; l++) s[r][l] = fmaf(x[l], a[l], s[r][l]);
                }
            }
            for (int r = 0; r < R; r++) {
                float t[8];
                for (int l = 0; l < 8; l++) t[l] = s[r][l] + s[r][8 + l];
                const float v = ((t[0] + t[4]) + (t[1] + t[5])) + ((t[2] + t[6]) + (t[3] + t[7]));   // sd_hsum8's order
                float *c = C + (size_t)(m0 + r) * ldc + n;
                *c = accumulate ? *c + v : v;
            }
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>
#include "SimdInternal.h"

// Eight weights at p as float32 (exact conversions).
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline __m256 sd_half_load8(const int type, const uint8_t *p) {
    const __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (type == SD_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

// One block (16 weights at w, activations at column k) into the R rows' accumulators.
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void sd_half_block(
    const int type, const int R, const uint8_t *w, const float *A, int lda, int k, __m256 *s0, __m256 *s1) {
    const __m256 x0 = sd_half_load8(type, w), x1 = sd_half_load8(type, w + 16);
    for (int r = 0; r < R; r++) {
        const float *a = A + (size_t)r * lda + k;
        s0[r] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(a), s0[r]);
        s1[r] = _mm256_fmadd_ps(x1, _mm256_loadu_ps(a + 8), s1[r]);
    }
}

__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void sd_half_body(
    const int type, const int R, int N, int nb, const float *A, int lda, const uint8_t *W, size_t ldw, float *C,
    int ldc, int accumulate) {
    for (int n = 0; n < N; n++) {
        const uint8_t *w = W + (size_t)n * ldw;
        __m256 s0[6], s1[6];
        for (int r = 0; r < R; r++) { s0[r] = _mm256_setzero_ps(); s1[r] = _mm256_setzero_ps(); }
        for (int b = 0; b < nb; b++) sd_half_block(type, R, w + 32 * b, A, lda, 16 * b, s0, s1);
        for (int r = 0; r < R; r++) {
            const float v = sd_hsum8(_mm256_add_ps(s0[r], s1[r]));
            float *c = C + (size_t)r * ldc + n;
            *c = accumulate ? *c + v : v;
        }
    }
}

typedef void (*sd_half_fn)(int, int, const float *, int, const uint8_t *, size_t, float *, int, int);

#define SD_HALF_FN(T, R)                                                                                      \
    __attribute__((target("avx2,fma,f16c"))) static void sd_half_##T##_##R(int N, int nb, const float *A, int lda, \
        const uint8_t *W, size_t ldw, float *C, int ldc, int accumulate) {                                   \
        sd_half_body(T, R, N, nb, A, lda, W, ldw, C, ldc, accumulate);                                       \
    }
#define SD_HALF_TYPE(T) SD_HALF_FN(T, 1) SD_HALF_FN(T, 2) SD_HALF_FN(T, 3) SD_HALF_FN(T, 4) SD_HALF_FN(T, 5)     \
    SD_HALF_FN(T, 6)                                                                                          \
    static const sd_half_fn sd_half_table_##T[7] = {0, sd_half_##T##_1, sd_half_##T##_2, sd_half_##T##_3,     \
                                                    sd_half_##T##_4, sd_half_##T##_5, sd_half_##T##_6};

SD_HALF_TYPE(1)
SD_HALF_TYPE(30)

void sd_half_avx2_group(int type, int R, int N, int nb, const float *A, int lda, const uint8_t *W, size_t ldw,
                        float *C, int ldc, int accumulate) {
    const sd_half_fn *t = type == SD_F16 ? sd_half_table_1 : sd_half_table_30;
    t[R](N, nb, A, lda, W, ldw, C, ldc, accumulate);
}
#else
void sd_half_avx2_group(int type, int R, int N, int nb, const float *A, int lda, const uint8_t *W, size_t ldw,
                        float *C, int ldc, int accumulate) {
    sd_half_portable(type, R, N, nb, A, lda, W, ldw, C, ldc, accumulate);
}
#endif
