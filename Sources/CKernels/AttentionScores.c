// Attention scores q · k_j over a key cache: sd_rows_times_wt's numbers, computed for several
// outputs per step (see CKernels.h, sd_attn_scores).
//
// The AVX-512 path of sd_rows_times_wt spends most of a short dot product (a head size of 64: one
// chunk of four 16-lane accumulators) on the horizontal sum of each output. Here two query rows
// meet two keys at once (an odd last row, as in single-token decoding, meets four keys): each
// chunk of a row or key is loaded once for all the outputs it enters, and the four outputs'
// horizontal sums run transposed in one set of registers — every lane addition the same as
// sd_hsum16's for that output (lo256 + hi256, then lo128 + hi128, then (l0 + l1) + (l2 + l3);
// float addition is commutative), so each output is bitwise sd_rows_times_wt's.
#include "CKernels.h"
#include "SimdInternal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define SD_SC_TARGET "avx512f,avx2,fma"

// The four outputs' horizontal sums of c[0..3], transposed: out[j] = sd_hsum16(c[j]).
__attribute__((target(SD_SC_TARGET), always_inline)) static inline __m128 sd_hsum16x4(const __m512 *c) {
    // lo256 + hi256 of c0 | c1 and of c2 | c3 (each 256-bit half: one output's 8 partial sums).
    const __m512 x01 = _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], 0x44), _mm512_shuffle_f32x4(c[0], c[1], 0xEE));
    const __m512 x23 = _mm512_add_ps(_mm512_shuffle_f32x4(c[2], c[3], 0x44), _mm512_shuffle_f32x4(c[2], c[3], 0xEE));
    // lo128 + hi128 of each output: the 128-bit quarters are then outputs 0, 1, 2, 3.
    const __m512 a = _mm512_add_ps(_mm512_shuffle_f32x4(x01, x23, 0x88), _mm512_shuffle_f32x4(x01, x23, 0xDD));
    // (l0 + l1) + (l2 + l3) in each quarter, as sd_hsum8's movehdup / movehl steps.
    const __m512 s = _mm512_add_ps(a, _mm512_movehdup_ps(a));
    const __m512 r = _mm512_add_ps(s, _mm512_permute_ps(s, 0x02));   // lane 0 of a quarter: s0 + s2
    return _mm512_castps512_ps128(_mm512_maskz_compress_ps(0x1111, r));
}

// Query rows a0, a1 (a1 = a0 for one row) against keys w0, w1 (w1 = w0 for one key; rows of
// stride ldw) — four outputs: sd_rows_times_wt's accumulators (4 of 16 lanes over chunks of 64,
// then whole 16-lane blocks into s_0, s_1, …), pairwise combined, summed horizontally, then the
// tail k ≥ K1 one term at a time. c[2r + p] = a_r · w_p.
__attribute__((target(SD_SC_TARGET), always_inline)) static inline void sd_attn_scores2x2(
    int K, const float *a0, const float *a1, const float *w0, const float *w1, float c[4]) {
    const int KA = K - K % 64, K1 = K - K % 16;
    const float *a[2] = {a0, a1}, *w[2] = {w0, w1};
    __m512 s[4][4];
    for (int o = 0; o < 4; o++)
        for (int j = 0; j < 4; j++) s[o][j] = _mm512_setzero_ps();
    for (int k = 0; k < KA; k += 64)
        for (int j = 0; j < 4; j++) {
            const __m512 x0 = _mm512_loadu_ps(a0 + k + 16 * j), x1 = _mm512_loadu_ps(a1 + k + 16 * j);
            const __m512 y0 = _mm512_loadu_ps(w0 + k + 16 * j), y1 = _mm512_loadu_ps(w1 + k + 16 * j);
            s[0][j] = _mm512_fmadd_ps(x0, y0, s[0][j]);
            s[1][j] = _mm512_fmadd_ps(x0, y1, s[1][j]);
            s[2][j] = _mm512_fmadd_ps(x1, y0, s[2][j]);
            s[3][j] = _mm512_fmadd_ps(x1, y1, s[3][j]);
        }
    for (int j = 0; j < 3; j++) {
        const int k = KA + 16 * j;
        if (k >= K1) break;
        for (int o = 0; o < 4; o++)
            s[o][j] = _mm512_fmadd_ps(_mm512_loadu_ps(a[o / 2] + k), _mm512_loadu_ps(w[o % 2] + k), s[o][j]);
    }
    __m512 comb[4];
    for (int o = 0; o < 4; o++) comb[o] = _mm512_add_ps(_mm512_add_ps(s[o][0], s[o][1]), _mm512_add_ps(s[o][2], s[o][3]));
    _mm_storeu_ps(c, sd_hsum16x4(comb));
    for (int o = 0; o < 4; o++)
        for (int k = K1; k < K; k++) c[o] = __builtin_fmaf(a[o / 2][k], w[o % 2][k], c[o]);
}

// One query row a against keys w0…w3 (repeat a key for fewer): four outputs with the same
// accumulators, combination and horizontal sums as sd_attn_scores2x2, so each is bitwise
// sd_rows_times_wt's; the row's chunk is loaded once for the four keys. c[p] = a · w_p.
__attribute__((target(SD_SC_TARGET), always_inline)) static inline void sd_attn_scores1x4(
    int K, const float *a, const float *w0, const float *w1, const float *w2, const float *w3, float c[4]) {
    const int KA = K - K % 64, K1 = K - K % 16;
    const float *w[4] = {w0, w1, w2, w3};
    __m512 s[4][4];
    for (int o = 0; o < 4; o++)
        for (int j = 0; j < 4; j++) s[o][j] = _mm512_setzero_ps();
    for (int k = 0; k < KA; k += 64)
        for (int j = 0; j < 4; j++) {
            const __m512 x = _mm512_loadu_ps(a + k + 16 * j);
            for (int o = 0; o < 4; o++) s[o][j] = _mm512_fmadd_ps(x, _mm512_loadu_ps(w[o] + k + 16 * j), s[o][j]);
        }
    for (int j = 0; j < 3; j++) {
        const int k = KA + 16 * j;
        if (k >= K1) break;
        const __m512 x = _mm512_loadu_ps(a + k);
        for (int o = 0; o < 4; o++) s[o][j] = _mm512_fmadd_ps(x, _mm512_loadu_ps(w[o] + k), s[o][j]);
    }
    __m512 comb[4];
    for (int o = 0; o < 4; o++) comb[o] = _mm512_add_ps(_mm512_add_ps(s[o][0], s[o][1]), _mm512_add_ps(s[o][2], s[o][3]));
    _mm_storeu_ps(c, sd_hsum16x4(comb));
    for (int o = 0; o < 4; o++)
        for (int k = K1; k < K; k++) c[o] = __builtin_fmaf(a[k], w[o][k], c[o]);
}

// Pairs of query rows against pairs of keys; an odd last row against four keys at a time.
__attribute__((target(SD_SC_TARGET))) static void sd_attn_scores_rows(int M, int N, int K, const float *A, int lda,
                                                                      const float *W, int ldw, float *C, int ldc) {
    float v[4];
    int m = 0;
    for (; m + 2 <= M; m += 2) {   // two rows × two keys
        const float *a0 = A + (size_t)m * lda, *a1 = a0 + lda;
        float *c0 = C + (size_t)m * ldc, *c1 = c0 + ldc;
        int n = 0;
        for (; n + 2 <= N; n += 2) {
            sd_attn_scores2x2(K, a0, a1, W + (size_t)n * ldw, W + (size_t)(n + 1) * ldw, v);
            c0[n] = v[0], c0[n + 1] = v[1], c1[n] = v[2], c1[n + 1] = v[3];
        }
        if (n < N) {
            sd_attn_scores2x2(K, a0, a1, W + (size_t)n * ldw, W + (size_t)n * ldw, v);
            c0[n] = v[0], c1[n] = v[2];
        }
    }
    if (m < M) {   // one row × four keys
        const float *a = A + (size_t)m * lda;
        float *c = C + (size_t)m * ldc;
        int n = 0;
        for (; n + 4 <= N; n += 4) {
            const float *w = W + (size_t)n * ldw;
            sd_attn_scores1x4(K, a, w, w + ldw, w + 2 * (size_t)ldw, w + 3 * (size_t)ldw, v);
            c[n] = v[0], c[n + 1] = v[1], c[n + 2] = v[2], c[n + 3] = v[3];
        }
        if (n < N) {   // 1–3 keys left: the last one repeated
            const float *w[4];
            for (int o = 0; o < 4; o++) w[o] = W + (size_t)(n + o < N ? n + o : N - 1) * ldw;
            sd_attn_scores1x4(K, a, w[0], w[1], w[2], w[3], v);
            for (int o = 0; n + o < N; o++) c[n + o] = v[o];
        }
    }
}
#endif

void sd_attn_scores(int M, int N, int K, const float *A, int lda, const float *W, int ldw, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
#if defined(__x86_64__)
    if (sd_rows_times_wt_isa() == 2) { sd_attn_scores_rows(M, N, K, A, lda, W, ldw, C, ldc); return; }
#endif
    sd_rows_times_wt(M, N, K, A, lda, W, ldw, C, ldc, 0);
}
