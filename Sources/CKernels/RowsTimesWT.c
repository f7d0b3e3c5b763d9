// Small-M matrix product against a transposed weight matrix, reading the weights once.
// OpenBLAS sgemm with M = 2..8 streams the weights at only 4-8 GB/s on this machine; here each
// pair of weight rows is loaded once and multiplied into up to six activation rows, so the
// cost of verifying gamma + 1 tokens stays close to the cost of one token.
#include "CKernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SD_X86 1
#endif

void sd_rows_times_wt_portable(int M, int N, int K, const float *A, int lda, const float *W,
                               int ldw, float *C, int ldc, int accumulate) {
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++) {
            float s = 0;
            const float *a = A + (size_t)m * lda, *w = W + (size_t)n * ldw;
            for (int k = 0; k < K; k++) s += a[k] * w[k];
            float *c = C + (size_t)m * ldc + n;
            *c = accumulate ? *c + s : s;
        }
    }
}

#ifdef SD_X86
__attribute__((target("avx2,fma"))) static inline float sd_hsum(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    __m128 sh = _mm_movehdup_ps(lo);
    __m128 s = _mm_add_ps(lo, sh);
    sh = _mm_movehl_ps(sh, s);
    s = _mm_add_ss(s, sh);
    return _mm_cvtss_f32(s);
}

// MR activation rows x 2 weight rows per step; MR is a constant in every instantiation so the
// 2*MR accumulators stay in registers (at most 12 of AVX2's 16).
#define SD_DEFINE_BLOCK(MR)                                                                    \
__attribute__((target("avx2,fma"))) static void sd_block_##MR(                                 \
    int N, int K, const float *A, int lda, const float *W, int ldw, float *C, int ldc,         \
    int accumulate) {                                                                         \
    const int K8 = K & ~7;                                                                    \
    int n = 0;                                                                                \
    for (; n + 2 <= N; n += 2) {                                                              \
        const float *w0 = W + (size_t)n * ldw, *w1 = w0 + ldw;                                \
        __m256 acc0[MR], acc1[MR];                                                            \
        for (int m = 0; m < MR; m++) { acc0[m] = _mm256_setzero_ps(); acc1[m] = _mm256_setzero_ps(); } \
        for (int k = 0; k < K8; k += 8) {                                                     \
            __m256 x0 = _mm256_loadu_ps(w0 + k), x1 = _mm256_loadu_ps(w1 + k);                \
            for (int m = 0; m < MR; m++) {                                                    \
                __m256 a = _mm256_loadu_ps(A + (size_t)m * lda + k);                          \
                acc0[m] = _mm256_fmadd_ps(a, x0, acc0[m]);                                    \
                acc1[m] = _mm256_fmadd_ps(a, x1, acc1[m]);                                    \
            }                                                                                 \
        }                                                                                     \
        for (int m = 0; m < MR; m++) {                                                        \
            float s0 = sd_hsum(acc0[m]), s1 = sd_hsum(acc1[m]);                               \
            const float *a = A + (size_t)m * lda;                                             \
            for (int k = K8; k < K; k++) { s0 += a[k] * w0[k]; s1 += a[k] * w1[k]; }          \
            float *c = C + (size_t)m * ldc + n;                                               \
            if (accumulate) { c[0] += s0; c[1] += s1; } else { c[0] = s0; c[1] = s1; }        \
        }                                                                                     \
    }                                                                                         \
    for (; n < N; n++) {                                                                      \
        const float *w0 = W + (size_t)n * ldw;                                                \
        __m256 acc0[MR];                                                                      \
        for (int m = 0; m < MR; m++) acc0[m] = _mm256_setzero_ps();                           \
        for (int k = 0; k < K8; k += 8) {                                                     \
            __m256 x0 = _mm256_loadu_ps(w0 + k);                                              \
            for (int m = 0; m < MR; m++)                                                      \
                acc0[m] = _mm256_fmadd_ps(_mm256_loadu_ps(A + (size_t)m * lda + k), x0, acc0[m]); \
        }                                                                                     \
        for (int m = 0; m < MR; m++) {                                                        \
            float s0 = sd_hsum(acc0[m]);                                                      \
            const float *a = A + (size_t)m * lda;                                             \
            for (int k = K8; k < K; k++) s0 += a[k] * w0[k];                                  \
            float *c = C + (size_t)m * ldc + n;                                               \
            *c = accumulate ? *c + s0 : s0;                                                   \
        }                                                                                     \
    }                                                                                         \
}

SD_DEFINE_BLOCK(1)
SD_DEFINE_BLOCK(2)
SD_DEFINE_BLOCK(3)
SD_DEFINE_BLOCK(4)
SD_DEFINE_BLOCK(5)
SD_DEFINE_BLOCK(6)

static int sd_avx2_state = -1;

int sd_has_avx2(void) {
    if (sd_avx2_state < 0) {
        __builtin_cpu_init();
        sd_avx2_state = (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 1 : 0;
    }
    return sd_avx2_state;
}
#else
int sd_has_avx2(void) { return 0; }
#endif

void sd_rows_times_wt(int M, int N, int K, const float *A, int lda, const float *W, int ldw,
                      float *C, int ldc, int accumulate) {
#ifdef SD_X86
    if (sd_has_avx2()) {
        int m = 0;
        while (m < M) {
            int r = M - m > 6 ? 6 : M - m;
            const float *a = A + (size_t)m * lda;
            float *c = C + (size_t)m * ldc;
            switch (r) {
            case 1: sd_block_1(N, K, a, lda, W, ldw, c, ldc, accumulate); break;
            case 2: sd_block_2(N, K, a, lda, W, ldw, c, ldc, accumulate); break;
            case 3: sd_block_3(N, K, a, lda, W, ldw, c, ldc, accumulate); break;
            case 4: sd_block_4(N, K, a, lda, W, ldw, c, ldc, accumulate); break;
            case 5: sd_block_5(N, K, a, lda, W, ldw, c, ldc, accumulate); break;
            default: sd_block_6(N, K, a, lda, W, ldw, c, ldc, accumulate); break;
            }
            m += r;
        }
        return;
    }
#endif
    sd_rows_times_wt_portable(M, N, K, A, lda, W, ldw, C, ldc, accumulate);
}
