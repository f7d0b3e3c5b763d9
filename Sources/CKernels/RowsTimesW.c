// Few rows times a non-transposed matrix with a fixed summation order (see CKernels.h).
#include "CKernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

__attribute__((target("avx2,fma"))) static void sd_rows_times_w_avx2(
    int M, int N, int K, const float *A, int lda, const float *W, int ldw, float *C, int ldc, int accumulate) {
    for (int m = 0; m < M; m++) {
        const float *a = A + (size_t)m * lda;
        float *c = C + (size_t)m * ldc;
        int n = 0;
        for (; n + 32 <= N; n += 32) {
            __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps(), c2 = _mm256_setzero_ps(), c3 = _mm256_setzero_ps();
            for (int k = 0; k < K; k++) {
                __m256 s = _mm256_broadcast_ss(a + k);
                const float *w = W + (size_t)k * ldw + n;
                c0 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w), c0);
                c1 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w + 8), c1);
                c2 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w + 16), c2);
                c3 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w + 24), c3);
            }
            if (accumulate) {
                c0 = _mm256_add_ps(c0, _mm256_loadu_ps(c + n)); c1 = _mm256_add_ps(c1, _mm256_loadu_ps(c + n + 8));
                c2 = _mm256_add_ps(c2, _mm256_loadu_ps(c + n + 16)); c3 = _mm256_add_ps(c3, _mm256_loadu_ps(c + n + 24));
            }
            _mm256_storeu_ps(c + n, c0); _mm256_storeu_ps(c + n + 8, c1);
            _mm256_storeu_ps(c + n + 16, c2); _mm256_storeu_ps(c + n + 24, c3);
        }
        for (; n + 8 <= N; n += 8) {
            __m256 c0 = _mm256_setzero_ps();
            for (int k = 0; k < K; k++)
                c0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + k), _mm256_loadu_ps(W + (size_t)k * ldw + n), c0);
            if (accumulate) c0 = _mm256_add_ps(c0, _mm256_loadu_ps(c + n));
            _mm256_storeu_ps(c + n, c0);
        }
        for (; n < N; n++) {
            float s = 0;
            for (int k = 0; k < K; k++) s = __builtin_fmaf(a[k], W[(size_t)k * ldw + n], s);
            c[n] = accumulate ? c[n] + s : s;
        }
    }
}

// AVX-512: 64 outputs in four 16-lane accumulators, for two rows at once (eight independent FMA
// chains: one row's four are bound by the FMA latency). Each output is still one FMA per k in
// ascending order, so the bits are those of the AVX2 and portable loops.
__attribute__((target("avx512f,avx2,fma"))) static void sd_rows_times_w_avx512(
    int M, int N, int K, const float *A, int lda, const float *W, int ldw, float *C, int ldc, int accumulate) {
    int m = 0;
    for (; m + 2 <= M; m += 2) {
        const float *a0 = A + (size_t)m * lda, *a1 = a0 + lda;
        float *c0 = C + (size_t)m * ldc, *c1 = c0 + ldc;
        int n = 0;
        for (; n + 64 <= N; n += 64) {
            __m512 x[4], y[4];
            for (int j = 0; j < 4; j++) x[j] = y[j] = _mm512_setzero_ps();
            for (int k = 0; k < K; k++) {
                const float *w = W + (size_t)k * ldw + n;
                const __m512 s0 = _mm512_set1_ps(a0[k]), s1 = _mm512_set1_ps(a1[k]);
                for (int j = 0; j < 4; j++) {
                    const __m512 v = _mm512_loadu_ps(w + 16 * j);
                    x[j] = _mm512_fmadd_ps(s0, v, x[j]);
                    y[j] = _mm512_fmadd_ps(s1, v, y[j]);
                }
            }
            for (int j = 0; j < 4; j++) {
                float *p0 = c0 + n + 16 * j, *p1 = c1 + n + 16 * j;
                _mm512_storeu_ps(p0, accumulate ? _mm512_add_ps(_mm512_loadu_ps(p0), x[j]) : x[j]);
                _mm512_storeu_ps(p1, accumulate ? _mm512_add_ps(_mm512_loadu_ps(p1), y[j]) : y[j]);
            }
        }
        if (n < N) sd_rows_times_w_avx2(2, N - n, K, a0, lda, W + n, ldw, c0 + n, ldc, accumulate);
    }
    for (; m < M; m++) {
        const float *a = A + (size_t)m * lda;
        float *c = C + (size_t)m * ldc;
        int n = 0;
        for (; n + 64 <= N; n += 64) {
            __m512 x[4];
            for (int j = 0; j < 4; j++) x[j] = _mm512_setzero_ps();
            for (int k = 0; k < K; k++) {
                const float *w = W + (size_t)k * ldw + n;
                const __m512 s = _mm512_set1_ps(a[k]);
                for (int j = 0; j < 4; j++) x[j] = _mm512_fmadd_ps(s, _mm512_loadu_ps(w + 16 * j), x[j]);
            }
            for (int j = 0; j < 4; j++) {
                float *p = c + n + 16 * j;
                _mm512_storeu_ps(p, accumulate ? _mm512_add_ps(_mm512_loadu_ps(p), x[j]) : x[j]);
            }
        }
        if (n < N) sd_rows_times_w_avx2(1, N - n, K, a, lda, W + n, ldw, c + n, ldc, accumulate);
    }
}
#endif

static void sd_rows_times_w_portable(int M, int N, int K, const float *A, int lda, const float *W, int ldw,
                                     float *C, int ldc, int accumulate) {
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++) {
            float s = 0;
            for (int k = 0; k < K; k++) s = __builtin_fmaf(A[(size_t)m * lda + k], W[(size_t)k * ldw + n], s);
            float *c = C + (size_t)m * ldc + n;
            *c = accumulate ? *c + s : s;
        }
    }
}

void sd_rows_times_w(int M, int N, int K, const float *A, int lda, const float *W, int ldw,
                     float *C, int ldc, int accumulate) {
#if defined(__x86_64__) || defined(__i386__)
    if (sd_rows_times_wt_isa() == 2) { sd_rows_times_w_avx512(M, N, K, A, lda, W, ldw, C, ldc, accumulate); return; }
    if (sd_has_avx2()) { sd_rows_times_w_avx2(M, N, K, A, lda, W, ldw, C, ldc, accumulate); return; }
#endif
    sd_rows_times_w_portable(M, N, K, A, lda, W, ldw, C, ldc, accumulate);
}
