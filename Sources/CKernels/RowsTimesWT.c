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

// MR activation rows x NR weight rows per step; MR and NR are constants in every instantiation
// so the MR*NR accumulators stay in registers (at most 12 of AVX2's 16). Every output element is
// the same computation whatever MR, NR or the thread split: 8 lane sums over k < K8 in ascending
// order (one FMA each), the fixed sd_hsum tree, then the tail k >= K8 in ascending order. So a
// row's results do not depend on how many rows are computed with it (batch invariance).
// NR = 4 for MR <= 2 keeps four weight streams in flight (single-token decoding is bound by how
// fast the weights stream in); the leftover rows go through the one-row step.
#define SD_DEFINE_BLOCK(MR, NR)                                                                \
__attribute__((target("avx2,fma"))) static void sd_block_##MR(                                 \
    int N, int K, const float *A, int lda, const float *W, int ldw, float *C, int ldc,         \
    int accumulate) {                                                                         \
    const int K8 = K & ~7;                                                                    \
    int n = 0;                                                                                \
    for (; n + NR <= N; n += NR) {                                                            \
        const float *w = W + (size_t)n * ldw;                                                 \
        __m256 acc[MR][NR];                                                                   \
        for (int m = 0; m < MR; m++)                                                          \
            for (int j = 0; j < NR; j++) acc[m][j] = _mm256_setzero_ps();                     \
        for (int k = 0; k < K8; k += 8) {                                                     \
            __m256 x[NR];                                                                     \
            for (int j = 0; j < NR; j++) x[j] = _mm256_loadu_ps(w + (size_t)j * ldw + k);     \
            for (int m = 0; m < MR; m++) {                                                    \
                __m256 a = _mm256_loadu_ps(A + (size_t)m * lda + k);                          \
                for (int j = 0; j < NR; j++) acc[m][j] = _mm256_fmadd_ps(a, x[j], acc[m][j]); \
            }                                                                                 \
        }                                                                                     \
        for (int m = 0; m < MR; m++) {                                                        \
            const float *a = A + (size_t)m * lda;                                             \
            float *c = C + (size_t)m * ldc + n;                                               \
            for (int j = 0; j < NR; j++) {                                                    \
                const float *wj = w + (size_t)j * ldw;                                        \
                float s = sd_hsum(acc[m][j]);                                                 \
                for (int k = K8; k < K; k++) s += a[k] * wj[k];                               \
                c[j] = accumulate ? c[j] + s : s;                                             \
            }                                                                                 \
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
            float s = sd_hsum(acc0[m]);                                                       \
            const float *a = A + (size_t)m * lda;                                             \
            for (int k = K8; k < K; k++) s += a[k] * w0[k];                                   \
            float *c = C + (size_t)m * ldc + n;                                               \
            *c = accumulate ? *c + s : s;                                                     \
        }                                                                                     \
    }                                                                                         \
}

SD_DEFINE_BLOCK(1, 4)
SD_DEFINE_BLOCK(2, 4)
SD_DEFINE_BLOCK(3, 2)
SD_DEFINE_BLOCK(4, 2)
SD_DEFINE_BLOCK(5, 2)
SD_DEFINE_BLOCK(6, 2)

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
